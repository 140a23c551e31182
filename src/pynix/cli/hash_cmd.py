"""Hashing commands: ``pynix hash`` (as ``nix hash`` in Nix 2.8) and the classic
``pynix-hash`` (as ``nix-hash``).

    pynix hash path|file [--type ALGO] [--base16|--base32|--base64|--sri] PATH...
    pynix hash to-base16|to-base32|to-base64|to-sri [--type ALGO] HASH...
    pynix-hash [--flat] [--base32] [--truncate] [--type ALGO] PATH...
    pynix-hash --to-base16|--to-base32 [--type ALGO] HASH...

``path`` hashes the NAR serialisation of a file or directory (what store
paths are addressed by), ``file`` the contents of a regular file.
"""

from __future__ import annotations

import io
import os
import sys
from collections.abc import Iterable, Iterator, Mapping
from typing import IO

from ..compat import nixbase32
from ..compat.hashing import BadHash, Hash, HashAlgo, HashFormat, compress_hash, hash_file
from ..compat.hashing import parse_hash_algo as _parse_algo
from ..compat.nar import NarError, nar_hash


class UsageError(Exception):
    """A bad command line (this module stays light: hashing a tree is timed
    from process start, so it imports no more than it needs)."""


def usage_error(stderr: IO[bytes], prog: str, msg: str) -> int:
    stderr.write(f"error: {msg}\nTry '{prog} --help' for more information.\n".encode())
    return 1

HELP = """\
Usage: pynix hash SUBCOMMAND [OPTION...] ARGS...

  pynix hash path [--type ALGO] [--base16|--base32|--base64|--sri] PATH...
                         the hash of the NAR serialisation of each PATH
  pynix hash file [...] PATH...
                         the hash of the contents of each regular file
  pynix hash to-base16|to-base32|to-base64|to-sri [--type ALGO] HASH...
                         convert hashes between encodings (HASH may be SRI or
                         prefixed with 'ALGO:'; otherwise --type is needed)

The default algorithm is sha256 and the default output is SRI (sha256-...).
"""

CLASSIC_HELP = """\
Usage: pynix-hash [--flat] [--base32] [--truncate] [--type ALGO] PATH...
       pynix-hash --to-base16|--to-base32 [--type ALGO] HASH...

Print the hash of the NAR serialisation of each PATH (--flat: of the file's
contents), in base-16 unless --base32 is given; the default algorithm is md5.
--truncate shortens the hash to 160 bits.
"""

_FORMAT_FLAGS = {"--base16": HashFormat.BASE16, "--base32": HashFormat.NIX32,
                 "--base64": HashFormat.BASE64, "--sri": HashFormat.SRI}
_CONVERSIONS = {"to-base16": HashFormat.BASE16, "to-base32": HashFormat.NIX32,
                "to-base64": HashFormat.BASE64, "to-sri": HashFormat.SRI}


class HashCommandError(Exception):
    pass


def _algo(name: str) -> HashAlgo:
    try:
        return _parse_algo(name)
    except BadHash as e:
        raise UsageError(str(e)) from None


def _hash_of(path: str, algo: HashAlgo, flat: bool) -> Hash:
    try:
        if flat:
            return hash_file(algo, path)
        return nar_hash(path, algo)
    except FileNotFoundError:
        raise HashCommandError(f"getting status of '{path}': No such file or directory") from None
    except IsADirectoryError:
        raise HashCommandError(f"'{path}' is a directory; hash it with 'path'") from None
    except (OSError, NarError) as e:
        raise HashCommandError(f"hashing '{path}': {e}") from None


def _convert(text: str, algo: HashAlgo | None) -> Hash:
    try:
        return Hash.parse(text, algo)
    except BadHash as e:
        raise HashCommandError(str(e)) from None


def _absolute(path: str, cwd: str | None) -> str:
    return os.path.join(cwd or os.getcwd(), path)


def _emit(lines: Iterable[str], stdout: IO[bytes], stderr: IO[bytes]) -> int:
    """Write each line as it is computed; on an error, the error after them."""
    try:
        for line in lines:
            stdout.write(line.encode())
    except HashCommandError as e:
        stderr.write(f"error: {e}\n".encode())
        return 1
    return 0


