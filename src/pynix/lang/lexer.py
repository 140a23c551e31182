"""The Nix lexer.

Nix's lexer is a state machine (strings, indented strings and paths can
contain interpolations, which contain expressions, which contain strings...).
This one follows the same states and the same "longest match, then first
rule" choice between token patterns, so that inputs such as ``x:x`` (a URI),
``1/2`` (a path) or ``a-b`` (an identifier) lex as they do in Nix.

The source is a Nix string (one character per byte), so columns count bytes
as Nix's do.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from typing import Final

from .errors import ParseError
from .values import Pos

# Token kinds.  Single-character tokens use the character itself as kind.
ID: Final = "ID"
INT: Final = "INT"
FLOAT: Final = "FLOAT"
PATH: Final = "PATH"
HPATH: Final = "HPATH"
SPATH: Final = "SPATH"
URI: Final = "URI"
STR: Final = "STR"  # value: (text, raw) — raw: counts for indentation stripping
IND_STR: Final = "IND_STR"
DOLLAR_CURLY: Final = "DOLLAR_CURLY"
IND_OPEN: Final = "IND_STRING_OPEN"
IND_CLOSE: Final = "IND_STRING_CLOSE"
PATH_END: Final = "PATH_END"
EOF: Final = "EOF"

KEYWORDS: Final = {
    "if": "IF",
    "then": "THEN",
    "else": "ELSE",
    "assert": "ASSERT",
    "with": "WITH",
    "let": "LET",
    "in": "IN",
    "rec": "REC",
    "inherit": "INHERIT",
    "or": "OR_KW",
}

TWO_CHAR_OPS: Final = {
    "==": "EQ",
    "!=": "NEQ",
    "<=": "LEQ",
    ">=": "GEQ",
    "&&": "AND",
    "||": "OR",
    "->": "IMPL",
    "//": "UPDATE",
    "++": "CONCAT",
    "|>": "PIPE_INTO",
    "<|": "PIPE_FROM",
}

_PC = r"[a-zA-Z0-9._\-+]"
_ID = re.compile(r"[a-zA-Z_][a-zA-Z0-9_'\-]*")
_INT = re.compile(r"[0-9]+")
_FLOAT = re.compile(r"(?:[1-9][0-9]*\.[0-9]*|0?\.[0-9]+)(?:[Ee][+-]?[0-9]+)?")
_PATH = re.compile(rf"{_PC}*(?:/{_PC}+)+/?")
_PATH_SEG_DOLLAR = re.compile(rf"{_PC}*/(?=\$\{{)")
_HPATH = re.compile(rf"~(?:/{_PC}+)+/?")
_HPATH_START_DOLLAR = re.compile(r"~/(?=\$\{)")
_SPATH = re.compile(rf"<{_PC}+(?:/{_PC}+)*>")
_URI = re.compile(r"[a-zA-Z][a-zA-Z0-9+\-.]*:[a-zA-Z0-9%/?:@&=+$,\-_.!~*']+")
_WS = re.compile(r"[ \t\r\n]+")
_LINE_COMMENT = re.compile(r"#[^\r\n]*")
_BLOCK_COMMENT = re.compile(r"/\*(?:[^*]|\*+[^*/])*\*+/")
_STR_BODY = re.compile(r"""(?:[^$"\\]|\$[^{"\\]|\\[\s\S]|\$\\[\s\S])+""")
_STR_DOLLAR_END = re.compile(r"""(?:[^$"\\]|\$[^{"\\]|\\[\s\S]|\$\\[\s\S])*\$(?=")""")
_IND_BODY = re.compile(r"(?:[^$']|\$[^{']|'[^'$])+")
_IND_OPEN = re.compile(r"''(?: *\n)?")
_INPATH_PART = re.compile(rf"{_PC}*(?:/{_PC}+)+/?|{_PC}*/|{_PC}+")

_PATH_START_CHARS: Final = frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-+"
)

# Lexer states
DEFAULT, STRING, IND_STRING, INPATH, INPATH_SLASH = range(5)

Token = tuple[str, object, int]  # (kind, value, offset)


