"""The facts declared on primitive records hold for the functions themselves, checked
against NumPy and Python the way the rules are checked against central differences."""

import math

import numpy as np
import pytest

import srcgrad  # noqa: F401  (registers the built-in rules)
from srcgrad.rules import registry

RECORDS = [p for p in registry._REGISTRY.values() if p.fn is not None]


def _with(fact, keep=lambda p: True):
    return [pytest.param(p, id=p.name) for p in RECORDS if getattr(p, fact) and keep(p)]


def _call(fn, *args):
    with np.errstate(all="ignore"):
        return fn(*args)


def _arity(prim) -> int:
    """How many array operands to pass (2 for binary operators and ufuncs)."""
    nin = getattr(prim.fn, "nin", None)
    if nin is not None:
        return nin
    return {"where": 3, "clip": 3}.get(prim.fn.__name__, 1 if prim.fn.__name__ in (
        "neg", "pos", "abs", "copy", "sinc") else 2)


@pytest.mark.parametrize("prim", _with("elementwise"))
def test_elementwise_results_broadcast_their_operands(prim):
    rng = np.random.default_rng(0)
    shapes = [(3, 1), (1, 4), (4,)][:_arity(prim)]
    args = [rng.uniform(0.2, 0.9, s) for s in shapes]
    if prim.fn is np.where:
        args[0] = args[0] > 0.5
    out = _call(prim.fn, *args)
    assert np.shape(out) == np.broadcast_shapes(*shapes)
    one = _call(prim.fn, *[a.ravel()[0] if a.ndim else a for a in args])
    # the first element alone (NaN outside the domain, as for np.arccosh, must agree too)
    assert np.allclose(np.asarray(out).ravel()[0], one, equal_nan=True)


@pytest.mark.parametrize("prim", _with("fresh"))
def test_fresh_results_share_no_memory_with_operands(prim):
    x = np.linspace(0.1, 0.9, 6).reshape(2, 3)
    shape_args = {np.zeros, np.empty, np.ones}
    if prim.fn in shape_args:
        out, args = prim.fn((2, 3)), []
    elif prim.fn in (np.arange, np.eye, np.identity):
        out, args = prim.fn(3), []
    elif prim.fn is np.linspace:
        out, args = prim.fn(0.0, 1.0, 5), []
    elif prim.fn is np.full:
        out, args = prim.fn((2, 3), 1.5), []
    elif prim.fn is np.full_like:
        args = [x]
        out = prim.fn(x, 1.5)
    elif prim.fn is np.select:
        args = [x, 2 * x]
        out = prim.fn([x > 0.5, x > 0.2], args)
    elif prim.fn in (np.stack, np.concatenate):
        args = [x, x]
        out = prim.fn([x, x])
    elif prim.fn.__name__.startswith("hist_"):
        out, args = prim.fn(3), []
    else:
        args = [x] * (_arity(prim) if prim.elementwise else 1)
        if prim.fn is np.where:
            args[0] = x > 0.5
        if prim.fn in (np.dot, np.outer) or prim.fn.__name__ == "matmul":
            args = [x, x.T]
        extra = {"roll": [1], "repeat": [2], "take_along_axis": [np.array([[1, 0, 0], [2, 2, 1]]), 1],
                 "take": [np.array([2, 0, 2])], "tile": [2], "undiagonal": [np.ones((3, 3, 2))],
                 "untake": [np.ones((2, 3)), np.array([[0, 0, 1], [2, 1, 0]])], "untile": [np.ones((2, 1)), 3],
                 "trapezoid_weights": [np.ones(3)], "unweights": [np.ones((2, 3)), np.ones((2, 3))],
                 "undiff": [1, 0], "interp": [np.linspace(0, 1, 4), np.linspace(1, 2, 4)], "pad": [1], "unpad": [np.ones((1, 1)), ((1, 0), (0, 1))], "cumprod_grad": [x], "cumprod_jvp": [x],
                 "cumprod_jvp2": [x, x], "cumprod_hvp": [x, x]}.get(prim.fn.__name__, [])
        out = _call(prim.fn, *args, *extra)
    for a in args:
        assert not np.shares_memory(out, a)


@pytest.mark.parametrize("prim", _with("reduction"))
def test_reductions_give_a_scalar_without_axis_and_drop_the_axis_with_one(prim):
    x = np.linspace(0.1, 0.9, 6).reshape(2, 3)
    assert np.ndim(prim.fn(x)) == 0
    assert np.shape(prim.fn(x, axis=1)) == (2,)


@pytest.mark.parametrize("prim", _with("int_preserving"))
def test_int_preserving_keeps_integers(prim):
    args = [7, 3][:_arity(prim)]
    assert isinstance(prim.fn(*args), int)


@pytest.mark.parametrize("prim", _with("result_kind", lambda p: p.result_kind in ("int", "bool")))
def test_declared_result_kinds(prim):
    arg = {"len": [1, 2]}.get(prim.fn.__name__, 2.5)
    args = [arg] * (2 if prim.fn.__module__ in ("_operator", "operator") and prim.fn.__name__ != "not_"
                    else 1)
    if prim.fn in (np.size, np.ndim):
        args = [np.ones((2, 3))]
    value = prim.fn(*args)
    expected = (bool, np.bool_) if prim.result_kind == "bool" else (int, np.integer)
    assert isinstance(value, expected) and not (prim.result_kind == "int" and isinstance(value, bool))


@pytest.mark.parametrize("prim", _with("view"))
def test_views_may_share_memory_and_keep_values(prim):
    x = np.linspace(0.1, 0.9, 6).reshape(2, 3)
    extra = {"reshape": [(3, 2)], "reshape_as": [np.ones((3, 2))], "broadcast_like": [np.ones((2, 3))],
             "unbroadcast": [np.ones((2, 3))], "expand_dims": [0], "moveaxis": [0, 1],
             "swapaxes": [0, 1], "broadcast_to": [(2, 3)]}.get(prim.fn.__name__, [])
    out = prim.fn(x, *extra)
    assert np.allclose(np.sort(np.ravel(out)), np.sort(np.ravel(x)))


@pytest.mark.parametrize("prim", _with("list_form"))
def test_list_forms_agree_with_the_sequence_form(prim):
    items = [np.ones(3), 2 * np.ones(3)]
    assert np.array_equal(prim.list_form(items), prim.fn(items))


def test_every_fact_is_declared_on_known_fields():
    with pytest.raises(TypeError, match="unknown primitive facts"):
        registry.declare(math.sin, shiny=True)
