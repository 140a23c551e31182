"""A private apt configuration: the machine's Debian archive, base suite only.

pynix pins Debian packages by version and hash.  Those pins must stay
fetchable, so they come from the *base suite* of the machine's release
(``bookworm``, not ``bookworm-updates`` or ``bookworm-security``): a stable
release's main suite only changes at point releases.  The mirrors are the ones
the machine's own apt sources name (``/etc/apt/sources.list`` and
``sources.list.d/*.list``/``*.sources``), with their keyring options; pynix
never names a host itself.

Everything apt keeps for this configuration -- the lists, its binary caches,
an empty dpkg status -- lives in a cache directory of its own
(``$PYNIX_APT_DIR``, else ``$XDG_CACHE_HOME/pynix/apt``, else
``~/.cache/pynix/apt``), so that nothing here ever touches the machine's apt
state.  The lists are refreshed when they are missing, older than a day, when
the machine's sources change, or when asked; a file lock keeps two processes
from updating at once.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import glob
import hashlib
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final

MAX_AGE: Final = 24 * 3600.0
# how long one apt command may take (an update downloads ~20 MB)
TIMEOUT: Final = 900.0

# one-line option names and their deb822 field names
_OPTION_FIELDS: Final = {
    "arch": "Architectures",
    "lang": "Languages",
    "target": "Targets",
    "signed-by": "Signed-By",
    "trusted": "Trusted",
    "pdiffs": "PDiffs",
    "by-hash": "By-Hash",
    "check-valid-until": "Check-Valid-Until",
    "valid-until-min": "Valid-Until-Min",
    "valid-until-max": "Valid-Until-Max",
    "check-date": "Check-Date",
    "date-max-future": "Date-Max-Future",
    "inrelease-path": "InRelease-Path",
    "allow-insecure": "Allow-Insecure",
    "allow-weak": "Allow-Weak",
    "allow-downgrade-to-insecure": "Allow-Downgrade-To-Insecure",
}
# fields of a deb822 source stanza that are not options
_STANZA_FIELDS: Final = frozenset({"types", "uris", "suites", "components", "enabled"})


class AptError(Exception):
    """An apt operation failed; the message says which and why."""


# -- Debian versions and relations -----------------------------------------------------


def _order(c: str) -> int:
    """The weight of one character of a non-digit run (``~`` sorts before the end)."""
    if c == "" or c.isdigit():
        return 0
    if c == "~":
        return -1
    if c.isascii() and c.isalpha():
        return ord(c)
    return ord(c) + 256


def _compare_part(a: str, b: str) -> int:
    i = j = 0
    while i < len(a) or j < len(b):
        while (i < len(a) and not a[i].isdigit()) or (j < len(b) and not b[j].isdigit()):
            ac = _order(a[i] if i < len(a) else "")
            bc = _order(b[j] if j < len(b) else "")
            if ac != bc:
                return -1 if ac < bc else 1
            i += 1
            j += 1
        i0 = i
        while i < len(a) and a[i].isdigit():
            i += 1
        j0 = j
        while j < len(b) and b[j].isdigit():
            j += 1
        na, nb = int(a[i0:i] or "0"), int(b[j0:j] or "0")
        if na != nb:
            return -1 if na < nb else 1
    return 0


def _split_version(v: str) -> tuple[int, str, str]:
    epoch, sep, rest = v.partition(":")
    if not sep or not epoch.isdigit():
        epoch, rest = "0", v
    upstream, sep, revision = rest.rpartition("-")
    if not sep:
        upstream, revision = rest, ""
    return int(epoch), upstream, revision


def compare_versions(a: str, b: str) -> int:
    """-1, 0 or 1 as Debian version ``a`` sorts before, with or after ``b``."""
    ea, ua, ra = _split_version(a)
    eb, ub, rb = _split_version(b)
    if ea != eb:
        return -1 if ea < eb else 1
    return _compare_part(ua, ub) or _compare_part(ra, rb)


version_key = functools.cmp_to_key(compare_versions)

_OPS: Final = {"<<": (-1,), "<=": (-1, 0), "<": (-1, 0), "=": (0,), ">=": (0, 1),
               ">": (0, 1), ">>": (1,)}


@dataclass(frozen=True)
class Relation:
    """One alternative of a dependency: ``name[:arch] [(op version)]``."""

    name: str
    op: str = ""
    version: str = ""
    arch: str = ""

    def satisfied_by(self, version: str) -> bool:
        """Whether ``version`` meets the constraint (always true without one)."""
        if not self.op:
            return True
        return compare_versions(version, self.version) in _OPS.get(self.op, ())

    def __str__(self) -> str:
        qual = f":{self.arch}" if self.arch else ""
        return f"{self.name}{qual} ({self.op} {self.version})" if self.op else self.name + qual


_RELATION: Final = re.compile(
    r"^\s*([^\s:(\[<]+)(?::(\S+?))?\s*(?:\(\s*(<<|<=|>=|>>|=|<|>)\s*([^)\s]+)\s*\))?"
    r"\s*(?:\[[^\]]*\])?\s*(?:<[^>]*>\s*)*$")


def parse_relations(text: str) -> tuple[tuple[Relation, ...], ...]:
    """A ``Depends``-style field: groups of alternatives (``a | b, c``)."""
    groups = []
    for group_text in text.split(","):
        if not group_text.strip():
            continue
        alts = []
        for alt in group_text.split("|"):
            m = _RELATION.match(alt)
            if m is None:
                continue
            name, arch, op, version = m.groups()
            alts.append(Relation(name, op or "", version or "", arch or ""))
        if alts:
            groups.append(tuple(alts))
    return tuple(groups)


# -- the machine's sources ---------------------------------------------------------------


@dataclass(frozen=True)
class SourceEntry:
    """One source of the machine's apt configuration, in deb822 terms."""

    types: tuple[str, ...]
    uris: tuple[str, ...]
    suites: tuple[str, ...]
    components: tuple[str, ...]
    # other fields (Signed-By, Architectures...) with their text as written
    options: tuple[tuple[str, str], ...] = ()
    origin: str = ""


