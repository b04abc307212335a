"""What users pass to srcgrad and how they call derivatives: decorated functions, keyword
arguments, bound methods, partials, print, astype, and errors of the user's own code.

Every gradient is checked against central differences of the function as Python runs it,
with jit=True too where Numba applies.
"""

from __future__ import annotations

import functools
import io
import inspect
import os
import re

import numpy as np
import pytest

import srcgrad
from srcgrad.errors import EvaluationError, SrcgradError, WrtError
from srcgrad.rules import casts, registry

THIS_FILE = os.path.basename(__file__)
X = np.array([0.5, -1.25, 2.0])
JIT = [False, True]


def numeric(f, args, kwargs, name, eps=1e-6):
    """Central differences of ``f(*args, **kwargs)`` w.r.t. the parameter ``name``."""
    bound = inspect.signature(f).bind(*args, **kwargs)
    bound.apply_defaults()

    def at(value):
        trial = dict(bound.arguments)
        trial[name] = value
        call = inspect.signature(f).bind_partial()
        call.arguments.update(trial)
        return float(f(*call.args, **call.kwargs))

    x = bound.arguments[name]
    if isinstance(x, np.ndarray):
        out = np.zeros(x.shape)
        for idx in np.ndindex(*x.shape):
            xp, xm = x.copy(), x.copy()
            xp[idx] += eps
            xm[idx] -= eps
            out[idx] = (at(xp) - at(xm)) / (2 * eps)
        return out
    return (at(x + eps) - at(x - eps)) / (2 * eps)


def check(f, args, kwargs=None, wrt=0, jit=False, names=None):
    """value_and_grad(f, wrt) on these arguments agrees with f and central differences.

    ``names``: the parameter names ``wrt`` selects (when f's own signature cannot say,
    e.g. a partial)."""
    kwargs = kwargs or {}
    value, grads = srcgrad.value_and_grad(f, wrt, jit=jit)(*args, **kwargs)
    np.testing.assert_allclose(value, f(*args, **kwargs), rtol=1e-12)
    many = isinstance(wrt, (tuple, list))
    items = list(wrt) if many else [wrt]
    params = list(inspect.signature(f).parameters)
    names = names or [w if isinstance(w, str) else params[w] for w in items]
    for name, g in zip(names, grads if many else [grads]):
        np.testing.assert_allclose(g, numeric(f, args, kwargs, name), rtol=1e-6, atol=1e-8)
    return value, grads


def marked_line(fn, mark="# <- error") -> int:
    lines, first = inspect.getsourcelines(fn)
    hits = [first + k for k, text in enumerate(lines) if mark in text]
    assert len(hits) == 1
    return hits[0]


def assert_located(exc, line, file=THIS_FILE):
    msg = str(exc)
    assert file in msg, msg
    assert re.search(rf"\bline {line}\b", msg), msg


# =========================================================================== 1. decorators
def triple(f):
    @functools.wraps(f)
    def wrapper(*args, **kwargs):  # <- error
        return 3.0 * f(*args, **kwargs)
    return wrapper


@triple
def tripled_square(x):
    return x * x


def triple_explicit(f):
    @functools.wraps(f)
    def wrapper(x):
        return 3.0 * f(x)
    return wrapper


@triple_explicit
def tripled_cube(x):
    return x * x * x


def test_wraps_wrapper_with_star_args_is_refused_not_dropped():
    with pytest.raises(SrcgradError) as info:
        srcgrad.grad(tripled_square)(2.0)
    msg = str(info.value)
    assert "__wrapped__" in msg and "srcgrad.defvjp" in msg, msg
    assert_located(info.value, marked_line(triple))


class Tripling:
    """A decorator class: the instance wraps the function (functools.update_wrapper)."""

    def __init__(self, f):
        functools.update_wrapper(self, f)
        self.f = f

    def __call__(self, *args, **kwargs):  # <- error
        return 3.0 * self.f(*args, **kwargs)


