"""Fetchers: ``builtins.fetchurl``, ``fetchTarball``, ``fetchGit`` (and ``fetchTree``).

As in Nix 2.8 they fetch while the expression is evaluated, also when
evaluation only computes store paths (``nix-instantiate --eval``).  What they
fetch becomes a content-addressed store path: the downloaded file itself
(``fetchurl``, a flat path) or a tree (``fetchTarball``, ``fetchGit``, a path
of the tree's NAR); it reaches the store only through
:meth:`~..store_api.EvalStore.add_fetched`.  A hash given by the user pins the
result: a path the store already has is returned without fetching, and
anything fetched must match.

Downloads use ``urllib`` (``http``, ``https``, ``file``); archives are unpacked
here (``tarfile``, ``zipfile``, and the ``zstd`` program for ``.tar.zst``); Git
repositories are read with the ``git`` program, as Nix does.  Each result is
remembered for the rest of the evaluation.  ``fetchTree`` (experimental in
Nix 2.8, behind the ``flakes`` feature) knows the ``git`` and ``tarball`` inputs.
"""

from __future__ import annotations

import contextlib
import fcntl
import http.client
import json
import lzma
import os
import re
import shutil
import socket
import ssl
import stat
import subprocess
import tarfile
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import weakref
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, Any, Final

from ...compat.hashing import BadHash, Hash, hash_file
from ...compat.nar import NarError, nar_hash
from ...compat.storepath import make_fixed_output_path
from .. import attrpos
from ..errors import EvalError, NixError
from ..runtime import coerce_to_string, expect_string_no_ctx
from ..store_api import base_name, check_store_name, fixed_path_kind, to_compat
from ..values import NixPath, NixStr, Thunk, from_bytes, show_type, to_bytes, to_text
from . import eval_primop
from .store import parse_hash_allow_empty

if TYPE_CHECKING:
    from ..evaluator import Evaluator

_CHUNK: Final = 1 << 16
# what Nix's HTTP client (curl) waits for a stalled transfer, in seconds
_STALL_TIMEOUT: Final = 300


def _f(v: Any) -> Any:
    return v.force() if type(v) is Thunk else v


def _warn(ev: Evaluator, msg: str) -> None:
    ev.stderr.write(b"warning: " + msg.encode("utf-8", "replace") + b"\n")
    ev.stderr.flush()


def _path_value(path: str) -> NixStr:
    return NixStr(path, frozenset([path]))


# results already fetched, per evaluator
_MEMO: weakref.WeakKeyDictionary[Evaluator, dict[tuple[Any, ...], Any]] = (
    weakref.WeakKeyDictionary()
)


def _memo(ev: Evaluator) -> dict[tuple[Any, ...], Any]:
    memo = _MEMO.get(ev)
    if memo is None:
        memo = _MEMO[ev] = {}
    return memo


def _fixed_path(ev: Evaluator, name: str, digest: Hash, recursive: bool) -> str:
    store_dir = ev.store.store_dir
    check_store_name(name, lambda: fixed_path_kind(digest, recursive), store_dir)
    return make_fixed_output_path(to_compat(name), digest, recursive, store_dir=store_dir)


def _mismatch(url: str, expected: Hash, got: Hash) -> EvalError:
    return EvalError(
        f"hash mismatch in file downloaded from '{to_text(url)}':\n"
        f"  specified: {expected.to_prefixed()}\n"
        f"  got:       {got.to_prefixed()}"
    )


# ---------------------------------------------------------------------------
# downloading


def resolve_uri(url: str) -> str:
    """Nix's short forms of URLs: ``channel:NAME`` is a channel's expressions."""
    if url.startswith("channel:"):
        return f"https://nixos.org/channels/{url[len('channel:'):]}/nixexprs.tar.xz"
    return url


class DownloadError(Exception):
    """Why a download failed, in the words of Nix's HTTP client (curl)."""


def download(url: str, out: IO[bytes]) -> None:
    """Write what ``url`` (a Nix string) refers to into ``out``."""
    try:
        scheme, sep, _ = url.partition("://")
        if not sep or not scheme:
            raise DownloadError("URL using bad/illegal format or missing URL (3)")
        scheme = scheme.lower()
        if scheme == "file":
            _download_file(url, out)
        elif scheme in ("http", "https", "ftp"):
            _download_url(url, out)
        else:
            raise DownloadError("Unsupported protocol (1)")
    except DownloadError as e:
        raise EvalError(f"unable to download '{to_text(url)}': {e}") from None


def _download_file(url: str, out: IO[bytes]) -> None:
    rest = to_bytes(url).split(b"://", 1)[1]
    rest = rest.split(b"#", 1)[0].split(b"?", 1)[0]
    host, slash, path = rest.partition(b"/")
    if host not in (b"", b"localhost") or not slash:
        raise DownloadError("Couldn't read a file:// file (37)")
    fs_path = urllib.parse.unquote_to_bytes(b"/" + path)
    try:
        if os.path.isdir(fs_path):
            return  # curl reads a directory as an empty file
        with open(fs_path, "rb") as fh:
            shutil.copyfileobj(fh, out, _CHUNK)
    except OSError:
        raise DownloadError("Couldn't read a file:// file (37)") from None


