from __future__ import annotations

import base64
import hashlib

import pytest

from pynix.compat import nixbase32
from pynix.compat.contentaddress import BadContentAddress, ContentAddress
from pynix.compat.hashing import BadHash, Hash, hash_bytes
from pynix.compat.nar_reader import parse_nar
from pynix.compat.narinfo import BadNarInfo, NarInfo, fingerprint
from pynix.compat.signing import PublicKey, SecretKey
from pynix.compat.storepath import StorePath

from .vectors import load

V = load("narinfo.json")


def narinfos() -> list[tuple[str, str, str]]:
    """(cache, file name, text) for every narinfo of every cache."""
    return [
        (cache, name, text)
        for cache, contents in V["caches"].items()
        for name, text in contents["narinfo"].items()
    ]


def narinfo_ids() -> list[str]:
    return [f"{cache}/{name}" for cache, name, _ in narinfos()]


@pytest.mark.parametrize(("cache", "name", "text"), narinfos(), ids=narinfo_ids())
def test_parse_format_round_trip(cache: str, name: str, text: str) -> None:
    info = NarInfo.parse(text, where=name)
    assert info.to_text() == text
    assert f"{info.hash_part}.narinfo" == name
    assert info.url.startswith("nar/")


@pytest.mark.parametrize(("cache", "name", "text"), narinfos(), ids=narinfo_ids())
def test_every_signature_verifies(cache: str, name: str, text: str) -> None:
    info = NarInfo.parse(text)
    public = PublicKey.parse(V["publicKeyFile"])
    assert info.sigs
    assert info.is_signed_by([public])
    for sig in info.sigs:
        assert public.verify(info.fingerprint(), sig)


@pytest.mark.parametrize("v", V["fingerprints"], ids=lambda v: v["narinfo"])
def test_fingerprints_and_signatures(v: dict[str, str]) -> None:
    info = NarInfo.parse(V["caches"]["cache-none"]["narinfo"][v["narinfo"]])
    assert info.fingerprint() == v["fingerprint"]
    assert (
        fingerprint(info.store_path, info.nar_hash, info.nar_size, info.reference_paths())
        == v["fingerprint"]
    )
    secret = SecretKey.parse(V["secretKeyFile"])
    public = PublicKey.parse(V["publicKeyFile"])
    assert secret.sign(v["fingerprint"]) == v["sig"]  # ed25519 is deterministic
    assert public.verify(v["fingerprint"], v["sig"])
    assert v["sig"] in info.sigs


def test_spec_fingerprint_example() -> None:
    info = NarInfo.parse(
        V["caches"]["cache-xz"]["narinfo"]["d1jvy9azma577vfsinx1ybxhdawy7gin.narinfo"]
    )
    assert info.fingerprint() == (
        "1;/nix/store/d1jvy9azma577vfsinx1ybxhdawy7gin-narinfo-pkg;"
        "sha256:1b0s9spw74przrvh7zq2ppx82rpikbhkfgzybf7fplpxqvzp0k06;240;"
        "/nix/store/d1jvy9azma577vfsinx1ybxhdawy7gin-narinfo-pkg,"
        "/nix/store/qsynz3hiack49j89yzls6id6hv82irim-narinfo-dep"
    )


def test_signing_reproduces_the_narinfo() -> None:
    secret = SecretKey.parse(V["secretKeyFile"])
    for _, _, text in narinfos():
        info = NarInfo.parse(text)
        sigs = list(info.sigs)
        info.sigs.clear()
        info.sign(secret)
        info.sign(secret)  # signing twice adds nothing
        assert info.sigs == sigs
        assert info.to_text() == text


def test_tampering_breaks_the_signature() -> None:
    public = PublicKey.parse(V["publicKeyFile"])
    text = V["caches"]["cache-none"]["narinfo"]["qsynz3hiack49j89yzls6id6hv82irim.narinfo"]
    info = NarInfo.parse(text)
    info.nar_size += 1
    assert not info.is_signed_by([public])
    info = NarInfo.parse(text)
    info.references.append("d1jvy9azma577vfsinx1ybxhdawy7gin-narinfo-pkg")
    assert not info.is_signed_by([public])
    # The deriver and the CA are not signed.
    info = NarInfo.parse(text)
    info.deriver = None
    info.ca = "text:sha256:" + "0" * 52
    assert info.is_signed_by([public])
    assert not info.is_signed_by([SecretKey.generate("test-cache-1").public_key()])
    assert not info.is_signed_by([])


def test_uncompressed_nars_match_their_narinfos() -> None:
    nars = {name: base64.b64decode(data) for name, data in V["uncompressedNars_b64"].items()}
    assert sorted(nars) == sorted(V["caches"]["cache-none"]["narFiles"])
    for _, _, text in narinfos():
        info = NarInfo.parse(text)
        if info.compression != "none":
            continue
        data = nars[info.url.removeprefix("nar/")]
        assert len(data) == info.nar_size == info.file_size
        digest = hashlib.sha256(data).digest()
        assert Hash("sha256", digest) == info.nar_hash == info.file_hash
        assert info.url == f"nar/{nixbase32.encode(digest)}.nar"
        parse_nar(data)


def test_content_addresses_give_the_store_paths() -> None:
    checked = 0
    for _, _, text in narinfos():
        info = NarInfo.parse(text)
        if info.ca is None:
            continue
        assert info.deriver is None
        ca = ContentAddress.parse(info.ca)
        assert str(ca) == info.ca
        sp = StorePath.parse(info.store_path)
        assert ca.store_path(sp.name, info.reference_paths()) == info.store_path
        checked += 1
    assert checked == 3