def parse_deb822(text: str) -> list[dict[str, str]]:
    """Stanzas of a deb822 file (``#`` comments dropped, continuation lines
    kept with their leading space); field names keep their spelling."""
    stanzas: list[dict[str, str]] = []
    current: dict[str, str] = {}
    last: str | None = None
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        if not line.strip():
            if current:
                stanzas.append(current)
            current, last = {}, None
            continue
        if line[0] in " \t":
            if last is not None:
                current[last] += "\n" + line
            continue
        name, sep, value = line.partition(":")
        if not sep:
            continue
        last = name.strip()
        current[last] = value.strip()
    if current:
        stanzas.append(current)
    return stanzas


def _words(value: str) -> tuple[str, ...]:
    return tuple(value.split())


def _from_stanza(stanza: Mapping[str, str], origin: str) -> SourceEntry | None:
    lowered = {k.lower(): v for k, v in stanza.items()}
    if lowered.get("enabled", "yes").strip().lower() == "no":
        return None
    options = tuple((k, v) for k, v in stanza.items() if k.lower() not in _STANZA_FIELDS)
    return SourceEntry(
        types=_words(lowered.get("types", "")),
        uris=_words(lowered.get("uris", "")),
        suites=_words(lowered.get("suites", "")),
        components=_words(lowered.get("components", "")),
        options=options,
        origin=origin,
    )


_ONE_LINE: Final = re.compile(r"^\s*(deb|deb-src)\s+(?:\[([^\]]*)\]\s+)?(\S+)\s+(\S+)\s*(.*)$")


def parse_one_line(text: str, origin: str = "") -> list[SourceEntry]:
    """Entries of a ``sources.list`` file (``deb [opts] URI SUITE COMPONENT...``)."""
    entries = []
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        m = _ONE_LINE.match(line)
        if m is None:
            continue
        kind, opts, uri, suite, comps = m.groups()
        options: list[tuple[str, str]] = []
        for opt in (opts or "").split():
            key, sep, value = opt.partition("=")
            if not sep:
                continue
            key = key.rstrip("+-").lower()
            name = _OPTION_FIELDS.get(key, "-".join(p.capitalize() for p in key.split("-")))
            options.append((name, value.replace(",", " ")))
        entries.append(SourceEntry((kind,), (uri,), (suite,), _words(comps), tuple(options),
                                   origin))
    return entries