# characters a URL may carry as they are (anything else is percent-encoded,
# as curl does with spaces and bytes above 0x7f)
_URL_SAFE: Final = "".join(chr(c) for c in range(0x21, 0x7F))


def _download_url(url: str, out: IO[bytes]) -> None:
    request = urllib.request.Request(
        urllib.parse.quote(to_bytes(url), safe=_URL_SAFE),
        headers={"User-Agent": "pynix"},
    )
    try:
        with urllib.request.urlopen(request, timeout=_STALL_TIMEOUT) as response:
            shutil.copyfileobj(response, out, _CHUNK)
    except urllib.error.HTTPError as e:
        body = b""
        with contextlib.suppress(Exception):
            body = e.read()
        msg = f"HTTP error {e.code} ('{e.reason}')"
        text = body.decode("utf-8", "replace").strip()
        if text:
            msg += "\n\nresponse body:\n\n" + text
        raise DownloadError(msg) from None
    except urllib.error.URLError as e:
        raise DownloadError(_curl_words(e.reason)) from None
    except (OSError, ValueError, http.client.HTTPException) as e:
        raise DownloadError(_curl_words(e)) from None


def _curl_words(reason: object) -> str:
    if isinstance(reason, socket.gaierror):
        return "Couldn't resolve host name (6)"
    if isinstance(reason, ssl.SSLCertVerificationError):
        return "SSL peer certificate or SSH remote key was not OK (60)"
    if isinstance(reason, ssl.SSLError):
        return "SSL connect error (35)"
    if isinstance(reason, ConnectionRefusedError):
        return "Couldn't connect to server (7)"
    if isinstance(reason, TimeoutError | socket.timeout):
        return "Timeout was reached (28)"
    return str(reason)


# ---------------------------------------------------------------------------
# unpacking archives

_ZSTD_MAGIC: Final = b"\x28\xb5\x2f\xfd"
_ZIP_MAGICS: Final = (b"PK\x03\x04", b"PK\x05\x06")


class ArchiveError(Exception):
    """An archive that cannot be unpacked."""


def unpack_archive(archive: bytes, dest: bytes) -> None:
    """Unpack a tar (plain, gzip, bzip2, xz, zstd) or zip archive into ``dest``.

    The format is recognised by content, not by name.  Entries never land
    outside ``dest``: ``..`` is refused, and so is writing through a symlink
    the archive made.  Only the executable bit of a file's mode is kept (it is
    all a NAR records).
    """
    with open(archive, "rb") as fh:
        magic = fh.read(8)
    os.makedirs(dest, exist_ok=True)
    try:
        if magic.startswith(_ZIP_MAGICS):
            _unpack_zip(archive, dest)
        elif magic.startswith(_ZSTD_MAGIC):
            _unpack_zstd(archive, dest)
        else:
            try:
                tf = tarfile.open(  # noqa: SIM115 (closed below: opening may fail on its own)
                    archive, mode="r:*", encoding="utf-8", errors="surrogateescape")
            except (tarfile.TarError, EOFError, OSError):
                raise ArchiveError("failed to open archive: Unrecognized archive format")\
                    from None
            with tf:
                extract_tar(tf, dest)
    except _BROKEN as e:
        raise ArchiveError(f"failed to extract archive ({e})") from None


# what a damaged archive makes the decompressors and readers raise
_BROKEN: Final = (tarfile.TarError, zipfile.BadZipFile, EOFError, OSError, ValueError,
                  zlib.error, lzma.LZMAError, NotImplementedError)


def _unpack_zstd(archive: bytes, dest: bytes) -> None:
    exe = shutil.which("zstd")
    if exe is None:
        raise ArchiveError("failed to open archive: zstd compression needs the 'zstd' program")
    with open(archive, "rb") as src:
        proc = subprocess.Popen([exe, "-dcq"], stdin=src, stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL)
        assert proc.stdout is not None
        try:
            with tarfile.open(fileobj=proc.stdout, mode="r|", encoding="utf-8",
                              errors="surrogateescape") as tf:
                extract_tar(tf, dest)
        finally:
            proc.stdout.close()
            proc.wait()


