"""``pynix search pkgs REGEX... [--json]``: find packages of pynix's package set
by attribute name, pname and description, as ``nix search`` does.

The package set's derivations (its top-level attributes, and sets marked
``recurseForDerivations``) are evaluated only for their names, versions and
descriptions; a package whose evaluation fails is left out.  The result is
cached in ``$XDG_CACHE_HOME/pynix/search/`` under a hash of the package set's
sources and config (:func:`.pkgsref.sources_digest`), so a warm search
evaluates nothing; any change to those files evaluates again.

This module imports only the standard library until it must evaluate.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import tempfile
from collections.abc import Mapping
from typing import IO, Any

from .pkgsref import SET_NAME, PkgsSetError, pkgs_expr, sources_digest, split_drv_name

HELP = """\
Usage: pynix search [OPTION...] pkgs[#ATTR.PATH] [REGEX...]

Search the packages of pynix's package set: a package is shown when every
REGEX (case-insensitive) matches its attribute path, its name or its
description.  Without REGEX every package is shown.

  pynix search pkgs hello
  pynix search pkgs 'web server' --json
  pynix search pkgs '^python3' sql

Options:
  --json                 print {"pkgs.ATTR": {"pname", "version", "description"}}
  -e REGEX, --exclude REGEX
                         leave out packages that REGEX matches
  --refresh              evaluate the package set again instead of using the cache

The package set is <pynix/pkgs> ($PYNIX_PKGS chooses another file), with the
config in ~/.config/pynix/pkgs-config.nix if it exists (PYNIX_ALLOW_UNFREE=1
allows unfree packages).  Results are cached in $XDG_CACHE_HOME/pynix/search
until the package set's files change.
"""

CACHE_FORMAT = 1
CACHE_KEEP = 16  # cache files kept (the newest)
_MAX_DEPTH = 8

Entry = dict[str, str]  # attrPath, pname, version, description


class SearchError(Exception):
    pass


def cache_dir(env: Mapping[str, str]) -> str:
    base = env.get("XDG_CACHE_HOME") or os.path.join(env.get("HOME") or
                                                      os.path.expanduser("~"), ".cache")
    return os.path.join(base, "pynix", "search")


def _cache_file(env: Mapping[str, str], sub_path: str) -> str:
    key = hashlib.sha256(f"{CACHE_FORMAT}\0{sources_digest(env)}\0{sub_path}".encode())
    return os.path.join(cache_dir(env), key.hexdigest()[:40] + ".json")


def _read_cache(path: str) -> list[Entry] | None:
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("format") != CACHE_FORMAT:
        return None
    entries = data.get("packages")
    if not isinstance(entries, list):
        return None
    return entries


def _write_cache(path: str, entries: list[Entry]) -> None:
    """Atomically; a cache that cannot be written is no error."""
    directory = os.path.dirname(path)
    try:
        os.makedirs(directory, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump({"format": CACHE_FORMAT, "packages": entries}, f)
        os.replace(tmp, path)
        olds = sorted((e for e in os.scandir(directory) if e.name.endswith(".json")),
                      key=lambda e: e.stat().st_mtime, reverse=True)  # fmt: skip
        for e in olds[CACHE_KEEP:]:
            with contextlib.suppress(OSError):
                os.unlink(e.path)
    except OSError:
        pass


# -- evaluating --------------------------------------------------------------------------


def evaluate_entries(env: Mapping[str, str], cwd: str, stderr: IO[bytes],
                     sub_path: str) -> list[Entry]:
    """Name, version and description of every package (failing ones left out)."""
    from ..lang.attrpath import find_along_attr_path
    from ..lang.errors import STRING_ORIGIN
    from ..lang.runtime import force
    from .common import EvalSession
    from .eval_cmd import arg_text

    session = EvalSession(env=env, cwd=cwd, stderr=stderr, search_path=[], eager=False)
    root = session.evaluator.eval_source(pkgs_expr(env), STRING_ORIGIN, arg_text(cwd))
    if sub_path:
        root = find_along_attr_path(root, arg_text(sub_path), {})
    root = force(root)
    entries: list[Entry] = []
    prefix = SET_NAME + (f".{sub_path}" if sub_path else "")
    if _is_derivation(root):
        entry = _entry(root, prefix)
        return [entry] if entry else []
    if type(root) is not dict:
        raise SearchError(f"'{prefix}' is not a set of packages")
    _walk(root, prefix, entries, set(), 0)
    return entries


def _is_derivation(v: Any) -> bool:
    from .derivations import is_derivation

    return is_derivation(v)


def _walk(attrs: dict[str, Any], prefix: str, out: list[Entry], seen: set[int],
          depth: int) -> None:
    from ..lang.runtime import force

    seen.add(id(attrs))
    for name in sorted(attrs):
        path = f"{prefix}.{name}"
        try:
            v = force(attrs[name])
            if _is_derivation(v):
                entry = _entry(v, path)
                if entry is not None:
                    out.append(entry)
            elif type(v) is dict and id(v) not in seen and depth < _MAX_DEPTH:
                recurse = force(v["recurseForDerivations"]) if "recurseForDerivations" in v \
                    else False
                if recurse is True:
                    _walk(v, path, out, seen, depth + 1)
        except Exception:  # a broken package must not break the search
            continue


def _entry(v: dict[str, Any], path: str) -> Entry | None:
    from .pkgsref import string_attr

    name = string_attr(v, "name")
    if name is None:
        return None
    pname, version = split_drv_name(name)
    return {
        "attrPath": path,
        "pname": string_attr(v, "pname") or pname,
        "version": string_attr(v, "version") or version,
        "description": string_attr(v, "meta", "description") or "",
    }


# -- matching and printing ---------------------------------------------------------------


def _compile(patterns: list[str]) -> list[re.Pattern[str]]:
    out = []
    for p in patterns:
        try:
            out.append(re.compile(p, re.IGNORECASE))
        except re.error as e:
            raise SearchError(f"invalid regular expression '{p}': {e}") from None
    return out


def _spans(text: str, regexes: list[re.Pattern[str]]) -> list[tuple[int, int]]:
    return [m.span() for r in regexes for m in r.finditer(text) if m.end() > m.start()]


def _hilite(text: str, spans: list[tuple[int, int]], on: str, off: str) -> str:
    if not spans:
        return text
    merged: list[list[int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    out, pos = [], 0
    for start, end in merged:
        out += [text[pos:start], on, text[start:end], off]
        pos = end
    out.append(text[pos:])
    return "".join(out)


def select(entries: list[Entry], regexes: list[re.Pattern[str]],
           excludes: list[re.Pattern[str]]) -> list[Entry]:
    found = []
    for e in entries:
        fields = (e["attrPath"], e["pname"], e["description"])
        if not all(any(r.search(f) for f in fields) for r in regexes):
            continue
        if any(x.search(f) for x in excludes for f in fields):
            continue
        found.append(e)
    return found


def render_text(found: list[Entry], regexes: list[re.Pattern[str]], color: bool) -> str:
    green, bold, normal = ("\x1b[32;1m", "\x1b[0;1m", "\x1b[0m") if color else ("", "", "")
    blocks = []
    for e in found:
        attr = _hilite(e["attrPath"], _spans(e["attrPath"], regexes) if color else [],
                       green, normal + bold)  # fmt: skip
        line = f"* {bold}{attr}{normal}" + (f" ({e['version']})" if e["version"] else "")
        if e["description"]:
            desc = _hilite(e["description"],
                           _spans(e["description"], regexes) if color else [], green, normal)
            line += f"\n  {desc}"
        blocks.append(line + "\n")
    return "\n".join(blocks)


def render_json(found: list[Entry]) -> str:
    return json.dumps({e["attrPath"]: {"pname": e["pname"], "version": e["version"],
                                       "description": e["description"]} for e in found},
                      ensure_ascii=False, separators=(",", ":"))  # fmt: skip


# -- the command -------------------------------------------------------------------------


def _parse(argv: list[str]) -> tuple[dict[str, Any], list[str]] | str:
    opts: dict[str, Any] = {"json": False, "exclude": [], "refresh": False, "help": False}
    positional: list[str] = []
    ignored = {"--offline": 0, "--impure": 0, "--no-eval-cache": 0, "-v": 0, "--verbose": 0,
               "--quiet": 0, "--store": 1, "--option": 2, "--extra-experimental-features": 1,
               "--experimental-features": 1, "--show-trace": 0, "--no-warn-dirty": 0}
    i = 0
    while i < len(argv):
        a = argv[i]
        if a == "--json":
            opts["json"] = True
        elif a in ("--help", "-h"):
            opts["help"] = True
        elif a == "--refresh":
            opts["refresh"] = True
        elif a in ("-e", "--exclude"):
            if i + 1 >= len(argv):
                return f"flag '{a}' requires 1 argument"
            opts["exclude"].append(argv[i + 1])
            i += 1
        elif a in ignored:
            if i + ignored[a] >= len(argv):
                return f"flag '{a}' requires {ignored[a]} argument(s)"
            i += ignored[a]
        elif a == "--":
            positional += argv[i + 1 :]
            break
        elif a.startswith("-") and len(a) > 1:
            return f"unrecognised flag '{a}'"
        else:
            positional.append(a)
        i += 1
    return opts, positional


def main_impl(argv: list[str], stdin: IO[bytes], stdout: IO[bytes], stderr: IO[bytes],
              env: Mapping[str, str] | None, cwd: str | None) -> int:
    parsed = _parse(argv)
    if isinstance(parsed, str):
        return _usage(stderr, parsed)
    opts, positional = parsed
    if opts["help"]:
        stdout.write(HELP.encode())
        return 0
    if not positional:
        return _usage(stderr, "give what to search: 'pynix search pkgs REGEX...'")
    where, patterns = positional[0], positional[1:]
    if where != SET_NAME and not where.startswith(SET_NAME + "#"):
        return _usage(stderr, f"cannot search '{where}': give 'pkgs' (pynix's package set) "
                              "or 'pkgs#ATTR.PATH'")  # fmt: skip
    sub_path = where[len(SET_NAME) + 1 :]
    environ = dict(os.environ if env is None else env)
    directory = cwd or os.getcwd()
    try:
        regexes = _compile(patterns)
        excludes = _compile(opts["exclude"])
        cache = _cache_file(environ, sub_path)
        entries = None if opts["refresh"] else _read_cache(cache)
    except (SearchError, PkgsSetError) as e:
        stderr.write(f"error: {e}\n".encode())
        return 1
    if entries is None:
        evaluated = _evaluate(environ, directory, stdout, stderr, sub_path)
        if isinstance(evaluated, int):
            return evaluated
        entries = evaluated
        _write_cache(cache, entries)
    found = select(entries, regexes, excludes)
    try:
        if opts["json"]:
            stdout.write(render_json(found).encode() + b"\n")
        elif not found:
            stderr.write(b"error: no results for the given search term(s)!\n")
            return 1
        else:
            color = _isatty(stdout) and not environ.get("NO_COLOR")
            stdout.write(render_text(found, regexes, color).encode())
        stdout.flush()
    except BrokenPipeError:
        return 1
    return 0


def _evaluate(env: dict[str, str], cwd: str, stdout: IO[bytes], stderr: IO[bytes],
              sub_path: str) -> list[Entry] | int:
    from .common import run_guarded

    result: list[list[Entry]] = []

    def body() -> int:
        try:
            result.append(evaluate_entries(env, cwd, stderr, sub_path))
        except (SearchError, PkgsSetError) as e:
            stderr.write(f"error: {e}\n".encode())
            return 1
        return 0

    status = run_guarded(body, stderr, False, stdout)
    return result[0] if not status and result else (status or 1)


def _isatty(stream: IO[bytes]) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def _usage(stderr: IO[bytes], msg: str) -> int:
    stderr.write(f"error: {msg}\nTry 'pynix search --help' for more information.\n".encode())
    return 1
