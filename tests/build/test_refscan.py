"""Reference scanning (spec 7.1) and canonicalisation (7.2), without builds."""

from __future__ import annotations

import hashlib
import os
import random
import stat

import pytest

from pynix.build.canonicalise import CanonicaliseError, canonicalise_tree, remove_tree
from pynix.build.refscan import ReferenceScanner, scan_references
from pynix.compat import nixbase32
from pynix.compat.nar import iter_nar, nar_hash


def _hash_part(seed: str) -> str:
    return nixbase32.encode(hashlib.sha256(seed.encode()).digest()[:20])


HASHES = [_hash_part(str(i)) for i in range(6)]


def _scan(data: bytes, chunk: int, candidates: list[str]) -> set[str]:
    scanner = ReferenceScanner(candidates)
    for i in range(0, len(data), chunk):
        scanner.feed(data[i : i + chunk])
    return scanner.found


@pytest.mark.parametrize("chunk", [1, 7, 31, 32, 33, 100, 4096])
def test_matches_across_chunk_boundaries(chunk: int) -> None:
    data = (
        b"\0\x01binary" + HASHES[0].encode() + b"-name\n"
        + b"x" * 50 + HASHES[1].encode()  # preceded by nix32-ish letters? 'x' is nix32
        + b"/" + HASHES[2].encode()[:31] + b"!"  # truncated: no match
    )  # fmt: skip
    assert _scan(data, chunk, HASHES) == {HASHES[0], HASHES[1]}


def test_only_candidates_count() -> None:
    data = (HASHES[0] + HASHES[3]).encode()
    assert _scan(data, 10, [HASHES[3], HASHES[4]]) == {HASHES[3]}
    assert _scan(data, 10, []) == set()


def test_long_runs_of_nix32_characters() -> None:
    filler = b"a" * 100_000
    data = filler + HASHES[5].encode() + filler
    assert _scan(data, 65536, HASHES) == {HASHES[5]}
    assert _scan(data, 65536, HASHES[:5]) == set()
    many = [_hash_part(f"m{i}") for i in range(400)]
    assert _scan(filler + many[123].encode() + filler, 65536, many) == {many[123]}


def test_random_positions_agree_with_naive_search() -> None:
    rng = random.Random(7)
    for _ in range(30):
        parts = [rng.randbytes(rng.randrange(0, 200)) for _ in range(4)]
        chosen = rng.sample(HASHES, 2)
        data = parts[0] + chosen[0].encode() + parts[1] + chosen[1].encode() + parts[2]
        expected = {h for h in HASHES if h.encode() in data}
        assert _scan(data, rng.randrange(1, 64), HASHES) == expected


def test_scan_references_on_a_tree(tmp_path: object) -> None:
    root = os.path.join(str(tmp_path), "out")
    os.makedirs(os.path.join(root, "sub"))
    store = "/nix/store/"
    a, b, c, d = (f"{store}{h}-x" for h in HASHES[:4])
    with open(os.path.join(root, "sub", "file"), "w") as fh:
        fh.write(f"uses {a}/bin/thing")
    os.symlink(b, os.path.join(root, "link"))
    with open(os.path.join(root, HASHES[2] + "-named"), "w") as fh:
        fh.write("name only")
    refs, narhash, size = scan_references(root, [a, b, c, d])
    assert refs == {a, b, c}
    assert narhash == nar_hash(root)
    assert size == sum(len(x) for x in iter_nar(root))


def test_canonicalise_tree(tmp_path: object) -> None:
    root = os.path.join(str(tmp_path), "out")
    os.makedirs(os.path.join(root, "d"))
    exe = os.path.join(root, "d", "exe")
    plain = os.path.join(root, "plain")
    for f in (exe, plain):
        with open(f, "w") as fh:
            fh.write("x")
    os.chmod(exe, 0o6755)
    os.chmod(plain, 0o600)
    os.chmod(os.path.join(root, "d"), 0o1700)
    os.symlink("plain", os.path.join(root, "link"))
    canonicalise_tree(root)
    assert stat.S_IMODE(os.lstat(exe).st_mode) == 0o555
    assert stat.S_IMODE(os.lstat(plain).st_mode) == 0o444
    assert stat.S_IMODE(os.lstat(os.path.join(root, "d")).st_mode) == 0o555
    assert stat.S_IMODE(os.lstat(root).st_mode) == 0o555
    for p in (exe, plain, root, os.path.join(root, "link")):
        assert os.lstat(p).st_mtime == 1
    remove_tree(root)
    assert not os.path.lexists(root)


def test_canonicalise_rejects_special_files(tmp_path: object) -> None:
    root = os.path.join(str(tmp_path), "out")
    os.makedirs(root)
    os.mkfifo(os.path.join(root, "fifo"))
    with pytest.raises(CanonicaliseError, match="unsupported type"):
        canonicalise_tree(root)


@pytest.mark.parametrize("chunk", [5000, 1 << 20])
def test_many_runs_few_candidates(chunk: int) -> None:
    others = b"/".join(_hash_part(f"o{i}").encode() for i in range(2000))
    data = others + b"/" + HASHES[0].encode() + b"/" + others + b"/" + HASHES[1].encode()
    assert _scan(data, chunk, [HASHES[0], HASHES[1], HASHES[2]]) == {HASHES[0], HASHES[1]}
