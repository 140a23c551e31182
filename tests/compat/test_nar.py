from __future__ import annotations

import base64
import hashlib
import io
import os
import stat
from pathlib import Path
from typing import Any

import pytest

from pynix.compat.hashing import Hash
from pynix.compat.nar import (
    NarDirectory,
    NarError,
    NarNode,
    NarRegular,
    NarSymlink,
    dump_tree,
    iter_nar,
    nar_hash,
    nar_hash_and_size,
    nar_of_bytes,
    nar_string,
    write_nar,
)
from pynix.compat.nar_reader import (
    DirectoryEvent,
    RegularEvent,
    SymlinkEvent,
    iter_nar_events,
    parse_nar,
    restore_nar,
)

from .vectors import fixture_nodes, load


def nar_vectors() -> list[dict[str, Any]]:
    vectors: list[dict[str, Any]] = load("nar.json")["vectors"]
    return vectors


def tree_of(node: dict[str, Any]) -> NarNode:
    """The NAR model of a fixtures.json node."""
    if node["type"] == "regular":
        return NarRegular(base64.b64decode(node["contents_b64"]), node["executable"])
    if node["type"] == "symlink":
        return NarSymlink(node["target"].encode())
    return NarDirectory({name.encode(): tree_of(child) for name, child in node["entries"].items()})


def tree_on_disk(path: Path) -> NarNode:
    """Read a file-system object back into the model (for comparing restores)."""
    st = path.lstat()
    if stat.S_ISLNK(st.st_mode):
        return NarSymlink(os.readlink(os.fsencode(path)))
    if stat.S_ISREG(st.st_mode):
        return NarRegular(path.read_bytes(), bool(st.st_mode & stat.S_IXUSR))
    return NarDirectory(
        {name: tree_on_disk(path / os.fsdecode(name)) for name in os.listdir(os.fsencode(path))}
    )


def ids(v: dict[str, Any]) -> str:
    return str(v["fixture"])


# -- the vectors --------------------------------------------------------------------


@pytest.mark.parametrize("v", nar_vectors(), ids=ids)
def test_nar_bytes_from_disk(v: dict[str, Any], fixtures_dir: Path) -> None:
    expected = base64.b64decode(v["nar_b64"])
    path = fixtures_dir / v["fixture"]
    assert b"".join(iter_nar(path)) == expected
    sink = io.BytesIO()
    assert write_nar(path, sink) == len(expected)
    assert sink.getvalue() == expected
    assert len(expected) == v["narSize"]


@pytest.mark.parametrize("v", nar_vectors(), ids=ids)
def test_nar_hashes(v: dict[str, Any], fixtures_dir: Path) -> None:
    path = fixtures_dir / v["fixture"]
    h, size = nar_hash_and_size(path)
    assert size == v["narSize"]
    want = v["narHash"]
    assert h.to_nix32() == want["sha256_nix32"]
    assert h.to_base16() == want["sha256_base16"]
    assert h.to_sri() == want["sha256_sri"]
    assert h.to_base64() == want["sha256_base64"]
    assert nar_hash(path, "sha1").to_nix32() == want["sha1_nix32"]
    assert nar_hash(path, "sha512").to_base16() == want["sha512_base16"]
    assert nar_hash(path, "md5").to_base16() == want["md5_base16"]
    assert Hash.parse(want["sha256_sri"]) == h


@pytest.mark.parametrize("v", nar_vectors(), ids=ids)
def test_nar_bytes_from_model(v: dict[str, Any]) -> None:
    tree = tree_of(fixture_nodes()[v["fixture"]])
    assert dump_tree(tree) == base64.b64decode(v["nar_b64"])


@pytest.mark.parametrize("v", nar_vectors(), ids=ids)
def test_parse_gives_the_fixture_tree(v: dict[str, Any]) -> None:
    data = base64.b64decode(v["nar_b64"])
    tree = parse_nar(data)
    assert tree == tree_of(fixture_nodes()[v["fixture"]])
    assert parse_nar(io.BytesIO(data)) == tree
    assert dump_tree(tree) == data


