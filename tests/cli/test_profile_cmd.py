"""``pynix profile``: generations of a user profile on disk (Nix's layout), the
manifest.json of ``nix profile``, collisions, upgrade, rollback and history,
against the fixture package set of test_shell_run.py in a chroot store."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from .storeworld import lines
from .test_shell_run import PkgsWorld, failed, make_pkgs_world, needs_bwrap


@pytest.fixture
def kw(tmp_path: Path) -> PkgsWorld:
    return make_pkgs_world(tmp_path)


def default_profile(kw: PkgsWorld) -> Path:
    return kw.real("/nix/var/nix/profiles/per-user/tester/profile")


def generation_links(profile: Path) -> dict[str, str]:
    pattern = re.compile(re.escape(profile.name) + r"(-[0-9]+-link)?")
    return {p.name: os.readlink(p) for p in sorted(profile.parent.iterdir())
            if pattern.fullmatch(p.name)}  # fmt: skip


def manifest(kw: PkgsWorld, profile: Path) -> dict[str, object]:
    generation = os.readlink(profile.parent / os.readlink(profile))
    data: dict[str, object] = json.loads((kw.real(generation) / "manifest.json").read_text())
    return data


def out_path(kw: PkgsWorld, attr: str) -> str:
    (entry,) = json.loads(kw.ok(kw.pynix("build", "--no-link", "--json", f"pkgs#{attr}")))
    path: str = entry["outputs"]["out"]
    return path


def test_install_makes_a_generation(kw: PkgsWorld) -> None:
    r = kw.pynix("profile", "install", "pkgs#hello", "pkgs#exiter")
    kw.ok(r)
    profile = default_profile(kw)
    assert b"add '" + str(profile).encode() + b"/bin' to PATH" in r.stderr  # the hint
    links = generation_links(profile)
    assert links["profile"] == "profile-1-link"
    gen = links["profile-1-link"]
    assert re.fullmatch(r"/nix/store/[0-9a-z]{32}-profile", gen)
    hello, exiter = out_path(kw, "hello"), out_path(kw, "exiter")
    real = kw.real(gen)
    assert os.readlink(real / "bin" / "hello") == f"{hello}/bin/hello"
    assert os.readlink(real / "bin" / "exit-with") == f"{exiter}/bin/exit-with"
    # a directory only one package has is linked whole; shared ones are merged
    assert (real / "share" / "doc").is_dir() and not (real / "share" / "doc").is_symlink()
    assert os.readlink(real / "share" / "doc" / "hello") == f"{hello}/share/doc/hello"
    assert manifest(kw, profile) == {"version": 2, "elements": [
        {"active": True, "priority": 5, "storePaths": [hello], "attrPath": "hello",
         "originalUrl": "pkgs", "url": f"path:{kw.pkgs_dir}/default.nix"},
        {"active": True, "priority": 5, "storePaths": [exiter], "attrPath": "exiter",
         "originalUrl": "pkgs", "url": f"path:{kw.pkgs_dir}/default.nix"},
    ]}  # fmt: skip
    # the generation keeps its packages alive
    refs = set(lines(kw.ok(kw.pynix("path-info", "-r", gen))))
    assert {hello, exiter, gen} <= refs
    kw.ok(kw.pynix("store", "gc"))
    assert kw.real(hello).is_dir() and kw.real(gen).is_dir()
    # installing it again changes nothing
    r = kw.pynix("profile", "install", "pkgs#hello")
    assert b"already installed" in kw.ok(r) + r.stderr
    assert set(generation_links(profile)) == {"profile", "profile-1-link"}


def test_list(kw: PkgsWorld) -> None:
    assert kw.ok(kw.pynix("profile", "list")) == b""
    kw.ok(kw.pynix("profile", "install", "pkgs#hello"))
    kw.ok(kw.pynix("build", "pkgs#shout"))
    shout = os.readlink(kw.pw.dir / "result")
    kw.ok(kw.pynix("profile", "install", "./result"))
    hello = out_path(kw, "hello")
    assert lines(kw.ok(kw.pynix("profile", "list"))) == [
        f"0 pkgs#hello path:{kw.pkgs_dir}/default.nix#hello {hello}",
        f"1 - - {shout}",
    ]
    listed = json.loads(kw.ok(kw.pynix("profile", "list", "--json")))
    assert [e["storePaths"] for e in listed["elements"]] == [[hello], [shout]]
    assert "attrPath" not in listed["elements"][1]


def test_collisions_name_both_paths(kw: PkgsWorld) -> None:
    kw.ok(kw.pynix("profile", "install", "pkgs#hello"))
    r = kw.pynix("profile", "install", "pkgs#otherhello")
    hello, other = out_path(kw, "hello"), out_path(kw, "otherhello")
    failed(r, f"'{hello}/bin/hello'".encode(), f"'{other}/bin/hello'".encode(),
           b"priority")
    assert set(generation_links(default_profile(kw))) == {"profile", "profile-1-link"}
    # a lower number wins
    kw.ok(kw.pynix("profile", "install", "--priority", "4", "pkgs#otherhello"))
    gen = os.readlink(default_profile(kw).parent / "profile-2-link")
    assert os.readlink(kw.real(gen) / "bin" / "hello") == f"{other}/bin/hello"


def test_linked_directories_are_merged(kw: PkgsWorld) -> None:
    # wrapped's bin is a link to hello's bin: merging it with exiter's bin lists it
    kw.ok(kw.pynix("profile", "install", "pkgs#exiter", "pkgs#wrapped"))
    gen = os.readlink(default_profile(kw).parent / "profile-1-link")
    wrapped = out_path(kw, "wrapped")
    assert os.readlink(kw.real(gen) / "bin" / "hello") == f"{wrapped}/bin/hello"
    assert (kw.real(gen) / "bin" / "exit-with").is_symlink()


def test_remove_upgrade_rollback_history(kw: PkgsWorld) -> None:
    profile = default_profile(kw)
    kw.ok(kw.pynix("profile", "install", "pkgs#hello", "pkgs#exiter", "pkgs#shout"))
    r = kw.pynix("profile", "remove", "exiter")
    assert b"removing 'pkgs#exiter'" in kw.ok(r) + r.stderr
    kw.ok(kw.pynix("profile", "remove", "1"))  # shout, by index
    assert [e["attrPath"] for e in manifest(kw, profile)["elements"]] == ["hello"]  # type: ignore[index]
    r = kw.pynix("profile", "remove", "nothing")
    assert b"warning: 'nothing' does not match any packages" in r.stderr
    assert len(generation_links(profile)) == 4  # profile, 1, 2, 3

    old_hello = out_path(kw, "hello")
    kw.ok(kw.pynix("profile", "upgrade"))  # nothing changed: no new generation
    assert len(generation_links(profile)) == 4
    kw.set_hello_version("2.11")
    r = kw.pynix("profile", "upgrade")
    assert b"upgrading 'pkgs#hello' from 'hello-2.10' to 'hello-2.11'" in kw.ok(r) + r.stderr
    new_hello = out_path(kw, "hello")
    assert new_hello != old_hello
    links = generation_links(profile)
    assert links["profile"] == "profile-4-link"
    # one package: its directories are linked whole
    assert os.readlink(kw.real(links["profile-4-link"]) / "bin") == f"{new_hello}/bin"

    history = kw.ok(kw.pynix("profile", "history")).decode()
    blocks = history.split("\n\n")
    assert len(blocks) == 4
    assert re.fullmatch(r"Version 1 \(\d{4}-\d\d-\d\d\):\n  exiter: ∅ -> 1\.0\n"
                        r"  hello: ∅ -> 2\.10\n  shout: ∅ -> 0\.3", blocks[0])
    assert blocks[1].endswith("<- 1:\n  exiter: 1.0 -> ∅")
    assert re.fullmatch(r"Version 4 \(\S+\) <- 3 \(current\):\n  hello: 2\.10 -> 2\.11\n",
                        blocks[3])

    r = kw.pynix("profile", "rollback")
    assert b"switching profile from version 4 to 3" in kw.ok(r) + r.stderr
    assert os.readlink(profile) == "profile-3-link"
    assert manifest(kw, profile)["elements"][0]["storePaths"] == [old_hello]  # type: ignore[index]
    kw.ok(kw.pynix("profile", "rollback", "--to", "1"))
    assert os.readlink(profile) == "profile-1-link"
    failed(kw.pynix("profile", "rollback"), b"no profile version older")
    failed(kw.pynix("profile", "rollback", "--to", "9"), b"version 9 does not exist")

    kw.ok(kw.pynix("profile", "wipe-history"))
    assert generation_links(profile) == {"profile": "profile-1-link",
                                         "profile-1-link": links["profile-1-link"]}


def test_explicit_profile_and_usage_errors(kw: PkgsWorld, tmp_path: Path) -> None:
    mine = tmp_path / "profiles" / "mine"
    kw.ok(kw.pynix("profile", "install", "--profile", str(mine), "pkgs#hello"))
    assert os.readlink(mine) == "mine-1-link"
    assert not default_profile(kw).exists()
    assert lines(kw.ok(kw.pynix("profile", "list", "--profile", str(mine))))[0].startswith(
        "0 pkgs#hello ")
    failed(kw.pynix("profile"), b"subcommand")
    failed(kw.pynix("profile", "frobnicate"), b"'frobnicate' is not a subcommand")
    failed(kw.pynix("profile", "install"), b"give the packages")
    failed(kw.pynix("profile", "install", "pkgs#broken"), b"broken on purpose")
    failed(kw.pynix("profile", "list", "extra"), b"unexpected argument")
    (tmp_path / "plain").symlink_to("plain-1-link")
    (tmp_path / "plain-1-link").symlink_to(out_path(kw, "exiter"))
    failed(kw.pynix("profile", "list", "--profile", str(tmp_path / "plain")),
           b"no manifest.json")


@needs_bwrap
def test_programs_of_the_profile_run(kw: PkgsWorld) -> None:
    kw.ok(kw.pynix("profile", "install", "pkgs#hello", "pkgs#exiter"))
    bin_dir = default_profile(kw) / "bin"
    env = kw.env | {"PATH": f"{bin_dir}:{kw.env['PATH']}"}
    r = kw.pynix("shell", "pkgs#shout", "-c", "sh", "-c", "hello x | shout; exit-with 3",
                 env=env)
    assert r.status == 3, r.stderr.decode()
    assert lines(r.stdout) == ["HELLO, WORLD! (2.10) X", "exiting with 3"]
