from __future__ import annotations

import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pynix.compat import nixbase32
from pynix.compat.nixbase32 import Nix32Error

from .vectors import load


@pytest.mark.parametrize(
    ("hex_bytes", "text"),
    [
        ("00" * 32, "0" * 52),
        ("ff" * 32, "1" + "z" * 51),
        ("01" + "00" * 31, "0" * 51 + "1"),
        ("00" * 31 + "01", "008" + "0" * 49),
        (
            hashlib.sha256(b"abc").hexdigest(),
            "1b8m03r63zqhnjf7l5wnldhh7c134ap5vpj0850ymkq1iyzicy5s",
        ),
    ],
)
def test_spec_examples(hex_bytes: str, text: str) -> None:
    assert nixbase32.encode(bytes.fromhex(hex_bytes)) == text
    assert nixbase32.decode(text) == bytes.fromhex(hex_bytes)


def byte_patterns() -> list[dict[str, str]]:
    patterns: list[dict[str, str]] = load("hashes.json")["bytePatterns"]
    return patterns


@pytest.mark.parametrize("vector", byte_patterns(), ids=lambda v: f"{v['algo']}-{v['pattern']}")
def test_byte_patterns_both_directions(vector: dict[str, str]) -> None:
    digest = bytes.fromhex(vector["base16"])
    assert nixbase32.encode(digest) == vector["nix32"]
    assert nixbase32.decode(vector["nix32"], len(digest)) == digest


@pytest.mark.parametrize(
    ("size", "length"), [(0, 0), (1, 2), (16, 26), (20, 32), (32, 52), (64, 103)]
)
def test_lengths(size: int, length: int) -> None:
    assert nixbase32.encoded_length(size) == length
    assert len(nixbase32.encode(bytes(size))) == length
    assert nixbase32.decoded_length(length) == size


def test_alphabet_lacks_e_o_u_t() -> None:
    assert len(nixbase32.ALPHABET) == 32
    assert not set("eout") & set(nixbase32.ALPHABET)


@given(st.binary(max_size=80))
def test_round_trip(data: bytes) -> None:
    text = nixbase32.encode(data)
    assert nixbase32.is_nix32(text)
    assert nixbase32.decode(text) == data
    assert nixbase32.decode(text, len(data)) == data


@pytest.mark.parametrize("bad", ["e", "o", "u", "t", "E", "A", " ", "_", "-", "+", "é"])
def test_decode_rejects_characters_outside_the_alphabet(bad: str) -> None:
    text = "0" * 51 + bad
    with pytest.raises(Nix32Error, match="invalid base-32 hash"):
        nixbase32.decode(text, 32)
    with pytest.raises(Nix32Error):
        nixbase32.decode(text)


def test_decode_rejects_whitespace_and_signs_that_int_would_accept() -> None:
    for text in (" " + "0" * 51, "+" + "0" * 51, "0" * 25 + "_" + "0" * 26):
        with pytest.raises(Nix32Error):
            nixbase32.decode(text)


def test_decode_rejects_overflowing_bits() -> None:
    # 52 characters hold 260 bits; a sha256 digest has 256, so the first
    # character can only be 0 or 1.
    assert nixbase32.decode("1" + "z" * 51, 32) == b"\xff" * 32
    for first in "23456789z":
        with pytest.raises(Nix32Error):
            nixbase32.decode(first + "z" * 51, 32)
    # md5: 26 characters hold 130 bits for 128, so the first one holds 3 bits.
    assert nixbase32.decode("7" + "z" * 25, 16) == b"\xff" * 16
    with pytest.raises(Nix32Error):
        nixbase32.decode("8" + "0" * 25, 16)


def test_decode_rejects_wrong_length_for_size() -> None:
    with pytest.raises(Nix32Error):
        nixbase32.decode("0" * 51, 32)
    with pytest.raises(Nix32Error):
        nixbase32.decode("0" * 53, 32)
    with pytest.raises(Nix32Error):
        nixbase32.decode("0")  # no byte count is encoded by one character


def test_empty() -> None:
    assert nixbase32.encode(b"") == ""
    assert nixbase32.decode("") == b""
