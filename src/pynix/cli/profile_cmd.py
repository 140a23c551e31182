"""``pynix profile install|remove|list|upgrade|rollback|history|wipe-history``:
a user profile of packages with generations, as ``nix profile`` keeps it.

A generation is a store path (named ``profile``) holding a tree of symbolic
links into the installed packages' outputs -- directories present in several
packages are merged, as ``buildEnv`` does -- and ``manifest.json`` (version 2:
``elements`` with ``active``, ``priority``, ``storePaths`` and, for packages
that can be evaluated again, ``attrPath``, ``originalUrl`` and ``url``).  The
path refers to every package it lists, so the profile keeps them alive.  Each
change adds a generation (:mod:`pynix.profiles`); users put ``PROFILE/bin`` on
their PATH.

The profile is ``--profile PATH``, else ``<state>/profiles/per-user/$USER/profile``
of the store in use; with the default store ``~/.pynix-profile`` is made a link
to it (as ``~/.nix-profile`` is to Nix's).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import pwd
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import IO, Any

from ..compat.contentaddress import ContentAddress
from ..compat.hashing import Hash, HashFormat
from ..compat.nar import NarDirectory, NarNode, NarRegular, NarSymlink, dump_tree
from ..compat.storepath import is_store_path, make_source_path
from ..profiles import Profile, ProfileError, profiles_dir
from ..store.api import PathInfo, Store
from .chrootexec import real_file
from .common import UsageError
from .installables import InstallableFlags
from .nixcmd import usage_error
from .pkgsref import DEFAULT_PRIORITY, PREFIX, PackageResolver, split_drv_name, store_path_name
from .run_cmd import AlreadyReported, build_packages
from .storeopts import CommandError, StoreContext, StoreFlags, guarded, need

HELP = """\
Usage: pynix profile SUBCOMMAND [OPTION...] [ARGS...]

Manage the packages of a user profile.  Every change makes a new generation
that 'rollback' can return from.  Put PROFILE/bin on PATH to use the programs
(with the default store: ~/.pynix-profile/bin).

  pynix profile install pkgs#hello pkgs#jq
  pynix profile list
  pynix profile remove hello          (an index, an attribute path regex or a store path)
  pynix profile upgrade               (evaluate every package again; or name some)
  pynix profile rollback [--to N]
  pynix profile history
  pynix profile wipe-history [--older-than 30d]

Options:
  --profile PATH         the profile (default: <state>/profiles/per-user/$USER/profile
                         of the store in use)
  --priority N           (install) the priority of the new packages: when two
                         packages provide the same file, the lower number wins (default 5)
  --json                 (list) print the manifest as JSON
  --dry-run              (rollback, wipe-history) only show what would be done
  pkgs#ATTR, -f FILE ATTR..., --expr EXPR ATTR..., /nix/store/...
                         (install) the packages, as for 'pynix build'
  --store URL, --option NAME VALUE, -j N, -L, --arg NAME EXPR, ...
                         store, build and evaluation options, as for 'pynix build'
"""

SUBCOMMANDS = ("install", "remove", "list", "upgrade", "rollback", "history", "wipe-history")
MANIFEST = "manifest.json"
MANIFEST_VERSION = 2
# files of packages that are not linked into a profile (as Nix's buildenv skips them)
_SKIPPED_NAMES = {"propagated-build-inputs", "nix-support", "perllocal.pod", "log",
                  "manifest.nix", "manifest.json"}  # fmt: skip


# -- the manifest ---------------------------------------------------------------------


@dataclass
class Element:
    store_paths: list[str]
    active: bool = True
    priority: int = DEFAULT_PRIORITY
    attr_path: str | None = None
    original_url: str | None = None
    url: str | None = None

    @property
    def source(self) -> str:
        """How it was installed: ``pkgs#hello``, ``file:/x.nix#a`` or ``-`` (a store path)."""
        if self.original_url is None or self.attr_path is None:
            return "-"
        return f"{self.original_url}#{self.attr_path}"

    @property
    def locked(self) -> str:
        if self.url is None or self.attr_path is None:
            return "-"
        return f"{self.url}#{self.attr_path}"

    @property
    def name(self) -> str:
        if self.attr_path:
            return self.attr_path
        return split_drv_name(store_path_name(self.store_paths[0]))[0] if self.store_paths \
            else "?"

    def to_json(self) -> dict[str, Any]:
        obj: dict[str, Any] = {"active": self.active, "priority": self.priority,
                               "storePaths": self.store_paths}  # fmt: skip
        if self.original_url is not None and self.attr_path is not None:
            obj["attrPath"] = self.attr_path
            obj["originalUrl"] = self.original_url
            obj["url"] = self.url or self.original_url
        return obj

    @classmethod
    def from_json(cls, obj: Any) -> Element:
        if not isinstance(obj, dict) or not isinstance(obj.get("storePaths"), list):
            raise ValueError("an element without 'storePaths'")
        priority = obj.get("priority", DEFAULT_PRIORITY)
        return cls(
            store_paths=[str(p) for p in obj["storePaths"]],
            active=bool(obj.get("active", True)),
            priority=priority if isinstance(priority, int) else DEFAULT_PRIORITY,
            attr_path=_opt_str(obj.get("attrPath")),
            original_url=_opt_str(obj.get("originalUrl", obj.get("originalUri"))),
            url=_opt_str(obj.get("url", obj.get("uri"))),
        )


