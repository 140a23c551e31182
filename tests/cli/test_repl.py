"""``pynix repl``: driven over standard input (and once through a terminal).

The scripted session is compared with the real ``nix repl`` (Nix 2.8) input by input:
the echo of each input and what it prints must be the same once colours are removed.
"""

from __future__ import annotations

import contextlib
import io
import os
import pty
import re
import select
import signal
import time
from pathlib import Path

import pytest

from pynix.cli import nixcmd
from pynix.cli.common import EvalFlags
from pynix.cli.repl import Repl, show_value

from .oracle import ANSI, TRACEBACK, Result, base_env, pynix_command, run_nix

# every line short: editline, which Nix uses, redraws long lines when it echoes them
SCRIPT = r"""1 + 1
{ a = 1; b = { c = [ 1 2 ]; }; }
x = 3
x * 2
:t x
:t { }
:t "s"
:t null
:t [ ]
:t builtins.map
:t 1.5
:t true
:t y: y
:p { a = { b = { c = 1; }; }; }
{ a = { b = { c = 1; }; }; }
[ 1 "x" { y = 2; } [ 3 ] ]
[ [ ] { } ]
{ "a b" = 1; "if" = 2; e = { }; }
{ n = null; t = true; fl = 1.5; }
"a\nb \"q\" \${x}"
./f.nix
builtins.map
builtins.map (y: y)
y: y
{ f = y: y; }
let z = [ 1 ]; in [ z z ]
:p let z = [ 1 2 ]; in [ z z ]
let r = { x = r; }; in r
:p let r = { x = r; }; in r
{ a = throw "x"; b = 1; }
[ (throw "x") 1 ]
:p [ [ (throw "deep") ] ]
foo
1 +
2
throw "q"
abort "qq"
:l f.nix
a
l
f
:a { zz = 5; }
zz
y =
7
y
x = x + 1
x
p = "/nix/store/97qlv6h78lxlm9zc8849ahsbcklhsi2y-x.drv"
d = { type = "derivation"; drvPath = p; }
[ d ]
:p { inherit d; }
:t d
{ type = "derivation"; }

:zz
"done"
:q
"never evaluated"
"""


def transcript_blocks(stdout: bytes) -> list[str]:
    """The transcript cut at each prompt: the echoed input and what it printed."""
    text = ANSI.sub(b"", stdout).decode("utf-8", "replace")
    # Nix 2.8 prints a caught error as «error: error: MSG»; later Nix, and pynix, as
    # «error: MSG»
    text = text.replace("\u00aberror: error: ", "\u00aberror: ")
    return text.split("nix-repl> ")[1:]


def error_lines(stderr: bytes) -> list[str]:
    text = ANSI.sub(b"", stderr).decode("utf-8", "replace")
    return [line for line in text.split("\n") if line.startswith("error:")]


def run_repl(args: list[str], script: str, cwd: Path,
             env: dict[str, str] | None = None) -> Result:
    rc, out, err = nixcmd.run(["repl", *args], stdin=script.encode(),
                              env=env or base_env(cwd), cwd=str(cwd))
    assert TRACEBACK not in err
    return Result(rc, out, err)


def test_session_matches_nix(fixtures_dir: Path) -> None:
    nix = run_nix(["repl"], stdin=SCRIPT.encode(), cwd=fixtures_dir)
    assert nix.ok, nix
    py = run_repl([], SCRIPT, fixtures_dir)
    assert py.ok, py
    nix_blocks = transcript_blocks(nix.stdout)
    py_blocks = transcript_blocks(py.stdout)
    assert len(nix_blocks) == SCRIPT.count("\n") - SCRIPT.count("\n2\n") \
        - SCRIPT.count("\n7\n") - 1  # two continuation lines; nothing after :q
    for n, (want, got) in enumerate(zip(nix_blocks, py_blocks)):
        assert got == want, f"input {n}: {want.splitlines()[0]!r}"
    assert len(py_blocks) == len(nix_blocks)
    assert error_lines(py.stderr) == error_lines(nix.stderr)


