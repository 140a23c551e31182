"""Fixtures of the machine tests (the helpers themselves are in os_synth.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from os_synth import World, machine, require_root


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    """An empty machine root with its store; halted at the end."""
    require_root()
    with machine(tmp_path) as w:
        yield w
