"""The instance metadata service: what 169.254.169.254 answers each instance.

An aiohttp site on the instance network's gateway address (each instance's
namespace DNATs 169.254.169.254:80 there), identifying the instance by the
source address of the connection. IMDSv1 (plain GET) and IMDSv2 (a token from
``PUT /latest/api/token``, then sent in ``X-aws-ec2-metadata-token``); an
instance launched with ``HttpTokens=required`` answers 401 without a token.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import secrets
import time
from typing import Any

from aiohttp import web

from gureum.drivers.compute import ComputeDriver

from .core import INSTANCE, KEYPAIR
from .regions import zone_id, zones

log = logging.getLogger("gureum.ec2.metadata")

Tree = dict[str, Any]
MAX_TTL = 21600


class MetadataServer:
    def __init__(self, store: Any, driver: ComputeDriver) -> None:
        self.store = store
        self.driver = driver
        self._runner: web.AppRunner | None = None
        self._tokens: dict[str, tuple[str, float]] = {}
        self._by_ip: dict[str, tuple[str, str, str]] = {}
        self._starting = asyncio.Lock()

    @property
    def listening(self) -> bool:
        return self._runner is not None

    async def ensure(self, driver: ComputeDriver) -> None:
        if self._runner is not None:  # (each launch asks; the launch prepares the network)
            return
        plan = driver.network()
        await driver.prepare()
        if not plan.isolated:
            return
        # Many instances boot at once: one of them starts the site, the others wait.
        async with self._starting:
            if self._runner is None:
                await self._start(plan.gateway, plan.metadata_port)

    async def _start(self, host: str, port: int) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self.handle)
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, host, port, reuse_address=True)
        try:
            await site.start()
        except OSError:
            await runner.cleanup()
            raise
        self._runner = runner

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def _instance(self, ip: str) -> dict[str, Any] | None:
        for _ in range(2):
            found = self._by_ip.get(ip)
            if found is not None:
                doc: dict[str, Any] | None = self.store.resources.get(INSTANCE, *found)
                if doc is not None and doc["ip"] == ip and doc["state"] != "terminated":
                    return doc
            self._by_ip = {
                d["ip"]: (d["account"], d["region"], d["id"])
                for d in self.store.resources.list(INSTANCE)
                if d["state"] != "terminated"
            }
        return None

    async def handle(self, request: web.Request) -> web.StreamResponse:
        ip = request.remote or ""
        doc = self._instance(ip)
        if doc is None:
            return web.Response(status=403, text="Forbidden")
        path = request.path
        if request.method == "PUT":
            if path != "/latest/api/token":
                return web.Response(status=405)
            try:
                ttl = int(request.headers.get("X-aws-ec2-metadata-token-ttl-seconds", ""))
            except ValueError:
                return web.Response(status=400, text="Bad Request")
            if not 1 <= ttl <= MAX_TTL:
                return web.Response(status=400, text="Bad Request")
            issued = base64.urlsafe_b64encode(secrets.token_bytes(42)).decode()
            self._tokens[issued] = (ip, time.monotonic() + ttl)
            return web.Response(text=issued, headers={
                "X-aws-ec2-metadata-token-ttl-seconds": str(ttl)})
        if request.method != "GET":
            return web.Response(status=405)
        token = request.headers.get("X-aws-ec2-metadata-token")
        if token is not None:
            held = self._tokens.get(token)
            if held is None or held[0] != ip or held[1] < time.monotonic():
                return web.Response(status=401, text="Unauthorized")
        elif doc.get("http_tokens") == "required":
            return web.Response(status=401, text="Unauthorized")
        value = self.lookup(doc, path)
        if value is None:
            return web.Response(status=404, text="Not Found")
        return web.Response(body=value, content_type="text/plain")

    def lookup(self, doc: dict[str, Any], path: str) -> bytes | None:
        if path in ("/", ""):
            return b"latest"
        parts = [p for p in path.split("/") if p]
        if parts[0] != "latest":
            return None
        if len(parts) == 1:
            return b"dynamic\nmeta-data\nuser-data"
        if parts[1] == "user-data" and len(parts) == 2:
            return base64.b64decode(doc["user_data"]) if doc.get("user_data") else None
        if parts[1] == "dynamic":
            tree: Any = {"instance-identity": {"document": identity(doc)}}
        elif parts[1] == "meta-data":
            tree = self.meta_data(doc)
        else:
            return None
        for part in parts[2:]:
            if not isinstance(tree, dict) or part not in tree:
                return None
            tree = tree[part]
        if isinstance(tree, dict):
            names = [k + ("/" if isinstance(v, dict) else "") for k, v in tree.items()]
            if "_listing" in tree:
                names = tree["_listing"]
            return "\n".join(n for n in names if not n.startswith("_")).encode()
        return str(tree).encode()

    def meta_data(self, doc: dict[str, Any]) -> Tree:
        index = next((i for i, z in enumerate(zones(doc["region"]))
                      if z["ZoneName"] == doc["az"]), 0)
        mac = "02:" + ":".join(doc["id"][2 + i: 4 + i] for i in range(0, 10, 2))
        tree: Tree = {
            "ami-id": doc["image_id"],
            "ami-launch-index": str(doc["launch_index"]),
            "ami-manifest-path": "(unknown)",
            "block-device-mapping": {"ami": "/dev/xvda", "root": "/dev/xvda"},
            "hostname": doc["fqdn"],
            "instance-action": "none",
            "instance-id": doc["id"],
            "instance-life-cycle": "on-demand",
            "instance-type": doc["type"],
            "local-hostname": doc["fqdn"],
            "local-ipv4": doc["ip"],
            "mac": mac,
            "network": {"interfaces": {"macs": {mac: {
                "device-number": "0", "local-hostname": doc["fqdn"], "local-ipv4s": doc["ip"],
                "mac": mac, "subnet-id": doc["subnet_id"], "vpc-id": doc["vpc_id"],
                "security-group-ids": "\n".join(g["GroupId"] for g in doc["security_groups"]),
            }}}},
            "placement": {
                "availability-zone": doc["az"],
                "availability-zone-id": zone_id(doc["region"], index),
                "region": doc["region"],
            },
            "profile": "default-hvm",
            "reservation-id": doc["reservation"],
            "security-groups": "\n".join(g["GroupName"] for g in doc["security_groups"]),
            "services": {"domain": "amazonaws.com", "partition": "aws"},
        }
        key_name = doc.get("key_name")
        if key_name:
            key = self.store.resources.get(KEYPAIR, doc["account"], doc["region"], key_name)
            if key is not None:
                tree["public-keys"] = {
                    "_listing": [f"0={key_name}"],
                    "0": {"openssh-key": key["public_key"]},
                }
        if doc.get("metadata_tags") == "enabled":
            tree["tags"] = {"instance": dict(doc.get("tags") or {})}
        return tree


def identity(doc: dict[str, Any]) -> str:
    return json.dumps({
        "accountId": doc["account"], "architecture": doc["architecture"],
        "availabilityZone": doc["az"], "imageId": doc["image_id"],
        "instanceId": doc["id"], "instanceType": doc["type"],
        "pendingTime": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(doc["launch_time"])),
        "privateIp": doc["ip"], "region": doc["region"], "version": "2017-09-30",
    }, indent=2)
