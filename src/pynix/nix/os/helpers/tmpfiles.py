"""The `tmpfiles` activation snippet: systemd.tmpfiles.rules applied at each
activation, the way `systemd-tmpfiles --create` applies them (a subset).

    tmpfiles.py RULES-FILE

Each line is `Type Path [Mode [User [Group [Age [Argument]]]]]` (`-` for a
default).  Types: d, D (a directory), f (a file, written with Argument if
new), F (a file, rewritten), w (Argument written to an existing file),
L, L+ (a symlink to Argument; + replaces what is there), z, Z (mode and
owner of what exists; Z recursively), r, R (removed; R recursively).  Other
types are reported and skipped.  A failing line is reported; the others
still run; the exit status tells whether all went well.
"""

from __future__ import annotations

import contextlib
import grp
import os
import pwd
import shutil
import sys


class RuleError(Exception):
    pass


def owner(user: str, group: str) -> tuple[int, int]:
    try:
        uid = -1 if user == "-" else int(user) if user.isdigit() else pwd.getpwnam(user).pw_uid
        gid = -1 if group == "-" else int(group) if group.isdigit() else \
            grp.getgrnam(group).gr_gid
    except KeyError as e:
        raise RuleError(f"unknown user or group {e}") from None
    return uid, gid


def set_attrs(path: str, mode: str, uid: int, gid: int, default_mode: int | None) -> None:
    if not os.path.islink(path):
        if mode != "-":
            os.chmod(path, int(mode.lstrip("~"), 8))
        elif default_mode is not None:
            os.chmod(path, default_mode)
    if uid != -1 or gid != -1:
        os.lchown(path, uid, gid)


def unescape(argument: str) -> str:
    return argument.encode("utf-8").decode("unicode_escape") if "\\" in argument else argument


def apply(fields: list[str]) -> None:
    fields += ["-"] * (7 - len(fields))
    kind, path, mode, user, group, _age, argument = fields[:7]
    kind = kind.rstrip("!-=")
    if not path.startswith("/"):
        raise RuleError(f"the path '{path}' is not absolute")
    uid, gid = owner(user, group)
    arg = "" if argument == "-" else unescape(argument)
    if kind in ("d", "D", "v", "q", "Q"):
        os.makedirs(path, exist_ok=True)
        set_attrs(path, mode, uid, gid, 0o755 if mode == "-" else None)
    elif kind in ("f", "F", "f+"):
        new = not os.path.lexists(path)
        if new or kind != "f":
            with open(path, "w", encoding="utf-8") as f:
                f.write(arg)
        set_attrs(path, mode, uid, gid, 0o644 if new and mode == "-" else None)
    elif kind in ("w", "w+"):
        if os.path.exists(path):
            with open(path, "a" if kind == "w+" else "w", encoding="utf-8") as f:
                f.write(arg)
    elif kind in ("L", "L+"):
        if os.path.lexists(path):
            if kind == "L" or (os.path.islink(path) and os.readlink(path) == arg):
                return
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path)
            else:
                os.unlink(path)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        os.symlink(arg, path)
    elif kind in ("z", "Z"):
        if not os.path.lexists(path):
            return
        targets = [path]
        if kind == "Z" and os.path.isdir(path) and not os.path.islink(path):
            for top, dirs, files in os.walk(path):
                targets += [os.path.join(top, n) for n in dirs + files]
        for t in targets:
            set_attrs(t, mode, uid, gid, None)
    elif kind in ("r", "R"):
        if os.path.isdir(path) and not os.path.islink(path):
            if kind == "R":
                shutil.rmtree(path)
            else:
                with contextlib.suppress(OSError):  # not empty: kept, as systemd does
                    os.rmdir(path)
        elif os.path.lexists(path):
            os.unlink(path)
    else:
        raise RuleError(f"the type '{kind}' is not supported by pynix")


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: tmpfiles.py RULES-FILE", file=sys.stderr)
        return 2
    status = 0
    with open(argv[1], encoding="utf-8") as f:
        lines = f.read().splitlines()
    for n, line in enumerate(lines, 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        try:
            apply(line.split())
        except (RuleError, OSError) as e:
            print(f"systemd.tmpfiles.rules, line {n} ({line.strip()}): {e}", file=sys.stderr)
            status = 1
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv))
