"""``.narinfo`` files of binary caches and the fingerprint their signatures cover.

A narinfo is ``Key: value`` lines.  Nix writes the keys in a fixed order
(StorePath, URL, Compression, FileHash, FileSize, NarHash, NarSize, References,
Deriver, System, Sig..., CA); readers ignore keys they do not know.
References and the deriver are base names; the fingerprint uses full paths.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from .hashing import BadHash, Hash, HashFormat
from .signing import PublicKey, SecretKey, verify_signatures
from .storepath import STORE_DIR, BadStorePath, StorePath

DEFAULT_COMPRESSION = "bzip2"  # what a narinfo without Compression: means
_UNKNOWN_DERIVER = "unknown-deriver"


class BadNarInfo(ValueError):
    pass


def fingerprint(store_path: str, nar_hash: Hash, nar_size: int, references: Iterable[str]) -> str:
    """The message a path's signatures sign: ``1;path;sha256:nix32;size;refs``.

    ``store_path`` and ``references`` are full store paths.
    """
    if nar_hash.algo != "sha256":
        raise BadHash("a signature fingerprint needs a sha256 NAR hash")
    refs = ",".join(sorted(set(references)))
    return f"1;{store_path};{nar_hash.to_prefixed(HashFormat.NIX32)};{nar_size};{refs}"


@dataclass(slots=True)
class NarInfo:
    store_path: str
    url: str
    nar_hash: Hash
    nar_size: int
    compression: str = DEFAULT_COMPRESSION
    file_hash: Hash | None = None
    file_size: int | None = None
    references: list[str] = field(default_factory=list)  # base names
    deriver: str | None = None  # base name
    system: str | None = None
    sigs: list[str] = field(default_factory=list)
    ca: str | None = None

    @classmethod
    def parse(cls, text: str, store_dir: str = STORE_DIR, where: str = "") -> NarInfo:
        """Parse narinfo text; ``where`` names the file in error messages."""
        fields: dict[str, str] = {}
        sigs: list[str] = []
        label = f"NAR info file '{where}'" if where else "NAR info file"

        def corrupt(reason: str) -> BadNarInfo:
            return BadNarInfo(f"{label} is corrupt: {reason}")

        for line in text.splitlines():
            if not line:
                continue
            key, sep, value = line.partition(": ")
            if not sep:
                if line.endswith(":"):  # e.g. an empty "References:" stripped of its space
                    key, value = line[:-1], ""
                else:
                    raise corrupt(f"line '{line}' is not 'Key: value'")
            if key == "Sig":
                sigs.append(value)
            else:
                fields[key] = value

        for required in ("StorePath", "URL", "NarHash", "NarSize"):
            if required not in fields:
                raise corrupt(f"it lacks {required}")
        try:
            StorePath.parse(fields["StorePath"], store_dir)
            references = [
                str(StorePath.from_base_name(r)) for r in fields.get("References", "").split()
            ]
            deriver = fields.get("Deriver")
            if deriver == _UNKNOWN_DERIVER:
                deriver = None
            elif deriver is not None:
                StorePath.from_base_name(deriver)
            nar_hash = Hash.parse_prefixed(fields["NarHash"])
            file_hash = Hash.parse_prefixed(fields["FileHash"]) if "FileHash" in fields else None
            nar_size = _parse_size(fields["NarSize"])
            file_size = _parse_size(fields["FileSize"]) if "FileSize" in fields else None
        except (BadStorePath, BadHash, ValueError) as e:
            raise corrupt(str(e)) from None
        if nar_size == 0:
            raise corrupt("NarSize is 0")
        return cls(
            store_path=fields["StorePath"],
            url=fields["URL"],
            nar_hash=nar_hash,
            nar_size=nar_size,
            compression=fields.get("Compression") or DEFAULT_COMPRESSION,
            file_hash=file_hash,
            file_size=file_size,
            references=references,
            deriver=deriver,
            system=fields.get("System") or None,
            sigs=sigs,
            ca=fields.get("CA") or None,
        )

    def to_text(self) -> str:
        """The narinfo as Nix writes it (every line ends with a newline)."""
        lines = [
            f"StorePath: {self.store_path}",
            f"URL: {self.url}",
            f"Compression: {self.compression}",
        ]
        if self.file_hash is not None:
            lines.append(f"FileHash: {self.file_hash.to_prefixed(HashFormat.NIX32)}")
        if self.file_size is not None:
            lines.append(f"FileSize: {self.file_size}")
        lines.append(f"NarHash: {self.nar_hash.to_prefixed(HashFormat.NIX32)}")
        lines.append(f"NarSize: {self.nar_size}")
        lines.append(f"References: {' '.join(sorted(set(self.references)))}")
        if self.deriver is not None:
            lines.append(f"Deriver: {self.deriver}")
        if self.system:
            lines.append(f"System: {self.system}")
        lines.extend(f"Sig: {sig}" for sig in self.sigs)
        if self.ca is not None:
            lines.append(f"CA: {self.ca}")
        return "".join(line + "\n" for line in lines)

    @property
    def hash_part(self) -> str:
        """The 32-character hash part, which names the ``<hash>.narinfo`` file."""
        return StorePath.parse(self.store_path, self._store_dir()).hash_part

    def _store_dir(self) -> str:
        return self.store_path.rsplit("/", 1)[0]

    def reference_paths(self) -> list[str]:
        """References as full store paths."""
        return [f"{self._store_dir()}/{r}" for r in sorted(set(self.references))]

    def fingerprint(self) -> str:
        return fingerprint(self.store_path, self.nar_hash, self.nar_size, self.reference_paths())

    def sign(self, key: SecretKey) -> str:
        """Add (and return) ``key``'s signature, unless it is already there."""
        signature = key.sign(self.fingerprint())
        if signature not in self.sigs:
            self.sigs.append(signature)
        return signature

    def is_signed_by(self, trusted: Iterable[PublicKey]) -> bool:
        """True if any ``Sig`` verifies with one of the ``trusted`` keys."""
        return verify_signatures(self.fingerprint(), self.sigs, trusted)


def _parse_size(text: str) -> int:
    if not text.isdigit() or not text.isascii():
        raise ValueError(f"'{text}' is not a size")
    return int(text)
