"""The evaluator: parsing, compiling and running Nix code, imports, the search path.

The evaluator sees a store only through :class:`~.store_api.EvalStore`
(adding paths and text, writing derivations, realising for
import-from-derivation); the command line wires a real store in.
"""

from __future__ import annotations

import hashlib
import os
import sys
import time
from collections.abc import Callable, Mapping
from types import CodeType, FunctionType
from typing import IO, Any

from . import attrpos, codecache, runtime
from .builtins import make_base_env
from .errors import SOURCES, STRING_ORIGIN, EvalError, NixError, ParseError
from .paths import canon_path
from .store_api import ComputingStore, EvalStore
from .syntax import Node
from .values import (
    LAMBDA_INFO,
    LambdaInfo,
    NixPath,
    NixStr,
    PrimOp,
    Thunk,
    from_bytes,
    from_text,
    to_bytes,
    to_text,
)

NIX_VERSION = "2.8.0"
# the Nix code that ships with pynix (<pynix>, <nix/...>)
NIX_DIR = from_bytes(os.fsencode(
    os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "nix")))
LANG_VERSION = 6


def parse_search_path_entry(entry: str) -> tuple[str, str]:
    """``prefix=path`` or ``path`` (an empty prefix)."""
    if "=" in entry:
        prefix, _, path = entry.partition("=")
        return prefix, path
    return "", entry


def split_nix_path(value: str) -> list[str]:
    """Split NIX_PATH on ':' while keeping URLs such as https://... in one piece."""
    out: list[str] = []
    cur = ""
    i = 0
    while i < len(value):
        c = value[i]
        if c == ":":
            if value.startswith("//", i + 1) and cur.split("=")[-1].isalpha():
                cur += c
            else:
                if cur:
                    out.append(cur)
                cur = ""
        else:
            cur += c
        i += 1
    if cur:
        out.append(cur)
    return out


