"""The instance loop and operations against the fake compute driver, with a
fake clock: state transitions, honest reporting of a dead init, adoption
after a restart, reboot, and terminated records expiring."""

from __future__ import annotations

import asyncio
import traceback
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from gureum.config import Settings
from gureum.control import FakeClock, LoopRunner
from gureum.drivers.compute.fake import FakeComputeDriver
from gureum.errors import AWSError
from gureum.services.base import Call, Env, Identity
from gureum.services.ec2 import EC2
from gureum.services.ec2.catalog import default_image_id
from gureum.services.ec2.core import DRIVER_KEY
from gureum.services.ec2.lifecycle import TERMINATED_VISIBLE
from gureum.store import Store

CALL = Call("ec2", "RunInstances", "000000000000", "us-east-1",
            Identity.root("000000000000"), "req")


class World:
    def __init__(self, tmp: Path, driver: FakeComputeDriver | None = None) -> None:
        self.tmp = tmp
        self.clock = FakeClock()
        self.driver = driver or FakeComputeDriver()
        self.store = Store.open(tmp / "gureum.db")
        self.loops = LoopRunner()
        env = Env(settings=Settings(data_dir=tmp), store=self.store, clock=self.clock,
                  loops=self.loops, extras={DRIVER_KEY: self.driver})
        self.ec2 = EC2(env)

    async def start(self) -> None:
        await self.ec2.start()
        self.loops.start()

    async def settle(self, seconds: float = 1.0) -> None:
        await self.clock.advance(seconds)
        await self.loops.idle()

    async def stop(self) -> None:
        await self.loops.stop()
        await self.ec2.stop()
        self.store.close()

    def state(self, instance_id: str) -> str:
        out = self.ec2.describe_instances(CALL, {"InstanceIds": [instance_id]})
        name: str = out["Reservations"][0]["Instances"][0]["State"]["Name"]
        return name

    def run(self, **params: Any) -> list[str]:
        full = {"ImageId": default_image_id(), "MinCount": 1, "MaxCount": 1, **params}
        out = self.ec2.run_instances(CALL, full)
        return [i["InstanceId"] for i in out["Instances"]]


def scenario(fn: Callable[[World], Awaitable[None]]) -> Callable[[Path], None]:
    def test(tmp_path: Path) -> None:
        async def main() -> None:
            world = World(tmp_path)
            await world.start()
            try:
                await fn(world)
            finally:
                await world.stop()

        asyncio.run(asyncio.wait_for(main(), 30))

    test.__name__ = fn.__name__
    return test


@scenario
async def test_run_boots_and_runs_user_data_once(w: World) -> None:
    [iid] = w.run(UserData="IyEvYmluL3NoCmVjaG8gaGkK")
    assert w.state(iid) == "pending"
    await w.settle()
    assert w.state(iid) == "running"
    assert w.driver.guests_[iid].user_data_runs == 1
    w.ec2.stop_instances(CALL, {"InstanceIds": [iid]})
    assert w.state(iid) == "stopping"
    await w.settle()
    assert w.state(iid) == "stopped" and not w.driver.running(iid)
    w.ec2.start_instances(CALL, {"InstanceIds": [iid]})
    await w.settle()
    assert w.state(iid) == "running"
    assert w.driver.guests_[iid].boots == 2 and w.driver.guests_[iid].user_data_runs == 1


@scenario
async def test_dead_init_is_reported_stopped(w: World) -> None:
    [iid] = w.run()
    await w.settle()
    w.driver.crash(iid)
    await w.settle(30)
    out = w.ec2.describe_instances(CALL, {"InstanceIds": [iid]})
    instance = out["Reservations"][0]["Instances"][0]
    assert instance["State"]["Name"] == "stopped"
    assert instance["StateReason"]["Code"] == "Client.InstanceInitiatedShutdown"


@scenario
async def test_terminate_destroys_and_expires(w: World) -> None:
    ids = w.run(MinCount=2, MaxCount=2)
    await w.settle()
    w.ec2.terminate_instances(CALL, {"InstanceIds": ids})
    await w.settle()
    assert {w.state(i) for i in ids} == {"terminated"}
    assert w.driver.guests() == []
    await w.settle(TERMINATED_VISIBLE + 1)
    with pytest.raises(AWSError) as err:
        w.state(ids[0])
    assert err.value.code == "InvalidInstanceID.NotFound"


