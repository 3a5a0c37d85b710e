"""A small evaluator for the subset of CEL that Istio's CRD ``x-kubernetes-validations`` rules use.

Kubernetes evaluates these rules in the API server; we have no CEL library in the venv, so this
module implements just enough of the language (literals, ``self`` field selection, ``has()``,
``?:``, ``||``, ``&&``, ``!``, comparisons, ``in``, ``+ - * / %``, list and map literals, the
``all``/``exists``/``exists_one``/``map``/``filter`` macros, and the functions the bundles call:
``size``, ``startsWith``, ``endsWith``, ``contains``, ``matches``, ``substring``, ``int``,
``string``, ``duration``, ``url``/``isURL``/``getScheme``).

A rule that uses anything else raises :class:`CelUnsupportedError`; callers report such rules as
"not evaluated" instead of guessing. A rule that fails at run time the way CEL would (a missing
field, a bad duration) raises :class:`CelEvalError`, which the API server reports as a rejection.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit


class CelUnsupportedError(Exception):
    """The rule uses CEL this evaluator does not implement."""


class CelEvalError(Exception):
    """The rule failed at run time (e.g. ``no such key``), as it would in the API server."""


_TOKEN_RE = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<float>\d+\.\d+(?:[eE][+-]?\d+)?)
  | (?P<int>\d+u?)
  | (?P<str>[rR]?"(?:[^"\\\n]|\\.)*"|[rR]?'(?:[^'\\\n]|\\.)*')
  | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<op>\|\||&&|==|!=|<=|>=|[-+*/%!<>?:()\[\]{},.])
    """,
    re.VERBOSE,
)

_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", '"': '"', "'": "'", "/": "/"}


@dataclass(frozen=True)
class _Tok:
    kind: str
    text: str


def _tokenize(src: str) -> list[_Tok]:
    out: list[_Tok] = []
    pos = 0
    while pos < len(src):
        m = _TOKEN_RE.match(src, pos)
        if not m:
            raise CelUnsupportedError(f"cannot tokenize at {src[pos : pos + 10]!r}")
        pos = m.end()
        kind = m.lastgroup or ""
        if kind != "ws":
            out.append(_Tok(kind, m.group()))
    out.append(_Tok("eof", ""))
    return out


def _unquote(text: str) -> str:
    raw = text[0] in "rR"
    body = text[2:-1] if raw else text[1:-1]
    if raw:
        return body
    out: list[str] = []
    i = 0
    while i < len(body):
        ch = body[i]
        if ch == "\\" and i + 1 < len(body):
            nxt = body[i + 1]
            if nxt not in _ESCAPES:
                raise CelUnsupportedError(f"string escape \\{nxt}")
            out.append(_ESCAPES[nxt])
            i += 2
            continue
        out.append(ch)
        i += 1
    return "".join(out)


# AST nodes are tuples: (op, *children)
Node = tuple[Any, ...]


