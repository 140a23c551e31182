from __future__ import annotations

import hashlib
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pynix.compat.derivation import (
    Derivation,
    DerivationError,
    DerivationHasher,
    DerivationOutput,
    derivation_path,
    fixed_output_modulo_text,
    hash_derivation_modulo,
    parse_derivation,
)
from pynix.compat.storepath import BadStorePath

from .vectors import load


def drv_vectors() -> list[dict[str, Any]]:
    vectors: list[dict[str, Any]] = load("derivations.json")["vectors"]
    return vectors


def vector(vid: str) -> dict[str, Any]:
    return next(v for v in drv_vectors() if v["id"] == vid)


def all_drv_texts() -> list[tuple[str, str]]:
    """Every (drvPath, text) in the vectors, including input closures."""
    seen: dict[str, str] = {}
    for v in drv_vectors():
        seen[v["drvPath"]] = v["drv"]
        seen.update(v["inputDrvClosure"])
    return sorted(seen.items())


def hasher_for(v: dict[str, Any]) -> DerivationHasher:
    closure = v["inputDrvClosure"]
    return DerivationHasher(lambda path: Derivation.parse(closure[path]))


def ids(v: dict[str, Any]) -> str:
    return str(v["id"])


# -- the ATerm ------------------------------------------------------------------------


@pytest.mark.parametrize(("path", "text"), all_drv_texts(), ids=[p for p, _ in all_drv_texts()])
def test_parse_print_round_trip(path: str, text: str) -> None:
    drv = Derivation.parse(text)
    assert drv.to_aterm() == text
    assert Derivation.parse(text.encode()).to_bytes() == text.encode()


@pytest.mark.parametrize(("path", "text"), all_drv_texts(), ids=[p for p, _ in all_drv_texts()])
def test_drv_path_from_text(path: str, text: str) -> None:
    assert derivation_path(Derivation.parse(text)) == path


def test_minimal_fields() -> None:
    drv = parse_derivation(vector("minimal")["drv"])
    assert drv.outputs == {
        "out": DerivationOutput("/nix/store/s5nvav9b8g8kczqzrn1n1npbvs31hgs4-minimal")
    }
    assert drv.input_drvs == {}
    assert drv.input_srcs == set()
    assert drv.platform == "x86_64-linux"
    assert drv.builder == "/bin/sh"
    assert drv.args == []
    assert drv.env["name"] == "minimal"
    assert drv.name == "minimal"


def test_escapes_are_decoded() -> None:
    drv = Derivation.parse(vector("escapes")["drv"])
    assert drv.env["backslash"] == "a\\b\\\\c"
    assert drv.env["cr"] == "a\rb"
    assert drv.env["tab"] == "a\tb"
    assert drv.env["newline"] == "l1\nl2\n"
    assert drv.env["quote"] == 'say "hi"'
    assert drv.env["dollar"] == "cost: ${notInterpolated} $HOME $$"
    assert drv.args == ["-c", "printf '%s\n' \"$quote\"", "with\ttab"]


def test_control_and_unicode_bytes_are_raw() -> None:
    assert Derivation.parse(vector("control-chars")["drv"]).env["esc"] == "a\x1bb\x07c\x7fd"
    assert Derivation.parse(vector("unicode")["drv"]).env["cjk"] == "日本語"


def test_env_sorts_by_bytes() -> None:
    drv = Derivation(env={"b": "", "a_b": "", "_a": "", "A": "", "1x": "", "a": "", "é": ""})
    order = [entry.split('"')[1] for entry in drv.to_aterm().split("[")[-1].split("),(")]
    assert order == ["1x", "A", "_a", "a", "a_b", "b", "é"]
    # Non-UTF-8 bytes (as surrogate escapes) still sort by their byte value.
    raw = b"\xff".decode("utf-8", "surrogateescape")
    drv = Derivation(env={raw: "", "\U0001f389": "", "z": ""})
    text = drv.to_bytes()
    assert text.index(b"z") < text.index("\U0001f389".encode()) < text.index(b"\xff")


