"""Profiles and generations: Nix's layout, atomic switches, deletion rules."""

from __future__ import annotations

import calendar
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pynix.profiles import Profile, ProfileError, format_generations, parse_delete_spec
from pynix.profiles.generations import Generation
from pynix.store import LocalStore, auto_root_name

VECTOR_DIR = Path(__file__).parents[1] / "data" / "vectors"


def layout_vector() -> dict[str, object]:
    import json

    with open(VECTOR_DIR / "profiles-gcroots.json", encoding="utf-8") as f:
        data: dict[str, object] = json.load(f)
    return data


@pytest.fixture
def store(tmp_path: Path) -> Iterator[LocalStore]:
    s = LocalStore(str(tmp_path / "root"), runtime_roots=False)
    yield s
    s.close()


@pytest.fixture
def paths(store: LocalStore) -> list[str]:
    return [store.add_text_to_store(f"env-{i}", f"generation {i}".encode()) for i in range(6)]


def profile_in(store: LocalStore, name: str = "spec-test") -> Profile:
    return Profile(os.path.join(store.layout.profiles_dir, "per-user/root", name), store)


def set_times(profile: Profile, times: dict[int, float]) -> None:
    for number, t in times.items():
        os.utime(profile.link_path(number), (t, t), follow_symlinks=False)


def test_layout_matches_nix(store: LocalStore, paths: list[str]) -> None:
    """The sequence of the vector: install, install, erase, rollback, delete 1,
    switch to 3, delete old -> the same symlinks as Nix made."""
    vector = layout_vector()
    profile = profile_in(store)
    for p in paths[:3]:
        profile.set(p)
    assert profile.rollback() == (3, 2)
    assert profile.delete_generations(["1"]) == [1]
    assert profile.switch_generation(3) == (2, 3)
    assert profile.delete_generations(["old"]) == [2]
    listing = {
        name: os.readlink(os.path.join(profile.dir, name))
        for name in os.listdir(profile.dir)
        if name.startswith("spec-test") and not name.endswith(".lock")
    }
    expected = dict(vector["profileDirAfter"])  # type: ignore[call-overload]
    expected["spec-test-3-link"] = paths[2]
    assert listing == expected
    # every generation link got the auto root Nix gives it
    auto = Path(store.layout.auto_roots_dir)
    for n in (1, 2, 3):
        link = profile.link_path(n)
        assert os.readlink(auto / auto_root_name(link)) == link


def test_list_generations_text(store: LocalStore, paths: list[str]) -> None:
    vector = layout_vector()
    profile = profile_in(store)
    for p in paths[:3]:
        profile.set(p)
    stamp = calendar.timegm(time.strptime("2026-11-21 10:31:16", "%Y-%m-%d %H:%M:%S"))
    set_times(profile, {1: stamp, 2: stamp, 3: stamp})
    old_tz = os.environ.get("TZ")
    os.environ["TZ"] = "UTC"
    time.tzset()
    try:
        assert profile.list_generations_text() == vector["listGenerationsOutputExample"]
        assert format_generations([Generation(12345, "x", "y", stamp, True)]) == (
            "12345   2026-11-21 10:31:16   (current)\n"
        )
    finally:
        if old_tz is None:
            del os.environ["TZ"]
        else:
            os.environ["TZ"] = old_tz
        time.tzset()


def test_create_reuses_the_newest_generation(store: LocalStore, paths: list[str]) -> None:
    profile = profile_in(store)
    assert profile.set(paths[0]) == (None, 1)
    assert profile.set(paths[0]) == (1, 1)
    assert profile.set(paths[1]) == (1, 2)
    profile.switch_generation(1)
    # the newest (2) is compared, not the current one
    assert profile.set(paths[1]) == (1, 2)
    assert profile.create_generation(paths[2]).number == 3
    assert profile.current_number() == 2  # create does not switch
    assert [g.number for g in profile.generations()] == [1, 2, 3]
    assert os.readlink(profile.path) == "spec-test-2-link"  # relative target


def test_numbers_are_not_reused(store: LocalStore, paths: list[str]) -> None:
    profile = profile_in(store)
    for p in paths[:3]:
        profile.set(p)
    profile.switch_generation(1)
    profile.delete_generations(["2", "3"])
    assert profile.set(paths[3]) == (1, 2)  # highest existing is 1 now
    profile.set(paths[4])
    assert [g.number for g in profile.generations()] == [1, 2, 3]


def test_switch_and_rollback_errors(store: LocalStore, paths: list[str]) -> None:
    profile = profile_in(store)
    with pytest.raises(ProfileError, match="no generation older"):
        profile.rollback()
    profile.set(paths[0])
    with pytest.raises(ProfileError, match="generation 7 does not exist"):
        profile.switch_generation(7)
    with pytest.raises(ProfileError, match=r"no generation older than the current \(1\)"):
        profile.rollback()
    with pytest.raises(ProfileError, match="not valid"):
        profile.set("/nix/store/" + "0" * 32 + "-missing")