class _Parser:
    def __init__(self, src: str) -> None:
        self.toks = _tokenize(src)
        self.i = 0

    def peek(self) -> _Tok:
        return self.toks[self.i]

    def take(self, text: str | None = None) -> _Tok:
        tok = self.toks[self.i]
        if text is not None and tok.text != text:
            raise CelUnsupportedError(f"expected {text!r}, got {tok.text!r}")
        self.i += 1
        return tok

    def accept(self, text: str) -> bool:
        if self.peek().text == text and self.peek().kind in ("op", "ident"):
            self.i += 1
            return True
        return False

    def parse(self) -> Node:
        node = self.expr()
        if self.peek().kind != "eof":
            raise CelUnsupportedError(f"unexpected {self.peek().text!r}")
        return node

    def expr(self) -> Node:
        cond = self.or_()
        if self.accept("?"):
            a = self.or_()
            self.take(":")
            b = self.expr()
            return ("?:", cond, a, b)
        return cond

    def or_(self) -> Node:
        node = self.and_()
        while self.accept("||"):
            node = ("||", node, self.and_())
        return node

    def and_(self) -> Node:
        node = self.rel()
        while self.accept("&&"):
            node = ("&&", node, self.rel())
        return node

    def rel(self) -> Node:
        node = self.add()
        while self.peek().text in ("==", "!=", "<", "<=", ">", ">=", "in"):
            op = self.take().text
            node = (op, node, self.add())
        return node

    def add(self) -> Node:
        node = self.mul()
        while self.peek().text in ("+", "-") and self.peek().kind == "op":
            op = self.take().text
            node = (op, node, self.mul())
        return node

    def mul(self) -> Node:
        node = self.unary()
        while self.peek().text in ("*", "/", "%"):
            op = self.take().text
            node = (op, node, self.unary())
        return node

    def unary(self) -> Node:
        if self.accept("!"):
            return ("!", self.unary())
        if self.accept("-"):
            return ("neg", self.unary())
        return self.member()

    def args(self) -> list[Node]:
        args: list[Node] = []
        self.take("(")
        if not self.accept(")"):
            args.append(self.expr())
            while self.accept(","):
                args.append(self.expr())
            self.take(")")
        return args

    def member(self) -> Node:
        node = self.primary()
        while True:
            if self.accept("."):
                name = self.take().text
                if self.peek().text == "(":
                    node = ("call", name, node, self.args())
                else:
                    node = ("sel", node, name)
            elif self.accept("["):
                idx = self.expr()
                self.take("]")
                node = ("idx", node, idx)
            else:
                return node

    def primary(self) -> Node:
        tok = self.take()
        if tok.kind == "int":
            return ("lit", int(tok.text.rstrip("u")))
        if tok.kind == "float":
            return ("lit", float(tok.text))
        if tok.kind == "str":
            return ("lit", _unquote(tok.text))
        if tok.kind == "ident":
            if tok.text in ("true", "false"):
                return ("lit", tok.text == "true")
            if tok.text == "null":
                return ("lit", None)
            if self.peek().text == "(":
                return ("call", tok.text, None, self.args())
            return ("id", tok.text)
        if tok.text == "(":
            node = self.expr()
            self.take(")")
            return node
        if tok.text == "[":
            items: list[Node] = []
            if not self.accept("]"):
                items.append(self.expr())
                while self.accept(","):
                    items.append(self.expr())
                self.take("]")
            return ("list", items)
        if tok.text == "{":
            pairs: list[tuple[Node, Node]] = []
            if not self.accept("}"):
                while True:
                    k = self.expr()
                    self.take(":")
                    pairs.append((k, self.expr()))
                    if not self.accept(","):
                        break
                self.take("}")
            return ("map", pairs)
        raise CelUnsupportedError(f"unexpected token {tok.text!r}")


_DURATION_RE = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_DURATION_UNITS = {
    "ns": Decimal("1e-9"),
    "us": Decimal("1e-6"),
    "µs": Decimal("1e-6"),
    "ms": Decimal("0.001"),
    "s": Decimal(1),
    "m": Decimal(60),
    "h": Decimal(3600),
}


@dataclass(frozen=True, order=True)
class Duration:
    seconds: Decimal


def parse_duration(text: str) -> Duration:
    """Go ``time.ParseDuration`` syntax, which CEL's ``duration()`` uses."""
    s = text
    sign = Decimal(1)
    if s[:1] in "+-":
        sign = Decimal(-1) if s[0] == "-" else Decimal(1)
        s = s[1:]
    if s == "0":
        return Duration(Decimal(0))
    if not s:
        raise CelEvalError(f"invalid duration {text!r}")
    total = Decimal(0)
    pos = 0
    while pos < len(s):
        m = _DURATION_RE.match(s, pos)
        if not m:
            raise CelEvalError(f"invalid duration {text!r}")
        total += Decimal(m.group(1)) * _DURATION_UNITS[m.group(2)]
        pos = m.end()
    return Duration(sign * total)


@dataclass(frozen=True)
class Url:
    scheme: str


_SCHEME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")


def _parse_request_uri(text: str) -> Url | None:
    """Go ``url.ParseRequestURI`` (what the Kubernetes CEL ``url``/``isURL`` functions use)."""
    if not text or any(ord(c) < 0x20 or c in " \x7f" for c in text):
        return None
    if re.search(r"%(?![0-9A-Fa-f]{2})", text):
        return None
    m = _SCHEME_RE.match(text)
    if not m:
        return Url("") if text.startswith("/") else None
    scheme = m.group()[:-1].lower()
    rest = text[m.end() :]
    if rest.startswith("//"):
        try:
            parts = urlsplit(text)
            _ = parts.port
        except ValueError:
            return None
    elif not rest.startswith("/"):
        # opaque URL such as "mailto:x": accepted by ParseRequestURI only with a scheme
        pass
    return Url(scheme)


