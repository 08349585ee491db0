"""Instances' hosts files: their own lines, then the names of gureum they can
reach (not loopback ones), rewritten in place as names come and go."""

from __future__ import annotations

from pathlib import Path

from gureum.drivers.names import (
    GUEST_BEGIN,
    GUEST_END,
    GuestNames,
    MemoryNames,
    guest_hosts,
    own_hosts,
)

OWN = own_hosts("10.0.1.5", "ip-10-0-1-5.ec2.internal", "ip-10-0-1-5")


def test_content_keeps_own_lines_and_reachable_names_only() -> None:
    text = guest_hosts(OWN, {"lb-1.elb.amazonaws.com": "10.0.2.9",
                             "db.rds.amazonaws.com": "127.100.0.3",
                             "v6.example": "::1", "bad": "not-an-address",
                             "a.example": "10.0.1.7"})
    assert text == (
        "127.0.0.1 localhost\n"
        "10.0.1.5 ip-10-0-1-5.ec2.internal ip-10-0-1-5\n"
        "::1 localhost ip6-localhost ip6-loopback\n"
        f"{GUEST_BEGIN}\n"
        "10.0.1.7 a.example\n"
        "10.0.2.9 lb-1.elb.amazonaws.com\n"
        f"{GUEST_END}\n")


def test_files_follow_the_names_in_place(tmp_path: Path) -> None:
    guests = tmp_path / "guests"
    names = GuestNames(MemoryNames())
    names.add("early.example", "10.0.3.3")
    first = guests / "i-1" / "hosts"
    names.write_guest(first, OWN)
    names.watch(guests)
    assert "10.0.3.3 early.example" in first.read_text()
    inode = first.stat().st_ino

    names.add("lb.example", "10.0.2.9")
    names.add("loop.example", "127.0.0.9")
    text = first.read_text()
    assert text.startswith(OWN) and "10.0.2.9 lb.example\n" in text
    assert "loop.example" not in text
    assert first.stat().st_ino == inode  # (bind-mounted: never replaced)

    names.remove("lb.example")
    assert "lb.example" not in first.read_text()
    assert names.names() == {"early.example": "10.0.3.3", "loop.example": "127.0.0.9"}
    names.clear()
    assert first.read_text() == guest_hosts(OWN, {})
    assert first.stat().st_ino == inode


def test_watching_refreshes_files_already_there(tmp_path: Path) -> None:
    """A gureum started again finds its instances' files and brings them up to
    date; a guest directory without a file is left alone."""
    guests = tmp_path / "guests"
    (guests / "i-old").mkdir(parents=True)
    (guests / "i-none").mkdir()
    stale = guests / "i-old" / "hosts"
    stale.write_text(guest_hosts(OWN, {"gone.example": "10.0.9.9"}))
    names = GuestNames(MemoryNames())
    names.add("new.example", "10.0.4.4")
    names.watch(guests)
    assert stale.read_text() == guest_hosts(OWN, {"new.example": "10.0.4.4"})
    assert not (guests / "i-none" / "hosts").exists()
    (guests / "i-old" / "hosts").unlink()
    names.add("after.example", "10.0.5.5")  # (a file removed meanwhile is fine)


def test_a_name_put_again_as_it_was_writes_nothing(tmp_path: Path) -> None:
    guests = tmp_path / "guests"
    names = GuestNames(MemoryNames())
    path = guests / "i-1" / "hosts"
    names.write_guest(path, OWN)
    names.watch(guests)
    names.add("lb.example", "10.0.2.9")
    path.write_text(path.read_text() + "# touched\n")  # (shows whether it is rewritten)
    names.add("LB.example", "10.0.2.9")
    names.remove("unknown.example")
    assert path.read_text().endswith("# touched\n")
    names.add("lb.example", "10.0.2.10")
    assert path.read_text().endswith(f"10.0.2.10 lb.example\n{GUEST_END}\n")


def test_a_new_instances_file_made_from_older_names_is_written_again(tmp_path: Path) -> None:
    """A new instance's launcher writes the text it was given; if a name changed
    in between (a refresh could not see a file not there yet), ``written``
    writes it again, and otherwise leaves it alone."""
    guests = tmp_path / "guests"
    names = GuestNames(MemoryNames())
    names.watch(guests)
    names.add("lb.example", "10.0.2.9")
    text, generation = names.guest_text(OWN)
    assert text == guest_hosts(OWN, {"lb.example": "10.0.2.9"})
    path = guests / "i-1" / "hosts"
    path.parent.mkdir(parents=True)
    path.write_text(text + "# as the launcher wrote it\n")
    names.written(path, OWN, generation)
    assert path.read_text().endswith("# as the launcher wrote it\n")  # (nothing changed)

    text, generation = names.guest_text(OWN)
    names.add("db.example", "10.0.3.3")  # (before the launcher made the file)
    path.unlink()
    path.write_text(text)
    names.written(path, OWN, generation)
    assert path.read_text() == guest_hosts(OWN, {"lb.example": "10.0.2.9",
                                                 "db.example": "10.0.3.3"})


def test_names_are_read_from_the_registry_once(tmp_path: Path) -> None:
    class Counting(MemoryNames):
        reads = 0

        def names(self) -> dict[str, str]:
            Counting.reads += 1
            return super().names()

    names = GuestNames(Counting())
    names.watch(tmp_path)
    for n in range(5):
        names.add(f"n{n}.example", f"10.0.0.{n + 1}")
        names.guest_text(OWN)
    assert names.names() == {f"n{n}.example": f"10.0.0.{n + 1}" for n in range(5)}
    assert Counting.reads == 1
