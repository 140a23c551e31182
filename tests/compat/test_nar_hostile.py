"""NARs from untrusted sources: every malformation is a NarError, never a crash."""

from __future__ import annotations

import io
import os
import re
import struct
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pynix.compat.nar import (
    MAX_DEPTH,
    NarDirectory,
    NarError,
    NarNode,
    NarRegular,
    NarSymlink,
    dump_tree,
    is_valid_entry_name,
    iter_nar,
    nar_string,
)
from pynix.compat.nar_reader import MAX_NAME_LEN, parse_nar, restore_nar

from .test_nar import tree_on_disk


def toks(*words: bytes) -> bytes:
    return b"".join(nar_string(w) for w in words)


def u64(n: int) -> bytes:
    return struct.pack("<Q", n)


MAGIC = toks(b"nix-archive-1")


def regular(contents: bytes) -> bytes:
    return toks(b"(", b"type", b"regular", b"contents", contents, b")")


def directory(*entries: tuple[bytes, bytes]) -> bytes:
    body = b"".join(
        toks(b"entry", b"(", b"name", name, b"node") + node + toks(b")") for name, node in entries
    )
    return toks(b"(", b"type", b"directory") + body + toks(b")")


def nested(depth: int) -> NarNode:
    node: NarNode = NarRegular(b"leaf")
    for _ in range(depth):
        node = NarDirectory({b"d": node})
    return node


def test_hand_built_archive_is_what_the_writer_makes() -> None:
    data = MAGIC + directory((b"a", regular(b"1")), (b"b", regular(b"2")))
    assert data == dump_tree(NarDirectory({b"a": NarRegular(b"1"), b"b": NarRegular(b"2")}))
    assert parse_nar(data) == NarDirectory({b"a": NarRegular(b"1"), b"b": NarRegular(b"2")})


HELLO = dump_tree(NarRegular(b"Hello, world!\n"))
# Offset of the first padding byte after the 14 content bytes of HELLO.
HELLO_CONTENT_PAD = HELLO.index(b"Hello, world!\n") + 14