def extract_tar(tf: tarfile.TarFile, dest: bytes) -> None:
    """Extract every member of an open tar archive (also a stream) into ``dest``."""
    for member in tf:
        target = _entry_target(dest, os.fsencode(member.name))
        if target is None:
            continue
        if member.isdir():
            _make_dir(target)
        elif member.issym():
            _make_symlink(target, os.fsencode(member.linkname))
        elif member.islnk():
            source = _entry_target(dest, os.fsencode(member.linkname))
            if source is None or not os.path.isfile(source) or os.path.islink(source):
                raise ArchiveError(
                    f"failed to extract archive (hard link to a missing file "
                    f"'{member.linkname}')")
            _replace(target)
            shutil.copyfile(source, target)
            os.chmod(target, os.stat(source).st_mode & 0o777)
        elif member.isfile():
            data = tf.extractfile(member)
            assert data is not None
            _write_file(target, data, bool(member.mode & stat.S_IXUSR))
        else:
            raise ArchiveError(f"file '{member.name}' has an unsupported type")


def _unpack_zip(archive: bytes, dest: bytes) -> None:
    with zipfile.ZipFile(os.fsdecode(archive)) as zf:
        for info in zf.infolist():
            utf8 = bool(info.flag_bits & 0x800)
            raw_name = info.filename.encode("utf-8" if utf8 else "cp437", "surrogateescape")
            target = _entry_target(dest, raw_name)
            if target is None:
                continue
            mode = info.external_attr >> 16 if info.create_system == 3 else 0
            if info.is_dir() or stat.S_ISDIR(mode):
                _make_dir(target)
            elif stat.S_ISLNK(mode):
                _make_symlink(target, zf.read(info))
            else:
                with zf.open(info) as data:
                    _write_file(target, data, bool(mode & stat.S_IXUSR))


def _entry_target(dest: bytes, name: bytes) -> bytes | None:
    """Where an archive entry goes; every directory on the way is made real."""
    parts = [p for p in name.split(b"/") if p not in (b"", b".")]
    if not parts:
        return None
    if b".." in parts:
        raise ArchiveError("failed to extract archive (Path contains '..')")
    current = dest
    for part in parts[:-1]:
        current += b"/" + part
        try:
            mode = os.lstat(current).st_mode
        except FileNotFoundError:
            os.mkdir(current, 0o755)
            continue
        if stat.S_ISLNK(mode):
            raise ArchiveError(
                f"failed to extract archive (Cannot extract through symlink "
                f"{os.fsdecode(current[len(dest) + 1:])})")
        if not stat.S_ISDIR(mode):
            os.unlink(current)
            os.mkdir(current, 0o755)
    return current + b"/" + parts[-1]


def _replace(target: bytes) -> None:
    """Make room for a new entry (archives may repeat a name: the last one wins)."""
    try:
        mode = os.lstat(target).st_mode
    except FileNotFoundError:
        return
    if stat.S_ISDIR(mode):
        shutil.rmtree(target)
    else:
        os.unlink(target)


def _make_dir(target: bytes) -> None:
    if os.path.isdir(target) and not os.path.islink(target):
        return
    _replace(target)
    os.mkdir(target, 0o755)


def _make_symlink(target: bytes, link: bytes) -> None:
    _replace(target)
    os.symlink(link, target)


def _write_file(target: bytes, data: IO[bytes], executable: bool) -> None:
    _replace(target)
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
    with os.fdopen(fd, "wb") as out:
        shutil.copyfileobj(data, out, _CHUNK)
    if executable:
        os.chmod(target, 0o755)


def _single_top_level(dest: bytes, url: str) -> bytes:
    entries = os.listdir(dest)
    if len(entries) != 1:
        raise EvalError(
            f"tarball '{to_text(url)}' contains an unexpected number of top-level files"
        )
    return dest + b"/" + entries[0]


def _nar_sha256(path: bytes) -> Hash:
    try:
        return nar_hash(path, "sha256")
    except NarError as e:
        raise EvalError(str(e).encode("utf-8", "surrogateescape").decode("utf-8", "replace"))\
            from None


# ---------------------------------------------------------------------------
# fetchurl and fetchTarball


def _url_args(ev: Evaluator, who: str, arg: Any) -> tuple[str, str, Hash | None]:
    """(url, name, expected sha256) from a URL or ``{ url; sha256?; name?; }``."""
    v = _f(arg)
    url: str | None = None
    name = ""
    expected: Hash | None = None
    if type(v) is dict:
        for key in sorted(v):
            try:
                if key == "url":
                    url = expect_string_no_ctx(_f(v[key]))
                elif key == "sha256":
                    text = expect_string_no_ctx(_f(v[key]))
                    expected = parse_hash_allow_empty(ev, text, "sha256")
                elif key == "name":
                    name = expect_string_no_ctx(_f(v[key]))
                else:
                    raise EvalError(f"unsupported argument '{to_text(key)}' to '{who}'")
            except NixError as e:
                e.at(attrpos.lookup(v, key))
                raise
        if url is None:
            raise EvalError("'url' argument required")
    else:
        url = expect_string_no_ctx(v)
    url = resolve_uri(str(url))
    if ev.pure and expected is None:
        raise EvalError(f"in pure evaluation mode, '{who}' requires a 'sha256' argument")
    return url, str(name), expected


