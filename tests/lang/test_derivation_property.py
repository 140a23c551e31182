"""Property test: random derivations, pynix against the real ``nix-instantiate``.

Hypothesis draws batches of derivations (random names, outputs in any order,
env values of every type, ``args``, dependencies on earlier derivations of the
batch through outputs, lists and ``__toString``/``outPath`` sets, sources,
``toFile`` texts, placeholders, fixed outputs with every algorithm, mode and
hash encoding, structured attrs, ``__ignoreNulls``).  A batch is one
expression evaluating to the drvPath and every output path of each
derivation, run once by ``nix-instantiate --eval --strict --json`` and once by
pynix, and the results must be identical, and so must every ``.drv`` file
(Nix writes them to a store under a temporary root; equal drvPaths already
imply equal texts, as a drvPath is a hash of the text).

``PYNIX_DRV_PROPERTY_BATCHES`` (default 24) x ``BATCH`` (25) derivations.
"""

from __future__ import annotations

import base64
import io
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

import needs
from pynix.compat import nixbase32
from pynix.lang.evaluator import Evaluator
from pynix.lang.runtime import force
from pynix.lang.stack import on_big_stack
from pynix.lang.store_api import ComputingStore
from pynix.lang.values import from_text, to_bytes

BATCH = 25
BATCHES = int(os.environ.get("PYNIX_DRV_PROPERTY_BATCHES", "24"))

Draw = Callable[[st.SearchStrategy[Any]], Any]

NAME_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+-._?="
OUTPUT_NAMES = ("out", "dev", "bin", "lib", "doc", "man", "static", "x1", "Out")
ATTR_NAMES = ("a", "b", "src", "buildInputs", "A", "_a", "1x", "a-b", "a.b", "x y", "é",
              "passAsFile", "preferLocalBuild", "allowedReferences", "out", "dev", "__x",
              "drvPath", "type", "outPath", "impureEnvVars", "")
STRING_CHARS = "ab Z0\"\\$\n\t\r{}'é✓🎉-_./\x01\x1b\x7f"
HASH_SIZES = {"md5": 16, "sha1": 20, "sha256": 32, "sha512": 64}
FILES = ("./f.txt", "./tree", "./tree/run.sh", "./tree/link")


@pytest.fixture(scope="module")
def work_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("drv-property").resolve()
    (root / "f.txt").write_bytes(b"file contents\n")
    (root / "tree" / "sub").mkdir(parents=True)
    (root / "tree" / "sub" / "x").write_bytes(b"x")
    (root / "tree" / "run.sh").write_bytes(b"#!/bin/sh\n")
    (root / "tree" / "run.sh").chmod(0o755)
    (root / "tree" / "link").symlink_to("sub/x")
    return root


# ---------------------------------------------------------------------------
# generating Nix source


def nix_string(text: str) -> str:
    out = []
    for i, c in enumerate(text):
        if c in '"\\':
            out.append("\\" + c)
        elif c == "\n":
            out.append("\\n")
        elif c == "\t":
            out.append("\\t")
        elif c == "\r":
            out.append("\\r")
        elif c == "$" and text[i + 1 : i + 2] == "{":
            out.append("\\$")
        else:
            out.append(c)
    return '"' + "".join(out) + '"'


def nix_float(draw: Draw) -> str:
    whole = draw(st.integers(0, 10**6))
    frac = draw(st.integers(0, 10**6))
    text = f"{whole}.{frac}" if whole else f"0.{frac}"
    if draw(st.booleans()):
        text += f"e{draw(st.integers(-300, 300))}"
    return f"(-{text})" if draw(st.booleans()) else text


class Drv:
    """What a later derivation may refer to."""

    def __init__(self, var: str, outputs: list[str]) -> None:
        self.var = var
        self.outputs = outputs


