"""S3: buckets and objects. Operations are grouped by concept — buckets,
objects, listing, multipart — on a shared core (records, blobs, the
write → commit → collect cycle); ``S3`` is their union."""

from __future__ import annotations

import asyncio
import logging

from .accesslog import AccessLogOps
from .attributes import AttributeOps
from .bucketconfig import BucketConfigOps
from .buckets import BucketOps, check_bucket_name
from .core import KIND
from .forms import FormOps
from .lifecycle import LOOP
from .listing import ListingOps
from .lockops import ObjectLockOps
from .metering import metered
from .multipart import MultipartOps
from .web import WebAnswer, WebOps

log = logging.getLogger("gureum.s3")


@metered
class S3(ObjectLockOps, BucketOps, ListingOps, MultipartOps, AttributeOps, WebOps, FormOps,
         BucketConfigOps, AccessLogOps):
    """The S3 service."""

    async def start(self) -> None:
        await super().start()
        if self.env.loops is not None:
            self.env.loops.add(self.lifecycle_loop())
            self.env.loops.add(self.replication_loop())
            self.env.loops.add(self.access_log_loop())

    async def stop(self) -> None:
        try:  # an orderly stop delivers the access log records that wait
            await asyncio.wait_for(self.deliver_access_logs(), 10.0)
        except Exception:
            log.exception("access log records not delivered at stop")
        await super().stop()


__all__ = ["KIND", "LOOP", "S3", "WebAnswer", "check_bucket_name"]
