"""Path arithmetic on Nix strings (byte strings held in ``str``)."""

from __future__ import annotations


def canon_path(path: str) -> str:
    """Make an absolute path canonical the way Nix does: no ``.``, ``..`` or ``//``."""
    parts: list[str] = []
    for p in path.split("/"):
        if p == "" or p == ".":
            continue
        if p == "..":
            if parts:
                parts.pop()
            continue
        parts.append(p)
    return "/" + "/".join(parts)
