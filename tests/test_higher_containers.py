"""Derivatives of derivatives with container arguments: a shape tuple, a parameter dict,
a list of arrays, with respect to a leaf and with respect to a whole container.

The restated gradient takes one parameter per leaf and returns a container argument's
gradient in that argument's structure (higher.restate).  References are central
differences of the first-order gradient, leaf by leaf.
"""

from __future__ import annotations

import numpy as np
import pytest

import srcgrad
from srcgrad import pytree

EPS = 1e-5


def reshaped(x, shape):
    return np.sum(np.sin(np.reshape(x, shape)) ** 2)


def model(params, x):
    return np.sum(np.tanh(params["w"] * x + params["b"][0]) ** 2) + params["b"][1] ** 3


def layers(ws, x):
    h = x
    for w in ws:
        h = np.tanh(w @ h)
    return np.sum(h ** 2)


def _shift(tree_value, direction, eps):
    leaves, tree = pytree.flatten(tree_value)
    steps = pytree.flatten(direction)[0]
    return pytree.unflatten(tree, [np.asarray(a, float) + eps * np.asarray(d, float)
                                   for a, d in zip(leaves, steps)])


def _numeric_hvp(f, args, position, v):
    gradient = srcgrad.grad(f, position)
    plus, minus = list(args), list(args)
    plus[position] = _shift(args[position], v, EPS)
    minus[position] = _shift(args[position], v, -EPS)
    return [(np.asarray(a) - np.asarray(b)) / (2 * EPS) for a, b in
            zip(pytree.flatten(gradient(*plus))[0], pytree.flatten(gradient(*minus))[0])]


def _close(got, want_leaves):
    for g, w in zip(pytree.flatten(got)[0], want_leaves):
        np.testing.assert_allclose(g, w, rtol=1e-6, atol=1e-8)


@pytest.fixture
def rng():
    return np.random.default_rng(3)


def test_hvp_with_a_shape_tuple(rng):
    x, v = rng.standard_normal(6), rng.standard_normal(6)
    got = srcgrad.hvp(reshaped)(x, (2, 3), v)
    _close(got, _numeric_hvp(reshaped, [x, (2, 3)], 0, v))
    np.testing.assert_allclose(got, 2 * np.cos(2 * x) * v, rtol=1e-12)


def test_hessian_with_a_shape_tuple(rng):
    x = rng.standard_normal(6)
    np.testing.assert_allclose(srcgrad.hessian(reshaped)(x, (3, 2)), np.diag(2 * np.cos(2 * x)),
                               rtol=1e-12, atol=1e-14)


def test_hvp_with_respect_to_an_array_beside_a_dict(rng):
    params = {"w": rng.standard_normal(4), "b": [0.3, 0.7]}
    x, v = rng.standard_normal(4), rng.standard_normal(4)
    got = srcgrad.hvp(model, 1)(params, x, v)
    _close(got, _numeric_hvp(model, [params, x], 1, v))


def test_hvp_with_respect_to_a_dict_keeps_its_structure(rng):
    params = {"w": rng.standard_normal(4), "b": [0.3, 0.7]}
    x = rng.standard_normal(4)
    v = {"w": rng.standard_normal(4), "b": [0.5, -1.0]}
    got = srcgrad.hvp(model, 0)(params, x, v)
    assert isinstance(got, dict) and list(got) == ["w", "b"] and isinstance(got["b"], list)
    _close(got, _numeric_hvp(model, [params, x], 0, v))


def test_hvp_with_respect_to_a_list_of_matrices(rng):
    ws = [rng.standard_normal((3, 3)) * 0.5, rng.standard_normal((2, 3)) * 0.5]
    x = rng.standard_normal(3)
    v = [rng.standard_normal((3, 3)), rng.standard_normal((2, 3))]
    got = srcgrad.hvp(layers, 0)(ws, x, v)
    assert isinstance(got, list) and [g.shape for g in got] == [(3, 3), (2, 3)]
    _close(got, _numeric_hvp(layers, [ws, x], 0, v))


def test_grad_of_grad_with_a_dict_beside(rng):
    def scalar_model(params, a):
        return np.sum(np.tanh(params["w"] * a) ** 2) + params["b"][1] * a ** 3

    params = {"w": rng.standard_normal(3), "b": [0.3, 0.7]}
    second = srcgrad.grad(srcgrad.grad(scalar_model, 1), 1)(params, 0.4)
    first = srcgrad.grad(scalar_model, 1)
    want = (first(params, 0.4 + EPS) - first(params, 0.4 - EPS)) / (2 * EPS)
    assert second == pytest.approx(want, rel=1e-6)


def test_jacobian_of_a_gradient_with_respect_to_a_dict(rng):
    params = {"w": rng.standard_normal(4), "b": [0.3, 0.7]}
    x = rng.standard_normal(4)
    jac = srcgrad.jacobian(srcgrad.grad(model, 1), 0)(params, x)
    v = {"w": np.eye(4)[1], "b": [0.0, 0.0]}                # d(dx)/dw[1]
    gradient = srcgrad.grad(model, 1)
    plus = gradient({"w": params["w"] + EPS * v["w"], "b": params["b"]}, x)
    minus = gradient({"w": params["w"] - EPS * v["w"], "b": params["b"]}, x)
    assert list(jac) == ["w", "b"] and jac["w"].shape == (4, 4)
    np.testing.assert_allclose(jac["w"][:, 1], (plus - minus) / (2 * EPS), rtol=1e-6, atol=1e-8)


def test_hvp_with_a_dict_under_jit(rng):
    params = {"w": rng.standard_normal(4), "b": [0.3, 0.7]}
    x, v = rng.standard_normal(4), rng.standard_normal(4)
    got = srcgrad.hvp(model, 1, jit=True)(params, x, v)
    np.testing.assert_allclose(got, srcgrad.hvp(model, 1)(params, x, v), rtol=1e-12)


def test_has_aux_in_second_order_is_refused(rng):
    def with_aux(x):
        return np.sum(x ** 3), x

    with pytest.raises(srcgrad.SrcgradError, match="has_aux"):
        srcgrad.hvp(srcgrad.grad(with_aux, has_aux=True))(np.ones(2), np.ones(2))
