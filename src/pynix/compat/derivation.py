"""Derivations: the ``.drv`` ATerm text, its store path, and output paths.

Strings are Python ``str``; bytes that are not UTF-8 travel as surrogate
escapes, so ``parse(text).to_bytes() == text`` holds for any bytes.  All
ordering is by raw bytes, which for ``str`` means ordering by the UTF-8
encoding.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Final, Literal, TypeVar

from .hashing import BadHash, Hash
from .storepath import (
    DRV_EXTENSION,
    STORE_DIR,
    make_fixed_output_path,
    make_output_path,
    make_text_path_for,
    output_path_name,
)

T = TypeVar("T")

OutputKind = Literal["input-addressed", "fixed", "floating", "deferred"]

_UNESCAPES: Final = {"n": "\n", "r": "\r", "t": "\t"}


class DerivationError(ValueError):
    """A derivation that cannot be parsed, hashed or completed."""


def _utf8(text: str) -> bytes:
    return text.encode("utf-8", "surrogateescape")


def _byte_sorted(items: Iterable[str]) -> list[str]:
    items = list(items)
    if all(s.isascii() for s in items):  # then code point order is byte order
        return sorted(items)
    return sorted(items, key=_utf8)


def _byte_sorted_items(d: Mapping[str, T]) -> list[tuple[str, T]]:
    if all(k.isascii() for k in d):
        return sorted(d.items())
    return sorted(d.items(), key=lambda kv: _utf8(kv[0]))


@dataclass(slots=True)
class DerivationOutput:
    """One output: its path, and for content-addressed outputs algo and hash.

    ``hash_algo`` is ``[r:]<algo>`` (``r:`` = recursive/NAR ingestion) and
    ``hash`` is base16, as the ``.drv`` stores them.
    """

    path: str = ""
    hash_algo: str = ""
    hash: str = ""

    @property
    def kind(self) -> OutputKind:
        if self.hash:
            return "fixed"
        if self.hash_algo:
            return "floating"
        return "input-addressed" if self.path else "deferred"

    @property
    def recursive(self) -> bool:
        return self.hash_algo.startswith("r:")

    def fixed_hash(self) -> Hash:
        """The declared content hash of a fixed output."""
        algo = self.hash_algo.removeprefix("r:")
        try:
            return Hash.parse_unprefixed(self.hash, algo)
        except BadHash as e:
            raise DerivationError(f"fixed output has an invalid hash: {e}") from None


@dataclass(slots=True)
class Derivation:
    outputs: dict[str, DerivationOutput] = field(default_factory=dict)
    input_drvs: dict[str, set[str]] = field(default_factory=dict)
    input_srcs: set[str] = field(default_factory=set)
    platform: str = ""
    builder: str = ""
    args: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)

    # -- facts -----------------------------------------------------------

    @property
    def name(self) -> str:
        """The derivation's name (from ``env``, or ``__json`` for structured attrs)."""
        if "name" in self.env:
            return self.env["name"]
        if "__json" in self.env:
            try:
                name = json.loads(self.env["__json"]).get("name")
            except (ValueError, AttributeError):
                name = None
            if isinstance(name, str):
                return name
        raise DerivationError("derivation has no 'name' attribute")

    @property
    def is_fixed_output(self) -> bool:
        return bool(self.outputs) and all(o.kind == "fixed" for o in self.outputs.values())

    @property
    def is_floating(self) -> bool:
        return any(o.kind == "floating" for o in self.outputs.values())

    @property
    def references(self) -> set[str]:
        """What the ``.drv`` file refers to: sources and input derivations."""
        return self.input_srcs | self.input_drvs.keys()

    def masked(self) -> Derivation:
        """A copy with every output (and its env variable) blanked, for hashing."""
        env = dict(self.env)
        for name in self.outputs:
            env[name] = ""
        return dataclasses.replace(
            self,
            outputs={name: DerivationOutput() for name in self.outputs},
            input_drvs={k: set(v) for k, v in self.input_drvs.items()},
            input_srcs=set(self.input_srcs),
            args=list(self.args),
            env=env,
        )

    # -- the ATerm -------------------------------------------------------

    def to_aterm(self) -> str:
        """The exact ``.drv`` text (no trailing newline)."""
        outputs = ",".join(
            f'("{name}","{o.path}","{o.hash_algo}","{o.hash}")'
            for name, o in _byte_sorted_items(self.outputs)
        )
        input_drvs = ",".join(
            f'("{path}",[{",".join(_raw(o) for o in _byte_sorted(outs))}])'
            for path, outs in _byte_sorted_items(self.input_drvs)
        )
        input_srcs = ",".join(_raw(p) for p in _byte_sorted(self.input_srcs))
        args = ",".join(_escaped(a) for a in self.args)
        env = ",".join(
            f"({_escaped(k)},{_escaped(v)})"
            for k, v in _byte_sorted_items(self.env)
        )
        return (
            f"Derive([{outputs}],[{input_drvs}],[{input_srcs}],{_raw(self.platform)},"
            f"{_escaped(self.builder)},[{args}],[{env}])"
        )

    def to_bytes(self) -> bytes:
        return _utf8(self.to_aterm())

    @classmethod
    def parse(cls, text: str | bytes) -> Derivation:
        """Parse ``.drv`` text (the inverse of :meth:`to_aterm`)."""
        if isinstance(text, bytes | bytearray):
            text = bytes(text).decode("utf-8", "surrogateescape")
        return _Parser(text).derivation()


