"""Shared checks for the compiler tests: central differences and a gradient assertion.

``assert_grad(f, args, wrt)`` runs ``srcgrad.value_and_grad(f, wrt)(*args)`` and checks

* the returned value equals ``f(*args)`` called directly;
* every gradient agrees with central differences computed in float64;
* every gradient has its input's shape and dtype (float for a Python float);
* the arguments were not modified by either call.
"""

from __future__ import annotations

import inspect

import numpy as np

import srcgrad

RTOL = 1e-6
ATOL = 1e-8


# --------------------------------------------------------------------------- copies
def _copy(value):
    if isinstance(value, np.ndarray):
        return value.copy()
    if isinstance(value, (list, tuple)):
        return type(value)(_copy(v) for v in value)
    return value


def _same(a, b) -> bool:
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return (isinstance(a, np.ndarray) and isinstance(b, np.ndarray) and a.dtype == b.dtype
                and a.shape == b.shape and np.array_equal(a, b, equal_nan=True))
    if isinstance(a, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return type(a) is type(b) and (a == b or (a != a and b != b))


def _as_float64(value):
    """The argument in float64 (for the numerical reference), other kinds unchanged."""
    if isinstance(value, np.ndarray) and np.issubdtype(value.dtype, np.floating):
        return value.astype(np.float64)
    if isinstance(value, np.floating):
        return float(value)
    return value


# --------------------------------------------------------------------------- central differences
def numeric_grad(f, args, argnum, eps=1e-6):
    """Central-difference gradient of scalar ``f(*args)`` w.r.t. ``args[argnum]`` in float64.

    A float argument gives a float; a float array gives a float64 array of its shape.
    """
    args = [_as_float64(a) for a in args]
    x = args[argnum]

    def at(value):
        trial = list(args)
        trial[argnum] = value
        return float(f(*trial))

    if isinstance(x, np.ndarray):
        out = np.zeros(x.shape, dtype=np.float64)
        for idx in np.ndindex(*x.shape):
            xp = x.copy()
            xm = x.copy()
            xp[idx] += eps
            xm[idx] -= eps
            out[idx] = (at(xp) - at(xm)) / (2 * eps)
        return out
    x = float(x)
    return (at(x + eps) - at(x - eps)) / (2 * eps)


def fresh_differences(f, args, i, eps=1e-6):
    """Central differences of ``f`` w.r.t. ``args[i]``, each evaluation on fresh copies of
    the arrays (for functions that write arrays they are given, as Numba code does)."""
    x = np.asarray(args[i], dtype=float)
    out = np.zeros(x.shape)
    for k in np.ndindex(x.shape):
        values = []
        for step in (eps, -eps):
            trial = [_copy(a) for a in args]
            xk = x.copy()
            xk[k] += step
            trial[i] = xk if x.ndim else float(xk)
            values.append(f(*trial))
        out[k] = (values[0] - values[1]) / (2 * eps)
    return out


# --------------------------------------------------------------------------- the assertion
def _positions(f, wrt):
    params = list(inspect.signature(f).parameters)
    items = list(wrt) if isinstance(wrt, (tuple, list)) else [wrt]
    return [params.index(w) if isinstance(w, str) else w % len(params) for w in items]


def check_grad_type(g, x, label=""):
    """The gradient has the argument's shape and dtype."""
    if isinstance(x, np.ndarray):
        assert isinstance(g, np.ndarray), f"{label}gradient is {type(g).__name__}, not an ndarray"
        assert g.shape == x.shape, f"{label}gradient shape {g.shape} != argument shape {x.shape}"
        assert g.dtype == x.dtype, f"{label}gradient dtype {g.dtype} != argument dtype {x.dtype}"
    elif isinstance(x, np.floating):
        assert isinstance(g, np.floating) and g.dtype == x.dtype, \
            f"{label}gradient {g!r} ({type(g).__name__}) is not a {x.dtype} scalar"
    else:
        assert isinstance(g, float) and not isinstance(g, np.ndarray), \
            f"{label}gradient {g!r} ({type(g).__name__}) is not a float"


def assert_grad(f, args, wrt=0, rtol=RTOL, atol=ATOL, value_rtol=1e-12, eps=1e-6):
    """Check ``value_and_grad(f, wrt)`` against ``f`` and central differences.

    Returns ``(value, grads)`` as ``value_and_grad`` gave them.
    """
    args = tuple(args)
    before = [_copy(a) for a in args]
    value, grads = srcgrad.value_and_grad(f, wrt)(*args)
    for i, (a, b) in enumerate(zip(args, before)):
        assert _same(a, b), f"value_and_grad modified argument {i}: {b!r} -> {a!r}"

    expected = f(*[_copy(a) for a in args])
    assert np.ndim(value) == 0, f"value {value!r} is not a scalar"
    np.testing.assert_allclose(value, expected, rtol=value_rtol, atol=0,
                               err_msg="value_and_grad's value differs from f(*args)")

    many = isinstance(wrt, (tuple, list))
    positions = _positions(f, wrt)
    if many:
        assert isinstance(grads, tuple) and len(grads) == len(positions), \
            f"expected a tuple of {len(positions)} gradients, got {grads!r}"
        grad_list = list(grads)
    else:
        grad_list = [grads]
    for pos, g in zip(positions, grad_list):
        label = f"argument {pos}: "
        check_grad_type(g, args[pos], label)
        ref = numeric_grad(f, args, pos, eps)
        np.testing.assert_allclose(np.asarray(g, dtype=np.float64), ref, rtol=rtol, atol=atol,
                                   err_msg=f"gradient w.r.t. argument {pos} differs from "
                                           f"central differences")
    for i, (a, b) in enumerate(zip(args, before)):
        assert _same(a, b), f"argument {i} was modified: {b!r} -> {a!r}"
    return value, grads


def generated_source(derivative, *args) -> str:
    """The generated adjoint source for ``derivative`` specialised to ``args``."""
    derivative(*args)
    return derivative.source