@Tripling
def tripled_by_class(x):
    return x * x


def test_decorator_class_is_refused_not_dropped():
    with pytest.raises(SrcgradError) as info:
        srcgrad.grad(tripled_by_class)(2.0)
    assert "tripled_by_class.__wrapped__" in str(info.value), str(info.value)
    assert_located(info.value, marked_line(Tripling))


def test_wraps_wrapper_is_differentiated_as_written():
    value, g = check(tripled_cube, (1.5,))
    assert value == pytest.approx(3.0 * 1.5 ** 3)
    assert g == pytest.approx(9.0 * 1.5 ** 2)
    # its call of the wrapped function is lowered in place, so jit compiles it too
    assert srcgrad.grad(tripled_cube, jit=True)(1.5) == pytest.approx(g, rel=1e-12)


def test_cache_refused_for_wrapper():
    with pytest.raises(SrcgradError, match="cache"):
        srcgrad.grad(tripled_cube, cache=True)


def test_show_keyword_only():
    text = srcgrad.show(scaled, file=io.StringIO())
    assert text.startswith("def scaled_vjp(x, scale, shift, seed):"), text


# =========================================================================== 2. keywords
def scaled(x, *, scale, shift=1.0):
    return scale * np.sum(x * x) + shift * np.sum(x)


def weighted(x, y, w=2.0):
    return w * np.sum(x * y) + np.sum(y * y)


@pytest.mark.parametrize("jit", JIT)
def test_keyword_only_parameters(jit):
    check(scaled, (X,), {"scale": 3.0}, jit=jit)
    check(scaled, (X,), {"scale": 3.0, "shift": -2.0}, jit=jit)
    check(scaled, (X,), {"scale": 3.0}, wrt="scale", jit=jit)
    check(scaled, (X,), {"scale": 3.0, "shift": 0.5}, wrt=("x", "shift"), jit=jit)


@pytest.mark.parametrize("jit", JIT)
def test_positional_parameters_passed_by_keyword(jit):
    y = np.array([1.0, 2.0, -0.5])
    check(weighted, (X,), {"y": y}, wrt=1, jit=jit)
    check(weighted, (), {"y": y, "x": X, "w": 0.5}, wrt=(0, "w"), jit=jit)
    g = srcgrad.grad(weighted)(X, y=y)
    np.testing.assert_allclose(g, srcgrad.grad(weighted)(X, y))


def layers(x, *, params, n=2):
    y = x
    for _ in range(n):
        y = np.tanh(params["w"] * y + params["b"])
    return np.sum(y)


@pytest.mark.parametrize("jit", JIT)
def test_keyword_only_container(jit):
    params = {"w": np.array([0.5, -0.3, 0.2]), "b": 0.1}
    value, (gx, gp) = srcgrad.value_and_grad(layers, wrt=("x", "params"), jit=jit)(
        X, params=params, n=3)
    assert value == pytest.approx(layers(X, params=params, n=3))
    np.testing.assert_allclose(gx, numeric(layers, (X,), {"params": params, "n": 3}, "x"),
                               rtol=1e-6, atol=1e-8)

    def of_b(b):
        return layers(X, params={"w": params["w"], "b": b}, n=3)
    assert gp["b"] == pytest.approx(numeric(of_b, (0.1,), {}, "b"), rel=1e-6)


def positional_only(x, /, y):
    return x * y * y


def test_positional_only_parameters():
    check(positional_only, (1.5, 2.0), wrt=(0, 1))


def test_bad_keyword_calls_are_srcgrad_errors():
    df = srcgrad.grad(scaled)
    with pytest.raises(SrcgradError, match="scale"):
        df(X)                                   # required keyword missing
    with pytest.raises(SrcgradError):
        df(X, 3.0)                              # keyword-only passed positionally
    with pytest.raises(SrcgradError, match="nope"):
        df(X, scale=1.0, nope=2.0)


def star_args(x, *rest):  # <- error
    return x


def star_kwargs(x, **options):  # <- error
    return x


