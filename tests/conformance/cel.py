"""Istio CRD ``x-kubernetes-validations`` rules, evaluated with cel-python (``celpy``).

Kubernetes evaluates these rules in the API server with cel-go and its Kubernetes libraries. Here
``celpy`` parses and evaluates the standard language; the Kubernetes library functions that the
Istio bundles' rules call and that CEL itself lacks are added as custom functions:

* ``url(string)``, ``isURL(string)`` and ``<URL>.getScheme()`` (Kubernetes URL library; parsing
  follows Go's ``url.ParseRequestURI``);
* ``<string>.substring(start[, end])`` and ``<string>.split(separator[, limit])`` (cel-go
  strings extension, enabled in Kubernetes; ``split`` follows Go's ``strings.SplitN``: a limit
  below 0 or none means no limit, 0 gives an empty list).

Where ``celpy`` 0.5 differs from cel-go on values the rules see, its behaviour is replaced (each
difference was found by evaluating every bundle rule on generated values with both this module
and the hand-written evaluator it replaced):

* ``duration(string)`` follows Go's ``time.ParseDuration`` (celpy refuses ``µs`` and ``0`` and
  accepts a ``d`` unit);
* ``int(string)`` follows Go's ``strconv.ParseInt`` (celpy uses Python's ``int()``, which accepts
  blanks and ``_`` separators);
* ``==``, ``!=`` and ``in`` use heterogeneous equality (a string compared with a map is unequal;
  celpy raises, and finds ``true == 1``); ``<``, ``<=``, ``>``, ``>=`` compare int and double by
  value (celpy raises) and refuse a bool against a number (celpy compares it as an int);
* ``&&``, ``||`` and the ``all``/``exists`` macros absorb an error when the other side decides
  and pass it on otherwise (celpy raises on two errors); macros refuse strings (celpy iterates their
  characters); ``exists_one`` passes an element's error on; ``has(x.f)`` is an error when ``x`` is
  not a map, and ``size(null)`` is an error (celpy answers False and 0).

A rule that names a function, method, macro or variable outside that set raises
:class:`CelUnsupportedError` when it is compiled; callers report such rules as "not evaluated"
instead of guessing. A rule that fails at run time the way CEL would (a missing field, a bad
duration) raises :class:`CelEvalError`, which the API server reports as a rejection.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlsplit

import celpy
import lark
from celpy import celtypes
from celpy.evaluation import CELEvalError as _CelpyEvalError
from celpy.evaluation import CELUnsupportedError as _CelpyUnsupportedError
from celpy.evaluation import Evaluator, Result, base_functions


class CelUnsupportedError(Exception):
    """The rule uses CEL this evaluator does not implement."""


class CelEvalError(Exception):
    """The rule failed at run time (e.g. ``no such key``), as it would in the API server."""


# --------------------------------------------------------------------------- custom functions

_INT64 = (-(2**63), 2**63 - 1)
_GO_INT_RE = re.compile(r"[+-]?[0-9]+")
_DURATION_PART_RE = re.compile(r"([0-9]+(?:\.[0-9]*)?|\.[0-9]+)(ns|us|µs|μs|ms|s|m|h)")
_NANOS_PER_UNIT = {
    "ns": 1,
    "us": 1_000,
    "µs": 1_000,  # U+00B5 micro sign
    "μs": 1_000,  # U+03BC Greek mu
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60_000_000_000,
    "h": 3_600_000_000_000,
}
_SCHEME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")


def _go_duration_nanos(text: str) -> int | None:
    """Go ``time.ParseDuration``: signed sequence of ``<decimal><unit>``; ``0`` alone is allowed."""
    body = text[1:] if text[:1] in "+-" else text
    if body == "0":
        return 0
    if not body:
        return None
    total = Decimal(0)
    pos = 0
    while pos < len(body):
        m = _DURATION_PART_RE.match(body, pos)
        if not m:
            return None
        total += Decimal(m.group(1)) * _NANOS_PER_UNIT[m.group(2)]
        pos = m.end()
    nanos = int(-total if text.startswith("-") else total)
    return nanos if _INT64[0] <= nanos <= _INT64[1] else None


def _duration(value: Any) -> Any:
    if isinstance(value, celtypes.DurationType):
        return value
    if not isinstance(value, str):
        return _CelpyEvalError("no such overload: duration()", TypeError, (value,))
    try:
        nanos = _go_duration_nanos(value)
    except InvalidOperation:
        nanos = None
    if nanos is None:
        return _CelpyEvalError(f"invalid duration {str(value)!r}", ValueError, (value,))
    # celpy durations are timedeltas (microsecond resolution): sub-microsecond parts are
    # truncated toward zero, which keeps every comparison against whole microseconds exact
    # (the bundles compare with duration('1ms')).
    seconds, rest = divmod(abs(nanos), 1_000_000_000)
    sign = -1 if nanos < 0 else 1
    return celtypes.DurationType(sign * seconds, nanos=sign * (rest // 1_000 * 1_000))


def _int(value: Any) -> Any:
    if isinstance(value, celtypes.BoolType):
        return _CelpyEvalError("no such overload: int(bool)", TypeError, (value,))
    if isinstance(value, str) and (
        not _GO_INT_RE.fullmatch(value) or not _INT64[0] <= int(value) <= _INT64[1]
    ):
        return _CelpyEvalError(f"cannot convert {str(value)!r} to int", ValueError, (value,))
    return celtypes.IntType(value)


def _substring(text: Any, start: Any, end: Any = None) -> Any:
    if not isinstance(text, str):
        return _CelpyEvalError("no such overload: substring()", TypeError, (text,))
    stop = len(text) if end is None else int(end)
    if start < 0 or stop > len(text) or start > stop:
        return _CelpyEvalError(
            f"substring({start}, {stop}) out of range for length {len(text)}", IndexError, ()
        )
    return celtypes.StringType(text[int(start) : stop])


def _split(text: Any, separator: Any, limit: Any = None) -> Any:
    if not isinstance(text, str) or not isinstance(separator, str):
        return _CelpyEvalError("no such overload: split()", TypeError, (text, separator))
    n = -1 if limit is None else int(limit)
    if n == 0:
        return celtypes.ListType([])
    if separator:
        parts = text.split(separator, n - 1) if n > 0 else text.split(separator)
    else:  # Go explodes the string into its characters, the last one holding the rest
        parts = list(text) if n < 0 or len(text) <= n else [*text[: n - 1], text[n - 1 :]]
    return celtypes.ListType([celtypes.StringType(part) for part in parts])


@dataclass(frozen=True)
class Url:
    """The value of the Kubernetes ``url()`` function (only what the rules read)."""

    scheme: str


def _parse_request_uri(text: str) -> Url | None:
    """Go ``url.ParseRequestURI`` (what the Kubernetes CEL ``url``/``isURL`` functions use)."""
    if not text or any(ord(c) < 0x20 or c in " \x7f" for c in text):
        return None
    if re.search(r"%(?![0-9A-Fa-f]{2})", text):
        return None
    m = _SCHEME_RE.match(text)
    if not m:
        return Url("") if text.startswith("/") else None
    if text[m.end() :].startswith("//"):
        try:
            _ = urlsplit(text).port
        except ValueError:
            return None
    # an opaque URL such as "mailto:x" is accepted by ParseRequestURI when it has a scheme
    return Url(m.group()[:-1].lower())


def _url(text: Any) -> Any:
    if not isinstance(text, str):
        return _CelpyEvalError("no such overload: url()", TypeError, (text,))
    parsed = _parse_request_uri(text)
    if parsed is None:
        return _CelpyEvalError(f"URL parse error: {str(text)!r}", ValueError, (text,))
    return parsed


def _is_url(text: Any) -> Any:
    if not isinstance(text, str):
        return _CelpyEvalError("no such overload: isURL()", TypeError, (text,))
    return celtypes.BoolType(_parse_request_uri(text) is not None)


def _get_scheme(url: Any) -> Any:
    if not isinstance(url, Url):
        return _CelpyEvalError("no such overload: getScheme()", TypeError, (url,))
    return celtypes.StringType(url.scheme)


_NUMBERS = (celtypes.IntType, celtypes.UintType, celtypes.DoubleType)


def _number(value: Any) -> int | float:
    return float(value) if isinstance(value, celtypes.DoubleType) else int(value)


def _equal(a: Any, b: Any) -> bool:
    """cel-go's heterogeneous equality: different types are unequal, numbers compare by value."""
    if isinstance(a, celtypes.BoolType) or isinstance(b, celtypes.BoolType):
        return type(a) is type(b) and bool(a) == bool(b)
    if isinstance(a, _NUMBERS) and isinstance(b, _NUMBERS):
        return _number(a) == _number(b)  # Python compares int and float exactly
    if isinstance(a, celtypes.ListType) and isinstance(b, celtypes.ListType):
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, celtypes.MapType) and isinstance(b, celtypes.MapType):
        return len(a) == len(b) and all(
            any(_equal(k, j) and _equal(v, b[j]) for j in b) for k, v in a.items()
        )
    if type(a) is not type(b):
        return False
    return bool(a == b)


