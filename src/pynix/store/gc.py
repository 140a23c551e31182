"""Garbage collection (spec 11.1).

A collection holds the global GC lock exclusively and the temporary roots
files of all live processes shared (see :mod:`.temproots`) from the moment
it reads the roots until it has finished deleting, so no process can start
using a path in between.  Live = the closure of all roots under references
(with ``keep-derivations``: the valid deriver of a live path; with
``keep-outputs``: the valid outputs of a live derivation).  Dead paths are
deleted referrers first.  Deleting one path: take its path lock without
waiting (a locked path is in use: skip it), invalidate it in the database,
which refuses if a valid path still refers to it and records the path as
pending removal, then remove its files, then drop the pending record.
Only paths registered in our database are ever deleted.
"""

from __future__ import annotations

import heapq
import os
import stat
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from .api import GCResult, StoreError
from .files import remove_tree
from .locks import PathLocks, acquire_lock_file, release_lock_file
from .roots import Roots, find_permanent_roots, find_runtime_roots, merge_roots
from .temproots import HeldTempRoots, read_temp_roots

if TYPE_CHECKING:
    from .local import LocalStore

ACTIONS: Final = ("delete-dead", "return-dead", "return-live", "delete-specific")


@dataclass
class _Graph:
    paths: dict[int, str]
    ids: dict[str, int]
    refs: dict[int, set[int]]
    referrers: dict[int, set[int]]
    derivers: dict[int, str | None]
    drv_outputs: dict[str, set[str]]


def _load_graph(store: LocalStore) -> _Graph:
    paths, refs, derivers = store.db.graph()
    referrers: dict[int, set[int]] = {i: set() for i in paths}
    for referrer, references in refs.items():
        for reference in references:
            referrers[reference].add(referrer)
    return _Graph(
        paths=paths,
        ids={p: i for i, p in paths.items()},
        refs=refs,
        referrers=referrers,
        derivers=derivers,
        drv_outputs=store.db.derivation_outputs_all() if store.keep_outputs else {},
    )


def all_roots(store: LocalStore, temp: HeldTempRoots | None, valid: set[str]) -> Roots:
    """Every root that keeps a valid path alive, with what keeps it."""
    layout = store.layout
    parts = [find_permanent_roots(layout, valid.__contains__)]
    if temp is not None:
        parts.append(
            {p: {owner} for owner, ps in temp.roots.items() for p in ps if p in valid}
        )
    if store.runtime_roots:
        by_hash = {os.path.basename(p)[:32]: p for p in valid}
        parts.append(find_runtime_roots(by_hash, layout.real_store_dir))
    return merge_roots(*parts)


def _live_ids(store: LocalStore, g: _Graph, roots: Iterable[str]) -> set[int]:
    live: set[int] = set()
    todo = [g.ids[p] for p in roots if p in g.ids]
    while todo:
        i = todo.pop()
        if i in live:
            continue
        live.add(i)
        todo.extend(g.refs[i] - live)
        if store.keep_derivations:
            deriver = g.derivers.get(i)
            if deriver and deriver in g.ids:
                todo.append(g.ids[deriver])
        if store.keep_outputs:
            for out in g.drv_outputs.get(g.paths[i], ()):
                if out in g.ids:
                    todo.append(g.ids[out])
    return live


def _referrers_first(g: _Graph, doomed: set[int]) -> list[int]:
    """``doomed`` ordered so that every path comes after all its referrers in it."""
    waiting = {i: len((g.referrers[i] & doomed) - {i}) for i in doomed}
    ready = [(g.paths[i], i) for i, n in waiting.items() if n == 0]
    heapq.heapify(ready)
    order: list[int] = []
    while ready:
        _, i = heapq.heappop(ready)
        order.append(i)
        for ref in g.refs[i] - {i}:
            if ref in waiting:
                waiting[ref] -= 1
                if waiting[ref] == 0:
                    heapq.heappush(ready, (g.paths[ref], ref))
    return order


def delete_path(store: LocalStore, path: str) -> int | None:
    """Delete one valid path if nothing uses it; bytes freed, or None if kept."""
    real = store.real_path(path)
    locks = PathLocks()
    if not locks.lock([real], wait=False):
        return None  # someone is adding, building or repairing it
    try:
        if not store.db.invalidate(path):
            return None
        freed = remove_tree(real)
        store.db.remove_pending([path])
        return freed
    finally:
        locks.release()


def remove_unused_links(store: LocalStore) -> int:
    """Remove ``.links`` entries no store file shares any more; bytes freed."""
    freed = 0
    try:
        entries = list(os.scandir(store.layout.links_dir))
    except FileNotFoundError:
        return 0
    for entry in entries:
        try:
            st = entry.stat(follow_symlinks=False)
            if stat.S_ISREG(st.st_mode) and st.st_nlink == 1:
                os.unlink(entry.path)
                freed += st.st_size
        except FileNotFoundError:
            continue
    return freed


def collect_garbage(
    store: LocalStore,
    *,
    action: str = "delete-dead",
    paths: Iterable[str] | None = None,
    max_freed: int | None = None,
) -> GCResult:
    if action not in ACTIONS:
        raise StoreError(f"unknown garbage collector action '{action}'")
    if action == "delete-specific" and paths is None:
        raise StoreError("delete-specific needs the paths to delete")
    layout = store.layout
    gc_fd = acquire_lock_file(layout.gc_lock_path, "exclusive")
    assert gc_fd is not None
    temp = None
    try:
        temp = read_temp_roots(layout, hold=True)
        g = _load_graph(store)
        valid = set(g.ids)
        roots = all_roots(store, temp, valid)
        live = _live_ids(store, g, roots)
        if action == "return-live":
            return GCResult(deleted=sorted(g.paths[i] for i in live))
        dead = set(g.paths) - live
        if action == "return-dead":
            return GCResult(deleted=sorted(g.paths[i] for i in dead))
        if action == "delete-specific":
            assert paths is not None
            doomed = _check_specific(g, live, roots, list(paths))
        else:
            doomed = dead
        deleted: list[str] = []
        bytes_freed = 0
        stopped = False
        for i in _referrers_first(g, doomed):
            if max_freed is not None and bytes_freed >= max_freed:
                stopped = True
                break
            freed = delete_path(store, g.paths[i])
            if freed is None:
                if action == "delete-specific":
                    raise StoreError(
                        f"cannot delete path '{g.paths[i]}' since it is in use or still "
                        "referenced"
                    )
                continue
            deleted.append(g.paths[i])
            bytes_freed += freed
        if not stopped:
            bytes_freed += remove_unused_links(store)
            store.recover()
        return GCResult(deleted=deleted, bytes_freed=bytes_freed)
    finally:
        if temp is not None:
            temp.release()
        release_lock_file(gc_fd)


def _check_specific(g: _Graph, live: set[int], roots: Roots, paths: list[str]) -> set[int]:
    doomed: set[int] = set()
    for p in paths:
        i = g.ids.get(p)
        if i is None:
            raise StoreError(f"cannot delete path '{p}' since it is not valid")
        if i in live:
            why = ", ".join(sorted(roots.get(p, set()))) or "a root refers to it"
            raise StoreError(
                f"cannot delete path '{p}' since it is still alive "
                f"(kept by: {why}; see 'pynix-store --query --roots')"
            )
        doomed.add(i)
    for i in doomed:
        outside = (g.referrers[i] - doomed) - {i}
        if outside:
            referrer = g.paths[min(outside, key=g.paths.__getitem__)]
            raise StoreError(
                f"cannot delete path '{g.paths[i]}' since it is still referenced by "
                f"'{referrer}'"
            )
    return doomed
