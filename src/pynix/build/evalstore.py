"""A real store for the evaluator: what :class:`pynix.lang.store_api.EvalStore`
asks for, done with a :class:`~pynix.store.api.Store` and a
:class:`~.scheduler.Scheduler` (import-from-derivation builds).

``pynix.build`` does not import ``pynix.lang`` (layers), so this class
implements the protocol structurally and raises the evaluator's error class
given by the caller, e.g.::

    from pynix.lang.errors import EvalError
    adapter = BuildingEvalStore(store, Scheduler(store, settings), error=EvalError)
    Evaluator(store=adapter, ...)

Strings crossing the protocol are Nix strings (one character per byte); the
store speaks Unicode with surrogate escapes, so every string is converted on
the way in and out.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from ..compat.derivation import Derivation, DerivationError
from ..compat.storepath import BadStorePath, split_store_path
from ..store.api import PathFilter, Store, StoreError
from .scheduler import Scheduler, Target

# what the evaluator passes as a source filter: (Nix string path, file type) -> keep?
NixPathFilter = Callable[[str, str], bool]


def to_compat(s: str) -> str:
    """A Nix string (one char per byte) -> str with surrogate escapes."""
    if s.isascii():
        return s
    return s.encode("latin-1").decode("utf-8", "surrogateescape")


def from_compat(s: str) -> str:
    if s.isascii():
        return s
    return s.encode("utf-8", "surrogateescape").decode("latin-1")


def _fs_path(nix_path: str) -> str:
    return os.fsdecode(nix_path.encode("latin-1"))


def _nix_path(fs_path: str) -> str:
    return os.fsencode(fs_path).decode("latin-1")


class BuildingEvalStore:
    """The evaluator's view of ``store``; ``scheduler`` realises contexts
    (without one, import-from-derivation needs the outputs to be valid)."""

    def __init__(
        self,
        store: Store,
        scheduler: Scheduler | None = None,
        *,
        error: Callable[[str], Exception] = RuntimeError,
    ) -> None:
        self.store = store
        self.store_dir = store.store_dir
        self.scheduler = scheduler
        self.error = error
        self._copied: dict[str, str] = {}

    # -- adding ----------------------------------------------------------------

    def add_path(
        self,
        path: str,
        *,
        name: str | None,
        filter: NixPathFilter | None,
        recursive: bool,
        expected_sha256: bytes | None = None,
    ) -> str:
        literal = name is None
        if literal:
            if path.endswith(".drv"):
                raise self.error("file names are not allowed to end in '.drv'")
            cached = self._copied.get(path)
            if cached is not None:
                return cached
        store_filter: PathFilter | None = None
        if filter is not None:
            nix_filter = filter

            def store_filter(entry: str, kind: str) -> bool:
                return nix_filter(_nix_path(entry), kind)

        try:
            result = self.store.add_to_store(
                _fs_path(path),
                None if name is None else to_compat(name),
                recursive=recursive,
                filter=store_filter,
                expected=expected_sha256,
            )
        except StoreError as e:
            if expected_sha256 is not None and "hash mismatch" in str(e):
                raise self.error(
                    f"store path mismatch in (possibly filtered) path added from '{path}'"
                ) from None
            raise self.error(from_compat(str(e))) from None
        nix_result = from_compat(result)
        if literal:
            self._copied[path] = nix_result
        return nix_result

    def add_text(self, name: str, text: str, references: set[str]) -> str:
        contents = text.encode("latin-1")
        refs = {to_compat(r) for r in references}
        try:
            if name.endswith(".drv"):
                # a derivation: parse it, so that its outputs are recorded too
                try:
                    drv = Derivation.parse(contents)
                except DerivationError as e:
                    raise self.error(f"error parsing derivation '{name}': {e}") from None
                if drv.references == refs:
                    return from_compat(self.store.add_derivation(drv, to_compat(name[:-4])))
            return from_compat(self.store.add_text_to_store(to_compat(name), contents, refs))
        except StoreError as e:
            raise self.error(from_compat(str(e))) from None

    def add_fetched(self, path: str, *, name: str, recursive: bool, sha256: bytes) -> str:
        try:
            result = self.store.add_to_store(
                _fs_path(path), to_compat(name), recursive=recursive, expected=sha256
            )
        except StoreError as e:
            raise self.error(from_compat(str(e))) from None
        return from_compat(result)

    # -- querying --------------------------------------------------------------

    def real_path(self, path: str) -> str:
        """Where a path inside the store is on disk (a chroot store keeps
        ``/nix/store/x`` under its root); other paths are left alone."""
        if path != self.store_dir and not path.startswith(self.store_dir + "/"):
            return path
        try:
            return from_compat(self.store.real_path(to_compat(path)))
        except StoreError:
            return path

    def _logical(self, path: str) -> str:
        """A path under the store's physical directory as a ``/nix/store`` path
        (what :meth:`real_path` gave back to the evaluator)."""
        real_dir = self.real_path(self.store_dir)
        if real_dir != self.store_dir and path.startswith(real_dir + "/"):
            return self.store_dir + path[len(real_dir) :]
        return path

    def _top(self, path: str) -> str | None:
        try:
            sp, _ = split_store_path(to_compat(self._logical(path)), self.store_dir)
        except BadStorePath:
            return None
        return f"{self.store_dir}/{sp.base_name}"

    def is_valid_path(self, path: str) -> bool:
        try:
            return self.store.is_valid_path(to_compat(path))
        except StoreError:
            return False

    def references_of(self, path: str) -> set[str]:
        top = self._top(path)
        if top is None or not self.store.is_valid_path(top):
            return set()
        return {from_compat(r) for r in self.store.query_path_info(top).references}

    def read_text(self, path: str) -> str:
        top = self._top(path)
        if top is None or not self.store.is_valid_path(top):
            raise self.error(f"path '{path}' is not valid")
        try:
            with open(self.store.real_path(to_compat(self._logical(path))), "rb") as fh:
                return fh.read().decode("latin-1")
        except (OSError, StoreError) as e:
            raise self.error(f"reading '{path}': {e}") from None

    # -- realising ---------------------------------------------------------------

    def ensure_path(self, path: str) -> None:
        if self.is_valid_path(path):
            return
        if self.scheduler is not None:
            report = self.scheduler.build([to_compat(path)])
            if report.success:
                return
        raise self.error(f"path '{path}' is not valid")

    def realise_context(self, context: set[str]) -> None:
        targets: list[Target] = []
        plain: list[str] = []
        for element in sorted(context):
            if element.startswith("!"):
                _, output, drv_path = element.split("!", 2)
                targets.append((to_compat(drv_path), {to_compat(output)}))
            else:
                plain.append(element.removeprefix("="))
        for path in plain:
            self.ensure_path(path)
        if not targets:
            return
        if self.scheduler is None:
            for drv_path, outputs in targets:
                drv = self.store.read_derivation(drv_path)
                for o in outputs or ():
                    if not self.store.is_valid_path(drv.outputs[o].path):
                        raise self.error(
                            f"cannot build '{from_compat(drv_path)}^{from_compat(o)}': "
                            "no builder is available"
                        )
            return
        report = self.scheduler.build(targets)
        if not report.success:
            failed = report.failures or [report.results[t] for t in report.targets]
            message = next((r.error for r in failed if r.error), "build failed")
            raise self.error(from_compat(message))
