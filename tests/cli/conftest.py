"""Fixtures of the command-line tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from .oracle import FIXTURE_FILES


@pytest.fixture(scope="session")
def fixtures_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("cli-fixtures")
    for name, text in FIXTURE_FILES.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root

