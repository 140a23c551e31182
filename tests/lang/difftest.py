"""Shared helpers of the differential tests: pynix against the real ``nix-instantiate``.

Expected outputs are never stored.  Every case runs through the real Nix (the oracle)
at test time and through pynix, and the two must agree on stdout (byte for byte) and on
success or failure.  A pynix failure must also be a clean error: stderr whose first
message starts with ``error:`` and no Python traceback.

Corpus format (``tests/lang/corpus/*.cases``)
---------------------------------------------
Lines before the first case header are a comment on the whole file.  A case starts with
a header line::

    --- NAME [FLAG ...]

and its body (Nix source) runs up to the next header; trailing blank lines are dropped.
FLAGs are split like a shell does.  Those that start with ``@`` steer the harness, the
others are passed to both evaluators as ``nix-instantiate`` arguments (``--json``,
``--xml``, ``--no-location``, ``--parse``, ``-A x``, ``--arg n e``, ``--argstr n v``,
``--show-trace``, ``-I p``).  ``{fixtures}`` in a flag is replaced by the fixture directory.

``--eval --strict`` is added unless ``@lazy`` (only ``--eval``) or ``--parse`` is given.
The source is passed with ``-E`` unless ``@file`` (written to ``main.nix`` in the fixture
directory and passed as a path) or ``@stdin`` (passed as ``-`` on standard input).

Harness flags:

``@error``        the real Nix must fail on this case (default: it must succeed); this
                  checks the corpus itself, so an error case that accidentally
                  succeeds is caught;
``@any``          the case may succeed or fail under Nix;
``@lazy``         ``--eval`` without ``--strict``;
``@file``/``@stdin`` how the source is given (see above);
``@nostdout``     compare only success or failure (output differs run to run);
``@sub``          run pynix as a command (``pynix-instantiate``) instead of in-process;
``@env:N=V``      set environment variable N to V for both evaluators;
``@expect=TEXT``  do not consult Nix 2.8 (which lacks the feature): pynix's stdout must
                  be TEXT plus a newline (with ``@error``: pynix must fail cleanly).
                  Only used for features newer than Nix 2.8, checked against the
                  Nix manual.

Every case is run in the fixture directory (see :data:`FIXTURE_FILES`), with ``HOME``
set to ``{fixtures}/home`` and ``NIX_PATH`` to ``corpus={fixtures}/sp1:{fixtures}/sp2``.

Environment switches:

``PYNIX_DIFFTEST_SELF=1``   use the real Nix in place of pynix, to prove the corpus is
                            deterministic and every case is valid as written;
``PYNIX_DIFFTEST_DIRECT=1`` call pynix in the test process (for a debugger) instead of
                            in a worker process that can be killed on a hang.
"""

from __future__ import annotations

import importlib
import os
import pickle
import re
import selectors
import shlex
import shutil
import struct
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import pytest

import needs

HERE = Path(__file__).resolve().parent
CORPUS_DIR = HERE / "corpus"
NIX_INSTANTIATE = "nix-instantiate"
TRACEBACK = b"Traceback (most recent call last)"
DEFAULT_TIMEOUT = 60.0

SELF_TEST = os.environ.get("PYNIX_DIFFTEST_SELF", "") not in ("", "0")
DIRECT = os.environ.get("PYNIX_DIFFTEST_DIRECT", "") not in ("", "0")

HEADER = re.compile(r"^--- ([A-Za-z0-9_.+-]+)(?:[ \t]+(.*))?$")


# --------------------------------------------------------------------------- corpus


