"""How Nix values are represented at run time.

=========  ===============================================================
Nix        Python
=========  ===============================================================
int        ``int`` (never ``bool``; test with ``type(v) is int``); 64-bit,
           wrapping as Nix 2.8 does
float      ``float``
bool       ``bool``
null       ``None``
string     ``str`` when it has no context, :class:`NixStr` when it has one.
           Nix strings are byte strings: every ``str`` holds one character
           per byte (latin-1), so lengths, slicing, sorting and regular
           expressions work on bytes exactly as in Nix.  Use
           :func:`from_bytes` / :func:`to_bytes` at the edges.
path       :class:`NixPath`
list       ``list`` (never mutated once built)
attrset    ``dict`` mapping names to values or thunks (never mutated once
           built)
lambda     a Python function of one argument (``types.FunctionType``);
           its metadata is in :data:`LAMBDA_INFO`, keyed by its code object
primop     :class:`PrimOp`, partially applied: :class:`PrimOpApp`
=========  ===============================================================

A :class:`Thunk` may appear wherever a value is stored (list elements,
attribute values, variable bindings, function arguments) but never as the
result of forcing something.
"""

from __future__ import annotations

from collections.abc import Callable
from types import CodeType, FunctionType
from typing import Any, Final, TypeAlias

Value: TypeAlias = Any  # one of the Python types in the table above
Pos: TypeAlias = tuple[str, int, int]  # (file, line, column); file may be "«string»"

NO_POS: Final[Pos] = ("", 0, 0)


def from_bytes(b: bytes) -> str:
    """Bytes read from a file, the environment or a process, as a Nix string."""
    return b.decode("latin-1")


def to_bytes(s: str) -> bytes:
    """A Nix string as the bytes it stands for."""
    return s.encode("latin-1")


def from_text(s: str) -> str:
    """Unicode text written in Python (a message, a name) as a Nix string."""
    return s.encode("utf-8").decode("latin-1")


def to_text(s: str) -> str:
    """A Nix string as readable Unicode text (for messages); bad UTF-8 is replaced."""
    try:
        return s.encode("latin-1").decode("utf-8", "replace")
    except UnicodeEncodeError:  # already Unicode text
        return s


class NixStr:
    """A Nix string that carries a string context.

    ``s`` is the text (a plain ``str``, one character per byte) and ``ctx`` a
    frozenset of context elements in Nix's own encoding: ``/nix/store/...``
    (a plain store path), ``=/nix/store/...drv`` (a derivation and all its
    outputs), ``!out!/nix/store/...drv`` (one output).  It is deliberately
    not a ``str`` subclass: a subclass would need an instance dictionary,
    which costs more memory than the string itself.  ``str(x)`` gives the text.
    """

    __slots__ = ("ctx", "s")

    def __init__(self, s: str, ctx: frozenset[str]) -> None:
        self.s = s
        self.ctx = ctx

    def __str__(self) -> str:
        return self.s

    def __len__(self) -> int:
        return len(self.s)

    def __eq__(self, other: object) -> bool:
        if type(other) is NixStr:
            return self.s == other.s
        return self.s == other

    def __hash__(self) -> int:
        return hash(self.s)

    def __repr__(self) -> str:
        return f"NixStr({self.s!r}, {sorted(self.ctx)!r})"


_CONTEXTS: dict[frozenset[str], frozenset[str]] = {}


def intern_context(ctx: frozenset[str] | set[str]) -> frozenset[str]:
    """One shared frozenset per distinct context (many strings share a context)."""
    fs = ctx if type(ctx) is frozenset else frozenset(ctx)
    return _CONTEXTS.setdefault(fs, fs)


StrValue: TypeAlias = "str | NixStr"  # a Nix string value: plain, or with context


def make_str(s: str, ctx: frozenset[str] | set[str] | None) -> StrValue:
    """A string with the given context (a plain ``str`` when it is empty)."""
    if ctx:
        return NixStr(s, intern_context(ctx))
    return s


def context_of(s: StrValue) -> frozenset[str]:
    return s.ctx if type(s) is NixStr else EMPTY_CTX


EMPTY_CTX: Final[frozenset[str]] = frozenset()


class NixPath:
    """A path value: absolute and canonical (no ``.``, ``..`` or trailing slash)."""

    __slots__ = ("path",)

    def __init__(self, path: str) -> None:
        self.path = path

    def __eq__(self, other: object) -> bool:
        return type(other) is NixPath and other.path == self.path

    def __hash__(self) -> int:
        return hash(self.path)

    def __repr__(self) -> str:
        return f"NixPath({self.path!r})"


