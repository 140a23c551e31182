"""Builtins that need a store, against Nix 2.8.

* every derivation of ``vectors/derivations.json``: drvPath, output paths and
  the exact ``.drv`` text of it and of every derivation it needs;
* the ``eval``, ``names`` and ``add`` entries of ``vectors/store-paths.json``;
* a differential test against the real ``nix-instantiate --eval --strict
  --json`` (read-only mode, which computes paths without writing them).
"""

from __future__ import annotations

import base64
import io
import json
import os
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import pytest

import needs
from pynix.cli.instantiate import run as pynix_run
from pynix.lang.builtins.context import context_info
from pynix.lang.errors import NixError
from pynix.lang.evaluator import Evaluator
from pynix.lang.runtime import deep_force, force
from pynix.lang.store_api import ComputingStore
from pynix.lang.values import NixStr, from_text, to_bytes

VECTORS = Path(__file__).resolve().parents[1] / "data" / "vectors"


@cache
def load(name: str) -> Any:
    with open(VECTORS / name, encoding="utf-8") as f:
        return json.load(f)


def build_node(node: dict[str, Any], path: Path) -> None:
    kind = node["type"]
    if kind == "regular":
        path.write_bytes(base64.b64decode(node["contents_b64"]))
        path.chmod(0o755 if node["executable"] else 0o644)
    elif kind == "symlink":
        os.symlink(node["target"], path)
    else:
        path.mkdir()
        path.chmod(0o755)
        for name, child in node["entries"].items():
            build_node(child, path / name)