@dataclass(frozen=True)
class Case:
    """One expression of the corpus and how to run it."""

    file: str
    name: str
    source: str
    args: tuple[str, ...] = ()
    how: str = "expr"  # "expr" (-E), "file" (main.nix) or "stdin" (-)
    expect_status: str = "ok"  # "ok", "error" or "any" under the real Nix
    strict: bool = True
    compare_stdout: bool = True
    subprocess: bool = False
    env: tuple[tuple[str, str], ...] = ()
    documented: bool = False  # checked against the manual, not Nix 2.8 (@expect)
    expected_stdout: str | None = None  # with documented and success
    line: int = 0

    @property
    def id(self) -> str:
        return f"{self.file}:{self.name}"

    def argv(self, fixtures: Path) -> list[str]:
        """The arguments for ``nix-instantiate`` (without the program name)."""
        extra = [a.replace("{fixtures}", str(fixtures)) for a in self.args]
        argv: list[str] = []
        if "--parse" not in extra:
            argv.append("--eval")
            if self.strict:
                argv.append("--strict")
        argv += extra
        if self.how == "expr":
            argv += ["-E", self.source]
        elif self.how == "file":
            argv.append(str(fixtures / "main.nix"))
        else:
            argv.append("-")
        return argv

    def stdin(self) -> bytes:
        return self.source.encode() if self.how == "stdin" else b""

    def prepare(self, fixtures: Path) -> None:
        if self.how == "file":
            (fixtures / "main.nix").write_text(self.source + "\n")

    def environment(self, fixtures: Path) -> dict[str, str]:
        env = base_env(fixtures)
        for k, v in self.env:
            env[k] = v.replace("{fixtures}", str(fixtures))
        return env


def parse_corpus(text: str, file: str) -> list[Case]:
    """Split one corpus file into cases."""
    cases: list[Case] = []
    header: tuple[str, list[str], int] | None = None
    body: list[str] = []

    def flush() -> None:
        if header is None:
            return
        name, flags, line = header
        while body and not body[-1].strip():
            body.pop()
        cases.append(make_case(file, name, flags, "\n".join(body), line))

    for lineno, line in enumerate(text.split("\n"), 1):
        m = HEADER.match(line)
        if m:
            flush()
            header = (m.group(1), shlex.split(m.group(2) or ""), lineno)
            body = []
        elif header is not None:
            body.append(line)
    flush()
    names = [c.name for c in cases]
    dups = {n for n in names if names.count(n) > 1}
    if dups:
        raise ValueError(f"{file}: duplicate case names {sorted(dups)}")
    return cases


def make_case(file: str, name: str, flags: list[str], source: str, line: int) -> Case:
    args: list[str] = []
    kw: dict[str, Any] = {}
    env: list[tuple[str, str]] = []
    for flag in flags:
        if not flag.startswith("@"):
            args.append(flag)
            continue
        key, _, value = flag.partition("=")
        if key == "@error":
            kw["expect_status"] = "error"
        elif key == "@any":
            kw["expect_status"] = "any"
        elif key == "@lazy":
            kw["strict"] = False
        elif key in ("@file", "@stdin"):
            kw["how"] = key[1:]
        elif key == "@nostdout":
            kw["compare_stdout"] = False
        elif key == "@sub":
            kw["subprocess"] = True
        elif key.startswith("@env:"):
            ename, _, evalue = flag[5:].partition("=")
            env.append((ename, evalue))
        elif key == "@expect":
            kw["documented"] = True
            kw["expected_stdout"] = value
        else:
            raise ValueError(f"{file}:{line}: unknown harness flag {flag!r}")
    if kw.get("expect_status") == "error":
        kw.pop("expected_stdout", None)
    return Case(
        file=file,
        name=name,
        source=source,
        args=tuple(args),
        env=tuple(env),
        line=line,
        **kw,
    )


def load_corpus(directory: Path = CORPUS_DIR) -> list[Case]:
    cases: list[Case] = []
    for path in sorted(directory.glob("*.cases")):
        cases += parse_corpus(path.read_bytes().decode("utf-8"), path.stem)
    return cases


# --------------------------------------------------------------------------- fixtures

