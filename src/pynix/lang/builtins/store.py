"""Builtins that need a store: derivations, text files, sources, store paths.

They reach the store only through the evaluator's
:class:`~..store_api.EvalStore`.  Store paths are pure ASCII, so they are the
same string in the language's one-character-per-byte form and in
:mod:`pynix.compat`'s Unicode form; everything else (names, env values,
builders) is converted at the boundary.
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final

from ...compat import nixbase32
from ...compat.derivation import (
    Derivation,
    DerivationError,
    DerivationHasher,
    DerivationOutput,
)
from ...compat.hashing import BadHash, Hash, is_hash_algo
from ...compat.storepath import (
    BadStorePath,
    StorePath,
    make_fixed_output_path,
    make_output_path,
    output_path_name,
)
from .. import attrpos
from ..errors import EvalError, NixError, TypeError_
from ..parser import canon_path
from ..runtime import (
    call,
    coerce_to_string,
    expect_attrs,
    expect_bool,
    expect_list,
    expect_string,
    expect_string_no_ctx,
)
from ..store_api import (
    PathFilter,
    base_name,
    check_store_name,
    fixed_path_kind,
    from_compat,
    not_valid,
    to_compat,
)
from ..tojson import to_json
from ..values import (
    NixStr,
    PrimOp,
    PrimOpApp,
    StrValue,
    Thunk,
    is_lambda,
    make_str,
    show_type,
    to_bytes,
    to_text,
)
from . import eval_primop, primop

if TYPE_CHECKING:
    from ..evaluator import Evaluator


def _f(v: Any) -> Any:
    return v.force() if type(v) is Thunk else v


# ---------------------------------------------------------------------------
# derivations the evaluator has written


class KnownDerivations:
    """The derivations one evaluator wrote, and hashModulo over them.

    A store that only computes paths cannot give derivations back, so every
    ``.drv`` written is remembered here; dependents need their inputs'
    hashModulo (memoised by the hasher).  Other derivations (met through
    ``storePath`` or ``appendContext``) are read from the store.
    """

    def __init__(self, ev: Evaluator) -> None:
        self.ev = ev
        self.drvs: dict[str, Derivation] = {}
        # output names of the derivations written here: all that is needed of them
        # once their hashModulo is known (which is computed when they are written)
        self.outputs: dict[str, tuple[str, ...]] = {}
        self.hasher = DerivationHasher(self.lookup, ev.store.store_dir)

    def output_names(self, path: str) -> tuple[str, ...]:
        names = self.outputs.get(path)
        if names is None:
            names = tuple(self.lookup(path).outputs)
        return names

    def lookup(self, path: str) -> Derivation:
        drv = self.drvs.get(path)
        if drv is None:
            text = self.ev.store.read_text(path)
            try:
                drv = Derivation.parse(to_bytes(text))
            except DerivationError as e:
                raise EvalError(
                    f"error parsing derivation '{to_text(path)}': {_compat_text(str(e))}"
                ) from None
            self.drvs[path] = drv
        return drv

    def add(self, path: str, drv: Derivation) -> None:
        # as Nix does, hash it now: dependents need only the hash, so the
        # derivation itself (its whole environment) need not be kept
        self.hasher.remember(path, drv)
        self.outputs[path] = tuple(drv.outputs)


_KNOWN: weakref.WeakKeyDictionary[Evaluator, KnownDerivations] = weakref.WeakKeyDictionary()


def known_derivations(ev: Evaluator) -> KnownDerivations:
    """The derivations ``ev`` has written (one registry per evaluator)."""
    known = _KNOWN.get(ev)
    if known is None:
        known = _KNOWN[ev] = KnownDerivations(ev)
    return known


def _compat_text(s: str) -> str:
    """A compat string (surrogate escapes) as message text."""
    return s.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


# ---------------------------------------------------------------------------
# placeholders


def _sha256_nix32(text: bytes) -> str:
    return nixbase32.encode(hashlib.sha256(text).digest())


def hash_placeholder(output: str) -> str:
    """``builtins.placeholder``: what a builder replaces with the output's path."""
    return "/" + _sha256_nix32(b"nix-output:" + to_bytes(output))


def downstream_placeholder(drv_path: str, drv_name: str, output: str) -> str:
    """Stands for an output of a derivation whose output paths are not known yet."""
    hash_part = drv_path.rsplit("/", 1)[1][:32]
    clear = f"nix-upstream-output:{hash_part}:{output_path_name(drv_name, output)}"
    return "/" + _sha256_nix32(to_bytes(clear))


