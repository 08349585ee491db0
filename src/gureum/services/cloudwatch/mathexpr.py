"""Metric math: a small recursive-descent parser and an evaluator over time series.

Grammar (CloudWatch's common subset)::

    expr    := term (("+" | "-") term)*
    term    := factor (("*" | "/") factor)*
    factor  := unary ("^" factor)?
    unary   := "-" unary | primary
    primary := NUMBER | STRING | ID | NAME "(" [expr ("," expr)*] ")"
             | "(" expr ")" | "[" expr ("," expr)* "]"

A value is a scalar (float), a ``Series`` (timestamp → value) or an array of
series. Arithmetic applies pointwise; two series combine where both have a
point. ``SUM/AVG/MIN/MAX/STDDEV`` of an array give one series, of a series a
scalar. ``FILL(x, v|REPEAT|LINEAR)``, ``RATE``, ``DIFF``, ``ABS`` and
``METRICS([filter])`` work on series and arrays alike.
"""

from __future__ import annotations

import itertools
import math
import re
import statistics
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from gureum.errors import AWSError


@dataclass
class Series:
    label: str
    points: dict[int, float] = field(default_factory=dict)


Value = float | Series | list[Series]


@dataclass(frozen=True)
class Num:
    value: float


@dataclass(frozen=True)
class Str:
    value: str


@dataclass(frozen=True)
class Ref:
    name: str


@dataclass(frozen=True)
class Neg:
    arg: Node


@dataclass(frozen=True)
class BinOp:
    op: str
    left: Node
    right: Node


@dataclass(frozen=True)
class Func:
    name: str
    args: tuple[Node, ...]


@dataclass(frozen=True)
class Array:
    items: tuple[Node, ...]


Node = Num | Str | Ref | Neg | BinOp | Func | Array

TOKEN = re.compile(
    r"\s*(?:(?P<num>\d+(?:\.\d*)?(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?)"
    r"|(?P<name>[A-Za-z_][A-Za-z0-9_]*)|(?P<str>\"[^\"]*\"|'[^']*')|(?P<op>[-+*/^(),\[\]]))"
)


class ExpressionError(AWSError):
    def __init__(self, message: str) -> None:
        super().__init__("ValidationError", message)