def fetch_url(ev: Evaluator, url: str, name: str, expected: Hash | None, unpack: bool) -> str:
    """The store path of what ``url`` holds (unpacked with ``unpack``)."""
    if expected is not None:
        # pinned: what the store has already is not fetched again
        pinned = _fixed_path(ev, name, expected, unpack)
        if ev.store.is_valid_path(pinned):
            return pinned
    memo = _memo(ev)
    key = ("tarball" if unpack else "file", url, name, expected)
    known = memo.get(key)
    if known is not None:
        return str(known)
    with tempfile.TemporaryDirectory(prefix="pynix-fetch-") as tmp:
        file = os.fsencode(tmp) + b"/download"
        with open(file, "wb") as out:
            download(url, out)
        if unpack:
            unpacked = os.fsencode(tmp) + b"/unpacked"
            try:
                unpack_archive(file, unpacked)
            except ArchiveError as e:
                raise EvalError(str(e)) from None
            root = _single_top_level(unpacked, url)
            got = _nar_sha256(root)
        else:
            root = file
            got = hash_file("sha256", file)
        if expected is not None and got != expected:
            raise _mismatch(url, expected, got)
        path = ev.store.add_fetched(from_bytes(root), name=name, recursive=unpack,
                                    sha256=got.digest)
    memo[key] = path
    memo["sha256", path] = got
    return path


@eval_primop("fetchurl", 1)
def fetchurl(ev: Evaluator, arg: Any) -> NixStr:
    url, name, expected = _url_args(ev, "fetchurl", arg)
    return _path_value(fetch_url(ev, url, name or base_name(url), expected, unpack=False))


@eval_primop("fetchTarball", 1)
def fetch_tarball(ev: Evaluator, arg: Any) -> NixStr:
    url, name, expected = _url_args(ev, "fetchTarball", arg)
    return _path_value(fetch_url(ev, url, name or "source", expected, unpack=True))


# ---------------------------------------------------------------------------
# Git


class GitError(EvalError):
    """The git program failed (its own messages went to stderr before)."""


@dataclass
class GitInput:
    """What ``fetchGit`` was asked for, as Nix's Git input attributes."""

    url: str
    name: str = "source"
    ref: str | None = None
    rev: str | None = None
    submodules: bool = False
    shallow: bool = False
    all_refs: bool = False
    nar_hash: Hash | None = None
    rev_count: int | None = None
    last_modified: int | None = None
    # the attributes as given (for messages), by name
    given: dict[str, Any] = field(default_factory=dict)

    def describe(self, locked: bool = False) -> str:
        """The input as a URL, as Nix shows it in messages."""
        query: dict[str, str] = {}
        for key in ("ref", "rev"):
            value = getattr(self, key) if locked else self.given.get(key)
            if value is not None:
                query[key] = str(value)
        if self.shallow:
            query["shallow"] = "1"
        url = self.url if self.url.startswith("git") else "git+" + self.url
        if query:
            url += "?" + "&".join(f"{k}={v}" for k, v in sorted(query.items()))
        return url


_GIT_ATTRS: Final = frozenset([
    "url", "ref", "rev", "shallow", "submodules", "lastModified", "revCount", "narHash",
    "allRefs", "name",
])


# what git itself refuses as a branch or tag name (git check-ref-format)
_BAD_REF: Final = re.compile(
    r"//|^[./]|/\.|\.\.|[\x00-\x20\x7f:?^~\[]|\\|\*|\.lock$|\.lock/|@\{|[/.]$|^@$|^$"
)
_SCP_LIKE: Final = re.compile(r"([^/]*)@(.*):(.*)")


def fix_git_url(url: str) -> str:
    """A URL from what fetchGit accepts: ``/abs/path``, ``user@host:path`` or a URL."""
    m = _SCP_LIKE.fullmatch(url)
    if not url.startswith("/") and m is not None:
        return f"ssh://{m.group(1)}@{m.group(2)}/{m.group(3)}"
    if "://" not in url:
        url = "file://" + url
    if url.startswith("file://"):
        authority = url[len("file://"):].split("/", 1)[0]
        if authority:
            raise EvalError(
                f"file:// URL '{to_text(url)}' has unexpected authority '{to_text(authority)}'"
            )
    return url


def _input_attrs(ev: Evaluator, v: dict[str, Any], with_type: bool) -> dict[str, Any]:
    """The attributes of an input (fetchGit's or fetchTree's argument), as Nix
    keeps them: strings, Booleans and integers."""
    raw: dict[str, Any] = {}
    for key in sorted(v):
        try:
            if key == "type" and not with_type:
                raise EvalError("unexpected attribute 'type'")
            value = _f(v[key])
            t = type(value)
            if key == "url" or t is str or t is NixStr or t is NixPath:
                ctx: set[str] = set()
                raw[key] = coerce_to_string(value, None, ctx, copy_to_store=False)
                if key == "url":
                    # e.g. a repository a derivation makes (import from derivation)
                    ev.realise_context(ctx)
            elif t is bool or t is int:
                raw[key] = value
            else:
                raise EvalError(
                    f"fetchTree argument '{to_text(key)}' is {show_type(value)} while a "
                    "string, Boolean or integer is expected"
                )
        except NixError as e:
            e.at(attrpos.lookup(v, key))
            raise
    return raw