# Files every case can reach, relative to the fixture directory (the cwd of both
# evaluators).  Values are file contents; a value of ("symlink", target) is a link.
FIXTURE_FILES: dict[str, bytes | tuple[str, str]] = {
    "home/.keep": b"",
    "home/in-home.nix": b"{ fromHome = true; }\n",
    "data/hello.txt": b"hello world\n",
    "data/empty.txt": b"",
    "data/no-newline.txt": b"no newline",
    "data/latin1.txt": b"caf\xe9 \xff\xfe\n",
    "data/utf8.txt": "żółw ünïcødé ✓\n".encode(),
    "data/lib.nix": b'{ x = 1; f = a: a + 1; s = "lib"; }\n',
    "data/fn.nix": b"a: a * 2\n",
    "data/int.nix": b"42\n",
    "data/uses-rel.nix": b"(import ./lib.nix).x + 10\n",
    "data/self-path.nix": b"{ here = ./.; file = ./self-path.nix; }\n",
    "data/scoped.nix": b"x + y\n",
    "data/scoped-builtins.nix": b"builtins.length [ x ]\n",
    "data/scoped-import.nix": b"import ./scoped-free.nix\n",
    "data/scoped-free.nix": b"1\n",
    "data/syntax-error.nix": b"{ a = ; }\n",
    "data/throws.nix": b'throw "thrown from a file"\n',
    "data/undefined.nix": b"{ a = undefinedVariable; }\n",
    "data/cycle-a.nix": b"{ b = (import ./cycle-b.nix).v; v = 1; }\n",
    "data/cycle-b.nix": b"{ v = (import ./cycle-a.nix).v + 1; }\n",
    "data/self-import.nix": b"import ./self-import.nix\n",
    "data/dir/default.nix": b"{ fromDefault = true; }\n",
    "data/dir/other.nix": b'"other"\n',
    "data/json.json": b'{"a": [1, 2.5, "x", null, true], "b": {"c": "d"}}\n',
    "data/config.toml": b'title = "t"\n[owner]\nname = "n"\nage = 3\n',
    "data/with-context.nix": (
        b'{ drv = derivation { name = "d"; system = "x"; builder = "/b"; }; }\n'
    ),
    "data/args.nix": b'{ a ? 1, b ? "bee", ... }: [ a b ]\n',
    "data/attrs.nix": b'{ x = { y = { z = 7; }; }; l = [ 10 20 ]; "a.b" = 5; f = { n ? 1 }: n; }\n',
    "data/tree/file": b"file\n",
    "data/tree/dir/inner": b"inner\n",
    "data/tree/link": ("symlink", "file"),
    "data/tree/dangling": ("symlink", "does-not-exist"),
    "data/tree/.hidden": b"hidden\n",
    "data/link-to-lib.nix": ("symlink", "lib.nix"),
    "data/link-to-dir": ("symlink", "dir"),
    "data/pos.nix": b"{\n  a = 1;\n  b = {\n    c = 2;\n  };\n  f = x: x;\n}\n",
    "sp1/foo/default.nix": b'"sp1 foo"\n',
    "sp1/bar.nix": b'"sp1 bar"\n',
    "sp1/only1.nix": b'"only in sp1"\n',
    "sp2/bar.nix": b'"sp2 bar"\n',
    "sp2/only2.nix": b'"only in sp2"\n',
    "sp2/sub/deep.nix": b'"deep in sp2"\n',
    "sp3/bar.nix": b'"sp3 bar"\n',
    "sp3/x/y.nix": b'"sp3 x y"\n',
}


def make_fixtures(root: Path) -> Path:
    """Create the fixture tree under ``root`` and return it (resolved)."""
    root.mkdir(parents=True, exist_ok=True)
    for rel, content in FIXTURE_FILES.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, tuple):
            if not path.is_symlink():
                path.symlink_to(content[1])
        else:
            path.write_bytes(content)
    (root / "main.nix").write_text("null\n")
    return root.resolve()


