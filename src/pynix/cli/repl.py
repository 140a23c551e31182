"""``pynix repl``: an interactive session, as ``nix repl`` (Nix 2.8) has it.

Each input is evaluated on the big stack (``run_guarded``).  Values print the
way the Nix 2.8 repl prints them: one level deep (``:p`` for all of it),
functions as ``«lambda @ file:line:col»``, a ``throw`` inside a set or list as
``«error: ...»``, and with colours on a terminal.  When standard input is not a
terminal, lines are read plainly and echoed after the prompt, so that a script
of commands produces a readable transcript.
"""

from __future__ import annotations

import contextlib
import ctypes
import io
import os
import re
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Mapping
from types import FrameType, FunctionType
from typing import IO, Any

from ..lang.attrpath import auto_call
from ..lang.errors import STRING_ORIGIN, AssertionFailed, NixError, ParseError, render, show_pos
from ..lang.printer import REPEATED
from ..lang.runtime import coerce_to_string, force, is_derivation
from ..lang.show import show_float
from ..lang.stack import on_big_stack
from ..lang.values import (
    LAMBDA_INFO,
    NixPath,
    NixStr,
    PrimOp,
    PrimOpApp,
    Thunk,
    from_bytes,
    from_text,
    show_type,
    to_bytes,
    to_text,
)
from .common import EvalFlags, EvalSession, UsageError, run_guarded
from .nixcmd import usage_error, version

HELP = """\
Usage: pynix repl [OPTION...] [FILE...]

Start an interactive session for evaluating Nix expressions.  Each FILE is loaded
as with ':l FILE'.  Type ':?' in the session for its commands.

  --arg NAME EXPR        pass NAME = EXPR to functions that files evaluate to
  --argstr NAME STRING   pass NAME = STRING likewise
  -I PATH, --include PATH
                         add PATH to the search path for <...> (NIX_PATH is used too)
  --show-trace           show the full trace of errors (':st' toggles it)

History is kept in $XDG_DATA_HOME/pynix/repl-history (~/.local/share/pynix/...).
"""

COMMANDS_HELP = """\
The following commands are available:

  <expr>        Evaluate and print expression
  <x> = <expr>  Bind expression to variable
  :a <expr>     Add attributes from resulting set to scope
  :l <path>     Load Nix expression and add it to scope
  :p <expr>     Evaluate and print expression recursively
  :q            Exit pynix repl
  :r            Reload all files
  :t <expr>     Describe result of evaluation
  :st [bool]    Enable, disable or toggle showing traces for errors
  :?            Show this help

Not available yet (they need the store or flakes): :b, :i, :s, :u, :e, :lf, :log, :doc.
"""

PROMPT = "nix-repl> "
CONTINUATION = " " * len(PROMPT)
HISTORY_LENGTH = 1000

COMMANDS = (":?", ":a", ":add", ":b", ":doc", ":e", ":help", ":i", ":l", ":lf", ":load",
            ":log", ":p", ":print", ":q", ":quit", ":r", ":reload", ":s", ":st",
            ":show-trace", ":t", ":u")
_NEEDS_STORE = {":b": "building", ":i": "installing", ":s": "nix-shell", ":u": "nix-shell",
                ":log": "build logs", ":e": "the editor command", ":lf": "flakes",
                ":doc": "documentation"}

_VAR_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_'\-]*\Z")


INTERRUPTED = "\x03"  # what Terminal.lines yields for Ctrl-C at the prompt


class Incomplete(Exception):
    """The input so far ends in the middle of an expression: read another line."""


# ---------------------------------------------------------------------------
# printing values


