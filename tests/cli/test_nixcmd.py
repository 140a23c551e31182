"""The ``pynix`` dispatcher: subcommands, help, version, mistakes."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from pynix.cli import nixcmd
from pynix.cli.nixcmd import SUBCOMMANDS, Subcommand, dispatch

from .oracle import TRACEBACK, Result, base_env, run_nix, run_pynix_command


def run(argv: list[str], stdin: bytes = b"") -> Result:
    return Result(*nixcmd.run(argv, stdin=stdin))


def test_every_subcommand_loads_and_has_help() -> None:
    assert {"eval", "repl"} <= set(SUBCOMMANDS)
    for name, command in SUBCOMMANDS.items():
        main_impl, text = command.load()
        assert callable(main_impl)
        assert f"pynix {name}" in text
        r = run(["help", name])
        assert r.ok and r.stdout.decode() == text
        r = run([name, "--help"])
        assert r.ok and r.stdout.decode() == text


def test_overview() -> None:
    r = run(["--help"])
    assert r.ok
    text = r.stdout.decode()
    assert text.startswith("Usage: pynix")
    for name, command in SUBCOMMANDS.items():
        assert f"pynix {name}" in text and command.summary in text
    assert run(["help"]).stdout == r.stdout


def test_version() -> None:
    r = run(["--version"])
    assert r.ok and r.stdout == f"pynix (pynix) {nixcmd.version()}\n".encode()


def test_unknown_subcommand_suggests_the_nearest() -> None:
    r = run(["evl", "--expr", "1"])
    assert r.status == 1
    assert r.stderr.decode() == (
        "error: 'evl' is not a recognised command\n"
        "       Did you mean eval?\n"
        "Try 'pynix --help' for more information.\n"
    )
    assert b"Did you mean repl?" in run(["rpl"]).stderr
    assert b"Did you mean eval?" in run(["ev"]).stderr  # a prefix
    r = run(["frobnicate"])
    assert r.status == 1 and b"Did you mean" not in r.stderr
    r = run(["help", "evl"])
    assert r.status == 1 and b"Did you mean eval?" in r.stderr


def test_mistakes() -> None:
    r = run([])
    assert r.status == 1 and r.stderr.startswith(b"error: no subcommand specified\n")
    r = run(["--frob"])
    assert r.status == 1 and r.stderr.startswith(b"error: unrecognised flag '--frob'\n")
    r = run(["--extra-experimental-features"])
    assert r.status == 1 and b"requires 1 argument" in r.stderr


def test_nix_global_flags_are_accepted() -> None:
    r = run(["--extra-experimental-features", "nix-command flakes", "eval", "--expr", "1"])
    assert r.ok and r.stdout == b"1\n", r


def test_dispatch_with_another_table() -> None:
    """A command group (``pynix store ...``) reuses ``dispatch`` with its own table."""
    table = {"calc": Subcommand("calc", "pynix.cli.eval_cmd", "evaluate", "Group")}
    out, err = io.BytesIO(), io.BytesIO()
    rc = dispatch("pynix group", table, ["calc", "--expr", "6 * 7"], io.BytesIO(), out, err,
                  None, None)
    assert (rc, out.getvalue(), err.getvalue()) == (0, b"42\n", b"")
    out, err = io.BytesIO(), io.BytesIO()
    rc = dispatch("pynix group", table, ["clac"], io.BytesIO(), out, err, None, None)
    assert rc == 1
    assert err.getvalue().decode().endswith(
        "Did you mean calc?\nTry 'pynix group --help' for more information.\n")
    out = io.BytesIO()
    dispatch("pynix group", table, ["--help"], io.BytesIO(), out, io.BytesIO(), None, None)
    assert "Group:\n  pynix group calc  evaluate\n" in out.getvalue().decode()


# ---------------------------------------------------------------------------
# as a command


def test_command_exit_status_and_output(fixtures_dir: Path) -> None:
    r = run_pynix_command(["--version"], cwd=fixtures_dir)
    assert r.ok and r.stdout.startswith(b"pynix (pynix) ")
    r = run_pynix_command(["evl"], cwd=fixtures_dir)
    assert r.status == 1 and r.stderr.startswith(b"error: 'evl' is not a recognised command")
    r = run_pynix_command(["eval", "--expr", "throw \"x\""], cwd=fixtures_dir)
    assert r.status == 1 and r.stderr.startswith(b"error: x") and TRACEBACK not in r.stderr


def test_command_flushes_large_output_before_exiting(fixtures_dir: Path) -> None:
    """``os._exit`` skips interpreter teardown; everything written must still arrive."""
    expr = "builtins.genList (x: x) 200000"
    r = run_pynix_command(["eval", "--expr", expr], cwd=fixtures_dir)
    assert r.ok
    assert r.stdout == ("[ " + "".join(f"{i} " for i in range(200000)) + "]\n").encode()


def test_unknown_command_like_nix(fixtures_dir: Path) -> None:
    nix = run_nix(["evl"], cwd=fixtures_dir)
    py = Result(*nixcmd.run(["evl"], env=base_env(fixtures_dir)))
    assert nix.status == py.status == 1
    # same message and suggestion; only the program name differs
    assert py.stderr.split(b"\n")[0] == nix.stderr.split(b"\n")[0]
    assert nix.stderr.split(b"\n")[1].strip().startswith(b"Did you mean")


@pytest.mark.parametrize("flag", ["--help", "--version"])
def test_global_flags_before_subcommand_win(flag: str) -> None:
    r = run([flag, "eval", "--expr", "1"])
    assert r.ok and r.stdout != b"1\n"
