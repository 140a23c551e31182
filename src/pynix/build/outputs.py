"""Turning what a builder left behind into store path metadata.

For every output: it must exist; it is canonicalised (spec 7.2), archived
once to get its NAR hash, size and references (7.1); a fixed output's content
hash must be the declared one; then the derivation's reference checks
(``allowedReferences`` and friends, or ``outputChecks`` with structured
attrs) are applied.  Nothing here registers anything: the caller moves the
outputs into place and registers the returned :class:`PathInfo` objects.
"""

from __future__ import annotations

import os
import stat
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ..compat.contentaddress import ContentAddress
from ..compat.derivation import Derivation
from ..compat.hashing import Hash, HashFormat, hash_file
from ..compat.nar import nar_hash
from ..store.api import PathInfo
from .canonicalise import CanonicaliseError, canonicalise_tree
from .environment import string_list_attr, structured_attrs
from .refscan import scan_references


class OutputError(Exception):
    """An output that cannot be accepted; the message is the build error."""


@dataclass
class BuiltOutput:
    name: str
    path: str  # logical store path
    location: str  # where the files are now
    info: PathInfo


def process_outputs(
    drv: Derivation,
    drv_path: str,
    locations: Mapping[str, str],
    input_closure: set[str],
    *,
    keep_root_writable: bool,
    closure_of: Callable[[str], set[str]],
    size_of: Callable[[str], int],
) -> dict[str, BuiltOutput]:
    """Check and describe the outputs at ``locations`` (output name -> files).

    ``closure_of``/``size_of`` answer for valid store paths (the inputs).
    Raises :class:`OutputError` with Nix's wording on any problem.
    """
    outputs: dict[str, BuiltOutput] = {}
    own_paths = {name: out.path for name, out in drv.outputs.items() if name in locations}
    candidates = input_closure | set(own_paths.values())
    now = int(time.time())
    for name, location in sorted(locations.items()):
        path = own_paths[name]
        if not os.path.lexists(location):
            raise OutputError(
                f"builder for '{drv_path}' failed to produce output path for output "
                f"'{name}' at '{path}'"
            )
        try:
            canonicalise_tree(location, keep_root_writable=keep_root_writable)
        except CanonicaliseError as e:
            raise OutputError(f"output '{path}': {e}") from None
        references, narhash, narsize = scan_references(location, candidates)
        ca = None
        out = drv.outputs[name]
        if out.kind == "fixed":
            fixed = _check_fixed_output(
                drv_path, out.fixed_hash(), out.recursive, location, narhash
            )
            ca = str(fixed)
            if references:
                raise OutputError(
                    f"fixed-output derivation '{drv_path}' produced output '{path}' that "
                    "refers to other store paths:" + "".join(f"\n  {r}" for r in sorted(references))
                )
        info = PathInfo(
            path=path,
            nar_hash=narhash.to_prefixed(HashFormat.NIX32),
            nar_size=narsize,
            references=frozenset(references),
            deriver=drv_path,
            registration_time=now,
            ca=ca,
            ultimate=True,
        )
        outputs[name] = BuiltOutput(name, path, location, info)
    _apply_checks(drv, outputs, closure_of, size_of)
    return outputs


def _check_fixed_output(
    drv_path: str, wanted: Hash, recursive: bool, location: str, narhash: Hash
) -> ContentAddress:
    if recursive:
        got = narhash if wanted.algo == narhash.algo else nar_hash(location, wanted.algo)
    else:
        st = os.lstat(location)
        if not stat.S_ISREG(st.st_mode) or st.st_mode & stat.S_IXUSR:
            raise OutputError(
                f"output path '{location}' should be a non-executable regular file since "
                "recursive hashing is not enabled (outputHashMode=flat)"
            )
        got = hash_file(wanted.algo, location)
    if got != wanted:
        raise OutputError(
            f"hash mismatch in fixed-output derivation '{drv_path}':\n"
            f"  specified: {wanted.to_sri()}\n"
            f"     got:    {got.to_sri()}"
        )
    return ContentAddress("recursive" if recursive else "flat", got)


# -- allowedReferences & co ---------------------------------------------------------


@dataclass
class _Checks:
    allowed_references: list[str] | None = None
    allowed_requisites: list[str] | None = None
    disallowed_references: list[str] | None = None
    disallowed_requisites: list[str] | None = None
    max_size: int | None = None
    max_closure_size: int | None = None


def _checks_for(drv: Derivation, output: str) -> _Checks | None:
    attrs = structured_attrs(drv)
    if attrs is None:
        return _Checks(
            string_list_attr(drv, "allowedReferences"),
            string_list_attr(drv, "allowedRequisites"),
            string_list_attr(drv, "disallowedReferences"),
            string_list_attr(drv, "disallowedRequisites"),
        )
    per_output = attrs.get("outputChecks")
    if not isinstance(per_output, dict) or not isinstance(per_output.get(output), dict):
        return None
    spec: dict[str, Any] = per_output[output]

    def strings(key: str) -> list[str] | None:
        value = spec.get(key)
        if value is None:
            return None
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise OutputError(f"'outputChecks.{output}.{key}' must be a list of strings")
        return list(value)

    def number(key: str) -> int | None:
        value = spec.get(key)
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    return _Checks(
        strings("allowedReferences"),
        strings("allowedRequisites"),
        strings("disallowedReferences"),
        strings("disallowedRequisites"),
        number("maxSize"),
        number("maxClosureSize"),
    )


def _apply_checks(
    drv: Derivation,
    outputs: dict[str, BuiltOutput],
    closure_of: Callable[[str], set[str]],
    size_of: Callable[[str], int],
) -> None:
    infos = {o.path: o.info for o in outputs.values()}

    def closure(path: str) -> set[str]:
        seen: set[str] = set()
        todo = [path]
        while todo:
            p = todo.pop()
            if p in seen:
                continue
            if p in infos:
                seen.add(p)
                todo.extend(infos[p].references)
            else:
                seen |= closure_of(p)
        return seen

    def nar_size(p: str) -> int:
        return infos[p].nar_size if p in infos else size_of(p)

    for name, out in sorted(outputs.items()):
        checks = _checks_for(drv, name)
        if checks is None:
            continue
        info = out.info
        if checks.max_size is not None and info.nar_size > checks.max_size:
            raise OutputError(
                f"path '{info.path}' is too large at {info.nar_size} bytes; limit is "
                f"{checks.max_size} bytes"
            )
        if checks.max_closure_size is not None:
            total = sum(nar_size(p) for p in closure(info.path))
            if total > checks.max_closure_size:
                raise OutputError(
                    f"closure of path '{info.path}' is too large at {total} bytes; limit is "
                    f"{checks.max_closure_size} bytes"
                )
        for value, allowed, recursive in (
            (checks.allowed_references, True, False),
            (checks.allowed_requisites, True, True),
            (checks.disallowed_references, False, False),
            (checks.disallowed_requisites, False, True),
        ):
            if value is None:
                continue
            spec: set[str] = set()
            for item in value:
                if item.startswith("/"):
                    spec.add(item)
                elif item in drv.outputs:
                    spec.add(drv.outputs[item].path)
                else:
                    raise OutputError(
                        f"derivation contains an illegal reference specifier '{item}'"
                    )
            used = closure(info.path) - {info.path} if recursive else set(info.references)
            bad = used - spec if allowed else used & spec
            if bad:
                raise OutputError(
                    f"output '{info.path}' is not allowed to refer to the following paths:"
                    + "".join(f"\n  {p}" for p in sorted(bad))
                )