class Colours:
    """ANSI colours as the Nix 2.8 repl uses them (or none at all)."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled

    def __call__(self, code: str, text: str) -> str:
        return f"\x1b[{code}m{text}\x1b[0m" if self.enabled else text

    NUMBER = "36;1"
    STRING = "35;1"
    PATH = "32;1"
    FUNCTION = "34;1"
    PRIMOP = "35;1"
    ERROR = "31;1"


def is_var_name(s: str) -> bool:
    """A name the repl can bind and print without quotes (keywords included, as in Nix)."""
    return _VAR_NAME.match(s) is not None


def quote_string(s: str) -> str:
    """A string as the repl prints it: quotes, backslash, and \\n \\r \\t escaped."""
    s = (s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
         .replace("\r", "\\r").replace("\t", "\\t"))
    return '"' + s + '"'


def show_value(v: Any, max_depth: int, colour: Colours | None = None) -> str:
    """A value as the repl prints it (a Nix string), forcing what it shows.

    Sets and lists deeper than ``max_depth`` show as ``{ ... }`` and ``[ ... ]``.
    A value met again (the same slot) shows as ``«repeated»``.  A ``throw`` or
    failed ``assert`` inside a set or list shows as ``«error: ...»``; other
    errors propagate.
    """
    out: list[str] = []
    _show(v, max_depth, colour or Colours(False), set(), out)
    return "".join(out)


def _show(slot: Any, depth: int, c: Colours, seen: set[int], out: list[str]) -> None:
    v = force(slot)
    t = type(v)
    if t is int or t is bool or v is None:
        out.append(c(c.NUMBER, "null" if v is None else "true" if v is True
                     else "false" if v is False else str(v)))
    elif t is str or t is NixStr:
        out.append(c(c.STRING, quote_string(str(v))))
    elif t is NixPath:
        out.append(c(c.PATH, v.path))
    elif t is float:
        out.append(show_float(v))
    elif t is dict:
        if v:
            seen.add(id(slot))
        if is_derivation(v):
            drv = v.get("drvPath")
            shown = "???" if drv is None else coerce_to_string(force(drv), None, set())
            out.append(c(c.PATH, from_text("«derivation ") + shown + from_text("»")))
        elif depth <= 0:
            out.append("{ ... }")
        else:
            out.append("{ ")
            for name in sorted(v):
                out.append(name if is_var_name(name) else quote_string(name))
                out.append(" = ")
                _show_item(v[name], depth - 1, c, seen, out)
                out.append("; ")
            out.append("}")
    elif t is list:
        if v:
            seen.add(id(slot))
        if depth <= 0:
            out.append("[ ... ]")
        else:
            out.append("[ ")
            for item in v:
                _show_item(item, depth - 1, c, seen, out)
                out.append(" ")
            out.append("]")
    elif t is FunctionType:
        info = LAMBDA_INFO.get(v.__code__)
        where = f" @ {show_pos(info.pos)}" if info is not None and info.pos[0] else ""
        out.append(c(c.FUNCTION, from_text(f"«lambda{where}»")))
    elif t is PrimOp:
        out.append(c(c.PRIMOP, from_text("«primop»")))
    elif t is PrimOpApp:
        out.append(c(c.FUNCTION, from_text("«primop-app»")))
    else:
        out.append(c(c.ERROR, from_text("«unknown»")))


def _show_item(slot: Any, depth: int, c: Colours, seen: set[int], out: list[str]) -> None:
    if id(slot) in seen:
        out.append(REPEATED)
        return
    part: list[str] = []
    try:
        _show(slot, depth, c, seen, part)
    except AssertionFailed as e:  # throw and assert; Nix catches only those here
        part = [c(c.ERROR, from_text(f"«error: {e.msg}»"))]
    out.extend(part)


# ---------------------------------------------------------------------------
# the session


class Repl:
    def __init__(
        self,
        session: EvalSession,
        auto_args: dict[str, Any],
        stdout: IO[bytes],
        stderr: IO[bytes],
        *,
        show_trace: bool = False,
        colour: bool = False,
    ) -> None:
        self.session = session
        self.auto_args = auto_args
        self.stdout = stdout
        self.stderr = stderr
        self.show_trace = show_trace
        self.colour = Colours(colour)
        self.scope: dict[str, Any] = {}
        self.loaded_files: list[str] = []
        self.running = True
        # the thread evaluating the current input, so that Ctrl-C can interrupt it
        self.eval_thread: int | None = None
        self.interrupt_lock = threading.Lock()

    # -- output --------------------------------------------------------

    def say(self, text: str) -> None:
        """Write a line (a Nix string) to standard output."""
        self.stdout.write(to_bytes(text) + b"\n")

    def info(self, text: str) -> None:
        """Write a notice (a Nix string) to standard error, where Nix writes them."""
        self.stdout.flush()
        self.stderr.write(to_bytes(text) + b"\n")
        self.stderr.flush()

    def report(self, e: NixError) -> None:
        self.stdout.flush()
        self.stderr.write(render(e, self.show_trace).encode("utf-8", "replace") + b"\n")
        self.stderr.flush()

    # -- evaluation ----------------------------------------------------

    def compile(self, text: str) -> Callable[[], Any]:
        """Compile an input (a Nix string) in the repl's scope."""
        ev = self.session.evaluator
        cwd = from_bytes(os.fsencode(self.session.cwd))
        try:
            return ev.load(text, STRING_ORIGIN, cwd, text, self.scope)
        except ParseError as e:
            if "unexpected end of file" in e.msg:
                raise Incomplete from None
            raise

    def evaluate(self, text: str) -> Any:
        return self.compile(text)()

    def add_attrs(self, attrs: Any) -> None:
        attrs = force(attrs)
        if type(attrs) is not dict:
            raise NixError(f"value is {show_type(attrs)} while a set was expected")
        self.scope.update(attrs)
        self.info(f"Added {len(attrs)} variables.")

    def load_file(self, arg: str) -> None:
        if arg in self.loaded_files:
            self.loaded_files.remove(arg)
        self.loaded_files.append(arg)
        ev = self.session.evaluator
        v = ev.import_file(self.session.resolve_file_arg(arg))
        self.add_attrs(auto_call(v, self.auto_args))

    def reload(self) -> None:
        """``:r``: start from an empty scope and load every file again."""
        self.scope = {}
        self.session.evaluator.file_cache.clear()
        files, self.loaded_files = self.loaded_files, []
        for n, f in enumerate(files):
            if n:
                self.info("")
            self.info(f"Loading '{f}'...")
            self.load_file(f)

    # -- one input -----------------------------------------------------

    def process(self, text: str) -> None:
        """Run one complete input (a Nix string, possibly of several lines)."""
        line = text.strip()
        if not line:
            return
        if line.startswith(":"):
            command, *rest = line.split(None, 1)
            self.command(command, rest[0].strip() if rest else "")
            return
        eq = text.find("=")
        if eq > 0 and text[eq + 1 : eq + 2] != "=" and is_var_name(text[:eq].strip()):
            self.scope[text[:eq].strip()] = Thunk(self.compile(text[eq + 1 :]))
            return
        self.say(show_value(self.evaluate(text), 1, self.colour))

    def command(self, command: str, arg: str) -> None:
        if command in (":?", ":help"):
            self.stdout.write(COMMANDS_HELP.encode())
        elif command in (":q", ":quit"):
            self.running = False
        elif command in (":a", ":add"):
            self.add_attrs(self.evaluate(arg))
        elif command in (":l", ":load"):
            self.load_file(arg)
        elif command in (":r", ":reload"):
            self.reload()
        elif command in (":p", ":print"):
            self.say(show_value(self.evaluate(arg), 1 << 30, self.colour))
        elif command == ":t":
            self.say(show_type(force(self.evaluate(arg))))
        elif command in (":st", ":show-trace"):
            if arg in ("", "true", "false"):
                self.show_trace = not self.show_trace if arg == "" else arg == "true"
            else:
                raise NixError(f"unexpected argument '{to_text(arg)}' to {command} "
                               "(expected 'true' or 'false')")
            self.say("showing error traces" if self.show_trace else "not showing error traces")
        elif command in _NEEDS_STORE:
            raise NixError(f"'{command}' is not available yet: it needs "
                           f"{_NEEDS_STORE[command]}, which pynix does not provide yet")
        else:
            raise NixError(f"unknown command '{to_text(command)}'")

    def run_input(self, text: str) -> bool:
        """Run one input on the big stack; False if it is incomplete (read more)."""
        if not self.guarded(lambda: self.process(text)):
            return False
        if self.running:
            self.stdout.write(b"\n")
        self.stdout.flush()
        return True

    def guarded(self, action: Callable[[], None]) -> bool:
        """Run ``action`` on the big stack, reporting errors; False if input is incomplete."""
        incomplete = False

        def body() -> int:
            nonlocal incomplete
            with self.interrupt_lock:
                self.eval_thread = threading.get_ident()
            try:
                action()
            except Incomplete:
                incomplete = True
            except NixError as e:
                self.report(e)
            finally:
                with self.interrupt_lock:
                    self.eval_thread = None
                    # an interrupt that came too late must not hit the code around us
                    _set_async_exc(threading.get_ident(), None)
            return 0

        try:
            run_guarded(body, self.stderr, self.show_trace, self.stdout)
        finally:
            self.eval_thread = None
        return not incomplete

    def interrupt(self) -> bool:
        """Ctrl-C: stop the evaluation under way (False if there is none)."""
        with self.interrupt_lock:
            ident = self.eval_thread
            if ident is None or ident == threading.get_ident():
                return False
            _set_async_exc(ident, KeyboardInterrupt)
            return True

    # -- completion ----------------------------------------------------

    def complete(self, word: str) -> list[str]:
        """Completions of ``word`` (a Nix string): variables, ``a.b.`` attributes, commands."""
        if word.startswith(":"):
            return [c for c in COMMANDS if c.startswith(word)]
        dot = word.rfind(".")
        if dot < 0:
            names = set(self.scope) | set(self.session.evaluator.base)
            return sorted(n for n in names if n.startswith(word))
        expr, prefix = word[:dot], word[dot + 1 :]

        def attrs() -> list[str]:
            try:
                v = force(self.evaluate(expr))
            except (NixError, Incomplete, RecursionError):
                return []
            if type(v) is not dict:
                return []
            return sorted(n for n in v if n.startswith(prefix))

        try:
            found = on_big_stack(attrs)
        except Exception:  # a completion must never take the session down
            return []
        return [f"{expr}.{n if is_var_name(n) else quote_string(n)}" for n in found]


