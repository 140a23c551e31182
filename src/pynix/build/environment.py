"""The builder's environment and the files Nix puts in the build directory
(spec 8.1-8.3).

Output placeholders (``builtins.placeholder "out"``) are replaced by the output
paths in env values, ``passAsFile`` files, the structured-attrs files, and
(by the caller) the builder and its arguments, as Nix does.

Nothing is inherited: the environment is built from scratch in Nix's order,
so that a derivation attribute named ``PATH`` or ``HOME`` overrides Nix's
value while ``NIX_BUILD_TOP`` and friends always win.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import struct
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from ..compat import nixbase32
from ..compat.derivation import Derivation
from ..compat.storepath import STORE_DIR

_SH_VAR_NAME: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def pass_as_file_name(attr: str) -> str:
    """``.attr-<nix32(sha256(attr))>``: the file ``passAsFile`` writes ``attr`` to."""
    digest = hashlib.sha256(attr.encode("utf-8", "surrogateescape")).digest()
    return ".attr-" + nixbase32.encode(digest)


def structured_attrs(drv: Derivation) -> dict[str, Any] | None:
    """The parsed ``__json`` of a structured-attrs derivation, else None."""
    text = drv.env.get("__json")
    if text is None:
        return None
    value = json.loads(text)
    if not isinstance(value, dict):
        raise ValueError("the '__json' attribute of a derivation must be an object")
    return value


def string_list_attr(drv: Derivation, name: str) -> list[str] | None:
    """An attribute holding a list of strings: a JSON list with structured
    attrs, otherwise the env string split on whitespace."""
    attrs = structured_attrs(drv)
    if attrs is not None:
        value = attrs.get(name)
        if value is None:
            return None
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ValueError(f"attribute '{name}' must be a list of strings")
        return list(value)
    text = drv.env.get(name)
    return None if text is None else text.split()


def bool_attr(drv: Derivation, name: str) -> bool:
    attrs = structured_attrs(drv)
    if attrs is not None:
        return attrs.get(name) is True
    return drv.env.get(name) == "1"


def hash_placeholder(output: str) -> str:
    """What ``builtins.placeholder output`` evaluates to."""
    digest = hashlib.sha256(b"nix-output:" + output.encode("utf-8", "surrogateescape")).digest()
    return "/" + nixbase32.encode(digest)


def output_rewrites(drv: Derivation) -> dict[str, str]:
    """Placeholder -> output path, for every output whose path is known."""
    return {hash_placeholder(name): out.path for name, out in drv.outputs.items() if out.path}


def rewrite_strings(s: str, rewrites: dict[str, str]) -> str:
    """Replace every placeholder in ``s`` (builder, args, env values, files)."""
    if "/" not in s:
        return s
    for old, new in rewrites.items():
        s = s.replace(old, new)
    return s


@dataclass
class BuildEnvironment:
    """What the builder gets: variables, and files to create in its build dir."""

    variables: dict[str, str]
    files: dict[str, bytes] = field(default_factory=dict)


def builder_environment(
    drv: Derivation,
    *,
    build_dir: str,
    cores: int,
    store_dir: str = STORE_DIR,
    caller_env: Mapping[str, str] | None = None,
) -> BuildEnvironment:
    """The environment of ``drv``'s builder.

    ``build_dir`` is the build directory *as the builder sees it* (``/build``
    in the sandbox); ``caller_env`` is where ``impureEnvVars`` come from (the
    process environment by default).
    """
    env: dict[str, str] = {
        "PATH": "/path-not-set",
        "HOME": "/homeless-shelter",
        "NIX_STORE": store_dir,
        "NIX_BUILD_CORES": str(cores),
    }
    files: dict[str, bytes] = {}
    rewrites = output_rewrites(drv)
    attrs = structured_attrs(drv)
    if attrs is None:
        pass_as_file = set(drv.env.get("passAsFile", "").split())
        for name, raw_value in drv.env.items():
            value = rewrite_strings(raw_value, rewrites)
            if name in pass_as_file:
                file_name = pass_as_file_name(name)
                files[file_name] = value.encode("utf-8", "surrogateescape")
                env[name + "Path"] = f"{build_dir}/{file_name}"
            else:
                env[name] = value
    else:
        json_attrs = structured_attrs_json(attrs, drv)
        for file_name, text in (
            (".attrs.json", json_dumps(json_attrs)),
            (".attrs.sh", structured_attrs_shell(json_attrs)),
        ):
            files[file_name] = rewrite_strings(text, rewrites).encode("utf-8", "surrogateescape")
    for name in ("NIX_BUILD_TOP", "TMPDIR", "TEMPDIR", "TMP", "TEMP", "PWD"):
        env[name] = build_dir
    if drv.is_fixed_output:
        env["NIX_OUTPUT_CHECKED"] = "1"
        source = os.environ if caller_env is None else caller_env
        for name in string_list_attr(drv, "impureEnvVars") or []:
            env[name] = source.get(name, "")
    env["NIX_LOG_FD"] = "2"
    env["TERM"] = "xterm-256color"
    return BuildEnvironment(env, files)


# -- structured attrs -----------------------------------------------------------


def structured_attrs_json(attrs: dict[str, Any], drv: Derivation) -> dict[str, Any]:
    """``__json`` as the builder sees it: ``outputs`` becomes output name -> path."""
    result = dict(attrs)
    result["outputs"] = {name: out.path for name, out in drv.outputs.items()}
    return result


def json_dumps(value: Any) -> str:
    """Compact JSON with sorted keys and raw UTF-8, as Nix writes ``.attrs.json``."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def shell_escape(s: str) -> str:
    return "'" + s.replace("'", "'\\''") + "'"


def _simple_shell_value(value: Any) -> str | None:
    # bool before int: JSON true/false are Python bools, which are ints.
    if isinstance(value, str):
        return shell_escape(value)
    if isinstance(value, bool):
        return "1" if value else ""
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        # Nix 2.8 reads a number as a single-precision float and writes it
        # (as an integer) only if that is integral; other numbers are left out.
        try:
            single = struct.unpack("f", struct.pack("f", value))[0]
        except OverflowError:
            return None
        if math.isfinite(single) and math.ceil(single) == single:
            return str(int(value))
        return None
    if value is None:
        return "''"
    return None


def structured_attrs_shell(attrs: dict[str, Any]) -> str:
    """The ``.attrs.sh`` text: one ``declare`` per attribute bash can hold."""
    out: list[str] = []
    for key in sorted(attrs):
        if not _SH_VAR_NAME.fullmatch(key):
            continue
        value = attrs[key]
        simple = _simple_shell_value(value)
        if simple is not None:
            out.append(f"declare {key}={simple}\n")
        elif isinstance(value, list):
            items = [_simple_shell_value(v) for v in value]
            if all(i is not None for i in items):
                out.append(f"declare -a {key}=({''.join(f'{i} ' for i in items)})\n")
        elif isinstance(value, dict):
            pairs = [(k, _simple_shell_value(v)) for k, v in sorted(value.items())]
            if all(v is not None for _, v in pairs):
                body = "".join(f"[{shell_escape(k)}]={v} " for k, v in pairs)
                out.append(f"declare -A {key}=({body})\n")
    return "".join(out)
