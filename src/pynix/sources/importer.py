"""``builtin:import-deb`` and ``builtin:unpack-wheel``: Debian packages and
Python wheels made into store paths.

``builtin:import-deb`` unpacks one ``.deb`` into one store path with the
"usr-merge" flattened (``usr/bin`` and ``bin`` become ``$out/bin``, ``usr/lib``
and ``lib`` become ``$out/lib``, ...), then makes it work from the store:

* every ELF program gets the store's dynamic loader as interpreter, and every
  ELF file an RPATH made of exactly the library directories -- of this
  package and of its already imported dependencies (``deps``) -- that provide
  its ``DT_NEEDED`` sonames, so that the runtime closure holds only what is
  loaded; ``patchelf`` (a static binary from the store) does the patching;
* symbolic links to absolute paths (``/usr/lib/...``, ``/etc/alternatives/...``)
  and relative links broken by the flattening point into ``$out`` (relative
  links) or into the dependency that has the target;
* setuid/setgid bits are dropped and documentation is left out unless
  ``keepDocs`` is set;
* ``update-alternatives --install`` calls of the ``postinst`` script are
  recreated as relative links (gawk's ``bin/awk -> gawk``).

``builtin:unpack-wheel`` unzips a wheel with the file modes it records.
"""

from __future__ import annotations

import os
import posixpath
import shlex
import stat
import subprocess
import zipfile
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Final

from ..build.builtins import BuiltinContext, BuiltinError
from .deb import DebError, DebPackage, extract_data, open_deb
from .elf import EM_X86_64, ET_DYN, ET_EXEC, ElfError, ElfInfo, is_elf, read_elf

# (prefix in the package, prefix in the output), most specific first
_LAYOUT: Final = (
    ("usr/bin", "bin"),
    ("usr/sbin", "sbin"),
    ("usr/lib64", "lib64"),
    ("usr/lib", "lib"),
    ("usr/libexec", "libexec"),
    ("usr/share", "share"),
    ("usr/include", "include"),
    ("bin", "bin"),
    ("sbin", "sbin"),
    ("lib64", "lib64"),
    ("lib", "lib"),
    ("etc", "etc"),
)
DOC_DIRS: Final = ("share/doc", "share/man", "share/info", "share/lintian", "share/bug")
MULTIARCH: Final = "x86_64-linux-gnu"
_LINK_BUDGET: Final = 40


class ImportError_(BuiltinError):
    """Importing a package failed; the message names the package."""


def flatten(path: str) -> str:
    """Where the package path ``path`` (relative, normalised) goes in the output."""
    for prefix, new in _LAYOUT:
        if path == prefix:
            return new
        if path.startswith(prefix + "/"):
            return new + path[len(prefix):]
    if path == "usr":
        return ""
    return path


def is_doc(path: str) -> bool:
    return any(path == d or path.startswith(d + "/") for d in DOC_DIRS)


def _norm(path: str) -> str:
    """A relative, normalised path; ``..`` above the root stays at the root."""
    parts: list[str] = []
    for part in path.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if parts:
                parts.pop()
            continue
        parts.append(part)
    return "/".join(parts)


# -- update-alternatives ------------------------------------------------------------


@dataclass
class Alternative:
    link: str  # absolute path of the link, as in the package
    name: str
    path: str  # absolute path of the target, as in the package
    priority: int
    slaves: list[tuple[str, str, str]] = field(default_factory=list)  # (link, name, path)


def parse_alternatives(script: str) -> tuple[list[Alternative], list[str]]:
    """The ``update-alternatives --install`` calls of a maintainer script, and
    the calls not (fully) understood: those using shell expansions count up to
    the first expansion."""
    found: list[Alternative] = []
    skipped: list[str] = []
    logical = script.replace("\\\n", " ")
    for line in logical.splitlines():
        if "update-alternatives" not in line or "--install" not in line:
            continue
        try:
            words = shlex.split(line, comments=True)
        except ValueError:
            skipped.append(line.strip())
            continue
        starts = [i for i, w in enumerate(words) if posixpath.basename(w) == "update-alternatives"]
        if not starts:
            skipped.append(line.strip())
            continue
        start = starts[0]
        args: list[str] = []
        for word in words[start + 1:]:
            if word in (";", "&&", "||", "|") or word.endswith(";"):
                if word.endswith(";") and len(word) > 1:
                    args.append(word[:-1])
                break
            args.append(word)
        dynamic = [i for i, a in enumerate(args) if "$" in a or "`" in a]
        if dynamic:
            # what comes before the first shell expansion is still understood
            skipped.append(line.strip())
            args = args[: dynamic[0]]
        current: Alternative | None = None
        i = 0
        while i < len(args):
            arg = args[i]
            if arg == "--install" and len(args) >= i + 5:
                link, name, path, prio = args[i + 1:i + 5]
                try:
                    priority = int(prio)
                except ValueError:
                    skipped.append(line.strip())
                    break
                current = Alternative(link, name, path, priority)
                found.append(current)
                i += 5
            elif arg == "--slave" and current is not None and len(args) >= i + 4:
                link, name, path = args[i + 1:i + 4]
                current.slaves.append((link, name, path))
                i += 4
            else:
                i += 1
    return found, skipped


