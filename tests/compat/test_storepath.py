from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest

from pynix.compat import nixbase32
from pynix.compat.derivation import (
    Derivation,
    DerivationHasher,
    DerivationOutput,
    derivation_path,
)
from pynix.compat.hashing import HASH_ALGOS, Hash, compress_hash, hash_bytes, hash_file
from pynix.compat.nar import nar_hash
from pynix.compat.storepath import (
    MAX_NAME_LEN,
    BadStorePath,
    StorePath,
    check_name,
    fixed_output_inner,
    is_store_path,
    is_valid_name,
    make_fixed_output_path,
    make_output_path,
    make_source_path,
    make_store_path,
    make_text_path,
    make_text_path_for,
    output_path_name,
    split_store_path,
    store_path_fingerprint,
)

from .vectors import load

HASH = "ij3gw72f4n5z4dz6nnzl1731p9kmjbwr"


def add_vectors() -> list[dict[str, Any]]:
    vectors: list[dict[str, Any]] = load("store-paths.json")["add"]
    return vectors


# -- nix-store --add / --add-fixed ---------------------------------------------


@pytest.mark.parametrize("v", add_vectors(), ids=lambda v: v["fixture"])
def test_add_is_a_source_path(v: dict[str, Any], fixtures_dir: Path) -> None:
    digest = nar_hash(fixtures_dir / v["fixture"]).digest
    assert make_source_path(v["name"], digest) == v["add"]


@pytest.mark.parametrize("v", add_vectors(), ids=lambda v: v["fixture"])
@pytest.mark.parametrize("algo", HASH_ALGOS)
def test_add_fixed_recursive(v: dict[str, Any], algo: str, fixtures_dir: Path) -> None:
    h = nar_hash(fixtures_dir / v["fixture"], algo)
    assert make_fixed_output_path(v["name"], h, recursive=True) == v[f"addFixedRecursive_{algo}"]


@pytest.mark.parametrize(
    "v", [v for v in add_vectors() if "addFixedFlat_sha256" in v], ids=lambda v: v["fixture"]
)
@pytest.mark.parametrize("algo", HASH_ALGOS)
def test_add_fixed_flat(v: dict[str, Any], algo: str, fixtures_dir: Path) -> None:
    h = hash_file(algo, fixtures_dir / v["fixture"])
    assert make_fixed_output_path(v["name"], h, recursive=False) == v[f"addFixedFlat_{algo}"]


def test_recursive_sha256_equals_plain_add() -> None:
    for v in add_vectors():
        assert v["add"] == v["addFixedRecursive_sha256"]


@pytest.mark.parametrize("v", load("store-paths.json")["fingerprints"], ids=lambda v: v["what"])
def test_derived_fingerprints(v: dict[str, Any]) -> None:
    sp = StorePath.parse(v["storePath"])
    kind, _, rest = v["fingerprint"].partition(":sha256:")
    inner_hex = rest.split(":", 1)[0]
    assert store_path_fingerprint(kind, bytes.fromhex(inner_hex), sp.name) == v["fingerprint"]
    assert make_store_path(kind, bytes.fromhex(inner_hex), sp.name) == v["storePath"]
    if "innerString" in v:
        algo_field = v["innerString"].split(":")[2:-2]
        recursive = algo_field[0] == "r"
        algo = algo_field[-1]
        digest = bytes.fromhex(v["innerString"].split(":")[-2])
        h = Hash(algo, digest)
        assert fixed_output_inner(h, recursive) == v["innerString"]
        assert hashlib.sha256(v["innerString"].encode()).hexdigest() == v["innerHash_base16"]
        assert make_fixed_output_path(sp.name, h, recursive) == v["storePath"]


# -- evaluation results that are pure store-path math -------------------------------


def eval_vector(vid: str) -> dict[str, Any]:
    for v in load("store-paths.json")["eval"]:
        if v["id"] == vid:
            result: dict[str, Any] = v
            return result
    raise KeyError(vid)


def test_to_file_paths() -> None:
    assert (
        make_text_path_for("hello.txt", "Hello, world!\n") == eval_vector("toFile-simple")["result"]
    )
    assert make_text_path_for("empty", "") == eval_vector("toFile-empty")["result"]
    assert make_text_path_for("uni.txt", "héllo ✓\n") == eval_vector("toFile-unicode")["result"]
    a = make_text_path_for("a.txt", "A")
    assert make_text_path_for("b.sh", f"cat {a}\n", [a]) == eval_vector("toFile-with-ref")["result"]
    z = make_text_path_for("zz.txt", "Z")
    c = make_text_path_for("c.sh", f"cat {z} {a}\n", [z, a, z])
    assert c == eval_vector("toFile-with-two-refs")["result"]


def test_to_file_with_source_reference(fixtures_dir: Path) -> None:
    src = make_source_path("srcdir", nar_hash(fixtures_dir / "srcdir").digest)
    path = make_text_path_for("uses-src", f"src is {src}", [src])
    assert path == eval_vector("toFile-with-path-ref")["result"]