def test_welcome_and_files_on_the_command_line(fixtures_dir: Path) -> None:
    r = run_repl(["f.nix", "nested.nix"], "top.mid\n", fixtures_dir)
    assert r.ok
    assert r.stdout.decode() == "nix-repl> top.mid\n{ leaf = [ ... ]; }\n\nnix-repl> "
    # notices go to standard error, as Nix sends them
    assert r.stderr.decode() == (
        "Welcome to pynix " + nixcmd.version() + ". Type :? for help.\n\n"
        "Loading 'f.nix'...\nAdded 5 variables.\n\n"
        "Loading 'nested.nix'...\nAdded 2 variables.\n\n"
    )


def test_load_with_arguments(fixtures_dir: Path) -> None:
    r = run_repl(["--arg", "y", "41", "--argstr", "z", "unused"],
                 ":l fun.nix\nsum\ns\n", fixtures_dir)
    out = r.stdout.decode()
    assert "Added 2 variables.\n" in r.stderr.decode()
    assert "nix-repl> sum\n42\n" in out
    assert 'nix-repl> s\n"y=41"\n' in out


def test_reload_reads_files_again_and_forgets_bindings(fixtures_dir: Path,
                                                       tmp_path: Path) -> None:
    target = tmp_path / "changing.nix"
    target.write_text("{ value = 1; }\n")
    flags = EvalFlags()
    session = flags.session(base_env(fixtures_dir), str(tmp_path), io.BytesIO(), eager=False)
    out, err = io.BytesIO(), io.BytesIO()
    repl = Repl(session, {}, out, err)
    for line in (":l changing.nix", "mine = 1", "value"):
        assert repl.run_input(line)
    target.write_text("{ value = 2; other = 0; }\n")
    for line in (":r", "value", "mine"):
        assert repl.run_input(line)
    assert out.getvalue().decode() == "\n\n1\n\n\n2\n\n\n"
    assert err.getvalue().decode().startswith(
        "Added 1 variables.\nLoading 'changing.nix'...\nAdded 2 variables.\n"
        "error: undefined variable 'mine'\n")


def test_errors_do_not_end_the_session(fixtures_dir: Path) -> None:
    r = run_repl([], "1 + \"a\"\n:l missing.nix\n:a 1\n:b x\nbuiltins.length [ 1 2 ]\n",
                 fixtures_dir)
    assert r.ok
    assert r.stdout.decode().endswith("nix-repl> builtins.length [ 1 2 ]\n2\n\nnix-repl> ")
    errors = error_lines(r.stderr)
    assert errors[0] == "error: cannot add a string to an integer"
    assert errors[1].startswith("error: getting status of ")
    assert errors[2] == "error: value is an integer while a set was expected"
    assert "not available yet" in errors[3]
    assert len(errors) == 4


def test_show_trace_toggle(fixtures_dir: Path) -> None:
    script = "let f = v: v + \"a\"; in f 1\n:st\nlet f = v: v + \"a\"; in f 1\n:st false\n"
    r = run_repl([], script, fixtures_dir)
    out = r.stdout.decode()
    assert "showing error traces" in out and "not showing error traces" in out
    first, second = r.stderr.decode().split("error: cannot add", 2)[1:]
    assert "\u2026" not in first  # no trace lines ("… while calling ...")
    assert len(second) >= len(first)


def test_incomplete_input_at_end_of_file(fixtures_dir: Path) -> None:
    r = run_repl([], "{ a = 1;\n", fixtures_dir)
    assert r.ok
    assert r.stdout.decode().endswith("nix-repl> { a = 1;\n          ")
    assert b"error" not in r.stderr


