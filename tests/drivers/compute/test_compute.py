"""The compute driver contract on the fake, the metadata tree an instance sees,
and the nftables rules a guest gets (pure functions: no root needed)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from gureum.drivers.compute import GuestSpec, Limits, NetworkPlan
from gureum.drivers.compute.fake import FakeComputeDriver
from gureum.drivers.compute.namespaces import ingress_rules, nft_rules, veth_name

SPEC = GuestSpec("i-0123456789abcdef0", "172.31.0.9", "ip-172-31-0-9",
                 "ip-172-31-0-9.ec2.internal", Limits(2, 1024), b"#!/bin/sh\necho hi\n")


def test_fake_semantics() -> None:
    async def main() -> None:
        d = FakeComputeDriver()
        await d.launch(SPEC)
        await d.launch(SPEC)  # idempotent: adopted, not booted twice
        assert d.running(SPEC.id) and d.guests_[SPEC.id].boots == 1
        await d.stop(SPEC.id)
        await d.stop(SPEC.id)
        assert not d.running(SPEC.id)
        await d.launch(SPEC)
        assert d.guests_[SPEC.id].user_data_runs == 1  # first boot only
        assert b"running user data" in d.console(SPEC.id)
        await d.destroy(SPEC.id)
        await d.destroy(SPEC.id)
        assert d.guests() == []

    asyncio.run(main())


def test_guest_rules_dnat_metadata_to_the_gateway() -> None:
    plan = NetworkPlan("172.31.0.0/16", "172.31.0.1", 80)
    rules = nft_rules(plan, SPEC)
    assert "ip daddr 169.254.169.254 tcp dport 80 dnat to 172.31.0.1:80" in rules
    assert "gureum_sg" not in rules  # no ingress filter unless asked
    sg = "\n".join(ingress_rules(plan, (("tcp", 80, 80, "0.0.0.0/0"),
                                         ("tcp", 8000, 8100, "10.0.0.0/8"))))
    assert "policy drop" in sg and "tcp dport 80 accept" in sg
    assert "ip saddr 10.0.0.0/8 tcp dport 8000-8100 accept" in sg
    assert len(veth_name(SPEC.id)) <= 15


def test_the_shared_parent_group_goes_only_when_empty(tmp_path: Path) -> None:
    from gureum.drivers.compute.cgroups import PARENT, Cgroups

    for name in ("cpuacct", "cpu", "memory", "pids"):
        (tmp_path / name / PARENT).mkdir(parents=True)
    (tmp_path / "memory" / PARENT / "i-other").mkdir()  # another gureum's guest
    groups = Cgroups(tmp_path)
    groups.remove_parent()
    assert not (tmp_path / "cpu" / PARENT).exists()
    assert not (tmp_path / "pids" / PARENT).exists()
    assert (tmp_path / "memory" / PARENT / "i-other").is_dir()
    groups.remove_parent()  # (nothing left to remove: no error)


def test_a_burst_of_launches_looks_for_the_bridge_once(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from gureum.drivers.compute import hostnet, namespaces

    made: list[str] = []
    looked: list[str] = []
    exists = namespaces.os.path.exists

    async def ensure_bridge(plan: NetworkPlan) -> str:
        made.append(plan.cidr)
        return "gbtest0"

    def counting(path: str) -> bool:
        if str(path).startswith("/sys/class/net/"):
            looked.append(str(path))
            return True
        return exists(path)

    monkeypatch.setattr(hostnet, "ensure_bridge", ensure_bridge)
    monkeypatch.setattr(namespaces.os.path, "exists", counting)
    driver = namespaces.NamespaceDriver(tmp_path)
    driver._plan = NetworkPlan("172.31.0.0/16", "172.31.0.1")

    async def main() -> None:
        for _ in range(5):
            await driver.prepare()
        assert (made, looked) == (["172.31.0.0/16"], [])  # made once, not looked for again
        driver._bridge_seen -= namespaces.BRIDGE_FRESH  # (a while later)
        await driver.prepare()
        await driver.prepare()
        assert looked == ["/sys/class/net/gbtest0"] and len(made) == 1
        # A launch that failed (the bridge gone, say) has the next one look.
        driver._bridge_seen = float("-inf")
        monkeypatch.setattr(namespaces.os.path, "exists", lambda path: False)
        await driver.prepare()
        assert len(made) == 2

    asyncio.run(main())


def test_a_groups_members_are_one_rule_over_a_set_of_their_addresses() -> None:
    plan = NetworkPlan("172.31.0.0/16", "172.31.0.1", 80)
    sg = "\n".join(ingress_rules(plan, (
        ("-1", 0, 0, "172.31.0.2/32"), ("tcp", 22, 22, "0.0.0.0/0"),
        ("-1", 0, 0, "172.31.0.3/32"), ("-1", 0, 0, "172.31.0.2/32"),
        ("tcp", 80, 90, "10.0.0.5/32"), ("tcp", 80, 90, "10.0.0.6/32"),
        ("udp", 53, 53, "10.0.0.7/32"), ("tcp", 80, 90, "10.1.0.0/16"),
        ("weird", 0, 0, "1.1.1.1/32"), ("weird", 0, 0, "1.1.1.2/32"))))
    lines = [line.strip() for line in sg.splitlines()]
    assert lines[5:11] == [
        "ip saddr { 172.31.0.2, 172.31.0.3 } accept",
        "tcp dport 22 accept",
        "ip saddr { 10.0.0.5, 10.0.0.6 } tcp dport 80-90 accept",
        "ip saddr 10.0.0.7/32 udp dport 53 accept",
        "ip saddr 10.1.0.0/16 tcp dport 80-90 accept",
        "}",
    ]
