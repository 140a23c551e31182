"""The metadata database of a local store (SQLite, WAL).

The tables keep Nix's facts under Nix's names (spec 10): ``ValidPaths``,
``Refs`` and ``DerivationOutputs``.  ``hash`` is ``sha256:<base16>`` as in Nix.
Foreign keys make the closure property a database invariant: a reference
must be a valid path, and a path that is still referred to cannot be removed.

``PendingPaths`` is pynix's own: a store path whose files are being put in
place or removed.  A row is written (and committed) before files appear at
a path and removed in the transaction that registers the path; deletions
add the row in the transaction that invalidates.  After a crash the rows
left over name exactly the files that are not valid and may be removed.

Writers use ``BEGIN IMMEDIATE`` and a long busy timeout, so concurrent
processes queue up instead of failing.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Final

from ..compat.hashing import BadHash, Hash, HashFormat
from .api import InvalidPath, PathInfo, StoreError

SCHEMA_VERSION: Final = 1
BUSY_TIMEOUT_MS: Final = 10 * 60 * 1000

_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS ValidPaths (
    id               INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    path             TEXT UNIQUE NOT NULL,
    hash             TEXT NOT NULL,
    registrationTime INTEGER NOT NULL,
    deriver          TEXT,
    narSize          INTEGER,
    ultimate         INTEGER,
    sigs             TEXT,
    ca               TEXT
);
CREATE TABLE IF NOT EXISTS Refs (
    referrer  INTEGER NOT NULL,
    reference INTEGER NOT NULL,
    PRIMARY KEY (referrer, reference),
    FOREIGN KEY (referrer) REFERENCES ValidPaths(id) ON DELETE CASCADE,
    FOREIGN KEY (reference) REFERENCES ValidPaths(id) ON DELETE RESTRICT
);
CREATE INDEX IF NOT EXISTS IndexReferrer ON Refs(referrer);
CREATE INDEX IF NOT EXISTS IndexReference ON Refs(reference);
CREATE TABLE IF NOT EXISTS DerivationOutputs (
    drv  INTEGER NOT NULL,
    id   TEXT NOT NULL,
    path TEXT NOT NULL,
    PRIMARY KEY (drv, id),
    FOREIGN KEY (drv) REFERENCES ValidPaths(id) ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS IndexDerivationOutputs ON DerivationOutputs(path);
CREATE TABLE IF NOT EXISTS PendingPaths (
    path  TEXT PRIMARY KEY NOT NULL,
    since INTEGER NOT NULL
);
"""


def db_hash(nar_hash: str) -> str:
    """``sha256:<nix32|base16|...>`` or SRI -> ``sha256:<base16>`` (Nix's column form)."""
    try:
        h = Hash.parse(nar_hash)
    except BadHash as e:
        raise StoreError(f"invalid NAR hash '{nar_hash}': {e}") from None
    return h.to_prefixed(HashFormat.BASE16)


def info_hash(column: str) -> str:
    return Hash.parse(column).to_prefixed(HashFormat.NIX32)