def test_outputs_and_inputs_are_sorted() -> None:
    drv = Derivation(
        outputs={"out": DerivationOutput("/o"), "dev": DerivationOutput("/d")},
        input_drvs={"/nix/store/b.drv": {"z", "a"}, "/nix/store/a.drv": {"out"}},
        input_srcs={"/nix/store/y", "/nix/store/x"},
    )
    assert drv.to_aterm() == (
        'Derive([("dev","/d","",""),("out","/o","","")],'
        '[("/nix/store/a.drv",["out"]),("/nix/store/b.drv",["a","z"])],'
        '["/nix/store/x","/nix/store/y"],"","",[],[])'
    )


unicode_text = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]) | st.sampled_from('"\\\n\r\t'),
    max_size=30,
)


@given(
    st.dictionaries(unicode_text, unicode_text, max_size=6),
    st.lists(unicode_text, max_size=4),
    unicode_text,
)
def test_escaped_strings_round_trip(env: dict[str, str], args: list[str], builder: str) -> None:
    drv = Derivation(
        outputs={"out": DerivationOutput("/nix/store/x")},
        platform="x86_64-linux",
        builder=builder,
        args=args,
        env=env,
    )
    assert Derivation.parse(drv.to_aterm()) == drv
    assert Derivation.parse(drv.to_bytes()) == drv


@given(st.binary(max_size=30))
def test_arbitrary_bytes_round_trip(value: bytes) -> None:
    text = value.decode("utf-8", "surrogateescape")
    drv = Derivation(env={"v": text})
    assert Derivation.parse(drv.to_bytes()).env["v"].encode("utf-8", "surrogateescape") == value


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("x", "expected string 'Derive(['"),
        ("", "expected string 'Derive(['"),
        ("Derive([],[],[],", "expected string '\"'"),
        ('Derive([],[],[],"s","b",[],[])trailing', "trailing data"),
        ('Derive([],[],[],"s","b",[],[("a","b)])', "unterminated string"),
        ('Derive([],[],["relative"],"s","b",[],[])', "bad path 'relative'"),
        ('Derive([("out","rel","","")],[],[],"s","b",[],[])', "bad path 'rel'"),
        ('Derive([],[("x.drv",["out"])],[],"s","b",[],[])', "bad path 'x.drv'"),
        ('Derive([],[],[],"s","b",[],[("a")])', "expected string ','"),
        ('Derive([],[],[],"s","b",["a""b"],[])', "expected string ','"),
    ],
)
def test_parse_errors(text: str, message: str) -> None:
    with pytest.raises(DerivationError, match=message.replace("(", r"\(").replace("[", r"\[")):
        Derivation.parse(text)


def test_x_drv_name_vector() -> None:
    # builtins.toFile "x.drv" "x" fails in Nix because the store parses it.
    with pytest.raises(DerivationError, match=r"expected string 'Derive\(\['"):
        Derivation.parse("x")


# -- hashModulo and output paths -------------------------------------------------------


@pytest.mark.parametrize("v", drv_vectors(), ids=ids)
def test_output_paths_from_hash_modulo(v: dict[str, Any]) -> None:
    drv = Derivation.parse(v["drv"])
    filled = hasher_for(v).with_output_paths(drv)
    assert {name: o.path for name, o in filled.outputs.items()} == v["outputs"]
    assert filled.to_aterm() == v["drv"]
    if not drv.is_floating:
        assert v["defaultOutPath"] == v["outputs"][v["defaultOutputName"]]


@pytest.mark.parametrize("v", drv_vectors(), ids=ids)
def test_new_derivation_from_blank_outputs(v: dict[str, Any]) -> None:
    """What the evaluator does: outputs unknown -> fill -> the exact .drv and drvPath."""
    drv = Derivation.parse(v["drv"])
    blank = drv.masked()
    if drv.is_fixed_output:
        blank.outputs = {
            name: DerivationOutput("", o.hash_algo, o.hash) for name, o in drv.outputs.items()
        }
    elif drv.is_floating:
        blank = drv
    filled = hasher_for(v).with_output_paths(blank)
    assert filled.to_aterm() == v["drv"]
    assert derivation_path(filled) == v["drvPath"]


