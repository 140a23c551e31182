"""``stream_nar``: the NAR read ahead by a thread into recycled buffers gives
exactly the bytes of ``iter_nar``, raises the reader's errors in the
consumer, and its thread ends when the consumer stops early."""

from __future__ import annotations

import hashlib
import os
import random
import threading
import time
from pathlib import Path

import pytest

from pynix.compat.hashing import Hash
from pynix.compat.nar import NarError, iter_nar, nar_hash_and_size, stream_nar

# sizes around every threshold of the writers: padding, the small-file and
# flush limits of both modes, the read chunk
SIZES = [0, 1, 7, 8, 9, (1 << 14) - 1, 1 << 14, (1 << 14) + 1, 1 << 16, (1 << 18) - 1, 1 << 18,
         (1 << 18) + 1, (1 << 20) - 3, 1 << 20, (1 << 20) + 1, 3 * (1 << 20) + 5]


def _tree(root: Path) -> Path:
    rng = random.Random(7)
    for i, size in enumerate(SIZES):
        d = root / f"d{i % 3}" / f"e{i % 2}"
        d.mkdir(parents=True, exist_ok=True)
        f = d / f"f{i:02d}"
        f.write_bytes(rng.randbytes(size))
        if i % 4 == 0:
            f.chmod(0o755)
        if i % 5 == 0:
            (d / f"l{i:02d}").symlink_to(f"f{i:02d}")
    for i in range(300):  # many small files: several gathered pieces
        (root / "many").mkdir(exist_ok=True)
        (root / "many" / f"s{i:03d}").write_bytes(rng.randbytes(rng.randrange(1, 9000)))
    (root / "empty-dir").mkdir()
    return root


def _threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "nar-reader"]


def test_same_bytes_as_iter_nar(tmp_path: Path) -> None:
    root = _tree(tmp_path / "t")
    expected = b"".join(iter_nar(root))
    streamed = bytearray()
    pieces = 0
    for piece in stream_nar(root):
        streamed += piece  # consumed before the next one is asked for
        pieces += 1
    assert bytes(streamed) == expected
    assert pieces > 3
    h, size = nar_hash_and_size(root)
    assert (h, size) == (Hash("sha256", hashlib.sha256(expected).digest()), len(expected))
    assert nar_hash_and_size(root, "sha1")[0] == Hash("sha1", hashlib.sha1(expected).digest())
    assert not _threads()


@pytest.mark.parametrize("size", [0, 5, 1 << 18, (1 << 20) + 9])
def test_single_files(tmp_path: Path, size: int) -> None:
    f = tmp_path / "f"
    f.write_bytes(os.urandom(size))
    assert b"".join(bytes(p) for p in stream_nar(f)) == b"".join(iter_nar(f))


def test_path_filter(tmp_path: Path) -> None:
    root = _tree(tmp_path / "t")

    def keep(p: str) -> bool:
        return "/many" not in p and not p.endswith("f03")

    assert b"".join(bytes(p) for p in stream_nar(root, keep)) == b"".join(iter_nar(root, keep))


def test_reader_errors_reach_the_consumer(tmp_path: Path) -> None:
    root = _tree(tmp_path / "t")
    os.mkfifo(root / "d1" / "zz-fifo")
    with pytest.raises(NarError, match="zz-fifo' has an unsupported type"):
        for _ in stream_nar(root):
            pass
    assert not _threads()
    with pytest.raises(FileNotFoundError):
        for _ in stream_nar(tmp_path / "missing"):
            pass
    assert not _threads()


def test_consumer_stopping_early_ends_the_reader(tmp_path: Path) -> None:
    root = _tree(tmp_path / "t")
    it = stream_nar(root)
    next(it)
    next(it)
    assert _threads()  # reading ahead
    it.close()
    assert not _threads()
    for _ in stream_nar(root):
        break
    assert not _threads()


def test_slow_consumer_still_gets_the_error(tmp_path: Path) -> None:
    """The reader is far ahead (its queue full) when it meets the bad file:
    the error waits for the consumer instead of being dropped."""
    root = tmp_path / "t"
    root.mkdir()
    for i in range(6):
        (root / f"f{i}").write_bytes(os.urandom((1 << 20) + 1))
    os.mkfifo(root / "zz-fifo")
    seen = 0
    with pytest.raises(NarError, match="zz-fifo"):
        for _ in stream_nar(root):
            seen += 1
            if seen <= 3:
                time.sleep(0.5)
    assert seen >= 6
    assert not _threads()