@primop("placeholder", 1)
def placeholder(output: Any) -> str:
    return hash_placeholder(str(expect_string_no_ctx(_f(output))))


# ---------------------------------------------------------------------------
# derivationStrict

_WHITESPACE: Final = re.compile("[ \t\n\r]+")


def _require_feature(ev: Evaluator, feature: str) -> None:
    if feature not in getattr(ev, "experimental_features", ()):
        raise EvalError(
            f"experimental Nix feature '{feature}' is disabled; use "
            f"'--extra-experimental-features {feature}' to override"
        )


def _warn(ev: Evaluator, msg: str) -> None:
    ev.stderr.write(b"warning: " + msg.encode("utf-8", "replace") + b"\n")
    ev.stderr.flush()


def parse_hash_allow_empty(ev: Evaluator, text: str, algo: str | None) -> Hash:
    """Nix's newHashAllowEmpty: ``""`` stands for the all-zero hash, with a warning."""
    if not text:
        if algo is None or not is_hash_algo(algo):
            raise EvalError("empty hash requires explicit hash type")
        zero = Hash.zero(algo)
        _warn(ev, f"found empty hash, assuming '{zero.to_sri()}'")
        return zero
    try:
        return Hash.parse(to_compat(text), algo)
    except BadHash as e:
        raise EvalError(_compat_text(str(e))) from None


class _DrvAttrs:
    """What derivationStrict gathers from the attributes, in Nix's string form."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.ctx: set[str] = set()
        self.env: dict[str, str] = {}
        self.args: list[str] = []
        self.builder = ""
        self.platform = ""
        self.outputs: list[str] = ["out"]
        self.output_hash: str | None = None
        self.output_hash_algo = ""
        self.recursive: bool | None = None
        self.content_addressed = False
        self.impure = False
        self.json: list[str] | None = None

    def set_hash_mode(self, mode: str) -> None:
        if mode == "recursive":
            self.recursive = True
        elif mode == "flat":
            self.recursive = False
        else:
            raise EvalError(f"invalid value '{to_text(mode)}' for 'outputHashMode' attribute")

    def set_outputs(self, names: list[str]) -> None:
        seen: set[str] = set()
        for n in names:
            if n in seen:
                raise EvalError(f"duplicate derivation output '{to_text(n)}'")
            # the result has an attribute per output next to `drvPath`
            if n == "drv":
                raise EvalError("invalid derivation output name 'drv'")
            seen.add(n)
        if not seen:
            raise EvalError("derivation cannot have an empty set of outputs")
        self.outputs = sorted(seen)


def _drv_name(attrs: dict[str, Any]) -> str:
    if "name" not in attrs:
        raise TypeError_("attribute 'name' missing for call to 'derivationStrict'")
    try:
        return str(expect_string_no_ctx(_f(attrs["name"])))
    except NixError as e:
        e.add_trace(attrpos.lookup(attrs, "name"),
                    "while evaluating the derivation attribute 'name'")
        raise


def _process_attr(ev: Evaluator, d: _DrvAttrs, key: str, value: Any) -> None:
    ctx = d.ctx
    if key == "__contentAddressed":
        d.content_addressed = expect_bool(_f(value))
        if d.content_addressed:
            _require_feature(ev, "ca-derivations")
    elif key == "__impure":
        d.impure = expect_bool(_f(value))
        if d.impure:
            _require_feature(ev, "impure-derivations")
    elif key == "args":
        for item in expect_list(_f(value)):
            d.args.append(coerce_to_string(_f(item), None, ctx, coerce_more=True))
    elif d.json is not None:
        if key == "__structuredAttrs":
            return
        out: list[str] = []
        to_json(key, True, ctx, out)
        out.append(":")
        to_json(value, True, ctx, out)
        d.json.append("".join(out))
        if key == "builder":
            b = expect_string(_f(value))
            if type(b) is NixStr:
                ctx.update(b.ctx)
            d.builder = str(b)
        elif key == "system":
            d.platform = str(expect_string_no_ctx(_f(value)))
        elif key == "outputHash":
            d.output_hash = str(expect_string_no_ctx(_f(value)))
        elif key == "outputHashAlgo":
            d.output_hash_algo = str(expect_string_no_ctx(_f(value)))
        elif key == "outputHashMode":
            d.set_hash_mode(str(expect_string_no_ctx(_f(value))))
        elif key == "outputs":
            d.set_outputs(
                [str(expect_string_no_ctx(_f(x))) for x in expect_list(_f(value))]
            )
    else:
        s = coerce_to_string(_f(value), None, ctx, coerce_more=True)
        d.env[key] = s
        if key == "builder":
            d.builder = s
        elif key == "system":
            d.platform = s
        elif key == "outputHash":
            d.output_hash = s
        elif key == "outputHashAlgo":
            d.output_hash_algo = s
        elif key == "outputHashMode":
            d.set_hash_mode(s)
        elif key == "outputs":
            d.set_outputs([t for t in _WHITESPACE.split(s) if t])


def _inputs(
    ev: Evaluator, known: KnownDerivations, ctx: set[str]
) -> tuple[dict[str, set[str]], set[str]]:
    """String context -> (inputDrvs, inputSrcs); output names in compat's form."""
    input_drvs: dict[str, set[str]] = {}
    input_srcs: set[str] = set()
    for element in sorted(ctx):
        if element.startswith("="):
            # The builder gets the .drv itself, so everything it could reach
            # (all outputs of every derivation in its closure) is an input.
            root = element[1:]
            for path in _closure(ev, root):
                input_srcs.add(path)
                if path.endswith(".drv"):
                    input_drvs[path] = set(known.output_names(path))
        elif element.startswith("!"):
            _, output, drv_path = element.split("!", 2)
            input_drvs.setdefault(drv_path, set()).add(to_compat(output))
        else:
            input_srcs.add(element)
    return input_drvs, input_srcs