def _opt_str(v: Any) -> str | None:
    return v if isinstance(v, str) else None


@dataclass
class Manifest:
    elements: list[Element] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"elements": [e.to_json() for e in self.elements], "version": MANIFEST_VERSION}

    def text(self) -> bytes:
        return json.dumps(self.to_json(), sort_keys=True, separators=(",", ":")).encode()

    def references(self) -> set[str]:
        return {p for e in self.elements for p in e.store_paths}


def read_manifest(store: Store, generation_path: str | None) -> Manifest:
    """The manifest of a generation (an empty one for no generation)."""
    if generation_path is None:
        return Manifest()
    path = store.real_path(generation_path.rstrip("/") + "/" + MANIFEST)
    try:
        with open(path, "rb") as f:
            data = json.loads(f.read())
    except FileNotFoundError:
        raise CommandError(
            f"profile generation '{generation_path}' has no {MANIFEST}: it was not made by "
            "'pynix profile' (or 'nix profile'); use another profile (--profile PATH)"
        ) from None
    except (OSError, ValueError) as e:
        raise CommandError(f"cannot read the manifest of '{generation_path}': {e}") from None
    try:
        version = data.get("version")
        if version not in (1, 2):
            raise ValueError(f"unsupported manifest version {version!r}")
        return Manifest([Element.from_json(e) for e in data.get("elements", [])])
    except (AttributeError, ValueError) as e:
        raise CommandError(f"bad manifest in '{generation_path}': {e}") from None


# -- the tree of links (buildEnv) --------------------------------------------------------


@dataclass
class _Link:
    target: str  # a logical store path
    priority: int
    is_dir: bool


@dataclass
class _Dir:
    entries: dict[str, _Link | _Dir] = field(default_factory=dict)


class Collision(CommandError):
    pass


