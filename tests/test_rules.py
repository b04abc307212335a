"""Every derivative rule, checked numerically against central differences.

For a case ``f`` with arguments ``x``, a random output cotangent ``g`` and a random input
direction ``v`` (for argument ``i``):

* vjp:  ``<vjp_i(g), v>``  must equal  ``<f(x + eps v) - f(x - eps v), g> / (2 eps)``;
* jvp:  ``<jvp_i(v), g>``  must equal the same number;

and the cotangent must have the argument's shape and type (a scalar for a scalar, an
array of the same dtype for an array), the tangent the output's.  The rules are called
directly, exactly as registered, so these tests do not depend on the compiler.
"""

from __future__ import annotations

import ast
import inspect
import linecache
import math
import operator

import numpy as np
import pytest

import srcgrad.rules  # noqa: F401  (registers every rule)
from srcgrad.rules import registry
from srcgrad.runtime.broadcast import zeros_like
from srcgrad.rules.registry import all_primitives, defjvp, defvjp, lookup
from tests.rule_cases import CASES, Case, SEED, arr, scal

EPS = 1e-6
RTOL = 1e-6
ATOL = 1e-8


# --------------------------------------------------------------------------- the checker

def _is_seq(x):
    return isinstance(x, (list, tuple))


def random_like(x, rng):
    """A random value with the structure, shape and type of ``x``."""
    if _is_seq(x):
        return [random_like(item, rng) for item in x]
    if isinstance(x, np.ndarray):
        return rng.standard_normal(x.shape).astype(x.dtype)
    if isinstance(x, np.generic):
        return x.dtype.type(rng.standard_normal())
    return float(rng.standard_normal())


def moved(x, v, step):
    """``x + step * v`` (item by item for sequences), keeping ``x``'s type."""
    if _is_seq(x):
        return [moved(xi, vi, step) for xi, vi in zip(x, v)]
    out = x + step * v
    return x.dtype.type(out) if isinstance(x, np.generic) else out


def inner(a, b):
    """Euclidean inner product of two values of the same structure, in float64."""
    if _is_seq(a):
        return sum(inner(ai, bi) for ai, bi in zip(a, b))
    return float(np.sum(np.asarray(a, np.float64) * np.asarray(b, np.float64)))


def assert_conforms(value, like, what):
    """``value`` has the structure, shape and kind of ``like``: a tuple for a sequence, an
    ndarray of the same dtype for an ndarray, a (non-array) scalar for a scalar."""
    if _is_seq(like):
        assert isinstance(value, tuple) and len(value) == len(like), \
            f"{what}: expected a tuple of {len(like)} items, got {type(value).__name__}"
        for k, (vi, li) in enumerate(zip(value, like)):
            assert_conforms(vi, li, f"{what}[{k}]")
        return
    assert np.shape(value) == np.shape(like), \
        f"{what}: shape {np.shape(value)} != expected {np.shape(like)}"
    if isinstance(like, np.ndarray):
        assert isinstance(value, np.ndarray), f"{what}: expected an ndarray, got {type(value)}"
        assert value.dtype == like.dtype, f"{what}: dtype {value.dtype} != {like.dtype}"
    else:
        assert not isinstance(value, np.ndarray), \
            f"{what}: expected a scalar, got an ndarray of shape {value.shape}"
        assert np.issubdtype(np.result_type(value), np.floating), \
            f"{what}: expected a float, got {type(value).__name__}"


def _difference(a, b):
    """``a - b``, item by item for the tuple a primitive such as ``eigh`` returns."""
    if _is_seq(a):
        return tuple(_difference(x, y) for x, y in zip(a, b))
    return np.subtract(a, b)


def _setup(case: Case, i: int, seed=SEED):
    args = case.make_args(seed)
    ans = case(*args)
    rng = np.random.default_rng(seed + 1 + i)
    g = random_like(ans, rng)
    v = random_like(args[i], rng)
    plus = list(args)
    minus = list(args)
    plus[i] = moved(args[i], v, EPS)
    minus[i] = moved(args[i], v, -EPS)
    fd = inner(_difference(case(*plus), case(*minus)), g) / (2 * EPS)
    return args, ans, g, v, fd


