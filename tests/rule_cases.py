"""Numerical test cases for every differentiable primitive (data only).

``CASES`` lists, for each primitive, a few calls: the callable, one *factory* per
positional argument (each factory turns a seeded ``np.random.Generator`` into a value),
keyword arguments, and the indices of the arguments to differentiate.  The rule tests
(``tests/test_rules.py``) call the registered rules directly; end-to-end tests can build
``lambda *args: np.sum(case(*args) * weights)`` from the same table.

Inputs are chosen inside each function's domain (positive for ``log``/``sqrt``, |x| < 1 for
``arcsin``), away from kinks and ties (continuous random values), with at least two
shapes per primitive: scalars (Python floats and NumPy scalars) and arrays, including
broadcasting for binary operations.

    >>> case = CASES[0]
    >>> args = case.make_args()          # fixed seed: same values every run
    >>> out = case(*args)                # == case.fn(*args, **case.kwargs)
"""

from __future__ import annotations

import builtins
import math
import operator
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

SEED = 20240531


# --------------------------------------------------------------------------- factories

@dataclass(frozen=True)
class Arr:
    """A float64 array of ``shape`` with entries uniform in [lo, hi)."""

    shape: tuple
    lo: float = -1.0
    hi: float = 1.0

    def __call__(self, rng):
        return rng.uniform(self.lo, self.hi, size=self.shape)

    def __repr__(self):
        return "x".join(map(str, self.shape)) or "0d"


@dataclass(frozen=True)
class Scalar:
    """A scalar uniform in [lo, hi): a Python float, or a NumPy scalar if ``numpy``."""

    lo: float = -1.0
    hi: float = 1.0
    numpy: bool = False

    def __call__(self, rng):
        v = float(rng.uniform(self.lo, self.hi))
        return np.float64(v) if self.numpy else v

    def __repr__(self):
        return "f64" if self.numpy else "float"


@dataclass(frozen=True)
class Const:
    """A fixed value (conditions, bounds, hand-picked arrays)."""

    value: Any

    def __call__(self, rng):
        return self.value.copy() if isinstance(self.value, np.ndarray) else self.value

    def __repr__(self):
        if isinstance(self.value, np.ndarray):
            return "const" + "x".join(map(str, self.value.shape))
        return repr(self.value)


@dataclass(frozen=True)
class Mask:
    """A random boolean array (for ``np.where``)."""

    shape: tuple

    def __call__(self, rng):
        return rng.uniform(size=self.shape) < 0.5

    def __repr__(self):
        return "bool" + "x".join(map(str, self.shape))


@dataclass(frozen=True)
class Seq:
    """A list of values, one per item factory (for ``np.concatenate``/``np.stack``)."""

    items: tuple

    def __call__(self, rng):
        return [f(rng) for f in self.items]

    def __repr__(self):
        return "[" + ",".join(map(repr, self.items)) + "]"


@dataclass(frozen=True)
class Matrix:
    """A well-conditioned n x n matrix (or stack of them): 2 I + 0.3 * normal noise."""

    n: int
    batch: tuple = ()

    def __call__(self, rng):
        return 2.0 * np.eye(self.n) + 0.3 * rng.standard_normal(self.batch + (self.n, self.n))

    def __repr__(self):
        return "mat" + "x".join(map(str, self.batch + (self.n, self.n)))


def arr(*shape, lo=-1.0, hi=1.0):
    return Arr(tuple(shape), lo, hi)


def pos(*shape, lo=0.5, hi=2.0):
    """Positive entries (domains of log, sqrt, divisors)."""
    return Arr(tuple(shape), lo, hi)


def scal(lo=-1.0, hi=1.0):
    return Scalar(lo, hi)


def npscal(lo=-1.0, hi=1.0):
    return Scalar(lo, hi, numpy=True)


def const(value):
    return Const(value)


def mask(*shape):
    return Mask(tuple(shape))


def seq(*items):
    return Seq(tuple(items))


def mat(n, *batch):
    return Matrix(n, tuple(batch))


# --------------------------------------------------------------------------- cases