def test_delete_current_is_refused(store: LocalStore, paths: list[str]) -> None:
    profile = profile_in(store)
    for p in paths[:3]:
        profile.set(p)
    with pytest.raises(ProfileError, match="current generation"):
        profile.delete_generations(["1", "3"])
    assert [g.number for g in profile.generations()] == [1, 2, 3]
    assert profile.delete_generations(["1", "9"]) == [1]  # missing numbers are ignored


def test_delete_old_keeps_only_the_current(store: LocalStore, paths: list[str]) -> None:
    profile = profile_in(store)
    for p in paths[:4]:
        profile.set(p)
    profile.switch_generation(2)
    assert profile.delete_generations(["old"], dry_run=True) == [1, 3, 4]
    assert [g.number for g in profile.generations()] == [1, 2, 3, 4]
    assert profile.delete_generations(["old"]) == [1, 3, 4]
    assert [g.number for g in profile.generations()] == [2]


def test_delete_older_than_days(store: LocalStore, paths: list[str]) -> None:
    profile = profile_in(store)
    for p in paths[:6]:
        profile.set(p)
    day = 86400.0
    now = 1_800_000_000.0
    # ages in days: gen1 40, gen2 35, gen3 31, gen4 20, gen5 10, gen6 1
    set_times(profile, {1: now - 40 * day, 2: now - 35 * day, 3: now - 31 * day,
                        4: now - 20 * day, 5: now - 10 * day, 6: now - 1 * day})
    profile.switch_generation(2)
    # cutoff 30 days ago: gen3 is the newest older than it (active at the cutoff):
    # kept; everything older goes except the current one (2)
    assert profile.delete_generations(["30d"], now=now) == [1]
    assert [g.number for g in profile.generations()] == [2, 3, 4, 5, 6]
    profile.switch_generation(6)
    assert profile.delete_generations(["15d"], now=now) == [2, 3]
    assert profile.delete_generations(["100d"], now=now) == []


def test_delete_keeping_the_last_n(store: LocalStore, paths: list[str]) -> None:
    profile = profile_in(store)
    for p in paths[:6]:
        profile.set(p)
    profile.switch_generation(4)
    # newer than current (5, 6) kept; current and 1 before it (4, 3) kept
    assert profile.delete_generations(["+2"]) == [1, 2]
    assert [g.number for g in profile.generations()] == [3, 4, 5, 6]
    assert profile.delete_generations(["+1"]) == [3]


@pytest.mark.parametrize(
    ("args", "message"),
    [(["0d"], "days"), (["xd"], "days"), (["+0"], "keep"), (["+x"], "keep"),
     (["1", "old"], "generation number"), ([], "no generations")],
)
def test_delete_spec_errors(args: list[str], message: str) -> None:
    with pytest.raises(ProfileError, match=message):
        parse_delete_spec(args)


def test_parse_delete_spec() -> None:
    assert parse_delete_spec(["old"]).old
    assert parse_delete_spec(["14d"]).older_than_days == 14
    assert parse_delete_spec(["+3"]).keep_last == 3
    assert parse_delete_spec(["3", "1"]).numbers == {1, 3}


def test_switch_is_a_rename(store: LocalStore, paths: list[str]) -> None:
    """The profile link is replaced, never missing: a reader polling it in a loop
    while another process switches always sees a complete generation."""
    import subprocess
    import sys

    profile = profile_in(store)
    profile.set(paths[0])
    profile.set(paths[1])
    code = (
        "import os, sys, time\n"
        "p = sys.argv[1]; end = time.time() + 1.5; bad = 0; n = 0\n"
        "while time.time() < end:\n"
        "    n += 1\n"
        "    try:\n"
        "        t = os.readlink(os.path.join(os.path.dirname(p), os.readlink(p)))\n"
        "    except OSError:\n"
        "        bad += 1\n"
        "print(bad, n)\n"
    )
    reader = subprocess.Popen([sys.executable, "-c", code, profile.path], stdout=subprocess.PIPE)
    end = time.time() + 1.0
    switches = 0
    while time.time() < end:
        profile.switch_generation(1 + switches % 2)
        switches += 1
    out, _ = reader.communicate(timeout=30)
    bad, reads = map(int, out.split())
    assert switches > 50 and reads > 1000
    assert bad == 0
    leftovers = [n for n in os.listdir(profile.dir) if n.startswith(".")]
    assert leftovers == []


def test_profile_without_store(tmp_path: Path) -> None:
    profile = Profile(str(tmp_path / "profiles" / "plain"))
    assert profile.generations() == [] and profile.current() is None
    profile.set("/nix/store/" + "1" * 32 + "-anything")
    g = profile.current()
    assert g is not None and g.number == 1 and g.current


def test_a_link_to_a_profile_is_followed(store: LocalStore, paths: list[str],
                                         tmp_path: Path) -> None:
    profile = profile_in(store, "profile")
    profile.set(paths[0])
    home_link = tmp_path / ".nix-profile"
    os.symlink(profile.path, home_link)
    via_link = Profile(str(home_link), store)
    assert via_link.path == profile.path
    via_link.set(paths[1])
    assert profile.current_number() == 2
    assert os.readlink(home_link) == profile.path
    assert not list(tmp_path.glob(".nix-profile-*"))