# -- the import ---------------------------------------------------------------------


@dataclass
class LibIndex:
    """Which library directory provides each soname (first one wins)."""

    providers: dict[str, str] = field(default_factory=dict)  # soname -> directory
    dirs: dict[str, list[str]] = field(default_factory=dict)  # root -> its lib dirs

    def add_root(self, logical: str, real: str) -> None:
        dirs: list[str] = []
        for rel in _lib_dirs(real):
            dirs.append(f"{logical}/{rel}")
            directory = os.path.join(real, rel)
            try:
                names = sorted(os.listdir(directory))
            except OSError:
                continue
            for entry in names:
                if _is_library_name(entry) and os.path.lexists(os.path.join(directory, entry)):
                    self.providers.setdefault(entry, f"{logical}/{rel}")
        self.dirs[logical] = dirs


def _is_library_name(name: str) -> bool:
    return name.endswith(".so") or ".so." in name


def _lib_dirs(root: str) -> list[str]:
    """The directories under ``lib``/``lib64`` of ``root`` holding shared
    libraries, multiarch first (relative paths)."""
    first = [f"lib/{MULTIARCH}", "lib", "lib64"]
    found: list[str] = []
    others: list[str] = []
    for top in ("lib", "lib64"):
        base = os.path.join(root, top)
        if not os.path.isdir(base) or os.path.islink(base):
            continue
        for dirpath, dirnames, filenames in os.walk(base):
            dirnames.sort()
            rel = os.path.relpath(dirpath, root)
            names = filenames + [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]
            if any(_is_library_name(n) for n in names):
                (found if rel in first else others).append(rel)
    found.sort(key=first.index)
    return found + sorted(others)


