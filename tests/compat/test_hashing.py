from __future__ import annotations

import base64
import hashlib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pynix.compat.hashing import (
    HASH_ALGOS,
    BadHash,
    Hash,
    HashFormat,
    HashWriter,
    UnknownHashAlgorithm,
    compress_hash,
    hash_bytes,
    hash_file,
    parse_hash_algo,
)

from .vectors import load


def hash_vectors() -> list[dict[str, Any]]:
    vectors: list[dict[str, Any]] = load("hashes.json")["hashes"]
    return vectors


def vector_id(v: dict[str, Any]) -> str:
    return f"{v['algo']}-{v.get('input_utf8', v['input_b64'])[:20]!r}"


@pytest.mark.parametrize("v", hash_vectors(), ids=vector_id)
def test_hash_bytes_prints_every_encoding(v: dict[str, Any]) -> None:
    h = hash_bytes(v["algo"], base64.b64decode(v["input_b64"]))
    assert h.algo == v["algo"]
    assert h.to_base16() == v["base16"]
    assert h.to_nix32() == v["nix32"]
    assert h.to_base64() == v["base64"]
    assert h.to_sri() == v["sri"]
    assert h.format(HashFormat.BASE16) == v["base16"]
    assert h.format(HashFormat.NIX32, include_algo=True) == f"{v['algo']}:{v['nix32']}"
    assert h.format(HashFormat.SRI) == v["sri"]
    assert h.to_prefixed() == f"{v['algo']}:{v['nix32']}"
    assert h.to_prefixed(HashFormat.BASE16) == f"{v['algo']}:{v['base16']}"


@pytest.mark.parametrize("v", hash_vectors(), ids=vector_id)
def test_parse_every_printed_form(v: dict[str, Any]) -> None:
    expected = Hash(v["algo"], bytes.fromhex(v["base16"]))
    algo = v["algo"]
    forms = [v["base16"], v["base16"].upper(), v["nix32"], v["base64"]]
    for form in forms:
        assert Hash.parse(form, algo) == expected
        assert Hash.parse(f"{algo}:{form}") == expected
        assert Hash.parse(f"{algo}:{form}", algo) == expected
        assert Hash.parse_unprefixed(form, algo) == expected
        assert Hash.parse_prefixed(f"{algo}:{form}") == expected
    assert Hash.parse(v["sri"]) == expected
    assert Hash.parse(v["sri"], algo) == expected
    assert Hash.parse_sri(v["sri"]) == expected
    assert Hash.parse_prefixed(v["sri"]) == expected


def test_input_utf8_matches_input_bytes() -> None:
    for v in hash_vectors():
        if "input_utf8" in v:
            assert hash_bytes(v["algo"], v["input_utf8"]) == hash_bytes(
                v["algo"], base64.b64decode(v["input_b64"])
            )


@pytest.mark.parametrize("v", load("hashes.json")["bytePatterns"], ids=lambda v: v["pattern"])
def test_byte_patterns(v: dict[str, str]) -> None:
    h = Hash(v["algo"], bytes.fromhex(v["base16"]))  # type: ignore[arg-type]
    assert h.to_nix32() == v["nix32"]
    assert h.to_sri() == v["sri"]
    assert Hash.parse(v["nix32"], v["algo"]) == h
    assert Hash.parse(v["sri"]) == h


def test_sri_without_padding_is_accepted() -> None:
    h = hash_bytes("sha256", b"abc")
    assert Hash.parse(h.to_sri().rstrip("=")) == h


def test_hash_string_vectors_from_eval() -> None:
    assert (
        hash_bytes("sha256", "abc").to_base16()
        == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    )
    assert hash_bytes("md5", "abc").to_base16() == "900150983cd24fb0d6963f7d28e17f72"


SHA256_ABC = hashlib.sha256(b"abc")


@pytest.mark.parametrize(
    ("text", "algo", "message"),
    [
        ("sha256-AAAA", None, "invalid SRI hash 'AAAA'"),
        ("sha256-" + "!" * 44, None, "invalid SRI hash '" + "!" * 44 + "'"),
        ("md5-" + base64.b64encode(bytes(32)).decode(), None, "invalid SRI hash"),
        ("abc", "sha256", "hash 'abc' has wrong length for hash type 'sha256'"),
        ("sha256:abc", None, "hash 'abc' has wrong length for hash type 'sha256'"),
        ("sha1:" + SHA256_ABC.hexdigest(), None, "has wrong length for hash type 'sha1'"),
        ("sha3:" + SHA256_ABC.hexdigest(), None, "unknown hash algorithm 'sha3'"),
        ("foo-AAAA", None, "unknown hash algorithm 'foo'"),
        (SHA256_ABC.hexdigest(), None, "does not include a type"),
        ("sha1:" + hashlib.sha1(b"").hexdigest(), "sha256", "should have type 'sha256'"),
        ("g" * 64, "sha256", "invalid base-16 hash '" + "g" * 64 + "'"),
        (" " + "0" * 63, "sha256", "invalid base-16 hash"),
        ("e" * 52, "sha256", "invalid base-32 hash"),
        ("2" + "0" * 51, "sha256", "invalid base-32 hash"),
        ("*" * 44, "sha256", "invalid base-64 hash"),
        ("A" * 44, "sha256", "invalid base-64 hash"),  # decodes to 33 bytes
        ("", "sha256", "hash '' has wrong length for hash type 'sha256'"),
    ],
)
def test_bad_hashes_have_nix_like_messages(text: str, algo: str | None, message: str) -> None:
    with pytest.raises(BadHash) as info:
        Hash.parse(text, algo)
    assert message in str(info.value)
    assert isinstance(info.value, ValueError)