def test_binding_is_lazy_and_sees_older_bindings(fixtures_dir: Path) -> None:
    r = run_repl([], 'bad = throw "later"\nn = 1\nn = n + 1\nn\nbad\n', fixtures_dir)
    out = r.stdout.decode()
    assert "nix-repl> n\n2\n" in out
    assert error_lines(r.stderr) == ["error: later"]


def test_help_text(fixtures_dir: Path) -> None:
    r = run_repl([], ":?\n", fixtures_dir)
    out = r.stdout.decode()
    for command in (":l <path>", ":p <expr>", ":t <expr>", ":q", ":a <expr>", ":r"):
        assert command in out
    r = Result(*nixcmd.run(["repl", "--help"]))
    assert r.ok and r.stdout.startswith(b"Usage: pynix repl")
    r = Result(*nixcmd.run(["repl", "--nope"]))
    assert not r.ok and r.stderr.startswith(b"error: unrecognised flag '--nope'")


def test_no_history_written_without_a_terminal(fixtures_dir: Path, tmp_path: Path) -> None:
    env = {**base_env(fixtures_dir), "XDG_DATA_HOME": str(tmp_path)}
    run_repl([], "1\n", fixtures_dir, env)
    assert not (tmp_path / "pynix").exists()


# ---------------------------------------------------------------------------
# completion and printing, directly


@pytest.fixture
def repl(fixtures_dir: Path) -> Repl:
    flags = EvalFlags()
    session = flags.session(base_env(fixtures_dir), str(fixtures_dir), io.BytesIO(),
                            eager=False)
    r = Repl(session, {}, io.BytesIO(), io.BytesIO())
    assert r.run_input('pkgs = { hello = { name = "h"; meta = { }; }; "a b" = 1; '
                       'hexdump = 2; }')
    assert r.run_input("hidden = 1")
    return r


def test_complete_variables(repl: Repl) -> None:
    assert repl.complete("pkg") == ["pkgs"]
    assert repl.complete("hid") == ["hidden"]
    assert "builtins" in repl.complete("bui")
    assert "map" in repl.complete("ma")
    assert repl.complete("zzz") == []


def test_complete_attributes(repl: Repl) -> None:
    assert repl.complete("pkgs.he") == ["pkgs.hello", "pkgs.hexdump"]
    assert repl.complete("pkgs.") == ['pkgs."a b"', "pkgs.hello", "pkgs.hexdump"]
    assert repl.complete("pkgs.hello.") == ["pkgs.hello.meta", "pkgs.hello.name"]
    assert repl.complete("builtins.attrNa") == ["builtins.attrNames"]


def test_complete_never_fails(repl: Repl) -> None:
    assert repl.complete("nope.x") == []
    assert repl.complete("hidden.x") == []  # not a set
    assert repl.complete('(throw "x").') == []
    assert repl.complete("(1 +.") == []
    assert repl.complete("(abort \"x\").") == []


def test_complete_commands(repl: Repl) -> None:
    assert repl.complete(":l") == [":l", ":lf", ":load", ":log"]
    assert repl.complete(":q") == [":q", ":quit"]


def test_show_value_depth_and_colours(repl: Repl) -> None:
    v = repl.evaluate('{ a = [ 1 { b = 2; } ]; s = "x"; }')
    assert show_value(v, 1) == '{ a = [ ... ]; s = "x"; }'
    assert show_value(v, 2) == '{ a = [ 1 { ... } ]; s = "x"; }'
    assert show_value(v, 100) == '{ a = [ 1 { b = 2; } ]; s = "x"; }'
    from pynix.cli.repl import Colours

    coloured = show_value(repl.evaluate("[ 1 \"s\" ]"), 1, Colours(True))
    assert coloured == '[ \x1b[36;1m1\x1b[0m \x1b[35;1m"s"\x1b[0m ]'


# ---------------------------------------------------------------------------
# a real terminal: readline, Tab, Ctrl-C, history