def _eq(a: Any, b: Any) -> Any:
    # celpy hands operators their operands' errors: pass them on, as its own operators do
    for operand in (a, b):
        if isinstance(operand, _CelpyEvalError):
            return operand
    return celtypes.BoolType(_equal(a, b))


def _ne(a: Any, b: Any) -> Any:
    equal = _eq(a, b)
    return equal if isinstance(equal, _CelpyEvalError) else celtypes.BoolType(not equal)


def _in(item: Any, container: Any) -> Any:
    for operand in (item, container):
        if isinstance(operand, _CelpyEvalError):
            return operand
    if isinstance(container, celtypes.ListType | celtypes.MapType):
        return celtypes.BoolType(any(_equal(item, x) for x in container))
    return _CelpyEvalError("no such overload: in", TypeError, (item, container))


def _ordering(name: str) -> Callable[[Any, Any], Any]:
    """``<``, ``<=``, ``>``, ``>=``: int, uint and double compare by value, as in cel-go (celpy
    refuses ``0 < 1.5``); a bool against anything else is an error (celpy compares it as an int);
    the rest is celpy's."""
    celpy_operator = base_functions[name]
    compare: Callable[[Any, Any], bool] = {
        "_<_": lambda x, y: x < y,
        "_<=_": lambda x, y: x <= y,
        "_>_": lambda x, y: x > y,
        "_>=_": lambda x, y: x >= y,
    }[name]

    def operator(x: Any, y: Any) -> Any:
        numbers = all(
            isinstance(v, _NUMBERS) and not isinstance(v, celtypes.BoolType) for v in (x, y)
        )
        if numbers and type(x) is not type(y):
            return celtypes.BoolType(compare(_number(x), _number(y)))
        if isinstance(x, celtypes.BoolType) != isinstance(y, celtypes.BoolType):
            return _CelpyEvalError(f"no such overload: {name}", TypeError, ())  # celpy: True < 2
        return celpy_operator(x, y)

    return operator