class _TreeBuilder:
    """Merges packages into one tree of links, as Nix's buildenv does: a directory
    only one package has is linked whole; a second one makes it a real directory
    holding links to the entries of both.  Two packages with the same file is an
    error unless their priorities differ (the lower number wins)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.root = _Dir()

    def add(self, path: str, priority: int) -> None:
        if os.path.isdir(real_file(self.store, path)):
            self._link_into(self.root, path, priority, "")

    def _link_into(self, d: _Dir, src_dir: str, priority: int, rel: str) -> None:
        real_dir = real_file(self.store, src_dir)
        for name in sorted(os.listdir(real_dir)):
            rel_name = f"{rel}/{name}" if rel else name
            if name in _SKIPPED_NAMES or rel_name == "info/dir":
                continue
            src = f"{src_dir}/{name}"
            is_dir = os.path.isdir(self._resolve(src))
            old = d.entries.get(name)
            if old is None:
                d.entries[name] = _Link(src, priority, is_dir)
                continue
            if is_dir and isinstance(old, _Dir):
                self._link_into(old, src, priority, rel_name)
                continue
            if is_dir and isinstance(old, _Link) and old.is_dir:
                merged = _Dir()
                self._link_into(merged, old.target, old.priority, rel_name)
                self._link_into(merged, src, priority, rel_name)
                d.entries[name] = merged
                continue
            self._collide(d, name, old, src, priority, is_dir)

    def _resolve(self, logical: str) -> str:
        return real_file(self.store, logical)

    def _collide(self, d: _Dir, name: str, old: _Link | _Dir, src: str, priority: int,
                 is_dir: bool) -> None:
        if isinstance(old, _Link):
            if self._resolve(old.target) == self._resolve(src):
                return  # the same file
            if old.priority < priority:
                return
            if old.priority > priority:
                d.entries[name] = _Link(src, priority, is_dir)
                return
            raise Collision(
                f"files '{old.target}' and '{src}' have the same priority {priority}; "
                "remove one of the packages ('pynix profile remove') or give one of them "
                "another priority ('pynix profile install --priority NUMBER ...'; the lower "
                "number wins)"
            )
        raise Collision(f"'{src}' collides with a directory that other packages of the "
                        "profile provide at the same place")

    def nar_node(self, d: _Dir | None = None) -> NarDirectory:
        d = self.root if d is None else d
        entries: dict[bytes, NarNode] = {}
        for name, node in d.entries.items():
            key = os.fsencode(name)
            if isinstance(node, _Dir):
                entries[key] = self.nar_node(node)
            else:
                entries[key] = NarSymlink(os.fsencode(node.target))
        return NarDirectory(entries)


def write_profile_path(store: Store, manifest: Manifest) -> str:
    """Add a generation's contents to the store; its path."""
    builder = _TreeBuilder(store)
    active = [e for e in manifest.elements if e.active]
    for e in sorted(active, key=lambda e: e.priority):
        for path in e.store_paths:
            if not store.is_valid_path(path):
                raise CommandError(f"path '{path}' of '{e.name}' is not valid in the store")
            builder.add(path, e.priority)
    root = builder.nar_node()
    root.entries[MANIFEST.encode()] = NarRegular(manifest.text())
    nar = dump_tree(root)
    digest = hashlib.sha256(nar).digest()
    nar_hash = Hash("sha256", digest)
    references = manifest.references()
    path = make_source_path("profile", digest, references)
    info = PathInfo(
        path=path,
        nar_hash=nar_hash.to_prefixed(HashFormat.NIX32),
        nar_size=len(nar),
        references=frozenset(references),
        ca=str(ContentAddress("recursive", nar_hash)),
        ultimate=True,
    )
    store.import_nar(info, io.BytesIO(nar))
    return path


# -- the command ----------------------------------------------------------------------------


class Options:
    def __init__(self) -> None:
        self.store = StoreFlags()
        self.inst = InstallableFlags()
        self.profile: str | None = None
        self.priority: int | None = None
        self.json = False
        self.dry_run = False
        self.to: int | None = None
        self.older_than: str | None = None
        self.args: list[str] = []
        self.help = False


def parse_args(argv: list[str]) -> Options:
    o = Options()
    i = 0
    while i < len(argv):
        a = argv[i]
        j = o.store.take(argv, i)
        if j == i:
            j = o.inst.take(argv, i)
        if j != i:
            i = j
            continue
        if a in ("--help", "-h"):
            o.help = True
        elif a == "--profile" or a == "-p":
            o.profile = need(argv, i)[0]
            i += 1
        elif a == "--priority":
            o.priority = _int(a, need(argv, i)[0])
            i += 1
        elif a == "--to":
            o.to = _int(a, need(argv, i)[0])
            i += 1
        elif a == "--older-than":
            o.older_than = need(argv, i)[0]
            i += 1
        elif a == "--json":
            o.json = True
        elif a == "--dry-run":
            o.dry_run = True
        elif a == "--":
            o.args.extend(argv[i + 1 :])
            break
        elif a.startswith("-") and a != "-":
            raise UsageError(f"unrecognised flag '{a}'")
        else:
            o.args.append(a)
        i += 1
    return o


