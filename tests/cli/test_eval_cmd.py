"""``pynix eval`` against the real ``nix eval`` (Nix 2.8).

Every case runs through both; stdout must be the same bytes and success or failure
must agree.  A pynix failure must be a clean ``error:`` message.  Most cases run
pynix in-process (``nixcmd.run``); the ``SUBPROCESS`` ones run the installed command.

Nix 2.8 evaluates ``--expr`` in pure mode (no ``import ./x``, ``getEnv`` is empty);
pynix does not have a pure mode yet, so the ``--expr`` cases stay away from files and
the environment.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from pynix.cli import eval_cmd, nixcmd

from .oracle import Result, assert_clean_failure, base_env, run_nix, run_pynix_command

# (id, arguments of `eval`, standard input, "ok" or "error" under the real Nix)
CASES: list[tuple[str, list[str], bytes, str]] = [
    # output as a Nix expression
    ("int", ["--expr", "1 + 2"], b"", "ok"),
    ("set", ["--expr", "{a=1;}"], b"", "ok"),
    ("mixed", ["--expr", '{ a = 1; b = [1 "x" {c=2;}]; f = x: x; s = "a\\nb\\${"; fl = 1.5; '
                         "n = null; t = true; }"], b"", "ok"),
    ("floats", ["--expr", "[ 1.0 0.1 1.0e-5 123456789.0 (1 / 3.0) ]"], b"", "ok"),
    ("escapes", ["--expr", '"\\t\\r \\${x} \\"q\\" \\\\"'], b"", "ok"),
    ("quoted-names", ["--expr", '{ "a b" = 1; "if" = 2; x.y.z = "q$"; "" = 3; }'], b"", "ok"),
    ("repeated-set", ["--expr", "let x = { a = 1; }; in { y = x; z = x; }"], b"", "ok"),
    ("repeated-list", ["--expr", "let l = [ 1 2 3 ]; in [ l l ]"], b"", "ok"),
    ("primop", ["--expr", "builtins.map"], b"", "ok"),
    ("primop-app", ["--expr", "builtins.map (x: x)"], b"", "ok"),
    ("lambda", ["--expr", "x: x"], b"", "ok"),
    ("deep-force", ["--expr", "{ a = { b = [ (1 + 1) { c = \"d\"; } ]; }; }"], b"", "ok"),
    ("unicode", ["--expr", '"h\u00e9llo \u2603"'], b"", "ok"),
    ("to-json-string", ["--expr", "builtins.toJSON { a = [ 1 null ]; }"], b"", "ok"),
    ("deep-recursion", ["--expr", "builtins.foldl' (a: b: a + b) 0 (builtins.genList (x: x) "
                                  "100000)"], b"", "ok"),
    # --raw
    ("raw", ["--raw", "--expr", '"hi\\n"'], b"", "ok"),
    ("raw-multiline", ["--raw", "--expr", "''\n  one\n  two\n''"], b"", "ok"),
    ("raw-outpath", ["--raw", "--expr", '{ outPath = "xx"; }'], b"", "ok"),
    ("raw-tostring", ["--raw", "--expr", '{ __toString = s: "ts"; }'], b"", "ok"),
    ("raw-int", ["--raw", "--expr", "1"], b"", "error"),
    ("raw-list", ["--raw", "--expr", "[ 1 ]"], b"", "error"),
    ("raw-set", ["--raw", "--expr", "{ }"], b"", "error"),
    # --json
    ("json", ["--json", "--expr", '{ a = [ 1 2.5 "x" ]; b = null; c = true; }'], b"", "ok"),
    ("json-unicode", ["--json", "--expr", '"\u00e9\\n\\t\\"\\u0001"'], b"", "ok"),
    ("json-tostring", ["--json", "--expr", '{ __toString = s: "ts"; }'], b"", "ok"),
    ("json-function", ["--json", "--expr", "x: x"], b"", "error"),
    ("json-attr", ["--json", "--expr", "{ x = { y = 1; }; }", "x"], b"", "ok"),
    # attribute paths
    ("attr", ["--expr", "{ x = { y = 1; }; }", "x.y"], b"", "ok"),
    ("attr-index", ["--expr", "{ x = [ 10 20 ]; }", "x.1"], b"", "ok"),
    ("attr-index-out", ["--expr", "{ x = [ 10 20 ]; }", "x.5"], b"", "error"),
    ("attr-quoted", ["--expr", '{ "a.b" = 1; }', '"a.b"'], b"", "ok"),
    ("attr-missing", ["--expr", "{ a = 1; }", "nope"], b"", "error"),
    ("attr-not-set", ["--expr", "{ a = 1; }", "a.b"], b"", "error"),
    # --file
    ("file", ["--file", "f.nix"], b"", "ok"),
    ("file-attr", ["-f", "f.nix", "a.b"], b"", "ok"),
    ("file-raw", ["-f", "f.nix", "a.c", "--raw"], b"", "ok"),
    ("file-apply", ["-f", "f.nix", "a", "--apply", "builtins.attrNames"], b"", "ok"),
    ("file-apply-map", ["-f", "f.nix", "l", "--apply", "map (x: x * 2)"], b"", "ok"),
    ("file-function", ["-f", "fun.nix"], b"", "ok"),
    ("file-arg", ["-f", "fun.nix", "--arg", "y", "3", "sum"], b"", "ok"),
    ("file-argstr", ["-f", "fun.nix", "--argstr", "y", "3", "s"], b"", "ok"),
    ("file-missing-arg", ["-f", "fun.nix", "sum"], b"", "error"),
    ("file-default-arg", ["-f", "pkgs.nix", "hello"], b"", "ok"),
    ("file-default-arg-json", ["-f", "pkgs.nix", "--json", "--argstr", "system", "aarch64-linux",
                               "hello"], b"", "ok"),
    ("file-nested", ["-f", "nested.nix"], b"", "ok"),
    ("file-dir", ["-f", "dir", "fromDir"], b"", "ok"),
    ("file-stdin", ["-f", "-", "a"], b"{ a = 2; b = throw \"unused\"; }", "ok"),
    ("file-search-path", ["-I", "sp=sp", "-f", "<sp/lib.nix>", "name"], b"", "ok"),
    ("file-import", ["-f", "f.nix", "--apply", "x: (import ./sp/lib.nix).double 21"], b"", "ok"),
    ("file-not-found", ["-f", "nope.nix"], b"", "error"),
    ("apply-error", ["-f", "f.nix", "--apply", "x: x.nope"], b"", "error"),
    # errors
    ("throw-deep", ["--expr", '{ x = throw "boom"; }'], b"", "error"),
    ("abort-in-list", ["--expr", '[ 1 (abort "no") ]'], b"", "error"),
    ("type-error", ["--expr", '{ x = [ (1 + "a") ]; }'], b"", "error"),
    ("syntax-error", ["--expr", "let x = 1;"], b"", "error"),
    ("show-trace", ["--show-trace", "--expr", "let f = x: x + \"a\"; in f 1"], b"", "error"),
    ("usage-raw-json", ["--raw", "--json", "--expr", "1"], b"", "error"),
    ("usage-file-expr", ["--expr", "1", "--file", "f.nix"], b"", "error"),
    ("usage-unknown-flag", ["--bogus", "--expr", "1"], b"", "error"),
    ("usage-missing-value", ["--expr"], b"", "error"),
    ("usage-two-installables", ["--expr", "{ a = 1; }", "a", "b"], b"", "error"),
]

SUBPROCESS = {"int", "json", "raw", "file-attr", "throw-deep", "usage-raw-json",
              "deep-recursion", "file-stdin"}


def compare(case_id: str, expect: str, nix: Result, py: Result) -> None:
    where = f"{case_id}\nnix: {nix}\npynix: {py}"
    # the case list is checked too: a case meant to fail must fail under Nix
    assert nix.ok == (expect == "ok"), f"case list error: {where}"
    assert py.ok == nix.ok, where
    if nix.ok:
        assert py.stdout == nix.stdout, where
        return
    assert_clean_failure(py)
    assert py.stdout == b"", where
    # the message itself (the code frame's layout belongs to the language's tests)
    assert py.stderr.split(b"\n")[0] == nix.stderr.split(b"\n")[0], where


def params(only: set[str] | None = None) -> list[object]:
    return [pytest.param(a, s, e, id=i) for i, a, s, e in CASES if only is None or i in only]


@pytest.mark.parametrize(("args", "stdin", "expect"), params())
def test_eval_in_process(args: list[str], stdin: bytes, expect: str, fixtures_dir: Path,
                         request: pytest.FixtureRequest) -> None:
    nix = run_nix(["eval", *args], stdin=stdin, cwd=fixtures_dir)
    rc, out, err = nixcmd.run(["eval", *args], stdin=stdin, env=base_env(fixtures_dir),
                              cwd=str(fixtures_dir))
    compare(request.node.callspec.id, expect, nix, Result(rc, out, err))


@pytest.mark.parametrize(("args", "stdin", "expect"), params(SUBPROCESS))
def test_eval_command(args: list[str], stdin: bytes, expect: str, fixtures_dir: Path,
                      request: pytest.FixtureRequest) -> None:
    nix = run_nix(["eval", *args], stdin=stdin, cwd=fixtures_dir)
    py = run_pynix_command(["eval", *args], stdin=stdin, cwd=fixtures_dir)
    compare(request.node.callspec.id, expect, nix, py)


def test_write_to(fixtures_dir: Path, tmp_path: Path) -> None:
    expr = '{ foo = "bar"; subdir.bla = "123"; subdir.empty = ""; }'
    nix = run_nix(["eval", "--write-to", str(tmp_path / "nix"), "--expr", expr],
                  cwd=fixtures_dir)
    assert nix.ok, nix
    rc, _, err = nixcmd.run(["eval", "--write-to", str(tmp_path / "py"), "--expr", expr],
                            env=base_env(fixtures_dir), cwd=str(fixtures_dir))
    assert rc == 0, err

    def tree(root: Path) -> dict[str, bytes | None]:
        return {str(p.relative_to(root)): (p.read_bytes() if p.is_file() else None)
                for p in sorted(root.rglob("*"))}

    assert tree(tmp_path / "py") == tree(tmp_path / "nix")
    # the target must not exist, and only strings and sets can be written
    for args in (["--write-to", str(tmp_path / "py"), "--expr", '"x"'],
                 ["--write-to", str(tmp_path / "bad"), "--expr", "{ a = 1; }"]):
        nix = run_nix(["eval", *args], cwd=fixtures_dir)
        py = Result(*nixcmd.run(["eval", *args], env=base_env(fixtures_dir),
                                cwd=str(fixtures_dir)))
        assert not nix.ok
        assert_clean_failure(py)


# ---------------------------------------------------------------------------
# pynix's own behaviour (no oracle)


def run_eval(args: list[str], cwd: Path, stdin: bytes = b"") -> Result:
    return Result(*eval_cmd.run(args, stdin=stdin, env=base_env(cwd), cwd=str(cwd)))


def test_json_has_no_trailing_newline_like_nix_2_8(fixtures_dir: Path) -> None:
    assert run_eval(["--json", "--expr", "[ 1 ]"], fixtures_dir).stdout == b"[1]"
    assert run_eval(["--expr", "[ 1 ]"], fixtures_dir).stdout == b"[ 1 ]\n"


def test_flake_installables_are_refused_with_advice(fixtures_dir: Path) -> None:
    r = run_eval(["f.nix"], fixtures_dir)
    assert_clean_failure(r)
    assert b"--file f.nix" in r.stderr
    r = run_eval(["nixpkgs#hello"], fixtures_dir)
    assert_clean_failure(r)
    assert b"flake" in r.stderr
    r = run_eval([], fixtures_dir)
    assert_clean_failure(r)
    assert b"--expr" in r.stderr


def test_parse_installable() -> None:
    inst = eval_cmd.parse_installable("a.b", file="f.nix", expr=None)
    assert (inst.kind, inst.source, inst.attr_path) == ("file", "f.nix", "a.b")
    inst = eval_cmd.parse_installable(None, file=None, expr="1")
    assert (inst.kind, inst.source, inst.attr_path) == ("expr", "1", "")


def test_help(fixtures_dir: Path) -> None:
    r = run_eval(["--help"], fixtures_dir)
    assert r.ok
    assert r.stdout.startswith(b"Usage: pynix eval")
    for flag in (b"--expr", b"--file", b"--json", b"--raw", b"--apply", b"--arg", b"-I"):
        assert flag in r.stdout


def test_error_has_code_frame(fixtures_dir: Path) -> None:
    r = run_eval(["--expr", '{ x = [ (1 + "a") ]; }'], fixtures_dir)
    assert_clean_failure(r)
    assert r.stderr.startswith(b"error: cannot add a string to an integer")
    assert b"at \xc2\xabstring\xc2\xbb:1:" in r.stderr
    assert b'1| { x = [ (1 + "a") ]; }' in r.stderr


def test_nix_flags_are_accepted(fixtures_dir: Path) -> None:
    r = run_eval(["--extra-experimental-features", "nix-command flakes", "--impure",
                  "--option", "x", "y", "--read-only", "--expr", "1"], fixtures_dir)
    assert r.ok and r.stdout == b"1\n", r


def test_search_path_from_nix_path(fixtures_dir: Path) -> None:
    env = {**base_env(fixtures_dir), "NIX_PATH": f"sp={fixtures_dir}/sp"}
    rc, out, err = eval_cmd.run(["--expr", "(import <sp/lib.nix>).double 4"], env=env,
                                cwd=str(fixtures_dir))
    assert (rc, out) == (0, b"8\n"), err


def test_non_utf8_bytes_pass_through(fixtures_dir: Path) -> None:
    r = run_eval(["--raw", "-f", "-"], fixtures_dir, stdin=b'"\xff\xfe"')
    assert r.ok and r.stdout == b"\xff\xfe", r
