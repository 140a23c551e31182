"""What the evaluator needs from a store.

`pynix.lang` never imports `pynix.store`: the evaluator talks to a store
through this protocol, and the command line passes in a real store (or a
store that only computes paths, as ``nix-instantiate --eval`` does).

Every string crossing this protocol is a Nix string (one character per byte,
see :mod:`.values`): file system paths, store paths, names and file contents.
Errors are :class:`~.errors.NixError` worded as Nix words them.
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
from collections.abc import Callable
from typing import Final, Protocol

from ..compat import nixbase32
from ..compat.hashing import Hash, compress_hash, hash_file
from ..compat.nar import NarError, nar_hash
from ..compat.storepath import (
    MAX_NAME_LEN,
    STORE_DIR,
    BadStorePath,
    fixed_output_inner,
    make_fixed_output_path,
    make_text_path_for,
    split_store_path,
)
from .errors import EvalError
from .values import from_bytes, to_bytes, to_text

# A source filter: called with the absolute path of every entry below the
# root (a Nix string) and its type ("regular", "directory", "symlink" or
# "unknown"); False leaves the entry and everything under it out.
PathFilter = Callable[[str, str], bool]


class EvalStore(Protocol):
    store_dir: str

    def add_path(
        self,
        path: str,
        *,
        name: str | None,
        filter: PathFilter | None,
        recursive: bool,
        expected_sha256: bytes | None = None,
    ) -> str:
        """Copy a file or directory into the store; its store path.

        ``name=None`` means a path value coerced to a string (``"${./foo}"``):
        the name is the base name, ``.drv`` files are refused, and the result
        may be cached per path.  ``recursive`` ingests the tree as a NAR
        (source path), otherwise the file's bytes (flat fixed-output path).
        With ``expected_sha256`` the resulting path must be the one that hash
        gives; a store that already has that path may return it unchecked.
        """
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

    def is_valid_path(self, path: str) -> bool:
        """Whether the store knows the store path ``path``."""
        ...

    def read_text(self, path: str) -> str:
        """The contents of the store file ``path`` (used for ``.drv`` files)."""
        ...

    def ensure_path(self, path: str) -> None:
        """Make a store path valid (``builtins.storePath``), e.g. by substituting it."""
        ...

    def add_fetched(self, path: str, *, name: str, recursive: bool, sha256: bytes) -> str:
        """Add what a fetcher downloaded, unpacked or exported; its store path.

        ``path`` is a file (``recursive=False``: ``fetchurl``) or a tree
        (``fetchTarball``, ``fetchGit``) in a temporary directory of the
        fetcher's.  ``sha256`` is the digest the fetcher computed of the
        file's bytes or of the tree's NAR (and already checked against any
        hash the user gave), so the result is the fixed-output path of that
        digest and ``name``; a store may check it again.  The store may move
        ``path`` into place rather than copy it: the fetcher deletes whatever
        is left afterwards and never uses ``path`` again.

        Nix 2.8 writes fetched paths even when it only evaluates
        (``nix-instantiate --eval``); a store that only computes paths
        computes the path and keeps nothing.
        """
        ...

    def real_path(self, path: str) -> str:
        """Where the file ``path`` can be read: a path inside the store maps to
        its physical location (``<root>/nix/store/...`` for a chroot store);
        any other path is returned as it is."""
        ...


def not_valid(path: str) -> EvalError:
    return EvalError(f"path '{to_text(path)}' is not valid")


def context_path(element: str) -> str:
    """The store path a context element (``P``, ``=P`` or ``!out!P``) is about."""
    if element.startswith("="):
        return element[1:]
    if element.startswith("!"):
        return element.split("!", 2)[2]
    return element


class NullStore:
    """A store that refuses everything: evaluation without a store."""

    store_dir = STORE_DIR

    def add_path(
        self,
        path: str,
        *,
        name: str | None,
        filter: PathFilter | None,
        recursive: bool,
        expected_sha256: bytes | None = None,
    ) -> str:
        raise EvalError(f"cannot copy '{to_text(path)}' to the store: no store is available")

    def add_text(self, name: str, text: str, references: set[str]) -> str:
        raise EvalError(f"cannot add '{to_text(name)}' to the store: no store is available")

    def realise_context(self, context: set[str]) -> None:
        raise EvalError("cannot build derivations: no store is available")

    def references_of(self, path: str) -> set[str]:
        return set()

    def is_valid_path(self, path: str) -> bool:
        return False

    def read_text(self, path: str) -> str:
        raise not_valid(path)

    def ensure_path(self, path: str) -> None:
        raise not_valid(path)

    def add_fetched(self, path: str, *, name: str, recursive: bool, sha256: bytes) -> str:
        raise EvalError(f"cannot add '{to_text(name)}' to the store: no store is available")

    def real_path(self, path: str) -> str:
        return path


# -- conversions between Nix strings and compat's str -------------------------
#
# pynix.compat uses ordinary Unicode text with non-UTF-8 bytes as surrogate
# escapes; the language keeps one character per byte.


def to_compat(s: str) -> str:
    if s.isascii():
        return s
    return s.encode("latin-1").decode("utf-8", "surrogateescape")


def from_compat(s: str) -> str:
    if s.isascii():
        return s
    return s.encode("utf-8", "surrogateescape").decode("latin-1")


_VALID_NAME: Final = re.compile(rf"[A-Za-z0-9+\-._?=]{{1,{MAX_NAME_LEN}}}")
_BAD_NAME_CHAR: Final = re.compile(r"[^A-Za-z0-9+\-._?=]")


def check_store_name(
    name: str, kind: Callable[[], tuple[str, bytes]], store_dir: str
) -> None:
    """Raise Nix's error if ``name`` (a Nix string) cannot be a store path name.

    ``kind()`` gives the type and inner digest of the path being made (see
    :func:`pynix.compat.storepath.make_store_path`): Nix's message shows the
    hash part it computed from the name's raw bytes.
    """
    if _VALID_NAME.fullmatch(name):
        return
    if not name:
        problem = "has an empty name"
    elif len(name) > MAX_NAME_LEN:
        problem = f"has a name longer than {MAX_NAME_LEN} characters"
    else:
        bad = _BAD_NAME_CHAR.search(name)
        assert bad is not None
        problem = f"contains illegal character '{to_text(bad.group())}'"
    type_, inner_digest = kind()
    fingerprint = f"{type_}:sha256:{inner_digest.hex()}:{store_dir}:".encode() + to_bytes(name)
    hash_part = nixbase32.encode(compress_hash(hashlib.sha256(fingerprint).digest(), 20))
    raise EvalError(f"store path '{hash_part}-{to_text(name)}' {problem}")


def fixed_path_kind(digest: Hash, recursive: bool) -> tuple[str, bytes]:
    """(type, inner digest) of a content-addressed path (for :func:`check_store_name`)."""
    if recursive and digest.algo == "sha256":
        return "source", digest.digest
    inner = fixed_output_inner(digest, recursive).encode()
    return "output:out", hashlib.sha256(inner).digest()


def text_path_kind(contents: bytes, references: set[str]) -> tuple[str, bytes]:
    return ":".join(["text", *sorted(references)]), hashlib.sha256(contents).digest()


def base_name(path: str) -> str:
    """Nix's baseNameOf: the last component, ignoring one trailing slash."""
    end = len(path) - 1 if len(path) > 1 and path.endswith("/") else len(path)
    return path[path.rfind("/", 0, end) + 1 : end]


