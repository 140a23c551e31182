"""Users and groups as the machine's ``/etc/passwd`` and ``/etc/group`` say
(read directly: the host's NSS modules have no business inside a machine)."""

from __future__ import annotations

from dataclasses import dataclass


class AccountError(Exception):
    pass


@dataclass(frozen=True)
class Credentials:
    name: str
    uid: int
    gid: int
    groups: tuple[int, ...]
    home: str
    shell: str


def _read(path: str) -> list[list[str]]:
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            return [line.rstrip("\n").split(":") for line in fh if line.strip()
                    and not line.startswith("#")]
    except FileNotFoundError:
        return []


def lookup(user: str | None, group: str | None, supplementary: list[str],
           etc: str = "/etc") -> Credentials:
    """The credentials for ``User=``/``Group=``/``SupplementaryGroups=``."""
    passwd = _read(f"{etc}/passwd")
    groups = _read(f"{etc}/group")
    user = user or "root"
    entry = next((p for p in passwd if len(p) >= 7 and (p[0] == user or p[2] == user)), None)
    if entry is None:
        if user in ("root", "0"):
            entry = ["root", "x", "0", "0", "", "/root", "/bin/sh"]
        else:
            raise AccountError(f"user '{user}' does not exist in {etc}/passwd")
    name, uid, gid = entry[0], int(entry[2]), int(entry[3])
    if group:
        g = next((g for g in groups if len(g) >= 3 and (g[0] == group or g[2] == group)), None)
        if g is None:
            if not group.isdigit():
                raise AccountError(f"group '{group}' does not exist in {etc}/group")
            gid = int(group)
        else:
            gid = int(g[2])
    extra = {gid}
    for g in groups:
        if len(g) >= 4 and name in g[3].split(","):
            extra.add(int(g[2]))
    for s in supplementary:
        g = next((g for g in groups if len(g) >= 3 and (g[0] == s or g[2] == s)), None)
        if g is None:
            raise AccountError(f"supplementary group '{s}' does not exist in {etc}/group")
        extra.add(int(g[2]))
    return Credentials(name, uid, gid, tuple(sorted(extra)), entry[5] or "/", entry[6] or "")