@pytest.mark.parametrize("v", nar_vectors(), ids=ids)
def test_restore_gives_the_same_tree(v: dict[str, Any], tmp_path: Path) -> None:
    data = base64.b64decode(v["nar_b64"])
    target = tmp_path / "restored"
    restore_nar(io.BytesIO(data), target)
    assert tree_on_disk(target) == tree_of(fixture_nodes()[v["fixture"]])
    assert b"".join(iter_nar(target)) == data


@pytest.mark.parametrize("v", [v for v in nar_vectors() if "flatHash" in v], ids=ids)
def test_flat_hash_is_the_contents_hash(v: dict[str, Any]) -> None:
    node = fixture_nodes()[v["fixture"]]
    contents = base64.b64decode(node["contents_b64"])
    assert hashlib.sha256(contents).hexdigest() == v["flatHash"]["sha256_base16"]
    assert nar_of_bytes(contents, node["executable"]) == base64.b64decode(v["nar_b64"])


def test_spec_examples() -> None:
    assert nar_string(b"") == bytes(8)
    assert nar_string(b"abc") == bytes([3, 0, 0, 0, 0, 0, 0, 0]) + b"abc" + bytes(5)
    assert len(dump_tree(NarRegular())) == 112
    assert len(dump_tree(NarDirectory())) == 96


def test_entries_sort_by_raw_bytes() -> None:
    names = [b"B", b"a", b"a-b", b"a.b", b"a_b", b"Z", b"z", b"ab", b"a0", "é".encode(), b"_x"]
    tree = NarDirectory({n: NarRegular() for n in names})
    events = list(iter_nar_events(dump_tree(tree)))
    assert [e.path[0] for e in events[1:]] == sorted(names)


# -- writing from disk -----------------------------------------------------------


def test_large_file_streams_in_bounded_chunks(tmp_path: Path) -> None:
    contents = os.urandom(3 * (1 << 20) + 5)
    path = tmp_path / "big"
    path.write_bytes(contents)
    chunks = list(iter_nar(path))
    assert max(len(c) for c in chunks) <= 1 << 20
    assert b"".join(chunks) == nar_of_bytes(contents)
    assert nar_hash(path) == Hash("sha256", hashlib.sha256(nar_of_bytes(contents)).digest())


def test_executable_bit_is_the_owner_bit(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"x")
    path.chmod(0o711)
    assert parse_nar(b"".join(iter_nar(path))) == NarRegular(b"x", True)
    path.chmod(0o655)  # group/other execute do not count
    assert parse_nar(b"".join(iter_nar(path))) == NarRegular(b"x", False)
    path.chmod(0o400)
    assert parse_nar(b"".join(iter_nar(path))) == NarRegular(b"x", False)


def test_symlinks_are_not_followed(tmp_path: Path) -> None:
    (tmp_path / "dir").mkdir()
    (tmp_path / "dir" / "f").write_bytes(b"data")
    os.symlink("dir", tmp_path / "link")
    assert parse_nar(b"".join(iter_nar(tmp_path / "link"))) == NarSymlink(b"dir")


def test_non_utf8_names(tmp_path: Path) -> None:
    root = tmp_path / "d"
    root.mkdir()
    name = b"\xff\xfe-latin1-\xe9"
    with open(os.path.join(os.fsencode(root), name), "wb") as f:
        f.write(b"x")
    tree = parse_nar(b"".join(iter_nar(root)))
    assert tree == NarDirectory({name: NarRegular(b"x")})


def test_path_filter_sees_full_paths_in_archive_order(tmp_path: Path) -> None:
    root = tmp_path / "src"
    (root / "sub").mkdir(parents=True)
    (root / "b.log").write_bytes(b"b")
    (root / "a").write_bytes(b"a")
    (root / "sub" / "c").write_bytes(b"c")
    seen: list[str] = []

    def keep(path: str) -> bool:
        seen.append(path)
        return not path.endswith(".log")

    tree = parse_nar(b"".join(iter_nar(root, keep)))
    assert seen == [f"{root}/a", f"{root}/b.log", f"{root}/sub", f"{root}/sub/c"]
    assert tree == NarDirectory(
        {b"a": NarRegular(b"a"), b"sub": NarDirectory({b"c": NarRegular(b"c")})}
    )