HOSTILE: dict[str, tuple[bytes, str]] = {
    "empty input": (b"", "truncated"),
    "bad magic": (toks(b"nix-archive-2") + regular(b"x"), "expected 'nix-archive-1'"),
    "no magic": (regular(b"x"), "expected 'nix-archive-1'"),
    "magic with huge length": (u64(2**64 - 1) + b"nix-archive-1", "expected 'nix-archive-1'"),
    "non-zero content padding": (
        HELLO[:HELLO_CONTENT_PAD] + b"\x01" + HELLO[HELLO_CONTENT_PAD + 1 :],
        "non-zero padding",
    ),
    "non-zero token padding": (
        MAGIC + u64(1) + b"(" + b"\0" * 6 + b"\x80" + toks(b"type", b"regular"),
        "non-zero padding",
    ),
    "non-zero name padding": (
        MAGIC
        + toks(b"(", b"type", b"directory", b"entry", b"(", b"name")
        + u64(1)
        + b"a\0\0\0\0\0\0\x01",
        "non-zero padding",
    ),
    "unsorted entries": (MAGIC + directory((b"b", regular(b"")), (b"a", regular(b""))), "unsorted"),
    "duplicate entries": (
        MAGIC + directory((b"a", regular(b"")), (b"a", regular(b""))),
        "duplicate",
    ),
    "empty name": (MAGIC + directory((b"", regular(b""))), "invalid file name"),
    "dot name": (MAGIC + directory((b".", regular(b""))), "invalid file name"),
    "dotdot name": (MAGIC + directory((b"..", regular(b""))), "invalid file name"),
    "slash in name": (MAGIC + directory((b"a/b", regular(b""))), "invalid file name"),
    "escaping name": (MAGIC + directory((b"../../etc", regular(b""))), "invalid file name"),
    "NUL in name": (MAGIC + directory((b"a\0b", regular(b""))), "invalid file name"),
    "overlong name": (
        MAGIC + directory((b"n" * (MAX_NAME_LEN + 1), regular(b""))),
        "exceeds the limit",
    ),
    "absurd name length": (
        MAGIC + toks(b"(", b"type", b"directory", b"entry", b"(", b"name") + u64(2**64 - 1),
        "exceeds the limit",
    ),
    "contents longer than the data": (
        MAGIC + toks(b"(", b"type", b"regular", b"contents") + u64(2**62) + b"abc",
        "bytes left",
    ),
    "absurd contents length": (
        MAGIC + toks(b"(", b"type", b"regular", b"contents") + u64(2**64 - 1),
        "exceeds the limit",
    ),
    "absurd symlink target": (
        MAGIC + toks(b"(", b"type", b"symlink", b"target") + u64(1 << 40),
        "exceeds the limit",
    ),
    "absurd token length": (MAGIC + u64(2**63) + b"(", "expected '('"),
    "too deep": (dump_tree(nested(MAX_DEPTH + 1)), "deeper than 256"),
    "truncated": (HELLO[:-8], "truncated"),
    "truncated mid-token": (HELLO[:-3], "truncated"),
    "trailing garbage": (HELLO + toks(b"x"), "trailing data"),
    "trailing byte": (HELLO + b"\0", "trailing data"),
    "unknown node type": (MAGIC + toks(b"(", b"type", b"fifo", b")"), "expected 'regular'"),
    "missing type": (MAGIC + toks(b"(", b"regular"), "expected 'type'"),
    "missing open paren": (MAGIC + toks(b"type", b"regular"), "expected '('"),
    "executable marker with a value": (
        MAGIC + toks(b"(", b"type", b"regular", b"executable", b"yes", b"contents", b"", b")"),
        "expected ''",
    ),
    "contents before executable": (
        MAGIC + toks(b"(", b"type", b"regular", b"contents", b"", b"executable", b"", b")"),
        "expected ')'",
    ),
    "unknown field": (
        MAGIC + toks(b"(", b"type", b"regular", b"mtime", b"1", b"contents", b"", b")"),
        "expected 'executable' or 'contents'",
    ),
    "two contents": (
        MAGIC + toks(b"(", b"type", b"regular", b"contents", b"", b"contents", b"", b")"),
        "expected ')'",
    ),
    "empty symlink target": (
        MAGIC + toks(b"(", b"type", b"symlink", b"target", b"", b")"),
        "target",
    ),
    "NUL in symlink target": (
        MAGIC + toks(b"(", b"type", b"symlink", b"target", b"a\0", b")"),
        "target",
    ),
    "entry without node": (
        MAGIC + toks(b"(", b"type", b"directory", b"entry", b"(", b"name", b"a") + regular(b""),
        "expected 'node'",
    ),
    "entry not closed": (
        MAGIC
        + toks(b"(", b"type", b"directory", b"entry", b"(", b"name", b"a", b"node")
        + regular(b"")
        + toks(b"entry"),
        "expected ')'",
    ),
    "directory with contents": (
        MAGIC + toks(b"(", b"type", b"directory", b"contents", b"", b")"),
        "expected 'entry' or ')'",
    ),
}


@pytest.mark.parametrize("case", list(HOSTILE))
def test_hostile_archives_are_rejected(case: str) -> None:
    data, message = HOSTILE[case]
    with pytest.raises(NarError, match=re.escape(message)):
        parse_nar(data)
    with pytest.raises(NarError):
        parse_nar(io.BytesIO(data))  # a stream: no length known in advance


@pytest.mark.parametrize("case", list(HOSTILE))
def test_hostile_archives_leave_nothing_behind(case: str, tmp_path: Path) -> None:
    data, _ = HOSTILE[case]
    (tmp_path / "sandbox").mkdir()
    with pytest.raises(NarError):
        restore_nar(data, tmp_path / "sandbox" / "out")
    assert os.listdir(tmp_path) == ["sandbox"]
    assert os.listdir(tmp_path / "sandbox") == []


def test_depth_limit_is_inclusive() -> None:
    data = dump_tree(nested(MAX_DEPTH))
    # Compare bytes: dataclass equality would recurse too deeply here.
    assert dump_tree(parse_nar(data)) == data


def test_every_truncation_is_rejected(fixtures_dir: Path) -> None:
    data = b"".join(iter_nar(fixtures_dir / "tree-basic"))
    for end in range(len(data)):
        with pytest.raises(NarError):
            parse_nar(data[:end])


