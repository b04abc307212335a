"""The pipeline on its own: the named passes in order, a dump of every stage through
srcgrad.show, the IR checked after each pass, and internal errors naming their pass."""

from __future__ import annotations

import io

import numpy as np
import pytest

import srcgrad
from srcgrad import ir, pipeline
from srcgrad.errors import InternalError, SrcgradError


def loop(c, x):
    s = 0.0
    for i in range(len(x)):
        if x[i] > 0:
            continue
        s = s + c * x[i]
    return s


def straight(x, y):
    return np.sin(x) * y


def refused(x):
    return x.unknown_method()


def _show(f, stage, **kw):
    return srcgrad.show(f, stage=stage, file=io.StringIO(), **kw)


def test_the_passes_run_in_order():
    assert pipeline.order("reverse") == ("canonicalize", "lower", "prune", "types", "activity",
                                         "reverse", "simplify", "emit")
    assert pipeline.order("forward") == ("canonicalize", "lower", "prune", "types", "activity",
                                         "forward", "simplify", "emit")
    assert pipeline.PASSES.index("parse") < pipeline.PASSES.index("canonicalize") \
        < pipeline.PASSES.index("lower") < pipeline.PASSES.index("numba")


@pytest.mark.parametrize("stage", [p for p in pipeline.PASSES if p not in ("forward", "numba")]
                         + ["ir", "source"])
def test_show_accepts_every_stage(stage):
    text = _show(srcgrad.grad(loop), stage)
    assert text.strip()


def test_the_stages_show_what_each_pass_made():
    df = srcgrad.grad(loop, wrt=(0, 1))
    df(2.0, np.array([1.0, -2.0, 3.0]))
    assert "def loop(c, x)" in _show(df, "parse") and "continue" in _show(df, "parse")
    assert "continue" not in _show(df, "canonicalize")
    lowered, pruned = _show(df, "lower"), _show(df, "prune")
    assert "carry" in pruned and len(pruned) <= len(lowered)
    assert "# active:" in _show(df, "activity") and "c" in _show(df, "activity")
    unsimplified, simplified = _show(df, "reverse"), _show(df, "simplify")
    assert "def loop_vjp" in unsimplified and "def loop_vjp" in simplified
    assert _show(df, "emit") == _show(df, "source") == df.source.rstrip("\n")
    assert "def loop_jvp" in _show(df, "forward")
    assert "def loop_jvp" in _show(loop, "simplify", mode="forward")


def test_the_types_stage_lists_value_types_for_loops():
    df = srcgrad.grad(loop)
    df(2.0, np.array([1.0, -2.0, 3.0]))
    text = _show(df, "types")
    assert "# s: float64" in text and "# x: array(float64, 1d, C)" in text, text


def test_show_numba_stage():
    pytest.importorskip("numba")
    df = srcgrad.grad(straight, jit=True)
    df(1.0, 2.0)
    text = _show(df, "numba")
    assert "def straight_vjp" in text and "# numba: compiled for" in text


def test_unknown_stage_names_the_passes():
    with pytest.raises(ValueError, match="canonicalize"):
        _show(straight, "bogus")


def test_the_ir_is_checked_after_every_pass_that_changes_it(monkeypatch):
    seen = []
    real = ir.check
    monkeypatch.setattr(ir, "check", lambda fn: (seen.append(fn.name), real(fn))[1])
    t = pipeline.Transformed(loop)
    t.compile((pipeline.FLOAT64, ("array", 1, "float64")), (0, 1))
    # lowering checks once itself; the pipeline after lower, prune and types
    assert len(seen) >= 1 + 3


def test_an_internal_error_names_its_pass_and_keeps_the_cause(monkeypatch):
    def broken(*args):
        raise KeyError("boom")
    monkeypatch.setitem(pipeline._STEPS, "activity", broken)
    with pytest.raises(InternalError, match="during activity: KeyError") as info:
        pipeline.Transformed(straight).compile((pipeline.FLOAT64, pipeline.FLOAT64), (0,))
    assert isinstance(info.value, SrcgradError)
    assert isinstance(info.value.__cause__, KeyError)
    assert info.value.loc is not None and info.value.loc.line > 0


def test_user_errors_pass_through_unchanged():
    with pytest.raises(SrcgradError) as info:
        srcgrad.grad(refused)(np.ones(2))
    assert not isinstance(info.value, InternalError)


def test_an_ir_check_failure_says_after_which_pass(monkeypatch):
    def corrupt(state):
        state.fn_ir.body.append(ir.Copy("s", ir.Var("never_defined"), None))
    monkeypatch.setitem(pipeline._STEPS, "types", corrupt)
    with pytest.raises(ir.IRCheckError, match="after types"):
        pipeline.Transformed(straight).compile((pipeline.FLOAT64, pipeline.FLOAT64), (0,))


def test_stop_after_a_pass():
    t = pipeline.Transformed(straight)
    state = pipeline.run(t, pipeline.Request((pipeline.FLOAT64, pipeline.FLOAT64), (0,)),
                         stop="activity")
    assert state.active and state.tree is None and state.source == ""
