"""The fallback driver on its own (no root needed): a guest is a session of
processes working in its volume; user data runs at first boot only, per-boot
scripts at every boot; usage is measured; a pid reused by another process is
not taken for the guest; layers are copies of a volume."""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
from pathlib import Path

from gureum.drivers.compute import GuestSpec, Limits
from gureum.drivers.compute.processes import ProcessDriver

USER_DATA = b"""#!/bin/sh
mkdir -p "$GUREUM_VOLUME/etc"
printf '#!/bin/sh\\necho per-boot at $GUREUM_ADDRESS\\n' > "$GUREUM_VOLUME/etc/rc.local"
chmod +x "$GUREUM_VOLUME/etc/rc.local"
echo made > made.txt
"""


def spec(id: str, **kw: object) -> GuestSpec:
    return GuestSpec(id, "127.31.0.9", "ip-127-31-0-9", "ip-127-31-0-9.ec2.internal",
                     Limits(1, 512), **kw)  # type: ignore[arg-type]


async def until(check: object, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if callable(check) and check():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("condition not met")


def test_guest_lifecycle(tmp_path: Path) -> None:
    async def main() -> None:
        d = ProcessDriver(tmp_path)
        guest = spec("i-0123456789abcdef0", user_data=USER_DATA)
        volume = tmp_path / "guests" / guest.id / "volume"
        try:
            await d.launch(guest)
            await d.launch(guest)  # already running: adopted, not booted twice
            assert d.running(guest.id) and d.booted(guest.id)
            await until(lambda: (volume / "made.txt").exists())
            used = d.usage(guest.id)
            assert used is not None and used.memory_bytes > 0 and used.cpu_seconds >= 0
            await d.stop(guest.id)
            assert not d.running(guest.id) and d.usage(guest.id) is None
            await d.launch(guest)
            await until(lambda: b"per-boot at 127.31.0.9" in d.console(guest.id))
            console = d.console(guest.id)
            assert console.count(b"running user data") == 1 and console.count(b"booting") == 2

            await d.capture(guest.id, "ami-1")
            child = spec("i-0123456789abcdef1", user_data=USER_DATA, layers=("ami-1",))
            await d.launch(child)
            assert (tmp_path / "guests" / child.id / "volume" / "made.txt").exists()
            await until(lambda: b"running user data" in d.console(child.id))  # its own
            await d.drop_layer("ami-1")
            assert not (tmp_path / "layers" / "ami-1").exists()
        finally:
            await d.shutdown()
        assert not d.running(guest.id)
        await d.destroy(guest.id)
        await d.destroy(guest.id)  # an unknown guest: nothing to do
        assert guest.id not in d.guests()

    asyncio.run(main())


def test_a_reused_pid_is_not_the_guest(tmp_path: Path) -> None:
    d = ProcessDriver(tmp_path)
    other = subprocess.Popen(["sleep", "30"])
    try:
        (tmp_path / "guests" / "i-0123456789abcdef0").mkdir(parents=True)
        (tmp_path / "guests" / "i-0123456789abcdef0" / "pid").write_text(str(other.pid))
        assert os.path.exists(f"/proc/{other.pid}")
        assert not d.running("i-0123456789abcdef0")
    finally:
        other.kill()
        other.wait()