def file_type(mode: int) -> str:
    if stat.S_ISREG(mode):
        return "regular"
    if stat.S_ISDIR(mode):
        return "directory"
    if stat.S_ISLNK(mode):
        return "symlink"
    return "unknown"


def os_error(e: OSError, path: str, doing: str) -> EvalError:
    return EvalError(f"{doing} '{to_text(path)}': {e.strerror}")


class ComputingStore:
    """A store that computes every path and writes nothing.

    This is what ``nix-instantiate --eval`` does (Nix's read-only mode):
    path literals, ``builtins.path`` and ``filterSource`` are NAR-hashed in
    place, ``toFile`` and ``.drv`` texts are hashed and kept in memory so that
    their references and closures can be queried, but nothing can be read
    back or built.  Paths that really exist under ``store_dir`` (a Nix store
    on this machine) count as valid.

    ``check_derivations`` makes it parse every text named ``*.drv`` before
    accepting it, as a writing store does (``toFile "x.drv" "junk"`` fails).
    ``keep_derivations`` keeps the ``.drv`` texts too (for inspection); by
    default only their references are kept, since the evaluator keeps what it
    needs of the derivations it wrote.
    """

    def __init__(self, store_dir: str = STORE_DIR, *, check_derivations: bool = False,
                 keep_derivations: bool = False) -> None:
        self.store_dir = store_dir
        self.check_derivations = check_derivations
        self.keep_derivations = keep_derivations
        # store path -> (contents, references) of every text "added"
        # (.drv texts are not kept: the evaluator keeps the parsed derivations)
        self.texts: dict[str, tuple[str | None, frozenset[str]]] = {}
        self._copied: dict[str, str] = {}

    # -- adding ----------------------------------------------------------------

    def add_path(
        self,
        path: str,
        *,
        name: str | None,
        filter: PathFilter | None,
        recursive: bool,
        expected_sha256: bytes | None = None,
    ) -> str:
        literal = name is None
        if literal:
            if path.endswith(".drv"):
                raise EvalError("file names are not allowed to end in '.drv'")
            cached = self._copied.get(path)
            if cached is not None:
                return cached
            name = base_name(path)
        assert name is not None
        expected_path = None
        if expected_sha256 is not None:
            expected_path = self._fixed_path(name, Hash("sha256", expected_sha256), recursive)
        digest = self._hash(path, filter, recursive)
        result = self._fixed_path(name, digest, recursive)
        if expected_path is not None and expected_path != result:
            raise EvalError(
                "store path mismatch in (possibly filtered) path added from "
                f"'{to_text(path)}'"
            )
        if literal:
            self._copied[path] = result
        return result

    def _fixed_path(self, name: str, digest: Hash, recursive: bool) -> str:
        check_store_name(name, lambda: fixed_path_kind(digest, recursive), self.store_dir)
        return make_fixed_output_path(to_compat(name), digest, recursive,
                                      store_dir=self.store_dir)

    def _hash(self, path: str, filter: PathFilter | None, recursive: bool) -> Hash:
        fs_path = to_bytes(path)
        if not recursive:
            try:
                return hash_file("sha256", fs_path)
            except IsADirectoryError:
                raise EvalError("reading from file: Is a directory") from None
            except OSError as e:
                raise os_error(e, path, "opening file") from None
        path_filter = None
        if filter is not None:
            nix_filter = filter

            def path_filter(entry: str) -> bool:
                raw = os.fsencode(entry)
                try:
                    mode = os.lstat(raw).st_mode
                except OSError as e:
                    raise os_error(e, from_bytes(raw), "getting status of") from None
                return nix_filter(from_bytes(raw), file_type(mode))

        try:
            return nar_hash(fs_path, "sha256", path_filter)
        except NarError as e:
            raise EvalError(str(e).encode("utf-8", "surrogateescape").decode("utf-8", "replace"))\
                from None
        except OSError as e:
            where = from_bytes(os.fsencode(e.filename)) if e.filename is not None else path
            raise os_error(e, where, "getting status of") from None

    def add_text(self, name: str, text: str, references: set[str]) -> str:
        contents = to_bytes(text)
        check_store_name(name, lambda: text_path_kind(contents, references), self.store_dir)
        path = make_text_path_for(to_compat(name), contents, references,
                                  store_dir=self.store_dir)
        if self.check_derivations and name.endswith(".drv"):
            check_derivation_text(path, text)
        keep = self.keep_derivations or not name.endswith(".drv")
        self.texts[path] = (text if keep else None, frozenset(references))
        return path

    def add_fetched(self, path: str, *, name: str, recursive: bool, sha256: bytes) -> str:
        # the fetcher has just hashed it: nothing to read again
        return self._fixed_path(name, Hash("sha256", sha256), recursive)

    # -- querying --------------------------------------------------------------

    def _store_path_of(self, path: str) -> str | None:
        try:
            sp, _ = split_store_path(path, self.store_dir)
        except BadStorePath:
            return None
        return f"{self.store_dir}/{sp.base_name}"

    def is_valid_path(self, path: str) -> bool:
        return path in self.texts or os.path.lexists(to_bytes(path))

    def references_of(self, path: str) -> set[str]:
        sp = self._store_path_of(path)
        if sp is None:
            return set()
        known = self.texts.get(sp)
        return set(known[1]) if known is not None else set()

    def read_text(self, path: str) -> str:
        known = self.texts.get(path)
        if known is not None:
            if known[0] is None:
                raise not_valid(path)
            return known[0]
        try:
            with open(to_bytes(path), "rb") as fh:
                return from_bytes(fh.read())
        except OSError:
            raise not_valid(path) from None

    def realise_context(self, context: set[str]) -> None:
        # Only what is really on disk can be read or imported; a read-only
        # evaluation never builds.  As in Nix, every path must be valid before
        # any output is looked at.
        for element in sorted(context):
            path = context_path(element)
            if not os.path.lexists(to_bytes(path)):
                raise not_valid(path)
        for element in sorted(context):
            if not element.startswith("!"):
                continue
            _, output, drv_path = element.split("!", 2)
            out_path = self._output_path(drv_path, output)
            if out_path is None:
                raise EvalError(
                    f"cannot build '{to_text(drv_path)}^{to_text(output)}': "
                    "this evaluation only computes store paths"
                )
            if not os.path.lexists(to_bytes(out_path)):
                # what Nix 2.8 says when it may not write to the store
                raise EvalError(
                    f"cannot substitute path '{to_text(out_path)}' - "
                    "no write access to the Nix store"
                )

    def _output_path(self, drv_path: str, output: str) -> str | None:
        """The path of output ``output`` of the derivation file ``drv_path`` (on disk)."""
        from ..compat.derivation import Derivation, DerivationError

        try:
            with open(to_bytes(drv_path), "rb") as fh:
                drv = Derivation.parse(fh.read())
        except (OSError, DerivationError):
            return None
        out = drv.outputs.get(to_compat(output))
        return from_compat(out.path) if out is not None and out.path else None

    def ensure_path(self, path: str) -> None:
        # read-only mode: storePath does not check validity
        return None

    def real_path(self, path: str) -> str:
        # the store directory is where it says it is
        return path


_DRV_ERROR: Final = re.compile(r"^error parsing derivation at offset \d+: ")


def check_derivation_text(path: str, text: str) -> None:
    """Raise Nix's error if a text stored as ``path`` is not a derivation."""
    from ..compat.derivation import Derivation, DerivationError

    try:
        Derivation.parse(to_bytes(text))
    except DerivationError as e:
        what = _DRV_ERROR.sub("", str(e))
        raise EvalError(f"error parsing derivation '{to_text(path)}': error: {what}") from None