class StoreDB:
    """One connection to a store database; safe to share between threads."""

    def __init__(self, path: str) -> None:
        self._lock = threading.RLock()
        self._conn = sqlite3.connect(
            path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False
        )
        c = self._conn
        c.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        c.execute("PRAGMA journal_mode = WAL")
        # As Nix: WAL with synchronous=NORMAL keeps the database consistent
        # through any crash; a power loss may forget the last commits, which
        # only makes their paths invalid again (their files are fsynced before
        # the commit, so a commit that survives has complete contents).
        c.execute("PRAGMA synchronous = NORMAL")
        c.execute("PRAGMA foreign_keys = ON")
        if c.execute("PRAGMA user_version").fetchone()[0] != SCHEMA_VERSION:
            with self.transaction() as cur:
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        cur.execute(statement)
                cur.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Cursor]:
        """A write transaction (``BEGIN IMMEDIATE``): all or nothing."""
        with self._lock:
            cur = self._conn.cursor()
            cur.execute("BEGIN IMMEDIATE")
            try:
                yield cur
            except BaseException:
                cur.execute("ROLLBACK")
                raise
            cur.execute("COMMIT")

    def _query(self, sql: str, args: tuple[object, ...] = ()) -> list[Any]:
        with self._lock:
            return self._conn.execute(sql, args).fetchall()

    # -- queries -----------------------------------------------------------

    def path_id(self, path: str) -> int | None:
        rows = self._query("SELECT id FROM ValidPaths WHERE path = ?", (path,))
        return int(rows[0][0]) if rows else None

    def is_valid(self, path: str) -> bool:
        return self.path_id(path) is not None

    def query_info(self, path: str) -> PathInfo:
        rows = self._query(
            "SELECT id, hash, registrationTime, deriver, narSize, ultimate, sigs, ca "
            "FROM ValidPaths WHERE path = ?",
            (path,),
        )
        if not rows:
            raise InvalidPath(f"path '{path}' is not valid")
        id_, hash_, reg, deriver, nar_size, ultimate, sigs, ca = rows[0]
        refs = self._query(
            "SELECT v.path FROM Refs r JOIN ValidPaths v ON v.id = r.reference "
            "WHERE r.referrer = ?",
            (id_,),
        )
        return PathInfo(
            path=path,
            nar_hash=info_hash(str(hash_)),
            nar_size=int(nar_size or 0),
            references=frozenset(str(r[0]) for r in refs),
            deriver=str(deriver) if deriver else None,
            registration_time=int(reg),
            signatures=frozenset(str(sigs).split()) if sigs else frozenset(),
            ca=str(ca) if ca else None,
            ultimate=bool(ultimate),
        )

    def referrers(self, path: str) -> set[str]:
        rows = self._query(
            "SELECT v.path FROM Refs r JOIN ValidPaths v ON v.id = r.referrer "
            "JOIN ValidPaths t ON t.id = r.reference WHERE t.path = ?",
            (path,),
        )
        return {str(r[0]) for r in rows}

    def valid_derivers(self, path: str) -> set[str]:
        rows = self._query(
            "SELECT v.path FROM DerivationOutputs d JOIN ValidPaths v ON v.id = d.drv "
            "WHERE d.path = ?",
            (path,),
        )
        return {str(r[0]) for r in rows}

    def derivation_outputs(self, drv_path: str) -> dict[str, str]:
        rows = self._query(
            "SELECT d.id, d.path FROM DerivationOutputs d JOIN ValidPaths v ON v.id = d.drv "
            "WHERE v.path = ?",
            (drv_path,),
        )
        return {str(name): str(path) for name, path in rows}

    def all_valid_paths(self) -> set[str]:
        return {str(r[0]) for r in self._query("SELECT path FROM ValidPaths")}

    def graph(self) -> tuple[dict[int, str], dict[int, set[int]], dict[int, str | None]]:
        """A consistent snapshot: id -> path, referrer id -> reference ids, id -> deriver."""
        with self._lock:
            cur = self._conn.cursor()
            cur.execute("BEGIN")  # one read snapshot for all three queries
            try:
                paths: dict[int, str] = {}
                derivers: dict[int, str | None] = {}
                for id_, path, deriver in cur.execute("SELECT id, path, deriver FROM ValidPaths"):
                    paths[id_] = path
                    derivers[id_] = deriver
                refs: dict[int, set[int]] = {i: set() for i in paths}
                for referrer, reference in cur.execute("SELECT referrer, reference FROM Refs"):
                    refs[referrer].add(reference)
            finally:
                cur.execute("COMMIT")
        return paths, refs, derivers

    def derivation_outputs_all(self) -> dict[str, set[str]]:
        """drv path -> its registered output paths (for keep-outputs)."""
        out: dict[str, set[str]] = {}
        for drv, path in self._query(
            "SELECT v.path, d.path FROM DerivationOutputs d JOIN ValidPaths v ON v.id = d.drv"
        ):
            out.setdefault(str(drv), set()).add(str(path))
        return out

    # -- changes -----------------------------------------------------------

    def register(
        self,
        infos: Iterable[PathInfo],
        drv_outputs: Mapping[str, Mapping[str, str]] | None = None,
        *,
        now: int | None = None,
    ) -> None:
        """Make ``infos`` valid in one transaction (already valid ones are kept).

        Every reference must be valid already or be one of ``infos``; else
        :class:`StoreError` and nothing changes.  Their pending rows go.
        """
        infos = list(infos)
        drv_outputs = drv_outputs or {}
        registered = int(time.time()) if now is None else now
        with self.transaction() as cur:
            ids: dict[str, int] = {}
            new: list[PathInfo] = []
            for info in infos:
                row = cur.execute(
                    "SELECT id FROM ValidPaths WHERE path = ?", (info.path,)
                ).fetchone()
                if row is not None:
                    ids[info.path] = row[0]
                    continue
                cur.execute(
                    "INSERT INTO ValidPaths (path, hash, registrationTime, deriver, narSize, "
                    "ultimate, sigs, ca) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        info.path,
                        db_hash(info.nar_hash),
                        info.registration_time or registered,
                        info.deriver,
                        info.nar_size,
                        1 if info.ultimate else 0,
                        " ".join(sorted(info.signatures)) or None,
                        info.ca,
                    ),
                )
                assert cur.lastrowid is not None
                ids[info.path] = cur.lastrowid
                new.append(info)
            for info in new:
                for ref in sorted(info.references):
                    ref_id = ids.get(ref)
                    if ref_id is None:
                        row = cur.execute(
                            "SELECT id FROM ValidPaths WHERE path = ?", (ref,)
                        ).fetchone()
                        if row is None:
                            raise StoreError(
                                f"cannot add path '{info.path}' because it refers to "
                                f"path '{ref}', which is not valid"
                            )
                        ref_id = row[0]
                    cur.execute(
                        "INSERT OR IGNORE INTO Refs (referrer, reference) VALUES (?, ?)",
                        (ids[info.path], ref_id),
                    )
                for name, out_path in sorted(drv_outputs.get(info.path, {}).items()):
                    cur.execute(
                        "INSERT OR REPLACE INTO DerivationOutputs (drv, id, path) "
                        "VALUES (?, ?, ?)",
                        (ids[info.path], name, out_path),
                    )
            cur.executemany(
                "DELETE FROM PendingPaths WHERE path = ?", [(i.path,) for i in infos]
            )

    def invalidate(self, path: str) -> bool:
        """Remove ``path`` from the valid set unless another valid path refers to it.

        The path is recorded as pending removal in the same transaction.
        Returns False (changing nothing) if it is referred to; True also when
        it was not valid.
        """
        with self.transaction() as cur:
            row = cur.execute("SELECT id FROM ValidPaths WHERE path = ?", (path,)).fetchone()
            if row is None:
                return True
            id_ = row[0]
            if cur.execute(
                "SELECT 1 FROM Refs WHERE reference = ? AND referrer != ? LIMIT 1", (id_, id_)
            ).fetchone():
                return False
            cur.execute("DELETE FROM Refs WHERE referrer = ?", (id_,))
            cur.execute("DELETE FROM DerivationOutputs WHERE drv = ?", (id_,))
            cur.execute("DELETE FROM ValidPaths WHERE id = ?", (id_,))
            cur.execute(
                "INSERT OR REPLACE INTO PendingPaths (path, since) VALUES (?, ?)",
                (path, int(time.time())),
            )
        return True

    def add_signatures(self, path: str, sigs: Iterable[str]) -> None:
        with self.transaction() as cur:
            row = cur.execute("SELECT sigs FROM ValidPaths WHERE path = ?", (path,)).fetchone()
            if row is None:
                raise InvalidPath(f"path '{path}' is not valid")
            merged = set(str(row[0] or "").split()) | set(sigs)
            cur.execute(
                "UPDATE ValidPaths SET sigs = ? WHERE path = ?",
                (" ".join(sorted(merged)) or None, path),
            )

    def update_hash(self, path: str, nar_hash: str, nar_size: int) -> None:
        with self.transaction() as cur:
            cur.execute(
                "UPDATE ValidPaths SET hash = ?, narSize = ? WHERE path = ?",
                (db_hash(nar_hash), nar_size, path),
            )

    # -- pending files -------------------------------------------------------

    def add_pending(self, paths: Iterable[str]) -> None:
        now = int(time.time())
        with self.transaction() as cur:
            cur.executemany(
                "INSERT OR REPLACE INTO PendingPaths (path, since) VALUES (?, ?)",
                [(p, now) for p in paths],
            )

    def remove_pending(self, paths: Iterable[str]) -> None:
        with self.transaction() as cur:
            cur.executemany("DELETE FROM PendingPaths WHERE path = ?", [(p,) for p in paths])

    def pending(self) -> list[str]:
        return [str(r[0]) for r in self._query("SELECT path FROM PendingPaths ORDER BY path")]

    def check_integrity(self) -> list[str]:
        """Problems SQLite itself finds (foreign keys, page structure)."""
        problems = []
        for row in self._query("PRAGMA foreign_key_check"):
            problems.append(f"database: dangling reference in table {row[0]} (row {row[1]})")
        result = self._query("PRAGMA quick_check")
        if result and result[0][0] != "ok":
            problems.extend(f"database: {r[0]}" for r in result)
        return problems
