"""``pynix search pkgs REGEX...``: text and JSON output as ``nix search`` prints
them, the search cache (warm searches evaluate nothing; a change to the
package set's files evaluates again), broken packages left out."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from pynix.cli import search_cmd

from .oracle import assert_clean_failure
from .test_shell_run import PkgsWorld, failed, make_pkgs_world


@pytest.fixture
def kw(tmp_path: Path) -> PkgsWorld:
    return make_pkgs_world(tmp_path)


HELLO = "* pkgs.hello (2.10)\n  A program that produces a familiar, friendly greeting\n"
OTHER = "* pkgs.otherhello (3)\n  Another program called hello\n"


def test_text_output_is_nix_search_s(kw: PkgsWorld) -> None:
    out = kw.ok(kw.pynix("search", "pkgs", "hello")).decode()
    assert out == HELLO + "\n" + OTHER
    # every regex must match (name, pname or description), case-insensitively
    out = kw.ok(kw.pynix("search", "pkgs", "HELLO", "friendly")).decode()
    assert out == HELLO
    out = kw.ok(kw.pynix("search", "pkgs", "^pkgs\\.nested")).decode()
    assert out == "* pkgs.nested.tool (2.0)\n  A tool in a nested set\n"
    out = kw.ok(kw.pynix("search", "pkgs", "hello", "--exclude", "other")).decode()
    assert out == HELLO


def test_everything_but_broken_packages_and_functions(kw: PkgsWorld) -> None:
    out = kw.ok(kw.pynix("search", "pkgs")).decode()
    names = [line.split()[1] for line in out.splitlines() if line.startswith("* ")]
    assert names == ["pkgs.exiter", "pkgs.hello", "pkgs.nested.tool", "pkgs.noprogram",
                     "pkgs.otherhello", "pkgs.shout", "pkgs.sleeper", "pkgs.whereami",
                     "pkgs.wrapped"]
    assert "* pkgs.noprogram (1)\n" in out  # no description: no second line


def test_json_output(kw: PkgsWorld) -> None:
    out = json.loads(kw.ok(kw.pynix("search", "--json", "pkgs", "exit|nested")))
    assert out == {
        "pkgs.exiter": {"pname": "exiter", "version": "1.0",
                        "description": "Exits with the status it is given"},
        "pkgs.nested.tool": {"pname": "nested-tool", "version": "2.0",
                             "description": "A tool in a nested set"},
    }  # fmt: skip
    assert kw.ok(kw.pynix("search", "pkgs", "nothing-like-this", "--json")) == b"{}\n"


def test_sub_set(kw: PkgsWorld) -> None:
    out = kw.ok(kw.pynix("search", "pkgs#nested")).decode()
    assert out == "* pkgs.nested.tool (2.0)\n  A tool in a nested set\n"


def test_errors(kw: PkgsWorld) -> None:
    r = kw.pynix("search", "pkgs", "nothing-like-this")
    assert_clean_failure(r)
    assert b"no results" in r.stderr
    failed(kw.pynix("search", "pkgs", "("), b"invalid regular expression '('")
    failed(kw.pynix("search", "nixpkgs", "hello"), b"'pkgs'")
    failed(kw.pynix("search"))
    failed(kw.pynix("search", "pkgs#broken"), b"this package is broken on purpose")
    (kw.pkgs_dir / "default.nix").write_text("{ ... }: throw \"the whole set is broken\"")
    failed(kw.pynix("search", "pkgs", "x"), b"the whole set is broken")


def test_warm_search_uses_the_cache(kw: PkgsWorld, monkeypatch: pytest.MonkeyPatch) -> None:
    kw.ok(kw.pynix("search", "pkgs", "hello"))
    assert list((kw.home / ".cache" / "pynix" / "search").glob("*.json"))

    def no_evaluation(*args: object) -> None:
        raise AssertionError("a warm search evaluated the package set")

    monkeypatch.setattr(search_cmd, "evaluate_entries", no_evaluation)
    start = time.monotonic()
    out = kw.ok(kw.pynix("search", "pkgs", "hello"))
    assert time.monotonic() - start < 0.3
    assert out.decode() == HELLO + "\n" + OTHER
    # --refresh evaluates again
    r = kw.pynix("search", "--refresh", "pkgs", "hello")
    assert b"a warm search evaluated the package set" in r.stderr


def test_cache_is_invalidated_by_changes(kw: PkgsWorld) -> None:
    assert kw.ok(kw.pynix("search", "pkgs", "^pkgs.hello$")).decode() == HELLO
    kw.set_hello_version("2.12")
    out = kw.ok(kw.pynix("search", "pkgs", "^pkgs.hello$")).decode()
    assert out == HELLO.replace("2.10", "2.12")
    # a new file in the package set's directory counts too
    (kw.pkgs_dir / "default.nix").write_text(
        (kw.pkgs_dir / "default.nix").read_text().replace(
            "in rec {", "in rec { extra = import ./extra.nix { inherit mk; };", 1))
    (kw.pkgs_dir / "extra.nix").write_text(
        '{ mk }: mk { name = "extra-9"; args = [ "-c" "echo > $out" ]; }')
    assert kw.ok(kw.pynix("search", "pkgs", "extra")).decode() == "* pkgs.extra (9)\n"
    (kw.pkgs_dir / "extra.nix").write_text(
        '{ mk }: mk { name = "extra-10"; args = [ "-c" "echo > $out" ]; }')
    assert kw.ok(kw.pynix("search", "pkgs", "extra")).decode() == "* pkgs.extra (10)\n"
    # and so does the config
    config = kw.home / ".config" / "pynix" / "pkgs-config.nix"
    config.parent.mkdir(parents=True)
    config.write_text("{ allowUnfree = true; }")
    kw.ok(kw.pynix("search", "pkgs", "extra"))
    assert len(list((kw.home / ".cache" / "pynix" / "search").glob("*.json"))) == 5
