"""JSON as Nix 2.8 reads and writes it.

Reading (``builtins.fromJSON``): Nix 2.8 parses with nlohmann::json.  The
stdlib :mod:`json` module does the work on valid input; anything it rejects,
or that nlohmann would treat differently, goes to a small port of nlohmann's
lexer and parser, which produces the same value or the same error message
(``[json.exception.parse_error.101] parse error at line 1, column 2: ...``).

Behaviours worth knowing:

* Integers are 64-bit: ``9223372036854775808`` up to ``2^64-1`` wrap around
  (nlohmann reads them as unsigned, Nix stores them signed), larger or
  smaller integers become floats.  ``-0`` is the integer 0; ``1.0``, ``1e3``
  and ``-0.0`` are floats.  A float that overflows (``1e400``) is an error
  (``[json.exception.out_of_range.406] number overflow parsing '1e400'``).
* ``\\u`` escapes become UTF-8; surrogate pairs are combined and a lone
  surrogate is an error.  A string is cut at the first NUL (``"a\\u0000b"``
  gives ``"a"``), an attribute name is not.
* Strings must be valid UTF-8 and may not contain raw control characters;
  ``NaN``, ``Infinity``, comments and trailing commas are errors; a UTF-8 BOM
  at the start is skipped.  A repeated key keeps its last value.

Writing: :func:`to_json_string` escapes ``"`` ``\\`` and control characters
(``\\n`` ``\\r`` ``\\t`` short, the others as ``\\u00xx`` in lower case, so
``\\b`` and ``\\f`` become ``\\u0008`` and ``\\u000c``); DEL and bytes >= 0x80
are written as they are.  :func:`json_float` prints like C++ ``ostream <<
double``: six significant digits (``0.333333``, ``1e+20``, ``1.23457e+08``,
``-0``, ``inf``, ``-nan``).
"""

from __future__ import annotations

import json
import math
import re
from typing import Any, Final

from .errors import EvalError
from .values import Value, to_text

__all__ = ["from_json", "json_float", "to_json_string"]


# --------------------------------------------------------------------------
# Writing


def _escape_table() -> list[str]:
    table = [chr(i) for i in range(256)]
    for i in range(32):
        table[i] = f"\\u{i:04x}"
    table[ord("\n")] = "\\n"
    table[ord("\r")] = "\\r"
    table[ord("\t")] = "\\t"
    table[ord('"')] = '\\"'
    table[ord("\\")] = "\\\\"
    return table


_ESCAPES: Final = {chr(i): e for i, e in enumerate(_escape_table()) if e != chr(i)}
_NEEDS_ESCAPE: Final = re.compile('["\\\\\x00-\x1f]')


def to_json_string(s: str) -> str:
    """One Nix string as a JSON string literal, quotes included."""
    if _NEEDS_ESCAPE.search(s) is None:
        return '"' + s + '"'
    return '"' + _NEEDS_ESCAPE.sub(lambda m: _ESCAPES[m.group()], s) + '"'


def json_float(f: float) -> str:
    """A float as Nix 2.8 prints it in JSON (and XML): C++'s ``%g``."""
    if math.isnan(f):
        return "-nan" if math.copysign(1.0, f) < 0 else "nan"
    return f"{f:g}"


# --------------------------------------------------------------------------
# Reading: the fast path


class _Fallback(Exception):
    """The stdlib parser cannot be trusted with this input."""


_UNICODE_ESCAPE: Final = re.compile(
    r"\\(?:u([dD][89abAB][0-9a-fA-F]{2})\\u([dD][c-fC-F][0-9a-fA-F]{2})"
    r"|u([0-9a-fA-F]{4})|.)",
    re.S,
)
_LONG_DIGITS: Final = re.compile(r"\d{19}")