def _rule(case, i, kind):
    prim = lookup(case.fn)
    assert prim is not None, f"{case.id}: not registered"
    rule = (prim.vjps if kind == "vjp" else prim.jvps).get(i)
    assert rule is not None, f"{case.id}: no {kind} rule for argument {i}"
    if kind == "vjp" and i in prim.into:
        # the rule adds into the list's adjoint: start from zeros, compare what it returns
        def from_zero(g, ans, *args, **kwargs):
            adjoint = rule(zeros_like(list(args[i])), g, ans, *args, **kwargs)
            assert isinstance(adjoint, list), f"{case.id}: the adjoint list is not returned"
            return tuple(adjoint)
        return from_zero
    return rule


def _close(got, want, what):
    tol = ATOL + RTOL * abs(want)
    assert abs(got - want) <= tol, \
        f"{what}: rule gives {got!r}, central difference gives {want!r} (|diff| {abs(got - want):.3g} > {tol:.3g})"


def check_vjp(case: Case, i: int, seed=SEED):
    """Assert that the registered vjp of argument ``i`` matches central differences."""
    args, ans, g, v, fd = _setup(case, i, seed)
    ct = _rule(case, i, "vjp")(g, ans, *args, **case.kwargs)
    assert_conforms(ct, args[i], f"{case.id}: cotangent of argument {i}")
    _close(inner(ct, v), fd, f"{case.id}: vjp of argument {i}")


def check_jvp(case: Case, i: int, seed=SEED):
    """Assert that the registered jvp of argument ``i`` matches central differences."""
    args, ans, g, v, fd = _setup(case, i, seed)
    t = tuple(v) if _is_seq(args[i]) else v
    tan = _rule(case, i, "jvp")(t, ans, *args, **case.kwargs)
    if isinstance(ans, list) and isinstance(tan, list):   # np.split: a list, tangents too
        tan = tuple(tan)
    assert_conforms(tan, ans, f"{case.id}: tangent from argument {i}")
    _close(inner(tan, g), fd, f"{case.id}: jvp of argument {i}")


# --------------------------------------------------------------------------- every rule

PAIRS = [(c, i) for c in CASES for i in c.wrt]
PAIR_IDS = [f"{c.id}-arg{i}" for c, i in PAIRS]


@pytest.mark.parametrize("case,i", PAIRS, ids=PAIR_IDS)
def test_vjp(case, i):
    check_vjp(case, i)


@pytest.mark.parametrize("case,i", PAIRS, ids=PAIR_IDS)
def test_jvp(case, i):
    check_jvp(case, i)


def test_cases_are_deterministic():
    case = next(c for c in CASES if c.fn is np.sin and np.ndim(c.make_args()[0]) == 2)
    np.testing.assert_array_equal(case.make_args()[0], case.make_args()[0])
    assert case.make_args(1)[0][0, 0] != case.make_args(2)[0][0, 0]


def test_nonzero_coverage():
    """Guard against a vacuous suite: most checks compare non-trivial numbers."""
    nonzero = sum(abs(_setup(c, i)[-1]) > 1e-3 for c, i in PAIRS)
    assert len(PAIRS) > 400 and nonzero > 0.9 * len(PAIRS)


# --------------------------------------------------------------------------- float32

FLOAT32_FNS = [
    np.sin, np.exp, np.log, np.sqrt, np.tanh, np.square, np.log2, np.reciprocal,
    np.absolute, np.sign, np.add, np.subtract, np.multiply, np.divide, np.power,
    np.maximum, np.hypot, np.where, np.clip, np.sum, np.mean, np.prod, np.max, np.var,
    np.std, np.cumsum, np.matmul, np.dot, np.transpose, np.concatenate, np.stack,
    np.linalg.norm, np.linalg.inv, operator.add, operator.mul, operator.truediv,
    operator.pow, operator.neg,
]


