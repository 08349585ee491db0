"""S3: buckets and objects. Operations are grouped by concept — buckets,
objects, listing, multipart — on a shared core (records, blobs, the
write → commit → collect cycle); ``S3`` is their union."""

from __future__ import annotations

from .attributes import AttributeOps
from .buckets import BucketOps, check_bucket_name
from .core import KIND
from .listing import ListingOps
from .multipart import MultipartOps


class S3(BucketOps, ListingOps, MultipartOps, AttributeOps):
    """The S3 service."""


__all__ = ["KIND", "S3", "check_bucket_name"]
