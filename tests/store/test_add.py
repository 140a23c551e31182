"""Adding paths and querying them; Nix 2.8's vectors and the real Nix as oracles."""

from __future__ import annotations

import base64
import io
import os
import random
import stat
from pathlib import Path

import pytest

import needs
from pynix.compat.derivation import Derivation
from pynix.compat.hashing import Hash, HashFormat, hash_bytes, hash_file
from pynix.compat.nar import nar_hash_and_size, write_nar
from pynix.compat.signing import SecretKey
from pynix.compat.storepath import make_store_path
from pynix.store import InvalidPath, LocalStore, PathInfo, StoreError, open_store

from .helpers import random_tree, run_nix, vectors

ADD = vectors("store-paths.json")["add"]
ALGOS = ["sha256", "sha1", "sha512", "md5"]


def nar_bytes(store: LocalStore, path: str) -> bytes:
    return b"".join(store.nar_from_path(path))


def walk(path: str) -> list[tuple[str, os.stat_result]]:
    found = [(path, os.lstat(path))]
    if os.path.isdir(path) and not os.path.islink(path):
        for dirpath, dirs, files in os.walk(path):
            for name in dirs + files:
                p = os.path.join(dirpath, name)
                found.append((p, os.lstat(p)))
    return found


@pytest.mark.parametrize("vector", ADD, ids=[v["fixture"] for v in ADD])
def test_add_matches_nix(store: LocalStore, fixtures_dir: Path, vector: dict[str, str]) -> None:
    src = str(fixtures_dir / vector["fixture"])
    assert store.add_to_store(src) == vector["add"]
    for algo in ALGOS:
        got = store.add_to_store(src, recursive=True, algo=algo)
        assert got == vector[f"addFixedRecursive_{algo}"]
        if f"addFixedFlat_{algo}" in vector:
            assert store.add_to_store(src, recursive=False, algo=algo) == vector[
                f"addFixedFlat_{algo}"
            ]
    assert store.verify(check_contents=True) == []


def test_nar_of_stored_paths_is_the_vector(store: LocalStore, fixtures_dir: Path) -> None:
    for v in vectors("nar.json")["vectors"]:
        path = store.add_to_store(str(fixtures_dir / v["fixture"]))
        nar = nar_bytes(store, path)
        assert nar == base64.b64decode(v["nar_b64"])
        info = store.query_path_info(path)
        assert info.nar_hash == "sha256:" + v["narHash"]["sha256_nix32"]
        assert info.nar_size == v["narSize"] == len(nar)
        assert info.ca == "fixed:r:sha256:" + v["narHash"]["sha256_nix32"]
        assert info.ultimate and info.references == frozenset()


def test_contents_are_canonical_and_read_only(store: LocalStore, tmp_path: Path) -> None:
    src = random_tree(tmp_path / "src", random.Random(1), depth=3)
    (src / "suid").write_text("x")
    os.chmod(src / "suid", 0o4777)  # setuid must not survive
    path = store.add_to_store(str(src))
    for p, st in walk(store.real_path(path)):
        assert st.st_mtime == 1, p
        if stat.S_ISLNK(st.st_mode):
            continue
        mode = stat.S_IMODE(st.st_mode)
        assert mode in (0o444, 0o555), (p, oct(mode))
        if stat.S_ISDIR(st.st_mode):
            assert mode == 0o555
    # the NAR is that of the source (the executable bit is all that survives)
    assert store.query_path_info(path).nar_hash == nar_hash_and_size(src)[0].to_prefixed()


def test_real_nix_agrees_on_paths_and_nars(store: LocalStore, tmp_path: Path) -> None:
    rng = random.Random(7)
    nix_tmp = tmp_path / "nix"
    nix_tmp.mkdir()
    nix_root = tmp_path / "nix-root"
    srcs = [random_tree(tmp_path / f"src{i}", rng, depth=2) for i in range(3)]
    flat = tmp_path / "flat.bin"
    flat.write_bytes(rng.randbytes(1000))
    ours = [store.add_to_store(str(s)) for s in srcs]
    ours.append(store.add_to_store(str(flat), recursive=False, algo="sha1"))
    ours.append(store.add_to_store(str(srcs[0]), algo="sha512"))
    nix_store = ["nix-store", "--store", str(nix_root)]
    theirs = run_nix([*nix_store, "--add", *map(str, srcs)], nix_tmp).split()
    theirs += run_nix([*nix_store, "--add-fixed", "sha1", str(flat)], nix_tmp).split()
    theirs += run_nix(
        [*nix_store, "--add-fixed", "--recursive", "sha512", str(srcs[0])], nix_tmp
    ).split()
    assert ours == theirs
    for path in ours:
        # (Nix 2.8 dumps a chroot store's path from the logical location: dump ours)
        dumped = run_nix_bytes(["nix-store", "--dump", store.real_path(path)], nix_tmp)
        assert nar_bytes(store, path) == dumped
        nix_hash = run_nix(["nix-hash", "--type", "sha256", "--base32", store.real_path(path)],
                           nix_tmp).strip()
        assert store.query_path_info(path).nar_hash == "sha256:" + nix_hash