@dataclass(frozen=True, eq=False)
class Case:
    """One call of a primitive: ``fn(*[f(rng) for f in args], **kwargs)``."""

    fn: Callable
    args: tuple
    kwargs: dict = field(default_factory=dict)
    wrt: tuple = (0,)          # indices of the differentiable positional arguments

    def make_args(self, seed=SEED):
        rng = np.random.default_rng(seed)
        return [f(rng) for f in self.args]

    def __call__(self, *args):
        # on copies: a primitive that updates an argument in place (add_at) must not
        # change the inputs later calls and the rules see
        args = [a.copy() if isinstance(a, np.ndarray) else a for a in args]
        return self.fn(*args, **self.kwargs)

    @property
    def id(self):
        name = getattr(self.fn, "__name__", repr(self.fn))
        module = getattr(self.fn, "__module__", "") or ""
        if module in ("_operator", "operator"):
            name = "operator." + name
        elif module == "math":
            name = "math." + name
        elif module.startswith("numpy.linalg"):
            name = "linalg." + name
        elif module.startswith("numpy"):
            name = "np." + name
        kw = "".join(f",{k}={v!r}" for k, v in self.kwargs.items())
        return f"{name}({','.join(map(repr, self.args))}{kw})"


def _unary(fn, lo=-1.0, hi=1.0, shapes=((), (5,), (2, 3)), numpy_scalar=True):
    """Cases for an elementwise one-argument function over [lo, hi)."""
    cases = [Case(fn, (scal(lo, hi) if s == () else arr(*s, lo=lo, hi=hi),)) for s in shapes]
    if numpy_scalar:
        cases.append(Case(fn, (npscal(lo, hi),)))
    return cases


BROADCAST_SHAPES = (((4,), (4,)), ((2, 3), (3,)), ((4, 1), (1, 3)), ((), (2, 3)), ((2, 3), ()))


def _binary(fn, x=(-1.0, 1.0), y=(-1.0, 1.0), wrt=(0, 1), shapes=BROADCAST_SHAPES):
    """Cases for an elementwise two-argument function, with broadcasting and scalars.

    ``x`` and ``y`` are the (lo, hi) ranges of the two arguments.
    """
    def make(shape, rng_range):
        return scal(*rng_range) if shape == () else arr(*shape, lo=rng_range[0], hi=rng_range[1])
    return [Case(fn, (make(sx, x), make(sy, y)), wrt=wrt) for sx, sy in shapes]


def _math(fn, lo=-1.0, hi=1.0):
    """Cases for a scalar ``math`` function: a Python float and a NumPy float64."""
    return [Case(fn, (scal(lo, hi),)), Case(fn, (npscal(lo, hi),))]


def _math2(fn, x=(-1.0, 1.0), y=(-1.0, 1.0)):
    return [Case(fn, (scal(*x), scal(*y)), wrt=(0, 1)),
            Case(fn, (npscal(*x), scal(*y)), wrt=(0, 1))]


def _reduction(fn, lo=-1.0, hi=1.0, **extra):
    """Cases for a reduction: all axes, one axis, negative axis, a tuple of axes with
    keepdims, and a scalar input."""
    return [
        Case(fn, (arr(6, lo=lo, hi=hi),), dict(extra)),
        Case(fn, (arr(3, 4, lo=lo, hi=hi),), dict(axis=0, **extra)),
        Case(fn, (arr(3, 4, lo=lo, hi=hi),), dict(axis=-1, **extra)),
        Case(fn, (arr(2, 3, 4, lo=lo, hi=hi),), dict(axis=(0, 2), keepdims=True, **extra)),
        Case(fn, (arr(2, 3, 4, lo=lo, hi=hi),), dict(axis=1, keepdims=True, **extra)),
        Case(fn, (arr(3, 4, lo=lo, hi=hi),), dict(keepdims=True, **extra)),
    ]


CASES: list[Case] = []

# ----------------------------------------------------------------- operator / builtins
CASES += _binary(operator.add)
CASES += _binary(operator.sub)
CASES += _binary(operator.mul)
CASES += _binary(operator.truediv, y=(0.5, 2.0))
CASES += _binary(operator.floordiv, x=(-3.0, 3.0), y=(0.5, 2.0))
CASES += _binary(operator.mod, x=(-3.0, 3.0), y=(0.5, 2.0))
CASES += _binary(operator.pow, x=(0.5, 2.0), y=(-1.5, 2.5))
CASES += [Case(operator.pow, (arr(2, 3, lo=-2, hi=2), const(2)), wrt=(0,)),
          Case(operator.pow, (const(0.0), scal(0.5, 2.0)), wrt=(1,)),
          Case(operator.pow, (const(np.array([0.0, 0.5, 2.0])), arr(3, lo=0.5, hi=2)), wrt=(1,))]
