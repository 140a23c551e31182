"""What the evaluator needs from a store.

`pynix.lang` never imports `pynix.store`: the evaluator talks to a store
through this protocol, and the command line passes in a real store (or a
store that only computes paths, as ``nix-instantiate --eval`` does).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from .errors import EvalError


class EvalStore(Protocol):
    store_dir: str

    def add_path(
        self,
        path: str,
        *,
        name: str | None,
        filter: Callable[[str, str], bool] | None,
        recursive: bool,
        expected_sha256: bytes | None = None,
    ) -> str:
        """Copy a file or directory into the store; its store path."""
        ...

    def add_text(self, name: str, text: str, references: set[str]) -> str:
        """Store a text file (``builtins.toFile``, ``.drv`` files); its store path."""
        ...

    def realise_context(self, context: set[str]) -> None:
        """Build or fetch what a string context refers to (import-from-derivation)."""
        ...

    def references_of(self, path: str) -> set[str]:
        """Store paths a path inside the store refers to (empty outside the store)."""
        ...


class NullStore:
    """A store that refuses everything: evaluation without a store."""

    store_dir = "/nix/store"

    def add_path(
        self,
        path: str,
        *,
        name: str | None,
        filter: Callable[[str, str], bool] | None,
        recursive: bool,
        expected_sha256: bytes | None = None,
    ) -> str:
        raise EvalError(f"cannot copy '{path}' to the store: no store is available")

    def add_text(self, name: str, text: str, references: set[str]) -> str:
        raise EvalError(f"cannot add '{name}' to the store: no store is available")

    def realise_context(self, context: set[str]) -> None:
        raise EvalError("cannot build derivations: no store is available")

    def references_of(self, path: str) -> set[str]:
        return set()
