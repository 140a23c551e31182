"""Nix's base-32 text encoding ("nix32").

The digest is read as one little-endian integer (byte 0 least significant) and
printed most-significant 5-bit digit first, with an alphabet that leaves out
``e o u t`` (so that hashes never spell words).  This is neither RFC 4648
base32 nor "reverse the bytes, then base32".
"""

from __future__ import annotations

import re
from typing import Final

ALPHABET: Final = "0123456789abcdfghijklmnpqrsvwxyz"

# Python's int(text, 32) reads digits 0-9a-v most-significant first, which is
# exactly nix32's digit order once the alphabets are mapped onto each other.
_TO_PY32: Final = str.maketrans(ALPHABET, "0123456789abcdefghijklmnopqrstuv")
_VALID: Final = re.compile(f"[{ALPHABET}]*")


class Nix32Error(ValueError):
    """A string that is not valid nix32 for the requested size."""


def encoded_length(size: int) -> int:
    """Number of nix32 characters for ``size`` bytes."""
    return (size * 8 + 4) // 5


def decoded_length(length: int) -> int:
    """Number of bytes that ``length`` nix32 characters encode."""
    return length * 5 // 8


def encode(data: bytes) -> str:
    """Encode ``data`` as nix32."""
    value = int.from_bytes(data, "little")
    n = encoded_length(len(data))
    # the digits of `value` in base 32, most significant first
    digits = []
    for _ in range(n):
        digits.append(ALPHABET[value & 31])
        value >>= 5
    digits.reverse()
    return "".join(digits)


def is_nix32(text: str) -> bool:
    """True if every character of ``text`` is in the nix32 alphabet."""
    return _VALID.fullmatch(text) is not None


def decode(text: str, size: int | None = None) -> bytes:
    """Decode nix32 ``text`` into ``size`` bytes (default: as many as it holds).

    Rejects characters outside the alphabet, a length that does not match
    ``size``, and set bits that would land beyond the last byte.
    """
    if size is None:
        size = decoded_length(len(text))
    if len(text) != encoded_length(size):
        raise Nix32Error(f"invalid base-32 hash '{text}'")
    if not is_nix32(text):
        raise Nix32Error(f"invalid base-32 hash '{text}'")
    if not text:
        return b""
    value = int(text.translate(_TO_PY32), 32)
    if value >> (8 * size):
        raise Nix32Error(f"invalid base-32 hash '{text}'")
    return value.to_bytes(size, "little")