# ---------------------------------------------------------------------------
# reading input


def history_file(env: Mapping[str, str]) -> str:
    data = env.get("XDG_DATA_HOME") or os.path.join(env.get("HOME", "/"), ".local", "share")
    return os.path.join(data, "pynix", "repl-history")


def plain_lines(stdin: IO[bytes], stdout: IO[bytes],
                prompt: Callable[[], str]) -> Iterator[str]:
    """Lines from a pipe or file, each echoed after the prompt like a typed one."""
    while True:
        stdout.write(prompt().encode())
        stdout.flush()
        raw = stdin.readline()
        if not raw:
            return
        line = from_bytes(raw.rstrip(b"\n"))
        stdout.write(to_bytes(line) + b"\n")
        yield line


class Terminal:
    """Lines typed at a terminal: readline editing, completion, history, Ctrl-C."""

    DELIMS = " \t\n\"`@$><=;|&{}()[],+*/!?~#"

    def __init__(self, repl: Repl, env: Mapping[str, str]) -> None:
        self.repl = repl
        self.history = history_file(env)
        self.matches: list[str] = []
        try:
            import readline
        except ImportError:  # a Python without readline: plain input() still works
            self.readline: Any = None
            return
        self.readline = readline
        readline.set_completer_delims(self.DELIMS)
        readline.set_completer(self.completer)
        readline.parse_and_bind("tab: complete")
        readline.set_history_length(HISTORY_LENGTH)
        with contextlib.suppress(OSError):
            readline.read_history_file(self.history)

    def completer(self, text: str, state: int) -> str | None:
        if state == 0:
            word = text.encode("utf-8", "surrogateescape").decode("latin-1")
            self.matches = [to_text(m) for m in self.repl.complete(word)]
        return self.matches[state] if state < len(self.matches) else None

    def save_history(self) -> None:
        if self.readline is None:
            return
        try:
            os.makedirs(os.path.dirname(self.history), exist_ok=True)
            self.readline.write_history_file(self.history)
        except OSError:
            pass

    def lines(self, prompt: Callable[[], str]) -> Iterator[str]:
        while True:
            self.repl.stdout.flush()
            try:
                line = input(prompt())
            except EOFError:
                self.repl.stdout.write(b"\n")
                return
            except KeyboardInterrupt:  # Ctrl-C at the prompt: drop the input so far
                self.repl.stdout.write(b"\n")
                yield INTERRUPTED
                continue
            self.save_history()
            yield line.encode("utf-8", "surrogateescape").decode("latin-1")

    def interrupt(self, signum: int, frame: FrameType | None) -> None:
        """SIGINT: stop the evaluation under way, or the line being typed."""
        if not self.repl.interrupt():
            raise KeyboardInterrupt


