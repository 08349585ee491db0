"""The host filter's nftables text: per endpoint, the host's own clients (on
``lo``) and the sources the rules admit to its port are let in, the rest of
the networks dropped; ports named ``also`` (a cluster node's bus) get the
same sources as the endpoint's port. With ``nft`` and root, the text is
loaded into a table of its own and read back, then deleted."""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid

import pytest

from gureum.drivers.hostfw import Endpoint, render

RULES = (("tcp", 6379, 6379, "172.31.99.0/24"), ("tcp", 5432, 5432, "172.31.5.0/24"))


def chain(text: str, address: str, port: int) -> list[str]:
    return [line.strip() for line in text.splitlines()
            if f"ip daddr {address} tcp dport {port} " in line]


def test_other_ports_are_filtered_as_the_endpoints_port() -> None:
    text = render("t", [Endpoint("172.31.1.10", 6379, RULES, (16379,)),
                        Endpoint("172.31.1.11", 6379, RULES)])
    client = chain(text, "172.31.1.10", 6379)
    assert client == [
        'ip daddr 172.31.1.10 tcp dport 6379 iifname "lo" accept',
        "ip daddr 172.31.1.10 tcp dport 6379 ip saddr 172.31.99.0/24 accept",
        "ip daddr 172.31.1.10 tcp dport 6379 drop"]
    assert chain(text, "172.31.1.10", 16379) == [line.replace("dport 6379", "dport 16379")
                                                 for line in client]
    assert chain(text, "172.31.1.11", 16379) == []  # (no bus named: left alone)
    everyone = render("t", [Endpoint("172.31.1.10", 6379, (("-1", 0, 0, "0.0.0.0/0"),),
                                     (16379,))])
    assert "ip daddr 172.31.1.10 tcp dport 16379 accept" in everyone


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("nft") is None,
                    reason="loading a table needs root and nft")
def test_nft_takes_the_text() -> None:
    table = f"gureum_test_{uuid.uuid4().hex[:8]}"
    try:
        done = subprocess.run(["nft", "-f", "-"], input=render(table, [
            Endpoint("172.31.1.10", 6379, RULES, (16379,))]).encode(), capture_output=True)
        assert done.returncode == 0, done.stderr
        listed = subprocess.run(["nft", "list", "table", "ip", table], capture_output=True,
                                text=True).stdout
        assert "tcp dport 16379 ip saddr 172.31.99.0/24 accept" in listed
        assert "tcp dport 16379 drop" in listed
    finally:
        subprocess.run(["nft", "-f", "-"], input=render(table, ()).encode(),
                       capture_output=True)
    assert table not in subprocess.run(["nft", "list", "tables"], capture_output=True,
                                       text=True).stdout
