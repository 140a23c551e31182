"""The local store: files under ``<root>/nix/store``, metadata in SQLite.

Adding a path (sources, texts, NARs) always goes the same way:

1. assemble the contents in a staging area inside the store directory
   (:mod:`.staging`), hashing them on the way;
2. canonicalise them (mode, mtime 1) and fsync them;
3. add a temporary root for the path, then take its path lock
   (``<path>.lock``); if the path is already valid, stop here;
4. record the path as pending in the database, ``rename`` the contents
   into place and fsync the store directory;
5. register the path (with its references) in one transaction, which also
   drops the pending record.

A crash before 4 leaves a staging area nobody holds, a crash between 4 and 5
a pending record for files that are not valid; both are removed by
:meth:`LocalStore.recover` (run when a store is opened and after a
collection).  A path is valid only after its contents are complete.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from typing import BinaryIO

from ..compat.contentaddress import BadContentAddress, ContentAddress
from ..compat.derivation import Derivation, DerivationError
from ..compat.hashing import BadHash, Hash, HashFormat, hash_bytes, hash_file, parse_hash_algo
from ..compat.nar import NarError, iter_nar, nar_hash_and_size, nar_of_bytes
from ..compat.nar_reader import RegularEvent, iter_nar_events, restore_nar
from ..compat.narinfo import fingerprint
from ..compat.signing import PublicKey, verify_signatures
from ..compat.storepath import (
    BadStorePath,
    StorePath,
    check_name,
    make_fixed_output_path,
    make_text_path_for,
)
from . import gc as gc_module
from .api import GCResult, InvalidPath, PathFilter, PathInfo, Store, StoreError
from .db import StoreDB
from .files import canonicalise, fsync_path, fsync_tree, make_durable, remove_tree
from .ingest import HashingStream, exchange, hash_tree, stage_flat, stage_tree, write_file
from .layout import StoreLayout, layout_for_root
from .locks import PathLocks
from .roots import Roots, add_indirect_root, add_permanent_root, merge_roots
from .staging import Staging, clean_stale_staging
from .temproots import TempRoots, read_temp_roots

RepairHook = Callable[[str], bool]


@dataclass
class VerifyReport:
    """What :meth:`LocalStore.verify_report` found and did."""

    problems: list[str] = field(default_factory=list)  # everything found
    repaired: list[str] = field(default_factory=list)  # paths fixed
    unrepaired: list[str] = field(default_factory=list)  # problems still there

    @property
    def ok(self) -> bool:
        return not self.unrepaired


class LocalStore(Store):
    """A store on this machine.  ``root=None`` is the real ``/nix``."""

    def __init__(
        self,
        root: str | None = None,
        *,
        trusted_public_keys: Iterable[PublicKey | str] = (),
        keep_derivations: bool = True,
        keep_outputs: bool = False,
        runtime_roots: bool = True,
        repair_hook: RepairHook | None = None,
    ) -> None:
        self.layout: StoreLayout = layout_for_root(root)
        try:
            self.layout.create()
            self.db = StoreDB(self.layout.db_path)
        except (OSError, sqlite3.Error) as e:
            raise StoreError(f"cannot open the store at '{self.layout.root}': {e}") from None
        self.trusted_public_keys = [
            k if isinstance(k, PublicKey) else PublicKey.parse(k) for k in trusted_public_keys
        ]
        self.keep_derivations = keep_derivations
        self.keep_outputs = keep_outputs
        self.runtime_roots = runtime_roots
        self.repair_hook = repair_hook
        self._temp_roots = TempRoots(self.layout)
        self._closed = False
        self.recover()

    @property
    def root(self) -> str:
        return self.layout.root

    def __repr__(self) -> str:
        return f"LocalStore(root={self.layout.root!r})"

    @property
    def url(self) -> str:
        return "local" if not self.layout.chroot else f"local?root={self.layout.root}"

    # -- where things are -------------------------------------------------

    def real_path(self, path: str) -> str:
        return self.layout.real_path(path)

    def _check_store_path(self, path: str) -> StorePath:
        try:
            return StorePath.parse(path, self.store_dir)
        except BadStorePath as e:
            raise StoreError(str(e)) from None

    # -- queries ------------------------------------------------------------

    def is_valid_path(self, path: str) -> bool:
        return self.db.is_valid(path)

    def query_path_info(self, path: str) -> PathInfo:
        return self.db.query_info(path)

    def query_referrers(self, path: str) -> set[str]:
        return self.db.referrers(path)

    def query_valid_derivers(self, path: str) -> set[str]:
        return self.db.valid_derivers(path)

    def query_derivation_outputs(self, drv_path: str) -> dict[str, str]:
        return self.db.derivation_outputs(drv_path)

    def query_all_valid_paths(self) -> set[str]:
        return self.db.all_valid_paths()

    def query_references(self, path: str) -> set[str]:
        return set(self.query_path_info(path).references)

    def query_referrers_closure(self, paths: Iterable[str]) -> set[str]:
        """Every valid path that (transitively) refers to one of ``paths``, and them."""
        seen: set[str] = set()
        todo = list(paths)
        while todo:
            p = todo.pop()
            if p not in seen:
                seen.add(p)
                todo.extend(self.query_referrers(p) - seen)
        return seen

    def query_path_from_hash_part(self, hash_part: str) -> str | None:
        prefix = f"{self.store_dir}/{hash_part}-"
        for p in self.db.all_valid_paths():
            if p.startswith(prefix):
                return p
        return None

    # -- reading ------------------------------------------------------------

    def nar_from_path(self, path: str) -> Iterator[bytes]:
        if not self.is_valid_path(path):
            raise InvalidPath(f"path '{path}' is not valid")
        return iter_nar(self.real_path(path))

    # -- adding -------------------------------------------------------------

    def add_to_store(
        self,
        src: str,
        name: str | None = None,
        *,
        recursive: bool = True,
        algo: str = "sha256",
        filter: PathFilter | None = None,
        expected: bytes | None = None,
    ) -> str:
        src = os.path.abspath(src)
        name = os.path.basename(src) if name is None else name
        try:
            check_name(name)
            hash_algo = parse_hash_algo(algo)
        except (BadStorePath, BadHash) as e:
            raise StoreError(str(e)) from None
        if not os.path.lexists(src):
            raise StoreError(f"getting status of '{src}': No such file or directory")
        # Hash first: adding what is already there (the common case for sources
        # an evaluation adds again and again) then costs one read and no copy.
        # Not with a filter: it is user code (a Nix function) and runs once.
        if filter is None:
            try:
                if recursive:
                    _, _, first = hash_tree(src, None, hash_algo)
                else:
                    first = hash_file(hash_algo, src)
            except (OSError, NarError) as e:
                raise StoreError(f"cannot add '{src}' to the store: {e}") from None
            _check_expected(src, first, expected)
            path = make_fixed_output_path(name, first, recursive)
            self.add_temp_root(path)
            if self.is_valid_path(path):
                return path
        with Staging(self.layout) as staging:
            try:
                if recursive:
                    nar_sha256, nar_size, ca_hash = stage_tree(
                        src, staging.path, filter, hash_algo
                    )
                else:
                    ca_hash = stage_flat(src, staging.path, hash_algo)
                    nar_sha256, nar_size = nar_hash_and_size(staging.path)
            except (OSError, NarError) as e:
                raise StoreError(f"cannot add '{src}' to the store: {e}") from None
            _check_expected(src, ca_hash, expected)  # the source may have changed
            path = make_fixed_output_path(name, ca_hash, recursive)
            ca = ContentAddress("recursive" if recursive else "flat", ca_hash)
            info = PathInfo(
                path=path,
                nar_hash=nar_sha256.to_prefixed(HashFormat.NIX32),
                nar_size=nar_size,
                ca=str(ca),
                ultimate=True,
            )
            self._finish_staged(staging, info)
        return path

    def add_text_to_store(
        self, name: str, text: bytes, references: Iterable[str] = ()
    ) -> str:
        return self._add_text(name, text, set(references), None)

    def add_derivation(self, drv: Derivation, name: str) -> str:
        outputs = {o: out.path for o, out in drv.outputs.items() if out.path}
        return self._add_text(name + ".drv", drv.to_bytes(), drv.references, outputs)

    def _add_text(
        self,
        name: str,
        text: bytes,
        references: set[str],
        drv_outputs: dict[str, str] | None,
    ) -> str:
        if isinstance(text, str):  # be lenient with callers passing Nix strings
            text = text.encode("utf-8", "surrogateescape")
        try:
            path = make_text_path_for(name, text, references, self.store_dir)
        except BadStorePath as e:
            raise StoreError(str(e)) from None
        if drv_outputs is None and name.endswith(".drv"):
            drv_outputs = _derivation_outputs(path, text)
        for ref in sorted(references):
            self._check_store_path(ref)
            if not self.is_valid_path(ref):
                raise StoreError(
                    f"cannot add path '{path}' because it refers to path '{ref}', "
                    "which is not valid"
                )
        nar = nar_of_bytes(text)
        info = PathInfo(
            path=path,
            nar_hash=hash_bytes("sha256", nar).to_prefixed(HashFormat.NIX32),
            nar_size=len(nar),
            references=frozenset(references),
            ca=f"text:{hash_bytes('sha256', text).to_prefixed(HashFormat.NIX32)}",
            ultimate=True,
        )
        self.add_temp_root(path)
        if self.is_valid_path(path):
            return path
        with Staging(self.layout) as staging:
            write_file(staging.path, text)
            self._finish_staged(staging, info, {path: drv_outputs} if drv_outputs else None)
        return path

    def import_nar(self, info: PathInfo, nar: BinaryIO, *, check_sigs: bool = False) -> None:
        path = info.path
        sp = self._check_store_path(path)
        if check_sigs:
            self._check_trusted(info)
        self.add_temp_root(path)
        if self.is_valid_path(path):
            _skip_nar(nar)
            return
        with Staging(self.layout) as staging:
            stream = HashingStream(reader=nar)
            try:
                restore_nar(stream, staging.path, trailing_ok=True)
            except (OSError, NarError) as e:
                raise StoreError(f"cannot import path '{path}': {e}") from None
            got = stream.hash()
            expected = _parse_nar_hash(info.nar_hash)
            if got != expected:
                raise StoreError(
                    f"hash mismatch importing path '{path}';\n"
                    f"  specified: {expected.to_sri()}\n  got:       {got.to_sri()}"
                )
            if info.nar_size and info.nar_size != stream.size:
                raise StoreError(
                    f"size mismatch importing path '{path}';\n"
                    f"  specified: {info.nar_size}\n  got:       {stream.size}"
                )
            if info.ca:
                self._check_ca(info, sp)
            drv_outputs = None
            if sp.is_derivation:
                with open(staging.path, "rb") as f:
                    drv_outputs = {path: _derivation_outputs(path, f.read())}
            self._finish_staged(
                staging, replace(info, nar_size=stream.size), drv_outputs
            )

    def _check_ca(self, info: PathInfo, sp: StorePath) -> None:
        try:
            ca = ContentAddress.parse(info.ca or "")
            refs = set(info.references) - {info.path}
            computed = ca.store_path(sp.name, refs, info.path in info.references)
        except (BadContentAddress, BadStorePath) as e:
            raise StoreError(f"path '{info.path}': {e}") from None
        if computed != info.path:
            raise StoreError(
                f"path '{info.path}' does not match its content address '{info.ca}' "
                f"(which gives '{computed}')"
            )

    def _check_trusted(self, info: PathInfo) -> None:
        if info.ca:
            self._check_ca(info, self._check_store_path(info.path))
            return
        message = fingerprint(
            info.path, _parse_nar_hash(info.nar_hash), info.nar_size, info.references
        )
        if not verify_signatures(message, info.signatures, self.trusted_public_keys):
            raise StoreError(
                f"cannot add path '{info.path}' because it lacks a signature by a trusted key"
            )

    def _finish_staged(
        self,
        staging: Staging,
        info: PathInfo,
        drv_outputs: dict[str, dict[str, str]] | None = None,
    ) -> None:
        """Steps 2-5 of the module docstring for contents assembled in ``staging``."""
        try:
            make_durable(staging.path, canonicalise(staging.path))
        except OSError as e:
            raise StoreError(f"cannot add path '{info.path}': {e}") from None
        path = info.path
        self.add_temp_root(path)
        real = self.real_path(path)
        with self.lock_paths([path]):
            if self.is_valid_path(path):
                return
            if os.path.lexists(real):
                if self._adopt(real, info, drv_outputs):
                    return
                self.db.add_pending([path])
                remove_tree(real)
            self.db.add_pending([path])
            os.rename(staging.path, real)
            fsync_path(self.layout.real_store_dir)
            try:
                self.db.register([info], drv_outputs)
            except StoreError:
                remove_tree(real)
                self.db.remove_pending([path])
                raise

    def _adopt(
        self, real: str, info: PathInfo, drv_outputs: dict[str, dict[str, str]] | None
    ) -> bool:
        """Register invalid contents already at ``real`` if they are what ``info`` says
        (a crash after the rename, or a store shared with the real Nix)."""
        try:
            got, size = nar_hash_and_size(real)
        except (OSError, NarError):
            return False
        if got != _parse_nar_hash(info.nar_hash) or size != info.nar_size:
            return False
        with contextlib.suppress(OSError):
            canonicalise(real)
            fsync_tree(real)
        self.db.register([info], drv_outputs)
        return True

    def register_valid_paths(self, infos: list[PathInfo]) -> None:
        """Register contents a build put at their paths (see the module docstring of
        :mod:`pynix.store` for the protocol).  Each path is canonicalised, fsynced
        and re-hashed; a hash or size that differs from ``info`` is an error."""
        todo = [i for i in infos if not self.is_valid_path(i.path)]
        drv_outputs: dict[str, dict[str, str]] = {}
        checked: list[PathInfo] = []
        for info in todo:
            sp = self._check_store_path(info.path)
            real = self.real_path(info.path)
            if not os.path.lexists(real):
                raise StoreError(f"cannot register path '{info.path}': it does not exist")
            try:
                objects = canonicalise(real)
                got, size = nar_hash_and_size(real)
                make_durable(real, objects)
            except (OSError, NarError) as e:
                raise StoreError(f"cannot register path '{info.path}': {e}") from None
            expected = _parse_nar_hash(info.nar_hash)
            if got != expected:
                raise StoreError(
                    f"cannot register path '{info.path}': its NAR hash is {got.to_sri()}, "
                    f"not {expected.to_sri()}"
                )
            if info.nar_size and info.nar_size != size:
                raise StoreError(
                    f"cannot register path '{info.path}': its NAR size is {size}, "
                    f"not {info.nar_size}"
                )
            if info.ca:
                self._check_ca(info, sp)
            if sp.is_derivation:
                with open(real, "rb") as f:
                    drv_outputs[info.path] = _derivation_outputs(info.path, f.read())
            checked.append(replace(info, nar_size=size))
        for info in checked:
            self.add_temp_root(info.path)
        fsync_path(self.layout.real_store_dir)
        self.db.register(checked, drv_outputs)

    def add_signatures(self, path: str, sigs: Iterable[str]) -> None:
        self.db.add_signatures(path, sigs)

    # -- helpers for builds ---------------------------------------------------

    def lock_paths(self, paths: Iterable[str], *, wait: bool = True) -> PathLocks:
        """Hold the path locks of store ``paths`` (``with store.lock_paths([...]):``).

        Raises :class:`StoreError` if ``wait`` is off and one is taken.
        """
        locks = PathLocks()
        if not locks.lock([self.real_path(p) for p in paths], wait=wait):
            raise StoreError("store paths are locked by another process")
        return locks

    def prepare_paths(self, paths: Iterable[str]) -> None:
        """Before a build writes outputs at their real paths: remove invalid leftovers
        there and record the paths as pending, so that a crash leaves nothing that
        :meth:`recover` does not clean.  The caller holds the paths' locks."""
        todo = [p for p in paths if not self.is_valid_path(p)]
        self.db.add_pending(todo)
        for p in todo:
            remove_tree(self.real_path(p))

    def delete_invalid_path(self, path: str) -> None:
        """Remove files at a path that is not valid (caller holds its lock)."""
        if self.is_valid_path(path):
            raise StoreError(f"path '{path}' is valid; use the garbage collector")
        remove_tree(self.real_path(path))

    def replace_path_contents(self, path: str, source: str) -> None:
        """Put a correct copy of a valid path's contents in place (repairs).

        ``source`` is a file or tree whose NAR hash must be the registered one;
        the old contents are swapped out atomically.
        """
        info = self.query_path_info(path)
        real = self.real_path(path)
        with Staging(self.layout) as staging:
            got, _size, _ = stage_tree(source, staging.path, None, "sha256")
            if got != _parse_nar_hash(info.nar_hash):
                raise StoreError(
                    f"cannot repair path '{path}': the replacement has hash {got.to_sri()}, "
                    f"not {_parse_nar_hash(info.nar_hash).to_sri()}"
                )
            make_durable(staging.path, canonicalise(staging.path))
            with self.lock_paths([path]):
                if os.path.lexists(real):
                    exchange(staging.path, real)
                else:
                    os.rename(staging.path, real)
                fsync_path(self.layout.real_store_dir)

    # -- roots and garbage collection ---------------------------------------

    def add_temp_root(self, path: str) -> None:
        self._temp_roots.add(path)

    def add_indirect_root(self, link: str) -> None:
        add_indirect_root(self.layout, link)

    def add_perm_root(self, store_path: str, link: str) -> str:
        """Make ``link`` -> ``store_path`` and register it as an indirect root
        (``nix-build`` result links, ``--add-root``).  Returns the absolute link."""
        self._check_store_path(store_path)
        return add_permanent_root(self.layout, store_path, link)

    def find_roots(self) -> dict[str, set[str]]:
        valid = self.db.all_valid_paths()
        temp = read_temp_roots(self.layout, hold=False)
        roots: Roots = gc_module.all_roots(self, temp, valid)
        return merge_roots(roots)

    def collect_garbage(
        self,
        *,
        action: str = "delete-dead",
        paths: Iterable[str] | None = None,
        max_freed: int | None = None,
    ) -> GCResult:
        return gc_module.collect_garbage(self, action=action, paths=paths, max_freed=max_freed)

    # -- maintenance ---------------------------------------------------------

    def recover(self) -> list[str]:
        """Remove leftovers of interrupted adds and deletions; returns what went."""
        from .optimise import recover_interrupted

        removed = clean_stale_staging(self.layout)
        removed += recover_interrupted(self.layout)
        for path in self.db.pending():
            locks = PathLocks()
            if not locks.lock([self.real_path(path)], wait=False):
                continue  # still being worked on
            try:
                if not self.is_valid_path(path):
                    real = self.real_path(path)
                    if os.path.lexists(real):
                        remove_tree(real)
                        removed.append(real)
                self.db.remove_pending([path])
            finally:
                locks.release()
        return removed

    def verify(
        self,
        *,
        check_contents: bool = False,
        repair: bool = False,
        repair_path: RepairHook | None = None,
    ) -> list[str]:
        return self.verify_report(
            check_contents=check_contents, repair=repair, repair_path=repair_path
        ).problems

    def verify_report(
        self,
        *,
        check_contents: bool = False,
        repair: bool = False,
        repair_path: RepairHook | None = None,
    ) -> VerifyReport:
        from .verify import verify_store

        hook = repair_path or self.repair_hook
        return verify_store(self, check_contents=check_contents, repair=repair, hook=hook)

    def optimise(self) -> tuple[int, int]:
        from .optimise import optimise_store

        return optimise_store(self)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._temp_roots.close()
        self.db.close()

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self.close()


def _check_expected(src: str, got: Hash, expected: bytes | None) -> None:
    if expected is None or expected == got.digest:
        return
    try:
        specified = Hash(got.algo, expected).to_sri()
    except BadHash:
        specified = expected.hex()
    raise StoreError(
        f"hash mismatch importing path '{src}':\n"
        f"  specified: {specified}\n  got:       {got.to_sri()}"
    )


def _parse_nar_hash(text: str) -> Hash:
    try:
        return Hash.parse(text, "sha256")
    except BadHash as e:
        raise StoreError(f"invalid NAR hash '{text}': {e}") from None


def _derivation_outputs(path: str, text: bytes) -> dict[str, str]:
    try:
        drv = Derivation.parse(text)
    except (DerivationError, UnicodeDecodeError) as e:
        raise StoreError(f"'{path}' is not a valid derivation: {e}") from None
    return {name: out.path for name, out in drv.outputs.items() if out.path}


def _skip_nar(nar: BinaryIO) -> None:
    """Read past one NAR in a stream (what importing an existing path consumes)."""
    for event in iter_nar_events(nar, trailing_ok=True):
        if isinstance(event, RegularEvent):
            for _ in event.chunks:
                pass
