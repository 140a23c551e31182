"""Reading Debian binary packages (``.deb``) in pure Python.

A ``.deb`` is an ``ar`` archive of three members: ``debian-binary`` (the
format version, ``2.0``), ``control.tar[.gz|.xz|.zst]`` (the ``control``
file and the maintainer scripts) and ``data.tar[.gz|.xz|.bz2|.zst]`` (the
files).  :func:`open_deb` validates the container and reads the control
part; :func:`extract_data` unpacks the files safely: no absolute names, no
``..``, nothing written through a symbolic link, no device files, no
setuid/setgid bits; hard links are made as links.  Python's standard library
has no zstd decompressor, so zstd members give a clear error.

Every problem is a :class:`DebError` whose message names the file.
"""

from __future__ import annotations

import io
import lzma
import os
import stat
import tarfile
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import BinaryIO, Final

AR_MAGIC: Final = b"!<arch>\n"
_AR_HEADER_SIZE: Final = 60

MAINTAINER_SCRIPTS: Final = ("preinst", "postinst", "prerm", "postrm", "config", "triggers")

# member suffix -> tarfile stream mode ("zst": unsupported, reported)
_COMPRESSIONS: Final = {"": "r|", ".gz": "r|gz", ".xz": "r|xz", ".bz2": "r|bz2", ".zst": ""}
_CONTROL_COMPRESSIONS: Final = ("", ".gz", ".xz", ".zst")

_DECOMPRESS_ERRORS: Final = (tarfile.TarError, lzma.LZMAError, zlib.error, EOFError, OSError,
                             ValueError)  # fmt: skip

class DebError(Exception):
    """A ``.deb`` is damaged or not supported; the message names the file."""


@dataclass(frozen=True)
class ArMember:
    name: str
    offset: int  # of the data, in the archive file
    size: int
    mode: int


def read_ar(path: str, display: str | None = None) -> list[ArMember]:
    """The members of the ``ar`` archive ``path``, headers validated."""
    name = display or path
    try:
        with open(path, "rb") as fh:
            total = os.fstat(fh.fileno()).st_size
            if fh.read(len(AR_MAGIC)) != AR_MAGIC:
                raise DebError(f"'{name}' is not a Debian package: no 'ar' archive magic")
            members: list[ArMember] = []
            pos = len(AR_MAGIC)
            while pos < total:
                if pos % 2:
                    pos += 1  # members are 2-byte aligned
                    if pos >= total:
                        break
                fh.seek(pos)
                header = fh.read(_AR_HEADER_SIZE)
                if len(header) < _AR_HEADER_SIZE:
                    raise DebError(f"'{name}': truncated 'ar' member header at offset {pos}")
                if header[58:60] != b"`\n":
                    raise DebError(f"'{name}': corrupt 'ar' member header at offset {pos}")
                member_name = header[0:16].decode("ascii", "replace").rstrip(" ")
                if member_name.endswith("/") and member_name != "/":
                    member_name = member_name[:-1]
                try:
                    size = int(header[48:58].decode("ascii").strip())
                    mode_text = header[40:48].decode("ascii").strip()
                    mode = int(mode_text, 8) if mode_text else 0o644
                except ValueError:
                    raise DebError(
                        f"'{name}': corrupt 'ar' member header at offset {pos} "
                        "(size or mode is not a number)"
                    ) from None
                data_offset = pos + _AR_HEADER_SIZE
                if size < 0 or data_offset + size > total:
                    raise DebError(
                        f"'{name}': truncated: member '{member_name}' needs {size} bytes at "
                        f"offset {data_offset}, the file has {total}"
                    )
                members.append(ArMember(member_name, data_offset, size, mode))
                pos = data_offset + size
            return members
    except OSError as e:
        raise DebError(f"cannot read '{name}': {e.strerror or e}") from None


class _Section(io.RawIOBase):
    """A read-only view of ``size`` bytes at ``offset`` of an open file."""

    def __init__(self, fh: BinaryIO, offset: int, size: int) -> None:
        self._fh = fh
        self._offset = offset
        self._size = size
        self._pos = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        want = min(len(buffer), self._size - self._pos)
        if want <= 0:
            return 0
        self._fh.seek(self._offset + self._pos)
        data = self._fh.read(want)
        n = len(data)
        buffer[:n] = data
        self._pos += n
        return n


@dataclass
class DebPackage:
    path: str  # where the file is
    name: str  # how to call it in messages (e.g. its store path)
    version: str  # of the format: "2.0"
    control: dict[str, str]
    scripts: dict[str, str]
    control_member: ArMember
    data_member: ArMember
    conffiles: list[str] = field(default_factory=list)

    @property
    def package(self) -> str:
        return self.control.get("Package", "")