def _utf8_escape(m: re.Match[str]) -> str:
    """Turn a non-ASCII ``\\u`` escape into the UTF-8 bytes it stands for."""
    high, one = m.group(1), m.group(3)
    if high is not None:
        cp = 0x10000 + ((int(high, 16) - 0xD800) << 10) + (int(m.group(2), 16) - 0xDC00)
    elif one is not None:
        cp = int(one, 16)
        if cp < 0x80:
            return m.group()
        if 0xD800 <= cp <= 0xDFFF:
            raise _Fallback  # a lone surrogate: let the careful parser report it
    else:
        return m.group()
    return chr(cp).encode("utf-8").decode("latin-1")


def _float(s: str) -> float:
    f = float(s)
    if math.isinf(f):
        raise _Fallback  # "number overflow"
    return f


def _int(s: str) -> int | float:
    if len(s) > 21:
        return _float(s)
    v = int(s)
    if v >= 1 << 63:
        return v - (1 << 64) if v < 1 << 64 else _float(s)
    if v < -(1 << 63):
        return _float(s)
    return v


def _reject(s: str) -> Any:
    raise _Fallback


def _cut_nul(v: Any) -> Any:
    t = type(v)
    if t is str:
        i = v.find("\0")
        return v if i < 0 else v[:i]
    if t is list:
        return [_cut_nul(x) for x in v]
    if t is dict:
        return {k: _cut_nul(x) for k, x in v.items()}
    return v


def _fast(text: str) -> Value:
    if not text.isascii():
        text.encode("latin-1").decode("utf-8")  # raises on invalid UTF-8
    if "\\u" in text:
        text = _UNICODE_ESCAPE.sub(_utf8_escape, text)
    parse_int = _int if _LONG_DIGITS.search(text) else None
    v = json.loads(text, parse_float=_float, parse_int=parse_int, parse_constant=_reject)
    if "\\u0000" in text:
        v = _cut_nul(v)
    return v


def from_json(text: str) -> Value:
    """``builtins.fromJSON``: `text` is a Nix (byte) string holding UTF-8."""
    try:
        return _fast(str(text))
    except (_Fallback, ValueError, RecursionError):
        pass
    return _Parser(str(text)).parse()


# --------------------------------------------------------------------------
# Reading: nlohmann's lexer and parser, for exact errors

_EOF: Final = -1

(
    TOK_TRUE, TOK_FALSE, TOK_NULL, TOK_STRING, TOK_UNSIGNED, TOK_INTEGER, TOK_FLOAT,
    TOK_BEGIN_ARRAY, TOK_BEGIN_OBJECT, TOK_END_ARRAY, TOK_END_OBJECT, TOK_COLON,
    TOK_COMMA, TOK_ERROR, TOK_END,
) = range(15)

_TOKEN_NAMES: Final = {
    TOK_TRUE: "true literal",
    TOK_FALSE: "false literal",
    TOK_NULL: "null literal",
    TOK_STRING: "string literal",
    TOK_UNSIGNED: "number literal",
    TOK_INTEGER: "number literal",
    TOK_FLOAT: "number literal",
    TOK_BEGIN_ARRAY: "'['",
    TOK_BEGIN_OBJECT: "'{'",
    TOK_END_ARRAY: "']'",
    TOK_END_OBJECT: "'}'",
    TOK_COLON: "':'",
    TOK_COMMA: "','",
    TOK_ERROR: "<parse error>",
    TOK_END: "end of input",
}
_LITERAL_OR_VALUE: Final = "'[', '{', or a literal"

_CONTROL_NAMES: Final = (
    "NUL", "SOH", "STX", "ETX", "EOT", "ENQ", "ACK", "BEL", "BS", "HT", "LF", "VT", "FF", "CR",
    "SO", "SI", "DLE", "DC1", "DC2", "DC3", "DC4", "NAK", "SYN", "ETB", "CAN", "EM", "SUB",
    "ESC", "FS", "GS", "RS", "US",
)
_SHORT_ESCAPES: Final = {8: "b", 9: "t", 10: "n", 12: "f", 13: "r"}
_ESCAPED: Final = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n",
                   "r": "\r", "t": "\t"}

# Allowed continuation byte ranges after a UTF-8 lead byte.
_UTF8_RANGES: Final[dict[int, tuple[tuple[int, int], ...]]] = {}
for _b in range(0xC2, 0xE0):
    _UTF8_RANGES[_b] = ((0x80, 0xBF),)
