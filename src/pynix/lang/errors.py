"""Errors of the Nix language, worded as Nix words them, and their rendering.

Every error that reaches a user is a :class:`NixError`.  It carries a message
(Unicode text), an optional source position, an optional hint ("Did you mean
...?") and a trace of enclosing frames that ``--show-trace`` prints.
"""

from __future__ import annotations

from typing import Final

from .values import Pos

# Source texts by file name, for code frames.  Strings given with -E are
# registered under "«string»" (Nix shows them that way).
SOURCES: dict[str, str] = {}

STRING_ORIGIN: Final = "«string»"


class NixError(Exception):
    """An error with Nix's wording and a position in Nix source."""

    def __init__(self, msg: str, pos: Pos | None = None, hint: str | None = None) -> None:
        super().__init__(msg)
        self.msg = msg
        self.pos = pos if pos and pos[0] else None
        self.hint = hint
        self.trace: list[tuple[Pos | None, str]] = []

    def add_trace(self, pos: Pos | None, what: str) -> NixError:
        self.trace.append((pos, what))
        return self

    def at(self, pos: Pos | None) -> NixError:
        """Give the error a position if it has none yet."""
        if self.pos is None and pos and pos[0]:
            self.pos = pos
        return self

    def __str__(self) -> str:
        return self.msg


class ParseError(NixError):
    pass


class EvalError(NixError):
    pass


class TypeError_(EvalError):
    """A value of the wrong type (Nix's TypeError)."""


class AssertionFailed(EvalError):
    """`assert` failed: caught by builtins.tryEval."""


class ThrownError(AssertionFailed):
    """`throw`: caught by builtins.tryEval (in Nix, a kind of AssertionError)."""


class Abort(EvalError):
    """`abort`: never caught."""


class InfiniteRecursion(EvalError):
    pass


class UndefinedVariable(EvalError):
    pass


class MissingAttribute(EvalError):
    pass


class RestrictedPath(EvalError):
    pass


def similar(name: str, candidates: object, limit: int = 3) -> list[str]:
    """Names close to `name` (for "Did you mean ...?"), nearest first."""
    best: list[tuple[int, str]] = []
    n = len(name)
    for c in candidates:  # type: ignore[attr-defined]
        if not isinstance(c, str) or abs(len(c) - n) > 2:
            continue
        d = _distance(name, c)
        if d <= max(1, min(n, len(c)) // 3) and d <= 2:
            best.append((d, c))
    best.sort()
    return [c for _, c in best[:limit]]


def _distance(a: str, b: str) -> int:
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def did_you_mean(names: list[str]) -> str | None:
    if not names:
        return None
    from .values import to_text

    shown = [to_text(n) for n in names]
    if len(shown) == 1:
        return f"Did you mean {shown[0]}?"
    return "Did you mean one of " + ", ".join(shown[:-1]) + " or " + shown[-1] + "?"


def show_pos(pos: Pos | None) -> str:
    """A position as it appears inside a message: ``file:line:col``."""
    if not pos or not pos[0]:
        return "undefined position"
    f = "(string)" if pos[0] == STRING_ORIGIN else pos[0]
    return f"{f}:{pos[1]}:{pos[2]}"


def _frame(pos: Pos) -> list[str]:
    file, line, col = pos
    out = [f"       at {file}:{line}:{col}:", ""]
    text = SOURCES.get(file)
    if text is None:
        try:
            with open(file, "rb") as fh:
                text = fh.read().decode("utf-8", "replace")
        except OSError:
            return out[:1]
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    if not 1 <= line <= len(lines):
        return out[:1]
    for n in range(max(1, line - 1), min(len(lines), line + 1) + 1):
        src = lines[n - 1].replace("\t", " ")
        out.append(f"       {n:6d}| {src}".rstrip())
        if n == line:
            out.append(f"       {'':6}| {' ' * (col - 1)}^")
    return out


def position_from_traceback(err: BaseException) -> Pos | None:
    """The innermost Nix position on an exception's traceback.

    Compiled Nix code carries Nix lines and columns as its Python positions, so
    an error raised by a builtin called directly from Nix code can be placed.
    """
    tb = err.__traceback__
    best: Pos | None = None
    while tb is not None:
        code = tb.tb_frame.f_code
        file = code.co_filename
        if file in SOURCES:
            try:
                positions = list(code.co_positions())
                line, _, col, _ = positions[tb.tb_lasti // 2]
            except (IndexError, ValueError):
                line, col = tb.tb_lineno, 0
            if line:
                best = (file, line, (col or 0) + 1)
        tb = tb.tb_next
    return best


def trace_from_traceback(err: BaseException) -> list[tuple[Pos | None, str]]:
    """Frames for ``--show-trace``: the Nix functions being evaluated, innermost first."""
    from .values import LAMBDA_INFO, to_text

    frames: list[list[tuple[Pos | None, str]]] = []
    tb = err.__traceback__
    caller: Pos | None = None
    while tb is not None:
        code = tb.tb_frame.f_code
        file = code.co_filename
        if file in SOURCES:
            info = LAMBDA_INFO.get(code)
            if info is not None:
                name = f"'{to_text(info.name)}'" if info.name else "anonymous lambda"
                pair: list[tuple[Pos | None, str]] = [(info.pos, f"while evaluating {name}")]
                if caller is not None:
                    pair.append((caller, "from call site"))
                frames.append(pair)
            try:
                line, _, col, _ = list(code.co_positions())[tb.tb_lasti // 2]
                caller = (file, line, (col or 0) + 1) if line else None
            except (IndexError, ValueError):
                caller = None
        tb = tb.tb_next
    return [f for pair in reversed(frames) for f in pair]


def render(err: NixError, show_trace: bool = False) -> str:
    """The text Nix prints for an error (without a trailing newline)."""
    lines = [f"error: {err.msg}"]
    if err.pos:
        lines.append("")
        lines.extend(_frame(err.pos))
    if err.hint:
        lines.append(f"       {err.hint}")
    if show_trace:
        for pos, what in err.trace + trace_from_traceback(err):
            lines.append("")
            lines.append(f"       … {what}")
            if pos and pos[0]:
                lines.append("")
                lines.extend(_frame(pos))
    return "\n".join(lines)
