"""``pynix debian``: pinned Debian packages and PyPI files (lock files)."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from typing import IO, Any

from ..sources.apt import AptError, PrivateApt
from ..sources.lock import (
    DEFAULT_LOCK,
    LockError,
    lock_debian,
    merge_packages,
    normalize_pypi_name,
    parse_pypi_request,
    parse_request,
    pypi_entry,
    read_lock,
    write_lock,
)
from .common import UsageError, run_guarded
from .nixcmd import usage_error

PROG = "pynix debian"

HELP = f"""\
Usage: {PROG} SUBCOMMAND [OPTION...] ARGS...

Pin Debian packages (and PyPI files) in a lock file.  Debian packages come
from the base suite of this machine's release (e.g. 'bookworm', not
'bookworm-updates'), through the mirrors of the machine's own apt sources,
with a private apt state in $PYNIX_APT_DIR (default ~/.cache/pynix/apt).

  lock [--lock FILE] [--refresh] NAME[=VERSION]...
                         lock the packages and their dependency closure
                         (Pre-Depends and Depends); existing entries of
                         other packages are kept
  show [--lock FILE] [--refresh] [--json] NAME
                         what the lock file and the archive say of NAME
  lock-pypi [--lock FILE] [--platform TAG] [--python-version X.Y] NAME==VERSION...
                         lock PyPI files (pure wheels, or CPython wheels for
                         the platform TAG, e.g. manylinux2014_x86_64) in the
                         lock file's 'pypi' section
  update                 refresh the archive's package lists now

  --lock FILE            the lock file (default: ./{DEFAULT_LOCK})
  --refresh              refresh the package lists first (otherwise they are
                         refreshed when older than a day)

Examples:
  {PROG} lock hello
  {PROG} lock --lock pkgs.lock.json bash coreutils=9.1-1
  {PROG} lock-pypi six==1.16.0