_UTF8_RANGES[0xE0] = ((0xA0, 0xBF), (0x80, 0xBF))
for _b in [*range(0xE1, 0xED), 0xEE, 0xEF]:
    _UTF8_RANGES[_b] = ((0x80, 0xBF), (0x80, 0xBF))
_UTF8_RANGES[0xED] = ((0x80, 0x9F), (0x80, 0xBF))
_UTF8_RANGES[0xF0] = ((0x90, 0xBF), (0x80, 0xBF), (0x80, 0xBF))
for _b in range(0xF1, 0xF4):
    _UTF8_RANGES[_b] = ((0x80, 0xBF), (0x80, 0xBF), (0x80, 0xBF))
_UTF8_RANGES[0xF4] = ((0x80, 0x8F), (0x80, 0xBF), (0x80, 0xBF))


def _control_message(c: int) -> str:
    msg = (f"invalid string: control character U+{c:04X} ({_CONTROL_NAMES[c]}) "
           f"must be escaped to \\u{c:04X}")
    if c in _SHORT_ESCAPES:
        msg += f" or \\{_SHORT_ESCAPES[c]}"
    return msg


class _Lexer:
    def __init__(self, text: str) -> None:
        self.text = text
        self.i = 0
        self.current = _EOF
        self.unget_next = False
        self.total = 0
        self.column = 0
        self.lines = 0
        self.token_string: list[str] = []
        self.buffer: list[str] = []
        self.error = ""

    def get(self) -> int:
        self.total += 1
        self.column += 1
        if self.unget_next:
            self.unget_next = False
        elif self.i < len(self.text):
            self.current = ord(self.text[self.i])
            self.i += 1
        else:
            self.current = _EOF
        if self.current != _EOF:
            self.token_string.append(chr(self.current))
        if self.current == 10:
            self.lines += 1
            self.column = 0
        return self.current

    def unget(self) -> None:
        self.unget_next = True
        self.total -= 1
        if self.column == 0:
            if self.lines > 0:
                self.lines -= 1
        else:
            self.column -= 1
        if self.current != _EOF:
            self.token_string.pop()

    def reset(self) -> None:
        self.buffer = []
        self.token_string = [chr(self.current)]

    def position(self) -> str:
        return f"line {self.lines + 1}, column {self.column}"

    def last_read(self) -> str:
        return "".join(f"<U+{ord(c):04X}>" if ord(c) <= 0x1F else c for c in self.token_string)

    def scan(self) -> int:
        if self.total == 0:
            if self.get() == 0xEF:
                if not (self.get() == 0xBB and self.get() == 0xBF):
                    self.error = "invalid BOM; must be 0xEF 0xBB 0xBF if given"
                    return TOK_ERROR
            else:
                self.unget()
        while self.get() in (32, 9, 10, 13):
            pass
        c = self.current
        simple = {91: TOK_BEGIN_ARRAY, 93: TOK_END_ARRAY, 123: TOK_BEGIN_OBJECT,
                  125: TOK_END_OBJECT, 58: TOK_COLON, 44: TOK_COMMA}
        if c in simple:
            return simple[c]
        if c == ord("t"):
            return self.literal("true", TOK_TRUE)
        if c == ord("f"):
            return self.literal("false", TOK_FALSE)
        if c == ord("n"):
            return self.literal("null", TOK_NULL)
        if c == ord('"'):
            return self.string()
        if c == ord("-") or 48 <= c <= 57:
            return self.number()
        if c == 0 or c == _EOF:
            return TOK_END
        self.error = "invalid literal"
        return TOK_ERROR

    def literal(self, word: str, token: int) -> int:
        for ch in word[1:]:
            if self.get() != ord(ch):
                self.error = "invalid literal"
                return TOK_ERROR
        return token

    def hex4(self) -> int:
        v = 0
        for _ in range(4):
            c = self.get()
            if 48 <= c <= 57:
                d = c - 48
            elif 65 <= c <= 70:
                d = c - 55
            elif 97 <= c <= 102:
                d = c - 87
            else:
                return -1
            v = v * 16 + d
        return v

    def string(self) -> int:
        self.reset()
        add = self.buffer.append
        while True:
            c = self.get()
            if c == _EOF:
                self.error = "invalid string: missing closing quote"
                return TOK_ERROR
            if c == 34:
                return TOK_STRING
            if c == 92:
                e = self.get()
                if e == ord("u"):
                    cp = self.hex4()
                    if cp < 0:
                        self.error = "invalid string: '\\u' must be followed by 4 hex digits"
                        return TOK_ERROR
                    if 0xD800 <= cp <= 0xDBFF:
                        if self.get() == 92 and self.get() == ord("u"):
                            low = self.hex4()
                            if low < 0:
                                self.error = ("invalid string: '\\u' must be followed by "
                                              "4 hex digits")
                                return TOK_ERROR
                            if not 0xDC00 <= low <= 0xDFFF:
                                self.error = ("invalid string: surrogate U+D800..U+DBFF must "
                                              "be followed by U+DC00..U+DFFF")
                                return TOK_ERROR
                            cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00)
                        else:
                            self.error = ("invalid string: surrogate U+D800..U+DBFF must be "
                                          "followed by U+DC00..U+DFFF")
                            return TOK_ERROR
                    elif 0xDC00 <= cp <= 0xDFFF:
                        self.error = ("invalid string: surrogate U+DC00..U+DFFF must follow "
                                      "U+D800..U+DBFF")
                        return TOK_ERROR
                    add(chr(cp).encode("utf-8").decode("latin-1"))
                elif e != _EOF and chr(e) in _ESCAPED:
                    add(_ESCAPED[chr(e)])
                else:
                    self.error = "invalid string: forbidden character after backslash"
                    return TOK_ERROR
            elif c < 0x20:
                self.error = _control_message(c)
                return TOK_ERROR
            elif c < 0x80:
                add(chr(c))
            else:
                ranges = _UTF8_RANGES.get(c)
                if ranges is None:
                    self.error = "invalid string: ill-formed UTF-8 byte"
                    return TOK_ERROR
                add(chr(c))
                for lo, hi in ranges:
                    b = self.get()
                    if not lo <= b <= hi:
                        self.error = "invalid string: ill-formed UTF-8 byte"
                        return TOK_ERROR
                    add(chr(b))

    def number(self) -> int:
        self.reset()
        add = self.buffer.append
        kind = TOK_UNSIGNED
        c = self.current
        add(chr(c))

        def digit(x: int) -> bool:
            return 48 <= x <= 57

        if c == ord("-"):
            kind = TOK_INTEGER
            c = self.get()
            if not digit(c):
                self.error = "invalid number; expected digit after '-'"
                return TOK_ERROR
            add(chr(c))
        if c != ord("0"):
            while digit(c := self.get()):
                add(chr(c))
        else:
            c = self.get()
        if c == ord("."):
            kind = TOK_FLOAT
            add(".")
            c = self.get()
            if not digit(c):
                self.error = "invalid number; expected digit after '.'"
                return TOK_ERROR
            add(chr(c))
            while digit(c := self.get()):
                add(chr(c))
        if c in (ord("e"), ord("E")):
            kind = TOK_FLOAT
            add(chr(c))
            c = self.get()
            if c in (ord("+"), ord("-")):
                add(chr(c))
                c = self.get()
                if not digit(c):
                    self.error = "invalid number; expected digit after exponent sign"
                    return TOK_ERROR
            elif not digit(c):
                self.error = "invalid number; expected '+', '-', or digit after exponent"
                return TOK_ERROR
            add(chr(c))
            while digit(c := self.get()):
                add(chr(c))
        self.unget()
        text = "".join(self.buffer)
        if kind == TOK_UNSIGNED and len(text) <= 20 and int(text) < 1 << 64:
            return TOK_UNSIGNED
        if kind == TOK_INTEGER and len(text) <= 21 and int(text) >= -(1 << 63):
            return TOK_INTEGER
        return TOK_FLOAT