def unescape(s: str) -> str:
    """Escapes in a "..." string: \\n \\r \\t, \\x for any other x; CR and CRLF become LF."""
    if "\\" not in s and "\r" not in s:
        return s.split("\0", 1)[0]
    out: list[str] = []
    i = 0
    n = len(s)
    while i < n:
        c = s[i]
        i += 1
        if c == "\0":
            break
        if c == "\\" and i < n:
            c = s[i]
            i += 1
            out.append({"n": "\n", "r": "\r", "t": "\t"}.get(c, c))
        elif c == "\r":
            out.append("\n")
            if i < n and s[i] == "\n":
                i += 1
        else:
            out.append(c)
    return "".join(out)


class Source:
    """A source text with a file name, able to turn offsets into positions."""

    def __init__(self, text: str, file: str) -> None:
        self.text = text
        self.file = file
        self._lines = [0]
        find = text.find
        i = find("\n")
        while i >= 0:
            self._lines.append(i + 1)
            i = find("\n", i + 1)

    def pos(self, offset: int) -> Pos:
        line = bisect_right(self._lines, offset)
        return (self.file, line, offset - self._lines[line - 1] + 1)


def tokenize(src: Source) -> list[Token]:
    text = src.text
    n = len(text)
    toks: list[Token] = []
    add = toks.append
    stack = [DEFAULT]
    i = 0
    path_start = 0

    def err(msg: str, at: int) -> ParseError:
        return ParseError(msg, src.pos(at))

    while True:
        state = stack[-1]
        if state == DEFAULT:
            if i >= n:
                add((EOF, None, i))
                return toks
            c = text[i]
            if c in " \t\r\n":
                m = _WS.match(text, i)
                assert m
                i = m.end()
                continue
            if c == "#":
                m = _LINE_COMMENT.match(text, i)
                assert m
                i = m.end()
                continue
            if c == "/" and text.startswith("/*", i):
                m = _BLOCK_COMMENT.match(text, i)
                if m:
                    i = m.end()
                    continue
            # candidates: (length, rule-order, kind, value)
            best_len = 0
            best: tuple[str, object] | None = None

            def offer(length: int, kind: str, value: object) -> None:
                nonlocal best_len, best
                if length > best_len:
                    best_len = length
                    best = (kind, value)

            if c.isalpha() or c == "_":
                m = _ID.match(text, i)
                if m:
                    word = m.group()
                    offer(len(word), KEYWORDS.get(word, ID), word)
            if c.isdigit():
                m = _INT.match(text, i)
                if m:
                    offer(m.end() - i, INT, m.group())
            if c.isdigit() or c == ".":
                m = _FLOAT.match(text, i)
                if m:
                    offer(m.end() - i, FLOAT, m.group())
            if c == "." and text.startswith("...", i):
                offer(3, "ELLIPSIS", "...")
            two = text[i : i + 2]
            if two in TWO_CHAR_OPS:
                offer(2, TWO_CHAR_OPS[two], two)
            if two == "${":
                offer(2, DOLLAR_CURLY, None)
            if two == "''":
                m = _IND_OPEN.match(text, i)
                assert m
                offer(m.end() - i, IND_OPEN, None)
            if c in _PATH_START_CHARS or c == "/":
                m = _PATH_SEG_DOLLAR.match(text, i)
                if m and m.end() - i + 2 > best_len:
                    best_len = m.end() - i + 2
                    best = ("PATH_START", m.end())
                m = _PATH.match(text, i)
                if m:
                    offer(m.end() - i, PATH, m.group())
            if c == "~":
                m = _HPATH_START_DOLLAR.match(text, i)
                if m:
                    offer(4, "HPATH_START", m.end())
                m = _HPATH.match(text, i)
                if m:
                    offer(m.end() - i, HPATH, m.group())
            if c == "<":
                m = _SPATH.match(text, i)
                if m:
                    offer(m.end() - i, SPATH, m.group())
            if c.isalpha():
                m = _URI.match(text, i)
                if m:
                    offer(m.end() - i, URI, m.group())
            if best is None:
                # a single character
                best = (c, c)
                best_len = 1
            kind, value = best
            if kind in ("PATH_START", "HPATH_START"):
                # "dir/${": the path token is the part up to the slash
                end = value
                assert isinstance(end, int)
                add((PATH if kind == "PATH_START" else HPATH, text[i:end], i))
                path_start = i
                stack.append(INPATH_SLASH)
                i = end
                continue
            if kind in (PATH, HPATH):
                assert isinstance(value, str)
                path_start = i
                stack.append(INPATH_SLASH if value.endswith("/") else INPATH)
                add((kind, value, i))
                i += best_len
                continue
            if kind == INT:
                assert isinstance(value, str)
                v = int(value)
                if v > 0x7FFFFFFFFFFFFFFF:
                    raise err(f"invalid integer '{value}'", i)
                add((INT, v, i))
            elif kind == FLOAT:
                assert isinstance(value, str)
                add((FLOAT, float(value), i))
            elif kind == DOLLAR_CURLY or kind == "{":
                stack.append(DEFAULT)
                add((kind, None, i))
            elif kind == "}":
                if len(stack) > 1:
                    stack.pop()
                add(("}", None, i))
            elif kind == '"':
                stack.append(STRING)
                add(('"', None, i))
            elif kind == IND_OPEN:
                stack.append(IND_STRING)
                add((IND_OPEN, None, i))
            else:
                add((kind, value, i))
            i += best_len
        elif state == STRING:
            if i >= n:
                add((EOF, None, i))
                return toks
            c = text[i]
            if c == '"':
                stack.pop()
                add(('"', None, i))
                i += 1
                continue
            if c == "$" and text.startswith("${", i):
                stack.append(DEFAULT)
                add((DOLLAR_CURLY, None, i))
                i += 2
                continue
            m1 = _STR_BODY.match(text, i)
            m2 = _STR_DOLLAR_END.match(text, i)
            e1 = m1.end() if m1 else i
            e2 = m2.end() if m2 else i
            end = max(e1, e2)
            if end == i:
                # "$", "\" or "$\" at the end of the input
                add((EOF, None, n))
                return toks
            add((STR, unescape(text[i:end]), i))
            i = end
        elif state == IND_STRING:
            if i >= n:
                add((EOF, None, i))
                return toks
            c = text[i]
            if c == "'":
                if text.startswith("''", i):
                    if text.startswith("'''", i):
                        add((IND_STR, ("''", False), i))
                        i += 3
                    elif text.startswith("''$", i):
                        add((IND_STR, ("$", False), i))
                        i += 3
                    elif text.startswith("''\\", i) and i + 3 < n:
                        add((IND_STR, (unescape(text[i + 2 : i + 4]), False), i))
                        i += 4
                    else:
                        stack.pop()
                        add((IND_CLOSE, None, i))
                        i += 2
                    continue
                if i + 1 < n and text[i + 1] != "$":
                    pass  # "'x": part of the raw text below
                else:
                    add((IND_STR, ("'", False), i))
                    i += 1
                    continue
            elif c == "$":
                if text.startswith("${", i):
                    stack.append(DEFAULT)
                    add((DOLLAR_CURLY, None, i))
                    i += 2
                    continue
                if i + 1 >= n or text[i + 1] == "'":
                    add((IND_STR, ("$", False), i))
                    i += 1
                    continue
            m = _IND_BODY.match(text, i)
            assert m, (text[i : i + 5], i)
            add((IND_STR, (m.group(), True), i))
            i = m.end()
        else:  # INPATH, INPATH_SLASH
            if text.startswith("${", i):
                stack[-1] = INPATH
                stack.append(DEFAULT)
                add((DOLLAR_CURLY, None, i))
                i += 2
                continue
            m = _INPATH_PART.match(text, i) if i < n else None
            if m:
                part = m.group()
                stack[-1] = INPATH_SLASH if part.endswith("/") else INPATH
                add((STR, part, i))
                i = m.end()
                continue
            if state == INPATH_SLASH:
                raise err("path has a trailing slash", path_start)
            stack.pop()
            add((PATH_END, None, i))
