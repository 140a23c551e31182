"""stdenv.mkDerivation of <pynix/pkgs>, built with the host's tools as the
bootstrap: phases and hooks, doCheck, unpacking, patches, configure, a C
program (with the cc-wrapper around the host gcc), build inputs, propagation,
setup hooks, patchShebangs, outputs and env."""

from __future__ import annotations

import io
import json
import os
import subprocess
import tarfile
import zipfile
from pathlib import Path

import pytest

import needs

from .conftest import PkgsWorld, nix_path_info, real_nix, require_cc, require_nix

PHASE_LOG = """
  stdenvNoCC.mkDerivation {
    name = "phases";
    src = ./src;
    %s
  }
"""

HOOKS = " ".join(
    f'{when}{phase} = "echo {when}{phase} >> $NIX_BUILD_TOP/log";'
    for phase in ("Unpack", "Patch", "Configure", "Build", "Check", "Install", "Fixup")
    for when in ("pre", "post")
)


def write_tree(base: Path, files: dict[str, str], executable: tuple[str, ...] = ()) -> None:
    for name, text in files.items():
        path = base / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        if name in executable:
            path.chmod(0o755)


def make_tarball(path: Path, top: str, files: dict[str, str], mode: str) -> None:
    with tarfile.open(path, mode) as tar:  # type: ignore[call-overload]
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(f"{top}/{name}")
            info.size = len(data)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))


def test_phases_run_in_order_with_hooks(pk: PkgsWorld) -> None:
    write_tree(pk.dir / "src", {"Makefile": "all:\n\techo built > built\n"
                                            "check:\n\techo checked > checked\n"
                                            "install:\n\tmkdir -p $(out)\n"
                                            "\tcp built checked $(out)/\n"})
    extra = HOOKS + ' postFixupHooks = [ "cp $NIX_BUILD_TOP/log $out/log" ];'
    f = pk.expr_file("p.nix", PHASE_LOG % extra)
    out = pk.real(pk.build(f))
    log = (out / "log").read_text().split()
    assert log == [
        "preUnpack", "postUnpack", "prePatch", "postPatch", "preConfigure", "postConfigure",
        "preBuild", "postBuild", "preCheck", "postCheck", "preInstall", "postInstall",
        "preFixup", "postFixup",
    ]
    assert (out / "built").read_text() == "built\n"
    # doCheck is on by default: `make check` ran
    assert (out / "checked").read_text() == "checked\n"
    text = pk.log(pk.build(f))
    phases = [line.split()[-1] for line in text.splitlines() if line.startswith("Running phase:")]
    assert phases == ["unpackPhase", "patchPhase", "configurePhase", "buildPhase", "checkPhase",
                      "installPhase", "fixupPhase"]


def test_phase_overrides_and_dont_flags(pk: PkgsWorld) -> None:
    write_tree(pk.dir / "src", {"Makefile": "all:\n\texit 1\n"})
    f = pk.expr_file("p.nix", """{
      custom = stdenvNoCC.mkDerivation {
        name = "custom"; src = ./src;
        buildPhase = "echo custom-build > result";
        installPhase = "mkdir -p $out; cp result $out/";
        doCheck = false;
      };
      skipped = stdenvNoCC.mkDerivation {
        name = "skipped"; src = ./src; dontBuild = true; doCheck = false;
        installPhase = "mkdir -p $out; echo skipped > $out/r";
      };
      onlySome = stdenvNoCC.mkDerivation {
        name = "only-some"; dontUnpack = true;
        phases = [ "myPhase" "installPhase" ];
        myPhase = "echo mine > $NIX_BUILD_TOP/mine";
        installPhase = "mkdir -p $out; cp $NIX_BUILD_TOP/mine $out/";
      };
      fnPhase = stdenvNoCC.mkDerivation {
        name = "fn-phase"; dontUnpack = true;
        preInstallPhases = [ "extraPhase" ];
        preBuild = "extraPhase() { echo from-function > $NIX_BUILD_TOP/e; }";
        installPhase = "mkdir -p $out; cp $NIX_BUILD_TOP/e $out/";
      };
    }""")
    assert (pk.real(pk.build(f, "custom")) / "result").read_text() == "custom-build\n"
    assert (pk.real(pk.build(f, "skipped")) / "r").read_text() == "skipped\n"
    assert (pk.real(pk.build(f, "onlySome")) / "mine").read_text() == "mine\n"
    assert (pk.real(pk.build(f, "fnPhase")) / "e").read_text() == "from-function\n"


