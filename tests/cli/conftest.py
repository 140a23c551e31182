"""Fixtures of the command-line tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from .oracle import FIXTURE_FILES
from .storeworld import NixWorld, PynixWorld, make_nix_world, make_pynix_world


@pytest.fixture(scope="session")
def fixtures_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("cli-fixtures")
    for name, text in FIXTURE_FILES.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root



@pytest.fixture(scope="session")
def nix_world(tmp_path_factory: pytest.TempPathFactory) -> NixWorld:
    """test.nix built by the real Nix in its own chroot store (once per session)."""
    return make_nix_world(tmp_path_factory.mktemp("nix-world"))


@pytest.fixture
def pw(tmp_path: Path) -> PynixWorld:
    """A fresh chroot store for pynix, and a working directory holding test.nix."""
    return make_pynix_world(tmp_path)