@pytest.mark.parametrize("fn, advice", [(star_args, "*rest"), (star_kwargs, "**options")])
def test_variadic_parameters_refused_at_def_line(fn, advice):
    with pytest.raises(SrcgradError) as info:
        srcgrad.grad(fn)
    msg = str(info.value)
    assert advice in msg and "def f(x, *, scale=1.0)" in msg, msg
    assert_located(info.value, marked_line(fn))


# =========================================================================== 4, 5. argument types
def sums_list(xs):
    return np.sum(xs) * 2.0


def test_list_argument_is_a_container_of_values():
    """A list of floats is a pytree: np.sum of it is np.sum of the array NumPy makes."""
    assert srcgrad.grad(sums_list)([1.0, 2.0]) == [2.0, 2.0]


def test_none_as_differentiated_argument():
    with pytest.raises(WrtError) as info:
        srcgrad.grad(weighted)(None, X)
    assert "'x'" in str(info.value) and "None" in str(info.value)
    with pytest.raises(WrtError) as info:
        srcgrad.grad(weighted, wrt="y")(X, None)
    assert "'y'" in str(info.value) and "None" in str(info.value)


# =========================================================================== 6. run-time errors
def mismatched(x, y):
    z = x * 2.0
    w = z + y  # <- error
    return np.sum(w)


@pytest.mark.parametrize("jit", JIT)
def test_shape_mismatch_is_located_at_the_users_line(jit):
    with pytest.raises(EvaluationError) as info:
        srcgrad.grad(mismatched, jit=jit)(np.ones(3), np.ones(4))
    msg = str(info.value)
    assert "broadcast" in msg, msg
    assert_located(info.value, marked_line(mismatched))
    assert isinstance(info.value.__cause__, ValueError)     # the original, chained


def test_shape_mismatch_in_vjp_and_jvp():
    with pytest.raises(EvaluationError) as info:
        srcgrad.vjp(mismatched, np.ones(3), np.ones(4))
    assert_located(info.value, marked_line(mismatched))
    with pytest.raises(EvaluationError) as info:
        srcgrad.jvp(mismatched, (np.ones(3), np.ones(4)), (np.ones(3), np.ones(4)))
    assert_located(info.value, marked_line(mismatched))


def doubled(x):
    return x * 2.0


def uses_broken_rule(x):
    return np.sum(doubled(x))


def test_errors_of_the_derivative_itself_are_not_disguised():
    # a wrong rule fails only in the adjoint sweep: the function itself is fine, so the
    # original exception comes through, not an error blaming the user's line
    srcgrad.defvjp(doubled, lambda g, ans, x: g * np.ones(7))
    try:
        with pytest.raises(ValueError) as info:
            srcgrad.grad(uses_broken_rule)(np.ones(3))
        assert not isinstance(info.value, SrcgradError)
    finally:
        registry._REGISTRY.pop(id(doubled), None)


# =========================================================================== 7. astype
def casts_float(x):
    y = x.astype(float) * x.astype(np.float64)
    return np.sum(y * x) + np.sum(x.astype("float64"))


def casts_int(x):
    k = x.astype(int)
    return np.sum(x * x * k) + np.sum(np.sin(x) * x.astype(np.int32))


@pytest.mark.parametrize("jit", JIT)
@pytest.mark.parametrize("fn", [casts_float, casts_int])
def test_astype(fn, jit):
    x = np.array([1.5, 2.7, -0.3, -1.6])     # away from integers: central differences hold
    check(fn, (x,), jit=jit)