def test_check_phase(pk: PkgsWorld) -> None:
    write_tree(pk.dir / "failing", {"Makefile": "all:\ncheck:\n\t@echo CHECK FAILED; exit 1\n"
                                                "install:\n\tmkdir -p $(out)\n"})
    write_tree(pk.dir / "testtarget", {"Makefile": "all:\ntest:\n\techo t > ran-test\n"
                                                   "install:\n\tmkdir -p $(out)\n"
                                                   "\tcp ran-test $(out)/\n"})
    f = pk.expr_file("c.nix", """{
      failing = stdenvNoCC.mkDerivation { name = "failing-check"; src = ./failing; };
      unchecked = stdenvNoCC.mkDerivation {
        name = "unchecked"; src = ./failing; doCheck = false;
      };
      testTarget = stdenvNoCC.mkDerivation { name = "test-target"; src = ./testtarget; };
      custom = stdenvNoCC.mkDerivation {
        name = "custom-check"; src = ./failing; checkTarget = "mycheck";
        preCheck = "printf 'mycheck:\\n\\techo mine > mine\\n' >> Makefile";
        postInstall = "cp mine $out/";
      };
    }""")
    r = pk.build_fails(f, "failing")
    assert "CHECK FAILED" in r.err
    pk.build(f, "unchecked")
    assert (pk.real(pk.build(f, "testTarget")) / "ran-test").read_text() == "t\n"
    assert (pk.real(pk.build(f, "custom")) / "mine").read_text() == "mine\n"
    assert pk.eval(f, "failing.doCheck") is True


@pytest.mark.parametrize("suffix,mode", [
    ("tar.gz", "w:gz"), ("tar.xz", "w:xz"), ("tar.bz2", "w:bz2"), ("tar", "w"),
])
def test_unpack_archives(pk: PkgsWorld, suffix: str, mode: str) -> None:
    make_tarball(pk.dir / f"src.{suffix}", "proj-1.0",
                 {"data.txt": f"from {suffix}\n", "sub/more.txt": "more\n"}, mode)
    f = pk.expr_file("u.nix", f"""stdenvNoCC.mkDerivation {{
      name = "unpack"; src = ./src.{suffix};
      installPhase = "mkdir -p $out; cp data.txt $out/; echo $sourceRoot > $out/root";
    }}""")
    out = pk.real(pk.build(f))
    assert (out / "data.txt").read_text() == f"from {suffix}\n"
    assert (out / "root").read_text() == "proj-1.0\n"


def test_unpack_zip(pk: PkgsWorld) -> None:
    needs.tool("unzip")
    with zipfile.ZipFile(pk.dir / "src.zip", "w") as z:
        z.writestr("proj/data.txt", "from zip\n")
    f = pk.expr_file("z.nix", """stdenvNoCC.mkDerivation {
      name = "unzip"; src = ./src.zip;
      installPhase = "mkdir -p $out; cp data.txt $out/";
    }""")
    assert (pk.real(pk.build(f)) / "data.txt").read_text() == "from zip\n"