@scenario
async def test_reboot_restarts_the_guest(w: World) -> None:
    [iid] = w.run()
    await w.settle()
    w.ec2.reboot_instances(CALL, {"InstanceIds": [iid]})
    await w.settle()
    assert w.state(iid) == "running" and w.driver.guests_[iid].boots == 2


@scenario
async def test_modify_type_only_while_stopped(w: World) -> None:
    [iid] = w.run(InstanceType="t3.micro")
    await w.settle()
    with pytest.raises(AWSError) as err:
        w.ec2.modify_instance_attribute(CALL, {"InstanceId": iid,
                                               "InstanceType": {"Value": "m5.large"}})
    assert err.value.code == "IncorrectInstanceState"
    w.ec2.stop_instances(CALL, {"InstanceIds": [iid]})
    await w.settle()
    w.ec2.modify_instance_attribute(CALL, {"InstanceId": iid,
                                           "InstanceType": {"Value": "m5.large"}})
    w.ec2.start_instances(CALL, {"InstanceIds": [iid]})
    await w.settle()
    assert w.driver.guests_[iid].spec.limits.memory_mib == 8192


def test_restart_adopts_running_and_reboots_lost_guests(tmp_path: Path) -> None:
    async def main() -> None:
        driver = FakeComputeDriver()
        first = World(tmp_path, driver)
        await first.start()
        kept, lost, stopped = first.run(MinCount=3, MaxCount=3)
        await first.settle()
        first.ec2.stop_instances(CALL, {"InstanceIds": [stopped]})
        await first.settle()
        await first.loops.stop()  # as if gureum were killed: guests keep running
        first.store.close()
        driver.crash(lost)  # this one did not survive (a host reboot)
        launches = driver.launches
        second = World(tmp_path, driver)
        await second.start()
        await second.settle()
        assert second.state(kept) == "running" and second.state(lost) == "running"
        assert second.state(stopped) == "stopped" and not driver.running(stopped)
        assert driver.launches == launches + 1  # only the lost one booted again
        await second.stop()

    asyncio.run(asyncio.wait_for(main(), 30))


@scenario
async def test_group_members_are_read_once_per_membership_change(w: World) -> None:
    """Every default-group member's rules list every member: a burst of launches
    reads the members again when they change, not at each state transition."""
    from gureum.services.ec2 import secgroups

    reads = 0
    real = secgroups.group_members

    def counted(*args: Any, **kw: Any) -> list[str]:
        nonlocal reads
        reads += 1
        return real(*args, **kw)

    secgroups.group_members = counted  # type: ignore[assignment]
    try:
        ids = [w.run()[0] for _ in range(6)]
        await w.settle(10)
        assert {w.state(i) for i in ids} == {"running"}
        assert reads <= 2  # (read again after any instance write, it was 7 here)
        addresses = {i: w.driver.guests_[i].spec.address for i in ids}
        for i in ids:  # each member lets in every member
            allowed = {rule[3] for rule in w.driver.guests_[i].spec.ingress or ()}
            assert {f"{a}/32" for a in addresses.values()} <= allowed
        w.ec2.terminate_instances(CALL, {"InstanceIds": [ids[0]]})
        await w.settle(10)
        for i in ids[1:]:  # ... and forgets one that is gone
            allowed = {rule[3] for rule in w.driver.guests_[i].spec.ingress or ()}
            assert f"{addresses[ids[0]]}/32" not in allowed
            assert f"{addresses[ids[1]]}/32" in allowed
    finally:
        secgroups.group_members = real