class Evaluator:
    def __init__(
        self,
        *,
        search_path: list[str] | None = None,
        env: Mapping[str, str] | None = None,
        cwd: str | None = None,
        store: EvalStore | None = None,
        stderr: IO[bytes] | None = None,
        eager_containers: bool = True,
        trace_verbose: bool = False,
        pure: bool = False,
    ) -> None:
        self.env = dict(os.environ if env is None else env)
        self.cwd = cwd or os.getcwd()
        self.store: EvalStore = store or ComputingStore()
        self.stderr = stderr or sys.stderr.buffer
        self.eager_containers = eager_containers
        self.trace_verbose = trace_verbose
        self.abort_on_warn = False
        self.pure = pure
        entries = list(search_path or [])
        entries += split_nix_path(self.env.get("NIX_PATH", ""))
        self.search_path = [parse_search_path_entry(e) for e in entries]
        self.file_cache: dict[str, Any] = {}
        self.builtins, self.base = make_base_env(self)
        self.globals = _globals(self.base)
        # builtins the compiler may call directly: name -> (arity, global suffix)
        self.primops: dict[str, tuple[int, str]] = {}
        for i, (name, v) in enumerate(sorted(self.builtins.items())):
            if type(v) is PrimOp:
                suffix = f"{i}_{''.join(c if c.isalnum() else '_' for c in name)}"
                self.primops[name] = (v.arity, suffix)
                self.globals["_P_" + suffix] = v
                self.globals["_F_" + suffix] = v.fn
        self.base_primops = {
            bname: v.name for bname, v in self.base.items()
            if type(v) is PrimOp and v.name in self.primops
        }
        runtime.COERCER.copy_path = self.copy_path_to_store

    # -- values the builtins set provides ------------------------------

    def constants(self) -> dict[str, Any]:
        return {
            "true": True,
            "false": False,
            "null": None,
            "currentSystem": "x86_64-linux",
            "currentTime": int(time.time()),
            "nixVersion": NIX_VERSION,
            "langVersion": LANG_VERSION,
            "storeDir": self.store.store_dir,
            "nixPath": [
                {"path": from_text(p), "prefix": from_text(pre)}
                for pre, p in getattr(self, "search_path", [])
            ],
            "derivation": Thunk(self._derivation_function),
        }

    def _derivation_function(self) -> Any:
        return self.import_file(NIX_DIR + "/corepkgs/derivation.nix")

    # -- output --------------------------------------------------------

    def log_trace(self, msg: str) -> None:
        self.stderr.write(b"trace: " + to_bytes(msg) + b"\n")
        self.stderr.flush()

    def log_warning(self, msg: str) -> None:
        self.stderr.write(b"evaluation warning: " + to_bytes(msg) + b"\n")
        self.stderr.flush()

    def getenv(self, name: str) -> str:
        v = self.env.get(to_text(name))
        return from_text(v) if v is not None else ""

    # -- parsing and compiling -------------------------------------------

    def parse(self, text: str, file: str, base_dir: str) -> Node:
        SOURCES[file] = to_text(text)
        from .parser import parse

        home = self.env.get("HOME")
        return parse(text, file, base_dir, from_text(home) if home is not None else None)

    def load(
        self,
        text: str,
        file: str,
        base_dir: str,
        curpos_file: str,
        scope: dict[str, Any] | None = None,
    ) -> Callable[[], Any]:
        """The compiled form of a source: a function that evaluates it.

        Compiled code comes from the on-disk cache when it can.
        """
        if "unsafeGetAttrPos" in text:
            attrpos.STATE.enabled = True
        SOURCES[file] = to_text(text)
        home = self.env.get("HOME")
        key = codecache.cache_key(
            text, file, base_dir, curpos_file, home or "", self.compile_flags(),
            "\0".join(sorted(scope)) if scope else "", str(attrpos.STATE.enabled))
        # only files are worth caching (an expression given on the command line or
        # typed into the repl would only fill the cache)
        cacheable = file.startswith("/")
        hit = codecache.load(key) if cacheable else None
        if hit is not None:
            code, lambdas = hit
        else:
            from .compiler import compile_node
            from .parser import parse

            node = parse(text, file, base_dir, from_text(home) if home is not None else None)
            base_names = frozenset(self.base)
            if scope is not None:
                base_names = base_names | frozenset(scope)
            compiled = compile_node(node, file, base_names, curpos_file,
                                    eager=self.eager_containers, primops=self.primops,
                                    base_primops=self.base_primops,
                                    shadowed=frozenset(scope or ()),
                                    track_positions=attrpos.STATE.enabled)
            code, lambdas = compiled.code, compiled.lambdas
            if cacheable:
                codecache.store(key, code, lambdas)
        _register_lambdas(code, lambdas)
        g = dict(self.globals)
        if scope is not None:
            g["_B"] = {**self.base, **scope}
        exec(code, g)
        return g["_nix_main"]

    def compile_flags(self) -> str:
        flags = self.__dict__.get("_flags")
        if flags is None:
            h = hashlib.sha256(repr((
                self.eager_containers, sorted(self.primops.items()),
                sorted(self.base_primops.items()), sorted(self.base),
            )).encode()).hexdigest()
            flags = self.__dict__["_flags"] = h
        return flags

    def eval_source(self, text: str, file: str, base_dir: str,
                    curpos_file: str | None = None) -> Any:
        """Parse, compile and evaluate source text to weak head normal form."""
        return self.load(text, file, base_dir, text if curpos_file is None else curpos_file)()

    def eval_string(self, text: str, base_dir: str | None = None) -> Any:
        return self.eval_source(text, STRING_ORIGIN, base_dir or from_text(self.cwd))

    # -- files -------------------------------------------------------------

    def resolve_expr_path(self, path: str) -> str:
        path = canon_path(path)
        try:
            if os.path.isdir(to_bytes(path)):
                path = path.rstrip("/") + "/default.nix"
        except OSError:
            pass
        return path

    def read_source(self, path: str) -> str:
        try:
            with open(to_bytes(path), "rb") as fh:
                data = fh.read()
        except FileNotFoundError:
            raise EvalError(f"getting status of '{to_text(path)}': No such file or directory")\
                from None
        except IsADirectoryError:
            raise EvalError(f"reading file '{to_text(path)}': Is a directory") from None
        except OSError as e:
            raise EvalError(f"opening file '{to_text(path)}': {e.strerror}") from None
        text = from_bytes(data)
        SOURCES[to_text(path)] = data.decode("utf-8", "replace")
        return text

    def import_file(self, path: str, scope: dict[str, Any] | None = None) -> Any:
        path = self.resolve_expr_path(self.check_path(path))
        if scope is None:
            cached = self.file_cache.get(path)
            if cached is not None:
                return cached.force() if type(cached) is Thunk else cached
        text = self.read_source(path)
        file = to_text(path)
        fn = self.load(text, file, path.rsplit("/", 1)[0] or "/", path, scope)
        if scope is not None:
            return fn()
        thunk = Thunk(fn)
        self.file_cache[path] = thunk
        return thunk.force()

    def find_file(self, entries: list[tuple[str, str]], name: str) -> str | None:
        for prefix, elem in entries:
            if not prefix:
                suffix = "/" + name
            else:
                n = len(prefix)
                if not name.startswith(prefix) or (len(name) > n and name[n] != "/"):
                    continue
                suffix = "" if len(name) == n else "/" + name[n + 1 :]
            root = self.resolve_search_path_elem(elem)
            if root is None:
                continue
            candidate = root + suffix
            if os.path.lexists(to_bytes(candidate)):
                return canon_path(candidate)
        # built in: <nix/...> (Nix's own helper expressions) and <pynix/...>
        for prefix, sub in (("nix/", "corepkgs/"), ("pynix/", ""), ("pynix", "")):
            if name.startswith(prefix) if prefix.endswith("/") else name == prefix:
                candidate = NIX_DIR + "/" + sub + name[len(prefix):]
                candidate = candidate.rstrip("/")
                if os.path.lexists(to_bytes(candidate)):
                    return canon_path(candidate)
        return None

    def resolve_search_path_elem(self, elem: str) -> str | None:
        if "://" in elem:
            return None
        path = elem if elem.startswith("/") else from_text(self.cwd) + "/" + elem
        path = canon_path(path)
        if not os.path.lexists(to_bytes(path)):
            return None
        return path

    def check_path(self, path: str) -> str:
        """The path to read for ``path``: files inside the store are read where
        the store keeps them (a chroot store has them under its root)."""
        return self.store.real_path(path)

    def realise_context(self, ctx: set[str]) -> None:
        if ctx:
            self.store.realise_context(ctx)

    def store_references(self, path: str) -> set[str]:
        return self.store.references_of(path)

    def copy_path_to_store(self, path: str, pos: Any) -> NixStr:
        try:
            sp = self.store.add_path(path, name=None, filter=None, recursive=True)
        except NixError as e:
            raise e.at(pos) from None
        return NixStr(sp, frozenset([sp]))


