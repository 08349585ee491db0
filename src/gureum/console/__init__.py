"""gureum's web console at ``/_gureum/``: read-only pages rendered on the
server (no scripts, nothing fetched from elsewhere).

- ``/_gureum/`` what runs: instances with state and addresses, buckets, load
  balancers with their targets' health, DB instances, cache clusters,
  alarms with their state, Auto Scaling groups;
- ``/_gureum/bill`` the month-to-date bill by service, the top resources, the
  month's forecast, budgets and the thresholds they crossed;
- ``/_gureum/budget-alerts.json`` the recorded threshold crossings, for
  ``gureum bill``;
- ``/_gureum/unpriced.json?account=`` the month's usage the price list has no
  price for (metered at $0), for ``gureum bill``.

The pages show the default account in gureum's region (``?region=`` shows
another). Like ``/_gureum/reset``, they answer loopback clients only: they
are unauthenticated, and a console that shows a whole account must not be
open to the network. Other clients get 403.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from gureum.services.base import Env, Service

from .pages import bill, overview
from .reads import Reader

Allowed = Callable[[web.Request], bool]
REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d$")


class Console:
    def __init__(self, env: Env, services: dict[str, Service], allowed: Allowed) -> None:
        self.env = env
        self.services = services
        self.allowed = allowed

    def reader(self, request: web.Request) -> Reader:
        region = request.query.get("region") or self.env.settings.region
        if not REGION.match(region):
            raise web.HTTPBadRequest(text=f"unknown region {region!r}\n")
        return Reader(self.env, self.services, self.env.settings.default_account, region)

    def _guard(self, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
               ) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def guarded(request: web.Request) -> web.StreamResponse:
            if not self.allowed(request):
                return web.Response(status=403, content_type="text/plain",
                                    text="The gureum console answers loopback clients only.\n")
            return await handler(request)

        return guarded

    async def overview(self, request: web.Request) -> web.StreamResponse:
        return _html(await overview(self.reader(request)))

    async def bill(self, request: web.Request) -> web.StreamResponse:
        return _html(await bill(self.reader(request)))

    async def budget_alerts(self, request: web.Request) -> web.StreamResponse:
        reader = self.reader(request)
        await reader.op("budgets", "DescribeBudgets", AccountId=reader.account)  # meter to now
        alerts: list[dict[str, Any]] = await reader.crossings()
        return web.json_response({"account": reader.account, "alerts": alerts})

    async def unpriced(self, request: web.Request) -> web.StreamResponse:
        reader = self.reader(request)
        account = request.query.get("account") or reader.account
        if not re.fullmatch(r"\d{12}", account):
            raise web.HTTPBadRequest(text=f"unknown account {account!r}\n")
        reader.account = account
        today = dt.datetime.fromtimestamp(self.env.clock.now(), dt.UTC).date()
        first, tomorrow = today.replace(day=1), today + dt.timedelta(days=1)
        await reader.by_service(first, tomorrow)  # meter to now
        found = await reader.unpriced(first, tomorrow)
        return web.json_response({"account": account, "unpriced": [
            {"Region": u.region, "Service": u.service, "UsageType": u.usage_type,
             "Unit": u.unit, "Quantity": u.quantity, "What": u.what, "Message": u.message()}
            for u in found]})

    def install(self, app: web.Application) -> None:
        app.router.add_get("/_gureum", _to_slash)
        app.router.add_get("/_gureum/", self._guard(self.overview))
        app.router.add_get("/_gureum/bill", self._guard(self.bill))
        app.router.add_get("/_gureum/budget-alerts.json", self._guard(self.budget_alerts))
        app.router.add_get("/_gureum/unpriced.json", self._guard(self.unpriced))


async def _to_slash(request: web.Request) -> web.StreamResponse:
    raise web.HTTPFound("/_gureum/")


def _html(text: str) -> web.Response:
    return web.Response(text=text, content_type="text/html", charset="utf-8",
                        headers={"Cache-Control": "no-store"})


def install(app: web.Application, env: Env, services: dict[str, Service],
            allowed: Allowed) -> None:
    """Serve the console's pages on ``app``; ``allowed`` says who may see them."""
    Console(env, services, allowed).install(app)