def test_unpack_srcs_and_source_root(pk: PkgsWorld) -> None:
    make_tarball(pk.dir / "a.tar.gz", "a", {"x": "ax\n"}, "w:gz")
    make_tarball(pk.dir / "b.tar.gz", "b", {"x": "bx\n"}, "w:gz")
    f = pk.expr_file("u.nix", """{
      two = stdenvNoCC.mkDerivation {
        name = "two"; srcs = [ ./a.tar.gz ./b.tar.gz ]; sourceRoot = "b";
        installPhase = "mkdir -p $out; cp x $out/; cp ../a/x $out/ax";
      };
      setRoot = stdenvNoCC.mkDerivation {
        name = "set-root"; srcs = [ ./a.tar.gz ./b.tar.gz ];
        setSourceRoot = "sourceRoot=a";
        installPhase = "mkdir -p $out; cp x $out/";
      };
      ambiguous = stdenvNoCC.mkDerivation {
        name = "ambiguous"; srcs = [ ./a.tar.gz ./b.tar.gz ];
      };
      noSrc = stdenvNoCC.mkDerivation { name = "no-src"; };
    }""")
    two = pk.real(pk.build(f, "two"))
    assert (two / "x").read_text() == "bx\n" and (two / "ax").read_text() == "ax\n"
    assert (pk.real(pk.build(f, "setRoot")) / "x").read_text() == "ax\n"
    assert "multiple directories" in pk.build_fails(f, "ambiguous").err
    assert "should point to the source" in pk.build_fails(f, "noSrc").err


def test_patches_and_configure(pk: PkgsWorld) -> None:
    write_tree(pk.dir / "src", {
        "greeting.txt": "hello\n",
        "configure": "#!/bin/sh\necho \"$@\" > configured-with\n",
        "Makefile": "all:\ninstall:\n\tmkdir -p $(out)\n"
                    "\tcp greeting.txt configured-with $(out)/\n",
    }, executable=("configure",))
    (pk.dir / "fix.patch").write_text(
        "--- a/greeting.txt\n+++ b/greeting.txt\n@@ -1 +1 @@\n-hello\n+hello, patched\n")
    f = pk.expr_file("p.nix", """{
      patched = stdenvNoCC.mkDerivation {
        name = "patched"; src = ./src; patches = [ ./fix.patch ];
        configureFlags = [ "--enable-foo" "--with-bar=baz" ];
      };
      noConfigure = stdenvNoCC.mkDerivation {
        name = "no-configure"; src = ./src; dontConfigure = true;
        preInstall = "echo none > configured-with";
      };
      otherScript = stdenvNoCC.mkDerivation {
        name = "other-script"; src = ./src; dontAddPrefix = true;
        configureScript = "sh ./configure --from-other";
      };
      p0 = stdenvNoCC.mkDerivation {
        name = "p0"; src = ./src; patches = [ ./fix.patch ]; patchFlags = [ "-p1" "--dry-run" ];
      };
    }""")
    out = pk.real(pk.build(f, "patched"))
    assert (out / "greeting.txt").read_text() == "hello, patched\n"
    configured = pk.build(f, "patched")
    assert (out / "configured-with").read_text() == (
        f"--prefix={configured} --enable-foo --with-bar=baz\n")
    assert (pk.real(pk.build(f, "noConfigure")) / "configured-with").read_text() == "none\n"
    other = pk.real(pk.build(f, "otherScript"))
    assert (other / "configured-with").read_text() == "--from-other\n"
    assert (pk.real(pk.build(f, "p0")) / "greeting.txt").read_text() == "hello\n"