def machine_sources(etc_dir: str = "/etc/apt") -> list[SourceEntry]:
    """The enabled sources of the machine's apt configuration."""
    entries: list[SourceEntry] = []
    main = os.path.join(etc_dir, "sources.list")
    files = ([main] if os.path.exists(main) else []) + sorted(
        glob.glob(os.path.join(etc_dir, "sources.list.d", "*.list"))
        + glob.glob(os.path.join(etc_dir, "sources.list.d", "*.sources")))
    for path in files:
        try:
            with open(path, encoding="utf-8", errors="replace") as fh:
                text = fh.read()
        except OSError:
            continue
        if path.endswith(".sources"):
            for stanza in parse_deb822(text):
                entry = _from_stanza(stanza, path)
                if entry is not None:
                    entries.append(entry)
        else:
            entries.extend(parse_one_line(text, path))
    return entries


def machine_release(os_release: str = "/etc/os-release") -> str | None:
    """The machine's release codename (``VERSION_CODENAME``), if it says."""
    try:
        with open(os_release, encoding="utf-8", errors="replace") as fh:
            for line in fh:
                key, _, value = line.strip().partition("=")
                if key == "VERSION_CODENAME":
                    return value.strip().strip("\"'") or None
    except OSError:
        pass
    return None


def private_sources(entries: Iterable[SourceEntry], release: str) -> list[SourceEntry]:
    """The entries that serve ``release`` itself, as ``deb deb-src`` entries of that
    suite only (one per mirror and options, components merged, first seen first)."""
    merged: dict[tuple[str, tuple[tuple[str, str], ...]], list[str]] = {}
    for entry in entries:
        if release not in entry.suites or not ({"deb", "deb-src"} & set(entry.types)):
            continue
        for uri in entry.uris:
            comps = merged.setdefault((uri.rstrip("/"), entry.options), [])
            comps.extend(c for c in entry.components if c not in comps)
    return [SourceEntry(("deb", "deb-src"), (uri,), (release,), tuple(comps), options)
            for (uri, options), comps in merged.items()]


def render_sources(entries: Sequence[SourceEntry]) -> str:
    """The deb822 text of ``entries``."""
    stanzas = []
    for e in entries:
        lines = [f"Types: {' '.join(e.types)}", f"URIs: {' '.join(e.uris)}",
                 f"Suites: {' '.join(e.suites)}", f"Components: {' '.join(e.components)}"]
        lines += [f"{k}: {v}" for k, v in e.options]
        stanzas.append("\n".join(lines) + "\n")
    return "\n".join(stanzas)


# -- package records ---------------------------------------------------------------------


@dataclass(frozen=True)
class PackageRecord:
    """One version of a binary package, as ``apt-cache show`` describes it."""

    package: str
    version: str
    architecture: str
    sha256: str
    size: int
    filename: str
    depends: tuple[tuple[Relation, ...], ...] = ()
    pre_depends: tuple[tuple[Relation, ...], ...] = ()
    provides: tuple[Relation, ...] = ()
    description: str = ""
    multi_arch: str = ""
    essential: bool = False
    priority: str = ""
    source: str = ""
    fields: Mapping[str, str] = field(default_factory=dict, compare=False, repr=False)


def parse_records(text: str) -> list[PackageRecord]:
    """The package records of ``apt-cache show`` output."""
    records = []
    for stanza in parse_deb822(text):
        if "Package" not in stanza or "Version" not in stanza:
            continue
        try:
            size = int(stanza.get("Size", "0"))
        except ValueError:
            size = 0
        provides = tuple(alt for group in parse_relations(stanza.get("Provides", ""))
                         for alt in group)
        records.append(PackageRecord(
            package=stanza["Package"],
            version=stanza["Version"],
            architecture=stanza.get("Architecture", ""),
            sha256=stanza.get("SHA256", ""),
            size=size,
            filename=stanza.get("Filename", ""),
            depends=parse_relations(stanza.get("Depends", "")),
            pre_depends=parse_relations(stanza.get("Pre-Depends", "")),
            provides=provides,
            description=stanza.get("Description", "").split("\n", 1)[0],
            multi_arch=stanza.get("Multi-Arch", ""),
            essential=stanza.get("Essential", "no").lower() == "yes",
            priority=stanza.get("Priority", ""),
            source=stanza.get("Source", "").split(" ", 1)[0],
            fields=dict(stanza),
        ))
    return records