def _logical(decisive: bool, name: str) -> Callable[[Any, Any], Any]:
    """CEL's commutative ``&&`` (decisive False) / ``||`` (decisive True): an error on one side
    is absorbed when the other side decides. (celpy raises on two errors, and its error repr can
    crash while doing so.)"""

    def operator(x: Any, y: Any) -> Any:
        if any(isinstance(v, celtypes.BoolType) and bool(v) is decisive for v in (x, y)):
            return celtypes.BoolType(decisive)
        for v in (x, y):
            if isinstance(v, _CelpyEvalError):
                return v
        if isinstance(x, celtypes.BoolType) and isinstance(y, celtypes.BoolType):
            return celtypes.BoolType(not decisive)
        return _CelpyEvalError(f"no such overload: {name}", TypeError, ())

    return operator


def _size(value: Any) -> Any:
    if not isinstance(value, str | bytes | celtypes.ListType | celtypes.MapType):
        return _CelpyEvalError("no such overload: size()", TypeError, (value,))
    return celtypes.IntType(len(value))


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "_==_": _eq,
    "_!=_": _ne,
    "_in_": _in,
    **{name: _ordering(name) for name in ("_<_", "_<=_", "_>_", "_>=_")},
    "_&&_": _logical(False, "&&"),
    "_||_": _logical(True, "||"),
    "size": _size,
    "url": _url,
    "isURL": _is_url,
    "getScheme": _get_scheme,
    "substring": _substring,
    "split": _split,
    "duration": _duration,
    "int": _int,
}
"""Functions and operators given to ``celpy``, added to or replacing its standard ones."""

