"""Refusals: each is a SrcgradError subclass whose message names this file and the line.

The offending line of every function below carries the marker comment ``# <- error``;
the tests look the line number up from the source, so editing this file keeps them valid.
"""

from __future__ import annotations

import inspect
import os
import re

import numpy as np
import pytest

import srcgrad
from srcgrad.errors import (AliasingError, SourceUnavailableError, SrcgradError,
                            UnknownCalleeError, UnsupportedSyntaxError, WrtError)

MARK = "# <- error"
THIS_FILE = os.path.basename(__file__)
X = np.array([0.5, -1.0, 2.0, 0.25])
M = np.arange(6.0).reshape(2, 3) / 7.0


def marked_line(fn, mark=MARK) -> int:
    lines, first = inspect.getsourcelines(fn)
    hits = [first + k for k, text in enumerate(lines) if mark in text]
    assert len(hits) == 1, f"{fn.__name__} needs exactly one line marked {mark!r}"
    return hits[0]


def def_line(fn) -> int:
    return inspect.getsourcelines(fn)[1]


def assert_located(exc, line, file=THIS_FILE):
    msg = str(exc)
    assert file in msg, f"the message does not name {file}:\n{msg}"
    assert re.search(rf"\bline {line}\b", msg), f"the message does not name line {line}:\n{msg}"


def raises_from(fn, args, cls, wrt=0):
    """Run grad(fn, wrt)(*args) and return the exception, which must be ``cls``."""
    with pytest.raises(cls) as info:
        srcgrad.grad(fn, wrt)(*args)
    assert isinstance(info.value, SrcgradError)
    return info.value


# =========================================================================== unknown callees
def calls_fft(x):
    y = np.fft.fft(x)  # <- error
    return np.sum(np.abs(y))


def calls_sorted(x):
    y = sorted(x)  # <- error
    return y[0] * 2.0


def calls_unknown_method(x):
    y = x.cumprod()  # <- error
    return np.sum(y)


@pytest.mark.parametrize("fn, name", [(calls_fft, "fft"), (calls_sorted, "sorted")])
def test_unknown_callee(fn, name):
    exc = raises_from(fn, (X,), UnknownCalleeError)
    msg = str(exc)
    assert "srcgrad.defvjp" in msg, msg
    assert name in msg, msg
    assert_located(exc, marked_line(fn))


def test_unknown_method():
    exc = raises_from(calls_unknown_method, (X,), UnknownCalleeError)
    assert "cumprod" in str(exc)
    assert_located(exc, marked_line(calls_unknown_method))


# =========================================================================== wrt on a non-float
def scale_by(x, n):
    return x * n


def sum_of(x):
    return np.sum(x * 2.0)


def test_wrt_int_scalar():
    exc = raises_from(scale_by, (2.0, 3), WrtError, wrt=1)
    msg = str(exc)
    assert "'n'" in msg and "int" in msg, msg


def test_wrt_int_scalar_by_name():
    exc = raises_from(scale_by, (2.0, 3), WrtError, wrt="n")
    assert "'n'" in str(exc)


def test_wrt_int_array():
    exc = raises_from(sum_of, (np.arange(4),), WrtError)
    msg = str(exc)
    assert "'x'" in msg and "int" in msg, msg


def test_wrt_int_argument_not_differentiated_is_fine():
    value, g = srcgrad.value_and_grad(scale_by, 0)(2.0, 3)
    assert value == 6.0 and g == 3.0 and isinstance(g, float)


def test_wrt_int_location():
    exc = raises_from(scale_by, (2.0, 3), WrtError, wrt=1)
    assert_located(exc, def_line(scale_by))


def test_wrt_bad_spec():
    with pytest.raises(WrtError):
        srcgrad.grad(scale_by, wrt="nope")
    with pytest.raises(WrtError):
        srcgrad.grad(scale_by, wrt=5)


# =========================================================================== no source
EVAL_LAMBDA = eval("lambda x: x * 2.0")