def _set_async_exc(ident: int, exc: type[BaseException] | None) -> None:
    """Raise ``exc`` in the thread ``ident`` at its next bytecode (None: cancel that)."""
    ctypes.pythonapi.PyThreadState_SetAsyncExc(
        ctypes.c_ulong(ident), ctypes.py_object(exc) if exc is not None else None)


def loop(repl: Repl, lines: Callable[[Callable[[], str]], Iterator[str]]) -> None:
    pending: list[str] = []  # the lines of an input that is not complete yet

    def prompt() -> str:
        return CONTINUATION if pending else PROMPT

    for line in lines(prompt):
        if line is INTERRUPTED:
            pending.clear()
            continue
        pending.append(line)
        if repl.run_input("\n".join(pending)):
            pending.clear()
        if not repl.running:
            return


# ---------------------------------------------------------------------------
# the command


def parse_args(argv: list[str]) -> tuple[EvalFlags, list[str], bool]:
    flags = EvalFlags()
    files: list[str] = []
    i = 0
    while i < len(argv):
        a = argv[i]
        j = flags.take(argv, i)
        if j != i:
            i = j
            continue
        if a in ("--help", "-h"):
            return flags, files, True
        if a == "--":
            files.extend(argv[i + 1 :])
            break
        if a.startswith("-"):
            raise UsageError(f"unrecognised flag '{a}'")
        files.append(a)
        i += 1
    return flags, files, False


