"""Hash values and every printed form Nix reads and writes.

A :class:`Hash` is an algorithm plus a raw digest.  Nix prints hashes as
base16, nix32, base64, SRI (``sha256-<base64>``) or prefixed
(``sha256:<base16|nix32|base64>``); an un-prefixed string is classified by its
length alone, so parsing it needs the algorithm from context.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import re
from dataclasses import dataclass
from enum import Enum
from typing import Final, Literal, TypeGuard, get_args

from . import nixbase32

HashAlgo = Literal["md5", "sha1", "sha256", "sha512"]
BytesLike = bytes | bytearray | memoryview
FsPath = str | bytes | os.PathLike[str] | os.PathLike[bytes]

HASH_ALGOS: Final[tuple[HashAlgo, ...]] = get_args(HashAlgo)
HASH_SIZES: Final[dict[HashAlgo, int]] = {"md5": 16, "sha1": 20, "sha256": 32, "sha512": 64}

_READ_CHUNK: Final = 1 << 20
_BASE16: Final = re.compile("[0-9a-fA-F]*")
_BASE64: Final = re.compile("[A-Za-z0-9+/]*={0,2}")


class BadHash(ValueError):
    """A hash string that cannot be parsed; the message is worded as Nix's."""


class UnknownHashAlgorithm(BadHash):
    """A hash algorithm name other than md5, sha1, sha256, sha512."""


class HashFormat(Enum):
    """The ways Nix prints a digest."""

    BASE16 = "base16"
    NIX32 = "nix32"
    BASE64 = "base64"
    SRI = "sri"

    @classmethod
    def parse(cls, name: str) -> HashFormat:
        """Parse a format name as ``builtins.convertHash`` accepts it."""
        if name == "base32":  # Nix's historic name for nix32
            return cls.NIX32
        try:
            return cls(name)
        except ValueError:
            raise BadHash(f"unknown hash format '{name}'") from None


def is_hash_algo(name: str) -> TypeGuard[HashAlgo]:
    return name in HASH_SIZES


def parse_hash_algo(name: str) -> HashAlgo:
    """Check ``name`` is a hash algorithm Nix knows."""
    if not is_hash_algo(name):
        raise UnknownHashAlgorithm(f"unknown hash algorithm '{name}'")
    return name


def base16_length(algo: HashAlgo) -> int:
    return 2 * HASH_SIZES[algo]


def nix32_length(algo: HashAlgo) -> int:
    return nixbase32.encoded_length(HASH_SIZES[algo])


def base64_length(algo: HashAlgo) -> int:
    return (HASH_SIZES[algo] + 2) // 3 * 4


def _decode_base64(text: str) -> bytes | None:
    """Standard base64, padding optional (Nix's decoder stops at '=')."""
    if not _BASE64.fullmatch(text):
        return None
    body = text.rstrip("=")
    if len(body) % 4 == 1:
        return None
    try:
        return base64.b64decode(body + "=" * (-len(body) % 4), validate=True)
    except binascii.Error:
        return None