def parse_control(text: str) -> dict[str, str]:
    """The fields of a ``control`` paragraph; continuation lines are kept
    (joined with newlines, leading space removed)."""
    fields: dict[str, str] = {}
    current: str | None = None
    for line in text.splitlines():
        if not line.strip():
            if fields:
                break  # end of the first paragraph
            continue
        if line[0] in " \t":
            if current is not None:
                fields[current] += "\n" + line[1:]
            continue
        key, sep, value = line.partition(":")
        if not sep:
            raise ValueError(f"malformed control line: {line!r}")
        current = key.strip()
        fields[current] = value.strip()
    return fields


def _member(members: list[ArMember], base: str, suffixes: tuple[str, ...], name: str) -> ArMember:
    for m in members:
        if m.name.startswith(base) and m.name[len(base):] in suffixes:
            return m
    raise DebError(f"'{name}' is not a valid Debian package: no {base}* member")


def _stream_mode(member: ArMember, name: str) -> str:
    suffix = member.name[member.name.index(".tar") + 4:]
    mode = _COMPRESSIONS.get(suffix)
    if mode is None:
        raise DebError(f"'{name}': unsupported compression of member '{member.name}'")
    if not mode:
        raise DebError(
            f"'{name}': member '{member.name}' is zstd-compressed, which pynix cannot "
            "decompress (Python's standard library has no zstd); use a package "
            "compressed with xz, gzip or bzip2"
        )
    return mode


@contextmanager
def _open_tar(path: str, member: ArMember, name: str) -> Iterator[tarfile.TarFile]:
    mode = _stream_mode(member, name)
    with open(path, "rb") as fh:
        section = io.BufferedReader(_Section(fh, member.offset, member.size), 1 << 16)
        try:
            tar = tarfile.open(fileobj=section, mode=mode)  # type: ignore[call-overload]  # noqa: SIM115
        except _DECOMPRESS_ERRORS as e:
            raise DebError(f"'{name}': corrupt member '{member.name}': {e}") from None
        with tar:
            yield tar