def _url_of(ev: Evaluator, v: Any) -> str:
    ctx: set[str] = set()
    url = coerce_to_string(v, None, ctx, copy_to_store=False)
    ev.realise_context(ctx)
    return url


def _git_args(ev: Evaluator, arg: Any) -> GitInput:
    v = _f(arg)
    raw = _input_attrs(ev, v, False) if type(v) is dict else {"url": _url_of(ev, v)}
    return _git_input(raw)


def _git_input(raw: dict[str, Any]) -> GitInput:
    raw.pop("type", None)
    if "url" not in raw:
        raise EvalError("input attribute 'url' is missing")
    raw["url"] = fix_git_url(str(raw["url"]))
    for key in sorted(raw):
        if key not in _GIT_ATTRS:
            raise EvalError(f"unsupported Git input attribute '{to_text(key)}'")

    def wrong(key: str, kind: str) -> EvalError:
        shown = json.dumps({"type": "git", **raw}, sort_keys=True, separators=(",", ":"),
                           ensure_ascii=False)
        return EvalError(f"input attribute '{key}' is not {kind} {shown}")

    def string(key: str) -> str | None:
        value = raw.get(key)
        if value is not None and type(value) is not str:
            raise wrong(key, "a string")
        return value

    def boolean(key: str) -> bool:
        value = raw.get(key, False)
        if type(value) is not bool:
            raise EvalError(f"input attribute '{key}' is not a Boolean")
        return value

    def integer(key: str) -> int | None:
        value = raw.get(key)
        if value is not None and type(value) is not int:
            raise wrong(key, "an integer")
        return value

    inp = GitInput(url=str(raw["url"]), given=raw)
    inp.name = string("name") or "source"
    inp.ref = string("ref")
    if inp.ref is not None and _BAD_REF.search(inp.ref):
        raise EvalError(f"invalid Git branch/tag name '{to_text(inp.ref)}'")
    rev = string("rev")
    try:
        if rev is not None:
            inp.rev = Hash.parse(to_compat(rev), "sha1").to_base16()
        nar = string("narHash")
        if nar is not None:
            inp.nar_hash = Hash.parse(to_compat(nar), "sha256")
    except BadHash as e:
        raise EvalError(str(e)) from None
    inp.submodules = boolean("submodules")
    inp.shallow = boolean("shallow")
    inp.all_refs = boolean("allRefs")
    inp.rev_count = integer("revCount")
    inp.last_modified = integer("lastModified")
    return inp


class Git:
    """Runs the git program the way the fetcher needs it."""

    def __init__(self, ev: Evaluator) -> None:
        self.ev = ev

    def run(self, *args: str | bytes, cwd: bytes | None = None,
            ok_codes: tuple[int, ...] = (0,)) -> tuple[int, bytes]:
        """(exit code, output); an exit code not in ``ok_codes`` is an error."""
        argv = [a if isinstance(a, bytes) else to_bytes(a) for a in ("git", *args)]
        try:
            proc = subprocess.run(argv, cwd=cwd, stdin=subprocess.DEVNULL,
                                  capture_output=True, check=False)
        except OSError as e:
            raise EvalError(f"executing 'git': {e.strerror}") from None
        if proc.returncode not in ok_codes:
            # Nix lets git speak for itself, then says that it failed
            self.ev.stderr.write(proc.stderr)
            self.ev.stderr.flush()
            raise GitError(f"program 'git' failed with exit code {proc.returncode}")
        return proc.returncode, proc.stdout

    def out(self, *args: str | bytes, cwd: bytes | None = None) -> str:
        return from_bytes(self.run(*args, cwd=cwd)[1]).strip()

    def succeeds(self, *args: str | bytes) -> bool:
        return self.run(*args, ok_codes=tuple(range(256)))[0] == 0


@dataclass
class GitTree:
    """A fetched Git tree: the store path and what fetchGit tells about it."""

    path: str
    nar_hash: Hash
    rev: str | None
    rev_count: int | None
    last_modified: int
    ref: str | None = None


def _cache_root(ev: Evaluator) -> str:
    base = ev.env.get("XDG_CACHE_HOME") or os.path.join(ev.env.get("HOME", "/"), ".cache")
    return os.path.join(base, "pynix", "gitv3")