def run_nix_bytes(args: list[str], tmp: Path) -> bytes:
    import subprocess


    proc = subprocess.run([needs.nix(args[0]), *args[1:]], capture_output=True, check=True,
                          env={"PATH": os.environ.get("PATH", ""), "HOME": str(tmp),
                               "NIX_CONF_DIR": str(tmp)}, timeout=60)
    return proc.stdout


def test_adding_again_is_a_no_op(store: LocalStore, fixtures_dir: Path) -> None:
    src = str(fixtures_dir / "tree-basic")
    path = store.add_to_store(src)
    info = store.query_path_info(path)
    inode = os.lstat(store.real_path(path)).st_ino
    assert store.add_to_store(src) == path
    assert store.query_path_info(path) == info
    assert os.lstat(store.real_path(path)).st_ino == inode
    assert [p for p in os.listdir(store.real_path("/nix/store")) if p != ".links"] == [
        os.path.basename(path)
    ]


def test_expected_hash(store: LocalStore, fixtures_dir: Path) -> None:
    src = str(fixtures_dir / "hello.txt")
    good = hash_file("sha256", src)
    path = store.add_to_store(src, recursive=False, expected=good.digest)
    assert path == "/nix/store/6g99pcrpapn5x08wpcyiq20wj4qgml24-hello.txt"
    bad = hash_bytes("sha256", b"something else")
    with pytest.raises(StoreError) as e:
        store.add_to_store(src, name="other", recursive=False, expected=bad.digest)
    assert bad.to_sri() in str(e.value) and good.to_sri() in str(e.value)
    assert not any("other" in p for p in store.query_all_valid_paths())


def test_filter_and_name(store: LocalStore, fixtures_dir: Path, tmp_path: Path) -> None:
    seen: list[tuple[str, str]] = []

    def keep(path: str, kind: str) -> bool:
        seen.append((os.path.basename(path), kind))
        return kind != "regular" or path.endswith("a.txt")

    src = str(fixtures_dir / "tree-basic")
    path = store.add_to_store(src, "filtered", filter=keep)
    assert path.endswith("-filtered")
    assert {k for _, k in seen} <= {"regular", "directory", "symlink"}
    # the same as adding a copy without the filtered-out files
    listing = sorted(
        os.path.relpath(p, store.real_path(path)) for p, _ in walk(store.real_path(path))
    )
    assert all(not p.endswith(".txt") or p.endswith("a.txt") for p in listing)


def test_bad_names_and_sources(store: LocalStore, tmp_path: Path) -> None:
    f = tmp_path / "x"
    f.write_text("x")
    with pytest.raises(StoreError, match="illegal character"):
        store.add_to_store(str(f), "has space")
    with pytest.raises(StoreError, match="No such file"):
        store.add_to_store(str(tmp_path / "missing"))
    with pytest.raises(StoreError):
        store.add_to_store(str(f), algo="sha3")


def test_text_paths(store: LocalStore) -> None:
    hello = store.add_text_to_store("hello.txt", b"Hello, world!\n")
    assert hello == "/nix/store/i3vl5f9f521bladwcs3zi5gmc1pd6qr6-hello.txt"
    info = store.query_path_info(hello)
    assert info.ca == "text:" + hash_bytes("sha256", b"Hello, world!\n").to_prefixed()
    assert info.nar_size == 128
    with open(store.real_path(hello), "rb") as f:
        assert f.read() == b"Hello, world!\n"

    # references must be valid: a text referring to a path that is not
    a_txt = "/nix/store/l82nr4gna33sc2g8m4hkkr6r983dlbd6-a.txt"
    with pytest.raises(StoreError, match="not valid"):
        store.add_text_to_store("b.sh", f"cat {a_txt}\n".encode(), [a_txt])
    assert store.query_all_valid_paths() == {hello}
    assert os.listdir(store.real_path("/nix/store")) in ([".links", os.path.basename(hello)],
                                                         [os.path.basename(hello), ".links"])