class Gen:
    def __init__(self, draw: Draw) -> None:
        self.draw = draw
        self.files = 0

    def choice(self, items: Any) -> Any:
        return self.draw(st.sampled_from(list(items)))

    def string(self) -> str:
        return nix_string(self.draw(st.text(STRING_CHARS, max_size=12)))

    def drv_ref(self, deps: list[Drv]) -> str:
        d = self.choice(deps)
        kind = self.draw(st.integers(0, 4))
        if kind == 0:
            return d.var
        if kind == 1:
            return f"{d.var}.{self.choice(d.outputs)}"
        if kind == 2:
            return f'"${{{d.var}.{self.choice(d.outputs)}}}/bin"'
        if kind == 3:
            return f"builtins.unsafeDiscardOutputDependency {d.var}.drvPath"
        return f"{d.var}.outPath"

    def to_file(self) -> str:
        self.files += 1
        name = f"file{self.files}"
        inner = f'builtins.toFile "in{self.files}" {self.string()}'
        body = self.choice([self.string(), f'"ref ${{{inner}}}"'])
        return f'builtins.toFile "{name}" {body}'

    def scalar(self, deps: list[Drv]) -> str:
        kinds = ["string", "int", "float", "bool", "null", "path", "placeholder", "tofile",
                 "tostring", "outpath"]
        if deps:
            kinds += ["drv", "drv", "interp"]
        kind = self.choice(kinds)
        if kind == "string":
            return self.string()
        if kind == "int":
            n = self.draw(st.one_of(st.integers(-(2**63) + 1, 2**63 - 1), st.integers(-9, 99)))
            return f"({n})" if n < 0 else str(n)
        if kind == "float":
            return nix_float(self.draw)
        if kind == "bool":
            return self.choice(["true", "false"])
        if kind == "null":
            return "null"
        if kind == "path":
            return self.choice(FILES)
        if kind == "placeholder":
            return f'(builtins.placeholder "{self.choice(OUTPUT_NAMES)}")'
        if kind == "tofile":
            return f"({self.to_file()})"
        if kind == "tostring":
            return f"{{ __toString = self: {self.string()} + self.v; v = {self.string()}; }}"
        if kind == "outpath":
            inner = self.drv_ref(deps) if deps and self.draw(st.booleans()) else self.string()
            return f"{{ outPath = {inner}; }}"
        if kind == "interp":
            return f'"pre ${{{self.choice(deps).var}}} post"'
        return f"({self.drv_ref(deps)})"

    def value(self, deps: list[Drv], structured: bool, depth: int = 0) -> str:
        kind = self.draw(st.integers(0, 9))
        if kind == 0 and depth < 2:
            items = self.draw(st.lists(st.just(0), max_size=4))
            return "[ " + " ".join(f"({self.value(deps, structured, depth + 1)})"
                                   for _ in items) + " ]"
        if kind == 1 and depth < 2 and structured:
            names = self.draw(st.lists(st.sampled_from(ATTR_NAMES), max_size=3, unique=True))
            return "{ " + "".join(f"{nix_string(n)} = {self.value(deps, structured, depth + 1)}; "
                                  for n in names) + "}"
        return self.scalar(deps)

    def output_hash(self) -> str:
        algo = self.choice(HASH_SIZES)
        digest = self.draw(st.binary(min_size=HASH_SIZES[algo], max_size=HASH_SIZES[algo]))
        if self.draw(st.integers(0, 15)) == 0:
            return f'outputHashAlgo = "{algo}"; outputHash = "";'
        form = self.choice(["base16", "BASE16", "nix32", "base64", "sri", "prefixed"])
        if form == "base16":
            text = digest.hex()
        elif form == "BASE16":
            text = digest.hex().upper()
        elif form == "nix32":
            text = nixbase32.encode(digest)
        elif form == "base64":
            text = base64.b64encode(digest).decode()
        elif form == "sri":
            text = f"{algo}-{base64.b64encode(digest).decode()}"
        else:
            text = f"{algo}:{nixbase32.encode(digest)}"
        attrs = f'outputHash = "{text}";'
        if form not in ("sri", "prefixed") or self.draw(st.booleans()):
            attrs += f' outputHashAlgo = "{algo}";'
        mode = self.choice(["", "flat", "recursive"])
        if mode:
            attrs += f' outputHashMode = "{mode}";'
        return attrs

    def derivation(self, index: int, deps: list[Drv]) -> tuple[str, Drv]:
        draw = self.draw
        name = draw(st.text(NAME_CHARS, min_size=1, max_size=40))
        if name.endswith(".drv"):
            name += "x"
        structured = draw(st.integers(0, 5)) == 0
        fixed = draw(st.integers(0, 5)) == 0
        if fixed:
            outputs = ["out"]
        else:
            outputs = draw(st.lists(st.sampled_from(OUTPUT_NAMES), min_size=1, max_size=4,
                                    unique=True))
        attrs: dict[str, str] = {}
        for attr in draw(st.lists(st.sampled_from(ATTR_NAMES), max_size=6, unique=True)):
            attrs[nix_string(attr)] = self.value(deps, structured)
        attrs["name"] = nix_string(name)
        attrs["system"] = self.choice(['"x86_64-linux"', '"aarch64-darwin"', '"x"'])
        builder_kind = draw(st.integers(0, 3))
        if builder_kind == 0 and deps:
            attrs["builder"] = f'"${{{self.choice(deps).var}}}/bin/sh"'
        elif builder_kind == 1 and not structured:  # structured attrs want a string
            attrs["builder"] = "./tree/run.sh"
        else:
            attrs["builder"] = '"/bin/sh"'
        if draw(st.booleans()) or outputs != ["out"]:
            attrs["outputs"] = "[ " + " ".join(nix_string(o) for o in outputs) + " ]"
        if draw(st.booleans()):
            attrs["args"] = "[ " + " ".join(
                f"({self.scalar(deps)})" for _ in draw(st.lists(st.just(0), max_size=4))
            ) + " ]"
        if structured:
            attrs["__structuredAttrs"] = "true"
        if draw(st.integers(0, 4)) == 0:
            attrs["__ignoreNulls"] = "true"
        body = "".join(f"{k} = {v}; " for k, v in attrs.items())
        if fixed:
            body += self.output_hash()
        var = f"d{index}"
        return f"{var} = derivation {{ {body} }};", Drv(var, outputs)