def test_filter_rejecting_everything_gives_an_empty_directory(fixtures_dir: Path) -> None:
    data = b"".join(iter_nar(fixtures_dir / "srcdir", lambda _: False))
    assert data == dump_tree(NarDirectory())


def test_unsupported_file_types_are_errors(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(NarError, match="unsupported type"):
        b"".join(iter_nar(fifo))


def test_deep_trees_do_not_recurse(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    depth = 1100  # beyond Python's default recursion limit
    monkeypatch.chdir(tmp_path)
    for _ in range(depth):
        os.mkdir("d")
        os.chdir("d")
    try:
        data = b"".join(iter_nar(tmp_path / "d"))
        assert data.count(nar_string(b"directory")) == depth
    finally:  # shutil.rmtree recurses too, so clean up here
        for _ in range(depth):
            os.chdir("..")
            os.rmdir("d")


def test_dump_tree_rejects_invalid_names() -> None:
    for name in (b"", b".", b"..", b"a/b", b"a\0"):
        with pytest.raises(NarError):
            dump_tree(NarDirectory({name: NarRegular()}))


# -- restoring --------------------------------------------------------------------


def test_restore_sets_executable_bits_and_verbatim_symlinks(tmp_path: Path) -> None:
    tree = NarDirectory(
        {
            b"exe": NarRegular(b"#!/bin/sh\n", True),
            b"plain": NarRegular(b"text"),
            b"abs": NarSymlink(b"/nonexistent/target"),
            b"rel": NarSymlink(b"../../outside"),
            b"sub": NarDirectory({b"empty": NarDirectory()}),
        }
    )
    target = tmp_path / "out"
    restore_nar(dump_tree(tree), target)
    assert os.access(target / "exe", os.X_OK)
    assert not os.access(target / "plain", os.X_OK)
    assert os.readlink(target / "abs") == "/nonexistent/target"
    assert os.readlink(target / "rel") == "../../outside"
    assert (target / "sub" / "empty").is_dir()
    assert tree_on_disk(target) == tree


def test_restore_refuses_an_existing_target(tmp_path: Path) -> None:
    (tmp_path / "exists").mkdir()
    with pytest.raises(FileExistsError):
        restore_nar(dump_tree(NarRegular(b"x")), tmp_path / "exists")
    os.symlink("/nonexistent", tmp_path / "dangling")
    with pytest.raises(FileExistsError):
        restore_nar(dump_tree(NarRegular(b"x")), tmp_path / "dangling")


def test_restore_removes_partial_results_on_error(tmp_path: Path) -> None:
    good = dump_tree(NarDirectory({b"a": NarRegular(b"1"), b"b": NarRegular(b"2")}))
    bad = good[:-8]  # lose the closing parenthesis
    with pytest.raises(NarError):
        restore_nar(bad, tmp_path / "out")
    assert list(tmp_path.iterdir()) == []


def test_restore_from_a_stream_stops_after_the_archive(tmp_path: Path) -> None:
    data = dump_tree(NarDirectory({b"f": NarRegular(b"contents")}))
    stream = io.BytesIO(data + b"rest of the protocol")
    restore_nar(stream, tmp_path / "out", trailing_ok=True)
    assert stream.read() == b"rest of the protocol"
    assert (tmp_path / "out" / "f").read_bytes() == b"contents"


def test_events_are_streamed(tmp_path: Path) -> None:
    tree = NarDirectory({b"f": NarRegular(b"x" * 3_000_000, True), b"l": NarSymlink(b"f")})
    events = list(iter_nar_events(dump_tree(tree)))
    assert events[0] == DirectoryEvent(())
    assert isinstance(events[1], RegularEvent)
    assert (events[1].path, events[1].executable, events[1].size) == ((b"f",), True, 3_000_000)
    assert events[2] == SymlinkEvent((b"l",), b"f")


def test_unread_contents_are_skipped() -> None:
    tree = NarDirectory({b"a": NarRegular(b"x" * 100), b"b": NarRegular(b"y")})
    seen = []
    for event in iter_nar_events(dump_tree(tree)):
        seen.append(event.path)
    assert seen == [(), (b"a",), (b"b",)]