def test_trailing_data_is_allowed_on_request() -> None:
    from pynix.compat.nar_reader import iter_nar_events

    events = list(iter_nar_events(HELLO + b"more", trailing_ok=True))
    assert len(events) == 1


def test_restore_rejects_before_escaping_the_target(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_bytes(b"precious")
    (tmp_path / "box").mkdir()
    evil = MAGIC + directory((b"..", directory((b"victim", regular(b"pwned")))))
    with pytest.raises(NarError):
        restore_nar(evil, tmp_path / "box" / "out")
    assert victim.read_bytes() == b"precious"


# -- properties ------------------------------------------------------------------

names = st.binary(min_size=1, max_size=12).filter(is_valid_entry_name)
leaves = st.one_of(
    st.builds(NarRegular, st.binary(max_size=40), st.booleans()),
    st.builds(
        NarSymlink,
        st.binary(min_size=1, max_size=30).filter(lambda t: b"\0" not in t),
    ),
)
trees: st.SearchStrategy[NarNode] = st.recursive(
    leaves,
    lambda children: st.builds(NarDirectory, st.dictionaries(names, children, max_size=5)),
    max_leaves=25,
)


@given(trees)
def test_write_then_read_gives_the_same_tree(tree: NarNode) -> None:
    data = dump_tree(tree)
    assert parse_nar(data) == tree
    assert parse_nar(io.BytesIO(data)) == tree


def write_to_disk(node: NarNode, path: bytes) -> None:
    if isinstance(node, NarRegular):
        with open(path, "wb") as f:
            f.write(node.contents)
        os.chmod(path, 0o755 if node.executable else 0o644)
    elif isinstance(node, NarSymlink):
        os.symlink(node.target, path)
    else:
        os.mkdir(path)
        for name, child in node.entries.items():
            write_to_disk(child, os.path.join(path, name))


@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow])
@given(trees)
def test_disk_round_trip(tree: NarNode) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        source = os.path.join(os.fsencode(tmp), b"source")
        write_to_disk(tree, source)
        data = b"".join(iter_nar(source))
        assert data == dump_tree(tree)
        target = os.path.join(tmp, "restored")
        restore_nar(data, target)
        assert tree_on_disk(Path(target)) == tree


@st.composite
def mutated_nars(draw: st.DrawFn) -> bytes:
    data = bytearray(dump_tree(draw(trees)))
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["flip", "set", "truncate", "insert", "delete"]))
        pos = draw(st.integers(0, max(len(data) - 1, 0)))
        if kind == "flip" and data:
            data[pos] ^= 1 << draw(st.integers(0, 7))
        elif kind == "set" and data:
            data[pos] = draw(st.integers(0, 255))
        elif kind == "truncate":
            del data[pos:]
        elif kind == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=16))
        elif kind == "delete":
            del data[pos : pos + draw(st.integers(1, 16))]
    return bytes(data)


@settings(max_examples=300)
@given(mutated_nars())
def test_mutations_never_crash(data: bytes) -> None:
    try:
        tree = parse_nar(data)
    except NarError:
        return
    # Only canonical archives are accepted, so what parses re-serialises exactly.
    assert dump_tree(tree) == data


@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_nars())
def test_restoring_mutations_never_crashes(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        box = os.path.join(tmp, "box")
        os.mkdir(box)
        target = os.path.join(box, "out")
        try:
            restore_nar(io.BytesIO(data), target)
        except NarError:
            assert os.listdir(box) == []
            return
        assert dump_tree(tree_on_disk(Path(target))) == data


def test_truncated_contents_leave_nothing(tmp_path: Path) -> None:
    """The file is created before its contents arrive; when they never do, the
    partial file goes too."""
    nar = dump_tree(NarRegular(b"x" * 1000))
    for cut in (len(nar) - 600, len(nar) - 8):
        box = tmp_path / f"box-{cut}"
        box.mkdir()
        with pytest.raises(NarError):
            restore_nar(io.BytesIO(nar[:cut]), str(box / "out"))
        assert os.listdir(box) == []
