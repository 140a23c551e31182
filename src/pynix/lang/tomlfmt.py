"""TOML as Nix 2.8's ``builtins.fromTOML`` reads it.

Nix 2.8 parses with toml11; here :mod:`tomllib` parses and the result is
converted to Nix values.  What Nix does that a TOML reader might not:

* Dates and times are not supported: any date, time or date-time anywhere in
  the document is the error ``while parsing a TOML string: Dates and times
  are not supported``.
* Integers saturate at the 64-bit limits (``9223372036854775808`` and
  ``0xFFFFFFFFFFFFFFFF`` give ``9223372036854775807``); floats too large for a
  double become the largest double (``1e400`` gives ``1.79769e+308``) while
  ``inf``, ``-inf``, ``nan`` and ``-nan`` are kept.
* Strings are UTF-8 byte strings; the document must be valid UTF-8.

Known differences from toml11 (both are corner cases of table redefinition):
toml11 rejects ``[[a.b]]`` followed later by ``[a]`` and accepts
``[a]`` / ``b.c = 1`` / ``[a.b]``; tomllib does the opposite.  Error messages
start like Nix's (``while parsing a TOML string: ``) but carry tomllib's
description of the problem rather than toml11's.
"""

from __future__ import annotations

import datetime
import math
import sys
import tomllib
from typing import Any, Final

from .errors import EvalError
from .values import Value, from_text

__all__ = ["from_toml"]

_INT_MAX: Final = (1 << 63) - 1
_INT_MIN: Final = -(1 << 63)
_DATES: Final = (datetime.date, datetime.time)  # datetime is a date


class _DatesUnsupported(Exception):
    pass


def _parse_float(s: str) -> float:
    f = float(s.replace("_", ""))
    if math.isinf(f) and "inf" not in s:
        return math.copysign(sys.float_info.max, f)  # toml11 reads with a stream
    return f


def _convert(v: Any) -> Value:
    t = type(v)
    if t is str:
        return from_text(v)
    if t is int:
        return _INT_MAX if v > _INT_MAX else _INT_MIN if v < _INT_MIN else v
    if t is dict:
        return {from_text(k): _convert(x) for k, x in v.items()}
    if t is list:
        return [_convert(x) for x in v]
    if isinstance(v, _DATES):
        raise _DatesUnsupported
    return v  # bool, float


def from_toml(text: str) -> Value:
    """``builtins.fromTOML``: `text` is a Nix (byte) string holding UTF-8."""
    try:
        doc = tomllib.loads(text.encode("latin-1").decode("utf-8"), parse_float=_parse_float)
        return _convert(doc)
    except _DatesUnsupported:
        msg = "Dates and times are not supported"
    except UnicodeError:
        msg = "invalid UTF-8 in the document"
    except tomllib.TOMLDecodeError as e:
        msg = f"[error] {e}"
    raise EvalError(f"while parsing a TOML string: {msg}")