def test_astype_rules():
    x = np.array([1.5, -2.5])
    assert casts.as_float64(x).dtype == np.float64
    np.testing.assert_array_equal(casts.as_int64(x), x.astype(np.int64))
    g = np.array([0.25, 4.0])
    np.testing.assert_array_equal(registry.lookup(casts.as_float64).vjps[0](g, x, x), g)
    np.testing.assert_array_equal(registry.lookup(casts.as_float64).jvps[0](g, x, x), g)
    assert isinstance(casts.as_float64(np.float64(1.5)), np.float64)
    for fn in (casts.as_int64, casts.as_int32, casts.as_bool):
        assert registry.lookup(fn).nondiff
    assert casts.cast_for(float) is casts.as_float64
    assert casts.cast_for("int32") is casts.as_int32
    assert casts.cast_for(np.complex128) is None
    assert casts.cast_for(np.float32) is None


def casts_complex(x):
    return np.sum(x.astype(complex))  # <- error


def casts_float32(x):
    return np.sum(x.astype(np.float32))  # <- error


@pytest.mark.parametrize("fn", [casts_complex, casts_float32])
def test_astype_unsupported_dtype(fn):
    with pytest.raises(SrcgradError) as info:
        srcgrad.grad(fn)(X)
    assert "float64" in str(info.value)
    assert_located(info.value, marked_line(fn))


# =========================================================================== 8. methods, partials
class Model:
    def __init__(self):
        self.k = 2.0
        self.w = np.array([1.0, -2.0, 0.5])

    def loss(self, x, y=1.0):
        return self.k * np.sum(self.w * x * x) * y

    def __call__(self, x):
        return np.sum(np.tanh(self.w * x))


@pytest.mark.parametrize("jit", JIT)
def test_bound_method(jit):
    m = Model()
    check(m.loss, (X,), jit=jit)
    check(m.loss, (X, 1.5), wrt=1, jit=jit)                      # wrt counts from x
    check(m.loss, (X,), {"y": 0.5}, wrt=("x", "y"), jit=jit)


class Predictor:
    def __init__(self):
        self.w = np.array([1.0, 2.0, -0.5])

    def predict(self, x):
        return np.tanh(self.w * x)

    def loss(self, x):
        return np.sum(self.predict(x) ** 2)


def test_method_calling_another_method():
    check(Predictor().loss, (X,))


def test_bound_method_reused_in_a_loop():
    # model.loss is a new object at each access; the derivative is generated once
    m = Model()
    first = srcgrad.grad(m.loss)
    first(X)
    for k in range(3):
        g = srcgrad.grad(m.loss)(X)
        assert srcgrad.grad(m.loss).transformed is first.transformed
        np.testing.assert_allclose(g, 2.0 * m.k * m.w * X)
    for k in range(3):               # a changed attribute is read as Python reads it
        m.k = 1.0 + k
        g = srcgrad.grad(m.loss)(X)
        np.testing.assert_allclose(g, 2.0 * m.k * m.w * X)


def test_bound_method_signature_and_self_is_constant():
    m = Model()
    assert list(inspect.signature(srcgrad.grad(m.loss)).parameters) == ["x", "y"]
    with pytest.raises(WrtError):
        srcgrad.grad(m.loss, wrt="self")


@pytest.mark.parametrize("jit", JIT)
def test_callable_object(jit):
    check(Model(), (X,), jit=jit)


class Layer:
    def __init__(self):
        self.w = np.array([1.0, 2.0, -1.0])


class Net:
    def __init__(self):
        self.k = 2.0
        self.layer = Layer()

    def loss(self, x):
        return self.k * np.sum(self.layer.w * x * x)


@pytest.mark.parametrize("jit", JIT)
def test_changed_attributes_are_not_stale(jit):
    # attributes are constants of the generated code: a derivative made before they
    # change must still agree with the method as it is now
    net = Net()
    df = srcgrad.value_and_grad(net.loss, jit=jit)

    def agrees():
        value, g = df(X)
        assert value == pytest.approx(net.loss(X))
        np.testing.assert_allclose(g, numeric(net.loss, (X,), {}, "x"), rtol=1e-6, atol=1e-8)

    agrees()
    net.k = 3.0                      # rebound
    agrees()
    net.layer.w[0] = 10.0            # updated in place (Numba freezes global arrays)
    agrees()
    net.layer = Layer()              # an attribute of an attribute
    agrees()