def _register_lambdas(code: CodeType, infos: dict[str, LambdaInfo]) -> None:
    if not infos:
        return
    stack = [code]
    while stack:
        c = stack.pop()
        info = infos.get(c.co_name)
        if info is not None:
            LAMBDA_INFO[c] = info
        for k in c.co_consts:
            if type(k) is CodeType:
                stack.append(k)


def _globals(base: dict[str, Any]) -> dict[str, Any]:
    from . import runtime as r

    return {
        "__builtins__": {},
        "type": type,
        "int": int,
        "float": float,
        "bool": bool,
        "dict": dict,
        "str": str,
        "list": list,
        "len": len,
        "_T": Thunk,
        "_FT": FunctionType,
        "_NixPath": NixPath,
        "_MISSING": r.MISSING,
        "_MIN": r.MIN_INT,
        "_MAX": r.MAX_INT,
        "_wrap": r.wrap_int,
        "_idiv": r.int_div,
        "_B": base,
        "_force": r.force,
        "_call": r.call,
        "_sel": r.select,
        "_selp": r.select_path,
        "_selor": r.select_or,
        "_sname": r.select_name,
        "_has": r.has_attr_path,
        "_dyn": r.add_dynamic_attrs,
        "_update": r.update,
        "_concat": r.concat_lists,
        "_interp": r.interpolate,
        "_add": r.add,
        "_concat_path": r.concat_path,
        "_sub": r.sub,
        "_mul": r.mul,
        "_div": r.div,
        "_lt": r.less_than,
        "_eq": r.equal,
        "_truthy": r.truthy,
        "_notbool": r.not_bool,
        "_assert": r.check_assert,
        "_wl": r.with_lookup,
        "_wll": r.with_lookup_lazy,
        "_wlt": r.with_lookup_thunk,
        "_fargs": r.function_arg,
        "_missing_arg": r.missing_argument,
        "_unexpected_arg": r.unexpected_argument,
        "_overrides": r.overrides_of,
        "_ovget": r.override_get,
        "_ovmerge": r.override_merge,
        "_recpos": attrpos.record,
    }


__all__ = ["Evaluator", "ParseError"]
