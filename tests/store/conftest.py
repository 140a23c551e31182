from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from pynix.store import LocalStore

from .helpers import build_fixtures


@pytest.fixture
def store_root(tmp_path: Path) -> Path:
    return tmp_path / "root"


@pytest.fixture
def store(store_root: Path) -> Iterator[LocalStore]:
    s = LocalStore(str(store_root))
    yield s
    s.close()


@pytest.fixture(scope="session")
def fixtures_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_fixtures(tmp_path_factory.mktemp("fixtures"))
