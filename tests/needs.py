"""What a test needs from the machine it runs on (a tool, the real Nix as the
oracle, root, the Debian archive).  Where it is missing the test is skipped,
except when CI is set: then it fails, so that a set-up step that went missing
can never hide behind a green run.  Every test module asks through here."""

from __future__ import annotations

import os
import shutil
from typing import NoReturn

import pytest


def unavailable(reason: str) -> NoReturn:
    """Skip the calling test for ``reason``; fail it when CI is set."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI is set: it is required)")
    pytest.skip(reason)


def tool(name: str, why: str = "") -> str:
    """The path of the program ``name`` on PATH."""
    path = shutil.which(name)
    if path is None:
        unavailable(f"'{name}' is not installed" + (f": {why}" if why else ""))
    return path


def nix(name: str = "nix-instantiate") -> str:
    """A tool of the real Nix (Debian's nix-bin, the oracle)."""
    return tool(name, "the real Nix (Debian's nix-bin) is the oracle of this test")


def root(what: str) -> None:
    if os.geteuid() != 0:
        unavailable(f"{what} needs root")