@st.composite
def batches(draw: Draw) -> str:
    gen = Gen(draw)
    deps: list[Drv] = []
    bindings = []
    for i in range(BATCH):
        binding, d = gen.derivation(i, deps)
        bindings.append(binding)
        deps.append(d)
    listed = " ".join(d.var for d in deps)
    return (
        "let\n  " + "\n  ".join(bindings) + "\nin map (d: { inherit (d) drvPath; out = d.outPath; "
        'outs = map (o: d.${o}.outPath) (d.outputs or [ "out" ]); }) '
        f"[ {listed} ]"
    )


# ---------------------------------------------------------------------------
# the test


def env(cwd: Path) -> dict[str, str]:
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(cwd),
            "LANG": "C.UTF-8"}


def plain(v: Any) -> Any:
    """A forced Nix value as plain Python data (strings without context)."""
    v = force(v)
    if isinstance(v, list):
        return [plain(x) for x in v]
    if isinstance(v, dict):
        return {k: plain(x) for k, x in v.items()}
    return str(v) if isinstance(v, str) else v


def warnings(stderr: bytes) -> list[bytes]:
    return [ln for ln in stderr.split(b"\n") if ln.startswith(b"warning:")]


# No shrinking: a failure already names the first differing derivation, and
# shrinking batches of 25 derivations against a subprocess takes minutes.
@settings(max_examples=BATCHES, deadline=None, derandomize=True, database=None,
          phases=[Phase.explicit, Phase.generate],
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                 HealthCheck.function_scoped_fixture])
@given(batches())
def test_random_derivations(work_dir: Path, expr: str) -> None:
    exe = needs.nix()
    # Nix writes to a store under a temporary root, so its .drv files can be read.
    root = Path(tempfile.mkdtemp(prefix="chroot-", dir=work_dir))
    try:
        nix = subprocess.run(
            [exe, "--store", str(root), "--read-write-mode", "--eval", "--strict", "--json",
             "-E", expr],
            capture_output=True, cwd=work_dir, env=env(work_dir), timeout=120,
        )
        assert nix.returncode == 0, "generator made an invalid batch:\n" + nix.stderr.decode(
            errors="replace") + "\n" + expr
        store_dir = root / "nix" / "store"
        nix_drvs = {f"/nix/store/{p.name}": p.read_bytes()
                    for p in store_dir.iterdir() if p.name.endswith(".drv")}
    finally:
        shutil.rmtree(root, ignore_errors=True)

    stderr = io.BytesIO()
    store = ComputingStore(keep_derivations=True)
    ev = Evaluator(cwd=str(work_dir), store=store, env=env(work_dir), stderr=stderr)
    value = on_big_stack(lambda: plain(ev.eval_string(from_text(expr))))
    expected = json.loads(nix.stdout)
    if value != expected:
        pytest.fail(first_difference(expr, expected, value), pytrace=False)
    assert warnings(stderr.getvalue()) == warnings(nix.stderr)
    # every .drv text, byte for byte (equal drvPaths already imply it)
    ours = {path: to_bytes(text) for path, (text, _) in store.texts.items()
            if path.endswith(".drv")}
    assert ours == nix_drvs


def first_difference(expr: str, nix_v: Any, py_v: Any) -> str:
    bindings = expr.split("\n")[1:-1]
    for i, (a, b) in enumerate(zip(nix_v, py_v)):
        if a != b:
            return (f"derivation d{i} differs\n  nix:   {a}\n  pynix: {b}\n"
                    + "\n".join(bindings[: i + 1]))
    return f"results differ\n  nix:   {nix_v!r}\n  pynix: {py_v!r}"