class DebImport:
    """One run of ``builtin:import-deb``."""

    def __init__(
        self,
        deb: DebPackage,
        out: str,
        out_logical: str,
        deps: list[tuple[str, str]],  # (store path, real path)
        extra: list[tuple[str, str]],
        patchelf: str | None,
        interpreter: str,
        keep_docs: bool,
        log: Callable[[str], None],
    ) -> None:
        self.deb = deb
        self.out = out
        self.out_logical = out_logical
        self.deps = deps
        self.extra = extra
        self.patchelf = patchelf
        self.interpreter = interpreter
        self.keep_docs = keep_docs
        self.log = log
        self.origin: dict[str, str] = {}  # output path -> path in the package
        self.alternatives: dict[str, str] = {}  # name -> target (package path)
        self.links_rewritten = 0
        self.links_left: list[str] = []
        self.patched = 0

    # -- layout ------------------------------------------------------------------

    def rename(self, path: str) -> str | None:
        new = flatten(path)
        if not new:
            return None
        if not self.keep_docs and is_doc(new):
            return None
        return new

    def run(self) -> None:
        os.makedirs(self.out, exist_ok=True)
        extracted = extract_data(self.deb, self.out, self.rename, self.log)
        self.origin = dict(extracted.origin)
        for path in extracted.dropped_setid:
            self.log(f"dropped the setuid/setgid bits of '{path}'\n")
        self._alternatives()
        for dest, _orig, _target in extracted.symlinks:
            self._fix_link(dest)
        self._patch_elves()
        removed = _prune_empty_dirs(self.out)
        self.log(
            f"imported {self.deb.package} {self.deb.control.get('Version', '?')}: "
            f"{extracted.files} files, {len(extracted.symlinks)} symbolic links "
            f"({self.links_rewritten} rewritten, {len(self.links_left)} left), "
            f"{self.patched} ELF files patched, {removed} empty directories removed\n"
        )

    # -- symbolic links ----------------------------------------------------------

    def _link_target(self, dest: str) -> tuple[str, bool]:
        """Where the link at output path ``dest`` points, as an output path, and
        whether its text is absolute."""
        text = os.readlink(os.path.join(self.out, dest))
        if text.startswith("/"):
            target = _norm(text)
        else:
            here = posixpath.dirname(self.origin.get(dest, dest))
            target = _norm(posixpath.join(here, text))
        if target.startswith("etc/alternatives/"):
            alt = self.alternatives.get(target[len("etc/alternatives/"):])
            if alt is not None:
                target = _norm(alt)
        return flatten(target), text.startswith("/")

    def _exists(self, path: str) -> bool:
        """Whether ``path`` exists in the output, following links inside it."""
        parts = [p for p in path.split("/") if p]
        budget = _LINK_BUDGET
        done: list[str] = []
        i = 0
        while i < len(parts):
            candidate = "/".join([*done, parts[i]])
            full = os.path.join(self.out, candidate)
            try:
                st = os.lstat(full)
            except OSError:
                return False
            if stat.S_ISLNK(st.st_mode) and i < len(parts) - 1:
                budget -= 1
                if budget < 0:
                    return False
                target, _ = self._link_target(candidate)
                parts = [p for p in target.split("/") if p] + parts[i + 1:]
                done = []
                i = 0
                continue
            done.append(parts[i])
            i += 1
        return True

    def _fix_link(self, dest: str) -> None:
        full = os.path.join(self.out, dest)
        if not os.path.islink(full):
            return
        old = os.readlink(full)
        target, absolute = self._link_target(dest)
        new: str | None = None
        if target and self._exists(target):
            if target == dest:
                os.unlink(full)
                self.log(f"removed '{dest}': after flattening it points to itself\n")
                return
            new = posixpath.relpath(target, posixpath.dirname(dest) or ".")
        else:
            for logical, real in self.deps:
                if target and os.path.lexists(os.path.join(real, target)):
                    new = f"{logical}/{target}"
                    break
        if new is None:
            if absolute:
                self.links_left.append(dest)
                self.log(f"warning: left symbolic link '{dest}' -> '{old}': its target is "
                         "neither in this package nor in its dependencies\n")  # fmt: skip
            return
        self.origin[dest] = dest
        if new != old:
            os.unlink(full)
            os.symlink(new, full)
            self.links_rewritten += 1
            self.log(f"rewrote symbolic link '{dest}': '{old}' -> '{new}'\n")

    # -- alternatives ------------------------------------------------------------

    def _alternatives(self) -> None:
        script = self.deb.scripts.get("postinst")
        if not script:
            return
        found, skipped = parse_alternatives(script)
        for line in skipped:
            self.log(f"warning: not fully understood in postinst: {line}\n")
        best: dict[str, Alternative] = {}
        for alt in found:
            if alt.name not in best or alt.priority > best[alt.name].priority:
                best[alt.name] = alt
        for alt in best.values():
            links = [(alt.link, alt.name, alt.path), *alt.slaves]
            for link, name, path in links:
                self.alternatives[name] = path
                self._make_alternative(link, name, path)

    def _make_alternative(self, link: str, name: str, path: str) -> None:
        link_out = self.rename(_norm(link))
        target = flatten(_norm(path))
        if link_out is None or not target:
            return
        full = os.path.join(self.out, link_out)
        if os.path.lexists(full) or _through_link(self.out, link_out):
            return
        if not self._exists(target):
            self.log(f"alternative '{name}': '{path}' is not in this package; no "
                     f"'{link_out}'\n")  # fmt: skip
            return
        os.makedirs(os.path.dirname(full), exist_ok=True)
        rel = posixpath.relpath(target, posixpath.dirname(link_out) or ".")
        os.symlink(rel, full)
        self.origin[link_out] = link_out
        self.log(f"alternative '{name}': '{link_out}' -> '{rel}'\n")

    # -- ELF files -----------------------------------------------------------------

    def _loader(self) -> str:
        if self.interpreter:
            return self.interpreter
        for rel in (f"lib/{MULTIARCH}/ld-linux-x86-64.so.2", "lib64/ld-linux-x86-64.so.2"):
            full = os.path.join(self.out, rel)
            if os.path.isfile(full) and not os.path.islink(full):
                return f"{self.out_logical}/{rel}"
        return ""

    def _patch_elves(self) -> None:
        index = LibIndex()
        index.add_root(self.out_logical, self.out)
        for logical, real in self.deps:
            index.add_root(logical, real)
        extra_dirs: list[str] = []
        for logical, real in self.extra:
            index.add_root(logical, real)
            extra_dirs.extend(index.dirs[logical])
        loader = self._loader()
        loader_soname = posixpath.basename(loader) if loader else "ld-linux-x86-64.so.2"
        seen: set[tuple[int, int]] = set()
        for rel in _walk_files(self.out):
            full = os.path.join(self.out, rel)
            st = os.lstat(full)
            if (st.st_dev, st.st_ino) in seen or not is_elf(full):
                continue
            seen.add((st.st_dev, st.st_ino))
            try:
                info = read_elf(full)
            except ElfError as e:
                self.log(f"warning: not patched: {_relative_error(e, self.out)}\n")
                continue
            if info.machine != EM_X86_64 or info.type not in (ET_EXEC, ET_DYN):
                continue
            self._patch(rel, info, index, extra_dirs, loader, loader_soname)

    def _patch(self, rel: str, info: ElfInfo, index: LibIndex, extra_dirs: list[str],
               loader: str, loader_soname: str) -> None:  # fmt: skip
        args: list[str] = []
        changes: list[str] = []
        if info.interpreter is not None and info.is_executable:
            if not loader:
                self.log(f"warning: '{rel}': no dynamic loader to set (interpreter is empty "
                         "and the package has none)\n")  # fmt: skip
            elif info.interpreter != loader:
                args += ["--set-interpreter", loader]
                changes.append(f"interpreter {loader}")
        if info.has_dynamic:
            wanted: list[str] = [p for p in info.search_path if "$ORIGIN" in p]
            for soname in info.needed:
                if soname == loader_soname or "/" in soname:
                    continue
                directory = index.providers.get(soname)
                if directory is None:
                    self.log(f"warning: '{rel}' needs '{soname}', which neither this package "
                             "nor its dependencies provide\n")  # fmt: skip
                    continue
                wanted.append(directory)
            wanted.extend(extra_dirs)
            rpath = ":".join(dict.fromkeys(wanted))
            current = info.runpath if info.runpath is not None else info.rpath
            if rpath != (current or ""):
                if rpath:
                    if info.runpath is None:
                        args.append("--force-rpath")
                    args += ["--set-rpath", rpath]
                    changes.append(f"RPATH {rpath}")
                else:
                    args.append("--remove-rpath")
                    changes.append("RPATH removed")
        if not args:
            return
        if self.patchelf is None:
            raise ImportError_(f"'{rel}' needs patching, but no 'patchelf' was given")
        full = os.path.join(self.out, rel)
        mode = os.lstat(full).st_mode
        os.chmod(full, stat.S_IMODE(mode) | stat.S_IWUSR | stat.S_IRUSR)
        proc = subprocess.run([self.patchelf, *args, full], capture_output=True, check=False)
        if proc.returncode != 0:
            message = proc.stderr.decode("utf-8", "replace").strip()
            raise ImportError_(f"patchelf failed on '{rel}' of {self.deb.name}: {message}")
        self._check_patched(rel, full, args)
        self.patched += 1
        self.log(f"patched '{rel}': {', '.join(changes)}\n")

    def _check_patched(self, rel: str, full: str, args: list[str]) -> None:
        try:
            after = read_elf(full)
        except ElfError as e:
            raise ImportError_(f"'{rel}' is damaged after patchelf: {e}") from None
        if "--set-interpreter" in args:
            want = args[args.index("--set-interpreter") + 1]
            if after.interpreter != want:
                raise ImportError_(f"patchelf did not set the interpreter of '{rel}'")
        if "--set-rpath" in args:
            want = args[args.index("--set-rpath") + 1]
            if ":".join(after.search_path) != want:
                raise ImportError_(f"patchelf did not set the RPATH of '{rel}'")


