"""The layout of multi-line error messages: like Nix, trailing whitespace is dropped and
every further non-empty line is indented by seven spaces (under the text after
``error: ``).  Compared with the real ``nix-instantiate`` when it is available."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from pynix.cli.instantiate import run

CASES = [
    r'throw "a\n\nb\n  c\n"',
    r'throw "one line"',
    r'throw "first\n- In `x'"'"': 1\n"',
    r'let f = x: throw "msg:\n  ${toString x}"; in f 3',
]


def message_part(stderr: str) -> str:
    """The error message, without the position frame or hints that follow it."""
    return stderr.split("\n\n       at ")[0].split("\n(use '--show-trace'")[0].rstrip("\n")


@pytest.mark.parametrize("expr", CASES)
def test_multiline_message_layout(expr: str) -> None:
    status, _, err = run(["--eval", "-E", expr])
    assert status != 0
    ours = message_part(err.decode())
    lines = ours.split("\n")
    assert lines[0].startswith("error: ")
    assert all(line == "" or line.startswith("       ") for line in lines[1:])
    assert not ours.endswith((" ", "\n"))
    if shutil.which("nix-instantiate") is None:
        if os.environ.get("CI"):
            pytest.fail("nix-instantiate (the oracle) is required in CI")
        return
    proc = subprocess.run(["nix-instantiate", "--eval", "-E", expr],
                          capture_output=True, timeout=60)
    assert ours == message_part(proc.stderr.decode())