def test_c_program(pk: PkgsWorld) -> None:
    require_cc()
    write_tree(pk.dir / "greet", {
        "greet.h": "const char *greeting(void);\n",
        "greet.c": '#include "greet.h"\nconst char *greeting(void) { return "Hello"; }\n',
        "Makefile": "all: libgreet.so\n"
                    "libgreet.so: greet.c\n\t$(CC) -shared -fPIC -o $@ $<\n"
                    "install:\n\tmkdir -p $(out)/lib $(out)/include\n"
                    "\tcp libgreet.so $(out)/lib/\n\tcp greet.h $(out)/include/\n",
    })
    write_tree(pk.dir / "hello", {
        "hello.c": '#include <stdio.h>\n#include <greet.h>\n'
                   'int main(void) { printf("%s, world!\\n", greeting()); return 0; }\n',
        "configure": "#!/bin/sh\nfor a; do case $a in --prefix=*) echo \"PREFIX=${a#*=}\";; "
                     "esac; done > config.mk\n",
        "Makefile": "include config.mk\nall: hello\n"
                    "hello: hello.c\n\t$(CC) -O2 -o $@ $< -lgreet\n"
                    "check: hello\n\t./hello | grep -q 'Hello, world!'\n"
                    "\ttouch tested\n"
                    "install: hello\n\tmkdir -p $(PREFIX)/bin\n"
                    "\tcp hello $(PREFIX)/bin/\n\tcp tested $(PREFIX)/\n",
    }, executable=("configure",))
    f = pk.expr_file("c.nix", """rec {
      greet = stdenv.mkDerivation {
        pname = "greet"; version = "1.0"; src = ./greet; doCheck = false;
      };
      unused = writeTextDir "lib/libunused.so" "";
      hello = stdenv.mkDerivation {
        pname = "hello"; version = "1.0"; src = ./hello;
        buildInputs = [ greet unused ];
        enableParallelBuilding = true;
        meta.mainProgram = "hello";
      };
    }""")
    greet = pk.build(f, "greet")
    hello = pk.build(f, "hello")
    exe = pk.real(hello) / "bin" / "hello"
    # the check target ran (it is the one that creates `tested`)
    assert (pk.real(hello) / "tested").exists()
    # linked against the store library, with an RPATH to it
    dyn = subprocess.run(["readelf", "-d", str(exe)], capture_output=True, text=True).stdout
    assert f"{greet}/lib" in dyn
    # only directories that provide a linked library go into the RPATH
    assert pk.build(f, "unused") not in dyn
    lib_dir = str(pk.real(greet) / "lib")
    run = subprocess.run([str(exe)], capture_output=True, text=True,
                         env={**os.environ, "LD_LIBRARY_PATH": lib_dir})
    assert run.stdout == "Hello, world!\n"
    log = pk.log(hello)
    assert "-j2" in log
    assert pk.eval(f, "hello.name") == "hello-1.0"
    assert pk.eval(f, "hello.stdenv.hasCC") is True


def test_cc_wrapper(pk: PkgsWorld) -> None:
    require_cc()
    f = pk.expr_file("w.nix", "cc")
    cc = pk.real(pk.build(f))
    for name in ("cc", "gcc", "c++", "g++"):
        assert (cc / "bin" / name).exists()
    wrapper = (cc / "bin" / "gcc").read_text()
    assert wrapper.startswith("#!/bin/bash\n")
    assert "-dynamic-linker" in wrapper
    hook = (cc / "nix-support" / "setup-hook").read_text()
    assert "CC=cc" in hook


def test_propagated_build_inputs(pk: PkgsWorld) -> None:
    f = pk.expr_file("p.nix", """rec {
      deep = writeShellScriptBin "deep-tool" "echo deep";
      mid = stdenvNoCC.mkDerivation {
        name = "mid"; dontUnpack = true;
        propagatedBuildInputs = [ deep ];
        installPhase = "mkdir -p $out/include; echo mid > $out/include/mid.h";
      };
      top = stdenvNoCC.mkDerivation {
        name = "top"; dontUnpack = true;
        propagatedBuildInputs = [ mid ];
        installPhase = "mkdir -p $out";
      };
      user = stdenvNoCC.mkDerivation {
        name = "user"; dontUnpack = true;
        buildInputs = [ top ];
        installPhase = ''
          mkdir -p $out
          deep-tool > $out/deep
          echo "$NIX_CFLAGS_COMPILE" > $out/cflags
        '';
      };
    }""")
    deep = pk.build(f, "deep")
    mid = pk.build(f, "mid")
    top = pk.build(f, "top")
    assert (pk.real(mid) / "nix-support/propagated-build-inputs").read_text().split() == [deep]
    assert (pk.real(top) / "nix-support/propagated-build-inputs").read_text().split() == [mid]
    user = pk.real(pk.build(f, "user"))
    assert (user / "deep").read_text() == "deep\n"
    assert f"-isystem {mid}/include" in (user / "cflags").read_text()