def _closure(ev: Evaluator, root: str) -> set[str]:
    store = ev.store
    if not store.is_valid_path(root):
        raise not_valid(root)
    seen = {root}
    todo = [root]
    while todo:
        for ref in store.references_of(todo.pop()):
            if ref not in seen:
                seen.add(ref)
                todo.append(ref)
    return seen


@eval_primop("derivationStrict", 1)
def derivation_strict(ev: Evaluator, arg: Any) -> dict[str, Any]:
    attrs = expect_attrs(_f(arg))
    name = _drv_name(attrs)
    d = _DrvAttrs(name)
    if "__structuredAttrs" in attrs and expect_bool(_f(attrs["__structuredAttrs"])):
        d.json = []
    ignore_nulls = "__ignoreNulls" in attrs and expect_bool(_f(attrs["__ignoreNulls"]))

    for key in sorted(attrs):
        if key == "__ignoreNulls":
            continue
        value = attrs[key]
        try:
            if ignore_nulls:
                value = _f(value)
                if value is None:
                    continue
            _process_attr(ev, d, key, value)
        except NixError as e:
            e.at(attrpos.lookup(attrs, key))
            e.add_trace(
                attrpos.lookup(attrs, "name"),
                f"while evaluating the attribute '{to_text(key)}' of the derivation "
                f"'{to_text(name)}'",
            )
            raise
    if d.json is not None:
        d.env["__json"] = "{" + ",".join(d.json) + "}"

    known = known_derivations(ev)
    input_drvs, input_srcs = _inputs(ev, known, d.ctx)

    if not d.builder:
        raise EvalError("required attribute 'builder' missing")
    if not d.platform:
        raise EvalError("required attribute 'system' missing")
    if name.endswith(".drv"):
        raise EvalError("derivation names are not allowed to end in '.drv'")

    drv = Derivation(
        outputs={},
        input_drvs=input_drvs,
        input_srcs=input_srcs,
        platform=to_compat(d.platform),
        builder=to_compat(d.builder),
        args=[to_compat(a) for a in d.args],
        env={to_compat(k): to_compat(v) for k, v in d.env.items()},
    )
    store_dir = ev.store.store_dir
    try:
        if d.output_hash is not None:
            _fixed_output(ev, d, drv, store_dir)
        elif d.content_addressed or d.impure:
            _floating_outputs(d, drv)
        else:
            _input_addressed_outputs(known, d, drv, store_dir)
    except DerivationError as e:
        raise EvalError(_compat_text(str(e))) from None

    drv_path = ev.store.add_text(
        name + ".drv", from_compat(drv.to_aterm()), input_srcs | input_drvs.keys()
    )
    known.add(drv_path, drv)

    result: dict[str, Any] = {"drvPath": NixStr(drv_path, frozenset(["=" + drv_path]))}
    for output_name, output in drv.outputs.items():
        lname = from_compat(output_name)
        path = output.path or downstream_placeholder(drv_path, name, lname)
        result[lname] = NixStr(path, frozenset([f"!{lname}!{drv_path}"]))
    return result