@pytest.mark.parametrize(
    ("vid", "fixture"),
    [
        ("path-literal-file", "hello.txt"),
        ("path-literal-dir", "srcdir"),
        ("path-literal-exec", "exec-script.sh"),
        ("path-literal-symlink", "link-rel"),
        ("path-literal-empty-dir", "empty-dir"),
        ("path-literal-tree-basic", "tree-basic"),
        ("builtins-path-default", "srcdir"),
        ("filterSource-all", "srcdir"),
    ],
)
def test_path_literals(vid: str, fixture: str, fixtures_dir: Path) -> None:
    digest = nar_hash(fixtures_dir / fixture).digest
    assert make_source_path(fixture, digest) == eval_vector(vid)["result"]


def test_builtins_path_variants(fixtures_dir: Path) -> None:
    srcdir = fixtures_dir / "srcdir"
    named = make_source_path("source", nar_hash(srcdir).digest)
    assert named == eval_vector("builtins-path-name")["result"]

    no_logs = nar_hash(srcdir, path_filter=lambda p: not p.endswith(".log")).digest
    assert (
        make_source_path("filtered", no_logs) == eval_vector("builtins-path-filter-log")["result"]
    )

    no_sub = nar_hash(
        srcdir, path_filter=lambda p: not (Path(p).is_dir() and Path(p).name == "sub")
    ).digest
    assert make_source_path("srcdir", no_sub) == eval_vector("filterSource-no-sub")["result"]

    flat = hash_file("sha256", fixtures_dir / "hello.txt")
    assert flat.to_nix32() == "1x9gyyamm7d9p2hm06hx9vx6gm4sd1mksxqlqfxaajl44i34q0fr"
    assert (
        make_fixed_output_path("hello.txt", flat, False)
        == eval_vector("builtins-path-flat")["result"]
    )
    assert (
        make_fixed_output_path("h", flat, False)
        == eval_vector("builtins-path-flat-sha256")["result"]
    )


@pytest.mark.parametrize("output", ["out", "dev", "bin"])
def test_placeholders(output: str) -> None:
    digest = hashlib.sha256(f"nix-output:{output}".encode()).digest()
    assert "/" + nixbase32.encode(digest) == eval_vector(f"placeholder-{output}")["result"]


def test_hash_file_eval_vector(fixtures_dir: Path) -> None:
    assert (
        hash_file("sha256", fixtures_dir / "hello.txt").to_base16()
        == eval_vector("hashFile-sha256")["result"]
    )
    assert hash_bytes("sha256", "abc").to_base16() == eval_vector("hashString-sha256")["result"]


def test_derivation_interpolation_eval_vector() -> None:
    v = eval_vector("drv-outPath-interp")
    drv = Derivation(
        outputs={"out": DerivationOutput()},
        platform="x86_64-linux",
        builder="/bin/sh",
        env={"builder": "/bin/sh", "name": "x", "out": "", "system": "x86_64-linux"},
    )
    filled = DerivationHasher(lambda p: pytest.fail(p)).with_output_paths(drv)
    assert filled.outputs["out"].path == v["result"]
    assert list(v["context"]) == [derivation_path(filled)]


# -- names -----------------------------------------------------------------------


@pytest.mark.parametrize("v", load("store-paths.json")["names"], ids=lambda v: repr(v["name"][:20]))
def test_names(v: dict[str, Any]) -> None:
    name = v["name"]
    if name == "x.drv":
        # A valid name; Nix fails because the store parses .drv files.
        assert is_valid_name(name)
        return
    assert is_valid_name(name) == v["validForToFile"]
    if v["validForToFile"]:
        # The vectors were made with builtins.toFile name "x".
        assert make_text_path_for(name, "x") == v["toFileResult"]
        return
    with pytest.raises(BadStorePath) as info:
        make_text_path_for(name, "x")
    expected = v["error"].removeprefix("error: ")
    if name == "ü":
        # Nix prints the first raw byte of the UTF-8 sequence; we print the character.
        assert str(info.value) == expected.replace("'\ufffd'", "'ü'")
    else:
        assert str(info.value) == expected


def test_name_length_limit() -> None:
    assert is_valid_name("a" * MAX_NAME_LEN)
    assert not is_valid_name("a" * (MAX_NAME_LEN + 1))
    assert MAX_NAME_LEN == 211
    with pytest.raises(BadStorePath, match="has a name longer than 211 characters"):
        check_name("a" * 212)


@pytest.mark.parametrize("name", [".hidden", ".", "..", "-x", "A-Z_a-z.0-9+?=", "foo-1.0"])
def test_names_nix_2_8_accepts(name: str) -> None:
    assert is_valid_name(name)


@pytest.mark.parametrize("name", ["", "a b", "a/b", "a\0b", "a\nb", "ü", "a*", "a&b", "a!b", "~"])
def test_names_rejected(name: str) -> None:
    assert not is_valid_name(name)
    with pytest.raises(BadStorePath):
        check_name(name)