def tokenize(text: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    pos = 0
    text = text.rstrip()
    while pos < len(text):
        m = TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            raise ExpressionError(f"Unrecognized token at position {pos + 1}: {text[pos:]!r}")
        kind = m.lastgroup or ""
        tokens.append((kind, m.group(kind)))
        pos = m.end()
    return tokens


class Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = tokenize(text)
        self.i = 0

    def parse(self) -> Node:
        if not self.tokens:
            raise ExpressionError("The expression is empty.")
        node = self.expr()
        if self.i != len(self.tokens):
            raise ExpressionError(f"Unexpected {self.tokens[self.i][1]!r} in {self.text!r}.")
        return node

    def peek(self) -> str | None:
        return self.tokens[self.i][1] if self.i < len(self.tokens) else None

    def take(self, want: str | None = None) -> tuple[str, str]:
        if self.i >= len(self.tokens):
            raise ExpressionError(f"Unexpected end of expression {self.text!r}.")
        tok = self.tokens[self.i]
        if want is not None and tok[1] != want:
            raise ExpressionError(f"Expected {want!r} but found {tok[1]!r} in {self.text!r}.")
        self.i += 1
        return tok

    def expr(self) -> Node:
        node = self.term()
        while self.peek() in ("+", "-"):
            op = self.take()[1]
            node = BinOp(op, node, self.term())
        return node

    def term(self) -> Node:
        node = self.factor()
        while self.peek() in ("*", "/"):
            op = self.take()[1]
            node = BinOp(op, node, self.factor())
        return node

    def factor(self) -> Node:
        node = self.unary()
        if self.peek() == "^":
            self.take()
            return BinOp("^", node, self.factor())
        return node

    def unary(self) -> Node:
        if self.peek() == "-":
            self.take()
            return Neg(self.unary())
        return self.primary()

    def items(self, close: str) -> tuple[Node, ...]:
        out: list[Node] = []
        if self.peek() != close:
            out.append(self.expr())
            while self.peek() == ",":
                self.take()
                out.append(self.expr())
        self.take(close)
        return tuple(out)

    def primary(self) -> Node:
        kind, text = self.take()
        if kind == "num":
            return Num(float(text))
        if kind == "str":
            return Str(text[1:-1])
        if kind == "name":
            if self.peek() == "(":
                self.take()
                return Func(text.upper(), self.items(")"))
            return Ref(text)
        if text == "(":
            node = self.expr()
            self.take(")")
            return node
        if text == "[":
            return Array(self.items("]"))
        raise ExpressionError(f"Unexpected {text!r} in {self.text!r}.")


def parse(text: str) -> Node:
    return Parser(text).parse()


def references(node: Node) -> set[str]:
    """The ids an expression reads (``METRICS()`` reads every metric query)."""
    if isinstance(node, Ref):
        return {node.name}
    if isinstance(node, Neg):
        return references(node.arg)
    if isinstance(node, BinOp):
        return references(node.left) | references(node.right)
    if isinstance(node, Func | Array):
        args = node.args if isinstance(node, Func) else node.items
        out: set[str] = set()
        for a in args:
            out |= references(a)
        return out
    return set()


OPS: dict[str, Callable[[float, float], float]] = {
    "+": lambda a, b: a + b,
    "-": lambda a, b: a - b,
    "*": lambda a, b: a * b,
    "/": lambda a, b: a / b,
    "^": lambda a, b: float(a**b),
}
KEYWORDS = ("REPEAT", "LINEAR")


class Evaluator:
    """Evaluates parsed expressions on a time grid (the period starts in range)."""

    def __init__(self, grid: Sequence[int], lookup: Callable[[str], Value],
                 metric_series: Callable[[], Mapping[str, Series]]) -> None:
        self.grid = list(grid)
        self.lookup = lookup
        self.metric_series = metric_series

    def eval(self, node: Node) -> Value:
        if isinstance(node, Num):
            return node.value
        if isinstance(node, Str):
            raise ExpressionError(f"A string ({node.value!r}) is not a value here.")
        if isinstance(node, Ref):
            return self.lookup(node.name)
        if isinstance(node, Neg):
            return self.binary("*", -1.0, self.eval(node.arg))
        if isinstance(node, BinOp):
            return self.binary(node.op, self.eval(node.left), self.eval(node.right))
        if isinstance(node, Array):
            out: list[Series] = []
            for item in node.items:
                value = self.eval(item)
                if isinstance(value, list):
                    out.extend(value)
                elif isinstance(value, Series):
                    out.append(value)
                else:
                    raise ExpressionError("An array holds time series, not scalars.")
            return out
        return self.call(node)

    def binary(self, op: str, a: Value, b: Value) -> Value:
        fn = OPS[op]
        if isinstance(a, list) and isinstance(b, list):
            raise ExpressionError("Two arrays of time series cannot be combined.")
        if isinstance(a, list):
            return [self.series_op(fn, s, b) for s in a]  # type: ignore[arg-type]
        if isinstance(b, list):
            return [self.series_op(fn, a, s) for s in b]
        if isinstance(a, float) and isinstance(b, float):
            r = _safe(fn, a, b)
            return math.nan if r is None else r
        return self.series_op(fn, a, b)

    @staticmethod
    def series_op(fn: Callable[[float, float], float], a: float | Series,
                  b: float | Series) -> Series:
        if isinstance(a, Series) and isinstance(b, Series):
            keys = [t for t in a.points if t in b.points]
            pairs = ((t, a.points[t], b.points[t]) for t in keys)
            label = a.label
        elif isinstance(a, Series):
            pairs = ((t, v, b) for t, v in a.points.items())  # type: ignore[misc]
            label = a.label
        else:
            assert isinstance(b, Series)
            pairs = ((t, a, v) for t, v in b.points.items())
            label = b.label
        out = Series(label)
        for t, x, y in pairs:
            r = _safe(fn, x, y)
            if r is not None:
                out.points[t] = r
        return out

    def call(self, node: Func) -> Value:
        name, args = node.name, node.args
        if name == "METRICS":
            needle = ""
            if args:
                if not isinstance(args[0], Str):
                    raise ExpressionError("METRICS takes an optional string.")
                needle = args[0].value
            return [s for s in self.metric_series().values() if needle in s.label]
        if name == "FILL":
            if len(args) != 2:
                raise ExpressionError("FILL takes two arguments.")
            how: float | str
            if isinstance(args[1], Ref) and args[1].name.upper() in KEYWORDS:
                how = args[1].name.upper()
            else:
                v = self.eval(args[1])
                if not isinstance(v, float):
                    raise ExpressionError("FILL's second argument must be a number, REPEAT "
                                          "or LINEAR.")
                how = v
            return self.each(self.eval(args[0]), lambda s: self.fill(s, how), name)
        if len(args) != 1:
            raise ExpressionError(f"{name} takes one argument.")
        value = self.eval(args[0])
        if name in AGGREGATES:
            return aggregate(name, value)
        if name == "RATE":
            return self.each(value, lambda s: delta(s, per_second=True), name)
        if name == "DIFF":
            return self.each(value, lambda s: delta(s, per_second=False), name)
        if name == "ABS":
            return self.each(value, lambda s: Series(s.label, {t: abs(v) for t, v in
                                                                s.points.items()}), name)
        raise ExpressionError(f"Unknown function {name}.")

    @staticmethod
    def each(value: Value, fn: Callable[[Series], Series], name: str) -> Value:
        if isinstance(value, float):
            raise ExpressionError(f"{name} applies to time series, not to a scalar.")
        if isinstance(value, Series):
            return fn(value)
        return [fn(s) for s in value]

    def fill(self, s: Series, how: float | str) -> Series:
        out = Series(s.label)
        known = sorted(s.points)
        last: float | None = None
        for t in self.grid:
            if t in s.points:
                out.points[t] = last = s.points[t]
            elif isinstance(how, float):
                out.points[t] = how
            elif how == "REPEAT":
                if last is not None:
                    out.points[t] = last
                elif known:
                    out.points[t] = s.points[known[0]]
            else:
                before = [k for k in known if k < t]
                after = [k for k in known if k > t]
                if before and after:
                    t0, t1 = before[-1], after[0]
                    v0, v1 = s.points[t0], s.points[t1]
                    out.points[t] = v0 + (v1 - v0) * (t - t0) / (t1 - t0)
                elif before or after:
                    out.points[t] = s.points[(before or after)[-1 if before else 0]]
        return out


def _safe(fn: Callable[[float, float], float], a: float, b: float) -> float | None:
    try:
        r = fn(a, b)
    except (ZeroDivisionError, OverflowError, ValueError):
        return None
    return None if math.isnan(r) or math.isinf(r) else r


def delta(s: Series, *, per_second: bool) -> Series:
    out = Series(s.label)
    times = sorted(s.points)
    for t0, t1 in itertools.pairwise(times):
        change = s.points[t1] - s.points[t0]
        out.points[t1] = change / (t1 - t0) if per_second else change
    return out


AGGREGATES: dict[str, Callable[[list[float]], float]] = {
    "SUM": math.fsum,
    "AVG": statistics.fmean,
    "MIN": min,
    "MAX": max,
    "STDDEV": lambda xs: statistics.pstdev(xs) if len(xs) > 1 else 0.0,
}


def aggregate(name: str, value: Value) -> Value:
    fn = AGGREGATES[name]
    if isinstance(value, float):
        return value
    if isinstance(value, Series):
        return fn(list(value.points.values())) if value.points else math.nan
    columns: dict[int, list[float]] = {}
    for s in value:
        for t, v in s.points.items():
            columns.setdefault(t, []).append(v)
    return Series(name, {t: fn(vs) for t, vs in sorted(columns.items())})