class Thunk:
    """A suspended computation, forced at most once.

    Until it is forced, ``fn(*v)`` computes the value in weak head normal
    form: ``v`` holds the arguments (the variables the computation needs,
    captured when the thunk was made; often none, when ``fn`` is a closure).
    While it runs, ``fn`` is :data:`BLACKHOLE`, so that a thunk that needs
    itself is reported as infinite recursion; afterwards ``fn`` is ``None`` and
    ``v`` holds the value.  If forcing fails, the thunk is left as it was, so
    that forcing it again (after ``tryEval``) raises again.
    """

    __slots__ = ("fn", "v")

    fn: Callable[..., Any] | None
    v: Any

    def __init__(self, fn: Callable[..., Any], args: tuple[Any, ...] = ()) -> None:
        self.fn = fn
        self.v = args

    def force(self) -> Any:
        fn = self.fn
        if fn is None:
            return self.v
        if fn is BLACKHOLE:
            from .errors import InfiniteRecursion

            raise InfiniteRecursion("infinite recursion encountered")
        self.fn = BLACKHOLE
        try:
            v = fn(*self.v)
        except BaseException:
            self.fn = fn
            raise
        self.v = v
        self.fn = None
        return v

    def forced(self) -> bool:
        return self.fn is None


def _blackhole() -> Any:  # pragma: no cover - never called
    raise AssertionError("black hole called")


BLACKHOLE: Final = _blackhole


def evaluated(v: Any) -> Thunk:
    """A thunk that is already forced (for APIs that want a thunk)."""
    t = Thunk.__new__(Thunk)
    t.fn = None
    t.v = v
    return t


def force(v: Any) -> Any:
    """Force a value or thunk to weak head normal form."""
    return v.force() if type(v) is Thunk else v


class PrimOp:
    """A built-in function of ``arity`` arguments (each a value or a thunk)."""

    __slots__ = ("arity", "fn", "name")

    def __init__(self, name: str, arity: int, fn: Callable[..., Any]) -> None:
        self.name = name
        self.arity = arity
        self.fn = fn

    def __repr__(self) -> str:
        return f"<primop {self.name}>"


class PrimOpApp:
    """A primop applied to fewer arguments than its arity."""

    __slots__ = ("args", "prim")

    def __init__(self, prim: PrimOp, args: tuple[Any, ...]) -> None:
        self.prim = prim
        self.args = args


class LambdaInfo:
    """What a Nix lambda looks like from the outside.

    ``formals`` is ``None`` for ``x: ...`` and otherwise a tuple of
    ``(name, has_default, pos)`` in source order.
    """

    __slots__ = ("arg", "ellipsis", "formals", "name", "pos")

    def __init__(
        self,
        name: str | None,
        pos: Pos,
        arg: str | None,
        formals: tuple[tuple[str, bool, Pos], ...] | None,
        ellipsis: bool,
    ) -> None:
        self.name = name
        self.pos = pos
        self.arg = arg
        self.formals = formals
        self.ellipsis = ellipsis


LAMBDA_INFO: dict[CodeType, LambdaInfo] = {}

LambdaType: Final = FunctionType


def is_lambda(v: Any) -> bool:
    return type(v) is FunctionType


def is_function(v: Any) -> bool:
    t = type(v)
    return t is FunctionType or t is PrimOp or t is PrimOpApp or (
        t is dict and "__functor" in v
    )


def type_name(v: Any) -> str:
    """The name ``builtins.typeOf`` gives (v must be forced)."""
    t = type(v)
    if t is int:
        return "int"
    if t is str or t is NixStr:
        return "string"
    if t is dict:
        return "set"
    if t is list:
        return "list"
    if t is bool:
        return "bool"
    if v is None:
        return "null"
    if t is float:
        return "float"
    if t is NixPath:
        return "path"
    if t is FunctionType or t is PrimOp or t is PrimOpApp:
        return "lambda"
    raise AssertionError(f"not a Nix value: {t.__name__}")


_SHOW_TYPE: Final = {
    "int": "an integer",
    "string": "a string",
    "set": "a set",
    "list": "a list",
    "bool": "a Boolean",
    "null": "null",
    "float": "a float",
    "path": "a path",
}


def show_type(v: Any) -> str:
    """Nix's description of a value's type in messages ("a string", "a set")."""
    t = type(v)
    if t is FunctionType:
        return "a function"
    if t is PrimOp:
        return f"the built-in function '{v.name}'"
    if t is PrimOpApp:
        return f"the partially applied built-in function '{v.prim.name}'"
    if t is NixStr:
        return "a string with context"
    return _SHOW_TYPE[type_name(v)]
