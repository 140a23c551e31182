"""The trivial builders of <pynix/pkgs>: writeText & co., runCommand,
symlinkJoin, buildEnv (pathsToLink, collisions) and mkShell, built in a chroot
store."""

from __future__ import annotations

import os
import stat
import subprocess

from .conftest import PkgsWorld


def mode(path: os.PathLike[str]) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def test_write_text(pk: PkgsWorld) -> None:
    f = pk.expr_file("t.nix", 'writeText "greeting.txt" "hello\\nworld\\n"')
    out = pk.build(f)
    assert out.endswith("-greeting.txt")
    real = pk.real(out)
    assert real.is_file()
    assert real.read_text() == "hello\nworld\n"
    assert mode(real) == 0o444


def test_write_text_file_destination_and_executable(pk: PkgsWorld) -> None:
    f = pk.expr_file("t.nix", """{
      tool = writeTextFile {
        name = "tool"; text = "#!/bin/sh\\necho tool\\n";
        executable = true; destination = "/bin/tool";
      };
      dir = writeTextDir "share/doc/readme" "read me";
      script = writeScript "s" "#!/bin/sh\\necho s\\n";
      scriptBin = writeScriptBin "sb" "#!/bin/sh\\necho sb\\n";
    }""")
    tool = pk.real(pk.build(f, "tool"))
    assert tool.is_dir()
    assert (tool / "bin" / "tool").read_text() == "#!/bin/sh\necho tool\n"
    assert mode(tool / "bin" / "tool") == 0o555
    doc = pk.real(pk.build(f, "dir"))
    assert (doc / "share/doc/readme").read_text() == "read me"
    assert mode(doc / "share/doc/readme") == 0o444
    script = pk.real(pk.build(f, "script"))
    assert script.is_file() and mode(script) == 0o555
    sb = pk.real(pk.build(f, "scriptBin"))
    assert mode(sb / "bin" / "sb") == 0o555


def test_write_text_file_bad_destination(pk: PkgsWorld) -> None:
    f = pk.expr_file("t.nix", 'writeTextFile { name = "x"; text = ""; destination = "bin/x"; }')
    r = pk.eval_fails(f, "drvPath")
    assert "destination must be empty or start with '/'" in r.err


def test_write_text_file_check_phase(pk: PkgsWorld) -> None:
    f = pk.expr_file("t.nix", """{
      good = writeTextFile { name = "good"; text = "abc"; checkPhase = "grep -q abc $target"; };
      bad = writeTextFile { name = "bad"; text = "abc"; checkPhase = "grep -q xyz $target"; };
    }""")
    assert pk.real(pk.build(f, "good")).read_text() == "abc"
    pk.build_fails(f, "bad")


def test_write_shell_script(pk: PkgsWorld) -> None:
    f = pk.expr_file("t.nix", """{
      s = writeShellScript "greet" ''echo "hello $1"'';
      bin = writeShellScriptBin "greet" ''echo "hi $1"'';
      broken = writeShellScript "broken" "if then fi";
    }""")
    s = pk.real(pk.build(f, "s"))
    text = s.read_text()
    assert text.splitlines()[0] == "#!/bin/bash"
    assert mode(s) == 0o555
    assert subprocess.run([str(s), "you"], capture_output=True, text=True).stdout == "hello you\n"
    b = pk.real(pk.build(f, "bin"))
    exe = b / "bin" / "greet"
    assert subprocess.run([str(exe), "x"], capture_output=True, text=True).stdout == "hi x\n"
    assert pk.eval(f, "bin.meta.mainProgram") == "greet"
    # the syntax check (bash -n) runs at build time
    pk.build_fails(f, "broken")


def test_run_command(pk: PkgsWorld) -> None:
    f = pk.expr_file("t.nix", """{
      rc = runCommand "rc" { greeting = "hey"; n = 3; } ''
        mkdir -p $out
        echo "$greeting $n" > $out/msg
      '';
      local = runCommandLocal "rcl" { } "echo local > $out";
      failing = runCommand "failing" { } "echo about to fail; exit 7";
    }""")
    rc = pk.real(pk.build(f, "rc"))
    assert (rc / "msg").read_text() == "hey 3\n"
    assert pk.eval(f, "local.preferLocalBuild") is True
    assert pk.real(pk.build(f, "local")).read_text() == "local\n"
    r = pk.build_fails(f, "failing")
    assert "about to fail" in r.err or "failing" in r.err