CASES += [
    Case(operator.matmul, (arr(2, 3), arr(3, 4)), wrt=(0, 1)),
    Case(operator.matmul, (arr(3), arr(3, 4)), wrt=(0, 1)),
    Case(operator.matmul, (arr(5, 2, 3), arr(3, 2)), wrt=(0, 1)),
]
CASES += _unary(operator.neg)
CASES += _unary(operator.pos)
CASES += _unary(operator.abs)
CASES += _unary(builtins.abs)
CASES += [
    Case(builtins.max, (scal(), scal()), wrt=(0, 1)),
    Case(builtins.max, (npscal(), scal()), wrt=(0, 1)),
    Case(builtins.min, (scal(), scal()), wrt=(0, 1)),
    Case(builtins.min, (scal(), npscal()), wrt=(0, 1)),
    Case(builtins.pow, (scal(0.5, 2.0), scal(-1.5, 2.5)), wrt=(0, 1)),
    Case(builtins.pow, (npscal(0.5, 2.0), const(3)), wrt=(0,)),
    Case(builtins.float, (scal(),)),
    Case(builtins.float, (npscal(),)),
]

# ----------------------------------------------------------------- math
CASES += _math(math.sin) + _math(math.cos) + _math(math.tan) + _math(math.exp)
CASES += _math(math.expm1) + _math(math.log, 0.5, 2.0) + _math(math.log1p, -0.5, 2.0)
CASES += _math(math.sqrt, 0.5, 2.0) + _math(math.tanh) + _math(math.sinh) + _math(math.cosh)
CASES += _math(math.asin, -0.9, 0.9) + _math(math.acos, -0.9, 0.9) + _math(math.atan, -3, 3)
CASES += _math(math.fabs) + _math(math.erf, -2, 2)
CASES += [Case(math.fsum, (seq(scal(), scal(), scal()),)),
          Case(math.prod, (seq(scal(), scal(), scal()),)),
          Case(math.prod, (seq(scal(), scal()),))]
CASES += _math2(math.atan2) + _math2(math.hypot) + _math2(math.pow, (0.5, 2.0), (-1.5, 2.5))

# ----------------------------------------------------------------- numpy elementwise
CASES += _unary(np.sin, -3, 3) + _unary(np.cos, -3, 3) + _unary(np.tan)
CASES += _unary(np.arcsin, -0.9, 0.9) + _unary(np.arccos, -0.9, 0.9) + _unary(np.arctan, -3, 3)
CASES += _unary(np.sinh) + _unary(np.cosh) + _unary(np.tanh, -2, 2)
CASES += _unary(np.exp) + _unary(np.expm1) + _unary(np.log, 0.5, 2.0)
CASES += _unary(np.log1p, -0.5, 2.0) + _unary(np.log2, 0.5, 2.0) + _unary(np.log10, 0.5, 2.0)
CASES += _unary(np.sqrt, 0.5, 2.0) + _unary(np.square, -2, 2) + _unary(np.reciprocal, 0.5, 2.0)
CASES += _unary(np.negative) + _unary(np.positive) + _unary(np.absolute) + _unary(np.sign)
CASES += _unary(np.real) + _unary(np.imag) + _unary(np.conjugate)

CASES += _binary(np.add) + _binary(np.subtract) + _binary(np.multiply)
CASES += _binary(np.divide, y=(0.5, 2.0))
CASES += _binary(np.power, x=(0.5, 2.0), y=(-1.5, 2.5))
CASES += [Case(np.power, (arr(2, 3, lo=-2, hi=2), const(3)), wrt=(0,))]
CASES += _binary(np.arctan2) + _binary(np.hypot)
CASES += _binary(np.logaddexp, x=(-30.0, 30.0))
CASES += _binary(np.maximum) + _binary(np.minimum)