def test_setup_hooks(pk: PkgsWorld) -> None:
    f = pk.expr_file("h.nix", """rec {
      hookFile = writeText "my-hook.sh" ''
        export FROM_FILE_HOOK=yes
      '';
      withHook = stdenvNoCC.mkDerivation {
        name = "with-hook"; dontUnpack = true;
        installPhase = "mkdir -p $out";
        setupHook = writeText "setup-hook.sh" ''
          export HOOK_OWNER=@out@
          addSeen() { SEEN="''${SEEN:-} $(basename "$1")"; }
          addEnvHooks addSeen
        '';
      };
      other = writeTextDir "share/other" "";
      user = stdenvNoCC.mkDerivation {
        name = "user"; dontUnpack = true;
        nativeBuildInputs = [ hookFile ];
        buildInputs = [ withHook other ];
        installPhase = ''
          mkdir -p $out
          echo "$HOOK_OWNER" > $out/owner
          echo "$FROM_FILE_HOOK" > $out/file-hook
          echo $SEEN > $out/seen
        '';
      };
    }""")
    with_hook = pk.build(f, "withHook")
    other = pk.build(f, "other")
    hook = (pk.real(with_hook) / "nix-support/setup-hook").read_text()
    assert f"HOOK_OWNER={with_hook}" in hook
    user = pk.real(pk.build(f, "user"))
    assert (user / "owner").read_text() == with_hook + "\n"
    assert (user / "file-hook").read_text() == "yes\n"
    seen = (user / "seen").read_text().split()
    assert os.path.basename(other) in seen and os.path.basename(with_hook) in seen


def test_patch_shebangs(pk: PkgsWorld) -> None:
    f = pk.expr_file("s.nix", """rec {
      tool = writeShellScriptBin "mytool" "echo mytool";
      scripts = stdenvNoCC.mkDerivation {
        name = "scripts"; dontUnpack = true;
        nativeBuildInputs = [ tool ];
        installPhase = ''
          mkdir -p $out/bin
          printf '#!/usr/bin/env mytool\\necho a\\n' > $out/bin/a
          printf '#! /bin/mytool -x\\necho b\\n' > $out/bin/b
          printf '#!/bin/sh\\necho c\\n' > $out/bin/c
          printf '#!/usr/bin/env mytool\\nnot executable\\n' > $out/bin/d
          chmod +x $out/bin/a $out/bin/b $out/bin/c
        '';
      };
      unpatched = scripts.overrideAttrs { name = "unpatched"; dontPatchShebangs = true; };
    }""")
    tool = pk.build(f, "tool")
    out = pk.real(pk.build(f, "scripts"))
    assert (out / "bin/a").read_text() == f"#!{tool}/bin/mytool\necho a\n"
    assert (out / "bin/b").read_text() == f"#!{tool}/bin/mytool -x\necho b\n"
    # no `sh` in the store on PATH (the bootstrap here is the host's): left as is
    assert (out / "bin/c").read_text() == "#!/bin/sh\necho c\n"
    assert (out / "bin/d").read_text().startswith("#!/usr/bin/env mytool\n")
    assert os.access(out / "bin/a", os.X_OK)
    raw = pk.real(pk.build(f, "unpatched"))
    assert (raw / "bin/a").read_text().startswith("#!/usr/bin/env mytool\n")