@scenario
async def test_instance_index_kept_by_saves_matches_a_full_read(w: World) -> None:
    """The index RunInstances asks (addresses in use, live count, client tokens,
    running members) is brought up to each save without a pass over every
    record; at each step it says what a pass over the records says."""
    from gureum.services.ec2.core import InstanceIndex

    def fresh() -> InstanceIndex:
        w.ec2._index = None
        return w.ec2.index()

    def check() -> None:
        kept = w.ec2.index()
        assert kept.generation == w.ec2.generation
        full = fresh()
        assert (kept.live, kept.ips, kept.tokens, kept.networks) == (
            full.live, full.ips, full.tokens, full.networks)
        assert {k: sorted((i, sorted(g)) for i, g in v) for k, v in kept.running.items()} == {
            k: sorted((i, sorted(g)) for i, g in v) for k, v in full.running.items()}

    w.ec2.index()
    builds = 0
    real = InstanceIndex.__init__

    def counted(self: InstanceIndex, *args: Any, **kw: Any) -> None:
        nonlocal builds
        builds += 1
        real(self, *args, **kw)

    InstanceIndex.__init__ = counted  # type: ignore[method-assign]
    try:
        ids = [w.run(ClientToken=f"t{n}")[0] for n in range(3)] + w.run(MinCount=2, MaxCount=2)
        w.ec2.index()
        assert builds == 0  # (launches: no pass over the records)
        check()
        await w.settle(5)
        assert {w.state(i) for i in ids} == {"running"}
        check()
        w.ec2.stop_instances(CALL, {"InstanceIds": [ids[0]]})
        await w.settle(5)
        check()
        w.ec2.terminate_instances(CALL, {"InstanceIds": ids[1:3]})
        await w.settle(5)
        check()
        assert w.ec2.index().live == 3
        assert w.ec2.run_instances(CALL, {"ImageId": default_image_id(), "MinCount": 1,
                                          "MaxCount": 1, "ClientToken": "t0"})[
            "Instances"][0]["InstanceId"] == ids[0]
    finally:
        InstanceIndex.__init__ = real  # type: ignore[method-assign]


@scenario
async def test_instances_in_the_same_groups_share_one_ingress_reading(w: World) -> None:
    """A membership change rewrites every member's rules: the members' rules are
    read once for them all, read again after a rule change, and other services'
    members (which change without saying) are asked again after a while."""
    from gureum.services.ec2.lifecycle import INGRESS_FRESH
    from gureum.services.ec2.secgroups import MEMBERS_KEY

    asked = 0
    extra: list[str] = []

    def other_members(account: str, region: str, group_id: str) -> list[str]:
        nonlocal asked
        asked += 1
        return list(extra)

    w.ec2.env.extras.setdefault(MEMBERS_KEY, []).append(other_members)
    ids = w.run(MinCount=3, MaxCount=3)
    await w.settle(10)
    docs = w.ec2.instances(CALL, ids)
    before = asked
    first = w.ec2.ingress(docs[0])
    assert all(w.ec2.ingress(d) is first for d in docs)  # (one reading, one tuple)
    assert asked - before <= 1
    extra.append("10.9.9.9/32")  # (another service's member, unannounced)
    assert all("10.9.9.9/32" not in {r[3] for r in w.ec2.ingress(d)} for d in docs)
    await w.clock.advance(INGRESS_FRESH + 0.1)
    assert "10.9.9.9/32" in {r[3] for r in w.ec2.ingress(docs[0])}
    group = docs[0]["security_groups"][0]["GroupId"]
    w.ec2.authorize_security_group_ingress(CALL, {"GroupId": group, "IpPermissions": [
        {"IpProtocol": "tcp", "FromPort": 8080, "ToPort": 8080,
         "IpRanges": [{"CidrIp": "10.1.0.0/16"}]}]})
    assert ("tcp", 8080, 8080, "10.1.0.0/16") in w.ec2.ingress(docs[1])  # (at once)