class _Eval:
    def __init__(self, variables: Mapping[str, Any]) -> None:
        self.vars = dict(variables)

    def ev(self, node: Node) -> Any:
        op = str(node[0])
        handler: Callable[[Node], Any] | None = getattr(self, "_" + _OP_NAMES.get(op, op), None)
        if handler is None:
            raise CelUnsupportedError(f"operator {op}")
        return handler(node)

    def _lit(self, node: Node) -> Any:
        return node[1]

    def _id(self, node: Node) -> Any:
        if node[1] not in self.vars:
            raise CelUnsupportedError(f"undeclared reference {node[1]!r}")
        return self.vars[node[1]]

    def _list(self, node: Node) -> Any:
        return [self.ev(n) for n in node[1]]

    def _map(self, node: Node) -> Any:
        return {self.ev(k): self.ev(v) for k, v in node[1]}

    def _sel(self, node: Node) -> Any:
        target = self.ev(node[1])
        if not isinstance(target, Mapping):
            raise CelEvalError(f"cannot select field {node[2]!r} of {type(target).__name__}")
        if node[2] not in target:
            raise CelEvalError(f"no such key: {node[2]}")
        return target[node[2]]

    def _idx(self, node: Node) -> Any:
        target = self.ev(node[1])
        key = self.ev(node[2])
        try:
            return target[key]
        except (KeyError, IndexError, TypeError) as exc:
            raise CelEvalError(f"index {key!r}: {exc}") from exc

    def _cond(self, node: Node) -> Any:
        cond = self.ev(node[1])
        if not isinstance(cond, bool):
            raise CelEvalError("no matching overload for ?: condition")
        return self.ev(node[2] if cond else node[3])

    def _logic(self, node: Node) -> Any:
        want_short = node[0] == "||"  # value that decides the result
        err: Exception | None = None
        for child in node[1:]:
            try:
                val = self.ev(child)
            except CelEvalError as exc:
                err = exc
                continue
            if not isinstance(val, bool):
                raise CelEvalError(f"no matching overload for {node[0]}")
            if val is want_short:
                return want_short
        if err is not None:
            raise err
        return not want_short

    def _not(self, node: Node) -> Any:
        val = self.ev(node[1])
        if not isinstance(val, bool):
            raise CelEvalError("no matching overload for !")
        return not val

    def _neg(self, node: Node) -> Any:
        return -self.ev(node[1])

    def _binary(self, node: Node) -> Any:
        a = self.ev(node[1])
        b = self.ev(node[2])
        op = node[0]
        try:
            if op == "==":
                return _cel_equal(a, b)
            if op == "!=":
                return not _cel_equal(a, b)
            if op == "in":
                if isinstance(b, Mapping):
                    return a in b
                if isinstance(b, list):
                    return any(_cel_equal(a, x) for x in b)
                raise CelEvalError("no matching overload for in")
            if op in ("<", "<=", ">", ">="):
                if type(a) is bool or type(b) is bool or isinstance(a, str) != isinstance(b, str):
                    raise CelEvalError(f"no matching overload for {op}")
                return {"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[op]
            if op == "+":
                if isinstance(a, str) != isinstance(b, str) or isinstance(a, list) != isinstance(
                    b, list
                ):
                    raise CelEvalError("no matching overload for +")
                return a + b
            if op == "-":
                return a - b
            if op == "*":
                return a * b
            if op == "/":
                if isinstance(a, int) and isinstance(b, int):
                    if b == 0:
                        raise CelEvalError("division by zero")
                    return int(a / b)
                return a / b
            if op == "%":
                if b == 0:
                    raise CelEvalError("modulus by zero")
                return int(a - b * int(a / b))
        except TypeError as exc:
            raise CelEvalError(f"no matching overload for {op}: {exc}") from exc
        raise CelUnsupportedError(f"operator {op}")

    def _call(self, node: Node) -> Any:
        name, target_node, arg_nodes = node[1], node[2], node[3]
        if target_node is None and name == "has":
            if len(arg_nodes) != 1 or arg_nodes[0][0] != "sel":
                raise CelUnsupportedError("has() needs a field selection")
            obj = self.ev(arg_nodes[0][1])
            if not isinstance(obj, Mapping):
                raise CelEvalError("has() on a non-object")
            return arg_nodes[0][2] in obj
        if target_node is not None and name in (
            "all",
            "exists",
            "exists_one",
            "map",
            "filter",
        ):
            return self._macro(name, self.ev(target_node), arg_nodes)
        args = [self.ev(a) for a in arg_nodes]
        if target_node is not None:
            args.insert(0, self.ev(target_node))
        fn = _FUNCTIONS.get(name)
        if fn is None:
            raise CelUnsupportedError(f"function {name}()")
        try:
            return fn(*args)
        except (TypeError, AttributeError, ValueError) as exc:
            raise CelEvalError(f"{name}(): {exc}") from exc

    def _macro(self, name: str, target: Any, arg_nodes: list[Node]) -> Any:
        if len(arg_nodes) != 2 or arg_nodes[0][0] != "id":
            raise CelUnsupportedError(f"{name}() form")
        var = arg_nodes[0][1]
        items = list(target.keys()) if isinstance(target, Mapping) else target
        if not isinstance(items, list):
            raise CelEvalError(f"{name}() on {type(target).__name__}")
        saved = self.vars.get(var, _MISSING)
        results: list[Any] = []
        try:
            for item in items:
                self.vars[var] = item
                results.append(self.ev(arg_nodes[1]))
        finally:
            if saved is _MISSING:
                self.vars.pop(var, None)
            else:
                self.vars[var] = saved
        if name == "all":
            return all(r is True for r in results)
        if name == "exists":
            return any(r is True for r in results)
        if name == "exists_one":
            return sum(1 for r in results if r is True) == 1
        if name == "map":
            return results
        return [item for item, r in zip(items, results, strict=True) if r is True]


_MISSING = object()

_OP_NAMES = {
    "?:": "cond",
    "||": "logic",
    "&&": "logic",
    "!": "not",
    "==": "binary",
    "!=": "binary",
    "<": "binary",
    "<=": "binary",
    ">": "binary",
    ">=": "binary",
    "in": "binary",
    "+": "binary",
    "-": "binary",
    "*": "binary",
    "/": "binary",
    "%": "binary",
}


def _cel_equal(a: Any, b: Any) -> bool:
    if isinstance(a, bool) != isinstance(b, bool):
        return False
    return bool(a == b)


def _size(v: Any) -> int:
    if isinstance(v, str | list | dict | bytes):
        return len(v)
    raise CelEvalError("no matching overload for size")


def _substring(s: str, start: int, end: int | None = None) -> str:
    stop = len(s) if end is None else end
    if start < 0 or stop > len(s) or start > stop:
        raise CelEvalError(f"substring({start}, {stop}) out of range for length {len(s)}")
    return s[start:stop]


def _to_int(v: Any) -> int:
    if isinstance(v, bool):
        raise CelEvalError("no matching overload for int(bool)")
    if isinstance(v, str):
        if not re.fullmatch(r"[+-]?\d+", v):
            raise CelEvalError(f"cannot convert {v!r} to int")
        return int(v)
    return int(v)


def _url(s: str) -> Url:
    parsed = _parse_request_uri(s)
    if parsed is None:
        raise CelEvalError(f"URL parse error: {s!r}")
    return parsed


def _matches(s: str, pattern: str) -> bool:
    try:
        return re.search(pattern, s) is not None
    except re.error as exc:
        raise CelUnsupportedError(f"regex {pattern!r}: {exc}") from exc


_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "size": _size,
    "startsWith": lambda s, p: s.startswith(p),
    "endsWith": lambda s, p: s.endswith(p),
    "contains": lambda s, p: p in s,
    "matches": _matches,
    "substring": _substring,
    "int": _to_int,
    "string": lambda v: v if isinstance(v, str) else str(v),
    "duration": lambda s: parse_duration(s),
    "url": _url,
    "isURL": lambda s: _parse_request_uri(s) is not None,
    "getScheme": lambda u: u.scheme,
}


_CACHE: dict[str, Node] = {}


def compile_rule(rule: str) -> Node:
    """Parse a rule (cached); raises :class:`CelUnsupportedError` for syntax we do not handle."""
    if rule not in _CACHE:
        _CACHE[rule] = _Parser(rule).parse()
    return _CACHE[rule]


def evaluate(rule: str, self_value: Any) -> Any:
    """Evaluate ``rule`` with ``self`` bound to ``self_value``."""
    return _Eval({"self": self_value}).ev(compile_rule(rule))
