"""Store paths: their shape, their names, and how each kind is computed.

Every store path is ``<store dir>/<hash part>-<name>`` where the hash part is
nix32 of a 20-byte fold of ``sha256("<type>:sha256:<hex inner digest>:<store
dir>:<name>")``.  The kinds differ only in ``type`` and the inner digest.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from . import nixbase32
from .hashing import Hash, compress_hash

STORE_DIR: Final = "/nix/store"
HASH_PART_LEN: Final = 32
MAX_NAME_LEN: Final = 211
DRV_EXTENSION: Final = ".drv"

_NAME_CHARS: Final = frozenset(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+-._?="
)
_HASH_PART: Final = re.compile(f"[{nixbase32.ALPHABET}]{{{HASH_PART_LEN}}}")


class BadStorePath(ValueError):
    """A malformed store path or store path name (Nix's wording)."""


def _name_problem(name: str) -> str | None:
    """Why ``name`` is not a valid store path name, phrased to follow "has"/"contains"."""
    if not name:
        return "has an empty name"
    if len(name.encode("utf-8", "surrogateescape")) > MAX_NAME_LEN:
        return f"has a name longer than {MAX_NAME_LEN} characters"
    for c in name:
        if c not in _NAME_CHARS:
            return f"contains illegal character '{c}'"
    return None


def is_valid_name(name: str) -> bool:
    """Whether Nix 2.8 accepts ``name`` as the name part of a store path."""
    return _name_problem(name) is None


def check_name(name: str, hash_part: str = "") -> None:
    """Raise :class:`BadStorePath` if ``name`` is not a valid store path name.

    ``hash_part`` only makes the message name the whole path as Nix does.
    """
    problem = _name_problem(name)
    if problem is not None:
        shown = f"{hash_part}-{name}" if hash_part else name
        raise BadStorePath(f"store path '{shown}' {problem}")


@dataclass(frozen=True, slots=True, order=True)
class StorePath:
    """A store path without its store directory: hash part and name."""

    hash_part: str
    name: str

    def __post_init__(self) -> None:
        if not _HASH_PART.fullmatch(self.hash_part):
            raise BadStorePath(
                f"store path '{self.hash_part}-{self.name}' has an invalid hash part"
            )
        check_name(self.name, self.hash_part)

    @classmethod
    def from_base_name(cls, base_name: str) -> StorePath:
        """Parse ``<hash>-<name>``."""
        if len(base_name) < HASH_PART_LEN + 1:
            raise BadStorePath(f"'{base_name}' is too short to be a valid store path")
        if base_name[HASH_PART_LEN] != "-":
            raise BadStorePath(f"store path '{base_name}' lacks a '-' after its hash part")
        for c in base_name[:HASH_PART_LEN]:
            if c not in nixbase32.ALPHABET:
                raise BadStorePath(
                    f"store path '{base_name}' contains illegal base-32 character '{c}'"
                )
        return cls(base_name[:HASH_PART_LEN], base_name[HASH_PART_LEN + 1 :])

    @classmethod
    def parse(cls, path: str, store_dir: str = STORE_DIR) -> StorePath:
        """Parse a full path ``<store_dir>/<hash>-<name>``."""
        directory, _, base = path.rstrip("/").rpartition("/")
        if directory != store_dir:
            raise BadStorePath(f"path '{path}' is not in the Nix store")
        return cls.from_base_name(base)

    @property
    def base_name(self) -> str:
        return f"{self.hash_part}-{self.name}"

    @property
    def is_derivation(self) -> bool:
        return self.name.endswith(DRV_EXTENSION)

    def to_path(self, store_dir: str = STORE_DIR) -> str:
        return f"{store_dir}/{self.base_name}"

    def __str__(self) -> str:
        return self.base_name


def is_store_path(path: str, store_dir: str = STORE_DIR) -> bool:
    """Whether ``path`` is exactly a store path (not something inside one)."""
    try:
        StorePath.parse(path, store_dir)
    except BadStorePath:
        return False
    return True


def split_store_path(path: str, store_dir: str = STORE_DIR) -> tuple[StorePath, str]:
    """Split a path inside the store into its store path and the rest.

    ``/nix/store/<h>-foo/bin/sh`` gives ``(StorePath(<h>, "foo"), "/bin/sh")``.
    """
    prefix = store_dir + "/"
    if not path.startswith(prefix):
        raise BadStorePath(f"path '{path}' is not in the Nix store")
    base, slash, rest = path[len(prefix) :].partition("/")
    return StorePath.from_base_name(base), slash + rest


# -- computing paths ---------------------------------------------------------


def store_path_fingerprint(
    type_: str, inner_digest: bytes, name: str, store_dir: str = STORE_DIR
) -> str:
    """The string whose sha256 gives a store path's hash part."""
    return f"{type_}:sha256:{inner_digest.hex()}:{store_dir}:{name}"


def make_store_path(type_: str, inner_digest: bytes, name: str, store_dir: str = STORE_DIR) -> str:
    """The generic rule every kind of store path reduces to."""
    fingerprint = store_path_fingerprint(type_, inner_digest, name, store_dir)
    folded = compress_hash(hashlib.sha256(fingerprint.encode()).digest(), 20)
    hash_part = nixbase32.encode(folded)
    check_name(name, hash_part)
    return f"{store_dir}/{hash_part}-{name}"


def _type_with_references(
    kind: str, references: Iterable[str], self_reference: bool = False
) -> str:
    parts = [kind, *sorted(set(references))]
    if self_reference:
        parts.append("self")
    return ":".join(parts)


def make_text_path(
    name: str,
    contents_sha256: bytes,
    references: Iterable[str] = (),
    store_dir: str = STORE_DIR,
) -> str:
    """Path of a text file (``builtins.toFile``, ``.drv``) given sha256(contents).

    ``references`` are full store paths; a text path cannot refer to itself.
    """
    return make_store_path(
        _type_with_references("text", references), contents_sha256, name, store_dir
    )


def make_text_path_for(
    name: str, contents: bytes | str, references: Iterable[str] = (), store_dir: str = STORE_DIR
) -> str:
    """Like :func:`make_text_path` but hashes ``contents`` (str as UTF-8)."""
    if isinstance(contents, str):
        contents = contents.encode("utf-8", "surrogateescape")
    return make_text_path(name, hashlib.sha256(contents).digest(), references, store_dir)


def make_source_path(
    name: str,
    nar_sha256: bytes,
    references: Iterable[str] = (),
    self_reference: bool = False,
    store_dir: str = STORE_DIR,
) -> str:
    """Path of a tree added recursively with sha256 (``nix-store --add``)."""
    return make_store_path(
        _type_with_references("source", references, self_reference),
        nar_sha256,
        name,
        store_dir,
    )


def fixed_output_inner(hash_: Hash, recursive: bool) -> str:
    """``fixed:out:[r:]<algo>:<hex>:`` (note the trailing colon)."""
    method = "r:" if recursive else ""
    return f"fixed:out:{method}{hash_.algo}:{hash_.to_base16()}:"


def make_fixed_output_path(
    name: str,
    hash_: Hash,
    recursive: bool,
    references: Iterable[str] = (),
    self_reference: bool = False,
    store_dir: str = STORE_DIR,
) -> str:
    """Path of content with a known hash (``--add-fixed``, fixed-output drvs).

    Recursive sha256 is the "source" case; only it may have references.
    """
    if recursive and hash_.algo == "sha256":
        return make_source_path(name, hash_.digest, references, self_reference, store_dir)
    if self_reference or any(True for _ in references):
        raise BadStorePath(
            f"fixed-output path '{name}' cannot have references unless it is recursive sha256"
        )
    inner = hashlib.sha256(fixed_output_inner(hash_, recursive).encode()).digest()
    return make_store_path("output:out", inner, name, store_dir)


def output_path_name(drv_name: str, output_name: str) -> str:
    """``out`` keeps the derivation's name; other outputs append ``-<output>``."""
    return drv_name if output_name == "out" else f"{drv_name}-{output_name}"


def make_output_path(
    output_name: str, hash_modulo: bytes, drv_name: str, store_dir: str = STORE_DIR
) -> str:
    """Path of an input-addressed derivation output from its hashModulo."""
    return make_store_path(
        f"output:{output_name}",
        hash_modulo,
        output_path_name(drv_name, output_name),
        store_dir,
    )
