"""An on-disk cache of compiled Nix sources.

Parsing and compiling a file costs far more than loading its code object,
so compiled code is kept in ``$PYNIX_CACHE_DIR`` (default
``$XDG_CACHE_HOME/pynix/code``), keyed by a hash of everything the
generated code depends on: the source text, the file name and base
directory (positions and relative paths are baked in), the home directory
(``~/`` paths), the compilation options, and the compiler itself.  A broken
or unwritable cache is ignored: it only ever saves time.
"""

from __future__ import annotations

import contextlib
import marshal
import os
from functools import lru_cache
from types import CodeType
from typing import Any

from .values import LambdaInfo

_COMPILER_FILES = ("compiler.py", "parser.py", "lexer.py", "syntax.py", "codecache.py")


def _sha256(data: bytes = b"") -> Any:
    # the built-in module loads faster than hashlib (which initialises OpenSSL)
    try:
        from _sha256 import sha256  # type: ignore[import-not-found]
    except ImportError:  # pragma: no cover
        from hashlib import sha256
    return sha256(data)


@lru_cache(maxsize=1)
def compiler_fingerprint() -> bytes:
    h = _sha256()
    here = os.path.dirname(os.path.abspath(__file__))
    for name in _COMPILER_FILES:
        try:
            with open(os.path.join(here, name), "rb") as fh:
                h.update(fh.read())
        except OSError:
            h.update(name.encode())
    return h.digest()


def cache_dir() -> str | None:
    d = os.environ.get("PYNIX_CACHE_DIR")
    if d == "":
        return None
    if d is None:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(
            os.path.expanduser("~"), ".cache")
        d = os.path.join(base, "pynix", "code")
    return d


def cache_key(*parts: str | bytes) -> str:
    h = _sha256(compiler_fingerprint())
    for p in parts:
        b = p.encode("utf-8", "surrogatepass") if isinstance(p, str) else p
        h.update(len(b).to_bytes(8, "little"))
        h.update(b)
    return h.hexdigest()


def load(key: str) -> tuple[CodeType, dict[str, LambdaInfo]] | None:
    d = cache_dir()
    if d is None:
        return None
    try:
        with open(os.path.join(d, key[:2], key), "rb") as fh:
            code, raw = marshal.load(fh)
    except (OSError, EOFError, ValueError, TypeError):
        return None
    if type(code) is not CodeType:
        return None
    return code, {name: LambdaInfo(*fields) for name, fields in raw.items()}


def store(key: str, code: CodeType, lambdas: dict[str, LambdaInfo]) -> None:
    d = cache_dir()
    if d is None:
        return
    raw: dict[str, Any] = {
        name: (i.name, i.pos, i.arg, i.formals, i.ellipsis) for name, i in lambdas.items()
    }
    sub = os.path.join(d, key[:2])
    tmp = os.path.join(sub, f".{key}.{os.getpid()}")
    try:
        os.makedirs(sub, exist_ok=True)
        with open(tmp, "wb") as fh:
            marshal.dump((code, raw), fh)
        os.replace(tmp, os.path.join(sub, key))
    except (OSError, ValueError):
        with contextlib.suppress(OSError):
            os.unlink(tmp)
