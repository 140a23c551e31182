from __future__ import annotations

import sys
from pathlib import Path

import pytest

try:
    import pynix.compat  # noqa: F401
except ImportError:  # running from a checkout without an installed package
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "src"))

from .vectors import build_fixtures


@pytest.fixture(scope="session")
def fixtures_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The fixture trees of fixtures.json, rebuilt with exact modes and empty dirs."""
    root = tmp_path_factory.mktemp("fixtures")
    build_fixtures(root)
    return root