def fetch_git(ev: Evaluator, inp: GitInput) -> GitTree:
    git = Git(ev)
    scheme_path = inp.url[len("file://"):] if inp.url.startswith("file://") else None
    # a working tree on this machine is read in place; everything else (a bare
    # repository too) is fetched into a cached bare clone first
    local = scheme_path is not None and os.path.exists(to_bytes(scheme_path) + b"/.git")
    actual = scheme_path if local and scheme_path is not None else inp.url

    if local and inp.ref is None and inp.rev is None:
        tree = _fetch_work_tree(ev, git, inp, actual)
        if tree is not None:
            return tree

    ref = inp.ref
    if ref is None:
        # Nix 2.8: the checked-out branch of a working tree, else "master"
        ref = git.out("-C", actual, "rev-parse", "--abbrev-ref", "HEAD") if local \
            else "master"
    if local:
        repo = to_bytes(actual)
        rev = inp.rev or git.out("-C", repo, "rev-parse", "--verify", ref + "^{commit}")
    else:
        repo, rev = _fetch_remote(ev, git, inp, ref)

    if not inp.shallow and \
            git.out("-C", repo, "rev-parse", "--is-shallow-repository") == "true":
        raise EvalError(
            f"'{to_text(actual)}' is a shallow Git repository, but a non-shallow repository "
            "is needed"
        )
    if not git.succeeds("-C", repo, "cat-file", "-e", rev + "^{commit}"):
        raise EvalError(
            f"Cannot find Git revision '{rev}' in ref '{to_text(ref)}' of repository "
            f"'{to_text(actual)}'! Please make sure that the rev exists on the ref you've "
            "specified or add allRefs = true; to fetchGit."
        )
    with tempfile.TemporaryDirectory(prefix="pynix-git-") as tmp:
        root = os.fsencode(tmp) + b"/tree"
        if inp.submodules:
            _export_with_submodules(git, repo, actual, rev, root, os.fsencode(tmp))
        else:
            _export(git, repo, rev, root)
        nar = _nar_sha256(root)
        path = ev.store.add_fetched(from_bytes(root), name=inp.name, recursive=True,
                                    sha256=nar.digest)
    last_modified = int(git.out("-C", repo, "log", "-1", "--format=%ct",
                                "--no-show-signature", rev))
    rev_count = None if inp.shallow else int(git.out("-C", repo, "rev-list", "--count", rev))
    return GitTree(path, nar, rev, rev_count, last_modified, ref)


def _fetch_work_tree(ev: Evaluator, git: Git, inp: GitInput, repo_path: str) -> GitTree | None:
    """A local working tree with uncommitted changes, as it is (None when clean)."""
    repo = to_bytes(repo_path)
    has_commits = git.succeeds("-C", repo, "rev-parse", "--verify", "--quiet", "HEAD^{commit}")
    if has_commits:
        code, _ = git.run("-C", repo, "diff-index", "--quiet", "HEAD", "--", ok_codes=(0, 1))
        if code == 0:
            return None
    _warn(ev, f"Git tree '{to_text(repo_path)}' is dirty")
    listing: list[str | bytes] = ["-C", repo, "ls-files", "-z"]
    if inp.submodules:
        listing.append("--recurse-submodules")
    files = [f for f in git.run(*listing)[1].split(b"\0") if f]
    with tempfile.TemporaryDirectory(prefix="pynix-git-") as tmp:
        root = os.fsencode(tmp) + b"/tree"
        _copy_tracked(repo, files, root)
        nar = _nar_sha256(root)
        path = ev.store.add_fetched(from_bytes(root), name=inp.name, recursive=True,
                                    sha256=nar.digest)
    last_modified = 0
    if has_commits:
        last_modified = int(git.out("-C", repo, "log", "-1", "--format=%ct",
                                    "--no-show-signature", "HEAD"))
    return GitTree(path, nar, None, None, last_modified)


def _copy_tracked(repo: bytes, files: list[bytes], root: bytes) -> None:
    """Copy the tracked files of a working tree that exist (and the directories
    holding them) to ``root``, as Nix's filter over the tree keeps them."""
    os.mkdir(root, 0o755)
    made: set[bytes] = {b""}
    for rel in sorted(files):
        parts = rel.split(b"/")
        # every directory on the way must be a real directory in the tree
        prefix = b""
        usable = True
        for part in parts[:-1]:
            prefix = prefix + b"/" + part if prefix else part
            if prefix in made:
                continue
            if not os.path.isdir(repo + b"/" + prefix) or os.path.islink(repo + b"/" + prefix):
                usable = False
                break
            os.mkdir(root + b"/" + prefix, 0o755)
            made.add(prefix)
        if not usable:
            continue
        src = repo + b"/" + rel
        dst = root + b"/" + rel
        try:
            mode = os.lstat(src).st_mode
        except FileNotFoundError:
            continue
        if stat.S_ISLNK(mode):
            os.symlink(os.readlink(src), dst)
        elif stat.S_ISREG(mode):
            shutil.copyfile(src, dst, follow_symlinks=False)
            os.chmod(dst, 0o755 if mode & stat.S_IXUSR else 0o644)
        # a tracked name that is now a directory (or a submodule) is left out


