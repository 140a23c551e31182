"""Finding store references in a build output (spec 7.1).

An output refers to a candidate store path when the candidate's 32-character
hash part occurs anywhere in the output's NAR stream (file contents, file
names, symlink targets).  Only candidates count: the input closure and the
derivation's own outputs.

Scanning is done on the NAR chunks as they are produced, so that the NAR hash,
the NAR size and the references come from a single pass over the tree.  The
fast path maps every byte to "nix32 or not" with ``bytes.translate`` and then
looks for runs of at least 32 nix32 bytes with ``bytes.find``; only those runs
(rare in binary data, a handful per line in text) are looked at from Python.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from ..compat import nixbase32
from ..compat.hashing import Hash, HashAlgo, HashWriter
from ..compat.nar import iter_nar
from ..compat.storepath import HASH_PART_LEN

_IS_NIX32: Final = bytes(1 if chr(i) in nixbase32.ALPHABET else 0 for i in range(256))
_RUN: Final = b"\x01" * HASH_PART_LEN
_GAP: Final = b"\x00"
# Longer runs than this are searched per candidate instead of per window.
_LONG_RUN: Final = 4096
# ...unless there are so many candidates that per-window lookups are cheaper.
_MANY_CANDIDATES: Final = 256
# Runs to look at per remaining candidate before searching per candidate.
_RUNS_PER_CANDIDATE: Final = 64
_MIN_RUNS: Final = 256


def hash_part(path: str) -> str:
    """The 32-character hash part of a store path (or of its base name)."""
    base = path.rsplit("/", 1)[-1]
    return base[:HASH_PART_LEN]


class ReferenceScanner:
    """Feed it bytes in chunks of any size; ``found`` holds the hash parts seen.

    Matches spanning chunk boundaries are found: the last 31 bytes of each
    chunk are kept and searched again with the next one.
    """

    def __init__(self, hash_parts: Iterable[str]) -> None:
        self._wanted: set[bytes] = {h.encode("ascii") for h in hash_parts}
        self.found: set[str] = set()
        self._tail = b""

    def feed(self, chunk: bytes) -> None:
        wanted = self._wanted
        if not wanted:
            return
        buf = self._tail + chunk if self._tail else chunk
        mask = buf.translate(_IS_NIX32)
        size = len(buf)
        find = mask.find
        # Many runs and few candidates left: searching for each candidate in
        # the whole chunk (at memchr speed) beats looking at every run.
        budget = _RUNS_PER_CANDIDATE * len(wanted) + _MIN_RUNS
        start = find(_RUN)
        while start >= 0:
            budget -= 1
            if budget < 0:
                for candidate in [w for w in wanted if w in buf]:
                    wanted.discard(candidate)
                    self.found.add(candidate.decode("ascii"))
                break
            end = find(_GAP, start + HASH_PART_LEN)
            if end < 0:
                end = size
            if end - start == HASH_PART_LEN:  # the usual case: one hash, alone
                candidate = buf[start:end]
                if candidate in wanted:
                    wanted.discard(candidate)
                    self.found.add(candidate.decode("ascii"))
                    if not wanted:
                        break
            else:
                self._match_run(buf, start, end)
            if end == size or not wanted:
                break
            start = find(_RUN, end + 1)
        last_gap = mask.rfind(_GAP)
        self._tail = buf[max(last_gap + 1, size - (HASH_PART_LEN - 1)) :]

    def _match_run(self, buf: bytes, start: int, end: int) -> None:
        wanted = self._wanted
        if end - start <= _LONG_RUN or len(wanted) > _MANY_CANDIDATES:
            hits = {buf[i : i + HASH_PART_LEN] for i in range(start, end - HASH_PART_LEN + 1)}
            hits &= wanted
        else:
            run = buf[start:end]
            hits = {w for w in wanted if w in run}
        for h in hits:
            wanted.discard(h)
            self.found.add(h.decode("ascii"))


def scan_references(
    path: str | bytes,
    candidates: Iterable[str],
    algo: HashAlgo = "sha256",
) -> tuple[set[str], Hash, int]:
    """NAR-serialise ``path`` once: (referenced candidates, NAR hash, NAR size).

    ``candidates`` are store paths; the result holds those whose hash part
    occurs in the NAR.
    """
    by_hash: dict[str, str] = {}
    for c in candidates:
        by_hash[hash_part(c)] = c
    scanner = ReferenceScanner(by_hash)
    writer = HashWriter(algo)
    for chunk in iter_nar(path):
        writer.write(chunk)
        scanner.feed(chunk)
    return {by_hash[h] for h in scanner.found}, writer.finish(), writer.size