_MACROS = frozenset({"all", "exists", "exists_one", "map", "filter"})
_KNOWN_FUNCTIONS = frozenset(
    {name for name in base_functions if not name.startswith(("_", "!", "-"))}
    | set(FUNCTIONS)
    | {"has"}
)


# --------------------------------------------------------------------------- compiling


def _field_selection(tree: lark.Tree[Any]) -> lark.Tree[Any] | None:
    """The ``member_dot`` node that ``tree`` (has()'s argument) consists of, if it is one."""
    node: Any = tree
    while isinstance(node, lark.Tree) and node.data != "member_dot" and len(node.children) == 1:
        node = node.children[0]
    return node if isinstance(node, lark.Tree) and node.data == "member_dot" else None


def _check(tree: lark.Tree[Any], bound: frozenset[str]) -> None:
    """Refuses what would only fail at run time in ``celpy``: unknown names, non-CEL macros."""
    kind = tree.data
    children = tree.children
    if kind in ("member_object", "dot_ident", "dot_ident_arg"):
        raise CelUnsupportedError(f"{kind} syntax")
    if kind == "ident":
        name = str(children[0])
        if name not in bound:
            raise CelUnsupportedError(f"undeclared reference {name!r}")
        return
    if kind == "ident_arg" and str(children[0]) not in _KNOWN_FUNCTIONS:
        raise CelUnsupportedError(f"function {children[0]}()")
    if (
        kind == "ident_arg"
        and str(children[0]) == "has"
        and (len(children) != 2 or _field_selection(children[1]) is None)
    ):
        raise CelUnsupportedError("has() needs a field selection")
    if kind == "member_dot_arg":
        member, name = children[0], str(children[1])
        args = children[2].children if len(children) > 2 and children[2] is not None else []
        if name in _MACROS:
            variables = list(args[0].scan_values(lambda _: True)) if len(args) == 2 else []
            if len(variables) != 1 or not isinstance(args[0], lark.Tree):
                raise CelUnsupportedError(f"{name}() form")
            assert isinstance(member, lark.Tree) and isinstance(args[1], lark.Tree)
            _check(member, bound)
            _check(args[1], bound | {str(variables[0])})
            return
        if name not in _KNOWN_FUNCTIONS:
            raise CelUnsupportedError(f"function {name}()")
    for child in children:
        if isinstance(child, lark.Tree):
            _check(child, bound)


