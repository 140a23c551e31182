"""Content addresses: ``text:sha256:<nix32>``, ``fixed:[r:]<algo>:<nix32>``.

They appear as narinfo ``CA:`` lines and in path-info, and they determine the
store path of a content-addressed path (together with its name and references).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final, Literal

from .hashing import BadHash, Hash, HashFormat
from .storepath import STORE_DIR, make_fixed_output_path, make_text_path

IngestionMethod = Literal["text", "flat", "recursive"]

_METHOD_PREFIX: Final[dict[IngestionMethod, str]] = {
    "text": "text:",
    "flat": "fixed:",
    "recursive": "fixed:r:",
}


class BadContentAddress(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class ContentAddress:
    method: IngestionMethod
    hash: Hash

    def __post_init__(self) -> None:
        if self.method == "text" and self.hash.algo != "sha256":
            raise BadContentAddress("text content addresses must use sha256")

    @classmethod
    def parse(cls, text: str) -> ContentAddress:
        method: IngestionMethod
        if text.startswith("text:"):
            method, rest = "text", text[len("text:") :]
        elif text.startswith("fixed:r:"):
            method, rest = "recursive", text[len("fixed:r:") :]
        elif text.startswith("fixed:"):
            method, rest = "flat", text[len("fixed:") :]
        else:
            raise BadContentAddress(f"content address '{text}' has an unknown prefix")
        algo, sep, digest = rest.partition(":")
        if not sep:
            raise BadContentAddress(f"content address '{text}' lacks a hash algorithm")
        try:
            hash_ = Hash.parse_unprefixed(digest, algo)
        except BadHash as e:
            raise BadContentAddress(f"content address '{text}': {e}") from None
        return cls(method, hash_)

    def __str__(self) -> str:
        return _METHOD_PREFIX[self.method] + self.hash.to_prefixed(HashFormat.NIX32)

    def store_path(
        self,
        name: str,
        references: Iterable[str] = (),
        self_reference: bool = False,
        store_dir: str = STORE_DIR,
    ) -> str:
        """The store path this content address gives a path named ``name``."""
        if self.method == "text":
            if self_reference:
                raise BadContentAddress("a text path cannot refer to itself")
            return make_text_path(name, self.hash.digest, references, store_dir)
        return make_fixed_output_path(
            name,
            self.hash,
            self.method == "recursive",
            references,
            self_reference,
            store_dir,
        )
