"""systemd command lines (``ExecStart=`` and friends) and ``Environment=`` lines.

A command line is ``[PREFIXES]PATH [ARGS...]``: prefixes ``-`` (failure is
ignored), ``+`` and ``!``/``!!`` (run with full privileges: not as ``User=``),
``@`` (the second word becomes ``argv[0]``) and ``:`` (no variable expansion).
Words are split at blanks; double and single quotes group; backslash escapes
are C's, inside quotes too.  A word that is exactly ``$NAME`` becomes the variable's value split at
blanks (zero or more words); ``${NAME}`` anywhere in a word is replaced by the
value as it is; ``$$`` is a ``$``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

_ESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v",
            "\\": "\\", '"': '"', "'": "'", "s": " ", " ": " "}  # fmt: skip
_NAME = r"[A-Za-z_][A-Za-z0-9_]*"


class CommandLineError(Exception):
    pass


@dataclass(frozen=True)
class Command:
    argv: list[str]  # argv[0] is the executable's path (or name, with '@' the name shown)
    executable: str
    ignore_failure: bool = False
    privileged: bool = False  # '+', '!': not run as the unit's user
    text: str = ""  # the line as written, for messages


@dataclass(frozen=True)
class _Word:
    text: str
    bare_var: str | None  # the NAME of a word written exactly as $NAME (unquoted)


def split_words(text: str) -> list[_Word]:
    """Split a line into words, removing quotes and escapes."""
    words: list[_Word] = []
    i, n = 0, len(text)
    while i < n:
        while i < n and text[i] in " \t\n":
            i += 1
        if i >= n:
            break
        start = i
        buf: list[str] = []
        quoted = False
        while i < n and text[i] not in " \t\n":
            c = text[i]
            if c in "\"'":
                quoted = True
                end = i + 1
                while end < n and text[end] != c:
                    if text[end] == "\\" and end + 1 < n:
                        end += 1
                    end += 1
                if end >= n:
                    raise CommandLineError(f"unterminated quote in '{text}'")
                inner = text[i + 1 : end]
                buf.append(_unescape(inner))  # systemd unescapes in both kinds
                i = end + 1
            elif c == "\\" and i + 1 < n:
                s, i = _escape_at(text, i)
                buf.append(s)
            else:
                buf.append(c)
                i += 1
        raw = text[start:i]
        bare = None
        if not quoted and re.fullmatch(r"\$" + _NAME, raw):
            bare = raw[1:]
        words.append(_Word("".join(buf), bare))
    return words


def _escape_at(text: str, i: int) -> tuple[str, int]:
    c = text[i + 1]
    if c == "x" and re.match(r"[0-9a-fA-F]{2}", text[i + 2 : i + 4]):
        return chr(int(text[i + 2 : i + 4], 16)), i + 4
    if re.match(r"[0-7]{3}", text[i + 1 : i + 4]):
        return chr(int(text[i + 1 : i + 4], 8)), i + 4
    return _ESCAPES.get(c, c), i + 2


def _unescape(s: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(s):
        if s[i] == "\\" and i + 1 < len(s):
            t, i = _escape_at(s, i)
            out.append(t)
        else:
            out.append(s[i])
            i += 1
    return "".join(out)


def expand(word: str, env: Mapping[str, str]) -> str:
    return re.sub(r"\$\$|\$\{(" + _NAME + r")\}",
                  lambda m: "$" if m.group(0) == "$$" else env.get(m.group(1), ""), word)


def parse_command(line: str, env: Mapping[str, str]) -> Command:
    """One ``Exec*=`` value, with variables from ``env``."""
    text = line.strip()
    ignore = privileged = at = no_expand = False
    while text and text[0] in "-+!@:|":
        c = text[0]
        if c == "-":
            ignore = True
        elif c in "+!":
            privileged = True
        elif c == "@":
            at = True
        elif c == ":":
            no_expand = True
        text = text[1:]
    argv: list[str] = []
    for w in split_words(text):
        if no_expand:
            argv.append(w.text)
        elif w.bare_var is not None:
            argv += env.get(w.bare_var, "").split()
        else:
            argv.append(expand(w.text, env))
    if not argv:
        raise CommandLineError(f"empty command line '{line}'")
    executable = argv[0]
    if at:
        if len(argv) < 2:
            raise CommandLineError(f"'@' needs a second word for argv[0] in '{line}'")
        argv = argv[1:]
    return Command(argv, executable, ignore, privileged, line)


def parse_environment(values: list[str]) -> dict[str, str]:
    """``Environment=`` values (each one or more quoted ``NAME=value`` words)."""
    env: dict[str, str] = {}
    for v in values:
        for w in split_words(v):
            name, eq, value = w.text.partition("=")
            if eq and re.fullmatch(_NAME, name):
                env[name] = value
    return env


def parse_environment_file(text: str) -> dict[str, str]:
    """An ``EnvironmentFile=``: ``NAME=value`` lines, ``#``/``;`` comments, quotes."""
    env: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("export "):
            line = line[7:].lstrip()
        name, eq, value = line.partition("=")
        name = name.strip()
        if not eq or not re.fullmatch(_NAME, name):
            continue
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = _unescape(value[1:-1]) if value[0] == '"' else value[1:-1]
        env[name] = value
    return env