def test_references_referrers_closure(store: LocalStore) -> None:
    a = store.add_text_to_store("a", b"a")
    b = store.add_text_to_store("b", f"b {a}".encode(), [a])
    c = store.add_text_to_store("c", f"c {b} {a}".encode(), [a, b])
    d = store.add_text_to_store("d", b"d")
    assert store.query_path_info(c).references == {a, b}
    assert store.query_referrers(a) == {b, c}
    assert store.query_referrers(c) == set()
    assert store.query_closure([c]) == {a, b, c}
    assert store.query_closure([b, d]) == {a, b, d}
    assert store.query_referrers_closure([a]) == {a, b, c}
    assert store.query_all_valid_paths() == {a, b, c, d}
    with pytest.raises(InvalidPath):
        store.query_path_info("/nix/store/00000000000000000000000000000000-x")
    assert store.query_path_from_hash_part(os.path.basename(b)[:32]) == b


def test_derivations_and_outputs(store: LocalStore, tmp_path: Path) -> None:
    vector = next(v for v in vectors("derivations.json")["vectors"] if v["id"] == "minimal")
    drv = Derivation.parse(vector["drv"])
    drv_path = store.add_derivation(drv, drv.name)
    assert drv_path == vector["drvPath"]
    assert store.query_derivation_outputs(drv_path) == vector["outputs"]
    assert store.read_derivation(drv_path).to_bytes() == drv.to_bytes()
    out = vector["outputs"]["out"]
    # a "build": the output appears and is registered with its deriver
    store.add_temp_root(out)
    with store.lock_paths([out]):
        store.prepare_paths([out])
        os.mkdir(store.real_path(out))
        (Path(store.real_path(out)) / "file").write_text("built")
        h, size = nar_hash_and_size(store.real_path(out))
        store.register_valid_paths([PathInfo(out, h.to_prefixed(), size, deriver=drv_path)])
    assert store.query_valid_derivers(out) == {drv_path}
    assert store.query_path_info(out).deriver == drv_path
    assert store.query_closure([drv_path], include_outputs=True) == {drv_path, out}
    # a .drv text that is not a derivation is refused, as Nix does
    with pytest.raises(StoreError, match="not a valid derivation"):
        store.add_text_to_store("x.drv", b"not a derivation")


def test_register_valid_paths_checks(store: LocalStore) -> None:
    rng = random.Random(3)
    p1 = make_store_path("output:out", rng.randbytes(32), "one")
    p2 = make_store_path("output:out", rng.randbytes(32), "two")
    for p in (p1, p2):
        Path(store.real_path(p)).write_text(p)  # each refers to itself, p2 to p1 too
        os.chmod(store.real_path(p), 0o6777)  # a build's setuid/setgid bits go
    h1, s1 = nar_hash_and_size(store.real_path(p1))
    h2, s2 = nar_hash_and_size(store.real_path(p2))
    info1 = PathInfo(p1, h1.to_prefixed(), s1, references=frozenset({p1}))
    info2 = PathInfo(p2, h2.to_prefixed(), s2, references=frozenset({p1, p2}))
    with pytest.raises(StoreError, match="not valid"):
        store.register_valid_paths([info2])  # p1 is not valid (and not in the batch)
    wrong = PathInfo(p1, h2.to_prefixed(), s1)
    with pytest.raises(StoreError, match="NAR hash"):
        store.register_valid_paths([wrong])
    assert store.query_all_valid_paths() == set()
    store.register_valid_paths([info2, info1])  # together: fine
    assert store.query_path_info(p2).references == {p1, p2}
    assert store.query_referrers(p1) == {p1, p2}
    assert os.lstat(store.real_path(p1)).st_mtime == 1
    assert stat.S_IMODE(os.lstat(store.real_path(p2)).st_mode) == 0o555
    missing = make_store_path("output:out", rng.randbytes(32), "missing")
    with pytest.raises(StoreError, match="does not exist"):
        store.register_valid_paths([PathInfo(missing, h1.to_prefixed(), s1)])


def _cache_nars() -> list[tuple[PathInfo, bytes]]:
    data = vectors("narinfo.json")
    nars = {k: base64.b64decode(v) for k, v in data["uncompressedNars_b64"].items()}
    infos = []
    from pynix.compat.narinfo import NarInfo

    for text in data["caches"]["cache-none"]["narinfo"].values():
        ni = NarInfo.parse(text)
        info = PathInfo(
            path=ni.store_path,
            nar_hash=ni.nar_hash.to_prefixed(HashFormat.NIX32),
            nar_size=ni.nar_size,
            references=frozenset(ni.reference_paths()),
            deriver=ni.deriver,
            signatures=frozenset(ni.sigs),
            ca=ni.ca,
        )
        infos.append((info, nars[os.path.basename(ni.url)]))
    # references first
    ordered: list[tuple[PathInfo, bytes]] = []
    while infos:
        done = {i.path for i, _ in ordered}
        ready = [x for x in infos if x[0].references - {x[0].path} <= done]
        ordered += ready
        infos = [x for x in infos if x not in ready]
    return ordered