def main_impl(
    argv: list[str],
    stdin: IO[bytes],
    stdout: IO[bytes],
    stderr: IO[bytes],
    env: Mapping[str, str] | None,
    cwd: str | None,
) -> int:
    """``pynix hash ...``."""
    try:
        if not argv or argv[0] in ("--help", "-h"):
            if not argv:
                raise UsageError("'pynix hash' requires a subcommand")
            stdout.write(HELP.encode())
            return 0
        sub, rest = argv[0], argv[1:]
        if sub not in ("path", "file", *_CONVERSIONS):
            raise UsageError(f"'{sub}' is not a recognised command")
        algo: HashAlgo | None = None
        fmt = HashFormat.SRI
        args: list[str] = []
        i = 0
        while i < len(rest):
            a = rest[i]
            if a == "--type":
                if i + 1 >= len(rest):
                    raise UsageError("flag '--type' requires 1 argument")
                algo = _algo(rest[i + 1])
                i += 2
                continue
            if a in _FORMAT_FLAGS and sub in ("path", "file"):
                fmt = _FORMAT_FLAGS[a]
            elif a in ("--help", "-h"):
                stdout.write(HELP.encode())
                return 0
            elif a.startswith("-") and a != "-":
                raise UsageError(f"unrecognised flag '{a}'")
            else:
                args.append(a)
            i += 1
    except UsageError as e:
        return usage_error(stderr, "pynix hash", str(e))

    def produce() -> Iterator[str]:
        if sub in _CONVERSIONS:
            target = _CONVERSIONS[sub]
            for text in args:
                yield _convert(text, algo).format(target) + "\n"
            return
        for path in args:
            yield _hash_of(_absolute(path, cwd), algo or "sha256", sub == "file").format(fmt) + "\n"

    return _emit(produce(), stdout, stderr)


def classic_main_impl(
    argv: list[str],
    stdin: IO[bytes],
    stdout: IO[bytes],
    stderr: IO[bytes],
    env: Mapping[str, str] | None,
    cwd: str | None,
) -> int:
    """``pynix-hash ...``."""
    try:
        algo: HashAlgo = "md5"
        flat = base32 = truncate = False
        convert: HashFormat | None = None
        args: list[str] = []
        i = 0
        while i < len(argv):
            a = argv[i]
            if a == "--type":
                if i + 1 >= len(argv):
                    raise UsageError("flag '--type' requires 1 argument")
                algo = _algo(argv[i + 1])
                i += 2
                continue
            if a == "--flat":
                flat = True
            elif a == "--base32":
                base32 = True
            elif a == "--truncate":
                truncate = True
            elif a == "--to-base16":
                convert = HashFormat.BASE16
            elif a == "--to-base32":
                convert = HashFormat.NIX32
            elif a in ("--help", "-h"):
                stdout.write(CLASSIC_HELP.encode())
                return 0
            elif a.startswith("-") and a != "-":
                raise UsageError(f"unrecognised flag '{a}'")
            else:
                args.append(a)
            i += 1
    except UsageError as e:
        return usage_error(stderr, "pynix-hash", str(e))

    def produce() -> Iterator[str]:
        for a in args:
            if convert is not None:
                yield _convert(a, algo).format(convert) + "\n"
                continue
            digest = _hash_of(_absolute(a, cwd), algo, flat).digest
            if truncate and len(digest) > 20:
                digest = compress_hash(digest, 20)
            yield (nixbase32.encode(digest) if base32 else digest.hex()) + "\n"

    return _emit(produce(), stdout, stderr)


def run(argv: list[str], *, classic: bool = False, env: Mapping[str, str] | None = None,
        cwd: str | None = None) -> tuple[int, bytes, bytes]:
    """Run in-process; (exit status, stdout, stderr)."""
    out, err = io.BytesIO(), io.BytesIO()
    impl = classic_main_impl if classic else main_impl
    rc = impl(argv, io.BytesIO(), out, err, env, cwd)
    return rc, out.getvalue(), err.getvalue()


def classic_main() -> None:
    rc = classic_main_impl(sys.argv[1:], sys.stdin.buffer, sys.stdout.buffer,
                           sys.stderr.buffer, None, None)
    sys.stdout.flush()
    sys.exit(rc)