def main_impl(
    argv: list[str],
    stdin: IO[bytes],
    stdout: IO[bytes],
    stderr: IO[bytes],
    env: Mapping[str, str] | None,
    cwd: str | None,
) -> int:
    try:
        flags, files, want_help = parse_args(argv)
    except UsageError as e:
        return usage_error(stderr, "pynix repl", str(e))
    if want_help:
        stdout.write(HELP.encode())
        return 0
    environment = dict(os.environ if env is None else env)
    interactive = _isatty(stdin) and stdin is getattr(sys.stdin, "buffer", None)
    colour = (_isatty(stdout) and "NO_COLOR" not in environment
              and environment.get("TERM") != "dumb")

    holder: list[Repl] = []

    def start() -> int:
        session = flags.session(env, cwd, stderr, eager=False)
        holder.append(Repl(session, flags.auto_arg_values(session), stdout, stderr,
                           show_trace=flags.show_trace, colour=colour))
        return 0

    if run_guarded(start, stderr, flags.show_trace, stdout) != 0:
        return 1
    repl = holder[0]
    repl.info(f"Welcome to pynix {version()}. Type :? for help.\n")
    if files:
        repl.loaded_files = [from_bytes(os.fsencode(f)) for f in files]
        repl.guarded(repl.reload)
        repl.info("")

    if not interactive:
        loop(repl, lambda prompt: plain_lines(stdin, stdout, prompt))
        stdout.flush()
        return 0
    terminal = Terminal(repl, environment)
    old = signal.signal(signal.SIGINT, terminal.interrupt)
    try:
        loop(repl, terminal.lines)
    finally:
        signal.signal(signal.SIGINT, old)
        terminal.save_history()
        stdout.flush()
    return 0


def _isatty(f: Any) -> bool:
    try:
        return bool(f.isatty())
    except (AttributeError, ValueError, OSError):
        return False


def run(
    argv: list[str],
    *,
    stdin: bytes = b"",
    env: Mapping[str, str] | None = None,
    cwd: str | None = None,
) -> tuple[int, bytes, bytes]:
    """Run ``pynix repl ARGV`` in-process with ``stdin`` as the typed lines."""
    out = io.BytesIO()
    err = io.BytesIO()
    rc = main_impl(argv, io.BytesIO(stdin), out, err, env, cwd)
    return rc, out.getvalue(), err.getvalue()