# -- parsing paths -----------------------------------------------------------------


def test_parse_store_path() -> None:
    sp = StorePath.parse(f"/nix/store/{HASH}-empty-file")
    assert sp.hash_part == HASH
    assert sp.name == "empty-file"
    assert sp.base_name == f"{HASH}-empty-file"
    assert str(sp) == sp.base_name
    assert sp.to_path() == f"/nix/store/{HASH}-empty-file"
    assert sp.to_path("/other") == f"/other/{HASH}-empty-file"
    assert not sp.is_derivation
    assert StorePath.parse(f"/nix/store/{HASH}-x.drv").is_derivation
    assert StorePath.parse(f"/nix/store/{HASH}-empty-file/") == sp
    assert StorePath.parse(f"/s/{HASH}-a", store_dir="/s") == StorePath(HASH, "a")


@pytest.mark.parametrize(
    ("path", "message"),
    [
        (f"/nix/var/{HASH}-a", "is not in the Nix store"),
        (f"/nix/store/{HASH}-a/bin", "is not in the Nix store"),
        ("/nix/store", "is not in the Nix store"),
        ("/nix/store/short", "is too short to be a valid store path"),
        (f"/nix/store/{HASH}", "is too short"),
        (f"/nix/store/{HASH}_a", "lacks a '-'"),
        ("/nix/store/" + "e" * 32 + "-a", "illegal base-32 character 'e'"),
        ("/nix/store/" + "A" * 32 + "-a", "illegal base-32 character 'A'"),
        (f"/nix/store/{HASH}-", "has an empty name"),
        (f"/nix/store/{HASH}-a b", "contains illegal character ' '"),
    ],
)
def test_parse_rejects(path: str, message: str) -> None:
    with pytest.raises(BadStorePath, match=message):
        StorePath.parse(path)
    assert not is_store_path(path)


def test_store_path_constructor_validates() -> None:
    with pytest.raises(BadStorePath):
        StorePath("x" * 31, "a")
    with pytest.raises(BadStorePath):
        StorePath(HASH, "")


def test_split_store_path() -> None:
    sp, rest = split_store_path(f"/nix/store/{HASH}-bash/bin/sh")
    assert sp == StorePath(HASH, "bash")
    assert rest == "/bin/sh"
    assert split_store_path(f"/nix/store/{HASH}-bash") == (sp, "")
    with pytest.raises(BadStorePath):
        split_store_path("/usr/bin/sh")


def test_store_dir_takes_part_in_the_hash() -> None:
    digest = bytes(32)
    assert make_source_path("a", digest) != make_source_path("a", digest, store_dir="/gnu/store")
    assert make_source_path("a", digest, store_dir="/gnu/store").startswith("/gnu/store/")


# -- the kinds of paths --------------------------------------------------------------


def test_text_path_references_are_a_sorted_set() -> None:
    a = make_text_path_for("a", "a")
    b = make_text_path_for("b", "b")
    digest = hashlib.sha256(b"c").digest()
    assert make_text_path("c", digest, [b, a]) == make_text_path("c", digest, [a, b, a])
    assert make_text_path("c", digest, [a]) != make_text_path("c", digest)


def test_source_path_with_references_and_self() -> None:
    ref = make_text_path_for("a", "a")
    digest = hashlib.sha256(b"nar").digest()
    plain = make_source_path("s", digest)
    with_ref = make_source_path("s", digest, [ref])
    with_self = make_source_path("s", digest, [ref], self_reference=True)
    assert len({plain, with_ref, with_self}) == 3
    fingerprint = store_path_fingerprint(f"source:{ref}:self", digest, "s")
    folded = hashlib.sha256(fingerprint.encode()).digest()
    assert with_self.split("/")[-1].split("-")[0] == nixbase32.encode(compress_hash(folded, 20))


def test_fixed_output_paths_cannot_have_references_unless_source() -> None:
    ref = make_text_path_for("a", "a")
    h = hash_bytes("sha1", b"x")
    with pytest.raises(BadStorePath):
        make_fixed_output_path("f", h, recursive=True, references=[ref])
    with pytest.raises(BadStorePath):
        make_fixed_output_path("f", hash_bytes("sha256", b"x"), recursive=False, references=[ref])
    sha = hash_bytes("sha256", b"x")
    assert make_fixed_output_path("f", sha, True, [ref]) == make_source_path("f", sha.digest, [ref])


def test_output_paths() -> None:
    assert output_path_name("hello", "out") == "hello"
    assert output_path_name("hello", "dev") == "hello-dev"
    # The spec's `minimal` example.
    digest = bytes.fromhex("f4c3d0b03a1be44f83c3abb1960851c3c3bbb3e6389b904dc8ed76c8196c672c")
    assert (
        make_output_path("out", digest, "minimal")
        == "/nix/store/s5nvav9b8g8kczqzrn1n1npbvs31hgs4-minimal"
    )
    with pytest.raises(BadStorePath, match="longer than 211"):
        make_output_path("dev", digest, "n" * 208)