def _through_link(root: str, rel: str) -> bool:
    """Whether a parent directory of ``rel`` under ``root`` is a symbolic link."""
    path = root
    for part in rel.split("/")[:-1]:
        path = os.path.join(path, part)
        if os.path.islink(path):
            return True
    return False


def _relative_error(e: Exception, root: str) -> str:
    return str(e).replace(root + "/", "")


def _walk_files(root: str) -> Iterable[str]:
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(filenames):
            full = os.path.join(dirpath, name)
            if os.path.isfile(full) and not os.path.islink(full):
                yield os.path.relpath(full, root)


def _prune_empty_dirs(root: str) -> int:
    removed = 0
    for dirpath, _dirnames, _filenames in os.walk(root, topdown=False):
        if dirpath != root and not os.listdir(dirpath):
            os.rmdir(dirpath)
            removed += 1
    return removed


def _paths(value: str) -> list[str]:
    return [p for p in value.split() if p]


def build_import_deb(ctx: BuiltinContext) -> None:
    """The ``builtin:import-deb`` builder."""
    out = ctx.outputs.get("out")
    if out is None:
        raise ImportError_("builtin:import-deb requires an output 'out'")
    out_logical = ctx.drv.outputs["out"].path
    deb_path = ctx.attr("deb")
    patchelf = ctx.attr("patchelf", "")
    deps = [(p, ctx.real_path(p)) for p in _paths(ctx.attr("deps", ""))]
    extra = [(p, ctx.real_path(p)) for p in _paths(ctx.attr("extraLibDeps", ""))]
    for logical, real in [*deps, *extra]:
        if not os.path.isdir(real):
            raise ImportError_(f"dependency '{logical}' is not a directory")
    keep_docs = ctx.attr("keepDocs", "") not in ("", "0")
    patchelf_real = ctx.real_path(patchelf) if patchelf else None
    if patchelf_real is not None and not (
        os.path.isfile(patchelf_real) and os.access(patchelf_real, os.X_OK)
    ):
        raise ImportError_(f"patchelf '{patchelf}' is not an executable file")
    try:
        deb = open_deb(ctx.real_path(deb_path), deb_path)
        DebImport(deb, out, out_logical, deps, extra, patchelf_real,
                  ctx.attr("interpreter", ""), keep_docs, ctx.log).run()  # fmt: skip
    except DebError as e:
        raise ImportError_(str(e)) from None
    except (ValueError, UnicodeError) as e:
        raise ImportError_(f"cannot import '{deb_path}': {e}") from None


