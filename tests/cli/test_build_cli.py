"""``pynix build``, ``pynix-build``, ``pynix-instantiate``, ``pynix derivation show``
and ``pynix log``, compared with the real Nix where it has an answer."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

import needs

from .oracle import TRACEBACK, assert_clean_failure
from .storeworld import NixWorld, PynixWorld, lines


def links(directory: Path) -> dict[str, str]:
    return {p.name: os.readlink(p) for p in sorted(directory.iterdir()) if p.is_symlink()}


# -- pynix build ------------------------------------------------------------------------


def test_build_json_and_links_are_nix_build_s(pw: PynixWorld, nix_world: NixWorld,
                                             tmp_path: Path) -> None:
    args = ["build", "--json", "-f", "test.nix", "multi", "top", "dep", "multi.dev"]
    ours = json.loads(pw.ok(pw.pynix(*args)))
    nix_dir = tmp_path / "nixlinks"
    nix_dir.mkdir()
    theirs = subprocess.run(["nix", "--store", nix_world.root, "build", "--json", "-f",
                             str(nix_world.dir / "test.nix"), *args[4:]],
                            capture_output=True, cwd=nix_dir, check=True,
                            env=_nix_env(nix_world)).stdout  # fmt: skip
    assert ours == json.loads(theirs)
    assert [e["drvPath"].split("-", 1)[1] for e in ours] == ["dep.drv", "multi.drv", "top.drv"]
    assert links(pw.dir) == links(nix_dir)
    assert set(links(pw.dir)) == {"result", "result-1", "result-1-dev", "result-2"}


def _nix_env(world: NixWorld) -> dict[str, str]:
    from .storeworld import nix_env

    return nix_env(world.dir)


def test_result_link_is_a_gc_root(pw: PynixWorld) -> None:
    pw.ok(pw.pynix("build", "-f", "test.nix", "top"))
    top = os.readlink(pw.dir / "result")
    assert pw.real(top).is_dir()
    roots = lines(pw.ok(pw.pynix("store", "roots")))
    assert f"{pw.dir}/result -> {top}" in roots
    pw.ok(pw.pynix("store", "gc"))
    assert pw.real(top).is_dir()  # kept alive by ./result, with its closure
    assert pw.ok(pw.pynix("store", "verify", "--all")) == b""
    os.unlink(pw.dir / "result")
    out = pw.ok(pw.pynix("store", "gc"))
    assert not pw.real(top).exists()
    assert lines(out)[-1].endswith(" MiB freed")
    assert lines(out)[-1].startswith(("5 store paths deleted", "6 store paths deleted"))


def test_no_link_and_out_link(pw: PynixWorld) -> None:
    pw.ok(pw.pynix("build", "--no-link", "-f", "test.nix", "dep"))
    assert links(pw.dir) == {}
    pw.ok(pw.pynix("build", "-o", "mine", "-f", "test.nix", "multi.dev", "dep"))
    assert set(links(pw.dir)) == {"mine", "mine-1-dev"}
    assert links(pw.dir)["mine-1-dev"].endswith("-multi-dev")
    # a link in the way that is not ours is not replaced
    (pw.dir / "blocker").write_text("x")
    r = pw.pynix("build", "-o", "blocker", "-f", "test.nix", "dep")
    assert_clean_failure(r)
    assert (pw.dir / "blocker").read_text() == "x"


def test_build_store_paths_and_drv_outputs(pw: PynixWorld, nix_world: NixWorld) -> None:
    drv = lines(pw.ok(pw.instantiate("test.nix", "-A", "multi")))[0]
    r = json.loads(pw.ok(pw.pynix("build", "--no-link", "--json", f"{drv}^dev")))
    assert r == [{"drvPath": drv, "outputs": {"dev": nix_world.outputs["multi.dev"]}}]
    r = json.loads(pw.ok(pw.pynix("build", "--no-link", "--json", drv)))
    assert r[0]["outputs"] == {"dev": nix_world.outputs["multi.dev"],
                               "out": nix_world.outputs["multi"]}
    out = nix_world.outputs["multi"]
    assert json.loads(pw.ok(pw.pynix("build", "--no-link", "--json", out))) == [{"path": out}]
    assert_clean_failure(pw.pynix("build", "/nix/store/00000000000000000000000000000000-x"))
    assert_clean_failure(pw.pynix("build", "hello"))  # a flake reference


def test_dry_run_check_and_print_out_paths(pw: PynixWorld, nix_world: NixWorld) -> None:
    r = pw.pynix("build", "--dry-run", "-f", "test.nix", "top")
    assert pw.ok(r) == b""
    text = r.stderr.decode()
    assert text.startswith("these 3 derivations will be built:\n")
    assert text.splitlines()[1].endswith("-dep.drv")  # dependencies first
    assert not pw.real(nix_world.outputs["top"]).exists()
    out = pw.ok(pw.pynix("build", "--print-out-paths", "--no-link", "-f", "test.nix", "top"))
    assert lines(out) == [nix_world.outputs["top"]]
    r = pw.pynix("build", "--rebuild", "--no-link", "-f", "test.nix", "top")
    pw.ok(r)
    assert b"checking outputs of" in r.stderr


def test_build_failure_shows_the_log_tail(pw: PynixWorld) -> None:
    r = pw.pynix("build", "-f", "test.nix", "failing")
    assert r.status == 1
    assert TRACEBACK not in r.stderr
    err = r.stderr.decode()
    assert "error: builder for '/nix/store/" in err
    assert "failed with exit code 3;\n       last 10 log lines:\n       > line 3\n" in err
    assert "       > line 12\n" in err and "> line 2\n" not in err
    drv = err.split("'")[1]
    assert f"For full logs, run 'pynix log {drv}'." in err
    log = pw.ok(pw.pynix("log", drv))
    assert lines(log) == [f"line {i}" for i in range(1, 13)]
    log2 = pw.ok(pw.pynix("log", "-f", "test.nix", "failing"))
    assert log2 == log
    # pynix-build shows the builder's output as it comes, and exits with 100
    r = pw.build("test.nix", "-A", "failing")
    assert r.status == 100
    assert b"line 1\nline 2\n" in r.stderr


def test_print_build_logs(pw: PynixWorld) -> None:
    r = pw.pynix("build", "-L", "--no-link", "-f", "test.nix", "noisy")
    pw.ok(r)
    assert b"noisy> to-stdout\n" in r.stderr and b"noisy> to-stderr\n" in r.stderr
    out = pw.ok(pw.pynix("log", "-f", "test.nix", "noisy"))
    assert out == b"to-stdout\nto-stderr\n"
    # the log of an output path is the log of its derivation
    path = json.loads(pw.ok(pw.pynix("build", "--json", "-f", "test.nix", "noisy")))
    assert pw.ok(pw.pynix("log", path[0]["outputs"]["out"])) == out
    assert pw.ok(pw.pynix("log", "./result")) == out
    r = pw.pynix("log", path[0]["drvPath"].replace("noisy", "other"))
    assert_clean_failure(r)


def test_settings_from_options_and_flags(pw: PynixWorld) -> None:
    r = pw.pynix("build", "--option", "max-jobs", "0", "--no-link", "-f", "test.nix", "dep")
    assert r.status == 1 and b"max-jobs" in r.stderr
    pw.ok(pw.pynix("--option", "max-jobs", "0", "-j", "2", "build", "--no-link", "-f",
                   "test.nix", "dep"))  # fmt: skip
    r = pw.pynix("build", "--option", "max-jobs", "lots", "-f", "test.nix", "dep")
    assert_clean_failure(r)
    r = pw.pynix("build", "--option", "no-such-setting", "1", "--no-link", "-f", "test.nix",
                 "dep")  # fmt: skip
    pw.ok(r)
    assert b"warning: unknown setting 'no-such-setting'" in r.stderr


def test_store_flag_and_variable(pw: PynixWorld, tmp_path: Path) -> None:
    other = tmp_path / "other"
    pw.ok(pw.pynix("--store", f"local?root={other}", "build", "--no-link", "-f", "test.nix",
                   "dep"))  # fmt: skip
    assert list((other / "nix" / "store").glob("*-dep"))
    assert not (pw.root / "nix" / "store").exists() or not list(
        (pw.root / "nix" / "store").glob("*-dep"))


def test_evaluation_errors_are_reported_cleanly(pw: PynixWorld) -> None:
    r = pw.pynix("build", "--expr", "1 + ")
    assert_clean_failure(r)
    r = pw.pynix("build", "--expr", "42")
    assert_clean_failure(r)
    assert b"does not evaluate to a derivation" in r.stderr
    r = pw.pynix("build", "-f", "test.nix", "nope")
    assert_clean_failure(r)
    assert b"attribute 'nope' in selection path 'nope' not found" in r.stderr


def test_import_from_derivation_reads_the_chroot_store(pw: PynixWorld) -> None:
    expr = r"""
      let
        mk = a: derivation ({ system = "x86_64-linux"; builder = "/bin/sh"; } // a);
        gen = mk { name = "gen"; args = [ "-c" "echo '{ answer = 42; }' > $out" ]; };
        data = mk { name = "data"; args = [ "-c" "echo -n payload > $out" ]; };
      in mk {
        name = "ifd";
        answer = toString (import gen).answer;
        text = builtins.readFile data;
        exists = builtins.pathExists "${data}";
        args = [ "-c" "echo $answer $text $exists > $out" ];
      }
    """
    r = json.loads(pw.ok(pw.pynix("build", "--json", "--no-link", "--expr", expr)))
    out = r[0]["outputs"]["out"]
    assert pw.real(out).read_text() == "42 payload 1\n"
    assert not Path(out).exists()  # really a chroot store


# -- pynix-build and pynix-instantiate ------------------------------------------------------


def test_pynix_build_is_nix_build(pw: PynixWorld, nix_world: NixWorld, tmp_path: Path) -> None:
    args = ["test.nix", "-A", "multi.dev", "-A", "top", "-A", "multi", "-o", "out"]
    ours = pw.ok(pw.build(*args))
    nix_dir = tmp_path / "nixbuild"
    nix_dir.mkdir()
    (nix_dir / "test.nix").write_text((pw.dir / "test.nix").read_text())
    theirs = subprocess.run(["nix-build", "--store", nix_world.root, *args],
                            capture_output=True, cwd=nix_dir, env=_nix_env(nix_world),
                            check=True).stdout  # fmt: skip
    assert ours == theirs
    assert links(pw.dir) == links(nix_dir)
    assert set(links(pw.dir)) == {"out", "out-2", "out-dev"}
    r = pw.build("--no-out-link", "-E", "(import ./test.nix).dep")
    assert lines(pw.ok(r)) == [nix_world.outputs["dep"]]
    assert set(links(pw.dir)) == {"out", "out-2", "out-dev"}
    r = pw.build("--dry-run", "test.nix", "-A", "selfref")
    assert pw.ok(r) == b""
    assert b"this derivation will be built:\n  /nix/store/" in r.stderr


def test_pynix_instantiate_is_nix_instantiate(pw: PynixWorld, nix_world: NixWorld) -> None:
    args = ["test.nix", "-A", "multi", "-A", "multi.dev", "-A", "fod", "--add-root",
            "drv", "--indirect"]  # fmt: skip
    ours = pw.ok(pw.instantiate(*args))
    theirs = nix_world.run("nix-instantiate", *args).stdout
    assert ours == theirs.replace(str(nix_world.dir).encode(), str(pw.dir).encode())
    assert lines(ours)[1].endswith("drv-2!dev")
    drv = os.readlink(pw.dir / "drv")
    assert drv == nix_world.drvs["multi"]
    assert pw.real(drv).read_bytes() == Path(nix_world.root + drv).read_bytes()
    r = pw.instantiate("-E", "(import ./test.nix).dep")
    assert lines(pw.ok(r)) == [nix_world.drvs["dep"]]
    assert b"did not specify '--add-root'" in r.stderr
    # the derivation is in the store, with its inputs as references
    refs = lines(pw.ok(pw.store("-q", "--references", nix_world.drvs["top"])))
    assert refs == lines(nix_world.store("-q", "--references", nix_world.drvs["top"]).stdout)
    assert_clean_failure(pw.instantiate("-E", "{ x = 1; }.y"))


# -- derivation show -----------------------------------------------------------------------


@pytest.mark.parametrize("args", [["multi"], ["-r", "multi"], ["fod", "dep"]])
def test_derivation_show_is_nix_show_derivation(pw: PynixWorld, nix_world: NixWorld,
                                                args: list[str]) -> None:
    flags = [a for a in args if a.startswith("-")]
    attrs = [a for a in args if not a.startswith("-")]
    ours = pw.ok(pw.pynix("derivation", "show", *flags, "-f", "test.nix", *attrs))
    theirs = nix_world.nix("show-derivation", *flags,
                           *[nix_world.drvs[a] for a in attrs]).stdout  # fmt: skip
    assert ours == theirs
    assert pw.ok(pw.pynix("show-derivation", *flags, "-f", "test.nix", *attrs)) == ours


def test_derivation_show_of_an_output_path(pw: PynixWorld, nix_world: NixWorld) -> None:
    pw.ok(pw.pynix("build", "-f", "test.nix", "top"))
    ours = pw.ok(pw.pynix("derivation", "show", "./result"))
    assert ours == nix_world.nix("show-derivation", nix_world.outputs["top"]).stdout
    added = lines(pw.ok(pw.pynix("store", "add", "test.nix")))[0]
    r = pw.pynix("derivation", "show", added)
    assert_clean_failure(r)
    assert b"does not have a known deriver" in r.stderr


# -- as real commands --------------------------------------------------------------------------


def test_commands_as_subprocesses(pw: PynixWorld, nix_world: NixWorld) -> None:
    def run(*cmd: str) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(list(cmd), capture_output=True, cwd=pw.dir, env=pw.env,
                              timeout=120)

    for exe in ("pynix", "pynix-build", "pynix-store"):
        if subprocess.run(["which", exe], capture_output=True).returncode != 0:
            needs.unavailable(f"'{exe}' is not installed (pip install -e .)")
    p = run("pynix", "build", "--json", "-f", "test.nix", "top")
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)[0]["outputs"]["out"] == nix_world.outputs["top"]
    p = run("pynix-build", "test.nix", "-A", "dep", "--no-out-link")
    assert p.returncode == 0 and p.stdout.decode().strip() == nix_world.outputs["dep"]
    p = run("pynix-store", "-qR", "./result")
    assert p.stdout == nix_world.store("-qR", nix_world.outputs["top"]).stdout
    p = run("pynix-store", "-q", "--tree", "/nonexistent")
    assert p.returncode == 1 and p.stderr.startswith(b"error: ")
    assert TRACEBACK not in p.stderr
