"""A PostgreSQL server whose data directory has a path too long for a Unix
socket (107 bytes) still starts and is reached over its socket, through a
short link that goes away with the engine; short paths are used as they are,
and links left by engines gone are swept."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from gureum.drivers import sockdir
from gureum.drivers.postgres import EngineError, EngineSpec
from gureum.drivers.postgres.server import PostgresServers, find_bin_dir


def long_root(tmp_path: Path, length: int = 150) -> Path:
    root = tmp_path / ("d" * max(1, length - len(str(tmp_path)) - 1))
    assert len(str(root)) >= length
    return root


@pytest.mark.skipif(find_bin_dir() is None, reason="PostgreSQL is not installed")
def test_server_in_a_long_data_directory(tmp_path: Path) -> None:
    root = long_root(tmp_path)
    driver = PostgresServers(root)
    spec = EngineSpec("p1", "", 5432)
    replica = EngineSpec("p2", "", 5432)

    async def main() -> None:
        try:
            await driver.create(spec)
            await driver.start(spec)
            assert await driver.execute("p1", "SELECT 40 + 2;") == [["42"]]
            # The socket is in the engine's own run directory, reached by a link.
            run = driver.dir("p1") / "run"
            assert (run / ".s.PGSQL.5432").is_socket()
            link = driver.socket_dir("p1")
            assert link != run and link.is_symlink() and link.resolve() == run.resolve()
            assert len(str(link / ".s.PGSQL.65535")) <= sockdir.MAX_SOCKET_PATH
            # pg_basebackup reaches the server over that socket too.
            await driver.backup("p1", root / "backups" / "b1")
            assert (root / "backups" / "b1" / "PG_VERSION").exists()
            # A replica is cloned over the socket and streams from it (its
            # primary_conninfo names the primary's socket directory).
            await driver.clone_replica(replica, "p1")
            await driver.start(replica)
            await driver.execute("p1", "CREATE TABLE t AS SELECT 7 AS v;")
            for _ in range(500):
                with contextlib.suppress(EngineError):
                    if await driver.execute("p2", "SELECT v FROM t;") == [["7"]]:
                        break
                await asyncio.sleep(0.02)
            assert await driver.in_recovery("p2")
            assert await driver.execute("p2", "SELECT v FROM t;") == [["7"]]
            await driver.destroy("p2")
            await driver.destroy("p1")
            assert not os.path.lexists(link)
        finally:
            await driver.shutdown()
            for id in ("p1", "p2"):
                sockdir.remove_link(driver.dir(id) / "run")

    asyncio.run(main())


@pytest.fixture
def links() -> Iterator[Path]:
    """A short directory for links, as gureum's own (/run/gureum/sock) is: one
    under pytest's tmp_path can itself be too long (long test names, workers)."""
    parent = Path(tempfile.mkdtemp(prefix="gureum-links-"))
    try:
        yield parent / "links"
    finally:
        shutil.rmtree(parent, ignore_errors=True)


def test_short_paths_are_kept(tmp_path: Path, links: Path) -> None:
    short = Path("/tmp/x/run")
    assert sockdir.socket_dir(short, ".s.PGSQL.65535", links) == short
    assert not links.exists()


def test_long_paths_get_one_stable_link(tmp_path: Path, links: Path) -> None:
    run = long_root(tmp_path, 200) / "e1" / "run"
    run.mkdir(parents=True)
    first = sockdir.socket_dir(run, "mysqld.sock", links)
    assert first.parent == links and first.resolve() == run
    assert sockdir.socket_dir(run, "mysqld.sock", links) == first
    # A link pointing elsewhere (a reused name) is set right.
    first.unlink()
    first.symlink_to(tmp_path)
    assert sockdir.socket_dir(run, "mysqld.sock", links).resolve() == run
    assert [p.name for p in links.iterdir()] == [first.name]
    sockdir.remove_link(run, links)
    assert not os.path.lexists(first)


def test_stale_links_are_swept(tmp_path: Path, links: Path) -> None:
    live = long_root(tmp_path, 200) / "live" / "run"
    gone = long_root(tmp_path, 200) / "gone" / "run"
    live.mkdir(parents=True)
    gone.mkdir(parents=True)
    kept = sockdir.socket_dir(live, "x", links)
    stale = sockdir.socket_dir(gone, "x", links)
    gone.rmdir()
    sockdir.sweep(links)
    assert kept.is_symlink() and not os.path.lexists(stale)


def test_a_link_directory_others_can_write_is_refused(tmp_path: Path, links: Path) -> None:
    links.mkdir(mode=0o777)
    os.chmod(links, 0o777)
    run = long_root(tmp_path, 200) / "run"
    with pytest.raises(sockdir.SocketPathError):
        sockdir.socket_dir(run, "x", links)
