"""Drivers: the only code in gureum that touches the operating system.

The convention, one sub-package per driver (``blobs/``, later ``compute/``,
``network/``, ``proxy/``, ``postgres/``, ``redis/`` ...):

- a ``typing.Protocol`` naming the operations, in the driver's own words
  (blobs, processes, listeners) — a driver knows nothing of AWS, accounts,
  regions, ARNs or SQLite, and platform ids (pids, paths, ports) stay inside
  it unless the protocol explicitly hands them out;
- a real implementation;
- an in-memory fake with the same semantics, which documents them and which
  unit tests use; a shared contract test suite runs against both;
- operations are idempotent where the protocol says so ("already gone" is
  success), so control loops can repeat any step after a crash.

Drivers may import ``gureum.errors`` and ``gureum.config`` and nothing else
from gureum.
"""