@pytest.mark.parametrize(
    "v", [v for v in drv_vectors() if "maskedDrv" in v.get("derived", {})], ids=ids
)
def test_masked_derivation(v: dict[str, Any]) -> None:
    drv = Derivation.parse(v["drv"])
    hasher = hasher_for(v)
    text = hasher.modulo_text(drv, mask_outputs=True)
    assert text == v["derived"]["maskedDrv"]
    assert hashlib.sha256(text.encode()).hexdigest() == v["derived"]["maskedDrvSha256"]
    result = hasher.hash(drv, mask_outputs=True)
    assert set(result.hashes) == set(drv.outputs)
    assert {h.hex() for h in result.hashes.values()} == {v["derived"]["maskedDrvSha256"]}
    assert not result.deferred


@pytest.mark.parametrize(
    "v", [v for v in drv_vectors() if "hashModulo" in v.get("derived", {})], ids=ids
)
def test_fixed_output_hash_modulo(v: dict[str, Any]) -> None:
    drv = Derivation.parse(v["drv"])
    assert drv.is_fixed_output
    assert fixed_output_modulo_text(drv.outputs["out"]) == v["derived"]["fixedOutputModuloString"]
    result = hash_derivation_modulo(drv, lambda p: pytest.fail(f"FOD inputs are not read: {p}"))
    assert result.hashes["out"].hex() == v["derived"]["hashModulo"]


def test_fod_builder_does_not_change_dependents() -> None:
    a, b = vector("dep-on-fod"), vector("dep-on-fod-other")
    assert a["drvPath"] != b["drvPath"]
    assert a["outputs"] == b["outputs"]
    fod_a = Derivation.parse(next(iter(a["inputDrvClosure"].values())))
    fod_b = Derivation.parse(next(iter(b["inputDrvClosure"].values())))
    assert fod_a.builder != fod_b.builder or fod_a.args != fod_b.args
    hash_a = hash_derivation_modulo(fod_a, lambda p: pytest.fail(p))
    hash_b = hash_derivation_modulo(fod_b, lambda p: pytest.fail(p))
    assert hash_a == hash_b


def test_inputs_are_read_once() -> None:
    v = vector("dep-chain")
    calls: list[str] = []

    def lookup(path: str) -> Derivation:
        calls.append(path)
        return Derivation.parse(v["inputDrvClosure"][path])

    hasher = DerivationHasher(lookup)
    drv = Derivation.parse(v["drv"])
    hasher.with_output_paths(drv)
    hasher.with_output_paths(drv)
    hasher.hash(drv, mask_outputs=True)
    assert sorted(calls) == sorted(v["inputDrvClosure"])


def test_diamond_dependencies() -> None:
    v = vector("dep-list-of-drvs")
    calls: list[str] = []
    closure = v["inputDrvClosure"]

    def lookup(path: str) -> Derivation:
        calls.append(path)
        return Derivation.parse(closure[path])

    assert (
        DerivationHasher(lookup).with_output_paths(Derivation.parse(v["drv"])).to_aterm()
        == v["drv"]
    )
    assert len(calls) == len(set(calls)) == len(closure)


def test_long_chains_do_not_recurse() -> None:
    drvs: dict[str, Derivation] = {}
    hasher = DerivationHasher(drvs.__getitem__)
    previous: str | None = None
    for i in range(3000):
        drv = Derivation(
            outputs={"out": DerivationOutput()},
            input_drvs={previous: {"out"}} if previous else {},
            platform="x86_64-linux",
            builder="/bin/sh",
            env={"name": f"c{i}", "out": ""},
        )
        filled = hasher.with_output_paths(drv)
        previous = derivation_path(filled)
        drvs[previous] = filled
    assert previous is not None
    assert len(DerivationHasher(drvs.__getitem__).hash_path(previous).hashes["out"]) == 32


