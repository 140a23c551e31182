"""The `users` activation snippet: make /etc/passwd, /etc/group and /etc/shadow
hold the accounts of users.users and users.groups.

Run by the system's activation script (as root, inside the machine) with the
store's python3:  update_users_groups.py SPEC.json

* ids left null are allocated (system accounts downwards from 999, normal
  users upwards from 1000) and remembered in /var/lib/pynix/uid-map and
  gid-map, so a user removed and declared again gets its old id back;
* accounts declared by a previous generation and no longer declared are
  removed (the names are kept in /var/lib/pynix/declarative-users, -groups);
  with mutableUsers = false every undeclared account is removed;
* accounts nobody declared (made by hand with useradd) are kept otherwise;
* homes with createHome are created, owned by the user, with homeMode.

Each file is replaced atomically (written next to it, then renamed).
"""

from __future__ import annotations

import json
import os
import sys
import warnings
from typing import Any

STATE = "/var/lib/pynix"
PASSWD = "/etc/passwd"
GROUP = "/etc/group"
SHADOW = "/etc/shadow"

# Rows of a colon-separated file: name -> fields (the name included).
Table = dict[str, list[str]]


def warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr)


def read_table(path: str, width: int) -> Table:
    table: Table = {}
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except FileNotFoundError:
        return table
    for line in lines:
        if not line.strip() or line.startswith("#"):
            continue
        fields = line.split(":")
        fields += [""] * (width - len(fields))
        table[fields[0]] = fields[:width]
    return table


def write_atomic(path: str, text: str, mode: int) -> None:
    tmp = f"{path}.pynix-tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.write(fd, text.encode("utf-8"))
        os.fchmod(fd, mode)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.rename(tmp, path)


def write_table(path: str, table: Table, mode: int) -> None:
    rows = sorted(table.values(), key=lambda r: (_id_key(r), r[0]))
    write_atomic(path, "".join(":".join(r) + "\n" for r in rows), mode)


def _id_key(row: list[str]) -> int:
    # passwd and group rows carry their id in the third field; shadow rows
    # (no id) keep the order of their names
    if len(row) > 2 and row[2].isdigit() and len(row) in (4, 7):
        return int(row[2])
    return 0


def read_json(path: str, default: Any) -> Any:
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (FileNotFoundError, ValueError):
        return default


def write_json(path: str, value: Any) -> None:
    write_atomic(path, json.dumps(value, indent=1, sort_keys=True) + "\n", 0o644)


class Allocator:
    """Ids for accounts declared without one: the remembered id if it is
    still free, else the next free one in the account's range."""

    def __init__(self, used: set[int], remembered: dict[str, int]) -> None:
        self.used = used
        self.remembered = remembered

    def allocate(self, name: str, system: bool) -> int:
        old = self.remembered.get(name)
        if old is not None and old not in self.used:
            chosen = old
        else:
            candidates = range(999, 399, -1) if system else range(1000, 30000)
            free = [i for i in candidates if i not in self.used]
            if not free:
                raise SystemExit(f"no free id left for '{name}'")
            chosen = free[0]
        self.used.add(chosen)
        self.remembered[name] = chosen
        return chosen


def hash_password(clear: str) -> str:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            import crypt  # deprecated, still in Python 3.11

        return crypt.crypt(clear, crypt.mksalt(crypt.METHOD_SHA512))
    except (ImportError, OSError):
        warn("cannot hash a clear-text password here; the account is locked")
        return "!"


def update_groups(spec: dict[str, Any], groups: Table) -> tuple[dict[str, int], list[str]]:
    declared = {g["name"]: g for g in spec["groups"]}
    previous = set(read_json(f"{STATE}/declarative-groups", []))
    for name in list(groups):
        if name not in declared and (name in previous or not spec["mutableUsers"]):
            print(f"removing group '{name}'", file=sys.stderr)
            del groups[name]
    gid_map: dict[str, int] = read_json(f"{STATE}/gid-map", {})
    used = {int(r[2]) for r in groups.values() if r[2].isdigit()}
    used |= {g["gid"] for g in spec["groups"] if g["gid"] is not None}
    alloc = Allocator(used, gid_map)
    gids: dict[str, int] = {}
    for name, g in sorted(declared.items()):
        gid = g["gid"]
        if gid is None:
            existing = groups.get(name)
            if existing and existing[2].isdigit():
                gid = int(existing[2])
                gid_map[name] = gid
            else:
                # groups of system users are system groups
                gid = alloc.allocate(name, system=True)
        gids[name] = gid
        members = list(g["members"])
        if spec["mutableUsers"] and name in groups:
            # keep members added by hand
            members += [m for m in groups[name][3].split(",") if m and m not in members]
        groups[name] = [name, "x", str(gid), ",".join(members)]
    write_json(f"{STATE}/gid-map", gid_map)
    write_json(f"{STATE}/declarative-groups", sorted(declared))
    return gids, sorted(declared)


