"""The metric-math parser and evaluator, without a store."""

from __future__ import annotations

import math

import pytest

from gureum.services.cloudwatch.mathexpr import (
    Array,
    BinOp,
    Evaluator,
    ExpressionError,
    Func,
    Num,
    Ref,
    Series,
    Value,
    parse,
)

GRID = [0, 60, 120, 180]
M1 = Series("m1", {0: 1.0, 60: 2.0, 180: 4.0})
M2 = Series("m2", {0: 10.0, 60: 20.0, 120: 30.0, 180: 40.0})


def ev(text: str) -> Value:
    metrics = {"m1": M1, "m2": M2}
    return Evaluator(GRID, lambda name: metrics[name], lambda: metrics).eval(parse(text))


def test_precedence_and_associativity() -> None:
    assert parse("1 + 2 * m1") == BinOp("+", Num(1.0), BinOp("*", Num(2.0), Ref("m1")))
    assert parse("8 - 2 - 1") == BinOp("-", BinOp("-", Num(8.0), Num(2.0)), Num(1.0))
    assert parse("SUM([m1, m2])") == Func("SUM", (Array((Ref("m1"), Ref("m2"))),))
    assert ev("2 ^ 3 ^ 2") == 512.0
    assert ev("-(1 + 2) * 2") == -6.0


def test_series_arithmetic_aligns_on_timestamps() -> None:
    out = ev("m2 / m1")
    assert isinstance(out, Series) and out.points == {0: 10.0, 60: 10.0, 180: 10.0}
    assert ev("m1 * 0 / 0") == Series("m1", {})  # division by zero drops the point


def test_functions() -> None:
    assert ev("SUM(m1)") == 7.0 and ev("MAX(m2)") == 40.0 and ev("AVG(m1)") == pytest.approx(
        7 / 3)
    summed = ev("SUM([m1, m2])")
    assert isinstance(summed, Series)
    assert summed.points == {0: 11.0, 60: 22.0, 120: 30.0, 180: 44.0}
    assert ev("FILL(m1, 0)").points == {0: 1.0, 60: 2.0, 120: 0.0, 180: 4.0}  # type: ignore
    assert ev("FILL(m1, REPEAT)").points[120] == 2.0  # type: ignore[union-attr]
    assert ev("FILL(m1, LINEAR)").points[120] == 3.0  # type: ignore[union-attr]
    assert ev("RATE(m2)").points == {60: 1 / 6, 120: 1 / 6, 180: 1 / 6}  # type: ignore
    assert ev("DIFF(m1)").points == {60: 1.0, 180: 2.0}  # type: ignore[union-attr]
    assert [s.label for s in ev("METRICS()")] == ["m1", "m2"]  # type: ignore[union-attr]
    assert [s.label for s in ev('METRICS("2")')] == ["m2"]  # type: ignore[union-attr]
    doubled = ev("METRICS() * 2")
    assert isinstance(doubled, list) and doubled[0].points[0] == 2.0
    assert math.isnan(ev("AVG(m1 * 0 / 0)"))  # type: ignore[arg-type]


@pytest.mark.parametrize("text", ["", "m1 +", "(m1", "m1 $ 2", "[m1, 1]", "NOPE(m1)",
                                  "FILL(m1)", "m1 m2", "METRICS() + METRICS()"])
def test_bad_expressions(text: str) -> None:
    with pytest.raises(ExpressionError):
        ev(text)