def test_strip(pk: PkgsWorld) -> None:
    require_cc()
    write_tree(pk.dir / "src", {
        "p.c": "int main(void) { return 0; }\n",
        "Makefile": "all:\n\t$(CC) -g -o p p.c\n"
                    "install:\n\tmkdir -p $(out)/bin\n\tcp p $(out)/bin/\n",
    })
    f = pk.expr_file("s.nix", """rec {
      stripped = stdenv.mkDerivation { name = "stripped"; src = ./src; };
      unstripped = stripped.overrideAttrs { name = "unstripped"; dontStrip = true; };
    }""")

    def sections(path: str) -> str:
        exe = pk.real(path) / "bin" / "p"
        return subprocess.run(["readelf", "-S", str(exe)], capture_output=True,
                              text=True).stdout

    assert ".debug_info" not in sections(pk.build(f, "stripped"))
    assert ".debug_info" in sections(pk.build(f, "unstripped"))


def test_outputs_env_passthru(pk: PkgsWorld) -> None:
    f = pk.expr_file("o.nix", """rec {
      multi = stdenvNoCC.mkDerivation {
        name = "multi"; dontUnpack = true;
        outputs = [ "out" "dev" ];
        env.GREETING = "from env";
        passthru.tag = "passed";
        installPhase = ''
          mkdir -p $out $dev
          echo "$GREETING" > $out/greeting
          echo dev > $dev/dev
        '';
      };
      devUser = runCommand "dev-user" { } "cat ${multi.dev}/dev > $out";
      clash = stdenvNoCC.mkDerivation { name = "clash"; FOO = "a"; env.FOO = "b"; };
    }""")
    out = pk.real(pk.build(f, "multi"))
    assert (out / "greeting").read_text() == "from env\n"
    assert (pk.real(pk.build(f, "multi.dev")) / "dev").read_text() == "dev\n"
    assert pk.real(pk.build(f, "devUser")).read_text() == "dev\n"
    assert pk.eval(f, "multi.tag") == "passed"
    assert pk.eval(f, "multi.outputs") == ["out", "dev"]
    assert pk.eval(f, "multi.dev.tag") == "passed"
    assert "'FOO' is given both as an attribute and in 'env'" in pk.eval_fails(
        f, "clash.drvPath").err


def test_same_outputs_as_nix(pk: PkgsWorld) -> None:
    """The real Nix, given the same expressions (``-I pynix=...``), computes the
    same derivations and builds bit-identical outputs; ``--check`` agrees."""
    require_nix()
    require_cc()
    write_tree(pk.dir / "src", {
        "hello.c": '#include <stdio.h>\nint main(void) { puts("Hello, world!"); return 0; }\n',
        "Makefile": "all: hello\nhello: hello.c\n\t$(CC) -O2 -o $@ $<\n"
                    "check: hello\n\t./hello\n"
                    "install:\n\tmkdir -p $(out)/bin\n\tcp hello $(out)/bin/\n",
    })
    pk.write("h.nix", """let pkgs = import ./pkgs.nix { system = "x86_64-linux"; }; in
      with pkgs; rec {
        hello = stdenv.mkDerivation { pname = "hello"; version = "1"; src = ./src; };
        script = writeShellScriptBin "hi" "echo hi";
        env = buildEnv { name = "env"; paths = [ script hello ]; };
      }""")
    for attr in ("hello", "script", "env"):
        ours = pk.build("h.nix", attr)
        theirs = real_nix("nix-build", pk, "h.nix", "-A", attr, "--no-out-link").strip()
        assert ours == theirs
        r = pk.pynix("path-info", "--json", ours)
        assert r.ok, r.err
        (info,) = json.loads(r.stdout)
        assert info["narHash"] == nix_path_info(pk, theirs)["narHash"], attr
    r = pk.pynix("build", "--check", "--no-link", "-f", "h.nix", "hello")
    assert r.ok, r.err