def _raw(s: str) -> str:
    # Paths, output names, hash fields and the system are written unescaped.
    return f'"{s}"'


_NEEDS_ESCAPE: Final = re.compile(r'["\\\n\r\t]')


def _escaped(s: str) -> str:
    if _NEEDS_ESCAPE.search(s) is None:  # the common case, much faster than translate
        return f'"{s}"'
    # (str.replace is many times faster than translate with a mapping)
    s = s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    s = s.replace("\r", "\\r").replace("\t", "\\t")
    return '"' + s + '"'


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def fail(self, what: str) -> DerivationError:
        return DerivationError(f"error parsing derivation at offset {self.pos}: {what}")

    def expect(self, literal: str) -> None:
        if not self.text.startswith(literal, self.pos):
            raise self.fail(f"expected string '{literal}'")
        self.pos += len(literal)

    def peek(self, literal: str) -> bool:
        return self.text.startswith(literal, self.pos)

    def string(self) -> str:
        self.expect('"')
        text, i = self.text, self.pos
        parts: list[str] = []
        while True:
            quote = text.find('"', i)
            if quote < 0:
                raise self.fail("unterminated string")
            backslash = text.find("\\", i, quote)
            if backslash < 0:
                parts.append(text[i:quote])
                self.pos = quote + 1
                return "".join(parts)
            parts.append(text[i:backslash])
            escaped = text[backslash + 1 : backslash + 2]
            parts.append(_UNESCAPES.get(escaped, escaped))
            i = backslash + 2

    def path(self) -> str:
        start = self.pos
        s = self.string()
        if not s.startswith("/"):
            self.pos = start
            raise self.fail(f"bad path '{s}' in derivation")
        return s

    def list_of(self, item: Callable[[], T]) -> list[T]:
        self.expect("[")
        items: list[T] = []
        if self.peek("]"):
            self.pos += 1
            return items
        while True:
            items.append(item())
            if self.peek("]"):
                self.pos += 1
                return items
            self.expect(",")

    def output(self) -> tuple[str, DerivationOutput]:
        self.expect("(")
        name = self.string()
        self.expect(",")
        path = self.string()
        if path and not path.startswith("/"):
            raise self.fail(f"bad path '{path}' in derivation")
        self.expect(",")
        hash_algo = self.string()
        self.expect(",")
        hash_ = self.string()
        self.expect(")")
        return name, DerivationOutput(path, hash_algo, hash_)

    def input_drv(self) -> tuple[str, set[str]]:
        self.expect("(")
        path = self.path()
        self.expect(",")
        outputs = set(self.list_of(self.string))
        self.expect(")")
        return path, outputs

    def env_entry(self) -> tuple[str, str]:
        self.expect("(")
        name = self.string()
        self.expect(",")
        value = self.string()
        self.expect(")")
        return name, value

    def derivation(self) -> Derivation:
        if not self.peek("Derive(["):
            raise self.fail("expected string 'Derive(['")
        self.expect("Derive(")
        outputs = dict(self.list_of(self.output))
        self.expect(",")
        input_drvs = dict(self.list_of(self.input_drv))
        self.expect(",")
        input_srcs = set(self.list_of(self.path))
        self.expect(",")
        platform = self.string()
        self.expect(",")
        builder = self.string()
        self.expect(",")
        args = self.list_of(self.string)
        self.expect(",")
        env = dict(self.list_of(self.env_entry))
        self.expect(")")
        if self.pos != len(self.text):
            raise self.fail("trailing data after derivation")
        return Derivation(outputs, input_drvs, input_srcs, platform, builder, args, env)


def parse_derivation(text: str | bytes) -> Derivation:
    return Derivation.parse(text)


def derivation_path(drv: Derivation, name: str | None = None, store_dir: str = STORE_DIR) -> str:
    """The ``.drv`` store path: a text path named ``<name>.drv``.

    Its references are the input sources and input derivations; output paths
    are not references.
    """
    drv_name = (drv.name if name is None else name) + DRV_EXTENSION
    return make_text_path_for(drv_name, drv.to_bytes(), drv.references, store_dir)


# -- hashModulo and output paths -------------------------------------------------


@dataclass(frozen=True, slots=True)
class DrvHash:
    """hashModulo of a derivation: one sha256 digest per output.

    ``deferred`` means some input is a floating content-addressed derivation,
    so output paths cannot be known before building.
    """

    hashes: Mapping[str, bytes]
    deferred: bool = False


DerivationLookup = Callable[[str], Derivation]


