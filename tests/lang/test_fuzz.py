"""Fuzz test: random and mutated source text must never give pynix a Python traceback.

Inputs (a few thousand, from a fixed seed) are random bytes, Nix-token soup, corpus
sources truncated or mutated, invalid UTF-8 in strings, identifiers and comments, huge
numbers, and deeply nested brackets.  Each is fed to pynix on standard input (the
``pynix-instantiate`` worker runs ``run`` in-process) with ``--eval --strict`` or
``--parse``.  Success is fine; a failure must be a clean ``error:`` message.  Each call is
bounded in time: a pynix call that does not finish counts as a failure unless the real
Nix cannot finish on the same input either.

The whole test keeps to a time budget (``PYNIX_FUZZ_BUDGET`` seconds, default 45) split
between the categories; each category must still get through a minimum of inputs (all
of the deep-nesting ones).
"""

from __future__ import annotations

import os
import random
import time
from pathlib import Path

import pytest
from difftest import (
    Result,
    Runner,
    base_env,
    clean_failure_problem,
    describe,
    load_corpus,
    nix_path,
    run_nix,
)

SEED = 20260521
BUDGET = float(os.environ.get("PYNIX_FUZZ_BUDGET", "45"))
CASE_TIMEOUT = 60.0  # detects hangs; generous, so that a loaded machine passes too
MIN_PER_CATEGORY = 150

TOKENS = [
    "let",
    "in",
    "rec",
    "with",
    "inherit",
    "if",
    "then",
    "else",
    "assert",
    "or",
    "{",
    "}",
    "[",
    "]",
    "(",
    ")",
    ";",
    ":",
    "=",
    ".",
    "..",
    "...",
    ",",
    "?",
    "@",
    "!",
    "-",
    "+",
    "*",
    "/",
    "//",
    "++",
    "==",
    "!=",
    "<",
    ">",
    "<=",
    ">=",
    "&&",
    "||",
    "->",
    "|>",
    "<|",
    '"',
    "''",
    "${",
    "'''",
    "''$",
    "''\\",
    "\\",
    "$",
    "#",
    "/*",
    "*/",
    "\n",
    " ",
    "\t",
    "x",
    "y",
    "a.b",
    "1",
    "0",
    "-1",
    "1.5",
    ".5",
    "1e3",
    "9223372036854775807",
    "9223372036854775808",
    "./p",
    "/abs",
    "~/h",
    "<nixpkgs>",
    "http://u.v/w",
    "true",
    "false",
    "null",
    "builtins",
    "builtins.map",
    "throw",
    "abort",
    "import",
    "__curPos",
    "x: x",
    "{ a, b ? 1, ... }:",
]
NASTY_BYTES = [b"\xff", b"\xfe", b"\xc3", b"\xc3(", b"\xe2\x82", b"\xed\xa0\x80", b"\x00", b"\x80"]


def _corpus_sources() -> list[str]:
    return [c.source for c in load_corpus() if c.source.strip()]


def _random_bytes(rng: random.Random) -> bytes:
    return bytes(rng.randrange(256) for _ in range(rng.randrange(0, 120)))


def _token_soup(rng: random.Random) -> bytes:
    return " ".join(rng.choice(TOKENS) for _ in range(rng.randrange(1, 40))).encode()


def _truncated(rng: random.Random, sources: list[str]) -> bytes:
    src = rng.choice(sources).encode()
    return src[: rng.randrange(0, len(src) + 1)]


def _mutated(rng: random.Random, sources: list[str]) -> bytes:
    data = bytearray(rng.choice(sources).encode())
    for _ in range(rng.randrange(1, 4)):
        op = rng.randrange(6)
        pos = rng.randrange(0, len(data) + 1)
        if op == 0 and data:  # flip a byte
            data[min(pos, len(data) - 1)] = rng.randrange(256)
        elif op == 1:  # insert a token
            data[pos:pos] = rng.choice(TOKENS).encode()
        elif op == 2:  # delete a span
            del data[pos : pos + rng.randrange(1, 8)]
        elif op == 3:  # duplicate a span
            data[pos:pos] = data[pos : pos + rng.randrange(1, 16)]
        elif op == 4:  # swap two bytes
            if len(data) > 1:
                i, j = rng.randrange(len(data)), rng.randrange(len(data))
                data[i], data[j] = data[j], data[i]
        else:  # insert a nasty byte sequence
            data[pos:pos] = rng.choice(NASTY_BYTES)
    return bytes(data)


def _invalid_utf8(rng: random.Random) -> bytes:
    bad = rng.choice([*NASTY_BYTES[:-2], b"\x80\x81", b"\xf8\x88\x80\x80\x80"])
    templates = [
        b'"a%sb"',
        b"''\n  %s\n''",
        b"# %s\n1",
        b"/* %s */ 2",
        b"let x%s = 1; in x",
        b'{ "%s" = 1; }',
        b'builtins.stringLength "%s"',
        b'builtins.toJSON "%s"',
        b'builtins.match "%s" "x"',
        b'builtins.fromJSON "\\"%s\\""',
        b"./a%sb",
        b'builtins.hashString "sha256" "%s"',
        b'throw "%s"',
        b"%s",
        b'builtins.split "." "%s"',
    ]
    return rng.choice(templates) % bad


