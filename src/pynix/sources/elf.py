"""A small reader of ELF files: what importing a binary into the store needs.

Only 64-bit little-endian files are understood (what Debian amd64 ships): the
file type (``ET_EXEC``/``ET_DYN``), the program interpreter (``PT_INTERP``)
and, from the dynamic section, ``DT_NEEDED``, ``DT_SONAME``, ``DT_RPATH``,
``DT_RUNPATH`` and ``DT_FLAGS_1``.  Every offset and size read from the file
is checked against the file's size, so a truncated or hostile file gives an
:class:`ElfError` naming the file and the problem, never a Python exception.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass, field
from typing import BinaryIO, Final

ELF_MAGIC: Final = b"\x7fELF"

ET_REL: Final = 1
ET_EXEC: Final = 2
ET_DYN: Final = 3
ET_CORE: Final = 4

EM_X86_64: Final = 62

PT_LOAD: Final = 1
PT_DYNAMIC: Final = 2
PT_INTERP: Final = 3

DT_NULL: Final = 0
DT_NEEDED: Final = 1
DT_STRTAB: Final = 5
DT_STRSZ: Final = 10
DT_SONAME: Final = 14
DT_RPATH: Final = 15
DT_RUNPATH: Final = 29
DT_FLAGS_1: Final = 0x6FFFFFFB
DF_1_PIE: Final = 0x08000000

_EHDR: Final = struct.Struct("<16sHHIQQQIHHHHHH")  # 64 bytes
_PHDR: Final = struct.Struct("<IIQQQQQQ")  # 56 bytes
_DYN: Final = struct.Struct("<qQ")  # 16 bytes

# sanity limits against hostile headers
_MAX_PHNUM: Final = 4096
_MAX_DYN: Final = 1 << 16
_MAX_STRING: Final = 1 << 16


class ElfError(Exception):
    """A file is not an ELF file pynix understands, or it is damaged."""


@dataclass
class Segment:
    type: int
    offset: int
    vaddr: int
    filesz: int
    memsz: int


@dataclass
class ElfInfo:
    path: str
    type: int
    machine: int
    interpreter: str | None = None
    needed: list[str] = field(default_factory=list)
    soname: str | None = None
    rpath: str | None = None
    runpath: str | None = None
    flags_1: int = 0
    has_dynamic: bool = False

    @property
    def is_executable(self) -> bool:
        """A program (as opposed to a shared library): ``ET_EXEC``, or a
        position-independent executable (``DF_1_PIE``, or an interpreter and no
        soname -- ``libc.so.6`` has an interpreter but is a library)."""
        if self.type == ET_EXEC:
            return True
        if self.type != ET_DYN:
            return False
        if self.flags_1 & DF_1_PIE:
            return True
        return self.interpreter is not None and self.soname is None

    @property
    def search_path(self) -> list[str]:
        """The library directories recorded in the file (RUNPATH wins over RPATH)."""
        value = self.runpath if self.runpath is not None else self.rpath
        return [p for p in (value or "").split(":") if p]


def is_elf(path: str) -> bool:
    """Whether ``path`` is a regular file starting with the ELF magic."""
    try:
        with open(path, "rb") as fh:
            return fh.read(4) == ELF_MAGIC
    except OSError:
        return False


class _Reader:
    def __init__(self, fh: BinaryIO, path: str, size: int) -> None:
        self.fh = fh
        self.path = path
        self.size = size

    def error(self, problem: str) -> ElfError:
        return ElfError(f"'{self.path}': {problem}")

    def read(self, offset: int, length: int, what: str) -> bytes:
        if offset < 0 or length < 0 or offset + length > self.size:
            raise self.error(
                f"truncated or corrupt ELF file: {what} at offset {offset} "
                f"(length {length}) is beyond the end of the file ({self.size} bytes)"
            )
        self.fh.seek(offset)
        data = self.fh.read(length)
        if len(data) != length:
            raise self.error(f"truncated ELF file: short read of {what}")
        return data


def read_elf(path: str) -> ElfInfo:
    """Read the facts of the ELF file ``path``; :class:`ElfError` if it is not
    a 64-bit little-endian ELF file or it is damaged."""
    try:
        with open(path, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            return _read(_Reader(fh, path, size))
    except OSError as e:
        raise ElfError(f"'{path}': cannot read: {e.strerror or e}") from None


def _read(r: _Reader) -> ElfInfo:
    if r.size < 4 or r.read(0, 4, "magic") != ELF_MAGIC:
        raise r.error("not an ELF file")
    if r.size < _EHDR.size:
        raise r.error(f"truncated ELF file: {r.size} bytes, shorter than the ELF header")
    (ident, e_type, e_machine, _version, _entry, phoff, _shoff, _flags, _ehsize,
     phentsize, phnum, _shentsize, _shnum, _shstrndx) = _EHDR.unpack(
        r.read(0, _EHDR.size, "the ELF header"))  # fmt: skip
    if ident[4] != 2:
        raise r.error("not a 64-bit ELF file (only ELF64 is supported)")
    if ident[5] != 1:
        raise r.error("not a little-endian ELF file (only little-endian is supported)")
    info = ElfInfo(path=r.path, type=e_type, machine=e_machine)
    if phnum == 0:
        return info
    if phentsize != _PHDR.size:
        raise r.error(f"corrupt ELF file: program header entry size {phentsize}, "
                      f"expected {_PHDR.size}")  # fmt: skip
    if phnum > _MAX_PHNUM:
        raise r.error(f"corrupt ELF file: {phnum} program headers")
    table = r.read(phoff, phnum * _PHDR.size, "the program header table")
    segments: list[Segment] = []
    for i in range(phnum):
        p_type, _pf, p_offset, p_vaddr, _pa, p_filesz, p_memsz, _al = _PHDR.unpack_from(
            table, i * _PHDR.size
        )
        segments.append(Segment(p_type, p_offset, p_vaddr, p_filesz, p_memsz))

    for seg in segments:
        if seg.type == PT_INTERP:
            if seg.filesz > _MAX_STRING:
                raise r.error(f"corrupt ELF file: interpreter name of {seg.filesz} bytes")
            raw = r.read(seg.offset, seg.filesz, "the interpreter name (PT_INTERP)")
            info.interpreter = _decode(raw.split(b"\0", 1)[0])

    dynamic = [s for s in segments if s.type == PT_DYNAMIC]
    if dynamic:
        info.has_dynamic = True
        _read_dynamic(r, info, dynamic[0], segments)
    return info


def _decode(raw: bytes) -> str:
    return raw.decode("utf-8", "surrogateescape")


def _read_dynamic(r: _Reader, info: ElfInfo, seg: Segment, segments: list[Segment]) -> None:
    count = min(seg.filesz // _DYN.size, _MAX_DYN)
    data = r.read(seg.offset, count * _DYN.size, "the dynamic section (PT_DYNAMIC)")
    entries: list[tuple[int, int]] = []
    for i in range(count):
        tag, val = _DYN.unpack_from(data, i * _DYN.size)
        if tag == DT_NULL:
            break
        entries.append((tag, val))
    strtab_addr = next((v for t, v in entries if t == DT_STRTAB), None)
    strsz = next((v for t, v in entries if t == DT_STRSZ), None)
    string_tags = {DT_NEEDED, DT_SONAME, DT_RPATH, DT_RUNPATH}
    for tag, val in entries:
        if tag == DT_FLAGS_1:
            info.flags_1 = val
    if not any(t in string_tags for t, _ in entries):
        return
    if strtab_addr is None or strsz is None:
        raise r.error("corrupt ELF file: dynamic section without a string table")
    strtab_off = _file_offset(r, segments, strtab_addr)
    if strsz > r.size:
        raise r.error(f"corrupt ELF file: string table of {strsz} bytes")
    strtab = r.read(strtab_off, strsz, "the dynamic string table")

    def string(index: int) -> str:
        if index >= len(strtab):
            raise r.error(f"corrupt ELF file: string index {index} outside the string "
                          f"table ({len(strtab)} bytes)")  # fmt: skip
        end = strtab.find(b"\0", index)
        if end < 0:
            raise r.error("corrupt ELF file: unterminated string in the dynamic string table")
        return _decode(strtab[index:end])

    for tag, val in entries:
        if tag == DT_NEEDED:
            info.needed.append(string(val))
        elif tag == DT_SONAME:
            info.soname = string(val)
        elif tag == DT_RPATH:
            info.rpath = string(val)
        elif tag == DT_RUNPATH:
            info.runpath = string(val)


def _file_offset(r: _Reader, segments: list[Segment], vaddr: int) -> int:
    for seg in segments:
        if seg.type == PT_LOAD and seg.vaddr <= vaddr < seg.vaddr + seg.filesz:
            return vaddr - seg.vaddr + seg.offset
    raise r.error(f"corrupt ELF file: address {vaddr:#x} is in no loaded segment")