@scenario
async def test_a_launch_once_a_burst_is_quiet_reads_its_whole_membership(w: World) -> None:
    """A new instance of a burst takes the reading of its groups made for an
    earlier one while launches keep coming (the settle brings it up to date),
    and reads them again once none came for INGRESS_QUIET: it has every
    member then, and needs no update at the settle."""
    from gureum.services.ec2.lifecycle import INGRESS_FRESH, INGRESS_QUIET

    assert INGRESS_QUIET < INGRESS_FRESH
    first = w.ec2.instances(CALL, w.run())[0]
    reading = w.ec2.ingress(first, launching=True)
    second = w.ec2.instances(CALL, w.run())[0]
    assert w.ec2.ingress(second, launching=True) is reading  # (the burst goes on)
    assert f"{second['ip']}/32" not in {r[3] for r in reading}
    await w.clock.advance(INGRESS_QUIET + 0.01)
    again = w.ec2.ingress(second, launching=True)
    assert {f"{first['ip']}/32", f"{second['ip']}/32"} <= {r[3] for r in again}
    assert w.ec2.ingress(second) is again  # (the reading of the whole membership)
    await w.settle(10)
    for d in (first, second):
        allowed = {rule[3] for rule in w.driver.guests_[d["id"]].spec.ingress or ()}
        assert {f"{first['ip']}/32", f"{second['ip']}/32"} <= allowed

class GatedDriver(FakeComputeDriver):
    """A fake driver whose launches wait for the test to let them finish."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = asyncio.Event()
        self.launching = asyncio.Event()

    async def launch(self, spec: Any) -> None:
        self.launching.set()
        await self.gate.wait()
        await super().launch(spec)


def test_a_write_made_while_an_instance_boots_is_kept_when_it_runs(tmp_path: Path) -> None:
    async def main() -> None:
        w = World(tmp_path, GatedDriver())
        await w.start()
        try:
            driver = w.driver
            assert isinstance(driver, GatedDriver)
            [iid] = w.run()
            await asyncio.wait_for(driver.launching.wait(), 5)
            w.ec2.create_tags(CALL, {"Resources": [iid], "Tags": [{"Key": "k", "Value": "v"}]})
            driver.gate.set()
            await w.settle(0.1)
            [inst] = w.ec2.describe_instances(CALL, {"InstanceIds": [iid]})[
                "Reservations"][0]["Instances"]
            assert inst["State"]["Name"] == "running"
            assert inst["Tags"] == [{"Key": "k", "Value": "v"}]  # (read again, not lost)
        finally:
            await w.stop()

    asyncio.run(asyncio.wait_for(main(), 30))


def _count_record_reads(w: World, reader: str, depth: int) -> list[str]:
    """The ids of the instance records that ``reader`` (a function up to
    ``depth`` frames up the stack) reads from now on, in order."""
    reads: list[str] = []
    get = w.store.resources.get

    def counting(kind: str, account: str, region: str, id: str) -> Any:
        if kind == "ec2:instance" and any(
                f.name == reader for f in traceback.extract_stack(limit=depth)):
            reads.append(id)
        return get(kind, account, region, id)

    w.store.resources.get = counting  # type: ignore[method-assign]
    return reads


@scenario
async def test_pending_to_running_does_not_read_an_unchanged_record_again(w: World) -> None:
    reads = _count_record_reads(w, "_transition", depth=4)  # the transitions' own
    [iid] = w.run()
    await w.settle(0.1)
    assert w.state(iid) == "running"
    assert reads == []  # (the reconcile's reading was used)


def _allowed(w: World, instance_id: str) -> set[str]:
    return {rule[3] for rule in w.driver.guests_[instance_id].spec.ingress or ()}


@scenario
async def test_a_burst_of_launches_reads_the_members_once_and_settles_them_all(
        w: World) -> None:
    """Each launch of a burst changes the default group's membership: its
    launches use one reading of the members (not one each, a pass over every
    instance per launch), and the burst's membership settle makes every
    member's rules list every member."""
    reads = 0
    real = w.ec2.group_member_ips

    def counted(*args: Any) -> list[str]:
        nonlocal reads
        reads += 1
        return real(*args)

    w.ec2.group_member_ips = counted  # type: ignore[method-assign]
    ids = []
    for _ in range(6):
        ids += w.run()
        await w.settle(0.05)  # (each launched before the next call)
    assert {w.state(i) for i in ids} == {"running"}
    assert reads == 1  # (one each before)
    await w.settle(10)
    addresses = {f"{w.driver.guests_[i].spec.address}/32" for i in ids}
    for i in ids:
        assert addresses <= _allowed(w, i)