def test_eval_lambda():
    with pytest.raises(SourceUnavailableError) as info:
        srcgrad.grad(EVAL_LAMBDA)(1.5)
    msg = str(info.value)
    assert "lambda" in msg and "source" in msg, msg
    assert "srcgrad.defvjp" in msg, msg


def test_eval_lambda_location():
    with pytest.raises(SourceUnavailableError) as info:
        srcgrad.grad(EVAL_LAMBDA)(1.5)
    assert_located(info.value, 1, file="<string>")


def test_builtin_function_refused():
    with pytest.raises(SrcgradError) as info:
        srcgrad.grad(np.sin)(1.0)
    assert "srcgrad.defvjp" in str(info.value)


# =========================================================================== unsupported statements
# each refusal names the construct, its line, and what to write instead
def uses_with(x):
    with np.errstate(all="ignore"):  # <- error
        y = x * 2.0
    return y


def uses_try(x):
    try:  # <- error
        y = x * 2.0
    except ValueError:
        y = x
    return y


COUNTER = 0


def uses_global(x):
    global COUNTER  # <- error
    return x * 2.0


def uses_del(x):
    y = x * 2.0
    del y  # <- error
    return x


def uses_raise(x):
    if x < 0.0:
        raise ValueError("negative")  # <- error
    return x * 2.0


def uses_import(x):
    import math  # <- error
    return math.sin(x)


def uses_walrus(x):
    y = (z := x * 2.0) + 1.0  # <- error
    return y * z


def uses_nested_class(x):
    class Box:  # <- error
        pass
    return x * 2.0


def uses_nested_async(x):
    async def inner(t):  # <- error
        return t
    return x * 2.0


def uses_yield(x):
    yield x * 2.0  # <- error
    return x


def uses_yield_value(x):
    y = yield x  # <- error
    return x * 2.0


def generator_only(x):
    for k in range(3):
        yield x * k  # <- error


def uses_match(x, kind):
    match kind:  # <- error
        case 0:
            return x * 2.0
        case _:
            return x


async def coroutine(x):  # <- error
    return x * 2.0


def uses_fstring(x):
    print(f"x = {x}")  # <- error
    return x * 2.0


def uses_nested_def(x):
    def inner(t):
        return t * t
    return inner  # <- error: a nested function used as a value


def apply_twice(f, x):
    return f(f(x))


def uses_while_else(x):
    while x < 1.0:  # <- error
        x = x * 2.0
    else:
        x = x + 1.0
    return x


# (function, arguments, construct named, advice the message gives)
UNSUPPORTED = [
    (uses_with, "with", "move the 'with' block out"),
    (uses_try, "try", "use an if instead of try"),
    (uses_global, "global", "pass the value as a parameter"),
    (uses_del, "del", "remove the 'del'"),
    (uses_raise, "raise", "check the inputs before calling"),
    (uses_import, "import", "move the import to module level"),
    (uses_walrus, "assignment expression :=", "assign the value on its own line first"),
    (uses_nested_class, "class", "define the class at module level"),
    (uses_nested_async, "async def", "plain 'def'"),
    (uses_yield, "yield", "return the value instead"),
    (uses_yield_value, "yield", "return the value instead"),
    (generator_only, "yield", "return the value instead"),
    (uses_match, "match", "if/elif/else"),
    (coroutine, "async def", "plain 'def'"),
    (uses_fstring, "f-string", "separate arguments"),
    (uses_nested_def, None, None),
    (uses_while_else, None, None),
]


@pytest.mark.parametrize("fn, construct, advice", UNSUPPORTED,
                         ids=lambda f: getattr(f, "__name__", ""))
def test_unsupported_statement(fn, construct, advice):
    args = (0.5, 0) if fn is uses_match else (0.5,)
    exc = raises_from(fn, args, UnsupportedSyntaxError)
    assert_located(exc, marked_line(fn))
    if construct is not None:
        assert exc.construct == construct, str(exc)
        assert advice.lower() in str(exc).lower(), str(exc)
        assert "never returns" not in str(exc)


