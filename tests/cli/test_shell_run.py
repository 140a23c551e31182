"""``pynix shell``, ``pynix run`` and ``pkgs#`` installables, against a small
package set of shell-script packages (``PYNIX_PKGS``) in a chroot store: the
programs run in a mount namespace where that store is at ``/nix/store``.

The fixture package set (:data:`PKGS_NIX`) is shared with test_search.py and
test_profile_cmd.py.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from .oracle import TRACEBACK, Result, assert_clean_failure
from .storeworld import PynixWorld, lines, make_pynix_world

# Packages are shell scripts written by /bin/sh with coreutils from /usr/bin
# (what the tests' sandbox-paths provide); `version` of hello comes from a file
# so that tests can change the package set.
PKGS_NIX = r"""
{ config ? { }, ... }:
let
  mk = attrs: derivation ({ system = "x86_64-linux"; builder = "/bin/sh"; PATH = "/usr/bin"; }
                          // attrs);
  script = { pname, version, text, mainProgram ? pname, description ? "", priority ? null }:
    mk {
      name = "${pname}-${version}";
      inherit text mainProgram;
      args = [ "-c" ''
        mkdir -p $out/bin $out/share/doc/${pname}
        printf '#!/bin/sh\n%s\n' "$text" > $out/bin/$mainProgram
        chmod +x $out/bin/$mainProgram
        echo ${pname} > $out/share/doc/${pname}/README
      '' ];
    } // {
      inherit pname version;
      meta = { inherit description mainProgram; }
        // (if priority == null then { } else { inherit priority; });
    };
  helloVersion = builtins.replaceStrings [ "\n" ] [ "" ] (builtins.readFile ./hello-version);
