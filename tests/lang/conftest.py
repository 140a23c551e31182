"""Fixtures of the differential tests of the Nix language (see difftest.py)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from difftest import PynixWorker, Runner, make_fixtures, pynix_runner


@pytest.fixture(scope="session")
def fixtures_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The fixture tree every case runs in (its cwd; HOME is its ``home``)."""
    return make_fixtures(tmp_path_factory.mktemp("lang-fixtures"))


@pytest.fixture(scope="session")
def pynix_worker() -> Iterator[PynixWorker]:
    worker = PynixWorker()
    yield worker
    worker.close()


@pytest.fixture(scope="session")
def pynix_run(pynix_worker: PynixWorker) -> Runner:
    """Runs pynix in-process (in a worker process that a hang cannot take down)."""
    return pynix_runner(pynix_worker)