class Terminal:
    def __init__(self, argv: list[str], env: dict[str, str], cwd: Path) -> None:
        self.pid, self.fd = pty.fork()
        if self.pid == 0:  # the child
            try:
                os.chdir(cwd)
                os.execvpe(argv[0], argv, env)
            finally:
                os._exit(127)
        self.seen = b""

    def expect(self, pattern: bytes, timeout: float = 30) -> bytes:
        """Read until ``pattern`` appears; what came before it (and it) is consumed."""
        deadline = time.monotonic() + timeout
        while pattern not in self.seen:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"timed out waiting for {pattern!r}; got {self.seen!r}")
            ready, _, _ = select.select([self.fd], [], [], left)
            if ready:
                try:
                    chunk = os.read(self.fd, 4096)
                except OSError:
                    chunk = b""
                if not chunk:
                    raise AssertionError(f"end of output waiting for {pattern!r}: {self.seen!r}")
                self.seen += chunk
        i = self.seen.index(pattern) + len(pattern)
        before, self.seen = self.seen[:i], self.seen[i:]
        return ANSI.sub(b"", before)

    def send(self, data: bytes) -> None:
        os.write(self.fd, data)

    def close_if_running(self) -> None:
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return
        if os.waitpid(self.pid, os.WNOHANG)[0] == 0:
            os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)

    def close(self) -> int:
        """Wait for the exit status (killing the process after a while)."""
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                os.close(self.fd)
                return os.waitstatus_to_exitcode(status)
            ready, _, _ = select.select([self.fd], [], [], 0.1)
            if ready:
                with contextlib.suppress(OSError):
                    os.read(self.fd, 4096)
        os.kill(self.pid, signal.SIGKILL)
        os.waitpid(self.pid, 0)
        os.close(self.fd)
        return -9


def test_terminal_session(fixtures_dir: Path, tmp_path: Path) -> None:
    env = {**base_env(fixtures_dir), "XDG_DATA_HOME": str(tmp_path), "TERM": "xterm"}
    term = Terminal([*pynix_command(), "repl"], env, fixtures_dir)
    try:
        term.expect(b"nix-repl> ")
        term.send(b"pkgs = { hello = 1; other = 2; }\n")
        term.expect(b"nix-repl> ")
        # Tab completes an attribute name
        term.send(b"pkgs.hel\t\n")
        out = term.expect(b"nix-repl> ")
        assert b"pkgs.hello" in out and re.search(rb"\r\n1\r\n", out), out
        # Ctrl-C stops a long evaluation and the session goes on
        term.send(b"with builtins; foldl' (a: b: foldl' add a (genList (x: x) 1000)) 0 "
                  b"(genList (x: x) 1000000)\n")
        time.sleep(1.0)
        term.send(b"\x03")
        out = term.expect(b"nix-repl> ")
        assert b"error: interrupted by the user" in out, out
        # Ctrl-C at the prompt drops a half-typed input
        term.send(b"1 +\n")
        term.expect(b"          ")
        # a Ctrl-C that comes before readline waits for keys is seen only at the next key;
        # a person never types that fast
        time.sleep(0.5)
        term.send(b"\x03")
        term.expect(b"nix-repl> ")
        term.send(b"40 + 2\n")
        out = term.expect(b"nix-repl> ")
        assert b"\r\n42\r\n" in out, out
        term.send(b":q\n")
        assert term.close() == 0
    finally:
        term.close_if_running()
    history = (tmp_path / "pynix" / "repl-history").read_text().splitlines()
    assert history[0] == "pkgs = { hello = 1; other = 2; }"
    assert "40 + 2" in history and history[-1] == ":q"


def test_bindings_shadow_builtins(fixtures_dir: Path) -> None:
    r = run_repl([], "map = 5\nmap\ntrue = 1\ntrue\n", fixtures_dir)
    assert "nix-repl> map\n5\n" in r.stdout.decode()
    assert "nix-repl> true\n1\n" in r.stdout.decode()