class _Evaluator(Evaluator):
    """celpy's interpreter with cel-go's semantics where celpy differs on the rules' inputs.

    * Macros apply to lists and maps only (celpy iterates a string's characters).
    * ``all``/``exists`` use the commutative ``&&``/``||`` (an element that decides wins over
      another's error); ``exists_one`` passes an element's error on (celpy counts it as a match).
      celpy's own reduction can also crash formatting two errors, or log recursively growing
      error reprs (gigabytes for ``self.all(...)`` on a 70-character string).
    * ``map``/``filter`` return an element's error as a value (celpy raises it past ``||``).
    """

    def member_dot_arg(self, tree: lark.Tree[Any]) -> Result:
        name = str(tree.children[1])
        if name not in _MACROS:
            return super().member_dot_arg(tree)
        target = self.visit(tree.children[0])
        if isinstance(target, _CelpyEvalError):
            return target
        if not isinstance(target, celtypes.ListType | celtypes.MapType):
            return _CelpyEvalError(
                f"no such overload: {name}() on {type(target).__name__}", TypeError, ()
            )
        if name not in ("all", "exists", "exists_one"):
            try:  # map, filter: celpy raises an element's error; make it a value like others
                return super().member_dot_arg(tree)
            except _CelpyEvalError as exc:
                return exc
        predicate = self.build_ss_macro_eval(tree)  # an element's error comes back as a value
        results = [predicate(item) for item in target]
        if name == "exists_one":
            errors = [r for r in results if isinstance(r, _CelpyEvalError)]
            if errors:
                return errors[0]
            return celtypes.BoolType(sum(1 for r in results if r is not None and bool(r)) == 1)
        combine = _logical(name == "exists", f"{name}()")
        reduced: Result = celtypes.BoolType(name == "all")
        for result in results:
            reduced = combine(reduced, result)
        return reduced

    def macro_has_eval(self, exprlist: lark.Tree[Any]) -> Any:  # celpy: BoolType only
        """``has(x.f)``: an error when ``x`` is one or is not a map (celpy answers False)."""
        selection = _field_selection(exprlist)
        assert selection is not None  # _check refuses any other has()
        target = self.visit(selection.children[0])
        if isinstance(target, _CelpyEvalError):
            return target
        if not isinstance(target, celtypes.MapType):
            return _CelpyEvalError(
                f"no such overload: has() on {type(target).__name__}", TypeError, ()
            )
        return celtypes.BoolType(celtypes.StringType(str(selection.children[1])) in target)

    def sub_evaluator(self, ast: lark.Tree[Any]) -> Evaluator:
        return _Evaluator(ast, activation=self.activation)


class _Runner(celpy.InterpretedRunner):
    def evaluate(self, context: celpy.Context) -> celtypes.Value:
        return _Evaluator(ast=self.ast, activation=self.new_activation()).evaluate(context)


_ENV = celpy.Environment(runner_class=_Runner)


@functools.cache
def compile_rule(rule: str) -> celpy.Runner:
    """Parse a rule (cached); raises :class:`CelUnsupportedError` for CEL we do not evaluate."""
    try:
        ast = _ENV.compile(rule)
    except celpy.CELParseError as exc:
        raise CelUnsupportedError(f"cannot parse: {exc}") from exc
    _check(ast, frozenset({"self"}))
    return _ENV.program(ast, functions=FUNCTIONS)


# --------------------------------------------------------------------------- evaluating


def _to_python(value: Any) -> Any:
    """celpy result -> plain Python (``True`` is ``True``: callers test ``is True``)."""
    if isinstance(value, celtypes.BoolType):
        return bool(value)
    if isinstance(value, celtypes.IntType | celtypes.UintType):
        return int(value)
    if isinstance(value, celtypes.DoubleType):
        return float(value)
    if isinstance(value, celtypes.StringType):
        return str(value)
    if isinstance(value, celtypes.ListType):
        return [_to_python(v) for v in value]
    if isinstance(value, celtypes.MapType):
        return {_to_python(k): _to_python(v) for k, v in value.items()}
    return value


def evaluate(rule: str, self_value: Any) -> Any:
    """Evaluate ``rule`` with ``self`` bound to ``self_value`` (a JSON-shaped value)."""
    program = compile_rule(rule)
    try:
        activation = {"self": celpy.json_to_cel(self_value)}
    except (ValueError, TypeError) as exc:  # e.g. an integer beyond int64
        raise CelEvalError(f"self is not a CEL value: {exc}") from exc
    try:
        result = program.evaluate(activation)
    except _CelpyEvalError as exc:
        raise CelEvalError(exc.args[0] if exc.args else repr(exc)) from exc
    except _CelpyUnsupportedError as exc:
        raise CelUnsupportedError(str(exc)) from exc
    if isinstance(result, _CelpyEvalError):
        raise CelEvalError(result.args[0] if result.args else repr(result))
    return _to_python(result)