def _fetch_remote(ev: Evaluator, git: Git, inp: GitInput, ref: str) -> tuple[bytes, str]:
    """Bring ``ref`` (or the wanted rev) into the cached bare clone; (clone, rev)."""
    from ...compat.hashing import hash_bytes

    cache = os.path.join(_cache_root(ev), hash_bytes("sha256", to_bytes(inp.url)).to_nix32())
    repo = os.fsencode(cache)
    os.makedirs(os.path.dirname(cache), exist_ok=True)
    with _locked(cache + ".lock"):
        if not os.path.isdir(cache):
            git.run("init", "--bare", "--quiet", repo)
        local_ref = ref if ref.startswith("refs/") else "refs/heads/" + ref
        if inp.rev is not None:
            need = not git.succeeds("-C", repo, "cat-file", "-e", inp.rev + "^{commit}")
        else:
            need = True
        if need:
            if inp.all_refs:
                spec = "refs/*:refs/*"
            elif ref == "HEAD":
                spec = "HEAD:" + local_ref
            else:
                spec = f"{local_ref}:{local_ref}"
            try:
                git.run("-C", repo, "fetch", "--quiet", "--force", "--", inp.url, spec)
            except GitError:
                if not git.succeeds("-C", repo, "rev-parse", "--verify", "--quiet", local_ref):
                    raise
                _warn(ev, f"could not update local clone of Git repository "
                          f"'{to_text(inp.url)}'; continuing with the most recent version")
        rev = inp.rev or git.out("-C", repo, "rev-parse", "--verify", local_ref + "^{commit}")
    return repo, rev


