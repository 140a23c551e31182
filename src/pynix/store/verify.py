"""Checking (and repairing) a local store's consistency.

Checks: the database's own integrity (foreign keys: every reference is a
valid path), every valid path exists on disk, and with ``check_contents``
its NAR hash and size are the registered ones.

Repairs need a way to recreate a path's contents, which the store alone
does not have for paths added from sources or texts: a *repair hook*
(``path -> bool``, given by the build or cache layer) recreates them,
typically by rebuilding or substituting and calling
:meth:`LocalStore.replace_path_contents`.  After the hook the path is checked
again.  A path that disappeared and that nothing refers to is dropped from
the database when it cannot be recreated (as Nix does).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING

from ..compat.hashing import Hash
from ..compat.nar import NarError, nar_hash_and_size

if TYPE_CHECKING:
    from .local import LocalStore, VerifyReport


def _contents_problem(store: LocalStore, path: str) -> str | None:
    real = store.real_path(path)
    if not os.path.lexists(real):
        return f"path '{path}' disappeared"
    info = store.query_path_info(path)
    try:
        got, size = nar_hash_and_size(real)
    except (OSError, NarError) as e:
        return f"path '{path}' cannot be read: {e}"
    expected = Hash.parse(info.nar_hash, "sha256")
    if got != expected:
        return (
            f"path '{path}' was modified! expected hash '{info.nar_hash}', "
            f"got '{got.to_prefixed()}'"
        )
    if info.nar_size and size != info.nar_size:
        return f"path '{path}' has NAR size {size}, expected {info.nar_size}"
    return None


def verify_store(
    store: LocalStore,
    *,
    check_contents: bool,
    repair: bool,
    hook: Callable[[str], bool] | None,
) -> VerifyReport:
    from .local import VerifyReport

    report = VerifyReport()
    store.recover()
    for db_problem in store.db.check_integrity():
        report.problems.append(db_problem)
        report.unrepaired.append(db_problem)
    for path in sorted(store.query_all_valid_paths()):
        real = store.real_path(path)
        problem: str | None
        if check_contents:
            problem = _contents_problem(store, path)
        else:
            problem = None if os.path.lexists(real) else f"path '{path}' disappeared"
        if problem is None:
            continue
        report.problems.append(problem)
        if not repair:
            report.unrepaired.append(problem)
            continue
        if hook is not None and _try_hook(hook, path) and _contents_problem(store, path) is None:
            report.repaired.append(path)
            continue
        if not os.path.lexists(real) and not (store.query_referrers(path) - {path}):
            store.db.invalidate(path)
            store.db.remove_pending([path])
            report.repaired.append(path)
            continue
        why = (
            "the repair hook could not recreate it"
            if hook is not None
            else "no way to recreate its contents (it was not built by a derivation "
            "the store can rebuild; add it again from its source)"
        )
        report.unrepaired.append(f"cannot repair path '{path}': {why}")
    return report


def _try_hook(hook: Callable[[str], bool], path: str) -> bool:
    try:
        return bool(hook(path))
    except Exception:
        return False