CASES += [
    Case(np.where, (mask(2, 3), arr(2, 3), arr(2, 3)), wrt=(1, 2)),
    Case(np.where, (mask(2, 3), arr(3), scal()), wrt=(1, 2)),
    Case(np.where, (mask(3), arr(2, 1), arr(2, 3)), wrt=(1, 2)),
    Case(np.where, (const(True), scal(), scal()), wrt=(1, 2)),
]
CASES += [
    Case(np.clip, (arr(3, 4, lo=-2, hi=2), const(-0.5), const(0.5))),
    Case(np.clip, (arr(3, 4, lo=-2, hi=2), arr(4, lo=-1.0, hi=-0.2), scal(0.2, 1.0)), wrt=(0, 1, 2)),
    Case(np.clip, (arr(6, lo=-2, hi=2), const(None), arr(6, lo=-0.5, hi=0.5)), wrt=(0, 2)),
    Case(np.clip, (scal(-2, 2), const(-0.5), const(None))),
]

# ----------------------------------------------------------------- reductions
CASES += _reduction(np.sum) + [Case(np.sum, (scal(),))]
CASES += _reduction(np.mean)
CASES += _reduction(np.prod, 0.5, 1.5) + [Case(np.prod, (arr(5, lo=-1.5, hi=1.5),))]
CASES += [Case(np.prod, (const(np.array([[1.5, 0.0, -2.0], [0.7, 0.0, 0.0]])),), dict(axis=1)),
          Case(np.prod, (const(np.array([1.5, 0.0, -2.0, 0.5])),))]
for _fn in (np.max, np.amax, np.min, np.amin):
    CASES += _reduction(_fn)
CASES += _reduction(np.var) + _reduction(np.var, ddof=1)
CASES += _reduction(np.std) + _reduction(np.std, ddof=1)
CASES += [
    Case(np.cumsum, (arr(5),)),
    Case(np.cumsum, (arr(3, 4),), dict(axis=1)),
    Case(np.cumsum, (arr(3, 4),)),
    Case(np.cumsum, (arr(2, 3, 4),), dict(axis=-2)),
]

# ----------------------------------------------------------------- products
CASES += [
    Case(np.dot, (arr(3), arr(3)), wrt=(0, 1)),
    Case(np.dot, (arr(2, 3), arr(3)), wrt=(0, 1)),
    Case(np.dot, (arr(2, 3), arr(3, 4)), wrt=(0, 1)),
    Case(np.dot, (arr(3), arr(3, 4)), wrt=(0, 1)),
    Case(np.dot, (arr(2, 2, 3), arr(4, 3, 2)), wrt=(0, 1)),
    Case(np.dot, (scal(), arr(3)), wrt=(0, 1)),
    Case(np.dot, (arr(2, 3), scal()), wrt=(0, 1)),
    Case(np.matmul, (arr(2, 3), arr(3, 4)), wrt=(0, 1)),
    Case(np.matmul, (arr(3), arr(3, 4)), wrt=(0, 1)),
    Case(np.matmul, (arr(2, 3), arr(3)), wrt=(0, 1)),
    Case(np.matmul, (arr(3), arr(3)), wrt=(0, 1)),
    Case(np.matmul, (arr(5, 2, 3), arr(3, 4)), wrt=(0, 1)),
    Case(np.matmul, (arr(2, 1, 2, 3), arr(4, 3, 2)), wrt=(0, 1)),
    Case(np.matmul, (arr(3), arr(4, 3, 2)), wrt=(0, 1)),
    Case(np.outer, (arr(3), arr(4)), wrt=(0, 1)),
    Case(np.outer, (arr(2, 2), arr(3)), wrt=(0, 1)),
    Case(np.outer, (scal(), arr(3)), wrt=(0, 1)),
    Case(np.inner, (arr(3), arr(3)), wrt=(0, 1)),
    Case(np.inner, (arr(2, 3), arr(4, 3)), wrt=(0, 1)),
    Case(np.inner, (arr(2, 3), arr(3)), wrt=(0, 1)),
    Case(np.inner, (scal(), arr(2, 3)), wrt=(0, 1)),
    Case(np.trace, (arr(3, 3),)),
    Case(np.trace, (arr(3, 4),), dict(offset=1)),
    Case(np.trace, (arr(2, 3, 4),), dict(axis1=1, axis2=2)),
    Case(np.trace, (arr(3, 2, 4),), dict(offset=-1, axis1=2, axis2=0)),
    Case(np.diag, (arr(4),)),
    Case(np.diag, (arr(3),), dict(k=1)),
    Case(np.diag, (arr(3, 4),)),
    Case(np.diag, (arr(3, 4),), dict(k=-1)),
    Case(np.diag, (arr(3, 4),), dict(k=2)),
]