def parse_reverse_provides(text: str) -> dict[str, list[str]]:
    """Virtual package -> the packages that provide it, from ``apt-cache showpkg``."""
    result: dict[str, list[str]] = {}
    current: str | None = None
    in_section = False
    for line in text.splitlines():
        if line.startswith("Package: "):
            current = line.split(":", 1)[1].strip().split(":", 1)[0]
            result.setdefault(current, [])
            in_section = False
        elif line.startswith("Reverse Provides:"):
            in_section = True
        elif in_section and current is not None and line.strip():
            if line[0] not in " \t" and ":" in line.split(" ", 1)[0]:
                in_section = False
                continue
            name = line.split()[0].split(":", 1)[0]
            if name not in result[current]:
                result[current].append(name)
        elif not line.strip():
            in_section = False
    return result


# -- the private configuration -----------------------------------------------------------


def default_apt_dir(env: Mapping[str, str] | None = None) -> str:
    env = os.environ if env is None else env
    if env.get("PYNIX_APT_DIR"):
        return env["PYNIX_APT_DIR"]
    home = env.get("HOME") or os.path.expanduser("~")
    cache = env.get("XDG_CACHE_HOME") or os.path.join(home, ".cache")
    return os.path.join(cache, "pynix", "apt")


def _stderr_summary(text: str) -> str:
    """apt's error lines (``E: ...``), else its last lines."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith(("E:", "Err:"))]
    return "; ".join(errors or lines[-3:]) or "no message"


class PrivateApt:
    """apt-get and apt-cache run against the private configuration in ``root``."""

    def __init__(
        self,
        root: str | None = None,
        *,
        etc_dir: str = "/etc/apt",
        os_release: str = "/etc/os-release",
        release: str | None = None,
        env: Mapping[str, str] | None = None,
        max_age: float = MAX_AGE,
    ) -> None:
        self.root = os.path.abspath(root or default_apt_dir(env))
        self.etc_dir = etc_dir
        self.os_release = os_release
        self._last_stderr = ""
        self._stale_ok = False
        self._release = release
        self.max_age = max_age
        self._sources: str | None = None
        self._arch: str | None = None

    # paths
    def path(self, *parts: str) -> str:
        return os.path.join(self.root, *parts)

    @property
    def release(self) -> str:
        if self._release is None:
            release = machine_release(self.os_release)
            if release is None:
                base = [s for e in machine_sources(self.etc_dir) for s in e.suites
                        if "-" not in s and "/" not in s]
                release = base[0] if base else None
            if release is None:
                raise AptError("cannot tell this machine's Debian release: /etc/os-release "
                               "has no VERSION_CODENAME and no apt source names a base suite")
            self._release = release
        return self._release

    def sources_text(self) -> str:
        """The private sources (deb822), derived from the machine's."""
        if self._sources is None:
            entries = private_sources(machine_sources(self.etc_dir), self.release)
            if not entries:
                raise AptError(
                    f"no apt source of this machine serves the suite '{self.release}' "
                    f"(looked in {self.etc_dir}/sources.list and "
                    f"{self.etc_dir}/sources.list.d/*.list, *.sources)")
            self._sources = render_sources(entries)
        return self._sources

    @property
    def native_arch(self) -> str:
        if self._arch is None:
            out = self._run(["apt-config", "shell", "A", "APT::Architecture"], what="apt-config")
            m = re.search(r"A='([^']*)'", out)
            self._arch = m.group(1) if m and m.group(1) else "amd64"
        return self._arch

    def _config_text(self) -> str:
        q = self.path
        lines = [
            # hooks of the machine's apt (PackageKit, docker clean-up) are not ours to run
            "#clear APT::Update::Pre-Invoke;",
            "#clear APT::Update::Post-Invoke;",
            "#clear APT::Update::Post-Invoke-Success;",
            "#clear DPkg::Pre-Invoke;",
            "#clear DPkg::Post-Invoke;",
            'Acquire::Languages "none";',
            f'Dir::Etc::SourceList "{q("sources.sources")}";',
            f'Dir::Etc::SourceParts "{q("empty")}";',
            f'Dir::Etc::Preferences "{q("empty", "preferences")}";',
            f'Dir::Etc::PreferencesParts "{q("empty")}";',
            f'Dir::State "{q("state")}";',
            f'Dir::State::Lists "{q("state", "lists")}";',
            f'Dir::State::status "{q("state", "status")}";',
            f'Dir::State::extended_states "{q("state", "extended_states")}";',
            f'Dir::Cache "{q("cache")}";',
            f'Dir::Cache::archives "{q("cache", "archives")}";',
            'Dir::Cache::pkgcache "pkgcache.bin";',
            'Dir::Cache::srcpkgcache "srcpkgcache.bin";',
            f'Dir::Log "{q("log")}";',
        ]
        if os.geteuid() == 0:
            # the _apt user may not reach a private cache under root's home
            lines.append('APT::Sandbox::User "root";')
        return "\n".join(lines) + "\n"

    def _setup(self) -> bool:
        """Write the configuration files; true when the sources changed."""
        for d in ("empty", "state/lists/partial", "cache/archives/partial", "log", "work"):
            os.makedirs(self.path(d), exist_ok=True)
        status = self.path("state", "status")
        if not os.path.exists(status):
            open(status, "w").close()
        changed = _write_if_changed(self.path("sources.sources"), self.sources_text())
        _write_if_changed(self.path("apt.conf"), self._config_text())
        return changed

    def _args(self) -> list[str]:
        return ["-c", self.path("apt.conf")]

    def _run(self, argv: list[str], *, what: str, cwd: str | None = None,
             check: bool = True, harmless: str | None = None) -> str:
        """Run an apt command; its output.  A failure is an error unless ``check``
        is false or every error line of it contains ``harmless``."""
        env = dict(os.environ)
        env.pop("APT_CONFIG", None)
        env["LC_ALL"] = "C.UTF-8"
        env["DEBIAN_FRONTEND"] = "noninteractive"
        try:
            proc = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True,
                                  errors="replace", timeout=TIMEOUT, check=False)
        except FileNotFoundError:
            raise AptError(f"{what}: '{argv[0]}' is not installed (pynix needs apt)") from None
        except subprocess.TimeoutExpired:
            raise AptError(f"{what}: '{argv[0]}' took longer than {TIMEOUT:.0f} s") from None
        errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("E:")]
        if harmless is not None and errors and all(harmless in ln for ln in errors):
            check = False
        if check and proc.returncode != 0:
            raise AptError(f"{what} failed: {_stderr_summary(proc.stderr)}")
        self._last_stderr = proc.stderr
        return proc.stdout

    @contextlib.contextmanager
    def _lock(self, exclusive: bool) -> Iterator[None]:
        os.makedirs(self.root, exist_ok=True)
        fd = os.open(self.path("lock"), os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
            yield
        finally:
            os.close(fd)

    # the lists
    def _stamp(self) -> str:
        return self.path("state", "updated")

    def is_fresh(self) -> bool:
        try:
            with open(self._stamp(), encoding="utf-8") as fh:
                digest = fh.read().strip()
            age = time.time() - os.stat(self._stamp()).st_mtime
        except OSError:
            return False
        return (digest == hashlib.sha256(self.sources_text().encode()).hexdigest()
                and 0 <= age < self.max_age)

    def _stamp_digest(self) -> str | None:
        try:
            with open(self._stamp(), encoding="utf-8") as fh:
                return fh.read().strip()
        except OSError:
            return None

    def ensure_updated(self, refresh: bool = False) -> bool:
        """Fetch the lists if missing, stale or asked for; true when it did.

        When lists of the same sources are merely older than a day and
        fetching new ones fails (no network), the old ones are used: pins are
        checked by hash anyway.
        """
        if not refresh and (self._stale_ok or (os.path.exists(self.path("apt.conf"))
                                               and self.is_fresh())):
            self._setup()
            return False
        with self._lock(exclusive=True):
            self._setup()
            if not refresh and self.is_fresh():  # another process just did it
                return False
            digest = hashlib.sha256(self.sources_text().encode()).hexdigest()
            have_old = self._stamp_digest() == digest
            try:
                self._run(["apt-get", *self._args(), "-q", "update"],
                          what=f"apt-get update of the '{self.release}' lists")
                failed = [ln for ln in self._last_stderr.splitlines()
                          if ln.startswith(("E:", "W: Failed", "Err:"))]
                if failed:
                    raise AptError(f"apt-get update of the '{self.release}' lists failed: "
                                   + "; ".join(failed))
            except AptError:
                if have_old and not refresh:
                    self._stale_ok = True
                    return False
                raise
            with open(self._stamp(), "w", encoding="utf-8") as fh:
                fh.write(digest + "\n")
            return True

    # queries
    def show(self, names: Sequence[str]) -> list[PackageRecord]:
        """Every record of the named packages the archive has (no error for a name
        it lacks or that is only virtual)."""
        if not names:
            return []
        self.ensure_updated()
        with self._lock(exclusive=False):
            out = self._run(["apt-cache", *self._args(), "show", "--", *names],
                            what="apt-cache show", harmless="No packages found")
        return parse_records(out)

    def records(self, name: str, arch: str | None = None) -> list[PackageRecord]:
        """The records of ``name`` for ``arch`` (default: native or ``all``),
        highest version first, one per version."""
        return select_arch(self.show([name]), name, arch, self.native_arch)

    def providers(self, names: Sequence[str]) -> dict[str, list[str]]:
        """Virtual package -> the real packages that declare they provide it."""
        if not names:
            return {}
        self.ensure_updated()
        with self._lock(exclusive=False):
            out = self._run(["apt-cache", *self._args(), "showpkg", "--", *names],
                            what="apt-cache showpkg", harmless="No packages found")
        return parse_reverse_provides(out)

    def _spec(self, name: str, version: str, arch: str | None) -> str:
        if arch and arch not in ("all", self.native_arch):
            return f"{name}:{arch}={version}"
        return f"{name}={version}"

    def download(self, name: str, version: str, dest_dir: str, arch: str | None = None) -> str:
        """Download the ``.deb`` of ``name`` at ``version`` into ``dest_dir``; its path."""
        self.ensure_updated()
        with self._lock(exclusive=False), self._workdir() as work:
            self._run(["apt-get", *self._args(), "-q", "download", "--",
                       self._spec(name, version, arch)], cwd=work,
                      what=f"downloading Debian package '{name}' version '{version}'")
            debs = [f for f in os.listdir(work) if f.endswith(".deb")]
            if len(debs) != 1:
                raise AptError(f"downloading Debian package '{name}' version '{version}' "
                               f"gave {len(debs)} files instead of one .deb")
            os.makedirs(dest_dir, exist_ok=True)
            target = os.path.join(dest_dir, debs[0])
            shutil.move(os.path.join(work, debs[0]), target)
            return target

    def source_download(self, name: str, version: str, dest: str) -> list[str]:
        """Download the source package ``name`` at ``version`` (``.dsc`` first, then
        its tarballs) into ``dest``; their paths."""
        self.ensure_updated()
        with self._lock(exclusive=False), self._workdir() as work:
            self._run(["apt-get", *self._args(), "-q", "source", "--download-only", "--",
                       f"{name}={version}"], cwd=work,
                      what=f"downloading Debian source package '{name}' version '{version}'")
            files = sorted(os.listdir(work), key=lambda f: (not f.endswith(".dsc"), f))
            if not any(f.endswith(".dsc") for f in files):
                raise AptError(f"downloading Debian source package '{name}' version "
                               f"'{version}' gave no .dsc file")
            os.makedirs(dest, exist_ok=True)
            paths = []
            for f in files:
                shutil.move(os.path.join(work, f), os.path.join(dest, f))
                paths.append(os.path.join(dest, f))
            return paths

    @contextlib.contextmanager
    def _workdir(self) -> Iterator[str]:
        """A fresh directory under the cache dir for apt to download into."""
        os.makedirs(self.path("work"), exist_ok=True)
        work = tempfile.mkdtemp(prefix="dl-", dir=self.path("work"))
        os.chmod(work, 0o755)
        try:
            yield work
        finally:
            shutil.rmtree(work, ignore_errors=True)


def select_arch(records: Iterable[PackageRecord], name: str, arch: str | None,
                native: str) -> list[PackageRecord]:
    """The records of ``name`` for ``arch`` (default: ``native`` or ``all``), one per
    version, highest first."""
    wanted = {arch} if arch else {native, "all"}
    by_version: dict[str, PackageRecord] = {}
    for r in records:
        if r.package == name and r.architecture in wanted:
            by_version.setdefault(r.version, r)
    return sorted(by_version.values(), key=lambda r: version_key(r.version), reverse=True)


def _write_if_changed(path: str, text: str) -> bool:
    try:
        with open(path, encoding="utf-8") as fh:
            if fh.read() == text:
                return False
    except OSError:
        pass
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.replace(tmp, path)
    return True