def shadow_hash(user: dict[str, Any], old: list[str] | None, mutable: bool) -> str:
    if user.get("hashedPasswordFile"):
        try:
            with open(user["hashedPasswordFile"], encoding="utf-8") as f:
                return f.read().strip()
        except OSError as exc:
            warn(f"users.users.{user['name']}.hashedPasswordFile: {exc}")
    if user.get("hashedPassword") is not None:
        return str(user["hashedPassword"])
    if user.get("password") is not None:
        return hash_password(user["password"])
    if old is not None and (mutable or old[1] in ("!", "*")):
        return old[1]
    if old is None and user.get("initialHashedPassword") is not None:
        return str(user["initialHashedPassword"])
    if old is None and user.get("initialPassword") is not None:
        return hash_password(user["initialPassword"])
    return "!"


def update_users(spec: dict[str, Any], passwd: Table, shadow: Table,
                 gids: dict[str, int], groups: Table) -> None:
    declared = {u["name"]: u for u in spec["users"]}
    previous = set(read_json(f"{STATE}/declarative-users", []))
    for name in list(passwd):
        if name not in declared and (name in previous or not spec["mutableUsers"]):
            print(f"removing user '{name}'", file=sys.stderr)
            del passwd[name]
            shadow.pop(name, None)
    uid_map: dict[str, int] = read_json(f"{STATE}/uid-map", {})
    used = {int(r[2]) for r in passwd.values() if r[2].isdigit()}
    used |= {u["uid"] for u in spec["users"] if u["uid"] is not None}
    alloc = Allocator(used, uid_map)
    for name, u in sorted(declared.items()):
        uid = u["uid"]
        existing = passwd.get(name)
        if uid is None:
            if existing and existing[2].isdigit():
                uid = int(existing[2])
                uid_map[name] = uid
            else:
                uid = alloc.allocate(name, system=bool(u["system"]))
        group = u["group"]
        if group in gids:
            gid = gids[group]
        elif group in groups and groups[group][2].isdigit():
            gid = int(groups[group][2])
        else:
            warn(f"user '{name}' has unknown group '{group}'")
            gid = 65534
        shell = u["shell"] or "/run/current-system/sw/bin/nologin"
        passwd[name] = [name, "x", str(uid), str(gid), u["description"], u["home"], shell]
        old_shadow = shadow.get(name)
        hashed = shadow_hash(u, old_shadow, spec["mutableUsers"])
        rest = old_shadow[2:] if old_shadow else ["1", "", "", "", "", "", ""]
        shadow[name] = [name, hashed, *rest]
        if u["createHome"]:
            make_home(u["home"], uid, gid, int(u["homeMode"], 8))
    write_json(f"{STATE}/uid-map", uid_map)
    write_json(f"{STATE}/declarative-users", sorted(declared))


def make_home(home: str, uid: int, gid: int, mode: int) -> None:
    if os.path.isdir(home):
        return
    os.makedirs(os.path.dirname(home) or "/", exist_ok=True)
    os.mkdir(home)
    os.chown(home, uid, gid)
    os.chmod(home, mode)


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: update_users_groups.py SPEC.json", file=sys.stderr)
        return 2
    with open(argv[1], encoding="utf-8") as f:
        spec = json.load(f)
    os.makedirs(STATE, mode=0o755, exist_ok=True)
    os.makedirs("/etc", mode=0o755, exist_ok=True)
    passwd = read_table(PASSWD, 7)
    groups = read_table(GROUP, 4)
    shadow = read_table(SHADOW, 9)
    gids, _ = update_groups(spec, groups)
    update_users(spec, passwd, shadow, gids, groups)
    write_table(GROUP, groups, 0o644)
    write_table(PASSWD, passwd, 0o644)
    write_atomic(SHADOW, "".join(":".join(r) + "\n" for r in shadow.values()), 0o640)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