@dataclass(frozen=True, slots=True)
class Hash:
    """A digest together with the algorithm that produced it."""

    algo: HashAlgo
    digest: bytes

    def __post_init__(self) -> None:
        if not is_hash_algo(self.algo):
            raise UnknownHashAlgorithm(f"unknown hash algorithm '{self.algo}'")
        if len(self.digest) != HASH_SIZES[self.algo]:
            raise BadHash(
                f"digest of {len(self.digest)} bytes has wrong length for hash type '{self.algo}'"
            )

    # -- construction --------------------------------------------------------

    @classmethod
    def zero(cls, algo: HashAlgo) -> Hash:
        """The all-zero hash (what ``outputHash = ""`` stands for)."""
        return cls(algo, bytes(HASH_SIZES[algo]))

    @classmethod
    def parse(cls, text: str, algo: HashAlgo | str | None = None) -> Hash:
        """Parse any printed form: SRI, ``algo:rest`` or a bare hash.

        ``algo`` is the algorithm known from context (e.g. ``outputHashAlgo``);
        a bare hash needs it, and a prefixed one must agree with it.
        """
        expected = parse_hash_algo(algo) if algo is not None else None
        prefix, sep, rest = text.partition(":")
        is_sri = False
        if not sep:
            prefix, sep, rest = text.partition("-")
            is_sri = bool(sep)
        if not sep:
            if expected is None:
                raise BadHash(
                    f"hash '{text}' does not include a type, nor is the type otherwise known "
                    "from context"
                )
            return cls._decode(text, expected, False)
        found = parse_hash_algo(prefix)
        if expected is not None and found != expected:
            raise BadHash(f"hash '{text}' should have type '{expected}'")
        return cls._decode(rest, found, is_sri)

    @classmethod
    def parse_sri(cls, text: str) -> Hash:
        """Parse ``<algo>-<base64>`` and nothing else."""
        prefix, sep, rest = text.partition("-")
        if not sep:
            raise BadHash(f"hash '{text}' is not SRI")
        return cls._decode(rest, parse_hash_algo(prefix), True)

    @classmethod
    def parse_prefixed(cls, text: str) -> Hash:
        """Parse a hash that names its algorithm (``algo:rest`` or SRI)."""
        if ":" not in text and "-" not in text:
            raise BadHash(f"hash '{text}' does not include a type")
        return cls.parse(text)

    @classmethod
    def parse_unprefixed(cls, text: str, algo: HashAlgo | str) -> Hash:
        """Parse a bare base16/nix32/base64 hash of a known algorithm."""
        return cls._decode(text, parse_hash_algo(algo), False)

    @classmethod
    def _decode(cls, rest: str, algo: HashAlgo, is_sri: bool) -> Hash:
        size = HASH_SIZES[algo]
        if not is_sri and len(rest) == base16_length(algo):
            if not _BASE16.fullmatch(rest):
                raise BadHash(f"invalid base-16 hash '{rest}'")
            return cls(algo, bytes.fromhex(rest))
        if not is_sri and len(rest) == nix32_length(algo):
            try:
                return cls(algo, nixbase32.decode(rest, size))
            except nixbase32.Nix32Error as e:
                raise BadHash(str(e)) from None
        if is_sri or len(rest) == base64_length(algo):
            digest = _decode_base64(rest)
            if digest is None or len(digest) != size:
                kind = "SRI" if is_sri else "base-64"
                raise BadHash(f"invalid {kind} hash '{rest}'")
            return cls(algo, digest)
        raise BadHash(f"hash '{rest}' has wrong length for hash type '{algo}'")

    # -- printing ------------------------------------------------------------

    def to_base16(self) -> str:
        return self.digest.hex()

    def to_nix32(self) -> str:
        return nixbase32.encode(self.digest)

    def to_base64(self) -> str:
        return base64.b64encode(self.digest).decode("ascii")

    def to_sri(self) -> str:
        return f"{self.algo}-{self.to_base64()}"

    def format(self, fmt: HashFormat, *, include_algo: bool = False) -> str:
        """Print in ``fmt``; ``include_algo`` adds ``algo:`` (SRI always has it)."""
        if fmt is HashFormat.SRI:
            return self.to_sri()
        body = {
            HashFormat.BASE16: self.to_base16,
            HashFormat.NIX32: self.to_nix32,
            HashFormat.BASE64: self.to_base64,
        }[fmt]()
        return f"{self.algo}:{body}" if include_algo else body

    def to_prefixed(self, fmt: HashFormat = HashFormat.NIX32) -> str:
        """``algo:<fmt>``, e.g. ``sha256:1b8m...`` as narinfo files print it."""
        return self.format(fmt, include_algo=True)


def new_hasher(algo: HashAlgo | str) -> hashlib._Hash:
    """An incremental hashlib object for ``algo``."""
    return hashlib.new(parse_hash_algo(algo))


def hash_bytes(algo: HashAlgo | str, data: bytes | str) -> Hash:
    """Hash ``data`` (str is hashed as UTF-8), as ``builtins.hashString`` does."""
    if isinstance(data, str):
        data = data.encode("utf-8", "surrogateescape")
    chosen = parse_hash_algo(algo)
    return Hash(chosen, hashlib.new(chosen, data).digest())


def hash_file(algo: HashAlgo | str, path: FsPath) -> Hash:
    """Hash the bytes of a file ("flat" hash), streaming."""
    chosen = parse_hash_algo(algo)
    hasher = hashlib.new(chosen)
    with open(path, "rb") as f:
        while chunk := f.read(_READ_CHUNK):
            hasher.update(chunk)
    return Hash(chosen, hasher.digest())


def compress_hash(digest: bytes, size: int) -> bytes:
    """Fold ``digest`` into ``size`` bytes by XOR (used for store path hashes)."""
    # XOR the digest's size-byte slices together, as one big integer each
    acc = 0
    for i in range(0, len(digest), size):
        acc ^= int.from_bytes(digest[i : i + size].ljust(size, b"\0"), "little")
    return acc.to_bytes(size, "little")


class HashWriter:
    """A writable sink that hashes and counts what is written to it."""

    def __init__(self, algo: HashAlgo | str = "sha256") -> None:
        self.algo: HashAlgo = parse_hash_algo(algo)
        self._hasher = hashlib.new(self.algo)
        self.size = 0

    def write(self, data: BytesLike) -> int:
        view = memoryview(data)
        self._hasher.update(view)
        self.size += view.nbytes
        return view.nbytes

    def finish(self) -> Hash:
        return Hash(self.algo, self._hasher.digest())