def _to_f32(x):
    if _is_seq(x):
        return [_to_f32(xi) for xi in x]
    if isinstance(x, np.ndarray) and x.dtype == np.float64:
        return x.astype(np.float32)
    if isinstance(x, np.float64):
        return np.float32(x)
    return x


F32_PAIRS = [(c, i) for c in CASES if any(c.fn is f for f in FLOAT32_FNS) for i in c.wrt]


@pytest.mark.parametrize("case,i", F32_PAIRS, ids=[f"{c.id}-arg{i}" for c, i in F32_PAIRS])
def test_float32_preserved(case, i):
    """float32 in, float32 out: cotangents and tangents keep the inputs' precision, and
    agree with the float64 rule to float32 accuracy."""
    args64 = case.make_args()
    args32 = [_to_f32(a) for a in args64]
    ans32 = case(*args32)
    ans64 = case(*args64)
    rng = np.random.default_rng(SEED)
    g64 = random_like(ans64, rng)
    g32 = _to_f32(g64)
    v64 = random_like(args64[i], rng)
    v32 = _to_f32(v64)
    ct32 = _rule(case, i, "vjp")(g32, ans32, *args32, **case.kwargs)
    ct64 = _rule(case, i, "vjp")(g64, ans64, *args64, **case.kwargs)
    assert_conforms(ct32, args32[i], f"{case.id}: float32 cotangent of argument {i}")
    t32 = tuple(v32) if _is_seq(v32) else v32
    t64 = tuple(v64) if _is_seq(v64) else v64
    tan32 = _rule(case, i, "jvp")(t32, ans32, *args32, **case.kwargs)
    tan64 = _rule(case, i, "jvp")(t64, ans64, *args64, **case.kwargs)
    assert_conforms(tan32, ans32, f"{case.id}: float32 tangent from argument {i}")
    for got, want in ((ct32, ct64), (tan32, tan64)):
        got = np.concatenate([np.ravel(x) for x in got]) if _is_seq(got) else got
        want = np.concatenate([np.ravel(x) for x in want]) if _is_seq(want) else want
        np.testing.assert_allclose(np.asarray(got, np.float64), want, rtol=2e-4, atol=2e-5)


def test_float32_suite_is_not_empty():
    assert len(F32_PAIRS) > 60
    assert any(isinstance(a, np.ndarray) for c, _ in F32_PAIRS for a in c.make_args())


# --------------------------------------------------------------------------- the registry

def _has(rule) -> bool:
    """A real rule: not None (no derivative) and not ZERO (shape-only argument)."""
    return rule is not None and rule is not registry.ZERO


def _builtin_diff_primitives():
    return [p for p in all_primitives()
            if not p.user and not p.nondiff and not p.structural
            and any(_has(r) for r in p.vjps.values())]


def test_every_rule_has_cases():
    """Adding a rule without a numerical test fails here."""
    covered = {id(c.fn) for c in CASES}
    missing = [p.name for p in _builtin_diff_primitives() if id(p.fn) not in covered]
    assert not missing, f"primitives without a case in tests/rule_cases.py: {missing}"


#: keyword-only arguments a case cannot pass positionally, and where they are tested
KEYWORD_ONLY_TESTED_ELSEWHERE = {
    "numpy.pad arg 3": "constant_values: tests/test_more_shapes.py (padded_border)",
}


def test_every_differentiable_argument_is_tested():
    """Each argument that has a rule is differentiated by at least one case."""
    untested = []
    for p in _builtin_diff_primitives():
        tested = {i for c in CASES if c.fn is p.fn for i in c.wrt}
        untested += [f"{p.name} arg {i}" for i, r in p.vjps.items()
                     if _has(r) and i not in tested and
                     f"{p.name} arg {i}" not in KEYWORD_ONLY_TESTED_ELSEWHERE]
    assert not untested, untested


