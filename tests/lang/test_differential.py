"""The corpus of Nix expressions, each compared between pynix and the real Nix 2.8.

See difftest.py for the corpus format.  Cases marked ``@expect`` are for features newer
than Nix 2.8 and are checked against the Nix manual instead.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from difftest import (
    SELF_TEST,
    Case,
    Result,
    Runner,
    clean_failure_problem,
    compare,
    describe,
    iter_cases,
    load_corpus,
    run_nix,
    run_pynix_command,
)

CASES = load_corpus()
ORACLE_CASES = [c for c in CASES if not c.documented]
DOCUMENTED_CASES = [c for c in CASES if c.documented]


def oracle(case: Case, fixtures: Path) -> tuple[list[str], dict[str, str], Result]:
    """Run the real Nix on ``case``, checking that the case behaves as the corpus says."""
    case.prepare(fixtures)
    argv = case.argv(fixtures)
    env = case.environment(fixtures)
    nix = run_nix(argv, stdin=case.stdin(), env=env, cwd=fixtures)
    if case.expect_status == "ok" and not nix.ok:
        pytest.fail(
            f"corpus error in {case.id} (line {case.line}): Nix fails but the case is not "
            "marked @error or @any\n" + describe("nix", nix),
            pytrace=False,
        )
    if case.expect_status == "error" and nix.ok:
        pytest.fail(
            f"corpus error in {case.id} (line {case.line}): marked @error but Nix succeeds\n"
            + describe("nix", nix),
            pytrace=False,
        )
    if nix.status < 0:
        pytest.fail(f"Nix did not finish on {case.id}\n" + describe("nix", nix), pytrace=False)
    return argv, env, nix


@pytest.mark.parametrize("case", list(iter_cases(ORACLE_CASES, subprocess=False)))
def test_in_process(case: Case, fixtures_dir: Path, pynix_run: Runner) -> None:
    argv, env, nix = oracle(case, fixtures_dir)
    py = pynix_run(argv, stdin=case.stdin(), env=env, cwd=fixtures_dir)
    compare(nix, py, what=case.id, compare_stdout=case.compare_stdout)


@pytest.mark.parametrize("case", list(iter_cases(ORACLE_CASES, subprocess=True)))
def test_command(case: Case, fixtures_dir: Path) -> None:
    argv, env, nix = oracle(case, fixtures_dir)
    py = run_pynix_command(argv, stdin=case.stdin(), env=env, cwd=fixtures_dir)
    compare(nix, py, what=case.id, compare_stdout=case.compare_stdout)


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id) for c in DOCUMENTED_CASES])
def test_documented(case: Case, fixtures_dir: Path, pynix_run: Runner) -> None:
    """Features Nix 2.8 lacks, against the documented behaviour written in the case."""
    if SELF_TEST:
        pytest.skip("Nix 2.8 lacks this feature")
    case.prepare(fixtures_dir)
    argv = case.argv(fixtures_dir)
    env = case.environment(fixtures_dir)
    py = pynix_run(argv, stdin=case.stdin(), env=env, cwd=fixtures_dir)
    if case.expect_status == "error":
        why = clean_failure_problem(py)
        if why:
            pytest.fail(
                f"{case.id}: expected a clean error, pynix {why}\n" + describe("pynix", py),
                pytrace=False,
            )
        return
    expected = (case.expected_stdout or "") + "\n"
    if not py.ok or py.stdout != expected.encode():
        pytest.fail(
            f"{case.id}: expected stdout {expected!r} and success\n" + describe("pynix", py),
            pytrace=False,
        )


def test_corpus_is_large_enough() -> None:
    assert len(ORACLE_CASES) >= 700, len(ORACLE_CASES)
    assert sum(c.subprocess for c in ORACLE_CASES) >= 30


def test_corpus_names_are_unique() -> None:
    ids = [c.id for c in CASES]
    assert len(ids) == len(set(ids))