"""


class _Args:
    def __init__(self) -> None:
        self.lock = DEFAULT_LOCK
        self.refresh = False
        self.json = False
        self.platform: str | None = None
        self.python_version = "3.11"
        self.names: list[str] = []


def _parse(argv: list[str], allowed: set[str]) -> _Args:
    args = _Args()
    i = 0
    while i < len(argv):
        a = argv[i]
        if a in ("--lock", "--platform", "--python-version") and a in allowed:
            if i + 1 >= len(argv):
                raise UsageError(f"flag '{a}' requires 1 argument")
            value = argv[i + 1]
            if a == "--lock":
                args.lock = value
            elif a == "--platform":
                args.platform = value
            else:
                args.python_version = value
            i += 2
            continue
        if a == "--refresh" and a in allowed:
            args.refresh = True
        elif a == "--json" and a in allowed:
            args.json = True
        elif a == "--":
            args.names += argv[i + 1:]
            break
        elif a.startswith("-"):
            raise UsageError(f"unrecognised flag '{a}'")
        else:
            args.names.append(a)
        i += 1
    return args


def _lock_path(args: _Args, cwd: str | None) -> str:
    return os.path.join(cwd or os.getcwd(), args.lock)


def _apt(env: Mapping[str, str] | None) -> PrivateApt:
    return PrivateApt(env=env)


def _cmd_lock(args: _Args, stdout: IO[bytes], stderr: IO[bytes],
              env: Mapping[str, str] | None, cwd: str | None) -> int:
    if not args.names:
        raise UsageError("no package names given")
    requests = [parse_request(n) for n in args.names]
    apt = _apt(env)
    if apt.ensure_updated(args.refresh):
        stderr.write(f"fetched the package lists of '{apt.release}'\n".encode())
    entries = lock_debian(apt, requests)
    path = _lock_path(args, cwd)
    old = (read_lock(path) or {}).get("packages", {})
    lock = merge_packages(path, apt.release, entries)
    write_lock(path, lock)
    changed = sorted(n for n, e in entries.items() if old.get(n) != e)
    size = sum(int(e["size"]) for e in entries.values())
    what = "changed: " + ", ".join(changed) if changed else "no change"
    stderr.write(f"locked {len(entries)} packages ({size / 1e6:.1f} MB) in '{args.lock}'; "
                 f"{what}\n".encode())
    return 0


def _cmd_show(args: _Args, stdout: IO[bytes], stderr: IO[bytes],
              env: Mapping[str, str] | None, cwd: str | None) -> int:
    if len(args.names) != 1:
        raise UsageError("'show' takes one package name")
    req = parse_request(args.names[0])
    lock = read_lock(_lock_path(args, cwd)) or {}
    locked = lock.get("packages", {}).get(req.name)
    apt = _apt(env)
    apt.ensure_updated(args.refresh)
    records = apt.records(req.name, req.arch)
    if args.json:
        data: dict[str, Any] = {
            "name": req.name,
            "locked": locked,
            "archive": [{"version": r.version, "arch": r.architecture, "sha256": r.sha256,
                         "size": r.size, "filename": r.filename,
                         "description": r.description} for r in records],
            "release": apt.release,
        }
        stdout.write((json.dumps(data, indent=2, sort_keys=True) + "\n").encode())
        return 0 if locked or records else 1
    lines = [f"{req.name}:"]
    if locked:
        lines.append(f"  locked:  {locked.get('version')} ({locked.get('arch')}) "
                     f"sha256 {locked.get('sha256')}, {locked.get('size')} bytes")
        if locked.get("depends"):
            lines.append(f"           depends: {', '.join(locked['depends'])}")
    else:
        lines.append(f"  locked:  not in '{args.lock}'")
    if records:
        for r in records:
            lines.append(f"  archive: {r.version} ({r.architecture}) sha256 {r.sha256}, "
                         f"{r.size} bytes, {r.filename}")
        lines.append(f"  {records[0].description}")
        if locked and locked.get("version") not in [r.version for r in records]:
            lines.append(f"  the locked version is no longer in the archive; relock it with: "
                         f"pynix debian lock {req.name}")
    else:
        lines.append(f"  archive: no package '{req.name}' in '{apt.release}'")
    stdout.write(("\n".join(lines) + "\n").encode())
    return 0 if locked or records else 1


def _cmd_lock_pypi(args: _Args, stdout: IO[bytes], stderr: IO[bytes],
                   env: Mapping[str, str] | None, cwd: str | None) -> int:
    if not args.names:
        raise UsageError("no requirements given (NAME==VERSION)")
    pins = [parse_pypi_request(n) for n in args.names]
    entries = {}
    for name, version in pins:
        entry = pypi_entry(name, version, args.platform, args.python_version)
        entries[normalize_pypi_name(name)] = entry
        stderr.write(f"locked {entry['filename']} ({entry['size']} bytes)\n".encode())
    path = _lock_path(args, cwd)
    existing = read_lock(path)
    release = existing.get("release") if existing else None
    lock = merge_packages(path, release or "", entries, section="pypi")
    if not release:
        lock.pop("release", None)
    write_lock(path, lock)
    return 0


def _cmd_update(args: _Args, stdout: IO[bytes], stderr: IO[bytes],
                env: Mapping[str, str] | None, cwd: str | None) -> int:
    if args.names:
        raise UsageError(f"unexpected argument '{args.names[0]}'")
    apt = _apt(env)
    apt.ensure_updated(refresh=True)
    stderr.write(f"fetched the package lists of '{apt.release}' into '{apt.root}'\n".encode())
    return 0


_Command = Callable[[_Args, IO[bytes], IO[bytes], "Mapping[str, str] | None", "str | None"],
                    int]
_COMMANDS: dict[str, tuple[_Command, set[str]]] = {
    "lock": (_cmd_lock, {"--lock", "--refresh"}),
    "show": (_cmd_show, {"--lock", "--refresh", "--json"}),
    "lock-pypi": (_cmd_lock_pypi, {"--lock", "--platform", "--python-version"}),
    "update": (_cmd_update, set()),
}


def main_impl(
    argv: list[str],
    stdin: IO[bytes],
    stdout: IO[bytes],
    stderr: IO[bytes],
    env: Mapping[str, str] | None,
    cwd: str | None,
) -> int:
    if not argv or argv[0] in ("--help", "-h", "help"):
        if not argv:
            return usage_error(stderr, PROG, "no subcommand specified")
        stdout.write(HELP.encode())
        return 0
    name = argv[0]
    if name not in _COMMANDS:
        return usage_error(stderr, PROG, f"'{name}' is not a recognised command "
                                         f"(one of: {', '.join(_COMMANDS)})")
    command, allowed = _COMMANDS[name]
    if "--help" in argv[1:] or "-h" in argv[1:]:
        stdout.write(HELP.encode())
        return 0
    try:
        args = _parse(argv[1:], allowed)
    except UsageError as e:
        return usage_error(stderr, f"{PROG} {name}", str(e))

    def body() -> int:
        try:
            return command(args, stdout, stderr, env, cwd)
        except (AptError, LockError, UsageError) as e:
            stdout.flush()
            stderr.write(f"error: {e}\n".encode("utf-8", "replace"))
            return 1
        except OSError as e:
            where = f" '{os.fsdecode(e.filename)}'" if e.filename is not None else ""
            stderr.write(f"error: {e.strerror or e}{where}\n".encode("utf-8", "replace"))
            return 1

    return run_guarded(body, stderr, False, stdout)