def test_unknown_algorithm() -> None:
    with pytest.raises(UnknownHashAlgorithm, match="unknown hash algorithm 'sha384'"):
        parse_hash_algo("sha384")
    with pytest.raises(UnknownHashAlgorithm):
        hash_bytes("blake3", b"")
    with pytest.raises(UnknownHashAlgorithm):
        Hash.parse("00", "crc32")


def test_strict_entry_points() -> None:
    h = hash_bytes("sha256", b"abc")
    with pytest.raises(BadHash):
        Hash.parse_sri(h.to_prefixed())
    with pytest.raises(BadHash, match="does not include a type"):
        Hash.parse_prefixed(h.to_nix32())
    with pytest.raises(BadHash):
        Hash.parse_unprefixed(h.to_sri(), "sha256")


def test_digest_size_is_checked() -> None:
    with pytest.raises(BadHash):
        Hash("sha256", bytes(31))
    with pytest.raises(UnknownHashAlgorithm):
        Hash("sha3", bytes(32))  # type: ignore[arg-type]


def test_zero_hash() -> None:
    assert Hash.zero("sha256").to_base16() == "0" * 64
    assert Hash.zero("md5").digest == bytes(16)


@pytest.mark.parametrize(
    ("name", "fmt"),
    [
        ("base16", HashFormat.BASE16),
        ("nix32", HashFormat.NIX32),
        ("base32", HashFormat.NIX32),
        ("base64", HashFormat.BASE64),
        ("sri", HashFormat.SRI),
    ],
)
def test_hash_format_names(name: str, fmt: HashFormat) -> None:
    assert HashFormat.parse(name) is fmt


def test_unknown_hash_format() -> None:
    with pytest.raises(BadHash, match="unknown hash format 'hex'"):
        HashFormat.parse("hex")


@given(st.sampled_from(HASH_ALGOS), st.binary(max_size=200), st.sampled_from(list(HashFormat)))
def test_format_parse_round_trip(algo: str, data: bytes, fmt: HashFormat) -> None:
    h = hash_bytes(algo, data)
    assert Hash.parse(h.format(fmt, include_algo=True)) == h
    if fmt is not HashFormat.SRI:
        assert Hash.parse(h.format(fmt), algo) == h


def test_hash_file_matches_flat_hashes(fixtures_dir: Path) -> None:
    checked = 0
    for v in load("nar.json")["vectors"]:
        if "flatHash" not in v:
            continue
        path = fixtures_dir / v["fixture"]
        flat = v["flatHash"]
        assert hash_file("sha256", path).to_nix32() == flat["sha256_nix32"]
        assert hash_file("sha256", path).to_base16() == flat["sha256_base16"]
        assert hash_file("sha1", path).to_base16() == flat["sha1_base16"]
        assert hash_file("sha512", path).to_nix32() == flat["sha512_nix32"]
        checked += 1
    assert checked == 8


def test_hash_writer_counts_and_hashes() -> None:
    writer = HashWriter("sha1")
    writer.write(b"ab")
    writer.write(memoryview(b"c"))
    assert writer.size == 3
    assert writer.finish() == hash_bytes("sha1", b"abc")


def test_compress_hash_against_store_path_fingerprints() -> None:
    from pynix.compat import nixbase32

    checked = 0
    for v in load("store-paths.json")["fingerprints"]:
        if "sha256_of_fingerprint" not in v:
            continue
        digest = hashlib.sha256(v["fingerprint"].encode()).digest()
        assert digest.hex() == v["sha256_of_fingerprint"]
        assert nixbase32.encode(compress_hash(digest, 20)) == v["compressed160_nix32"]
        checked += 1
    assert checked > 10


def test_compress_hash_folds_by_xor() -> None:
    assert compress_hash(bytes([1, 2, 3, 4]), 2) == bytes([1 ^ 3, 2 ^ 4])
    assert compress_hash(b"\xff" * 40, 20) == bytes(20)