# -- wheels --------------------------------------------------------------------------


def unpack_wheel(wheel: str, out: str, name: str | None = None) -> int:
    """Unzip the wheel ``wheel`` into the new directory ``out``; the number of
    files.  Executable bits come from the zip's external attributes."""
    label = name or wheel
    count = 0
    try:
        with zipfile.ZipFile(wheel) as zf:
            os.makedirs(out, exist_ok=True)
            for info in zf.infolist():
                if info.filename.startswith("/") or "\\" in info.filename:
                    raise ImportError_(f"'{label}': unsafe path '{info.filename}' in the wheel")
                parts = [p for p in info.filename.split("/") if p not in ("", ".")]
                if ".." in parts:
                    raise ImportError_(f"'{label}': unsafe path '{info.filename}' (contains "
                                       "'..') in the wheel")  # fmt: skip
                if not parts:
                    continue
                rel = "/".join(parts)
                full = os.path.join(out, rel)
                _no_links_above(out, parts, label, info.filename)
                mode = info.external_attr >> 16
                if info.is_dir():
                    os.makedirs(full, mode=0o755, exist_ok=True)
                    continue
                if stat.S_ISLNK(mode):
                    raise ImportError_(f"'{label}': symbolic link '{info.filename}' in the "
                                       "wheel is not supported")  # fmt: skip
                os.makedirs(os.path.dirname(full), mode=0o755, exist_ok=True)
                if os.path.lexists(full):
                    raise ImportError_(f"'{label}': '{info.filename}' occurs twice in the wheel")
                with zf.open(info) as src, open(full, "xb") as dst:
                    while chunk := src.read(1 << 20):
                        dst.write(chunk)
                os.chmod(full, 0o755 if mode & 0o111 else 0o644)
                count += 1
    except ImportError_:
        raise
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, ValueError) as e:
        raise ImportError_(f"'{label}' is not a valid wheel (zip) file: {e}") from None
    except OSError as e:
        raise ImportError_(f"cannot unpack '{label}': {e.strerror or e}") from None
    return count


def _no_links_above(out: str, parts: list[str], label: str, member: str) -> None:
    path = out
    for part in parts[:-1]:
        path = os.path.join(path, part)
        if os.path.islink(path):
            raise ImportError_(f"'{label}': unsafe member '{member}' (through a link)")


def build_unpack_wheel(ctx: BuiltinContext) -> None:
    """The ``builtin:unpack-wheel`` builder."""
    out = ctx.outputs.get("out")
    if out is None:
        raise ImportError_("builtin:unpack-wheel requires an output 'out'")
    wheel = ctx.attr("wheel")
    count = unpack_wheel(ctx.real_path(wheel), out, wheel)
    ctx.log(f"unpacked {count} files of '{wheel}'\n")