# ----------------------------------------------------------------- shapes
CASES += [
    Case(np.transpose, (arr(2, 3),)),
    Case(np.transpose, (arr(2, 3, 4),)),
    Case(np.transpose, (arr(2, 3, 4),), dict(axes=(2, 0, 1))),
    Case(np.transpose, (arr(2, 3, 4),), dict(axes=(-1, 0, 1))),
    Case(np.reshape, (arr(2, 6), const((3, 4)))),
    Case(np.reshape, (arr(6), const((2, -1))), dict(order="F")),
    Case(np.reshape, (scal(), const((1, 1)))),
    Case(np.ravel, (arr(2, 3),)),
    Case(np.ravel, (arr(2, 3, 2),), dict(order="F")),
    Case(np.squeeze, (arr(2, 1, 3),), dict(axis=1)),
    Case(np.squeeze, (arr(1, 3, 1),)),
    Case(np.expand_dims, (arr(3), const(0))),
    Case(np.expand_dims, (arr(2, 3), const((0, 2)))),
    Case(np.copy, (arr(3),)),
    Case(np.copy, (arr(2, 3),)),
    Case(np.copy, (scal(),)),
    Case(np.ascontiguousarray, (arr(2, 3),)),
    Case(np.concatenate, (seq(arr(2, 3), arr(1, 3)),)),
    Case(np.concatenate, (seq(arr(2, 3), arr(2, 2), arr(2, 1)),), dict(axis=1)),
    Case(np.concatenate, (seq(arr(3), arr(2, 2)),), dict(axis=None)),
    Case(np.stack, (seq(arr(3), arr(3)),)),
    Case(np.stack, (seq(arr(2, 3), arr(2, 3), arr(2, 3)),), dict(axis=-1)),
    Case(np.stack, (seq(scal(), scal(), npscal()),)),
    Case(np.array, (seq(scal(), scal(), npscal()),)),
    Case(np.array, (seq(arr(2, 3), arr(2, 3)),)),
    Case(np.array, (arr(3, 2),)),
]

# ----------------------------------------------------------------- constructors
CASES += [
    Case(np.full, (const(3), scal()), wrt=(1,)),
    Case(np.full, (const((2, 3)), npscal()), wrt=(1,)),
    Case(np.full, (const((2, 3)), arr(3)), wrt=(1,)),
    Case(np.full_like, (arr(2, 3), scal()), wrt=(1,)),
    Case(np.full_like, (arr(4), arr(1)), wrt=(1,)),
]

# ----------------------------------------------------------------- linalg
CASES += [
    Case(np.linalg.norm, (arr(5),)),
    Case(np.linalg.norm, (arr(3, 4),)),
    Case(np.linalg.norm, (arr(3, 4),), dict(ord="fro")),
    Case(np.linalg.norm, (arr(3, 4),), dict(axis=1)),
    Case(np.linalg.norm, (arr(2, 3, 4),), dict(axis=(1, 2), keepdims=True)),
    Case(np.linalg.norm, (arr(2, 3, 4),)),
    Case(np.linalg.norm, (arr(5),), dict(ord=2)),
    Case(np.linalg.norm, (arr(3, 4),), dict(ord=1, axis=0)),
    Case(np.linalg.det, (mat(3),)),
    Case(np.linalg.det, (mat(2, 4),)),
    Case(np.linalg.inv, (mat(3),)),
    Case(np.linalg.inv, (mat(3, 2),)),
    Case(np.linalg.solve, (mat(3), arr(3)), wrt=(0, 1)),
    Case(np.linalg.solve, (mat(3), arr(3, 2)), wrt=(0, 1)),
    Case(np.linalg.solve, (mat(3, 2), arr(2, 3, 2)), wrt=(0, 1)),
    Case(np.linalg.solve, (mat(3, 2), arr(3)), wrt=(0, 1)),
    Case(np.linalg.solve, (mat(3, 2), arr(3, 4)), wrt=(0, 1)),
]

