"""The address allocator: the lowest addresses of a subnet not in use, past
AWS's reserved ones (the first four and the last), spelled once per subnet."""

from __future__ import annotations

from gureum.services.ec2.vpc import _free_addresses


def test_lowest_free_addresses_past_the_reserved_ones() -> None:
    cidr = "10.9.0.0/28"  # (16 addresses: .4 to .14 may be given)
    assert _free_addresses(cidr, set(), 2) == ["10.9.0.4", "10.9.0.5"]
    used = {"10.9.0.4", "10.9.0.6"}
    assert _free_addresses(cidr, used, 3) == ["10.9.0.5", "10.9.0.7", "10.9.0.8"]
    every = _free_addresses(cidr, set(), 100)
    assert every[0] == "10.9.0.4" and every[-1] == "10.9.0.14" and len(every) == 11
    assert _free_addresses(cidr, set(every[:-1]), 2) == ["10.9.0.14"]  # (fewer: full)
    assert _free_addresses("10.9.1.0/24", {"10.9.1.4"}, 1) == ["10.9.1.5"]