def _normalise(member_name: str, name: str, archive_member: str) -> str:
    """A relative name without ``./``; error for absolute names or ``..``."""
    if member_name.startswith("/"):
        raise DebError(f"'{name}': unsafe absolute path '{member_name}' in {archive_member}")
    parts = [p for p in member_name.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise DebError(f"'{name}': unsafe path '{member_name}' (contains '..') in "
                       f"{archive_member}")  # fmt: skip
    return "/".join(parts)


def open_deb(path: str, display: str | None = None) -> DebPackage:
    """Validate the ``.deb`` at ``path`` and read its control part."""
    name = display or path
    members = read_ar(path, name)
    if not members or members[0].name != "debian-binary":
        raise DebError(f"'{name}' is not a valid Debian package: the first member is not "
                       "'debian-binary'")  # fmt: skip
    first = members[0]
    try:
        with open(path, "rb") as fh:
            fh.seek(first.offset)
            version = fh.read(min(first.size, 64)).decode("ascii").strip()
    except (OSError, UnicodeDecodeError) as e:
        raise DebError(f"'{name}': unreadable 'debian-binary': {e}") from None
    if version.split(".")[0] != "2":
        raise DebError(f"'{name}': unsupported Debian package format version '{version}'")
    control_member = _member(members, "control.tar", _CONTROL_COMPRESSIONS, name)
    data_member = _member(members, "data.tar", tuple(_COMPRESSIONS), name)

    control_text: str | None = None
    scripts: dict[str, str] = {}
    conffiles: list[str] = []
    try:
        with _open_tar(path, control_member, name) as tar:
            for info in tar:
                member_name = _normalise(info.name, name, control_member.name)
                if not info.isfile():
                    continue
                fh2 = tar.extractfile(info)
                if fh2 is None:
                    continue
                text = fh2.read().decode("utf-8", "replace")
                if member_name == "control":
                    control_text = text
                elif member_name in MAINTAINER_SCRIPTS:
                    scripts[member_name] = text
                elif member_name == "conffiles":
                    conffiles = [c.strip() for c in text.splitlines() if c.strip()]
    except _DECOMPRESS_ERRORS as e:
        raise DebError(f"'{name}': corrupt member '{control_member.name}': {e}") from None
    if control_text is None:
        raise DebError(f"'{name}': no 'control' file in '{control_member.name}'")
    try:
        control = parse_control(control_text)
    except ValueError as e:
        raise DebError(f"'{name}': bad 'control' file: {e}") from None
    if "Package" not in control:
        raise DebError(f"'{name}': the 'control' file has no 'Package' field")
    return DebPackage(path, name, version, control, scripts, control_member, data_member,
                      conffiles)  # fmt: skip


@dataclass
class Extracted:
    """What :func:`extract_data` did."""

    # (path in the destination, path in the package, link target as in the package)
    symlinks: list[tuple[str, str, str]] = field(default_factory=list)
    files: int = 0
    directories: int = 0
    hardlinks: int = 0
    dropped_setid: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # with the reason
    # destination path -> path in the package, for everything extracted
    origin: dict[str, str] = field(default_factory=dict)


Rename = Callable[[str], str | None]


def _identity(path: str) -> str | None:
    return path


def _check_no_symlink_parents(dest: str, rel: str, name: str, what: str) -> None:
    path = dest
    for part in rel.split("/")[:-1]:
        path = os.path.join(path, part)
        if os.path.islink(path):
            raise DebError(f"'{name}': unsafe member '{what}': it would be written through "
                           "a symbolic link")  # fmt: skip


def _makedirs(dest: str, rel: str) -> None:
    if rel:
        os.makedirs(os.path.join(dest, rel), mode=0o755, exist_ok=True)


def extract_data(
    deb: DebPackage,
    dest: str,
    rename: Rename = _identity,
    log: Callable[[str], None] | None = None,
) -> Extracted:
    """Unpack the files of ``deb`` into the existing directory ``dest``.

    ``rename`` maps each path in the package (relative, no ``./``) to its path
    under ``dest``, or ``None`` to leave it out.  Symbolic links are created
    with their targets unchanged (the caller may rewrite them: see
    :attr:`Extracted.symlinks`).  When two members land on the same path, a
    directory merges with a directory, a file wins over a symbolic link, and
    otherwise the first one stays (reported in ``skipped``).
    """
    name = deb.name
    result = Extracted()
    # package path -> destination path (for hard links)
    placed: dict[str, str] = {}

    def note(msg: str) -> None:
        result.skipped.append(msg)
        if log is not None:
            log(msg + "\n")

    try:
        with _open_tar(deb.path, deb.data_member, name) as tar:
            for info in tar:
                rel = _normalise(info.name, name, deb.data_member.name)
                if not rel:
                    continue
                target_rel = rename(rel)
                if target_rel is None:
                    continue
                target_rel = _normalise(target_rel, name, "the renamed layout")
                if not target_rel:
                    continue
                _check_no_symlink_parents(dest, target_rel, name, info.name)
                out = os.path.join(dest, target_rel)
                parent = os.path.dirname(target_rel)
                if info.isdir():
                    if os.path.lexists(out) and not os.path.isdir(out):
                        if os.path.islink(out):
                            os.unlink(out)
                        else:
                            note(f"skipped directory '{rel}': '{target_rel}' is a file")
                            continue
                    _makedirs(dest, target_rel)
                    result.directories += 1
                    result.origin[target_rel] = rel
                    continue
                _makedirs(dest, parent)
                existing = os.path.lexists(out)
                if info.issym():
                    if existing:
                        note(f"skipped symbolic link '{rel}': '{target_rel}' already exists")
                        continue
                    os.symlink(info.linkname, out)
                    result.symlinks.append((target_rel, rel, info.linkname))
                elif info.islnk():
                    source = _normalise(info.linkname, name, deb.data_member.name)
                    source_out = placed.get(source)
                    if source_out is None:
                        note(f"skipped hard link '{rel}': its target '{source}' was not "
                             "extracted")  # fmt: skip
                        continue
                    if existing:
                        if os.path.islink(out):
                            os.unlink(out)
                        else:
                            note(f"skipped hard link '{rel}': '{target_rel}' already exists")
                            continue
                    # never follow: a link to a symbolic link is a copy of the link
                    os.link(os.path.join(dest, source_out), out, follow_symlinks=False)
                    result.hardlinks += 1
                elif info.isfile():
                    if existing:
                        if os.path.islink(out):
                            os.unlink(out)  # a file wins over a symbolic link
                        else:
                            note(f"skipped file '{rel}': '{target_rel}' already exists")
                            continue
                    mode = info.mode & 0o7777
                    if mode & (stat.S_ISUID | stat.S_ISGID):
                        result.dropped_setid.append(target_rel)
                    mode &= 0o777
                    src = tar.extractfile(info)
                    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                    with os.fdopen(fd, "wb") as fh:
                        if src is not None:
                            while chunk := src.read(1 << 20):
                                fh.write(chunk)
                    os.chmod(out, mode | 0o600)
                    result.files += 1
                else:
                    kind = "device file" if (info.ischr() or info.isblk()) else (
                        "FIFO" if info.isfifo() else "special file")
                    note(f"skipped {kind} '{rel}'")
                    continue
                placed[rel] = target_rel
                result.origin[target_rel] = rel
    except DebError:
        raise
    except _DECOMPRESS_ERRORS as e:
        raise DebError(f"'{name}': cannot extract '{deb.data_member.name}' (corrupt or "
                       f"unwritable): {e}") from None
    return result


def list_data(deb: DebPackage) -> list[tarfile.TarInfo]:
    """The members of the data part (names as in the archive)."""
    try:
        with _open_tar(deb.path, deb.data_member, deb.name) as tar:
            return list(tar)
    except _DECOMPRESS_ERRORS as e:
        raise DebError(f"'{deb.name}': corrupt member '{deb.data_member.name}': {e}") from None