def test_path_info_json_agrees() -> None:
    by_path = {NarInfo.parse(t).store_path: NarInfo.parse(t) for _, _, t in narinfos()}
    for entry in V["pathInfoJson"]:
        info = by_path[entry["path"]]
        assert Hash.parse(entry["narHash"]) == info.nar_hash
        assert entry["narHash"] == info.nar_hash.to_sri()
        assert entry["narSize"] == info.nar_size
        assert entry["references"] == info.reference_paths()
        assert entry["signatures"] == info.sigs
        assert entry.get("ca") == info.ca
        deriver = entry.get("deriver")
        assert deriver == (f"/nix/store/{info.deriver}" if info.deriver else None)


def test_cache_info_text() -> None:
    assert V["nixCacheInfo"] == "StoreDir: /nix/store\n"


# -- parsing leniency and errors --------------------------------------------------------

MINIMAL = (
    "StorePath: /nix/store/qsynz3hiack49j89yzls6id6hv82irim-narinfo-dep\n"
    "URL: nar/x.nar\n"
    "NarHash: sha256:13w19wwvpfqyfq1fixzqjphj7dil4vlv9gada02f9kpl04qnmkw4\n"
    "NarSize: 128\n"
)


def test_defaults_and_unknown_keys() -> None:
    info = NarInfo.parse(MINIMAL + "Future: thing\nReferences:\nDeriver: unknown-deriver\n")
    assert info.compression == "bzip2"
    assert info.references == []
    assert info.deriver is None
    assert info.file_hash is None and info.file_size is None
    assert "Future" not in info.to_text()
    assert info.to_text() == (
        "StorePath: /nix/store/qsynz3hiack49j89yzls6id6hv82irim-narinfo-dep\n"
        "URL: nar/x.nar\n"
        "Compression: bzip2\n"
        "NarHash: sha256:13w19wwvpfqyfq1fixzqjphj7dil4vlv9gada02f9kpl04qnmkw4\n"
        "NarSize: 128\n"
        "References: \n"
    )


def test_other_hash_forms_are_read() -> None:
    h = Hash.parse("sha256:13w19wwvpfqyfq1fixzqjphj7dil4vlv9gada02f9kpl04qnmkw4")
    for form in (h.to_sri(), "sha256:" + h.to_base16()):
        info = NarInfo.parse(MINIMAL.replace(h.to_prefixed(), form))
        assert info.nar_hash == h


def test_system_line_order() -> None:
    info = NarInfo.parse(MINIMAL + "System: x86_64-linux\nSig: k:s\nCA: text:sha256:x\n")
    lines = info.to_text().splitlines()
    assert lines[-3:] == ["System: x86_64-linux", "Sig: k:s", "CA: text:sha256:x"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (MINIMAL.replace("StorePath", "Path"), "lacks StorePath"),
        (MINIMAL.replace("URL", "Url"), "lacks URL"),
        (MINIMAL.replace("NarHash", "Hash"), "lacks NarHash"),
        (MINIMAL.replace("NarSize: 128", "NarSize: lots"), "not a size"),
        (MINIMAL.replace("NarSize: 128", "NarSize: 0"), "NarSize is 0"),
        (MINIMAL.replace("NarSize: 128", "NarSize: -1"), "not a size"),
        (MINIMAL.replace("sha256:13w", "sha256:e3w"), "invalid base-32"),
        (MINIMAL.replace("sha256:", ""), "does not include a type"),
        (MINIMAL.replace("/nix/store/", "/usr/"), "not in the Nix store"),
        (MINIMAL + "References: not-a-path\n", "too short"),
        (MINIMAL + "Deriver: x y\n", "too short"),
        (MINIMAL + "garbage line\n", "not 'Key: value'"),
    ],
)
def test_corrupt_narinfos(text: str, message: str) -> None:
    with pytest.raises(BadNarInfo, match=message) as info:
        NarInfo.parse(text, where="x.narinfo")
    assert "NAR info file 'x.narinfo' is corrupt" in str(info.value)


def test_fingerprint_needs_sha256() -> None:
    with pytest.raises(BadHash):
        fingerprint("/nix/store/x", hash_bytes("sha1", b""), 1, [])


# -- content addresses ------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "text:sha256:0177g6w34rw6zpfwjahadp7ay10xgixs4jrcckldpq216m9a84sb",
        "fixed:r:sha256:1kky6dc5n4sjgmxja7hnbzc718hf0anqj3qc3l9w9gwcifd3fjaq",
        "fixed:sha256:1x9gyyamm7d9p2hm06hx9vx6gm4sd1mksxqlqfxaajl44i34q0fr",
        "fixed:r:sha1:" + nixbase32.encode(bytes(20)),
        "fixed:md5:" + nixbase32.encode(bytes(16)),
    ],
)
def test_content_address_round_trip(text: str) -> None:
    assert str(ContentAddress.parse(text)) == text


@pytest.mark.parametrize(
    "text", ["", "source:sha256:x", "fixed:sha256", "fixed:sha256:zz", "text:sha1:" + "0" * 32]
)
def test_bad_content_addresses(text: str) -> None:
    with pytest.raises(BadContentAddress):
        ContentAddress.parse(text)