del _fn

# ----------------------------------------------------------------- helpers of generated code
# (differentiated by grad(grad(f)), hessian and hvp; shape-only arguments are not differentiated)
from srcgrad.runtime import numpy_helpers as _h, tape as _tape  # noqa: E402
from srcgrad.runtime.broadcast import as_scalar as _as_scalar, broadcast_like as _bl  # noqa: E402
from srcgrad.runtime.broadcast import unbroadcast as _unbroadcast  # noqa: E402

CASES += [
    Case(_unbroadcast, (arr(2, 3), arr(3))),
    Case(_unbroadcast, (arr(4, 3), arr(4, 1))),
    Case(_unbroadcast, (arr(2, 3), scal())),
    Case(_unbroadcast, (arr(3), arr(3))),
    Case(_bl, (arr(3), arr(2, 3))),
    Case(_bl, (scal(), arr(4))),
    Case(_h.unreduce, (scal(), arr(4))),
    Case(_h.unreduce, (arr(4), arr(3, 4), const(0))),
    Case(_h.unreduce, (arr(1, 4), arr(3, 4), const(0), const(True))),
    Case(_h.unreduce, (arr(2), arr(2, 3, 4), const((1, 2)))),
    Case(_h.unarray, (arr(3, 2), arr(3, 2))),
    Case(_h.unarray, (arr(3), seq(scal(), scal(), scal()))),
    Case(_h.unstack, (arr(2, 3), seq(arr(3), arr(3)))),
    Case(_h.unstack, (arr(2, 4, 3), seq(arr(2, 3), arr(2, 3), arr(2, 3), arr(2, 3))), dict(axis=1)),
    # (pieces of one shape: the checker subtracts the outputs as one array)
    Case(_h.unconcatenate, (arr(4, 3), seq(arr(2, 3), arr(2, 3)))),
    Case(_h.unconcatenate, (arr(2, 6), seq(arr(2, 2), arr(2, 2), arr(2, 2))), dict(axis=-1)),
    Case(_h.unconcatenate, (arr(8), seq(arr(2, 2), arr(2, 2))), dict(axis=None)),
    Case(_h.log_or_zero, (pos(4),)),
    Case(_h.log_or_zero, (scal(0.5, 2.0),)),
    Case(_h.log_or_zero, (npscal(0.5, 2.0),)),
    Case(_h.prod_others, (arr(5),)),
    Case(_h.prod_others, (arr(3, 4), const(1))),
    Case(_h.prod_others, (arr(2, 3, 4), const((0, 2)))),
    Case(_h.prod_others, (const(np.array([1.5, 0.0, -2.0, 0.0])),)),
    Case(_h.prod_others, (const(np.array([[1.5, 0.0, -2.0], [0.7, 0.3, 0.0]])), const(1))),
    Case(_h.norm_direction, (arr(5), scal(0.5, 2.0)), wrt=(0, 1)),
    Case(_h.norm_direction, (arr(3, 4), pos(3), const(None), const(1)), wrt=(0, 1)),
    Case(_h.norm_direction, (arr(2, 3, 4), pos(2, 1, 1), const("fro"), const((1, 2)), const(True)), wrt=(0, 1)),
    Case(_h.norm_direction, (arr(5), scal(0.5, 2.0), const(1)), wrt=(0, 1)),
    Case(_h.reverse_cumsum, (arr(5),)),
    Case(_h.reverse_cumsum, (arr(2, 3),)),
    Case(_h.reverse_cumsum, (arr(3, 4), const(1))),
    Case(_h.reverse_cumsum, (arr(2, 3, 4), const(-2))),
    Case(_h.reshape_as, (arr(6), arr(2, 3))),
    Case(_h.reshape_as, (arr(1, 1), scal())),
    Case(_h.reshape_as, (arr(6), arr(3, 2), const("F"))),
    Case(_h.transpose_back, (arr(2, 3),)),
    Case(_h.transpose_back, (arr(2, 3, 4), const((1, 2, 0)))),
    Case(_h.mT, (arr(2, 3, 4),)),
    Case(_as_scalar, (scal(),)),
    Case(_as_scalar, (arr(3),)),
    Case(_tape.copy_value, (arr(3),)),
    Case(_tape.copy_value, (scal(),)),
    Case(_h.centered, (arr(5),)),
    Case(_h.centered, (arr(3, 4), const(1))),
    Case(_h.trace_grad, (scal(), arr(3, 3))),
    Case(_h.trace_grad, (arr(2), arr(2, 3, 4), const(1), const(1), const(2))),
    Case(_h.diag_grad, (arr(3, 3), arr(3))),
    Case(_h.diag_grad, (arr(2), arr(3, 3), const(1))),
    Case(_h.dot_grad_a, (arr(3), arr(3, 4), arr(4)), wrt=(0, 2)),
    Case(_h.dot_grad_a, (arr(3, 5), arr(3, 4), arr(4, 5)), wrt=(0, 2)),
    Case(_h.dot_grad_a, (arr(4), scal(), arr(4)), wrt=(0, 2)),
    Case(_h.dot_grad_b, (arr(3), arr(3, 4), arr(4)), wrt=(0, 1)),
    Case(_h.dot_grad_b, (arr(3, 5), arr(3, 4), arr(4, 5)), wrt=(0, 1)),
    Case(_h.dot_grad_b, (scal(), arr(4), arr(4)), wrt=(0, 1)),
    Case(_h.matmul_grad_a, (arr(3), arr(3, 4), arr(4)), wrt=(0, 2)),
    Case(_h.matmul_grad_a, (arr(2, 3, 5), arr(2, 3, 4), arr(4, 5)), wrt=(0, 2)),
    Case(_h.matmul_grad_a, (arr(5), arr(4), arr(4, 5)), wrt=(0, 2)),
    Case(_h.matmul_grad_b, (arr(3), arr(3, 4), arr(4)), wrt=(0, 1)),
    Case(_h.matmul_grad_b, (arr(2, 3, 5), arr(2, 3, 4), arr(4, 5)), wrt=(0, 1)),
    Case(_h.matmul_grad_b, (scal(), arr(4), arr(4)), wrt=(0, 1)),
    Case(_h.inner_grad_a, (arr(3, 2), arr(3, 4), arr(2, 4)), wrt=(0, 2)),
    Case(_tape.add_at, (arr(5), const(np.array([0, 2, 2, 4])), arr(4)), wrt=(0, 2)),
    Case(_tape.add_at, (arr(3, 2), const(np.array([1, 1])), arr(2, 2)), wrt=(0, 2)),
    Case(_tape.add_at, (arr(5), const(np.array([3, 3])), scal()), wrt=(0, 2)),
    Case(_h.inner_grad_b, (arr(3, 2), arr(3, 4), arr(2, 4)), wrt=(0, 1)),
]