def base_env(fixtures: Path) -> dict[str, str]:
    """The environment both evaluators see: small, fixed, independent of the caller."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(fixtures / "home"),
        "NIX_PATH": f"corpus={fixtures}/sp1:{fixtures}/sp2",
        "LANG": "C.UTF-8",
        "TZ": "UTC",
        "PYNIX_TEST_VAR": "hello from the environment",
        "PYNIX_TEST_EMPTY": "",
    }


# --------------------------------------------------------------------------- running


@dataclass(frozen=True)
class Result:
    status: int
    stdout: bytes
    stderr: bytes

    @property
    def ok(self) -> bool:
        return self.status == 0


def nix_path() -> str | None:
    return shutil.which(NIX_INSTANTIATE)


def run_nix(
    argv: list[str],
    *,
    stdin: bytes = b"",
    env: dict[str, str] | None = None,
    cwd: str | Path | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> Result:
    """Run the real ``nix-instantiate``."""
    exe = needs.nix(NIX_INSTANTIATE)
    try:
        proc = subprocess.run(
            [exe, *argv],
            input=stdin,
            capture_output=True,
            env=env,
            cwd=cwd,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired as e:
        return Result(-9, e.stdout or b"", (e.stderr or b"") + b"\n[timed out]")
    return Result(proc.returncode, proc.stdout, proc.stderr)


def pynix_command() -> list[str]:
    exe = shutil.which("pynix-instantiate")
    if exe:
        return [exe]
    return [sys.executable, "-m", "pynix.cli.instantiate"]


def run_pynix_command(
    argv: list[str],
    *,
    stdin: bytes = b"",
    env: dict[str, str] | None = None,
    cwd: str | Path | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> Result:
    """Run pynix as the ``pynix-instantiate`` command."""
    if SELF_TEST:
        return run_nix(argv, stdin=stdin, env=env, cwd=cwd, timeout=timeout)
    full_env = dict(env or os.environ)
    # The command must find the package the tests import, installed or not.
    src = str(HERE.parent.parent / "src")
    full_env["PYTHONPATH"] = os.pathsep.join(
        p for p in (src, os.environ.get("PYTHONPATH", "")) if p
    )
    try:
        proc = subprocess.run(
            [*pynix_command(), *argv],
            input=stdin,
            capture_output=True,
            env=full_env,
            cwd=cwd,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired as e:
        return Result(-9, e.stdout or b"", (e.stderr or b"") + b"\n[timed out]")
    return Result(proc.returncode, proc.stdout, proc.stderr)


# The worker: a child Python process that imports pynix once and answers requests
# read from stdin.  A hang or a runaway allocation is then contained: the harness
# kills the worker and starts another.
WORKER_CODE = textwrap.dedent(
    """
    import os, pickle, struct, sys, traceback
    try:
        import resource
        lim = 16 * 1024 ** 3
        resource.setrlimit(resource.RLIMIT_AS, (lim, lim))
    except Exception:
        pass
    inp, out = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr
    def send(obj):
        data = pickle.dumps(obj)
        out.write(struct.pack("<Q", len(data)) + data)
        out.flush()
    try:
        from pynix.cli.instantiate import run
    except BaseException:
        run = None
        import_error = traceback.format_exc()
    while True:
        head = inp.read(8)
        if len(head) < 8:
            break
        argv, stdin, env, cwd = pickle.loads(inp.read(struct.unpack("<Q", head)[0]))
        if run is None:
            send(("import-error", import_error))
            continue
        try:
            status, so, se = run(argv, stdin=stdin, env=env, cwd=cwd)
            send(("ok", (int(status), bytes(so), bytes(se))))
        except BaseException:
            send(("raised", traceback.format_exc()))
    """
)


class PynixWorker:
    """Runs ``pynix.cli.instantiate.run`` in a child process, one request at a time."""

    def __init__(self) -> None:
        self.proc: subprocess.Popen[bytes] | None = None

    def _start(self) -> subprocess.Popen[bytes]:
        env = dict(os.environ)
        src = str(HERE.parent.parent / "src")
        env["PYTHONPATH"] = os.pathsep.join(p for p in (src, env.get("PYTHONPATH", "")) if p)
        self.proc = subprocess.Popen(
            [sys.executable, "-c", WORKER_CODE],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=env,
        )
        return self.proc

    def close(self) -> None:
        if self.proc is not None:
            proc, self.proc = self.proc, None
            try:
                assert proc.stdin is not None
                proc.stdin.close()
                proc.wait(timeout=5)
            except Exception:
                proc.kill()
                proc.wait()

    def _kill(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None

    def run(
        self,
        argv: list[str],
        *,
        stdin: bytes = b"",
        env: dict[str, str] | None = None,
        cwd: str | Path | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> Result:
        proc = self.proc if self.proc is not None and self.proc.poll() is None else self._start()
        assert proc.stdin is not None and proc.stdout is not None
        data = pickle.dumps((argv, stdin, env, None if cwd is None else str(cwd)))
        try:
            proc.stdin.write(struct.pack("<Q", len(data)) + data)
            proc.stdin.flush()
        except BrokenPipeError:
            self._kill()
            return Result(-1, b"", b"[pynix worker died before the request]")
        reply = _read_reply(proc.stdout, timeout)
        if reply is _TIMEOUT:
            self._kill()
            return Result(-9, b"", f"[pynix timed out after {timeout} s]".encode())
        if reply is _EOF:
            try:
                code = proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                code = None
            self._kill()
            return Result(-1, b"", f"[pynix worker died with status {code}]".encode())
        kind, payload = reply
        if kind == "import-error":
            raise ImportError(f"cannot import pynix.cli.instantiate.run:\n{payload}")
        if kind == "raised":
            return Result(-1, b"", b"[run() raised]\n" + payload.encode())
        status, so, se = payload
        return Result(status, so, se)


_TIMEOUT = object()
_EOF = object()


def _read_reply(stream: IO[bytes], timeout: float) -> Any:
    """One length-prefixed pickled reply, or _TIMEOUT, or _EOF if the worker died."""
    deadline = time.monotonic() + timeout
    fd = stream.fileno()
    buf = b""
    length: int | None = None
    with selectors.DefaultSelector() as sel:
        sel.register(fd, selectors.EVENT_READ)
        while True:
            need = 8 if length is None else length
            if len(buf) >= need:
                if length is None:
                    length = struct.unpack("<Q", buf[:8])[0]
                    buf = buf[8:]
                    continue
                return pickle.loads(buf[:length])
            left = deadline - time.monotonic()
            if left <= 0 or not sel.select(left):
                return _TIMEOUT
            chunk = os.read(fd, max(need - len(buf), 1 << 16))
            if not chunk:
                return _EOF
            buf += chunk


Runner = Callable[..., Result]


def run_pynix_direct(
    argv: list[str],
    *,
    stdin: bytes = b"",
    env: dict[str, str] | None = None,
    cwd: str | Path | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> Result:
    """Call ``run`` in this process (for debugging; no protection against hangs)."""
    run = importlib.import_module("pynix.cli.instantiate").run
    status, so, se = run(argv, stdin=stdin, env=env, cwd=None if cwd is None else str(cwd))
    return Result(status, so, se)


def pynix_runner(worker: PynixWorker) -> Runner:
    """The in-process runner to use: the real Nix in self-test mode, else pynix."""
    if SELF_TEST:
        return run_nix
    if DIRECT:
        return run_pynix_direct
    return worker.run


# --------------------------------------------------------------------------- checks

MESSAGE_PREFIXES = (b"trace: ", b"warning: ")


def first_message(stderr: bytes) -> bytes:
    """Stderr without the leading ``trace:``/``warning:`` lines that precede an error."""
    lines = stderr.split(b"\n")
    while lines and lines[0].startswith(MESSAGE_PREFIXES):
        lines.pop(0)
    return b"\n".join(lines)


def clean_failure_problem(result: Result) -> str | None:
    """Why ``result`` is not a clean failure, or None if it is one."""
    if result.ok:
        return "succeeded"
    if TRACEBACK in result.stderr or b"[run() raised]" in result.stderr:
        return "printed a Python traceback"
    if result.status < 0 or result.status > 125:
        return f"died with status {result.status}"
    if not first_message(result.stderr).startswith(b"error:"):
        return "stderr does not start with 'error:'"
    return None


def show(data: bytes, limit: int = 3000) -> str:
    text = data.decode("utf-8", "backslashreplace")
    return text if len(text) <= limit else text[:limit] + f"... [{len(text) - limit} more]"


def describe(label: str, r: Result) -> str:
    return f"--- {label}: status {r.status}\nstdout:\n{show(r.stdout)}\nstderr:\n{show(r.stderr)}\n"


def compare(nix: Result, py: Result, *, what: str, compare_stdout: bool = True) -> None:
    """Fail unless pynix's result agrees with Nix's."""
    problems: list[str] = []
    if nix.ok != py.ok:
        problems.append(
            f"Nix {'succeeded' if nix.ok else 'failed'}, pynix {'succeeded' if py.ok else 'failed'}"
        )
    if compare_stdout and nix.stdout != py.stdout:
        problems.append("stdout differs")
    if TRACEBACK in py.stderr:
        problems.append("pynix printed a Python traceback")
    if not py.ok:
        why = clean_failure_problem(py)
        # Nix itself prints a bare message in a few cases (``throw ""`` prints an
        # empty line); pynix may then do the same.
        if why and not (
            why.startswith("stderr does not start")
            and not first_message(nix.stderr).startswith(b"error:")
        ):
            problems.append(f"pynix's failure is not clean: {why}")
    if problems:
        pytest.fail(
            f"{what}: " + "; ".join(problems) + "\n" + describe("nix", nix) + describe("pynix", py),
            pytrace=False,
        )


def iter_cases(cases: list[Case], *, subprocess: bool) -> Iterator[Any]:
    for c in cases:
        if c.subprocess == subprocess:
            yield pytest.param(c, id=c.id)
