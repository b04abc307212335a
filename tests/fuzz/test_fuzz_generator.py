"""Tests of the fuzzer itself: the generator writes valid Python that runs, its feature
flags switch constructs off, every construct is reachable, and the oracle catches a
planted bug of each kind it claims to catch."""

from __future__ import annotations

import inspect
import re
import warnings

import numpy as np
import pytest
from hypothesis import given, settings

import srcgrad
from tests.fuzz import campaign, oracle
from tests.fuzz.grammar import FEATURES, Program, features_with, programs

_FAST = dict(derandomize=True, database=None, deadline=None, suppress_health_check=campaign.SUPPRESS)


def _run(program):
    """Python's own result for the program (through a real module file)."""
    f = oracle.load(program.source)
    args = program.args()
    with np.errstate(all="ignore"):
        value = f(*args)
    return f, args, value


@settings(max_examples=150, **_FAST)
@given(programs())
def test_programs_are_valid_python_that_returns_a_float(program):
    compile(program.source, "<generated>", "exec")
    f, args, value = _run(program)
    assert np.ndim(value) == 0 and isinstance(float(value), float)
    for before, after in zip(program.args(), args):     # the program never writes its inputs
        assert np.array_equal(before, after)
    assert inspect.getsource(f).startswith("def f(")    # srcgrad can read it
    assert len(args) == len(program.params) and program.wrt


@pytest.mark.parametrize("off", [{"while"}, {"helpers"}, {"if", "elif", "else"},
                                 {"for_range", "for_array", "enumerate", "zip", "for_range_len"},
                                 {"owned_arrays", "store_index", "store_slice", "int_work_arrays"},
                                 {"two_params"}])
def test_feature_flags_switch_constructs_off(off):
    markers = {"while": r"\bwhile ", "helpers": r"def h", "if": r"\bif ",
               "for_range": r"in range\(\d+(, \d+)?\):", "enumerate": r"enumerate\(",
               "zip": r"zip\(", "owned_arrays": r"np\.zeros\(", "store_index": r"\] = "}

    @settings(max_examples=60, **_FAST)
    @given(programs(off=off))
    def check(program):
        assert not (program.features & off)
        for flag in off:
            if flag in markers:
                assert not re.search(markers[flag], program.source), flag
        if "two_params" in off:
            assert len(program.params) == 1
    check()


def test_every_feature_is_reachable():
    seen = set()

    @settings(max_examples=400, **_FAST)
    @given(programs())
    def collect(program):
        seen.update(program.features)
    collect()
    missing = set(FEATURES) - seen
    assert not missing, f"never generated: {sorted(missing)}"


def test_unknown_feature_names_are_refused():
    with pytest.raises(KeyError):
        features_with(off={"no_such_construct"})
    assert features_with(on={"if"})["if"] and not features_with(on={"if"})["while"]


# --------------------------------------------------------------------------- the oracle
_SOURCE = """import numpy as np


def f(x, y):
    u = x.copy()
    if y > 0.0:
        u[0] = u[0] * y
    return np.sum(np.sin(u)) * y
"""


def _program():
    return Program(_SOURCE, [("x", "v"), ("y", "f")], [[0.3, -0.2, 0.7], 0.6])


def test_oracle_passes_a_correct_program():
    out = oracle.check(_program(), record=False)
    assert out.status == "ok" and out.fd_checked, out.failures


def _patched(monkeypatch, name, fake):
    real = getattr(srcgrad, name)
    monkeypatch.setattr(srcgrad, name, lambda *a, **k: fake(real, *a, **k))


@pytest.mark.parametrize("planted, kind", [
    ("value", "wrong-value"), ("gradient", "wrong-gradient"), ("mutate", "input-mutated"),
    ("crash", "raw-exception"), ("jvp", "jvp-wrong-tangent"),
])
def test_oracle_catches_a_planted_bug(monkeypatch, planted, kind):
    def vg(real, f, wrt, **kw):
        inner = real(f, wrt=wrt, **kw)

        def call(*args):
            value, grads = inner(*args)
            if planted == "value":
                value = value + 1e-9
            if planted == "gradient":
                grads = (grads[0] * 1.001,) + tuple(grads[1:])
            if planted == "mutate":
                args[0][1] += 1.0
            if planted == "crash":
                raise IndexError("planted")
            return value, grads
        return call

    def jvp(real, f, primals, tangents, **kw):
        value, tangent = real(f, primals, tangents, **kw)
        return value, tangent + (1e-6 if planted == "jvp" else 0.0)

    _patched(monkeypatch, "value_and_grad", vg)
    _patched(monkeypatch, "jvp", jvp)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = oracle.check(_program(), record=False)
    assert kind in out.kinds, out.failures
    with pytest.raises(oracle.FAILURE_CLASSES[out.kinds[0]]):
        oracle.raise_for(_program(), out)


def test_oracle_counts_a_refusal_as_acceptable(monkeypatch):
    def vg(real, f, wrt, **kw):
        def call(*args):
            raise srcgrad.SrcgradError("the construct 'x' is not supported")
        return call
    _patched(monkeypatch, "value_and_grad", vg)
    out = oracle.check(_program(), record=False)
    assert out.status == "refused" and not out.failures
    assert out.refusals == ["grad: SrcgradError: the construct '_' is not supported"]


def test_reducer_keeps_only_what_the_failure_needs(monkeypatch):
    source = """import numpy as np

WV = np.array([0.7, -1.3, 0.4])
G0 = 0.75


def f(x, y):
    s0 = 0.5
    u0 = x.copy()
    for i0 in range(2):
        s0 += y * G0
        u0[0] = u0[0] * y
    return 1.0 * s0 + 0.5 * np.dot(u0, WV)
"""
    program = Program(source, [("x", "v"), ("y", "f")], [[0.3, -0.2, 0.7], 0.6])

    def check(p, jit=False, jvp=True, record=True):     # planted: any store is "wrong"
        out = oracle.Outcome()
        if "u0[0] = " in p.source:
            out.fail("wrong-gradient", "planted")
        return out
    monkeypatch.setattr(oracle, "check", check)
    small = campaign.reduce_source(program, "wrong-gradient")
    body = small.source.split("def f(x, y):\n")[1]
    assert "u0[0] = u0[0] * y" in body and "s0" not in body and "G0" not in small.source
    assert campaign._top_level_terms("a + b * (c + d) + e[1 + 2]") == ["a", "b * (c + d)", "e[1 + 2]"]