# reads of lists built at run time (the vjp adds into the list's adjoint)
from srcgrad.runtime import lists as _lists  # noqa: E402

CASES += [
    Case(_lists.item, (seq(arr(3), arr(3), arr(3)), const(1))),
    Case(_lists.item, (seq(scal(), npscal(), scal()), const(-1))),
    Case(_lists.stack_items, (seq(arr(3), arr(3)),)),
    Case(_lists.stack_items, (seq(arr(2, 3), arr(2, 3), arr(2, 3)),), dict(axis=1)),
    Case(_lists.stack_items, (seq(scal(), scal(), scal()),)),
    Case(_lists.concatenate_items, (seq(arr(2, 3), arr(1, 3)),)),
    Case(_lists.concatenate_items, (seq(arr(2, 3), arr(2, 1), arr(2, 2)),), dict(axis=-1)),
    Case(_lists.sum_items, (seq(arr(3), arr(3), arr(3)),)),
    Case(_lists.sum_items, (seq(scal(), scal()),)),
]

# x.astype(float64): the derivative passes through (integer casts have none)
from srcgrad.rules import casts as _casts  # noqa: E402

CASES += [
    Case(_casts.as_float64, (arr(3),)),
    Case(_casts.as_float64, (arr(2, 3),)),
    Case(_casts.as_float64, (npscal(),)),
]

# the cases of the other rules modules, kept beside each other by area
from tests import rule_cases_linalg, rule_cases_shapes, rule_cases_special  # noqa: E402

CASES += rule_cases_linalg.CASES + rule_cases_special.CASES + rule_cases_shapes.CASES
