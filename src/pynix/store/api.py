"""What every store offers: the interface builds, caches, profiles and the CLI use.

Paths are always *logical* store paths (``/nix/store/<hash>-<name>``), as
``str`` (Unicode; bytes that are not UTF-8 travel as surrogate escapes, like
everything in :mod:`pynix.compat`).  Where the files of a path physically
live is the store's business (:meth:`Store.real_path`): a chroot store keeps
``/nix/store/x`` at ``<root>/nix/store/x``.

A path is *valid* when its contents are complete and registered with their
metadata; a valid path's references are valid (the closure property).
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

from ..compat.derivation import Derivation

STORE_DIR = "/nix/store"


class StoreError(Exception):
    """A store operation failed; the message says which path and why."""


class InvalidPath(StoreError):
    """A path that is not valid in this store."""


@dataclass(frozen=True)
class PathInfo:
    """The metadata of a valid path.

    ``nar_hash`` is ``sha256:<nix32>`` (as narinfo files and ``nix path-info``
    show it); ``ca`` is a content address such as ``fixed:r:sha256:<nix32>``
    or ``text:sha256:<nix32>``; ``ultimate`` means built or added here
    (trusted without a signature).
    """

    path: str
    nar_hash: str
    nar_size: int
    references: frozenset[str] = frozenset()
    deriver: str | None = None
    registration_time: int = 0
    signatures: frozenset[str] = frozenset()
    ca: str | None = None
    ultimate: bool = False


@dataclass(frozen=True)
class GCResult:
    deleted: list[str] = field(default_factory=list)
    bytes_freed: int = 0


# a filter for adding a directory: (absolute source path, "regular" |
# "directory" | "symlink" | "unknown") -> keep?
PathFilter = Callable[[str, str], bool]


class Store(abc.ABC):
    """A Nix store.  Implementations: local (SQLite + files), later binary caches
    and remote machines."""

    store_dir: str = STORE_DIR

    # -- where things are -------------------------------------------------

    @abc.abstractmethod
    def real_path(self, path: str) -> str:
        """The filesystem location of a store path (or of a file inside one)."""

    # -- queries ------------------------------------------------------------

    @abc.abstractmethod
    def is_valid_path(self, path: str) -> bool: ...

    @abc.abstractmethod
    def query_path_info(self, path: str) -> PathInfo:
        """Raises :class:`InvalidPath` when the path is not valid."""

    @abc.abstractmethod
    def query_referrers(self, path: str) -> set[str]:
        """Valid paths that refer to ``path``."""

    @abc.abstractmethod
    def query_valid_derivers(self, path: str) -> set[str]:
        """Valid ``.drv`` paths that have ``path`` as an output."""

    @abc.abstractmethod
    def query_derivation_outputs(self, drv_path: str) -> dict[str, str]:
        """Output name -> output path, as registered for a valid ``.drv``."""

    @abc.abstractmethod
    def query_all_valid_paths(self) -> set[str]: ...

    def query_closure(self, paths: Iterable[str], *, include_outputs: bool = False) -> set[str]:
        """Every path reachable from ``paths`` by references (``-qR``); with
        ``include_outputs``, the outputs of derivations in the closure too."""
        seen: set[str] = set()
        todo = list(paths)
        while todo:
            p = todo.pop()
            if p in seen:
                continue
            seen.add(p)
            todo.extend(self.query_path_info(p).references - seen)
            if include_outputs and p.endswith(".drv"):
                for out in self.query_derivation_outputs(p).values():
                    if out not in seen and self.is_valid_path(out):
                        todo.append(out)
        return seen

    # -- reading ------------------------------------------------------------

    @abc.abstractmethod
    def nar_from_path(self, path: str) -> Iterator[bytes]:
        """The NAR serialisation of a valid path, in chunks."""

    def read_derivation(self, drv_path: str) -> Derivation:
        with open(self.real_path(drv_path), "rb") as fh:
            return Derivation.parse(fh.read())

    # -- adding -------------------------------------------------------------

    @abc.abstractmethod
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
        """Copy a file or tree into the store as a content-addressed path
        (``nix-store --add``/``--add-fixed``, path literals, ``builtins.path``).

        ``src`` is a real filesystem path; ``expected`` a digest that the
        content must have (else :class:`StoreError` naming both hashes).
        Returns the store path; adding an existing path is a no-op.
        """

    @abc.abstractmethod
    def add_text_to_store(self, name: str, text: bytes, references: Iterable[str] = ()) -> str:
        """A text file (``builtins.toFile``, ``.drv`` files) with its references."""

    def add_derivation(self, drv: Derivation, name: str) -> str:
        """Write a ``.drv`` file (references = its inputs); stores that keep
        derivation outputs (``DerivationOutputs``) record them too."""
        return self.add_text_to_store(name + ".drv", drv.to_bytes(), drv.references)

    @abc.abstractmethod
    def import_nar(self, info: PathInfo, nar: BinaryIO, *, check_sigs: bool = False) -> None:
        """Add a path from its NAR and metadata (substitution, ``--import``).

        The NAR hash and size are checked against ``info``; the references must
        already be valid.
        """

    @abc.abstractmethod
    def register_valid_paths(self, infos: list[PathInfo]) -> None:
        """Make paths whose contents are already in place valid, atomically.

        Used by builds after outputs are complete and canonicalised.  The paths
        may refer to each other; all their other references must be valid.
        """

    @abc.abstractmethod
    def add_signatures(self, path: str, sigs: Iterable[str]) -> None: ...

    # -- roots and garbage collection ---------------------------------------

    @abc.abstractmethod
    def add_temp_root(self, path: str) -> None:
        """Keep ``path`` alive (for the GC) until this store object is closed."""

    @abc.abstractmethod
    def add_indirect_root(self, link: str) -> None:
        """Register a symlink outside the store (``result``) as an indirect root."""

    @abc.abstractmethod
    def find_roots(self) -> dict[str, set[str]]:
        """Store path -> the roots (links, ``{temp:<pid>}``...) that keep it alive."""

    @abc.abstractmethod
    def collect_garbage(
        self,
        *,
        action: str = "delete-dead",
        paths: Iterable[str] | None = None,
        max_freed: int | None = None,
    ) -> GCResult:
        """``action``: ``delete-dead`` | ``return-dead`` | ``return-live`` |
        ``delete-specific`` (only ``paths``, refused if still alive/referenced)."""

    # -- maintenance ---------------------------------------------------------

    @abc.abstractmethod
    def verify(self, *, check_contents: bool = False, repair: bool = False) -> list[str]:
        """Check the store's consistency; returns the problems found (empty: all good)."""

    @abc.abstractmethod
    def optimise(self) -> tuple[int, int]:
        """Hard-link identical files; (files linked, bytes saved)."""

    def close(self) -> None:  # noqa: B027 - stores without resources need nothing
        """Release locks and temporary roots."""

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
