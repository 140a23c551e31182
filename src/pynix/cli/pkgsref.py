"""``pkgs#ATTR``: packages of pynix's own package set, and what the commands
that run or install packages need to know about an installable.

The package set is ``import <pynix/pkgs> { config = ...; }`` (the collection
shipped with pynix), or the file ``$PYNIX_PKGS`` (a ``default.nix`` or a
directory holding one) when that is set.  Its config comes from
``$XDG_CONFIG_HOME/pynix/pkgs-config.nix`` (``~/.config/...``) when that file
exists -- an attribute set, or a function of ``{ lib }`` as the package set
accepts -- and ``PYNIX_ALLOW_UNFREE=1`` adds ``allowUnfree = true``.

:class:`PackageResolver` turns installables (``pkgs#hello``, ``-f FILE ATTR``,
``--expr``, store paths) into :class:`Package` records: the build target and
what ``pynix run`` and ``pynix profile`` want to know (the program to run, the
name, where it came from so that it can be evaluated again).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, Any, TypeVar

# Only the standard library at import time: a warm `pynix search` needs no
# evaluator (the rest is imported where it is used).
if TYPE_CHECKING:
    from ..build.scheduler import Scheduler
    from .installables import InstallableFlags, Target
    from .storeopts import StoreContext


T = TypeVar("T")


class PkgsSetError(Exception):
    """The package set cannot be found."""


PREFIX = "pkgs#"
SET_NAME = "pkgs"
DEFAULT_PRIORITY = 5

_DRV_NAME_SPLIT = re.compile(r"-(?![A-Za-z])")


# -- where the package set is ----------------------------------------------------------


def shipped_pkgs_dir() -> str:
    """The package collection inside the pynix package (``<pynix/pkgs>``)."""
    return os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                        "nix", "pkgs")  # fmt: skip


def pkgs_override(env: Mapping[str, str]) -> str | None:
    """The file ``$PYNIX_PKGS`` names (a directory stands for its default.nix)."""
    given = env.get("PYNIX_PKGS", "")
    if not given:
        return None
    path = os.path.abspath(os.path.expanduser(given))
    if os.path.isdir(path):
        path = os.path.join(path, "default.nix")
    if not os.path.isfile(path):
        raise PkgsSetError(f"PYNIX_PKGS names '{given}', which is not a Nix file "
                           "(give a package set's default.nix or its directory)")  # fmt: skip
    return path


def config_file(env: Mapping[str, str]) -> str:
    base = env.get("XDG_CONFIG_HOME") or os.path.join(env.get("HOME") or
                                                       os.path.expanduser("~"), ".config")
    return os.path.join(base, "pynix", "pkgs-config.nix")


def allow_unfree(env: Mapping[str, str]) -> bool:
    return env.get("PYNIX_ALLOW_UNFREE", "") not in ("", "0")


def _nix_path_literal(path: str) -> str:
    return "(/. + " + json.dumps(path) + ")"


def pkgs_expr(env: Mapping[str, str]) -> str:
    """The Nix expression of the package set, with its config."""
    override = pkgs_override(env)
    target = "<pynix/pkgs>" if override is None else _nix_path_literal(override)
    cfg = config_file(env)
    extra = "{ allowUnfree = true; }" if allow_unfree(env) else "{ }"
    if os.path.exists(cfg):
        config = (f"(let c = import {_nix_path_literal(cfg)}; extra = {extra}; in "
                  "if builtins.isFunction c then (args: c args // extra) else c // extra)")
    elif allow_unfree(env):
        config = extra
    else:
        return f"import {target} {{ }}"
    return f"import {target} {{ config = {config}; }}"


def sources_digest(env: Mapping[str, str]) -> str:
    """A hash of everything the package set's value depends on: the files of its
    directory, the config file and the settings that choose them."""
    h = hashlib.sha256()
    override = pkgs_override(env)
    root = shipped_pkgs_dir() if override is None else os.path.dirname(override)
    h.update(f"pkgs={override or root}\0nixpath={env.get('NIX_PATH', '')}\0"
             f"unfree={allow_unfree(env)}\0".encode())  # fmt: skip
    for directory, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d != "__pycache__")
        for name in sorted(files):
            path = os.path.join(directory, name)
            h.update(os.fsencode(os.path.relpath(path, root)) + b"\0")
            try:
                with open(path, "rb") as f:
                    h.update(hashlib.sha256(f.read()).digest())
            except OSError:
                h.update(b"unreadable")
    cfg = config_file(env)
    try:
        with open(cfg, "rb") as f:
            h.update(b"config\0" + f.read())
    except OSError:
        h.update(b"no config")
    return h.hexdigest()


# -- names -----------------------------------------------------------------------------


def split_drv_name(name: str) -> tuple[str, str]:
    """``hello-2.10`` -> (``hello``, ``2.10``): the version starts at the first dash
    that is not followed by a letter (Nix's ``DrvName``)."""
    m = _DRV_NAME_SPLIT.search(name)
    if m is None:
        return name, ""
    return name[: m.start()], name[m.end() :]


def store_path_name(path: str) -> str:
    return os.path.basename(path)[33:]


def nix_string(v: Any) -> str | None:
    """A string value as text (None if it is no string)."""
    from ..lang.runtime import force
    from ..lang.values import NixStr
    from .derivations import nix_to_store_text

    v = force(v)
    s = v.s if type(v) is NixStr else v
    return nix_to_store_text(s) if isinstance(s, str) else None


def string_attr(v: dict[str, Any], *path: str) -> str | None:
    """``v.a.b`` as text if it is a string; None if missing, not a string or failing."""
    from ..lang.errors import NixError
    from ..lang.runtime import force

    try:
        for name in path[:-1]:
            if name not in v:
                return None
            v = force(v[name])
            if type(v) is not dict:
                return None
        return nix_string(v[path[-1]]) if path[-1] in v else None
    except NixError:
        return None


# -- packages ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Package:
    """An installable made concrete: what to build and what it is."""

    target: Target
    what: str  # the argument as given
    name: str  # the derivation's (or store path's) name
    pname: str
    version: str
    main_program: str | None = None
    attr_path: str | None = None  # where to evaluate it again (None: a store path)
    original_url: str | None = None  # "pkgs", "file:/abs/x.nix"
    url: str | None = None
    priority: int = DEFAULT_PRIORITY

    @property
    def program(self) -> str:
        """What ``pynix run`` runs: meta.mainProgram, else pname, else the name."""
        return self.main_program or self.pname or split_drv_name(self.name)[0]


@dataclass
class PackageResolver:
    """Evaluates installables for one command (the package set once)."""

    ctx: StoreContext
    flags: InstallableFlags
    stdin: IO[bytes]
    scheduler: Scheduler | None
    _session: Any = None
    _pkgs: Any = None
    _auto_args: dict[str, Any] = field(default_factory=dict)

    def session(self) -> Any:
        if self._session is None:
            from .installables import eval_session

            self._session = eval_session(self.ctx, self.flags.eval, self.scheduler)
            self._auto_args = self.flags.eval.auto_arg_values(self._session)
        return self._session

    def pkgs(self) -> Any:
        from ..lang.errors import STRING_ORIGIN
        from .eval_cmd import arg_text

        if self._pkgs is None:
            session = self.session()
            text = self._checked(pkgs_expr)
            self._pkgs = session.evaluator.eval_source(text, STRING_ORIGIN,
                                                       arg_text(self.ctx.cwd))  # fmt: skip
        return self._pkgs

    def pkgs_url(self) -> str:
        override = self._checked(pkgs_override)
        return SET_NAME if override is None else f"path:{override}"

    def _checked(self, fn: Callable[[Mapping[str, str]], T]) -> T:
        from .storeopts import CommandError

        try:
            return fn(self.ctx.env)
        except PkgsSetError as e:
            raise CommandError(str(e)) from None

    # -- resolving ---------------------------------------------------------------

    def resolve_all(self, args: list[str]) -> list[Package]:
        """The packages the installable arguments (or -f/--expr) stand for."""
        from .storeopts import CommandError

        self.flags.check()
        if self.flags.evaluating:
            return [p for a in (args or [""]) for p in self.from_file(a)]
        if not args:
            raise CommandError("nothing to do: give installables such as 'pkgs#hello'")
        out: list[Package] = []
        for a in args:
            out.extend(self.resolve(a))
        return out

    def resolve(self, arg: str) -> list[Package]:
        from ..lang.attrpath import find_along_attr_path
        from ..lang.errors import NixError
        from .eval_cmd import arg_text
        from .installables import parse_path_installable
        from .storeopts import CommandError

        if arg.startswith(PREFIX):
            attr = arg[len(PREFIX) :]
            if not attr:
                raise CommandError(f"'{arg}' names no package: give 'pkgs#NAME'")
            try:
                value = find_along_attr_path(self.pkgs(), arg_text(attr), self._auto_args)
                return self._of_value(value, arg, attr, SET_NAME, self.pkgs_url())
            except NixError as e:
                e.msg = _with_hint(e.msg, self.ctx.env)
                raise
        if "/" not in arg:
            raise CommandError(
                f"cannot use '{arg}': give 'pkgs#{arg}' for a package of pynix's package "
                f"set, '--file FILE {arg}' for an attribute of a file, or a store path"
            )
        return [self._of_target(parse_path_installable(self.ctx, arg), arg)]

    def from_file(self, attr: str) -> list[Package]:
        from .eval_cmd import Installable as EvalInstallable
        from .eval_cmd import installable_value

        flags = self.flags
        session = self.session()
        if flags.expr is not None:
            inst = EvalInstallable("expr", flags.expr, attr)
            origin = None
        else:
            assert flags.file is not None
            inst = EvalInstallable("file", flags.file, attr)
            origin = (None if flags.file == "-" else
                      "file:" + os.path.normpath(os.path.join(self.ctx.cwd, flags.file)))
        value = installable_value(inst, session, self._auto_args, self.stdin)
        return self._of_value(value, attr or (flags.file or "«expr»"), attr, origin, origin)

    def _of_value(self, value: Any, what: str, attr: str, original: str | None,
                  url: str | None) -> list[Package]:
        from ..lang.attrpath import auto_call
        from ..lang.errors import NixError
        from ..lang.runtime import force
        from .derivations import get_derivations, is_derivation
        from .eval_cmd import arg_text
        from .installables import Built
        from .storeopts import CommandError

        v = force(auto_call(value, self._auto_args))
        if not is_derivation(v):
            # a set or list of derivations: each as nix-build finds them
            found = get_derivations(v, self._auto_args, arg_text(attr))
            if not found:
                raise CommandError(f"'{what}' does not stand for any package")
            return [self._of_target(Built(f.drv_path, frozenset([f.output_name]), what), what,
                                    attr_path=f.attr_path if original else None,
                                    original=original, url=url)
                    for f in found]  # fmt: skip
        drv = get_derivations(v, self._auto_args, arg_text(attr))[0]
        name = string_attr(v, "name") or store_path_name(drv.drv_path).removesuffix(".drv")
        pname, version = split_drv_name(name)
        outputs = {drv.output_name}
        install = _string_list(v, "meta", "outputsToInstall")
        first = _string_list(v, "outputs")
        if install and (not first or first[0] == drv.output_name):
            outputs = set(install)
        priority = DEFAULT_PRIORITY
        try:
            meta = force(v["meta"]) if "meta" in v else None
            if type(meta) is dict and "priority" in meta:
                p = force(meta["priority"])
                if isinstance(p, int) and not isinstance(p, bool):
                    priority = p
        except NixError:
            pass
        return [Package(
            target=Built(drv.drv_path, frozenset(outputs), what),
            what=what, name=name,
            pname=string_attr(v, "pname") or pname,
            version=string_attr(v, "version") or version,
            main_program=string_attr(v, "meta", "mainProgram"),
            attr_path=attr if original else None,
            original_url=original, url=url, priority=priority,
        )]  # fmt: skip

    def _of_target(self, target: Target, what: str, *, attr_path: str | None = None,
                   original: str | None = None, url: str | None = None) -> Package:
        from .installables import Opaque

        if isinstance(target, Opaque):
            name = store_path_name(target.path)
        else:
            name = store_path_name(target.drv_path).removesuffix(".drv")
        pname, version = split_drv_name(name)
        return Package(target, what, name, pname, version, attr_path=attr_path,
                       original_url=original, url=url)  # fmt: skip


def _string_list(v: dict[str, Any], *path: str) -> list[str]:
    from ..lang.errors import NixError
    from ..lang.runtime import force

    try:
        for name in path:
            if type(v) is not dict or name not in v:
                return []
            v = force(v[name])
        if type(v) is not list:
            return []
        out = [nix_string(x) for x in v]
        return [x for x in out if x]
    except NixError:
        return []


def _with_hint(msg: str, env: Mapping[str, str]) -> str:
    if "allowUnfree" in msg and "PYNIX_ALLOW_UNFREE" not in msg:
        msg = msg.rstrip("\n") + (
            "\n\nFor 'pkgs#' installables, set PYNIX_ALLOW_UNFREE=1 in the environment, or "
            f"{{ allowUnfree = true; }} in {config_file(env)}."
        )
    return msg


def resolve_targets(resolver: PackageResolver, arg: str) -> list[Target]:
    """The build targets of a ``pkgs#`` argument (for ``pynix build``)."""
    return [p.target for p in resolver.resolve(arg)]