class DerivationHasher:
    """Computes hashModulo, memoised per ``.drv`` path across calls.

    ``lookup(drv_path)`` reads an input derivation; it is called at most once
    per path.
    """

    def __init__(self, lookup: DerivationLookup, store_dir: str = STORE_DIR) -> None:
        self._lookup = lookup
        self.store_dir = store_dir
        self._memo: dict[str, DrvHash] = {}

    def remember(self, drv_path: str, drv: Derivation) -> None:
        """Hash a derivation stored at ``drv_path`` now, so that it is never looked up."""
        if drv_path not in self._memo:
            self._memo[drv_path] = self.hash(drv)

    def hash_path(self, drv_path: str) -> DrvHash:
        """hashModulo of the stored derivation at ``drv_path`` (not masked)."""
        if drv_path in self._memo:
            return self._memo[drv_path]
        # Depth-first without recursion: dependency chains can be long.
        loaded: dict[str, Derivation] = {}
        stack = [drv_path]
        while stack:
            path = stack[-1]
            if path in self._memo:
                stack.pop()
                continue
            if path not in loaded:
                loaded[path] = self._lookup(path)
                missing = [p for p in loaded[path].input_drvs if p not in self._memo]
                for p in missing:
                    if p in loaded:
                        raise DerivationError(f"derivation '{p}' depends on itself")
                stack.extend(missing)
                if missing:
                    continue
            self._memo[path] = self.hash(loaded.pop(path))
            stack.pop()
        return self._memo[drv_path]

    def hash(self, drv: Derivation, mask_outputs: bool = False) -> DrvHash:
        """hashModulo of ``drv``; ``mask_outputs`` blanks its own outputs first."""
        if drv.is_fixed_output:
            if any(not o.path for o in drv.outputs.values()):
                drv = self.with_output_paths(drv)
            return DrvHash(
                {
                    name: hashlib.sha256(_utf8(fixed_output_modulo_text(o))).digest()
                    for name, o in drv.outputs.items()
                }
            )
        replaced, deferred = self._hashed_inputs(drv)
        base = drv.masked() if mask_outputs else drv
        digest = hashlib.sha256(dataclasses.replace(base, input_drvs=replaced).to_bytes()).digest()
        return DrvHash(dict.fromkeys(drv.outputs, digest), deferred or drv.is_floating)

    def modulo_text(self, drv: Derivation, mask_outputs: bool = False) -> str:
        """The ATerm whose sha256 is the hashModulo of a non-fixed ``drv``.

        Input derivation paths are replaced by the hex hashModulo of each input.
        """
        replaced, _ = self._hashed_inputs(drv)
        base = drv.masked() if mask_outputs else drv
        return dataclasses.replace(base, input_drvs=replaced).to_aterm()

    def _hashed_inputs(self, drv: Derivation) -> tuple[dict[str, set[str]], bool]:
        replaced: dict[str, set[str]] = {}
        deferred = False
        for path, wanted in drv.input_drvs.items():
            result = self.hash_path(path)
            deferred = deferred or result.deferred
            for output in wanted:
                if output not in result.hashes:
                    raise DerivationError(f"derivation '{path}' does not have output '{output}'")
                # Two inputs with the same hashModulo merge their output sets.
                replaced.setdefault(result.hashes[output].hex(), set()).add(output)
        return replaced, deferred

    def with_output_paths(self, drv: Derivation, name: str | None = None) -> Derivation:
        """A copy of a new derivation with its output paths filled in.

        Fixed outputs get their fixed-output path; input-addressed outputs are
        masked, hashed modulo and given ``output:<o>`` paths (also written to
        their env variables).  Floating outputs, and outputs depending on them,
        are left without paths.
        """
        drv_name = drv.name if name is None else name
        if drv.is_fixed_output:
            filled = dataclasses.replace(drv, outputs=dict(drv.outputs), env=dict(drv.env))
            for output_name, output in drv.outputs.items():
                path = make_fixed_output_path(
                    output_path_name(drv_name, output_name),
                    output.fixed_hash(),
                    output.recursive,
                    store_dir=self.store_dir,
                )
                filled.outputs[output_name] = DerivationOutput(path, output.hash_algo, output.hash)
                filled.env[output_name] = path
            return filled
        if drv.is_floating:
            return dataclasses.replace(drv)
        masked = drv.masked()
        result = self.hash(masked)
        if result.deferred:
            return masked
        for output_name in masked.outputs:
            path = make_output_path(
                output_name, result.hashes[output_name], drv_name, self.store_dir
            )
            masked.outputs[output_name] = DerivationOutput(path)
            masked.env[output_name] = path
        return masked


def fixed_output_modulo_text(output: DerivationOutput) -> str:
    """``fixed:out:<algo field>:<hex>:<path>``, hashed in place of a fixed output.

    Only the content hash and path count, so a fixed-output derivation's
    builder and inputs never influence its dependents' paths.
    """
    return f"fixed:out:{output.hash_algo}:{output.hash}:{output.path}"


def hash_derivation_modulo(
    drv: Derivation, lookup: DerivationLookup, mask_outputs: bool = False
) -> DrvHash:
    """hashModulo of ``drv``, reading input derivations with ``lookup``."""
    return DerivationHasher(lookup).hash(drv, mask_outputs)