def _fixed_output(ev: Evaluator, d: _DrvAttrs, drv: Derivation, store_dir: str) -> None:
    if d.outputs != ["out"]:
        raise EvalError("multiple outputs are not supported in fixed-output derivations")
    assert d.output_hash is not None
    algo = d.output_hash_algo if is_hash_algo(d.output_hash_algo) else None
    h = parse_hash_allow_empty(ev, d.output_hash, algo)
    recursive = bool(d.recursive)
    check_store_name(d.name, lambda: fixed_path_kind(h, recursive), store_dir)
    path = make_fixed_output_path(to_compat(d.name), h, recursive, store_dir=store_dir)
    drv.env["out"] = path
    drv.outputs["out"] = DerivationOutput(
        path, ("r:" if recursive else "") + h.algo, h.to_base16()
    )


def _floating_outputs(d: _DrvAttrs, drv: Derivation) -> None:
    if d.impure:
        raise EvalError("impure derivations are not supported yet")
    algo = d.output_hash_algo if is_hash_algo(d.output_hash_algo) else "sha256"
    method = "" if d.recursive is False else "r:"
    for output in d.outputs:
        drv.env[to_compat(output)] = hash_placeholder(output)
        drv.outputs[to_compat(output)] = DerivationOutput("", method + algo, "")


def _input_addressed_outputs(
    known: KnownDerivations, d: _DrvAttrs, drv: Derivation, store_dir: str
) -> None:
    # Hash the derivation with its own output paths blanked ("masked"): the
    # paths depend on that hash.
    for output in d.outputs:
        drv.env[to_compat(output)] = ""
        drv.outputs[to_compat(output)] = DerivationOutput()
    h = known.hasher.hash(drv)
    if h.deferred:
        return
    name = to_compat(d.name)
    for output, digest in h.hashes.items():
        check_store_name(from_compat(output_path_name(name, output)),
                         _output_kind(output, digest), store_dir)
        path = make_output_path(output, digest, name, store_dir)
        drv.outputs[output] = DerivationOutput(path)
        drv.env[output] = path


def _output_kind(output: str, digest: bytes) -> Callable[[], tuple[str, bytes]]:
    return lambda: (f"output:{output}", digest)


# ---------------------------------------------------------------------------
# text files and sources


@eval_primop("toFile", 2)
def to_file(ev: Evaluator, name_v: Any, contents_v: Any) -> NixStr:
    name = str(expect_string_no_ctx(_f(name_v)))
    contents = expect_string(_f(contents_v))
    ctx: frozenset[str] = contents.ctx if type(contents) is NixStr else frozenset()
    for element in sorted(ctx):
        if not element.startswith("/"):
            raise EvalError(
                f"in 'toFile': the file named '{to_text(name)}' must not contain a reference "
                f"to a derivation but contains ({to_text(element)})"
            )
    path = ev.store.add_text(name, str(contents), set(ctx))
    return NixStr(path, frozenset([path]))


def _coerce_to_path(v: Any, ctx: set[str]) -> str:
    s = coerce_to_string(_f(v), None, ctx, copy_to_store=False)
    if not s.startswith("/"):
        raise EvalError(f"string '{to_text(s)}' doesn't represent an absolute path")
    return s


def _is_function(v: Any) -> bool:
    t = type(v)
    return is_lambda(v) or t is PrimOp or t is PrimOpApp


def _add_path(
    ev: Evaluator,
    path: str,
    name: str,
    filter_fn: Any | None,
    recursive: bool,
    expected: Hash | None,
    ctx: set[str],
) -> NixStr:
    try:
        ev.realise_context(ctx)
        path = ev.check_path(path)
        nix_filter: PathFilter | None = None
        if filter_fn is not None:
            fn = filter_fn

            def nix_filter(entry: str, kind: str) -> bool:
                return expect_bool(call(call(fn, entry), kind))

        store_path = ev.store.add_path(
            path,
            name=name,
            filter=nix_filter,
            recursive=recursive,
            expected_sha256=expected.digest if expected is not None else None,
        )
    except NixError as e:
        e.add_trace(None, f"while adding path '{to_text(path)}'")
        raise
    return NixStr(store_path, frozenset([store_path]))