class SlowBoot(FakeComputeDriver):
    """A fake driver whose guests in ``slow`` have not finished booting."""

    def __init__(self) -> None:
        super().__init__()
        self.slow: set[str] = set()

    def booted(self, id: str) -> bool:
        return id not in self.slow and super().booted(id)


def test_a_launch_still_booting_at_its_bursts_settle_gets_the_members_when_it_runs(
        tmp_path: Path) -> None:
    async def main() -> None:
        driver = SlowBoot()
        w = World(tmp_path, driver)
        await w.start()
        try:
            [first] = w.run()
            await w.settle(0.05)
            [late] = w.run()
            driver.slow.add(late)
            await w.settle(0.05)
            assert w.state(late) == "pending"
            # (launched with the burst's earlier reading of the members: not itself)
            address = f"{w.driver.guests_[late].spec.address}/32"
            assert address not in _allowed(w, late)
            await w.settle(5)  # the membership settle: the running member gets it
            assert address in _allowed(w, first)
            assert w.state(late) == "pending"
            driver.slow.discard(late)
            await w.settle(0.1)
            assert w.state(late) == "running"
            assert {address, f"{w.driver.guests_[first].spec.address}/32"} <= _allowed(w, late)
        finally:
            await w.stop()

    asyncio.run(asyncio.wait_for(main(), 30))


@scenario
async def test_a_reconcile_reads_a_record_again_only_after_a_write(w: World) -> None:
    reads = _count_record_reads(w, "reconcile", depth=5)  # the instance loop's
    [iid] = w.run()
    await w.settle(0.1)
    assert w.state(iid) == "running"
    await w.settle(30)  # (periodic checks)
    assert reads == []  # (the record as RunInstances saved it, then as saved running)
    w.ec2.create_tags(CALL, {"Resources": [iid], "Tags": [{"Key": "k", "Value": "v"}]})
    w.ec2.wake(CALL.account, CALL.region, iid)
    await w.settle(0.1)
    assert reads == [iid]  # (written meanwhile: read again)
    await w.settle(30)
    assert reads == [iid]


@scenario
async def test_resync_names_every_record_and_stray_guest_without_decoding(w: World) -> None:
    from gureum.services.ec2.core import loop_key

    ids = w.run(MinCount=3, MaxCount=3)
    await w.settle()
    w.ec2.terminate_instances(CALL, {"InstanceIds": ids[:1]})
    await w.settle()
    stray = "i-0123456789abcdef0"
    w.driver.guests_[stray] = w.driver.guests_[ids[1]]  # a guest with no record
    reads: list[str] = []
    listed = w.store.resources.list
    w.store.resources.list = lambda kind, *a, **k: reads.append(kind) or listed(kind, *a, **k)
    try:
        keys = set(await w.ec2.resync())
    finally:
        w.store.resources.list = listed
        del w.driver.guests_[stray]
    assert keys == {loop_key(CALL.account, CALL.region, i) for i in ids} | {
        loop_key("", "", stray)}  # the terminated record's included
    assert reads == []
    # Records written other than by a save (a reset) are read again.
    w.ec2.records_changed()
    assert set(await w.ec2.resync()) == {loop_key(CALL.account, CALL.region, i) for i in ids}


@scenario
async def test_a_terminated_record_is_not_read_again_at_each_resync(w: World) -> None:
    from gureum.services.ec2.core import loop_key

    ids = w.run(MinCount=2, MaxCount=2)
    await w.settle()
    w.ec2.terminate_instances(CALL, {"InstanceIds": ids})
    await w.settle()
    assert {w.state(i) for i in ids} == {"terminated"}
    reads = _count_record_reads(w, "reconcile", depth=5)
    for _ in range(3):  # (as each resync wakes them)
        for iid in ids:
            assert await w.ec2.reconcile(loop_key(CALL.account, CALL.region, iid)) is not None
    assert reads == []
    await w.settle(TERMINATED_VISIBLE + 1)  # deleted, and no longer kept
    assert all(i not in w.ec2._docs for i in ids)
    with pytest.raises(AWSError):
        w.state(ids[0])