def test_dependency_cycles_are_errors() -> None:
    loop = "/nix/store/00000000000000000000000000000000-loop.drv"
    drv = Derivation(outputs={"out": DerivationOutput("/nix/store/x")}, input_drvs={loop: {"out"}})
    with pytest.raises(DerivationError, match="depends on itself"):
        DerivationHasher(lambda _: drv).hash_path(loop)


def test_missing_input_output_is_an_error() -> None:
    v = vector("dep-simple")
    drv = Derivation.parse(v["drv"])
    (path,) = drv.input_drvs
    drv.input_drvs[path] = {"doc"}
    with pytest.raises(DerivationError, match="does not have output 'doc'"):
        hasher_for(v).hash(drv)


def test_inputs_with_equal_hash_modulo_merge() -> None:
    # Two FODs with the same content hash and path hash the same, so they
    # become one entry in the modulo ATerm.
    a, b = vector("dep-on-fod"), vector("dep-on-fod-other")
    closure = {**a["inputDrvClosure"], **b["inputDrvClosure"]}
    hasher = DerivationHasher(lambda p: Derivation.parse(closure[p]))
    drv = Derivation.parse(a["drv"])
    drv.input_drvs.update({p: {"out"} for p in b["inputDrvClosure"]})
    text = hasher.modulo_text(drv, mask_outputs=True)
    assert text.count('",["out"])') == 1


def test_floating_ca_outputs_stay_unknown_and_defer_dependents() -> None:
    v = vector("ca-floating")
    ca = Derivation.parse(v["drv"])
    assert ca.is_floating and not ca.is_fixed_output
    assert {o.kind for o in ca.outputs.values()} == {"floating"}
    ca_path = v["drvPath"]
    hasher = DerivationHasher(lambda p: {ca_path: ca}[p])
    assert hasher.with_output_paths(ca).to_aterm() == v["drv"]
    assert hasher.hash_path(ca_path).deferred
    dependent = Derivation(
        outputs={"out": DerivationOutput()},
        input_drvs={ca_path: {"out"}},
        platform="x86_64-linux",
        builder="/bin/sh",
        env={"name": "dep", "out": ""},
    )
    filled = hasher.with_output_paths(dependent)
    assert filled.outputs["out"].path == ""
    assert filled.outputs["out"].kind == "deferred"


def test_output_kinds() -> None:
    assert DerivationOutput("/p").kind == "input-addressed"
    assert DerivationOutput("/p", "r:sha256", "00").kind == "fixed"
    assert DerivationOutput("", "sha256", "").kind == "floating"
    assert DerivationOutput().kind == "deferred"
    assert DerivationOutput("/p", "r:sha1", "00").recursive


def test_name_from_structured_attrs() -> None:
    drv = Derivation.parse(vector("structured-attrs")["drv"])
    assert "name" not in drv.env
    assert drv.name == "structured"
    with pytest.raises(DerivationError, match="no 'name'"):
        _ = Derivation().name


def test_references_are_a_union() -> None:
    drv = Derivation.parse(vector("drvpath-context")["drv"])
    assert drv.references == set(drv.input_srcs) == set(drv.input_drvs)


def test_longest_name() -> None:
    v = vector("long-name")
    drv = Derivation.parse(v["drv"])
    assert len(drv.name) == 207
    assert derivation_path(drv) == v["drvPath"]
    drv.env["name"] += "x"
    with pytest.raises(BadStorePath, match="longer than 211"):
        derivation_path(drv)


def test_masked_copy_is_independent() -> None:
    drv = Derivation.parse(vector("dep-simple")["drv"])
    masked = drv.masked()
    masked.input_srcs.add("/nix/store/x")
    masked.env["new"] = "1"
    assert "/nix/store/x" not in drv.input_srcs and "new" not in drv.env
    assert masked.outputs["out"] == DerivationOutput()
    assert masked.env["out"] == ""