@pytest.fixture(scope="module")
def vector_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory laid out like ``vectors/``: ``fixtures/`` rebuilt from fixtures.json."""
    root = tmp_path_factory.mktemp("store-vectors").resolve()
    (root / "fixtures").mkdir()
    for name, node in load("fixtures.json")["fixtures"].items():
        build_node(node, root / "fixtures" / name)
    return root


def evaluator(cwd: Path, **kwargs: Any) -> Evaluator:
    store = ComputingStore(check_derivations=True, keep_derivations=True)
    return Evaluator(cwd=str(cwd), store=store, env={"HOME": str(cwd)}, stderr=io.BytesIO(),
                     **kwargs)


def plain(v: Any) -> Any:
    """A forced Nix value as plain Python data (strings without context)."""
    v = force(v)
    if isinstance(v, list):
        return [plain(x) for x in v]
    if isinstance(v, dict):
        return {k: plain(x) for k, x in v.items()}
    return str(v) if isinstance(v, str) else v


def text_of(ev: Evaluator, path: str) -> str:
    """The text the evaluator stored at ``path``, as Unicode."""
    store = ev.store
    assert isinstance(store, ComputingStore)
    return to_bytes(store.texts[path][0]).decode("utf-8", "surrogateescape")


# ---------------------------------------------------------------------------
# derivations.json

DRV_VECTORS = load("derivations.json")["vectors"]


@pytest.mark.parametrize("vec", DRV_VECTORS, ids=[v["id"] for v in DRV_VECTORS])
def test_derivation_vector(vec: dict[str, Any], vector_dir: Path) -> None:
    ev = evaluator(vector_dir)
    if vec["id"] == "ca-floating":
        ev.experimental_features = {"ca-derivations"}  # type: ignore[attr-defined]
    nix_file = vector_dir / f"{vec['id']}.nix"
    nix_file.write_text(vec["expr"], encoding="utf-8")
    drv = force(ev.import_file(from_text(str(nix_file))))

    drv_path = force(drv["drvPath"])
    assert drv_path == vec["drvPath"]
    assert force(drv["outPath"]) == vec["defaultOutPath"]
    assert force(drv["outputName"]) == vec["defaultOutputName"]
    for output, path in vec["outputs"].items():
        if path:
            assert force(force(drv[output])["outPath"]) == path
    assert text_of(ev, drv_path) == vec["drv"]
    for path, text in vec["inputDrvClosure"].items():
        assert text_of(ev, path) == text, path
    assert isinstance(ev.stderr, io.BytesIO)
    stderr = ev.stderr.getvalue().decode()
    for warning in vec.get("warnings", []):
        assert warning in stderr


def test_derivation_result_contexts(vector_dir: Path) -> None:
    ev = evaluator(vector_dir)
    v = ev.eval_string(
        'derivationStrict { name = "x"; system = "s"; builder = "b"; outputs = [ "out" "dev" ]; }'
    )
    drv_path = force(v["drvPath"])
    assert type(drv_path) is NixStr
    assert drv_path.ctx == frozenset(["=" + drv_path.s])
    assert sorted(v) == ["dev", "drvPath", "out"]
    for output in ("out", "dev"):
        assert force(v[output]).ctx == frozenset([f"!{output}!{drv_path.s}"])


# ---------------------------------------------------------------------------
# store-paths.json

STORE_PATHS = load("store-paths.json")


@pytest.mark.parametrize("vec", STORE_PATHS["eval"], ids=[v["id"] for v in STORE_PATHS["eval"]])
def test_store_path_eval(vec: dict[str, Any], vector_dir: Path) -> None:
    ev = evaluator(vector_dir)
    if "error" in vec:
        with pytest.raises(NixError) as info:
            deep_force(ev.eval_string(from_text(vec["expr"])))
        assert "error: " + info.value.msg == vec["error"]
        return
    v = deep_force(ev.eval_string(from_text(vec["expr"])))
    assert v == vec["result"]
    ctx = v.ctx if type(v) is NixStr else frozenset()
    assert context_info(ctx) == vec["context"]


@pytest.mark.parametrize("vec", STORE_PATHS["names"], ids=[v["name"] for v in STORE_PATHS["names"]])
def test_to_file_names(vec: dict[str, Any], vector_dir: Path) -> None:
    ev = evaluator(vector_dir)
    expr = f"builtins.toFile {json.dumps(vec['name'], ensure_ascii=False)} \"x\""
    if vec["validForToFile"]:
        assert deep_force(ev.eval_string(from_text(expr))) == vec["toFileResult"]
    else:
        with pytest.raises(NixError) as info:
            deep_force(ev.eval_string(from_text(expr)))
        assert "error: " + info.value.msg == vec["error"]


ADD = STORE_PATHS["add"]


@pytest.mark.parametrize("vec", ADD, ids=[v["fixture"] for v in ADD])
def test_add_as_builtins_path(vec: dict[str, Any], vector_dir: Path) -> None:
    """``nix-store --add`` and ``--add-fixed`` give the paths ``builtins.path`` computes."""
    ev = evaluator(vector_dir)
    path = f"./fixtures/{vec['fixture']}"
    assert ev.eval_string(f"builtins.path {{ path = {path}; }}") == vec["add"]
    assert ev.eval_string(f'"${{{path}}}"') == vec["add"]
    assert vec["addFixedRecursive_sha256"] == vec["add"]
    if "addFixedFlat_sha256" in vec:
        flat = ev.eval_string(f"builtins.path {{ path = {path}; recursive = false; }}")
        assert flat == vec["addFixedFlat_sha256"]


@pytest.mark.parametrize("vec", ADD, ids=[v["fixture"] for v in ADD])
def test_add_fixed_as_fixed_output(vec: dict[str, Any], vector_dir: Path) -> None:
    """A fixed-output derivation's path is ``nix-store --add-fixed``'s, for every algo."""
    nar = {v["fixture"]: v for v in load("nar.json")["vectors"]}[vec["fixture"]]
    hashes = {
        ("recursive", "sha256"): nar["narHash"]["sha256_nix32"],
        ("recursive", "sha1"): nar["narHash"]["sha1_nix32"],
        ("recursive", "sha512"): nar["narHash"]["sha512_base16"],
        ("recursive", "md5"): nar["narHash"]["md5_base16"],
    }
    if "flatHash" in nar:
        hashes[("flat", "sha256")] = nar["flatHash"]["sha256_nix32"]
        hashes[("flat", "sha1")] = nar["flatHash"]["sha1_base16"]
        hashes[("flat", "sha512")] = nar["flatHash"]["sha512_nix32"]
    ev = evaluator(vector_dir)
    for (mode, algo), digest in hashes.items():
        key = f"addFixed{'Recursive' if mode == 'recursive' else 'Flat'}_{algo}"
        expr = (
            f'(derivation {{ name = "{vec["name"]}"; system = "x"; builder = "y"; '
            f'outputHashMode = "{mode}"; outputHashAlgo = "{algo}"; '
            f'outputHash = "{digest}"; }}).outPath'
        )
        assert ev.eval_string(from_text(expr)) == vec[key], key


# ---------------------------------------------------------------------------
# differential test against the real nix-instantiate (read-only mode)

NIX_INSTANTIATE = "nix-instantiate"


D = 'name = "x"; system = "x86_64-linux"; builder = "/bin/sh";'


def drv(extra: str, name: str = "x") -> str:
    return (f'derivation {{ name = "{name}"; system = "x86_64-linux"; builder = "/bin/sh"; '
            f"{extra} }}")


def paths(expr: str) -> str:
    """An expression giving drvPath and every output path of derivation ``expr``."""
    return (f"let d = {expr}; in {{ inherit (d) drvPath outPath; "
            "outs = map (o: d.${o}.outPath) (d.outputs or [ \"out\" ]); }")


# sha256 of "Hello, world!\n" (flat), and of its NAR (recursive)
SRI = "sha256-2QFMRiSESqW6wxR3PWtomtRn+k4dGlChuKmdWpX3L/U="
NIX32 = "1x9gyyamm7d9p2hm06hx9vx6gm4sd1mksxqlqfxaajl44i34q0fr"
REC_NIX32 = "1kky6dc5n4sjgmxja7hnbzc718hf0anqj3qc3l9w9gwcifd3fjaq"
SHA512_SRI = ("sha512-CeHiqEyStWyCgPShIDx8/9YbFiz+mHJ41Na+mvvzjA6JNM2t+DdR9OmdERNSv/78lY5aSFLIp6"
              "KclXQs5ZKIqA==")
HELLO_IN_STORE = "/nix/store/i3vl5f9f521bladwcs3zi5gmc1pd6qr6-hello.txt"
A = drv('args = [ "-c" "echo a > $out" ];', "dep-a")
MULTI = drv('outputs = [ "out" "dev" "lib" ];', "multi")
FOD = drv(f'outputHashAlgo = "sha256"; outputHash = "{NIX32}";', "fod")

DIFF_CASES: list[tuple[str, str]] = [
    # -- the value-to-environment rules
    ("env-strings", paths(drv('a = ""; b = "x y"; c = "q\\"uote\\\\ \\n\\t\\r"; d = "é✓";'))),
    ("env-ints", paths(drv("a = 0; b = -1; c = 9223372036854775807; d = -9223372036854775807;"))),
    ("env-floats", paths(drv("a = 1.5; b = 0.1; c = 1e20; d = -2.0; e = 123456789.123; "
                             "f = 1.0e-7; g = 3.14159265;"))),
    ("env-bools-null", paths(drv("t = true; f = false; n = null;"))),
    ("env-lists", paths(drv('a = [ ]; b = [ "" ]; c = [ 1 [ 2 [ ] 3 ] [ ] "x" ]; '
                            'd = [ true false null 1.5 ]; e = [ [ ] [ ] ];'))),
    ("env-tostring", paths(drv('a = { __toString = s: "ts-${s.v}"; v = "1"; }; '
                               'b = { outPath = "/some/where"; }; '
                               'c = { __toString = s: 42; }; '
                               'd = { outPath = { outPath = "/nested"; }; };'))),
    ("env-tostring-list", paths(drv('a = [ { __toString = _: "x"; } { outPath = "y"; } ];'))),
    ("env-path", paths(drv("src = ./src; file = ./hello.txt; run = ./src/run.sh;"))),
    ("env-path-list", paths(drv("srcs = [ ./hello.txt ./src/sub ];"))),
    ("env-drv", paths(f"let a = {A}; in " + drv("a = a; b = [ a a ];", "dep-b"))),
    ("env-drv-outputs", paths(f"let m = {MULTI}; in " + drv('d = m.dev; l = "${m.lib}/lib";'))),
    ("env-order", paths(drv('b = "1"; B = "2"; _a = "3"; a = "4"; "1x" = "5"; "a-b" = "6";'))),
    ("env-names-odd", paths(drv('"with space" = "1"; "ü" = "2"; "" = "3";'))),
    ("args", paths(drv('args = [ "-c" 1 true null 2.5 [ "a" "b" ] ./hello.txt ];'))),
    ("args-empty", paths(drv("args = [ ];"))),
    ("builder-path", paths(drv("builder = ./src/run.sh;").replace(' builder = "/bin/sh";', ""))),
    ("builder-from-drv", paths(f"let a = {A}; in derivation "
                               '{ name = "b"; system = "x86_64-linux"; '
                               'builder = "${a}/bin/sh"; }')),
    ("system-other", paths('derivation { name = "x"; system = "aarch64-darwin"; builder = "b"; }')),
    ("ignore-nulls", paths(drv("__ignoreNulls = true; a = null; b = false; args = null;"))),
    ("ignore-nulls-false", paths(drv("__ignoreNulls = false; a = null;"))),
    ("structured-false", paths(drv("__structuredAttrs = false; a = 1;"))),
    ("pass-as-file", paths(drv('passAsFile = [ "big" ]; big = "lots\\nof text";'))),
    ("outputs-multi", paths(drv('outputs = [ "out" "bin" "dev" ];'))),
    ("outputs-unsorted", paths(drv('outputs = [ "lib" "out" "a" ];'))),
    ("outputs-no-out", paths(drv('outputs = [ "bin" "doc" ];'))),
    ("outputs-attr-set", paths(drv('outputs = [ "out" "dev" ]; out = "x"; dev = 1;'))),
    ("outputs-string-strict", 'derivationStrict { ' + D + ' outputs = " a\tb\n c "; }'),
    ("placeholders", paths(drv('outputs = [ "out" "dev" ]; p = placeholder "out"; '
                               'q = builtins.placeholder "dev";'))),
    ("long-name", paths(drv("", "n" * 207))),
    ("name-chars", paths(drv("", "a-Z_0.9+?=b"))),
    ("env-bytes", paths(drv("b = builtins.readFile ./bytes.dat; "
                            "l = [ (builtins.readFile ./bytes.dat) ];"))),
    ("env-json-attr", paths(drv('__json = "{}"; drvPath = "d"; type = "t"; outPath = "o";'))),
    ("system-ctx", paths(drv('system = "${builtins.toFile "s" "x"}";').replace(
        ' system = "x86_64-linux";', ""))),
    ("output-hash-ctx", paths(drv('outputHash = "${builtins.unsafeDiscardStringContext '
                                  '(builtins.toFile "h" "x")}";').replace("x.drv", "x"))),
    ("wrapper-string-outputs", drv('outputs = "out";')),
    ("strict-dup-string-outputs", "derivationStrict { " + D + ' outputs = "out out"; }'),
    ("err-args-set", drv("args = [ { } ];")),
    ("err-name-bytes", drv("", "x").replace('name = "x"', "name = builtins.readFile ./bytes.dat")),
    ("storepath-missing", 'builtins.storePath "/nix/store/xxx"'),
    ("storepath-outside", 'builtins.storePath "@DIR@/src"'),
    ("storepath-inside-missing", f'builtins.storePath "{HELLO_IN_STORE}/bin/x"'),
    ("path-trailing-slash", 'builtins.path { path = "@DIR@/src/"; '
                            'filter = p: t: builtins.trace p true; }'),
    ("path-filter-throws", 'builtins.tryEval (builtins.path { path = ./src; '
                           'filter = p: t: throw "no"; })'),
    ("path-filter-abs-paths", 'builtins.path { path = ./src/sub; '
                              'filter = p: t: builtins.trace "${p} ${t}" (t == "directory"); }'),
    # -- fixed outputs
    ("fod-nix32", paths(FOD)),
    ("fod-base16", paths(drv('outputHashAlgo = "sha256"; outputHash = '
                             '"D9014C4624844AA5BAC314773D6B689AD467FA4E1D1A50A1B8A99D5A95F72FF5";'))),
    ("fod-sri", paths(drv(f'outputHash = "{SRI}";'))),
    ("fod-prefixed", paths(drv(f'outputHash = "sha256:{NIX32}";'))),
    ("fod-sri-unknown-algo", paths(drv(f'outputHashAlgo = "foo"; outputHash = "{SRI}";'))),
    ("fod-recursive", paths(drv('outputHashMode = "recursive"; outputHashAlgo = "sha256"; '
                                f'outputHash = "{REC_NIX32}";'))),
    ("fod-sha1", paths(drv('outputHashAlgo = "sha1"; '
                           'outputHash = "09fac8dbfd27bd9b4d23a00eb648aa751789536d";'))),
    ("fod-sha512-rec", paths(drv(f'outputHashMode = "recursive"; outputHash = "{SHA512_SRI}";'))),
    ("fod-md5", paths(drv('outputHashAlgo = "md5"; '
                          'outputHash = "746308829575e17c3331bbcb00c0898b";'))),
    ("fod-empty-hash", paths(drv('outputHashAlgo = "sha512"; outputHash = "";'))),
    ("fod-explicit-out-list", paths(drv(f'outputs = [ "out" ]; outputHash = "{SRI}";'))),
    ("dep-on-fod", paths(f"let f = {FOD}; in " + drv("src = f;", "uses-fod"))),
    ("fod-with-deps", paths(f"let a = {A}; in "
                            + drv(f'src = a; outputHash = "{SRI}";', "fod-deps"))),
    # -- string contexts and dependencies
    ("dep-chain", paths(f"let a = {A}; b = " + drv("inherit a;", "b") + "; c = "
                        + drv("inherit b;", "c") + "; in " + drv("inherit a c;", "d"))),
    ("dep-same-hash-inputs", paths(
        "let f1 = " + drv(f'builder = "/bin/bash"; outputHash = "{SRI}";', "fod")
        .replace(' builder = "/bin/sh";', "")
        + "; f2 = " + FOD + "; in " + drv("a = f1; b = f2;", "two-fods"))),
    ("discard-context", paths(f"let a = {A}; in "
                              + drv('p = builtins.unsafeDiscardStringContext "${a}";'))),
    ("output-dependency-discarded", paths(
        f"let a = {A}; in " + drv("d = builtins.unsafeDiscardOutputDependency a.drvPath;"))),
    ("context-of-result", "let d = " + MULTI + "; in { drv = builtins.getContext d.drvPath; "
                          'out = builtins.getContext "${d}"; '
                          "dev = builtins.getContext d.dev.outPath; }"),
    ("derivation-attrs", "let d = " + MULTI + "; in { inherit (d) type outputName outputs; "
                         "names = builtins.attrNames d; "
                         "all = map (x: x.outputName) d.all; same = d.dev.drvPath == d.drvPath; "
                         "attrs = builtins.attrNames d.drvAttrs; }"),
    ("append-context", paths(
        f"let a = {A}; s = builtins.appendContext \"x\" "
        '{ "${builtins.unsafeDiscardStringContext a.drvPath}" = { outputs = [ "out" ]; }; }; in '
        + drv("s = s;"))),
    ("storepath", paths(drv(f's = builtins.storePath "{HELLO_IN_STORE}";'))),
    ("storepath-context", f'builtins.getContext (builtins.storePath "{HELLO_IN_STORE}/")'),
    # -- toFile
    ("tofile", 'builtins.toFile "hello.txt" "Hello, world!\\n"'),
    ("tofile-refs", 'let a = builtins.toFile "a" "A"; b = builtins.toFile "b" "${a}"; in '
                    '{ c = builtins.toFile "c" "${a} ${b} ${./hello.txt}"; '
                    "ctx = builtins.getContext (builtins.toFile \"d\" \"${b}\"); }"),
    ("tofile-in-drv", paths(drv('args = [ (builtins.toFile "builder.sh" "echo hi > $out") ];'))),
    ("tofile-drv-name-readonly", 'builtins.toFile "x.drv" "not a derivation"'),
    ("tofile-output-ref", f'let a = {A}; in builtins.toFile "f" "${{a}}"'),
    ("tofile-drvpath-ref", f"let a = {A}; in builtins.toFile \"f\" a.drvPath"),
    ("tofile-bad-name", 'builtins.toFile "a/b" "x"'),
    ("tofile-ctx-name", 'builtins.toFile "${builtins.toFile "a" "b"}" "x"'),
    ("tofile-not-string", 'builtins.toFile "a" 1'),
    # -- sources
    ("path-literals", '[ "${./src}" "${./hello.txt}" "${./src/run.sh}" "${./src/link}" '
                      '"${./src/empty}" ]'),
    ("path-default", "builtins.path { path = ./src; }"),
    ("path-named", 'builtins.path { path = ./src; name = "source"; }'),
    ("path-empty-name", 'builtins.path { path = ./src; name = ""; }'),
    ("path-string", 'builtins.path { path = "' + "@DIR@" + '/src/sub"; }'),
    ("path-filter-log", 'builtins.path { path = ./src; name = "f"; '
                        'filter = p: t: builtins.match ".*\\\\.log" p == null; }'),
    ("path-filter-types", 'let seen = p: t: builtins.trace "${baseNameOf p}=${t}" true; in '
                          'builtins.path { path = ./src; filter = seen; }'),
    ("path-filter-nothing", 'builtins.path { path = ./src; filter = p: t: false; }'),
    ("path-filter-dirs", 'builtins.path { path = ./src; filter = p: t: t != "directory"; }'),
    ("path-filter-symlinks", 'builtins.path { path = ./src; filter = p: t: t != "symlink"; }'),
    ("path-flat", "builtins.path { path = ./hello.txt; recursive = false; }"),
    ("path-flat-symlink", "builtins.path { path = ./src/link; recursive = false; }"),
    ("path-flat-dir", "builtins.path { path = ./src; recursive = false; }"),
    ("path-sha256", 'builtins.path { path = ./hello.txt; recursive = false; name = "h"; '
                    'sha256 = "1x9gyyamm7d9p2hm06hx9vx6gm4sd1mksxqlqfxaajl44i34q0fr"; }'),
    ("path-sha256-sri", 'builtins.path { path = ./hello.txt; recursive = false; '
                        'sha256 = "sha256-2QFMRiSESqW6wxR3PWtomtRn+k4dGlChuKmdWpX3L/U="; }'),
    ("path-sha256-mismatch", 'builtins.path { path = ./src; '
                             'sha256 = "1x9gyyamm7d9p2hm06hx9vx6gm4sd1mksxqlqfxaajl44i34q0fr"; }'),
    ("path-sha256-empty", 'builtins.path { path = ./hello.txt; sha256 = ""; }'),
    ("path-bad-arg", "builtins.path { path = ./src; foo = 1; }"),
    ("path-missing-path", 'builtins.path { name = "x"; }'),
    ("path-missing-file", "builtins.path { path = ./nonexistent; }"),
    ("path-bad-name", 'builtins.path { path = ./src; name = "a b"; }'),
    ("path-filter-not-bool", "builtins.path { path = ./src; filter = p: t: 1; }"),
    ("path-in-drv", paths(drv('src = builtins.path { path = ./src; name = "s"; '
                              'filter = p: t: baseNameOf p != "sub"; };'))),
    ("filtersource", "builtins.filterSource "
                     '(p: t: t != "directory" || baseNameOf p != "sub") ./src'),
    ("filtersource-all", "builtins.filterSource (p: t: true) ./src"),
    ("filtersource-string", 'builtins.filterSource (p: t: true) "@DIR@/src"'),
    ("filtersource-not-fn", "builtins.filterSource 1 ./src"),
    ("filtersource-relative", 'builtins.filterSource (p: t: true) "src"'),
    ("filtersource-in-drv", paths(drv("src = builtins.filterSource (p: t: true) ./src/sub;"))),
    ("path-literal-drv-file", '"${./src/thing.drv}"'),
    ("path-literal-missing", '"${./nonexistent}"'),
    # -- read-only evaluation cannot read back what it "added"
    ("import-copied-path", 'import "${./hello.txt}"'),
    ("readfile-tofile", 'builtins.readFile (builtins.toFile "a" "b")'),
    ("path-from-store-string", 'builtins.path { path = "${./src}"; }'),
    ("filtersource-store-string", 'builtins.filterSource (p: t: true) "${./src}"'),
    ("readfile-drv-output", f'let a = {A}; in builtins.readFile "${{a}}"'),
    # -- errors of derivationStrict
    ("err-no-name", "derivationStrict { }"),
    ("err-name-int", "derivationStrict { name = 1; }"),
    ("err-name-ctx", 'derivationStrict { name = "${builtins.toFile "a" "b"}"; }'),
    ("err-no-builder", 'derivationStrict { name = "x"; system = "s"; }'),
    ("err-no-system", 'derivationStrict { name = "x"; builder = "b"; }'),
    ("err-drv-name", drv("", "x.drv")),
    ("err-bad-name", drv("", "a b")),
    ("err-bad-name-utf8", drv("", "ü")),
    ("err-empty-name", 'derivationStrict { name = ""; system = "s"; builder = "b"; }'),
    ("err-name-too-long", drv("", "n" * 208)),
    ("err-dup-output", drv('outputs = [ "a" "a" ];')),
    ("err-drv-output", drv('outputs = [ "drv" ];')),
    ("err-no-outputs", 'derivationStrict { ' + D + " outputs = [ ]; }"),
    ("err-bad-output-name", drv('outputs = [ "a/b" ];')),
    ("err-fod-multi", drv('outputs = [ "out" "dev" ]; outputHash = "";')),
    ("err-fod-empty-no-algo", drv('outputHash = "";')),
    ("err-fod-wrong-length", drv('outputHashAlgo = "sha256"; outputHash = "abc";')),
    ("err-fod-no-type", drv('outputHashAlgo = "foo"; outputHash = "abc";')),
    ("err-fod-type-mismatch", drv(f'outputHashAlgo = "sha1"; outputHash = "{SRI}";')),
    ("err-fod-bad-sri", drv('outputHash = "md5-2QFMRiSESqW6wxR3PWtomtRn+k4dGlChuKmdWpX3L/U=";')),
    ("err-fod-bad-base32", drv(f'outputHashAlgo = "sha256"; outputHash = "e{NIX32[1:]}";')),
    ("err-fod-unknown-prefix", drv('outputHash = "foo:abc";')),
    ("err-fod-bad-mode", drv('outputHashMode = "foo"; outputHash = "";')),
    ("err-coerce-set", drv("x = { };")),
    ("err-coerce-fn", drv("x = y: y;")),
    ("err-coerce-in-list", drv("x = [ 1 { } ];")),
    ("err-args-not-list", drv('args = "x";')),
    ("err-structured-fn", drv("__structuredAttrs = true; x = y: y;")),
    ("err-structured-outputs", drv('__structuredAttrs = true; outputs = "out";')),
    ("err-structured-not-bool", drv("__structuredAttrs = 1;")),
    ("err-ignore-nulls-not-bool", drv("__ignoreNulls = 1;")),
    ("err-ca", drv("__contentAddressed = true;")),
    ("err-impure", drv("__impure = true;")),
    ("err-throw-in-attr", drv('x = throw "boom";')),
    # -- structured attrs
    ("structured", paths(drv('__structuredAttrs = true; outputs = [ "out" "dev" ]; i = 1; '
                             'f = 1.5; g = 1.0e20; b = true; n = null; l = [ 1 "two" [ 3 ] ]; '
                             's = { x = 1; y = "z"; }; e = "q\\"\\n\\u0001"; args = [ "a" ];'))),
    ("structured-deps", paths(f"let a = {A}; in " + drv(
        "__structuredAttrs = true; dep = a; src = ./hello.txt; "
        "refs.closure = [ a ]; t = { __toString = _: \"ts\"; }; "
        "o = { outPath = ./src/sub; };"))),
    ("structured-ignore-nulls", paths(drv("__structuredAttrs = true; __ignoreNulls = true; "
                                          "a = null; b = 1;"))),
    ("structured-floats", paths(drv("__structuredAttrs = true; a = 0.1; b = 1.0e-7; "
                                    "c = 123456789.5; d = -0.0; e = 100.0; f = 1.0e300;"))),
    ("structured-strings", paths(drv('__structuredAttrs = true; a = "é✓ \\u0001 \\u001f /"; '
                                     'b = builtins.readFile ./bytes.dat;'))),
    ("structured-system-ctx", drv("__structuredAttrs = true; "
                                  'system = "${builtins.toFile "s" "x"}";')),
    ("structured-builder-ctx", paths(
        f"let a = {A}; in " + drv('__structuredAttrs = true; builder = "${a}/bin/sh";')
        .replace(' builder = "/bin/sh";', ""))),
    ("structured-fod", paths(drv('__structuredAttrs = true; outputHashMode = "recursive"; '
                                 f'outputHash = "{SRI}";'))),
]

SOURCE_TREE: dict[str, bytes | str] = {
    "hello.txt": b"Hello, world!\n",
    "src/a.txt": b"a\n",
    "src/b.log": b"log\n",
    "src/run.sh": b"#!/bin/sh\necho hi\n",
    "src/sub/c.txt": b"c\n",
    "src/sub/deep/d.txt": b"d\n",
    "src/link": "a.txt",  # a symlink
    "bytes.dat": b"\xff\xfe\x01 \xc3\n",  # not UTF-8
}


@pytest.fixture(scope="module")
def diff_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("store-diff").resolve()
    for rel, content in SOURCE_TREE.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, str):
            path.symlink_to(content)
        else:
            path.write_bytes(content)
    (root / "src" / "run.sh").chmod(0o755)
    (root / "src" / "empty").mkdir()
    return root


def nix_env(cwd: Path) -> dict[str, str]:
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(cwd),
            "LANG": "C.UTF-8"}


def run_real_nix(args: list[str], cwd: Path) -> tuple[int, bytes, bytes]:
    exe = needs.nix(NIX_INSTANTIATE)
    proc = subprocess.run([exe, *args], capture_output=True, cwd=cwd, env=nix_env(cwd),
                          timeout=120)
    return proc.returncode, proc.stdout, proc.stderr


def messages(stderr: bytes) -> tuple[list[str], str]:
    """(the trace:/warning: lines, the first line of the error, if any).

    Messages are compared as text: Nix prints the raw bytes of a name, pynix's
    messages are Unicode text, so a lone non-UTF-8 byte becomes U+FFFD.
    """
    lines = stderr.decode("utf-8", "replace").split("\n")
    logged = [ln for ln in lines if ln.startswith(("trace: ", "warning: "))]
    errors = [ln for ln in lines if ln.startswith("error: ")]
    return logged, errors[0] if errors else ""


def eval_args(expr: str, cwd: Path) -> list[str]:
    return ["--eval", "--strict", "--json", "-E", expr.replace("@DIR@", str(cwd))]


@pytest.mark.parametrize("case", DIFF_CASES, ids=[c[0] for c in DIFF_CASES])
def test_against_nix(case: tuple[str, str], diff_dir: Path) -> None:
    _, expr = case
    args = eval_args(expr, diff_dir)
    nix_rc, nix_out, nix_err = run_real_nix(args, diff_dir)
    py_rc, py_out, py_err = pynix_run(args, env=nix_env(diff_dir), cwd=str(diff_dir))
    assert b"Traceback" not in py_err, py_err.decode(errors="replace")
    assert (py_rc == 0) == (nix_rc == 0), (nix_err + b"\n---\n" + py_err).decode(errors="replace")
    # (the trailing newline is the command's business, not this file's)
    assert py_out.rstrip(b"\n") == nix_out.rstrip(b"\n")
    assert messages(py_err) == messages(nix_err)


# ---------------------------------------------------------------------------
# differential test against nix-instantiate writing to a chroot store
#
# Read-only Nix cannot follow a drvPath ("=") context (the closure of a .drv it
# did not write is unknown to it), and writes no .drv files to compare.  With
# --read-write-mode and a store under a temporary root it does both.

B = drv('s = builtins.toFile "s" "x"; src = ./hello.txt;', "b")
WRITING_CASES: list[tuple[str, str]] = [
    ("drvpath-closure", f"let a = {MULTI}; b = " + drv("inherit a;", "b") + "; in "
                        + drv("d = b.drvPath;", "c")),
    ("drvpath-sources", f"let b = {B}; in " + drv("d = b.drvPath;", "c")),
    ("drvpath-and-output", f"let a = {MULTI}; in " + drv('d = "${a.drvPath} ${a.dev}";', "c")),
    ("drvpath-of-fod", f"let f = {FOD}; in " + drv("d = f.drvPath; o = f;", "c")),
    ("drvpath-in-args", f"let b = {B}; in " + drv("args = [ b.drvPath ];", "c")),
    ("drvpath-structured", f"let a = {MULTI}; b = " + drv("inherit a;", "b") + "; in "
                           + drv("__structuredAttrs = true; d = [ b.drvPath ];", "c")),
    ("drvpath-twice-removed", f"let a = {A}; b = " + drv("inherit a;", "b") + "; c = "
                              + drv("d = b.drvPath;", "c") + "; in " + drv("e = c.drvPath;", "e")),
    ("drvpath-discarded", f"let b = {B}; in "
                          + drv("d = builtins.unsafeDiscardOutputDependency b.drvPath;", "c")),
    ("tofile-drv-name", 'builtins.toFile "x.drv" "not a derivation"'),
]


@pytest.mark.parametrize("case", WRITING_CASES, ids=[c[0] for c in WRITING_CASES])
def test_against_nix_writing(case: tuple[str, str], diff_dir: Path, tmp_path: Path) -> None:
    _, expr = case
    wrapped = f"let v = {expr}; in if v ? drvPath then [ v.drvPath v.outPath ] else v"
    root = tmp_path / "chroot"
    nix_rc, nix_out, nix_err = run_real_nix(
        ["--store", str(root), "--read-write-mode", "--eval", "--strict", "--json",
         "-E", wrapped], diff_dir)
    ev = evaluator(diff_dir)
    try:
        value = plain(ev.eval_string(from_text(wrapped)))
    except NixError as e:
        assert nix_rc != 0, nix_out
        assert messages(nix_err)[1] == f"error: {e.msg}"
        return
    assert nix_rc == 0, nix_err.decode(errors="replace")
    assert value == json.loads(nix_out)
    store = root / "nix" / "store"
    written = sorted(p.name for p in store.iterdir() if p.name.endswith(".drv"))
    assert written
    for name in written:
        assert text_of(ev, f"/nix/store/{name}") == (store / name).read_text("utf-8")


def test_ca_derivations_against_nix(diff_dir: Path) -> None:
    """Floating content-addressed outputs (experimental) and derivations deferred by them."""
    expr = (
        'let c = derivation { name = "ca"; system = "x"; builder = "/bin/sh"; '
        '__contentAddressed = true; outputs = [ "out" "dev" ]; }; '
        'd = derivation { name = "dep"; system = "x"; builder = "/bin/sh"; x = c.dev; }; '
        'e = derivation { name = "e"; system = "x"; builder = "/bin/sh"; inherit d; '
        '__contentAddressed = true; outputHashMode = "flat"; outputHashAlgo = "sha1"; }; '
        "in [ c.drvPath c.outPath c.dev.outPath d.drvPath d.outPath e.drvPath e.outPath "
        "(builtins.getContext d.outPath) ]"
    )
    rc, out, err = run_real_nix(
        ["--extra-experimental-features", "ca-derivations", *eval_args(expr, diff_dir)],
        diff_dir)
    assert rc == 0, err
    ev = evaluator(diff_dir)
    ev.experimental_features = {"ca-derivations"}  # type: ignore[attr-defined]
    assert plain(ev.eval_string(from_text(expr))) == json.loads(out)
