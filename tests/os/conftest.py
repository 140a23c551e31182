"""Fixtures of the machine tests (the helpers themselves are in os_synth.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from os_synth import World, machine

import needs


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    """An empty machine root with its store; halted at the end."""
    needs.root("switching a machine")
    with machine(tmp_path) as w:
        yield w