def test_vjp_and_jvp_side_by_side():
    """Every differentiable argument has both a vjp and a jvp, with the same parameters
    (``g, ans`` / ``t, ans`` followed by the primitive's own)."""
    for p in _builtin_diff_primitives():
        vj = {i for i, r in p.vjps.items() if _has(r)}
        jv = {i for i, r in p.jvps.items() if _has(r)}
        assert vj == jv, f"{p.name}: vjp args {vj} != jvp args {jv}"
        for i in vj:
            vparams = list(inspect.signature(p.vjps[i]).parameters.values())
            if i in p.into:
                assert vparams[0].name == "adjoint", p.name
                vparams = vparams[1:]
            jparams = list(inspect.signature(p.jvps[i]).parameters.values())
            assert [q.name for q in vparams[:2]] == ["g", "ans"], p.name
            assert [q.name for q in jparams[:2]] == ["t", "ans"], p.name
            assert vparams[2:] == jparams[2:], f"{p.name}: vjp/jvp parameters differ"
            assert inspect.Signature(vparams[2:]) == p.signature, p.name


def _rules():
    for p in _builtin_diff_primitives():
        for table in (p.vjps, p.jvps):
            for i, r in table.items():
                if _has(r):
                    yield p, i, r


def lambda_node(rule) -> ast.Lambda:
    """The ``ast.Lambda`` of a rule, found from its source line the way a code generator
    would: the text from ``lambda`` on that line, trimmed at the end until it parses."""
    code = rule.__code__
    line = linecache.getline(code.co_filename, code.co_firstlineno)
    text = line[line.index("lambda"):].rstrip()
    while text:
        try:
            node = ast.parse(text, mode="eval").body
        except SyntaxError:
            text = text[:-1].rstrip()
            continue
        if isinstance(node, ast.Lambda):
            return node
        text = text[:-1].rstrip()
    raise AssertionError(f"no lambda found on {code.co_filename}:{code.co_firstlineno}")


def test_rules_are_inlinable_lambdas():
    """Each rule is a single-expression lambda, alone on its source line, whose source can
    be recovered and re-evaluated to the same function (what the code generator relies on)."""
    seen = {}
    for p, i, rule in _rules():
        assert rule.__name__ == "<lambda>", f"{p.name} arg {i}: not a lambda"
        code = rule.__code__
        where = (code.co_filename, code.co_firstlineno)
        assert seen.setdefault(where, code) is code, \
            f"{p.name} arg {i}: two different rules on {where[0]}:{where[1]}"
        line = linecache.getline(*where)
        assert line.count("lambda") == 1, f"{where}: more than one lambda on the line"
        node = lambda_node(rule)
        rebuilt = eval(compile(ast.Expression(node), "<rule>", "eval"), rule.__globals__)
        assert inspect.signature(rebuilt) == inspect.signature(rule), f"{p.name} arg {i}"
        assert rebuilt.__code__.co_names == code.co_names, f"{p.name} arg {i}: source mismatch"
        assert not any(isinstance(n, ast.Lambda) for n in ast.walk(node.body)), p.name


def test_nondifferentiable_primitives():
    import builtins
    for fn in (np.zeros, np.ones, np.zeros_like, np.ones_like, np.empty, np.arange,
               np.linspace, np.empty_like, np.shape, np.argmax, np.floor,
               np.ceil, np.round, operator.lt, operator.le, operator.gt, operator.ge,
               operator.eq, operator.ne, operator.not_, operator.truth, builtins.int,
               builtins.bool, builtins.len, builtins.range, builtins.round, math.floor,
               math.ceil):
        prim = lookup(fn)
        assert prim is not None and prim.nondiff, fn
        assert not any(prim.vjps.values()), fn
    # piecewise-constant float functions with a zero rule rather than `defnondiff`
    zero = [0.0, 0.0, 0.0]
    assert lookup(np.sign).vjps[0](np.ones(3), None, np.arange(3.0)).tolist() == zero
    assert lookup(operator.floordiv).vjps[0](np.ones(3), None, np.arange(3.0), 2.0).tolist() == zero


# --------------------------------------------------------------------------- the checker works

@pytest.fixture
def scratch_registry():
    """Lets a test register rules for throwaway functions; restores the registry after."""
    saved = dict(registry._REGISTRY)
    try:
        yield
    finally:
        registry._REGISTRY.clear()
        registry._REGISTRY.update(saved)


