# ruff: noqa: E501
"""Builds compared with the real Nix: the same derivations (instantiated by
``nix-instantiate``, copied into pynix's store) built by ``nix-build`` (into
its own chroot store) and by pynix must give the same output paths, NAR
hashes and references."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

import needs
from pynix.build.sandbox import parse_sandbox_paths
from pynix.compat.derivation import Derivation
from pynix.compat.hashing import Hash

from .conftest import Env, usr_sandbox_paths

# Builders use dash builtins and, where noted, tools from /usr/bin (the same
# binaries on both sides).
CASES = r"""
let
  sh = "/bin/sh";
  mk = attrs: derivation ({ system = "x86_64-linux"; builder = sh; } // attrs);
  base = mk { name = "base"; args = [ "-c" "echo base > $out" ]; };
  fod = hash: mode: algo: mk {
    name = "fod-${algo}-${mode}";
    args = [ "-c" "echo fixed > $out" ];
    outputHash = hash; outputHashAlgo = algo; outputHashMode = mode;
  };
in {
  simple = mk { name = "simple"; args = [ "-c" "echo hello; printf '%s\\n' \"$name\" > $out" ]; };
  selfref = mk { name = "selfref"; args = [ "-c" "echo $out > $out" ]; };
  dep = mk { name = "dep"; inherit base; args = [ "-c" "read x < $base; echo \"$x $base\" > $out" ]; };
  multi = mk {
    name = "multi"; outputs = [ "out" "lib" "dev" ];
    args = [ "-c" "echo lib > $lib; echo \"uses $lib\" > $out; echo $out > $dev" ];
  };
  pass = mk {
    name = "pass"; passAsFile = [ "big" ]; big = "line one\nline two $out\n";
    args = [ "-c" "echo \${bigPath#$NIX_BUILD_TOP} > $out; while IFS= read -r l; do echo \"$l\"; done < $bigPath >> $out" ];
  };
  structured = mk {
    name = "structured"; __structuredAttrs = true;
    list = [ 1 "two" true null ]; set = { a = "b"; n = 3; }; float = 1.5; str = "it's";
    inherit base;
    args = [ "-c" ''
      { while IFS= read -r l || [ -n "$l" ]; do printf '%s\n' "$l"; done < .attrs.json; echo ==;
        while IFS= read -r l; do printf '%s\n' "$l"; done < .attrs.sh; } > $1
    '' "sh" (builtins.placeholder "out") ];
  };
  tree = mk {
    name = "tree"; PATH = "/usr/bin"; inherit base;
    args = [ "-c" ''
      mkdir -p $out/bin $out/share/deep/er
      printf '#!/bin/sh\necho hi\n' > $out/bin/run; chmod 755 $out/bin/run
      ln -s ../share/deep $out/bin/link; ln -s $base $out/base-link
      echo data > $out/share/deep/er/file; touch $out/share/empty
      mkdir $out/by-name; echo > "$out/by-name/$(basename $base)"
      chmod 700 $out/share
    '' ];
  };
  fod-flat = fod "sha256-DDBxQY5jVuYUiYyE7QZMqV6IVRvAgRtTS98ZUuza5TQ=" "flat" "sha256";
  fod-rec = fod "07y32ljqjzpgw56dgrwfs7f0illrfg8bgkfq0d89p01m677grk1p" "recursive" "sha256";
  fod-sha1 = fod "sha1-wGeYzwKvNj6bZemEhO1BVrhf1fw=" "flat" "sha1";
  fod-sha512 = fod "sha512-o68VR03BD7UAAlfVFmvYkg20mrGabtVzkEqOR0Jd9uKzBIDZlk28ugrc/x1WdbjbDcKgrO95S9vfJYZWiExxnQ==" "flat" "sha512";
  after-fod = mk { name = "after-fod"; f = fod "sha256-DDBxQY5jVuYUiYyE7QZMqV6IVRvAgRtTS98ZUuza5TQ=" "flat" "sha256";
                   args = [ "-c" "read x < $f; echo \"$x $f\" > $out" ]; };
}
"""


def _run(*args: str) -> str:
    proc = subprocess.run(args, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise AssertionError(f"{' '.join(args)} failed:\n{proc.stderr}")
    return proc.stdout


@pytest.fixture(scope="module")
def nix_results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """Instantiate and build CASES with the real Nix (once for the module)."""
    needs.nix("nix-instantiate")
    needs.nix("nix-build")
    base = tmp_path_factory.mktemp("nix")
    expr = base / "cases.nix"
    expr.write_text(CASES, encoding="utf-8")
    root = str(base / "root")
    common = ["--store", root, "--option", "substituters", "", "--option", "sandbox", "false"]
    sh = os.path.realpath("/bin/sh")
    sandbox_paths = f"/bin/sh={sh} /usr /lib /lib64"
    names = _run(
        "nix-instantiate", *common, "--eval", "--strict", "--json", "-E",
        f"builtins.attrNames (import {expr})",
    )  # fmt: skip
    import json

    attrs: list[str] = json.loads(names)
    by_attr = {
        a: _run("nix-instantiate", *common, str(expr), "-A", a).strip().split("!")[0] for a in attrs
    }
    _run(
        "nix-build", *common, "--option", "sandbox-paths", sandbox_paths, "--no-out-link",
        str(expr),
    )  # fmt: skip
    info: dict[str, tuple[str, str]] = {}
    for drv_path in by_attr.values():
        with open(root + drv_path, "rb") as fh:
            outputs = Derivation.parse(fh.read()).outputs
        for out in outputs.values():
            nar = _run("nix-store", "--store", root, "-q", "--hash", out.path).strip()
            refs = _run("nix-store", "--store", root, "-q", "--references", out.path).split()
            info[out.path] = (nar, " ".join(sorted(refs)))
    closure = _run("nix-store", "--store", root, "-qR", *by_attr.values()).split()
    return {"root": root, "by_attr": by_attr, "info": info, "closure": closure}


def _copy_derivations(env: Env, nix_root: str, closure: list[str]) -> None:
    drv_paths = [p for p in closure if p.endswith(".drv")]
    done: set[str] = set()
    while len(done) < len(drv_paths):
        for path in drv_paths:
            if path in done:
                continue
            with open(nix_root + path, "rb") as fh:
                drv = Derivation.parse(fh.read())
            if not set(drv.input_drvs) <= done:
                continue
            name = os.path.basename(path)[33:-4]
            assert env.store.add_derivation(drv, name) == path
            done.add(path)


@pytest.mark.usefixtures("bwrap")
@pytest.mark.parametrize("sandbox", [True, False])
def test_same_outputs_as_nix(env: Env, nix_results: dict[str, object], sandbox: bool) -> None:
    nix_root = str(nix_results["root"])
    closure = nix_results["closure"]
    by_attr = nix_results["by_attr"]
    nix_info = nix_results["info"]
    assert isinstance(closure, list) and isinstance(by_attr, dict) and isinstance(nix_info, dict)
    _copy_derivations(env, nix_root, closure)
    paths = [*usr_sandbox_paths(), *parse_sandbox_paths([])]
    report = env.build(*by_attr.values(), sandbox=sandbox, sandbox_paths=paths, max_jobs=2)
    assert report.success, [(r.path, r.error, r.log_tail) for r in report.failures]
    compared = 0
    for attr, drv_path in sorted(by_attr.items()):
        for name, out in env.store.read_derivation(drv_path).outputs.items():
            assert out.path in nix_info, (attr, name)
            nix_hash, nix_refs = nix_info[out.path]
            info = env.store.query_path_info(out.path)
            assert Hash.parse(info.nar_hash) == Hash.parse(nix_hash), (attr, name)
            assert " ".join(sorted(info.references)) == nix_refs, (attr, name)
            compared += 1
    assert compared == len(nix_info) >= 14


def test_structured_attrs_files_like_nix(nix_results: dict[str, object]) -> None:
    """The .attrs.json/.attrs.sh Nix wrote, as the builder copied them."""
    by_attr = nix_results["by_attr"]
    assert isinstance(by_attr, dict)
    root = Path(str(nix_results["root"]))
    drv_text = (root / by_attr["structured"].lstrip("/")).read_bytes()
    drv = Derivation.parse(drv_text)
    out = drv.outputs["out"].path
    nix_text = (root / out.lstrip("/")).read_text(encoding="utf-8")
    from pynix.build.environment import builder_environment

    files = builder_environment(drv, build_dir="/build", cores=1).files
    ours = files[".attrs.json"].decode() + "\n==\n" + files[".attrs.sh"].decode()
    assert ours == nix_text
