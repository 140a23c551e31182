"""The `etc` activation snippet: make /etc show the system's etc tree.

    setup_etc.py /nix/store/...-etc/etc

1. /etc/static is pointed at the new tree atomically (a temporary link
   renamed over it), so all statically linked files change at once;
2. links in /etc into /etc/static whose target no longer exists (files
   dropped from the configuration) are removed;
3. each file of the tree gets its place: a link /etc/X -> /etc/static/X, a
   link straight into the store ("direct-symlink"), or a copy with the mode
   and owner of its .mode/.uid/.gid sidecars (listed in /etc/.clean);
4. copies made by the previous generation and not by this one are deleted,
   and /etc/.clean is rewritten;
5. /etc/NIXOS marks the system.

Files users created in /etc are never touched.
"""

from __future__ import annotations

import grp
import os
import pwd
import shutil
import sys

ETC = "/etc"
STATIC = "/etc/static"
CLEAN = "/etc/.clean"
SIDECARS = (".mode", ".uid", ".gid")


def warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr)


def atomic_symlink(target: str, link: str) -> None:
    tmp = f"{link}.tmp"
    if os.path.lexists(tmp):
        os.unlink(tmp)
    os.symlink(target, tmp)
    os.rename(tmp, link)


def is_static(path: str) -> bool:
    """Whether ``path`` is a link into /etc/static, or a directory holding
    only such links (and such directories)."""
    if os.path.islink(path):
        return os.readlink(path).startswith(STATIC + "/")
    if os.path.isdir(path):
        return all(is_static(os.path.join(path, e)) for e in os.listdir(path))
    return False


def remove_dangling(directory: str) -> bool:
    """Remove links into /etc/static whose target is gone (not descending
    into /etc/nixos), and directories this leaves empty; whether anything
    was removed."""
    removed = False
    for entry in os.listdir(directory):
        path = os.path.join(directory, entry)
        if path in (STATIC, os.path.join(ETC, "nixos")):
            continue
        if os.path.islink(path):
            target = os.readlink(path)
            if target.startswith(STATIC + "/") and not os.path.lexists(target):
                os.unlink(path)
                removed = True
        elif os.path.isdir(path) and remove_dangling(path):
            removed = True
            if not os.listdir(path):
                os.rmdir(path)
    return removed


def owner(text: str, lookup: str) -> int:
    """``+N`` is the number N; a name is looked up in the new /etc/passwd
    or /etc/group (written by the users snippet before this one)."""
    text = text.strip()
    if text.startswith("+"):
        return int(text[1:])
    try:
        if lookup == "user":
            return pwd.getpwnam(text).pw_uid
        return grp.getgrnam(text).gr_gid
    except KeyError:
        warn(f"environment.etc: unknown {lookup} '{text}', using root")
        return 0


def read_sidecar(path: str) -> str:
    with open(path, encoding="utf-8") as f:
        return f.read().strip()


def link_tree(tree: str, rel: str, copied: list[str]) -> None:
    """Place every file of ``tree``/``rel`` in /etc."""
    for entry in sorted(os.listdir(os.path.join(tree, rel) if rel else tree)):
        rel_path = f"{rel}/{entry}" if rel else entry
        src = os.path.join(tree, rel_path)
        if any(entry.endswith(x) and os.path.lexists(src[: -len(x)]) for x in SIDECARS):
            continue
        if not os.path.islink(src) and os.path.isdir(src):
            # a directory of the tree itself (parents of targets): descend;
            # a link there (of an earlier generation) becomes a directory
            dst = os.path.join(ETC, rel_path)
            if os.path.islink(dst):
                os.unlink(dst)
            os.makedirs(dst, exist_ok=True)
            link_tree(tree, rel_path, copied)
            continue
        place(tree, rel_path, copied)


def place(tree: str, rel: str, copied: list[str]) -> None:
    src = os.path.join(tree, rel)
    dst = os.path.join(ETC, rel)
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    if os.path.isdir(dst) and not os.path.islink(dst):
        if is_static(dst):
            shutil.rmtree(dst)
        else:
            warn(f"{dst} is a directory holding files of its own; not replacing it")
            return
    mode = read_sidecar(src + ".mode") if os.path.lexists(src + ".mode") else "symlink"
    if mode == "direct-symlink":
        atomic_symlink(os.readlink(src), dst)
    elif mode != "symlink":
        uid = owner(read_sidecar(src + ".uid"), "user")
        gid = owner(read_sidecar(src + ".gid"), "group")
        tmp = dst + ".tmp"
        if os.path.lexists(tmp):
            os.unlink(tmp)
        shutil.copyfile(src, tmp, follow_symlinks=True)
        os.chown(tmp, uid, gid)
        os.chmod(tmp, int(mode, 8))
        os.rename(tmp, dst)
        copied.append(rel)
    else:
        atomic_symlink(os.path.join(STATIC, rel), dst)


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: setup_etc.py /nix/store/...-etc/etc", file=sys.stderr)
        return 2
    tree = argv[1]
    os.makedirs(ETC, mode=0o755, exist_ok=True)
    # 1. the atomic flip of every statically linked file
    if os.path.isdir(STATIC) and not os.path.islink(STATIC):
        shutil.rmtree(STATIC)
    atomic_symlink(tree, STATIC)
    # 2. links of files that were dropped
    remove_dangling(ETC)
    # 3. the files of the new tree
    copied: list[str] = []
    link_tree(STATIC, "", copied)
    # 4. copies of the previous generation that this one does not make
    try:
        with open(CLEAN, encoding="utf-8") as f:
            old = [line.strip() for line in f if line.strip()]
    except FileNotFoundError:
        old = []
    for rel in old:
        if rel not in copied:
            path = os.path.join(ETC, rel)
            # a file that became a link of the new tree is not a leftover
            if os.path.lexists(path) and not os.path.islink(path) and not os.path.isdir(path):
                os.unlink(path)
    tmp = CLEAN + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write("".join(f"{rel}\n" for rel in sorted(copied)))
    os.rename(tmp, CLEAN)
    # 5. the mark of the system
    if not os.path.exists(os.path.join(ETC, "NIXOS")):
        open(os.path.join(ETC, "NIXOS"), "a").close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