class _Parser:
    """nlohmann's SAX parser loop, building Nix values."""

    def __init__(self, text: str) -> None:
        self.lex = _Lexer(text)
        self.token = TOK_END

    def next(self) -> int:
        self.token = self.lex.scan()
        return self.token

    def fail(self, expected: str | None, context: str) -> EvalError:
        lex = self.lex
        msg = f"syntax error while parsing {context} - "
        if self.token == TOK_ERROR:
            msg += f"{lex.error}; last read: '{lex.last_read()}'"
        else:
            msg += f"unexpected {_TOKEN_NAMES[self.token]}"
        if expected is not None:
            msg += f"; expected {expected}"
        return EvalError(to_text(
            f"[json.exception.parse_error.101] parse error at {lex.position()}: {msg}"))

    def scalar(self) -> Value:
        tok, lex = self.token, self.lex
        if tok == TOK_TRUE:
            return True
        if tok == TOK_FALSE:
            return False
        if tok == TOK_NULL:
            return None
        if tok == TOK_STRING:
            s = "".join(lex.buffer)
            i = s.find("\0")
            return s if i < 0 else s[:i]
        text = "".join(lex.buffer)
        if tok == TOK_UNSIGNED:
            v = int(text)
            return v - (1 << 64) if v >= 1 << 63 else v
        if tok == TOK_INTEGER:
            return int(text)
        f = float(text)
        if math.isinf(f):
            raise EvalError(to_text(
                f"[json.exception.out_of_range.406] number overflow parsing '{lex.last_read()}'"))
        return f

    def parse(self) -> Value:
        # Containers under construction: (list, None) or (dict, pending key).
        stack: list[list[Any]] = []
        self.next()
        value: Value = None
        while True:
            tok = self.token
            if tok == TOK_BEGIN_OBJECT:
                if self.next() == TOK_END_OBJECT:
                    value = {}
                else:
                    if self.token != TOK_STRING:
                        raise self.fail(_TOKEN_NAMES[TOK_STRING], "object key")
                    key = "".join(self.lex.buffer)
                    if self.next() != TOK_COLON:
                        raise self.fail(_TOKEN_NAMES[TOK_COLON], "object separator")
                    stack.append([{}, key])
                    self.next()
                    continue
            elif tok == TOK_BEGIN_ARRAY:
                if self.next() == TOK_END_ARRAY:
                    value = []
                else:
                    stack.append([[], None])
                    continue
            elif tok == TOK_ERROR:
                raise self.fail(None, "value")
            elif tok in (TOK_TRUE, TOK_FALSE, TOK_NULL, TOK_STRING, TOK_UNSIGNED,
                         TOK_INTEGER, TOK_FLOAT):
                value = self.scalar()
            else:
                raise self.fail(_LITERAL_OR_VALUE, "value")
            # a value is complete: store it and find out what comes next
            while True:
                if not stack:
                    if self.next() != TOK_END:
                        raise self.fail(_TOKEN_NAMES[TOK_END], "value")
                    return value
                top = stack[-1]
                container = top[0]
                if type(container) is list:
                    container.append(value)
                    if self.next() == TOK_COMMA:
                        self.next()
                        break
                    if self.token != TOK_END_ARRAY:
                        raise self.fail(_TOKEN_NAMES[TOK_END_ARRAY], "array")
                else:
                    container[top[1]] = value
                    if self.next() == TOK_COMMA:
                        if self.next() != TOK_STRING:
                            raise self.fail(_TOKEN_NAMES[TOK_STRING], "object key")
                        top[1] = "".join(self.lex.buffer)
                        if self.next() != TOK_COLON:
                            raise self.fail(_TOKEN_NAMES[TOK_COLON], "object separator")
                        self.next()
                        break
                    if self.token != TOK_END_OBJECT:
                        raise self.fail(_TOKEN_NAMES[TOK_END_OBJECT], "object")
                stack.pop()
                value = container