def test_symlink_join(pk: PkgsWorld) -> None:
    f = pk.expr_file("t.nix", """rec {
      a = writeTextDir "bin/a" "A";
      b = writeTextDir "bin/b" "B";
      c = writeTextDir "share/c" "C";
      joined = symlinkJoin {
        name = "joined"; paths = [ a b c ]; postBuild = "echo post > $out/post";
      };
    }""")
    a = pk.build(f, "a")
    j = pk.real(pk.build(f, "joined"))
    assert (j / "bin").is_dir() and not (j / "bin").is_symlink()
    assert os.readlink(j / "bin" / "a") == a + "/bin/a"
    assert {p.name for p in (j / "bin").iterdir()} == {"a", "b"}
    assert os.readlink(j / "share" / "c").endswith("-c/share/c")
    assert (j / "post").read_text() == "post\n"


def test_build_env_paths_to_link(pk: PkgsWorld) -> None:
    f = pk.expr_file("t.nix", """rec {
      a = symlinkJoin {
        name = "a"; paths = [ (writeTextDir "bin/a" "A") (writeTextDir "share/a" "SA") ];
      };
      b = writeTextDir "bin/b" "B";
      all = buildEnv { name = "all"; paths = [ a b ]; };
      bins = buildEnv { name = "bins"; paths = [ a b ]; pathsToLink = [ "/bin" ]; };
    }""")
    env = pk.real(pk.build(f, "all"))
    assert {p.name for p in (env / "bin").iterdir()} == {"a", "b"}
    assert (env / "share" / "a").is_symlink()
    bins = pk.real(pk.build(f, "bins"))
    assert {p.name for p in bins.iterdir()} == {"bin"}
    assert {p.name for p in (bins / "bin").iterdir()} == {"a", "b"}


def test_build_env_collisions(pk: PkgsWorld) -> None:
    f = pk.expr_file("t.nix", """rec {
      one = writeTextDir "bin/tool" "one";
      two = writeTextDir "bin/tool" "two";
      same = writeTextFile { name = "same"; text = "one"; destination = "/bin/tool"; };
      clash = buildEnv { name = "clash"; paths = [ one two ]; };
      ignored = buildEnv { name = "ignored"; paths = [ one two ]; ignoreCollisions = true; };
      identical = buildEnv { name = "identical"; paths = [ one same ]; };
    }""")
    one = pk.build(f, "one")
    two = pk.build(f, "two")
    r = pk.build_fails(f, "clash")
    assert "collision between" in r.err
    assert f"{one}/bin/tool" in r.err and f"{two}/bin/tool" in r.err
    assert "bin/tool" in r.err
    ignored = pk.real(pk.build(f, "ignored"))
    assert os.readlink(ignored / "bin" / "tool") == one + "/bin/tool"
    identical = pk.real(pk.build(f, "identical"))
    assert os.readlink(identical / "bin" / "tool") == one + "/bin/tool"


def test_mk_shell(pk: PkgsWorld) -> None:
    f = pk.expr_file("t.nix", """rec {
      tool = writeShellScriptBin "devtool" "echo dev";
      lib1 = writeTextDir "include/lib1.h" "";
      base = mkShell { buildInputs = [ lib1 ]; shellHook = "echo base-hook"; };
      shell = mkShell {
        packages = [ tool ];
        inputsFrom = [ base ];
        shellHook = "echo my-hook";
        MY_VAR = "my-value";
      };
    }""")
    tool = pk.build(f, "tool")
    lib1 = pk.build(f, "lib1")
    out = pk.real(pk.build(f, "shell")).read_text()
    assert f"{tool}/bin" in out  # PATH of the shell
    assert f"-isystem {lib1}/include" in out  # from inputsFrom
    assert "MY_VAR=\"my-value\"" in out
    hook = pk.eval(f, "shell.shellHook")
    assert hook == "echo base-hook\necho my-hook"
    native = pk.eval(f, "shell.nativeBuildInputs")
    assert isinstance(native, list) and native[0] == tool