def _int(flag: str, text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise UsageError(f"flag '{flag}' requires an integer argument, not '{text}'") from None


def _user(env: Mapping[str, str]) -> str:
    name = env.get("USER") or env.get("LOGNAME")
    if name:
        return name
    try:
        return pwd.getpwuid(os.getuid()).pw_name
    except KeyError:
        return str(os.getuid())


class Session:
    """One ``pynix profile`` command on an opened store."""

    def __init__(self, o: Options, ctx: StoreContext, stdin: IO[bytes]) -> None:
        self.o = o
        self.ctx = ctx
        self.stdin = stdin
        uses_default_store = not (o.store.store_url or ctx.env.get("PYNIX_STORE")
                                  or str(ctx.config["store"] or ""))  # fmt: skip
        if o.profile is not None:
            path = ctx.path(o.profile)
            self.user_link: str | None = None
        else:
            try:
                base = profiles_dir(ctx.store)
            except ProfileError as e:
                raise CommandError(str(e)) from None
            path = os.path.join(base, "per-user", _user(ctx.env), "profile")
            home = ctx.env.get("HOME")
            self.user_link = os.path.join(home, ".pynix-profile") if (
                uses_default_store and home) else None
        try:
            self.profile = Profile(path, ctx.store)
        except ProfileError as e:
            raise CommandError(str(e)) from None

    @property
    def store(self) -> Store:
        return self.ctx.store

    def current(self) -> Manifest:
        gen = self.profile.current()
        return read_manifest(self.store, gen.store_path if gen else None)

    def commit(self, manifest: Manifest) -> None:
        """Make ``manifest`` the profile's new generation."""
        path = write_profile_path(self.store, manifest)
        try:
            self.profile.set(path)
        except ProfileError as e:
            raise CommandError(str(e)) from None
        if self.user_link is not None and not os.path.lexists(self.user_link):
            try:
                os.symlink(self.profile.path, self.user_link)
            except OSError as e:
                self.ctx.warn(f"cannot create '{self.user_link}': {e.strerror}")

    def resolver(self, inst: InstallableFlags | None = None) -> PackageResolver:
        return PackageResolver(self.ctx, inst or self.o.inst, self.stdin, self.ctx.scheduler())

    def bin_hint(self) -> None:
        shown = self.user_link or self.profile.path
        bin_dir = os.path.join(shown, "bin")
        path_dirs = self.ctx.env.get("PATH", "").split(":")
        if bin_dir not in path_dirs and os.path.join(self.profile.path, "bin") not in path_dirs:
            self.ctx.info(f"hint: to use the installed programs, add '{bin_dir}' to PATH:\n"
                          f"  export PATH=\"{bin_dir}:$PATH\"")  # fmt: skip

    # -- subcommands ------------------------------------------------------------------------

    def install(self) -> int:
        if not self.o.args and not self.o.inst.evaluating:
            raise UsageError("give the packages to install, such as 'pkgs#hello'")
        manifest = self.current()
        built = build_packages(self.ctx, self.resolver(), self.o.args)
        added = 0
        for package, outputs in built:
            paths = [outputs[k] for k in sorted(outputs, key=lambda k: (k != "out", k))]
            if any(e.store_paths == paths for e in manifest.elements):
                self.ctx.warn(f"'{package.what}' ({' '.join(paths)}) is already installed")
                continue
            manifest.elements.append(Element(
                store_paths=paths,
                priority=self.o.priority if self.o.priority is not None else package.priority,
                attr_path=package.attr_path,
                original_url=package.original_url,
                url=package.url,
            ))  # fmt: skip
            added += 1
        if added:
            self.commit(manifest)
        self.bin_hint()
        return 0

    def _matching(self, manifest: Manifest, patterns: list[str]) -> list[int]:
        """Indices of the elements the arguments name (all for none)."""
        if not patterns:
            return list(range(len(manifest.elements)))
        chosen: set[int] = set()
        for pattern in patterns:
            found = self._match(manifest, pattern)
            if not found:
                self.ctx.warn(f"'{pattern}' does not match any packages")
            chosen.update(found)
        return sorted(chosen)

    def _match(self, manifest: Manifest, pattern: str) -> set[int]:
        elements = manifest.elements
        if pattern.isdigit():
            return {int(pattern)} if int(pattern) < len(elements) else set()
        if pattern.startswith("/") or pattern.startswith("."):
            path = os.path.normpath(os.path.join(self.ctx.cwd, pattern))
            if not is_store_path("/".join(path.split("/")[:4])) and os.path.islink(path):
                path = os.path.realpath(path)
            return {i for i, e in enumerate(elements) if path in e.store_paths}
        attr = pattern[len(PREFIX) :] if pattern.startswith(PREFIX) else pattern
        try:
            regex = re.compile(attr)
        except re.error as e:
            raise CommandError(f"invalid regular expression '{pattern}': {e}") from None
        return {i for i, e in enumerate(elements)
                if (e.attr_path is not None and regex.fullmatch(e.attr_path))
                or (e.attr_path is None and regex.fullmatch(e.name))}  # fmt: skip

    def remove(self) -> int:
        if not self.o.args:
            raise UsageError("give the packages to remove (an index, a regex matching "
                             "attribute paths, or a store path); see 'pynix profile list'")
        manifest = self.current()
        doomed = set(self._matching(manifest, self.o.args))
        if not doomed:
            return 0
        for i in sorted(doomed):
            self.ctx.info(f"removing '{manifest.elements[i].source}'"
                          if manifest.elements[i].source != "-" else
                          f"removing '{' '.join(manifest.elements[i].store_paths)}'")
        manifest.elements = [e for i, e in enumerate(manifest.elements) if i not in doomed]
        self.commit(manifest)
        return 0

    def list_elements(self) -> int:
        manifest = self.current()
        out = self.ctx.stdout
        if self.o.json:
            out.write(json.dumps(manifest.to_json(), sort_keys=True).encode() + b"\n")
            return 0
        for i, e in enumerate(manifest.elements):
            line = f"{i} {e.source} {e.locked} {' '.join(e.store_paths)}"
            out.write(line.encode("utf-8", "surrogateescape") + b"\n")
        return 0

    def upgrade(self) -> int:
        manifest = self.current()
        chosen = self._matching(manifest, self.o.args)
        changed = False
        for i in chosen:
            e = manifest.elements[i]
            if e.attr_path is None or e.original_url is None:
                if self.o.args:
                    self.ctx.warn(f"'{' '.join(e.store_paths)}' was installed as a store "
                                  "path and cannot be upgraded")  # fmt: skip
                continue
            new_paths = self._evaluate_again(e)
            if new_paths is not None and new_paths != e.store_paths:
                olds = ", ".join(store_path_name(p) for p in e.store_paths)
                news = ", ".join(store_path_name(p) for p in new_paths)
                self.ctx.info(f"upgrading '{e.source}' from '{olds}' to '{news}'")
                e.store_paths = new_paths
                changed = True
        if changed:
            self.commit(manifest)
        return 0

    def _evaluate_again(self, e: Element) -> list[str] | None:
        assert e.attr_path is not None and e.original_url is not None
        if e.original_url.startswith("file:"):
            inst = InstallableFlags()
            inst.eval = self.o.inst.eval
            inst.file = e.original_url[len("file:") :]
            if not os.path.exists(inst.file):
                self.ctx.warn(f"cannot upgrade '{e.source}': '{inst.file}' does not exist")
                return None
            args = [e.attr_path]
        elif e.original_url == "pkgs":
            inst = InstallableFlags()
            inst.eval = self.o.inst.eval
            args = [PREFIX + e.attr_path]
        else:
            self.ctx.warn(f"cannot upgrade '{e.source}': unknown source '{e.original_url}'")
            return None
        built = build_packages(self.ctx, self.resolver(inst), args)
        if len(built) != 1:
            self.ctx.warn(f"cannot upgrade '{e.source}': it now stands for {len(built)} "
                          "packages")  # fmt: skip
            return None
        outputs = built[0][1]
        return [outputs[k] for k in sorted(outputs, key=lambda k: (k != "out", k))]

    def rollback(self) -> int:
        current = self.profile.current_number()
        if current is None:
            raise CommandError(f"profile '{self.profile.path}' has no generations")
        if self.o.to is not None:
            target = self.o.to
            if not os.path.islink(self.profile.link_path(target)):
                raise CommandError(f"profile version {target} does not exist")
        else:
            older = [g.number for g in self.profile.generations() if g.number < current]
            if not older:
                raise CommandError(f"no profile version older than the current ({current}) "
                                   "exists")  # fmt: skip
            target = max(older)
        if self.o.dry_run:
            self.ctx.info(f"would switch profile from version {current} to {target}")
            return 0
        try:
            self.profile.switch_generation(target)
        except ProfileError as e:
            raise CommandError(str(e)) from None
        self.ctx.info(f"switching profile from version {current} to {target}")
        return 0

    def history(self) -> int:
        out = self.ctx.stdout
        previous: Manifest | None = None
        prev_number: int | None = None
        blocks = []
        for g in self.profile.generations():
            try:
                manifest = read_manifest(self.store, g.store_path)
            except CommandError:
                manifest = Manifest()
            day = time.strftime("%Y-%m-%d", time.localtime(g.time))
            head = f"Version {g.number} ({day})"
            if prev_number is not None:
                head += f" <- {prev_number}"
            if g.current:
                head += " (current)"
            lines = [head + ":"]
            lines += diff_lines(previous or Manifest(), manifest) or ["  No changes."]
            blocks.append("\n".join(lines) + "\n")
            previous, prev_number = manifest, g.number
        out.write("\n".join(blocks).encode("utf-8", "surrogateescape"))
        return 0

    def wipe_history(self) -> int:
        spec = [self.o.older_than] if self.o.older_than else ["old"]
        try:
            doomed = self.profile.delete_generations(spec, dry_run=self.o.dry_run)
        except ProfileError as e:
            raise CommandError(str(e)) from None
        for n in doomed:
            verb = "would remove" if self.o.dry_run else "removing"
            self.ctx.info(f"{verb} profile version {n}")
        return 0


def _versions(manifest: Manifest) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for e in manifest.elements:
        for p in e.store_paths:
            name, version = split_drv_name(store_path_name(p))
            out.setdefault(name, set()).add(version)
    return out


def diff_lines(old: Manifest, new: Manifest) -> list[str]:
    """``  hello: 2.10 -> 2.11`` for every package whose versions changed."""
    a, b = _versions(old), _versions(new)

    def show(vs: set[str]) -> str:
        return ", ".join(v or "ε" for v in sorted(vs)) if vs else "∅"

    return [f"  {name}: {show(a.get(name, set()))} -> {show(b.get(name, set()))}"
            for name in sorted(set(a) | set(b)) if a.get(name) != b.get(name)]  # fmt: skip


def main_impl(argv: list[str], stdin: IO[bytes], stdout: IO[bytes], stderr: IO[bytes],
              env: Mapping[str, str] | None, cwd: str | None) -> int:
    # flags given before the subcommand (`pynix profile --profile p list`) count too
    sub_index = next((i for i, a in enumerate(argv) if a in SUBCOMMANDS), None)
    if sub_index is None:
        if any(a in ("--help", "-h") for a in argv) or not argv:
            if not argv:
                return usage_error(stderr, "pynix profile",
                                   f"give a subcommand: {', '.join(SUBCOMMANDS)}")
            stdout.write(HELP.encode())
            return 0
        first = next((a for a in argv if not a.startswith("-")), argv[0])
        return usage_error(stderr, "pynix profile", f"'{first}' is not a subcommand of "
                           f"'pynix profile' (use one of: {', '.join(SUBCOMMANDS)})")
    sub = argv[sub_index]
    try:
        o = parse_args(argv[:sub_index] + argv[sub_index + 1 :])
        o.inst.check()
    except UsageError as e:
        return usage_error(stderr, f"pynix profile {sub}", str(e))
    if o.help:
        stdout.write(HELP.encode())
        return 0
    if sub not in ("install", "upgrade") and (o.inst.evaluating):
        return usage_error(stderr, f"pynix profile {sub}", "'--file' and '--expr' are only "
                           "for 'install'")  # fmt: skip
    if sub in ("list", "rollback", "history", "wipe-history") and o.args:
        return usage_error(stderr, f"pynix profile {sub}", f"unexpected argument '{o.args[0]}'")

    def body() -> int:
        with o.store.open(env, cwd, stdout, stderr) as ctx:
            session = Session(o, ctx, stdin)
            action: Callable[[], int] = {
                "install": session.install, "remove": session.remove, "list": session.list_elements,
                "upgrade": session.upgrade, "rollback": session.rollback,
                "history": session.history, "wipe-history": session.wipe_history,
            }[sub]  # fmt: skip
            try:
                return action()
            except AlreadyReported:
                return 1
            except UsageError as e:
                return usage_error(stderr, f"pynix profile {sub}", str(e))

    return guarded(body, stderr, stdout, o.inst.eval.show_trace)
