"""The IR on its own: the printer shows each statement kind as documented, and the
checker rejects IR that breaks single assignment or uses a value out of its scope."""

import operator

import pytest

from srcgrad import ir
from srcgrad.errors import Loc

LOC = Loc("<test>", 1, 0, "")


def _function(body, result, params=("x",)):
    return ir.Function("f", list(params), body, result, LOC)


def _add(target, a, b):
    return ir.Call(target, operator.add, "add", [a, b], {}, LOC)


def test_printer_shows_calls_reads_stores_and_control_flow():
    x, y = ir.Var("x"), ir.Var("y")
    body = [
        _add("y", x, ir.Const(1.0)),
        ir.GetItem("e", x, ir.Index((ir.Slice(ir.Const(1), None, None), ir.Const(None))), LOC),
        ir.Store("x_1", x, ir.Index((ir.Const(0),)), y, LOC),
        ir.If(ir.Var("c"), [], [], ["z"], [y], [ir.Const(0.0)], LOC),
        ir.For("i", ir.Const(0), ir.Var("n"), ir.Const(1), ["s"], [ir.Const(0.0)],
               [_add("s_1", ir.Var("s"), y)], [ir.Var("s_1")], ["s_2"], LOC),
    ]
    text = ir.format_function(_function(body, ir.Var("s_2"), ("x", "c", "n")))
    assert "def f(%x, %c, %n):" in text
    assert "%y = add(%x, 1.0)" in text
    assert "%e = %x[1:, None]" in text
    assert "%x_1 = store %x[0] <- %y" in text
    assert "%z = if %c:" in text
    assert "for %i in range(0, %n, 1) carry (%s=0.0):" in text
    assert "yield (%s_1)" in text
    assert text.rstrip().endswith("return %s_2")


def test_checker_accepts_well_formed_ir():
    x = ir.Var("x")
    body = [_add("y", x, x),
            ir.For("i", ir.Const(0), ir.Const(3), ir.Const(1), ["s"], [x],
                   [_add("s_1", ir.Var("s"), ir.Var("y"))], [ir.Var("s_1")], ["s_2"], LOC)]
    ir.check(_function(body, ir.Var("s_2")))


@pytest.mark.parametrize("body, result, message", [
    ([_add("y", ir.Var("x"), ir.Var("x")), _add("y", ir.Var("x"), ir.Var("x"))], ir.Var("y"),
     "defined twice"),
    ([_add("y", ir.Var("x"), ir.Var("w"))], ir.Var("y"), "%w used but not defined"),
    ([ir.If(ir.Var("x"), [_add("t", ir.Var("x"), ir.Var("x"))], [], ["z"], [ir.Var("t")],
            [ir.Var("t")], LOC)], ir.Var("z"), "%t used but not defined"),
    ([ir.For("i", ir.Const(0), ir.Const(3), ir.Const(1), ["s"], [ir.Var("x")],
             [_add("s_1", ir.Var("s"), ir.Var("i"))], [ir.Var("s_1")], [], LOC)],
     ir.Var("x"), "do not match"),
    ([ir.For("i", ir.Const(0), ir.Const(3), ir.Const(1), [], [],
             [_add("t", ir.Var("x"), ir.Var("i"))], [], [], LOC)], ir.Var("t"),
     "%t used but not defined"),
], ids=["twice", "undefined", "branch-local", "carry-arity", "loop-local"])
def test_checker_rejects_broken_ir(body, result, message):
    with pytest.raises(ir.IRCheckError, match=message):
        ir.check(_function(body, result))
