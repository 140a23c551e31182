"""Installables of the store commands (``pynix build``, ``path-info``, ``log``...).

With ``--file FILE``/``-f FILE`` or ``--expr EXPR`` every argument is an
attribute path into that value (none means the whole value), evaluated on
the real store (derivations are written to it) and searched for derivations
as ``nix-build`` does (:mod:`.derivations`); each selects the output named by
its ``outputName``.  Otherwise an argument is a store path, or a symlink
leading to one (``./result``): a ``.drv`` path stands for its outputs
(``/nix/store/x.drv^out,dev``, ``x.drv!out`` or ``x.drv^*`` select some),
any other path for itself.  ``pkgs#ATTR`` is a package of pynix's package
set (:mod:`.pkgsref`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import IO

from ..build.evalstore import BuildingEvalStore
from ..build.scheduler import Scheduler
from ..compat.storepath import BadStorePath, StorePath
from ..lang.errors import EvalError
from ..store.api import STORE_DIR, Store
from .common import EvalFlags, EvalSession, UsageError
from .derivations import get_derivations
from .eval_cmd import Installable as EvalInstallable
from .eval_cmd import arg_text, installable_value
from .storeopts import CommandError, StoreContext, need


@dataclass(frozen=True)
class Built:
    """Outputs of a derivation (``outputs`` None: all of them)."""

    drv_path: str
    outputs: frozenset[str] | None
    what: str


@dataclass(frozen=True)
class Opaque:
    """A store path as it is."""

    path: str
    what: str


Target = Built | Opaque


class InstallableFlags:
    """``--file``/``--expr``, the evaluation flags and the installable arguments."""

    def __init__(self) -> None:
        self.file: str | None = None
        self.expr: str | None = None
        self.args: list[str] = []
        self.eval = EvalFlags()

    def take(self, argv: list[str], i: int) -> int:
        a = argv[i]
        if a in ("-f", "--file"):
            self.file = need(argv, i)[0]
            return i + 2
        if a in ("-E", "--expr"):
            self.expr = need(argv, i)[0]
            return i + 2
        return self.eval.take(argv, i)

    @property
    def evaluating(self) -> bool:
        return self.file is not None or self.expr is not None

    def check(self) -> None:
        if self.file is not None and self.expr is not None:
            raise UsageError("'--file' and '--expr' are exclusive")


def store_dir_of(store: Store) -> tuple[str, ...]:
    """The prefixes under which paths are in ``store`` (logical and physical)."""
    real = store.real_path(STORE_DIR)
    return (STORE_DIR,) if real == STORE_DIR else (STORE_DIR, real)


def follow_links_to_store_path(ctx: StoreContext, text: str) -> str:
    """The store path an argument names: a path in the store (a file inside one
    stands for the whole path) or a symlink leading there (``./result``)."""
    path = ctx.path(text)
    prefixes = store_dir_of(ctx.store)

    def in_store(p: str) -> str | None:
        for prefix in prefixes:
            if p.startswith(prefix + "/"):
                return STORE_DIR + p[len(prefix) :]
        return None

    seen = 0
    while in_store(path) is None and os.path.islink(path) and seen < 64:
        seen += 1
        path = os.path.normpath(os.path.join(os.path.dirname(path), os.readlink(path)))
    logical = in_store(path)
    if logical is None:
        raise CommandError(f"path '{text}' is not in the Nix store")
    base = logical[len(STORE_DIR) + 1 :].split("/", 1)[0]
    try:
        StorePath.from_base_name(base)
    except BadStorePath as e:
        raise CommandError(str(e)) from None
    return f"{STORE_DIR}/{base}"


def store_file_arg(ctx: StoreContext, text: str) -> tuple[str, str]:
    """(store path, path inside it or "") for a path in the store, given
    directly or through symlinks outside the store (``./result/bin/hello``)."""
    prefixes = store_dir_of(ctx.store)
    path = ctx.path(text)
    for _ in range(64):
        for prefix in prefixes:
            if path.startswith(prefix + "/"):
                base, _, rest = path[len(prefix) + 1 :].partition("/")
                try:
                    StorePath.from_base_name(base)
                except BadStorePath as e:
                    raise CommandError(str(e)) from None
                return f"{STORE_DIR}/{base}", rest
        parts = path.split("/")
        for n in range(2, len(parts) + 1):
            prefix_path = "/".join(parts[:n])
            if os.path.islink(prefix_path):
                target = os.path.join(os.path.dirname(prefix_path), os.readlink(prefix_path))
                path = os.path.normpath("/".join([target, *parts[n:]]))
                break
        else:
            break
    raise CommandError(f"path '{text}' is not in the Nix store")


def parse_path_installable(ctx: StoreContext, text: str) -> Target:
    """``/nix/store/x``, ``/nix/store/x.drv^out,dev``, ``x.drv!out``, ``./result``."""
    outputs: frozenset[str] | None = None
    path_text = text
    for sep in ("^", "!"):
        if sep in text:
            path_text, _, spec = text.partition(sep)
            outputs = None if spec == "*" else frozenset(o for o in spec.split(",") if o)
            break
    path = follow_links_to_store_path(ctx, path_text)
    if path.endswith(".drv"):
        return Built(path, outputs, text)
    if outputs is not None:
        raise CommandError(f"'{text}': only a derivation has outputs to select")
    return Opaque(path, text)


def eval_session(ctx: StoreContext, flags: EvalFlags, scheduler: Scheduler | None) -> EvalSession:
    """An evaluator writing into the context's store (``scheduler`` builds for
    import-from-derivation)."""
    adapter = BuildingEvalStore(ctx.store, scheduler, error=EvalError)
    return EvalSession(env=ctx.env, cwd=ctx.cwd, stderr=ctx.stderr,
                       search_path=flags.search_path, eager=False,
                       trace_verbose=flags.trace_verbose, store=adapter)  # fmt: skip


def resolve(ctx: StoreContext, flags: InstallableFlags, stdin: IO[bytes],
            scheduler: Scheduler | None, *, default: list[str] | None = None) -> list[Target]:
    """The targets the installable arguments stand for, in order."""
    flags.check()
    args = flags.args
    if flags.evaluating:
        return _evaluate(ctx, flags, stdin, scheduler, args or [""])
    if not args:
        if default is None:
            raise UsageError("nothing to do: give installables, or --file FILE or --expr EXPR")
        args = default
    targets: list[Target] = []
    pkgs = None
    for a in args:
        if a.startswith("pkgs#"):  # pynix's package set (.pkgsref)
            from .pkgsref import PackageResolver, resolve_targets

            pkgs = pkgs or PackageResolver(ctx, flags, stdin, scheduler)
            targets.extend(resolve_targets(pkgs, a))
            continue
        if "/" not in a:
            raise CommandError(
                f"cannot use '{a}': flake references are not supported yet "
                f"(to use an attribute of a file, give '--file FILE {a}')"
            )
        targets.append(parse_path_installable(ctx, a))
    return targets


def _evaluate(ctx: StoreContext, flags: InstallableFlags, stdin: IO[bytes],
              scheduler: Scheduler | None, attr_paths: list[str]) -> list[Target]:
    session = eval_session(ctx, flags.eval, scheduler)
    auto_args = flags.eval.auto_arg_values(session)
    if flags.expr is not None:
        kind, source = "expr", flags.expr
    else:
        assert flags.file is not None
        kind, source = "file", flags.file
    targets: list[Target] = []
    for attr_path in attr_paths:
        inst = EvalInstallable(kind, source, attr_path)
        value = installable_value(inst, session, auto_args, stdin)
        for found in get_derivations(value, auto_args, arg_text(attr_path)):
            targets.append(Built(found.drv_path, frozenset([found.output_name]),
                                 attr_path or found.drv_path))  # fmt: skip
    return targets