class Scaled:
    def __init__(self):
        self.w = np.array([1.0, 2.0, -1.0])
        self.sizes = [1.0, 3.0]

    def loss(self, x):
        return np.sum(self.w * x) * self.w.sum() * self.sizes[1] + self.w.shape[0]


def test_methods_of_attribute_arrays_and_no_needless_regeneration():
    obj = Scaled()
    df = srcgrad.grad(obj.loss)
    for _ in range(3):
        np.testing.assert_allclose(df(X), obj.w * obj.w.sum() * 3.0)
    assert len(df.transformed.cache) == 1        # re-read attributes did not look changed
    obj.sizes[1] = 0.5                            # a list attribute changed in place
    np.testing.assert_allclose(df(X), obj.w * obj.w.sum() * 0.5)


def test_derivative_of_derivative_with_keywords():
    def cube(x, *, k=2.0):
        return k * x * x * x
    assert srcgrad.grad(srcgrad.grad(cube))(1.5, k=3.0) == pytest.approx(18.0 * 1.5)
    assert srcgrad.grad(srcgrad.grad(cube))(1.5) == pytest.approx(12.0 * 1.5)


@pytest.mark.parametrize("jit", JIT)
def test_partial_array_updated_in_place(jit):
    a = np.array([2.0, 1.0, -1.0])
    dp = srcgrad.grad(functools.partial(three_args, a), jit=jit)
    np.testing.assert_allclose(dp(X), 2.0 * a * X)
    a[0] = 5.0
    np.testing.assert_allclose(dp(X), 2.0 * a * X)


def test_cache_refused_for_bound_values():
    with pytest.raises(SrcgradError, match="cache"):
        srcgrad.grad(Model().loss, cache=True)


def test_hessian_of_method_with_default():
    h = srcgrad.hessian(Model().loss)(X)
    np.testing.assert_allclose(h, np.diag(2.0 * 2.0 * Model().w))


def three_args(a, x, scale=1.0):
    return scale * np.sum(a * x * x)


@pytest.mark.parametrize("jit", JIT)
def test_partial(jit):
    a = np.array([2.0, 1.0, -1.0])
    p = functools.partial(three_args, a)
    check(p, (X,), jit=jit, names=["x"])
    check(p, (X, 3.0), wrt=1, jit=jit, names=["scale"])
    q = functools.partial(three_args, scale=4.0)                  # keyword: a new default
    check(q, (a, X), wrt=1, jit=jit, names=["x"])
    check(q, (a, X), {"scale": 0.5}, wrt="scale", jit=jit, names=["scale"])


# =========================================================================== 9. print
def noisy(x, n):
    print("start", x[0])
    y = x * x
    for i in range(n):
        print("step", i)
        y = y * 1.5
    if x[0] > 0.0:
        print("positive")
    return np.sum(y)


def quiet(x, n):
    y = x * x
    for i in range(n):
        y = y * 1.5
    return np.sum(y)


@pytest.mark.parametrize("jit", JIT)
def test_print_runs_in_forward_sweep(jit, capfd):
    value, g = srcgrad.value_and_grad(noisy, jit=jit)(X, 2)
    out = capfd.readouterr().out
    assert out.split("\n")[:4] == ["start 0.5", "step 0", "step 1", "positive"], out
    assert out.count("start") == 1, out                    # once per gradient call
    value_q, g_q = srcgrad.value_and_grad(quiet)(X, 2)
    assert value == value_q
    np.testing.assert_allclose(g, g_q, rtol=1e-15)
    np.testing.assert_allclose(g, numeric(quiet, (X, 2), {}, "x"), rtol=1e-6)


def print_with_sep(x):
    print(x, sep=", ")  # <- error
    return x * 2.0


def test_print_keywords_refused():
    with pytest.raises(SrcgradError) as info:
        srcgrad.grad(print_with_sep)(1.0)
    assert_located(info.value, marked_line(print_with_sep))