@contextlib.contextmanager
def _locked(path: str) -> Iterator[None]:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _export(git: Git, repo: bytes, rev: str, root: bytes) -> None:
    """The tree of ``rev`` as ``git archive`` gives it (export-ignore and
    export-subst apply, as in Nix)."""
    proc = subprocess.Popen([b"git", b"-C", repo, b"archive", b"--format=tar", to_bytes(rev)],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    os.mkdir(root, 0o755)
    failure = None
    try:
        with tarfile.open(fileobj=proc.stdout, mode="r|", encoding="utf-8",
                          errors="surrogateescape") as tf:
            extract_tar(tf, root)
    except ArchiveError as e:
        failure = str(e)
    except _BROKEN as e:
        failure = f"failed to extract archive ({e})"
    finally:
        proc.stdout.close()
        err = proc.stderr.read()
        proc.stderr.close()
        code = proc.wait()
    if code != 0:
        git.ev.stderr.write(err)
        raise GitError(f"program 'git' failed with exit code {code}")
    if failure is not None:
        raise EvalError(failure)


def _export_with_submodules(git: Git, repo: bytes, actual: str, rev: str, root: bytes,
                            tmp: bytes) -> None:
    """Check ``rev`` out with its submodules and keep everything but ``.git``."""
    git_dir = tmp + b"/gitdir"
    git.run("init", "--quiet", b"--separate-git-dir=" + git_dir, root)
    git.run("-C", root, "fetch", "--quiet", "--force", "--update-head-ok", "--", repo,
            "refs/*:refs/*")
    git.run("-C", root, "checkout", "--quiet", rev)
    git.run("-C", root, "remote", "add", "origin", actual)
    git.run("-C", root, "submodule", "--quiet", "update", "--init", "--recursive")
    for top, dirs, files in os.walk(root):
        for name in (*dirs, *files):
            if name == b".git":
                _replace(top + b"/" + name)
        dirs[:] = [d for d in dirs if d != b".git"]


_ZERO_REV: Final = "0" * 40


def _git_tree(ev: Evaluator, inp: GitInput) -> GitTree:
    if ev.pure and inp.rev is None:
        raise EvalError("in pure evaluation mode, 'fetchTree' requires a locked input")
    memo = _memo(ev)
    key = ("git", json.dumps(inp.given, sort_keys=True))
    tree = memo.get(key)
    if tree is None:
        tree = memo[key] = fetch_git(ev, inp)
    _check_git_result(inp, tree)
    return tree


def _git_result(inp: GitInput, tree: GitTree, fallback: bool) -> dict[str, Any]:
    """fetchGit's attributes; ``fallback`` gives a dirty tree zero revisions, as
    fetchGit does (fetchTree leaves them out)."""
    result: dict[str, Any] = {"outPath": _path_value(tree.path)}
    rev = tree.rev or (_ZERO_REV if fallback else None)
    if rev is not None:
        result["rev"] = rev
        result["shortRev"] = rev[:7]
    result["submodules"] = inp.submodules
    if tree.rev_count is not None or fallback:
        result["revCount"] = tree.rev_count or 0
    result["lastModified"] = tree.last_modified
    result["lastModifiedDate"] = time.strftime("%Y%m%d%H%M%S", time.gmtime(tree.last_modified))
    result["narHash"] = tree.nar_hash.to_sri()
    return result


@eval_primop("fetchGit", 1)
def fetch_git_primop(ev: Evaluator, arg: Any) -> dict[str, Any]:
    inp = _git_args(ev, arg)
    return _git_result(inp, _git_tree(ev, inp), fallback=True)


def _check_git_result(inp: GitInput, tree: GitTree) -> None:
    if inp.nar_hash is not None and inp.nar_hash != tree.nar_hash:
        raise EvalError(
            f"NAR hash mismatch in input '{to_text(inp.describe())}' ({tree.path}), expected "
            f"'{inp.nar_hash.to_sri()}', got '{tree.nar_hash.to_sri()}'"
        )
    locked = GitInput(url=inp.url, ref=tree.ref, rev=tree.rev, shallow=inp.shallow)
    for attr, wanted, got in (("revCount", inp.rev_count, tree.rev_count),
                              ("lastModified", inp.last_modified, tree.last_modified)):
        if wanted is not None and wanted != got:
            raise EvalError(
                f"'{attr}' attribute mismatch in input '{to_text(locked.describe(True))}', "
                f"expected {wanted}"
            )


# ---------------------------------------------------------------------------
# fetchTree (experimental in Nix 2.8: the "git" and "tarball" inputs)

_ARCHIVE_SUFFIXES: Final = (".zip", ".tar", ".tgz", ".tar.gz", ".tar.xz", ".tar.bz2",
                            ".tar.zst")
_GIT_QUERY: Final = {"ref": str, "rev": str, "shallow": bool, "submodules": bool,
                     "allRefs": bool}


@eval_primop("fetchTree", 1)
def fetch_tree(ev: Evaluator, arg: Any) -> dict[str, Any]:
    if "flakes" not in getattr(ev, "experimental_features", ()):
        raise EvalError("experimental Nix feature 'flakes' is disabled; use "
                        "'--extra-experimental-features flakes' to override")
    v = _f(arg)
    if type(v) is dict:
        raw = _input_attrs(ev, v, True)
        if "type" not in raw:
            raise EvalError("attribute 'type' is missing in call to 'fetchTree'")
        if "name" in raw:
            raise EvalError("attribute 'name' isn't supported in call to 'fetchTree'")
    else:
        raw = _tree_url(_url_of(ev, v))
    kind = raw["type"]
    if kind == "git":
        inp = _git_input(raw)
        return _git_result(inp, _git_tree(ev, inp), fallback=False)
    if kind == "tarball":
        return _tarball_tree(ev, raw)
    shown = json.dumps(raw, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    raise EvalError(f"cannot fetch unsupported input '{to_text(shown)}'")


def _tree_url(url: str) -> dict[str, Any]:
    """fetchTree's attributes for a URL: ``git+...`` or an archive."""
    if "://" not in url:
        url = "file://" + url
    scheme = url.split("://", 1)[0]
    if scheme.startswith("git+") or scheme == "git":
        base, _, query = url.partition("?")
        raw: dict[str, Any] = {"type": "git"}
        kept: list[tuple[str, str]] = []
        for key, value in urllib.parse.parse_qsl(query, keep_blank_values=True):
            kind = _GIT_QUERY.get(key)
            if kind is None:
                kept.append((key, value))
            else:
                raw[key] = value == "1" if kind is bool else value
        base = base.removeprefix("git+")
        raw["url"] = base + ("?" + urllib.parse.urlencode(kept) if kept else "")
        return raw
    path = url.split("?", 1)[0]
    if scheme in ("file", "http", "https") and path.endswith(_ARCHIVE_SUFFIXES):
        return {"type": "tarball", "url": url}
    raise EvalError(f"input '{to_text(url)}' is unsupported")


def _tarball_tree(ev: Evaluator, raw: dict[str, Any]) -> dict[str, Any]:
    for key in sorted(raw):
        if key not in ("type", "url", "narHash"):
            raise EvalError(f"unsupported tarball input attribute '{to_text(key)}'")
    url = raw.get("url")
    if type(url) is not str:
        raise EvalError("input attribute 'url' is missing")
    if "://" not in url:
        url = "file://" + url
    expected: Hash | None = None
    if "narHash" in raw:
        try:
            expected = Hash.parse(to_compat(str(raw["narHash"])), "sha256")
        except BadHash as e:
            raise EvalError(str(e)) from None
    elif ev.pure:
        raise EvalError("in pure evaluation mode, 'fetchTree' requires a locked input")
    if expected is not None:
        pinned = _fixed_path(ev, "source", expected, True)
        if ev.store.is_valid_path(pinned):
            return {"outPath": _path_value(pinned), "narHash": expected.to_sri()}
    path = fetch_url(ev, url, "source", None, unpack=True)
    got: Hash = _memo(ev)["sha256", path]
    if expected is not None and got != expected:
        raise EvalError(
            f"NAR hash mismatch in input '{to_text(url)}?narHash={expected.to_sri()}' "
            f"({path}), expected '{expected.to_sri()}', got '{got.to_sri()}'"
        )
    return {"outPath": _path_value(path), "narHash": got.to_sri()}