# =========================================================================== in-place stores into arguments
def store_into_argument(x):
    x[0] = 1.0  # <- error
    return np.sum(x)


def augmented_store_into_argument(x):
    x[1] += 1.0  # <- error
    return np.sum(x)


def augmented_assign_argument(x):
    x += 1.0  # <- error
    return np.sum(x)


def store_into_argument_row(X):
    X[0, :] = 0.0  # <- error
    return np.sum(X)


def store_through_alias(x):
    y = x
    y[1] = 0.0  # <- error
    return np.sum(y)


@pytest.mark.parametrize("fn, args, name", [
    (store_into_argument, (X,), "x"),
    (augmented_store_into_argument, (X,), "x"),
    (augmented_assign_argument, (X,), "x"),
    (store_into_argument_row, (M,), "X"),
    (store_through_alias, (X,), "y"),
], ids=["store", "augmented-store", "augmented-assign", "row-store", "alias"])
def test_store_into_argument(fn, args, name):
    before = [a.copy() for a in args]
    exc = raises_from(fn, args, AliasingError)
    assert re.search(rf"'{name}\b", str(exc)), str(exc)
    assert_located(exc, marked_line(fn))
    for a, b in zip(args, before):
        np.testing.assert_array_equal(a, b)


# =========================================================================== views
def write_into_view(x):
    u = x.copy()
    v = u[1:3]
    v[0] = 5.0  # <- error
    return np.sum(u * x)


def read_stale_view(x):
    u = x.copy()
    v = u[1:3]
    u[1] = 5.0  # <- write
    return np.sum(v * x[1:3])  # <- error


def read_stale_transpose(X):
    U = X.copy()
    W = U.T
    U[0, 0] = 5.0  # <- write
    return np.sum(W * W)  # <- error


def test_write_into_view():
    exc = raises_from(write_into_view, (X,), AliasingError)
    assert "'v'" in str(exc)
    assert_located(exc, marked_line(write_into_view))


@pytest.mark.parametrize("fn, arg", [(read_stale_view, X), (read_stale_transpose, M)],
                         ids=["slice", "transpose"])
def test_read_stale_view(fn, arg):
    exc = raises_from(fn, (arg,), AliasingError)
    assert_located(exc, marked_line(fn))
    assert re.search(rf"\bline {marked_line(fn, '# <- write')}\b", str(exc)), str(exc)


# =========================================================================== non-scalar results
def returns_array(x):
    return x * 2.0  # <- error


def returns_tuple(x):
    return np.sum(x), np.sum(x * x)  # <- error


@pytest.mark.parametrize("fn", [returns_array, returns_tuple], ids=lambda f: f.__name__)
def test_non_scalar_result_asks_for_vjp(fn):
    exc = raises_from(fn, (X,), SrcgradError)
    assert "vjp" in str(exc), str(exc)


@pytest.mark.parametrize("fn", [returns_array, returns_tuple], ids=lambda f: f.__name__)
def test_non_scalar_result_location(fn):
    exc = raises_from(fn, (X,), SrcgradError)
    assert_located(exc, marked_line(fn))


def test_vjp_of_array_result():
    out, pullback = srcgrad.vjp(returns_array, X)
    np.testing.assert_array_equal(out, 2.0 * X)
    ct = np.array([1.0, -2.0, 0.5, 3.0])
    (g,) = pullback(ct)
    np.testing.assert_allclose(g, 2.0 * ct, rtol=1e-12)
    assert g.dtype == X.dtype and g.shape == X.shape


def test_vjp_of_tuple_result():
    out, pullback = srcgrad.vjp(returns_tuple, X)
    assert out == (np.sum(X), np.sum(X * X))
    (g,) = pullback((2.0, 0.5))
    np.testing.assert_allclose(g, 2.0 + X, rtol=1e-12)