def _cube(x):
    return x ** 3


def _scale(x, y):
    return x * y


def test_checker_catches_wrong_rules(scratch_registry):
    case = Case(_cube, (arr(4),))
    # wrong derivative: 2 x^2 instead of 3 x^2
    defvjp(_cube, lambda g, ans, x: g * 2 * x * x, user=False)
    defjvp(_cube, lambda t, ans, x: t * 2 * x * x)
    with pytest.raises(AssertionError, match="central difference"):
        check_vjp(case, 0)
    with pytest.raises(AssertionError, match="central difference"):
        check_jvp(case, 0)
    # the right rule passes the same check
    defvjp(_cube, lambda g, ans, x: g * 3 * x * x, user=False)
    defjvp(_cube, lambda t, ans, x: t * 3 * x * x)
    check_vjp(case, 0)
    check_jvp(case, 0)


def test_checker_catches_missing_unbroadcast(scratch_registry):
    case = Case(_scale, (scal(), arr(2, 3)), wrt=(0, 1))
    defvjp(_scale, lambda g, ans, x, y: g * y, lambda g, ans, x, y: g * x, user=False)
    defjvp(_scale, lambda t, ans, x, y: t * y, lambda t, ans, x, y: x * t)
    with pytest.raises(AssertionError, match="shape"):
        check_vjp(case, 0)
    check_vjp(case, 1)


def test_checker_catches_dtype_changes():
    with pytest.raises(AssertionError, match="dtype"):
        assert_conforms(np.zeros(3), np.zeros(3, np.float32), "x")
    with pytest.raises(AssertionError, match="scalar"):
        assert_conforms(np.zeros(()), 1.0, "x")


def test_scratch_registry_restored():
    assert lookup(_cube) is None and lookup(_scale) is None


# --------------------------------------------------------------------------- helpers

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from hypothesis.extra import numpy as hnp  # noqa: E402

from srcgrad.runtime.broadcast import broadcast_like, unbroadcast  # noqa: E402
from srcgrad.runtime.numpy_helpers import (  # noqa: E402
    extremum_mask, log_or_zero, norm_direction, prod_others, reshape_as, unreduce,
    winner_share, zeros_like,
)


@settings(max_examples=60, deadline=None)
@given(hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=4, max_side=3), st.integers(0, 99))
def test_unbroadcast_is_adjoint_of_broadcasting(shapes, seed):
    """<unbroadcast(g, x), v> == <g, broadcast(v)> for every pair of broadcastable shapes."""
    x_shape = shapes.input_shapes[0]
    rng = np.random.default_rng(seed)
    g = rng.standard_normal(shapes.result_shape)
    v = rng.standard_normal(x_shape)
    ct = unbroadcast(g, v)
    assert np.shape(ct) == x_shape
    assert np.isclose(inner(ct, v), inner(g, np.broadcast_to(v, shapes.result_shape)))


@settings(max_examples=60, deadline=None)
@given(hnp.array_shapes(min_dims=1, max_dims=4, max_side=3), st.data())
def test_unreduce_is_adjoint_of_sum(shape, data):
    """<unreduce(g, a, axis, keepdims), v> == <g, sum(v, axis, keepdims)>."""
    axis = data.draw(st.none() | hnp.valid_tuple_axes(len(shape), min_size=1)
                     | st.integers(-len(shape), len(shape) - 1))
    keepdims = data.draw(st.booleans())
    rng = np.random.default_rng(0)
    v = rng.standard_normal(shape)
    g = rng.standard_normal(np.shape(np.sum(v, axis=axis, keepdims=keepdims)))
    ct = unreduce(g, v, axis, keepdims)
    assert ct.shape == shape and ct.flags.writeable
    assert np.isclose(inner(ct, v), inner(g, np.sum(v, axis=axis, keepdims=keepdims)))