@eval_primop("path", 1)
def path_(ev: Evaluator, args: Any) -> NixStr:
    attrs = expect_attrs(_f(args))
    ctx: set[str] = set()
    path = ""
    name = ""
    filter_fn: Any | None = None
    recursive = True
    expected: Hash | None = None
    for key in sorted(attrs):
        value = attrs[key]
        try:
            if key == "path":
                path = _coerce_to_path(value, ctx)
            elif key == "name":
                name = str(expect_string_no_ctx(_f(value)))
            elif key == "filter":
                filter_fn = _f(value)
            elif key == "recursive":
                recursive = expect_bool(_f(value))
            elif key == "sha256":
                expected = parse_hash_allow_empty(
                    ev, str(expect_string_no_ctx(_f(value))), "sha256"
                )
            else:
                raise EvalError(f"unsupported argument '{to_text(key)}' to 'addPath'")
        except NixError as e:
            e.at(attrpos.lookup(attrs, key))
            raise
    if not path:
        raise EvalError("'path' required")
    if not name:
        name = base_name(path)
    return _add_path(ev, path, name, filter_fn, recursive, expected, ctx)


@eval_primop("filterSource", 2)
def filter_source(ev: Evaluator, filter_v: Any, path_v: Any) -> NixStr:
    ctx: set[str] = set()
    path = _coerce_to_path(path_v, ctx)
    fn = _f(filter_v)
    if not _is_function(fn):
        raise TypeError_(
            f"first argument in call to 'filterSource' is not a function but {show_type(fn)}"
        )
    return _add_path(ev, path, base_name(path), fn, True, None, ctx)


# ---------------------------------------------------------------------------
# storePath


def _resolve_symlinks(path: str) -> str:
    """Nix's canonPath(path, resolveSymlinks=true): every component must exist."""
    todo = [c for c in path.split("/") if c]
    done = ""
    follows = 0
    while todo:
        c = todo.pop(0)
        if c == ".":
            continue
        if c == "..":
            done = done.rsplit("/", 1)[0]
            continue
        candidate = done + "/" + c
        fs = to_bytes(candidate)
        try:
            mode = os.lstat(fs).st_mode
        except OSError as e:
            raise EvalError(f"getting status of '{to_text(candidate)}': {e.strerror}") from None
        if not stat.S_ISLNK(mode):
            done = candidate
            continue
        follows += 1
        if follows > 1024:
            raise EvalError(f"infinite symlink recursion in path '{to_text(path)}'")
        target = os.readlink(fs).decode("latin-1")
        if target.startswith("/"):
            done = ""
        todo = [t for t in target.split("/") if t] + todo
    return done or "/"


def _store_path_of(path: str, store_dir: str) -> str | None:
    """The store path a path is in, or None outside the store."""
    prefix = store_dir + "/"
    if not path.startswith(prefix) or len(path) == len(prefix):
        return None
    return prefix + path[len(prefix):].split("/", 1)[0]


def _is_store_path(path: str, store_dir: str) -> bool:
    p = canon_path(path)
    top = _store_path_of(p, store_dir)
    if top != p:
        return False
    try:
        StorePath.from_base_name(to_compat(p[len(store_dir) + 1 :]))
    except BadStorePath:
        return False
    return True


@eval_primop("storePath", 1)
def store_path(ev: Evaluator, v: Any) -> StrValue:
    if ev.pure:
        raise EvalError("'builtins.storePath' is not allowed in pure evaluation mode")
    ctx: set[str] = set()
    path = _coerce_to_path(v, ctx)
    ev.check_path(path)  # the logical path is the result, wherever the store keeps it
    store_dir = ev.store.store_dir
    if not _is_store_path(path, store_dir):
        path = _resolve_symlinks(path)
    top = _store_path_of(canon_path(path), store_dir)
    if top is None:
        raise EvalError(f"path '{to_text(path)}' is not in the Nix store")
    try:
        StorePath.from_base_name(to_compat(top[len(store_dir) + 1 :]))
    except BadStorePath as e:
        raise EvalError(_compat_text(str(e))) from None
    ev.store.ensure_path(top)
    ctx.add(top)
    return make_str(path, ctx)
