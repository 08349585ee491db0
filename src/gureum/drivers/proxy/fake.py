"""An in-memory proxy driver: records specs; health is what the test says.

Every server starts ``initial``; ``set_health`` changes what ``health``
reports, and ``backend_counters``/``proxy_totals`` what the counters say, so
services and loops can be tested without processes."""

from __future__ import annotations

from .base import Counters, ProxySpec, ServerHealth


class FakeProxyDriver:
    kind = "fake"

    def __init__(self) -> None:
        self.specs: dict[str, ProxySpec] = {}
        self.applied = 0
        self.observed: dict[tuple[str, int], ServerHealth] = {}
        self.default = ServerHealth("initial")
        self.fail: str | None = None  # an error message apply raises
        # What ``counters``/``totals`` report; tests set them.
        self.backend_counters: dict[str, dict[str, Counters]] = {}
        self.proxy_totals: dict[str, Counters] = {}

    def set_health(self, host: str, port: int, state: str, reason: str = "") -> None:
        self.observed[(host, port)] = ServerHealth(state, reason)

    async def apply(self, spec: ProxySpec) -> None:
        if self.fail:
            raise RuntimeError(self.fail)
        if self.specs.get(spec.name) != spec:
            self.applied += 1
        self.specs[spec.name] = spec

    async def remove(self, name: str) -> None:
        self.specs.pop(name, None)

    def running(self, name: str) -> bool:
        return name in self.specs

    def names(self) -> list[str]:
        return list(self.specs)

    async def health(self, name: str) -> dict[str, dict[str, ServerHealth]]:
        spec = self.specs.get(name)
        if spec is None:
            return {}
        return {b.name: {s.name: self.observed.get((s.host, s.port), self.default)
                         for s in b.servers} for b in spec.backends}

    async def counters(self, name: str) -> dict[str, Counters]:
        spec = self.specs.get(name)
        given = self.backend_counters.get(name, {})
        return {} if spec is None else {b.name: given.get(b.name, Counters())
                                        for b in spec.backends}

    async def totals(self, name: str) -> Counters:
        return self.proxy_totals.get(name, Counters()) if name in self.specs else Counters()

    async def shutdown(self) -> None:
        self.specs.clear()