def test_unbroadcast_scalars_and_dtypes():
    g = np.ones((2, 3), np.float32)
    assert unbroadcast(g, 1.0) == 6.0 and isinstance(unbroadcast(g, 1.0), np.float32)
    assert unbroadcast(g, np.zeros(3)).dtype == np.float32
    assert unbroadcast(g, np.zeros((2, 1))).tolist() == [[3.0], [3.0]]
    assert unbroadcast(g, g) is g
    assert isinstance(unbroadcast(np.array(2.0), 1.0), np.float64)  # 0-d -> scalar
    assert unbroadcast(2.5, 1.0) == 2.5


def test_broadcast_like():
    out = broadcast_like(2.0, np.zeros((2, 3), np.float32))
    assert out.shape == (2, 3) and out.dtype == np.float32 and (out == 2.0).all()
    t = np.arange(3.0)
    assert broadcast_like(t, np.zeros(3)) is t
    assert broadcast_like(t, np.zeros((2, 3))).tolist() == [[0.0, 1.0, 2.0]] * 2


def test_small_helpers():
    assert zeros_like(3.0) == 0.0 and type(zeros_like(3.0)) is float
    assert type(zeros_like(np.float32(3))) is np.float32
    assert zeros_like(np.ones((2,), np.float32)).dtype == np.float32
    assert isinstance(reshape_as(np.ones((1, 1)), 2.0), np.float64)
    assert reshape_as(np.arange(6.0), np.zeros((2, 3)), "F").tolist() == [[0, 2, 4], [1, 3, 5]]
    assert log_or_zero(0.0) == 0.0 and log_or_zero(np.array([0.0, math.e])).tolist() == [0.0, 1.0]
    assert prod_others(np.array([2.0, 0.0, 3.0])).tolist() == [0.0, 6.0, 0.0]
    assert prod_others(np.array([[2.0, 0.0], [0.0, 0.0]]), 1).tolist() == [[0.0, 2.0], [0.0, 0.0]]


def test_ties_are_split_evenly():
    x = np.array([1.0, 2.0, 3.0])
    y = np.array([1.0, 5.0, 0.0])
    assert winner_share(x, y, np.maximum(x, y)).tolist() == [0.5, 0.0, 1.0]
    assert winner_share(y, x, np.maximum(x, y)).tolist() == [0.5, 1.0, 0.0]
    a = np.array([[3.0, 1.0, 3.0], [0.0, 2.0, 1.0]])
    assert extremum_mask(a, np.max(a, axis=1), 1).tolist() == [[0.5, 0.0, 0.5], [0.0, 1.0, 0.0]]
    g = lookup(np.max).vjps[0](np.float64(6.0), np.max(a), a)
    assert g.tolist() == [[3.0, 0.0, 3.0], [0.0, 0.0, 0.0]]
    # clip: a value on a bound passes through (derivative 1 for a, 0 for the bound)
    clip = lookup(np.clip)
    a = np.array([-1.0, 0.0, 0.5, 2.0])
    assert clip.vjps[0](np.ones(4), None, a, 0.0, 1.0).tolist() == [0.0, 1.0, 1.0, 0.0]
    assert clip.vjps[1](np.ones(4), None, a, 0.0, 1.0) == 1.0
    assert clip.vjps[2](np.ones(4), None, a, 0.0, 1.0) == 1.0


def test_unsupported_norm_order_is_refused():
    # every order has a first derivative; the second derivatives of vector p-norms, the
    # matrix 2-norm and the nuclear norm are refused
    from srcgrad.runtime.numpy_helpers import two_norm_weight
    from srcgrad.errors import UnsupportedDerivativeError
    with pytest.raises(UnsupportedDerivativeError, match="ord=3"):
        two_norm_weight(np.ones(3), 3)
    with pytest.raises(UnsupportedDerivativeError, match="matrix"):
        two_norm_weight(np.eye(2), "nuc")
    assert two_norm_weight(np.ones(3), np.inf) == 0.0 and two_norm_weight(np.eye(2), 1) == 0.0


def test_unsupported_norm_order_is_a_srcgrad_error():
    import srcgrad
    from srcgrad.runtime.numpy_helpers import two_norm_weight
    with pytest.raises(srcgrad.SrcgradError, match="ord=3"):
        two_norm_weight(np.ones(3), 3)