def test_import_nars_from_a_real_cache(store_root: Path) -> None:
    public = vectors("narinfo.json")["publicKeyFile"].strip()
    with LocalStore(str(store_root), trusted_public_keys=[public]) as store:
        for info, nar in _cache_nars():
            store.import_nar(info, io.BytesIO(nar), check_sigs=True)
            assert store.query_path_info(info.path).nar_hash == info.nar_hash
            assert nar_bytes(store, info.path) == nar
            assert store.query_path_info(info.path).signatures == info.signatures
        assert store.verify(check_contents=True) == []


def test_import_refuses_untrusted_and_wrong_nars(store: LocalStore) -> None:
    nars = _cache_nars()
    unsigned = [(i, n) for i, n in nars if not i.ca]
    info, nar = unsigned[0]
    if info.references - {info.path}:
        info, nar = next((i, n) for i, n in unsigned if not i.references - {i.path})
    with pytest.raises(StoreError, match="trusted key"):
        store.import_nar(info, io.BytesIO(nar), check_sigs=True)  # no trusted keys
    bad = bytearray(nar)
    bad[nar.index(b"contents") + 16] ^= 1  # the first byte of the file's contents
    with pytest.raises(StoreError, match="hash mismatch") as e:
        store.import_nar(info, io.BytesIO(bytes(bad)))
    assert Hash.parse(info.nar_hash).to_sri() in str(e.value)
    with pytest.raises(StoreError):
        store.import_nar(info, io.BytesIO(nar[:-8]))  # truncated
    assert not store.is_valid_path(info.path)
    assert [n for n in os.listdir(store.real_path("/nix/store")) if n != ".links"] == []
    # a wrong CA is caught even with the right hash
    ca_info, ca_nar = next((i, n) for i, n in nars if i.ca and i.ca.startswith("fixed:r"))
    from dataclasses import replace

    wrong_ca = replace(ca_info, ca="fixed:r:sha256:" + "0" * 52)
    with pytest.raises(StoreError, match="content address"):
        store.import_nar(wrong_ca, io.BytesIO(ca_nar))
    store.import_nar(ca_info, io.BytesIO(ca_nar), check_sigs=True)  # CA: no key needed


def test_import_consumes_exactly_one_nar(store: LocalStore, tmp_path: Path) -> None:
    rng = random.Random(5)
    stream = io.BytesIO()
    infos = []
    for i in range(3):
        src = random_tree(tmp_path / f"s{i}", rng)
        h, size = nar_hash_and_size(src)
        write_nar(src, stream)
        infos.append(PathInfo(make_store_path("output:out", rng.randbytes(32), f"p{i}"),
                              h.to_prefixed(), size))
    stream.write(b"trailer")
    stream.seek(0)
    store.import_nar(infos[0], stream)
    store.import_nar(infos[0], stream_at(stream, infos[0].nar_size))  # valid: skipped
    store.import_nar(infos[1], stream)
    store.import_nar(infos[1], stream_at(stream, infos[1].nar_size))
    store.import_nar(infos[2], stream)
    assert stream.read() == b"trailer"
    assert store.verify(check_contents=True) == []


def stream_at(stream: io.BytesIO, size: int) -> io.BytesIO:
    """The NAR just before the current position again (a copy to import twice)."""
    pos = stream.tell()
    return io.BytesIO(stream.getvalue()[pos - size : pos])


def test_signatures(store: LocalStore) -> None:
    key = SecretKey.generate("test-key")
    p = store.add_text_to_store("signed", b"data")
    info = store.query_path_info(p)
    from pynix.compat.narinfo import fingerprint

    sig = key.sign(fingerprint(p, Hash.parse(info.nar_hash), info.nar_size, info.references))
    store.add_signatures(p, [sig])
    store.add_signatures(p, [sig])
    assert store.query_path_info(p).signatures == {sig}


def test_open_store_chroot_layout(tmp_path: Path) -> None:
    with open_store(f"local?root={tmp_path}/r") as store:
        assert isinstance(store, LocalStore)
        p = store.add_text_to_store("x", b"x")
        assert p.startswith("/nix/store/")
        assert store.real_path(p) == f"{tmp_path}/r{p}"
        assert os.path.exists(f"{tmp_path}/r/nix/var/nix/pynix/db.sqlite")
        assert os.readlink(f"{tmp_path}/r/nix/var/nix/gcroots/profiles") == (
            f"{tmp_path}/r/nix/var/nix/profiles"
        )
        assert not os.path.exists(f"{tmp_path}/r/nix/var/nix/db")


def test_filter_runs_once_per_entry(store: LocalStore, fixtures_dir: Path) -> None:
    calls: list[str] = []

    def keep(path: str, kind: str) -> bool:
        calls.append(path)
        return True

    src = str(fixtures_dir / "tree-basic")
    store.add_to_store(src, filter=keep)
    assert len(calls) == len(set(calls)) > 0