def _huge_number(rng: random.Random) -> bytes:
    digits = "".join(rng.choice("0123456789") for _ in range(rng.randrange(19, 400)))
    forms = [
        digits,
        f"-{digits}",
        f"{digits}.5",
        f"0.{digits}",
        f"1.{digits}e{digits[:6]}",
        f"1.0e-{digits[:5]}",
        f"1.5e{digits[:4]}",
        f'builtins.fromJSON "{digits}"',
        f'builtins.fromJSON "1e{digits[:5]}"',
        f"9223372036854775807 + {digits[:3]}",
        f'builtins.substring 0 {digits[:19]} "abc"',
        f"builtins.genList (x: x) -{digits[:3]}",
        f"builtins.elemAt [ 1 ] {digits[:19]}",
        f"builtins.bitAnd {digits[:18]} (-{digits[:18]})",
        f"builtins.ceil 1.0e{digits[:3]}",
        f'builtins.fromTOML "a = {digits}"',
        f"builtins.toString {digits[:18]}.{digits[:18]}",
    ]
    return rng.choice(forms).encode()


def _deep_nesting() -> list[bytes]:
    out: list[bytes] = []
    for n in (100, 1000, 4000, 20000):
        out += [
            b"(" * n + b"1" + b")" * n,
            b"(" * n,
            b"[" * n + b"]" * n,
            b"[" * n,
            b"{ a = " * n + b"1" + b"; }" * n,
            b"let a = " * n + b"1" + b"; in a" * n,
            b"x: " * n + b"1",
            b"!" * n + b"true",
            b'"${' * n + b'"x"' + b'}"' * n,
            b"1" + b" + 1" * n,
            b"/*" * n,
            b"''" * n,
            b"if true then " * n + b"1" + b" else 0" * n,
            b"with {}; " * n + b"1",
            b"assert true; " * n + b"1",
            b"[ " + b"1 " * n + b"]",
        ]
    # Nix 2.8 takes time quadratic in the length of these, so they stay shorter.
    for n in (100, 1000, 4000):
        out += [b"-" * n + b"1", b"a." * n + b"b", b"{ a." + b"b." * n + b"c = 1; }"]
    out.append(b"let f = n: if n == 0 then 0 else f (n - 1) + 1; in f 100000")
    out.append(b"let f = x: f x; in f 1")
    out.append(
        b"let xs = builtins.genList (x: [ x ]) 20000; in builtins.foldl' (a: b: [ a ]) [ ] xs"
    )
    return out


def fuzz_inputs() -> dict[str, list[bytes]]:
    """The fuzz inputs by category: deterministic for a given corpus."""
    rng = random.Random(SEED)
    sources = _corpus_sources()
    return {
        "random-bytes": [_random_bytes(rng) for _ in range(500)],
        "token-soup": [_token_soup(rng) for _ in range(700)],
        "truncated": [_truncated(rng, sources) for _ in range(700)],
        "mutated": [_mutated(rng, sources) for _ in range(1000)],
        "invalid-utf8": [_invalid_utf8(rng) for _ in range(200)],
        "huge-numbers": [_huge_number(rng) for _ in range(200)],
        "deep-nesting": _deep_nesting(),
    }


INPUTS = fuzz_inputs()
MODES = (["--eval", "--strict", "-"], ["--parse", "-"])


def _nix_finishes(argv: list[str], data: bytes, fixtures: Path) -> bool:
    if nix_path() is None:
        return True
    r = run_nix(argv, stdin=data, env=base_env(fixtures), cwd=fixtures, timeout=CASE_TIMEOUT)
    return 0 <= r.status < 128


@pytest.mark.parametrize("category", list(INPUTS))
def test_fuzz(category: str, fixtures_dir: Path, pynix_run: Runner) -> None:
    inputs = INPUTS[category]
    budget = BUDGET * len(inputs) / sum(len(v) for v in INPUTS.values())
    budget = max(budget, 3.0)
    env = base_env(fixtures_dir)
    start = time.monotonic()
    done = 0
    failures: list[str] = []
    for i, data in enumerate(inputs):
        if time.monotonic() - start > budget and done >= MIN_PER_CATEGORY:
            break
        modes = MODES if category == "deep-nesting" else (MODES[i % 2],)
        for argv in modes:
            r: Result = pynix_run(argv, stdin=data, env=env, cwd=fixtures_dir, timeout=CASE_TIMEOUT)
            problem = None
            if r.status == -9:
                if _nix_finishes(argv, data, fixtures_dir):
                    problem = f"did not finish in {CASE_TIMEOUT} s (Nix does)"
            elif not r.ok:
                problem = clean_failure_problem(r)
                if problem == "stderr does not start with 'error:'" and not r.stderr.strip(b"\n"):
                    problem = None  # `throw ""` prints a bare empty message, as Nix does
            elif b"Traceback (most recent call last)" in r.stderr:
                problem = "printed a Python traceback"
            if problem:
                failures.append(
                    f"input {data[:300]!r} ({len(data)} bytes) with {argv}: {problem}\n"
                    + describe("pynix", r)
                )
        done += 1
        if len(failures) >= 5:
            break
    if failures:
        pytest.fail(
            f"{len(failures)} unclean failure(s) in {category} after {done} inputs:\n\n"
            + "\n".join(failures),
            pytrace=False,
        )
    assert done >= min(MIN_PER_CATEGORY, len(inputs)), (
        f"only {done} {category} inputs in {budget:.0f} s: pynix is too slow for the fuzz budget"
    )