in rec {
  hello = script {
    pname = "hello"; version = helloVersion;
    description = "A program that produces a familiar, friendly greeting";
    text = ''echo "Hello, world! (${helloVersion})" "$@"'';
  };
  exiter = script {
    pname = "exiter"; version = "1.0"; mainProgram = "exit-with";
    description = "Exits with the status it is given";
    text = ''echo "exiting with $1"; exit "$1"'';
  };
  shout = script {
    pname = "shout"; version = "0.3";
    description = "Copies its input in capitals";
    text = "/usr/bin/tr a-z A-Z";
  };
  whereami = script {
    pname = "whereami"; version = "0.1";
    description = "Lists the store it sees at /nix/store";
    text = ''echo "$0"; /usr/bin/ls /nix/store'';
  };
  sleeper = script {
    pname = "sleeper"; version = "1";
    description = "Waits for a signal";
    text = ''trap 'echo "got TERM"; kill $!; exit 42' TERM; echo ready; /usr/bin/sleep 30 & wait'';
  };
  otherhello = script {
    pname = "otherhello"; version = "3"; mainProgram = "hello";
    description = "Another program called hello";
    text = ''echo "other hello"'';
  };
  # its bin is a link to hello's (absolute, into the store)
  wrapped = mk {
    name = "wrapped-1"; inherit hello;
    args = [ "-c" "/usr/bin/mkdir $out; /usr/bin/ln -s $hello/bin $out/bin" ];
  } // { meta.mainProgram = "hello"; };
  noprogram = mk { name = "noprogram-1"; args = [ "-c" "/usr/bin/mkdir -p $out/lib" ]; };
  broken = throw "this package is broken on purpose";
  lib = { id = x: x; };
  mkThing = x: x;
  nested = {
    recurseForDerivations = true;
    tool = script {
      pname = "nested-tool"; version = "2.0"; description = "A tool in a nested set";
      text = "echo nested";
    };
  };
}
"""


@dataclass
class PkgsWorld:
    """A chroot store and the fixture package set as ``pkgs``."""

    pw: PynixWorld
    pkgs_dir: Path
    home: Path

    @property
    def env(self) -> dict[str, str]:
        env = self.pw.env
        env.update({
            "PYNIX_PKGS": str(self.pkgs_dir / "default.nix"),
            "HOME": str(self.home),
            "XDG_CONFIG_HOME": str(self.home / ".config"),
            "XDG_CACHE_HOME": str(self.home / ".cache"),
            "USER": "tester",
        })  # fmt: skip
        return env

    def pynix(self, *args: str, stdin: bytes = b"", env: dict[str, str] | None = None
              ) -> Result:
        from pynix.cli import nixcmd

        return Result(*nixcmd.run(list(args), stdin=stdin, env=env or self.env,
                                  cwd=str(self.pw.dir)))  # fmt: skip

    def ok(self, r: Result) -> bytes:
        return self.pw.ok(r)

    def set_hello_version(self, version: str) -> None:
        (self.pkgs_dir / "hello-version").write_text(version + "\n")

    def real(self, path: str) -> Path:
        return self.pw.real(path)


def failed(r: Result, *expected: bytes) -> None:
    """A clean failure: an ``error:`` line (after build progress, perhaps) saying
    ``expected``, never a traceback."""
    assert not r.ok, r
    assert TRACEBACK not in r.stderr and b"internal error" not in r.stderr, r.stderr.decode()
    error = r.stderr[r.stderr.find(b"error: "):]
    assert r.stderr.find(b"error: ") >= 0, r.stderr.decode()
    for text in expected:
        assert text in error, r.stderr.decode()


def make_pkgs_world(base: Path) -> PkgsWorld:
    pw = make_pynix_world(base)
    pkgs_dir = base / "pkgs"
    pkgs_dir.mkdir()
    (pkgs_dir / "default.nix").write_text(PKGS_NIX)
    (pkgs_dir / "hello-version").write_text("2.10\n")
    home = base / "home"
    home.mkdir()
    return PkgsWorld(pw, pkgs_dir, home)


@pytest.fixture
def kw(tmp_path: Path) -> PkgsWorld:
    return make_pkgs_world(tmp_path)


needs_bwrap = pytest.mark.skipif(
    subprocess.run(["sh", "-c", "command -v bwrap"], capture_output=True).returncode != 0,
    reason="bubblewrap is needed to run programs of a chroot store")


# -- pkgs# in pynix build ------------------------------------------------------------------


def test_build_pkgs_attribute(kw: PkgsWorld) -> None:
    out = json.loads(kw.ok(kw.pynix("build", "--json", "pkgs#hello", "pkgs#nested.tool")))
    paths = sorted(e["outputs"]["out"] for e in out)
    assert [p.split("-", 1)[1] for p in paths] in (["hello-2.10", "nested-tool-2.0"],
                                                    ["nested-tool-2.0", "hello-2.10"])
    link = os.readlink(kw.pw.dir / "result")
    assert link in paths
    assert (kw.real(link) / "bin").is_dir()


def test_pkgs_errors_are_clear(kw: PkgsWorld) -> None:
    r = kw.pynix("build", "pkgs#nope")
    assert_clean_failure(r)
    assert b"'nope'" in r.stderr
    r = kw.pynix("build", "pkgs#broken")
    assert_clean_failure(r)
    assert b"this package is broken on purpose" in r.stderr
    r = kw.pynix("run", "hello")
    assert_clean_failure(r)
    assert b"pkgs#hello" in r.stderr  # says how to name it
    env = kw.env | {"PYNIX_PKGS": str(kw.pkgs_dir / "missing.nix")}
    r = kw.pynix("run", "pkgs#hello", env=env)
    assert_clean_failure(r)
    assert b"PYNIX_PKGS" in r.stderr


# -- pynix shell -----------------------------------------------------------------------------


@needs_bwrap
def test_shell_command_with_two_packages(kw: PkgsWorld) -> None:
    r = kw.pynix("shell", "pkgs#hello", "pkgs#exiter", "--command", "sh", "-c",
                 "hello there && exit-with 4")
    assert r.status == 4, r.stderr.decode()
    assert lines(r.stdout) == ["Hello, world! (2.10) there", "exiting with 4"]
    assert TRACEBACK not in r.stderr


@needs_bwrap
def test_shell_puts_bin_dirs_first_on_path(kw: PkgsWorld) -> None:
    r = kw.pynix("shell", "pkgs#hello", "pkgs#exiter", "-c", "sh", "-c", 'echo "$PATH"')
    path = kw.ok(r).decode().strip().split(":")
    assert [p.split("-", 1)[1] for p in path[:2]] == ["hello-2.10/bin", "exiter-1.0/bin"]
    assert path[2:] == kw.env["PATH"].split(":")


@needs_bwrap
def test_shell_runs_shell_by_default(kw: PkgsWorld) -> None:
    env = kw.env | {"SHELL": "/bin/sh"}
    r = kw.pynix("shell", "pkgs#hello", stdin=b"hello from-stdin\nexit 3\n", env=env)
    assert r.status == 3
    assert lines(r.stdout) == ["Hello, world! (2.10) from-stdin"]


def test_shell_usage_errors(kw: PkgsWorld) -> None:
    assert_clean_failure(kw.pynix("shell"))
    assert_clean_failure(kw.pynix("shell", "pkgs#hello", "--command"))
    assert_clean_failure(kw.pynix("shell", "--bogus", "pkgs#hello"))
    failed(kw.pynix("shell", "pkgs#hello", "pkgs#nope", "-c", "true"), b"nope")


# -- pynix run -------------------------------------------------------------------------------


@needs_bwrap
def test_run_passes_arguments_and_exit_status(kw: PkgsWorld) -> None:
    r = kw.pynix("run", "pkgs#hello", "--", "a", "--b")
    assert kw.ok(r) == b"Hello, world! (2.10) a --b\n"
    r = kw.pynix("run", "pkgs#exiter", "--", "7")  # meta.mainProgram = exit-with
    assert r.status == 7
    assert r.stdout == b"exiting with 7\n"
    r = kw.pynix("run", "pkgs#exiter", "0")
    assert r.status == 0


@needs_bwrap
def test_run_passes_stdin(kw: PkgsWorld) -> None:
    r = kw.pynix("run", "pkgs#shout", stdin=b"quiet words\n")
    assert kw.ok(r) == b"QUIET WORDS\n"


@needs_bwrap
def test_run_from_file_and_store_path(kw: PkgsWorld) -> None:
    r = kw.pynix("run", "-f", str(kw.pkgs_dir / "default.nix"), "hello", "--", "f")
    assert kw.ok(r) == b"Hello, world! (2.10) f\n"
    kw.ok(kw.pynix("build", "pkgs#hello"))
    r = kw.pynix("run", "./result", "--", "p")
    assert kw.ok(r) == b"Hello, world! (2.10) p\n"


@needs_bwrap
def test_programs_behind_links_into_the_chroot_store(kw: PkgsWorld) -> None:
    assert kw.ok(kw.pynix("run", "pkgs#wrapped", "--", "w")) == b"Hello, world! (2.10) w\n"
    r = kw.pynix("shell", "pkgs#wrapped", "-c", "sh", "-c", 'echo "$PATH"')
    assert kw.ok(r).decode().split(":")[0].endswith("-wrapped-1/bin")


def test_run_without_the_program(kw: PkgsWorld) -> None:
    r = kw.pynix("run", "pkgs#noprogram")
    failed(r, b"unable to execute '/nix/store/", b"-noprogram-1/bin/noprogram'")
    r = kw.pynix("run")
    assert_clean_failure(r)


@needs_bwrap
def test_chroot_store_programs_see_the_store_at_nix_store(kw: PkgsWorld) -> None:
    r = kw.pynix("run", "pkgs#whereami")
    out = lines(kw.ok(r))
    assert out[0].startswith("/nix/store/") and out[0].endswith("-whereami-0.1/bin/whereami")
    seen = set(out[1:])
    chroot_store = {n for n in os.listdir(kw.real("/nix/store")) if not n.startswith(".")}
    assert seen - {".links"} == chroot_store
    # the program is only in the chroot store, not in the real one
    assert not os.path.exists(out[0])


@needs_bwrap
def test_signals_are_forwarded(kw: PkgsWorld) -> None:
    kw.ok(kw.pynix("build", "--no-link", "pkgs#sleeper"))
    code = "import sys; from pynix.cli.nixcmd import main; main(sys.argv[1:])"
    proc = subprocess.Popen([sys.executable, "-c", code, "run", "pkgs#sleeper"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=kw.env,
                            cwd=kw.pw.dir, start_new_session=True)  # fmt: skip
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline() == b"ready\n"
        time.sleep(0.2)  # the trap is set before 'ready'; let the sleep start
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 42, err.decode()
    assert out == b"got TERM\n"
