"""Containers (pytrees): dicts, lists, tuples and namedtuples as arguments and results.

Gradients come back in their argument's structure and are checked against central
differences in float64; vjp, jvp and has_aux handle containers too, with and without
Numba.  Container code inside the function (indexing, iteration, comprehensions, sum,
literals) is resolved when the derivative is generated; what cannot be is refused at its
line.
"""

from __future__ import annotations

import collections
import re

import numpy as np
import pytest

import srcgrad
from srcgrad import pytree
from srcgrad.errors import AliasingError, SrcgradError, UnsupportedSyntaxError, WrtError
from tests.helpers import _copy, _same

RNG = np.random.default_rng(7)


def _r(*shape):
    return RNG.normal(size=shape)


# --------------------------------------------------------------------------- references
def numeric_tree_grad(f, args, argnum, eps=1e-6):
    """Central differences of scalar ``f`` w.r.t. every float leaf of ``args[argnum]``,
    in its structure (None for other leaves)."""
    leaves, tree = pytree.flatten(args[argnum])

    def at(position, value):
        trial = list(leaves)
        trial[position] = value
        new = list(args)
        new[argnum] = pytree.unflatten(tree, trial)
        return float(f(*new))

    out = []
    for k, leaf in enumerate(leaves):
        if isinstance(leaf, np.ndarray) and leaf.dtype.kind == "f":
            g = np.zeros(leaf.shape)
            for idx in np.ndindex(*leaf.shape):
                plus, minus = leaf.copy(), leaf.copy()
                plus[idx] += eps
                minus[idx] -= eps
                g[idx] = (at(k, plus) - at(k, minus)) / (2 * eps)
            out.append(g)
        elif isinstance(leaf, float):
            out.append((at(k, leaf + eps) - at(k, leaf - eps)) / (2 * eps))
        else:
            out.append(None)
    return pytree.unflatten(tree, out)


def assert_tree_close(got, expected, rtol=1e-6, atol=1e-8):
    got_leaves, got_tree = pytree.flatten(got)
    exp_leaves, exp_tree = pytree.flatten(expected)
    assert got_tree == exp_tree, (got_tree, exp_tree)
    for g, e in zip(got_leaves, exp_leaves):
        np.testing.assert_allclose(g, e, rtol=rtol, atol=atol)


def assert_tree_grad(f, args, wrt=0, jit=False):
    """value_and_grad in the argument's structure, against central differences; the
    arguments are left unchanged."""
    before = [_copy_tree(a) for a in args]
    value, grads = srcgrad.value_and_grad(f, wrt, jit=jit)(*args)
    for a, b in zip(args, before):
        assert _same_tree(a, b), "an argument was modified"
    np.testing.assert_allclose(value, f(*args), rtol=1e-12)
    positions = wrt if isinstance(wrt, tuple) else (wrt,)
    grads = grads if isinstance(wrt, tuple) else (grads,)
    for pos, g in zip(positions, grads):
        assert_same_structure(g, args[pos])
        assert_tree_close(g, numeric_tree_grad(f, args, pos))
    return value, grads


def assert_same_structure(g, x):
    """Same treedef (keys and order included), same leaf shapes and dtypes."""
    g_leaves, g_tree = pytree.flatten(g)
    x_leaves, x_tree = pytree.flatten(x)
    assert g_tree == x_tree, (g_tree, x_tree)
    for a, b in zip(g_leaves, x_leaves):
        assert np.shape(a) == np.shape(b)
        if isinstance(b, np.ndarray):
            assert isinstance(a, np.ndarray) and a.dtype == b.dtype
        else:
            assert isinstance(a, float)


def _copy_tree(value):
    leaves, tree = pytree.flatten(value)
    return pytree.unflatten(tree, [_copy(v) for v in leaves])


def _same_tree(a, b):
    la, ta = pytree.flatten(a)
    lb, tb = pytree.flatten(b)
    return ta == tb and all(_same(x, y) for x, y in zip(la, lb))


# --------------------------------------------------------------------------- the MLP
def mlp_loss(params, x, y):
    h = np.tanh(params["W1"] @ x + params["b1"])
    out = params["W2"] @ h + params["b2"]
    return np.mean((out - y) ** 2)


def mlp_params():
    return {"W1": _r(5, 3), "b1": _r(5), "W2": _r(2, 5), "b2": _r(2)}


X3, Y2 = _r(3), _r(2)


def test_gradient_dict_has_the_inputs_keys_order_and_shapes():
    params = mlp_params()
    params = {k: params[k] for k in ("b2", "W1", "W2", "b1")}     # not sorted
    grads = srcgrad.grad(mlp_loss)(params, X3, Y2)
    assert list(grads) == ["b2", "W1", "W2", "b1"]
    assert_same_structure(grads, params)
    assert_tree_grad(mlp_loss, (params, X3, Y2))


def test_generated_code_sees_one_parameter_per_leaf():
    d = srcgrad.grad(mlp_loss)
    d(mlp_params(), X3, Y2)
    assert d.source.splitlines()[0] == \
        "def mlp_loss_vjp(params_W1, params_b1, params_W2, params_b2, x, y, seed):"


def layers_loss(layers, x, y):
    h = x
    for i in range(len(layers)):
        h = np.tanh(layers[i]["W"] @ h + layers[i]["b"])
    return np.mean((h - y) ** 2)


def _train(f, params, steps=20, rate=0.1, **kw):
    df = srcgrad.value_and_grad(f, **kw)
    losses = []
    for _ in range(steps):
        loss, grads = df(params, X3, Y2)
        losses.append(loss)
        leaves, tree = pytree.flatten(params)
        params = pytree.unflatten(tree, [p - rate * g for p, g in
                                         zip(leaves, pytree.flatten(grads)[0])])
    return losses


@pytest.mark.parametrize("jit", [False, pytest.param(True, id="jit")])
def test_mlp_trained_by_gradient_descent_lowers_its_loss(jit):
    if jit:
        pytest.importorskip("numba")
    losses = _train(mlp_loss, mlp_params(), jit=jit)
    assert all(b < a for a, b in zip(losses, losses[1:])), losses
    layers = [{"W": _r(4, 3) * 0.5, "b": np.zeros(4)}, {"W": _r(2, 4) * 0.5, "b": np.zeros(2)}]
    losses = _train(layers_loss, layers, jit=jit)
    assert all(b < a for a, b in zip(losses, losses[1:])), losses


def test_list_of_layers_gradient():
    layers = [{"W": _r(4, 3), "b": _r(4)}, {"W": _r(2, 4), "b": _r(2)}]
    assert_tree_grad(layers_loss, (layers, X3, Y2))


# --------------------------------------------------------------------------- container code
Point = collections.namedtuple("Point", "a b")


def nested_everything(p, x):
    total = 0.0
    for k, v in p["dense"].items():                       # dict items, unrolled
        total = total + np.sum(v * x[: v.shape[-1]]) if k != "skip" else total
    first, (second, third) = p["pairs"]                  # nested tuple unpacking
    total = total + first * np.sum(second) + third[-1]
    for j, w in enumerate(p["stack"]):                    # list, enumerate
        total = total + (j + 1.0) * np.sum(w ** 2)
    total = total + sum(np.sum(np.sin(w)) for w in p["stack"])       # generator over a list
    total = total + np.sum(np.stack([w * 2.0 for w in p["stack"]]))  # list comprehension
    total = total + np.sum(np.concatenate([p["dense"][k] for k in p["dense"]]))
    total = total + p["pt"].a * p["pt"].b + len(p["stack"])
    scale = p.get("scale", 1.0) if "scale" in p else 2.0
    extra = {"u": total, "v": p["pairs"][0]}
    return scale * extra["u"] + extra["v"] ** 2


def _nested_params():
    return {"dense": {"w": _r(3), "skip": _r(2), "z": _r(3)},
            "pairs": (1.5, (_r(2), _r(3))),
            "stack": [_r(2, 2), _r(2, 2), _r(2, 2)],
            "pt": Point(0.5, 2.0),
            "none": None,
            "scale": 0.75}


def test_nested_dicts_lists_tuples_and_namedtuples():
    assert_tree_grad(nested_everything, (_nested_params(), _r(3)))


def test_several_container_arguments():
    def f(a, n, b):
        return np.sum(a[0] * b["x"]) * n + a[1][0] ** 2 * b["y"]
    args = ([_r(3), (2.0,)], 3, {"x": _r(3), "y": 0.5})
    assert_tree_grad(f, args, wrt=(0, 2))
    assert_tree_grad(f, args, wrt=2)
    assert srcgrad.grad(f, wrt="b")(*args).keys() == {"x", "y"}


def loop_over_zip_and_negative_index(ws, bs, x):
    h = x
    for w, b in zip(ws, bs):
        h = np.sin(w @ h) + b
    return np.sum(h) + np.sum(ws[-1])


def test_zip_of_lists_and_negative_indices():
    ws, bs = [_r(3, 3), _r(3, 3)], (_r(3), _r(3))
    assert_tree_grad(loop_over_zip_and_negative_index, (ws, bs, _r(3)), wrt=(0, 1))


def dicts_built_inside(p, x):
    out = {}
    out["a"] = np.sin(p["w"]) * x
    out["b"] = out["a"] * 2.0
    squares = {k: v ** 2 for k, v in out.items()}
    merged = {**squares, "c": p["c"]}
    if x[0] > 0:
        pick = {"s": merged["a"], "t": merged["c"]}
    else:
        pick = {"s": merged["b"], "t": 2.0 * merged["c"]}
    return np.sum(pick["s"]) + pick["t"] + sum(np.sum(v) for v in merged.values())


@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_dicts_built_stored_merged_in_branches(sign):
    x = np.abs(_r(3)) * sign
    assert_tree_grad(dicts_built_inside, ({"w": _r(3), "c": 0.3}, x))


def constructors_and_slices(xs, p):
    pt = Point(xs[0], p["c"])
    rest = tuple(x * 2.0 for x in xs[1:])
    squares = {i: xs[i] ** 2 for i in range(len(xs)) if i != 1}
    both = dict(dict(p), extra=pt.a * pt.b)
    ordered = list(squares.values())
    return np.sum(rest[-1]) + sum(np.sum(v) for v in ordered) + np.sum(both["extra"]) * both["c"]


def test_constructors_slices_and_filtered_comprehensions():
    assert_tree_grad(constructors_and_slices, ([_r(2), _r(2), _r(2)], {"c": 0.3}), wrt=(0, 1))


def returns_namedtuple(x):
    return Point(np.sin(x), [x * 2.0, None])


def test_vjp_of_a_namedtuple_result():
    x = _r(3)
    out, pullback = srcgrad.vjp(returns_namedtuple, x)
    assert isinstance(out, Point)
    (g,) = pullback(Point(np.ones(3), [np.ones(3), None]))
    np.testing.assert_allclose(g, np.cos(x) + 2.0, rtol=1e-12)


def sum_of_generator(x, n, c):
    s = sum(c * x[i] ** 2 for i in range(n) if i % 2 == 0)
    return s + sum((x[i] * x[i + 1] for i in range(n - 1)), 1.0)


def test_generator_over_a_runtime_range_fed_to_sum_is_a_loop():
    x = _r(6)
    for n in (6, 3, 0):
        value, _ = assert_tree_grad(sum_of_generator, (x, n, 1.5), wrt=(0, 2))
    source = srcgrad.grad(sum_of_generator).compile(x, 4, 1.5).source
    assert re.search(r"total = 0\n    for i(_\d+)? in range\(n\):", source), source


def test_none_and_empty_containers_have_no_leaves():
    def f(p, x):
        return np.sum(p["w"] * x) if p["bias"] is None else 0.0
    grads = srcgrad.grad(f)({"w": _r(3), "bias": None, "unused": ()}, _r(3))
    assert grads["bias"] is None and grads["unused"] == ()


def test_float32_leaves_keep_their_dtype():
    params = {"W": _r(2, 3).astype(np.float32), "b": np.float32(0.5)}
    grads = srcgrad.grad(lambda p, x: np.sum(p["W"] @ x) * p["b"])(params, _r(3).astype(np.float32))
    assert grads["W"].dtype == np.float32 and isinstance(grads["b"], np.float32)


# --------------------------------------------------------------------------- has_aux
def loss_with_aux(params, x):
    h = np.tanh(params["W"] @ x)
    loss = np.sum(h ** 2)
    return loss, {"h": h, "norm": np.sqrt(np.sum(params["W"] ** 2)), "tag": 3}


@pytest.mark.parametrize("jit", [False, pytest.param(True, id="jit")])
def test_has_aux(jit):
    if jit:
        pytest.importorskip("numba")
    params, x = {"W": _r(3, 3)}, _r(3)
    (value, aux), grads = srcgrad.value_and_grad(loss_with_aux, has_aux=True, jit=jit)(params, x)
    expected_loss, expected_aux = loss_with_aux(params, x)
    np.testing.assert_allclose(value, expected_loss, rtol=1e-12)
    assert list(aux) == ["h", "norm", "tag"] and aux["tag"] == 3
    assert_tree_close(aux, expected_aux, rtol=1e-12)
    assert_tree_close(grads, numeric_tree_grad(lambda p, x: loss_with_aux(p, x)[0], (params, x), 0))
    grads2, aux2 = srcgrad.grad(loss_with_aux, has_aux=True, jit=jit)(params, x)
    assert_tree_close(grads2, grads, rtol=1e-12)
    assert_tree_close(aux2, expected_aux, rtol=1e-12)


def test_has_aux_aux_gets_no_cotangent():
    d = srcgrad.grad(loss_with_aux, has_aux=True)
    d({"W": _r(3, 3)}, _r(3))
    assert "stop_gradient(h)" in d.source


def test_has_aux_needs_a_pair():
    with pytest.raises(SrcgradError, match="has_aux=True the function must return a pair"):
        srcgrad.grad(lambda x: np.sum(x), has_aux=True)(_r(3))


# --------------------------------------------------------------------------- vjp, jvp, jacobians
def tree_outputs(p, x):
    y = np.sin(p["w"] * x)
    return {"y": y, "pair": (np.sum(y) * p["c"], [x * p["c"]]), "const": 2}


@pytest.mark.parametrize("jit", [False, pytest.param(True, id="jit")])
def test_vjp_with_container_inputs_and_outputs(jit):
    if jit:
        pytest.importorskip("numba")
    p, x = {"w": _r(3), "c": 0.7}, _r(3)
    out, pullback = srcgrad.vjp(tree_outputs, p, x, jit=jit)
    assert_tree_close(out, tree_outputs(p, x), rtol=1e-12)
    ct = {"const": 0, "pair": (0.3, [_r(3)]), "y": _r(3)}        # keys in any order

    def projected(p, x):
        o = tree_outputs(p, x)
        return (np.sum(o["y"] * ct["y"]) + o["pair"][0] * ct["pair"][0]
                + np.sum(o["pair"][1][0] * ct["pair"][1][0]))
    dp, dx = pullback(ct)
    assert_same_structure(dp, p)
    assert_tree_close(dp, numeric_tree_grad(projected, (p, x), 0))
    np.testing.assert_allclose(dx, numeric_tree_grad(projected, (p, x), 1), rtol=1e-6, atol=1e-8)


def test_vjp_cotangent_must_match_the_output():
    out, pullback = srcgrad.vjp(tree_outputs, {"w": _r(3), "c": 0.7}, _r(3))
    with pytest.raises(SrcgradError, match=r"should be a dict with keys \['y', 'pair', 'const'\]"):
        pullback({"y": np.ones(3)})
    with pytest.raises(SrcgradError, match=r'the cotangent\["y"\] has shape \(2,\)'):
        pullback({"y": np.ones(2), "pair": (1.0, [np.ones(3)]), "const": 0})


def test_vjp_gives_none_for_integer_leaves():
    def f(p):
        return p["x"] * p["n"]
    _, pullback = srcgrad.vjp(f, {"x": _r(2), "n": 3})
    (g,) = pullback(np.ones(2))
    assert g["n"] is None and np.allclose(g["x"], 3.0)


def tree_map_outputs(p, x):
    y = np.sin(p["w"] * x)
    return {"y": y, "pair": (y[0] * p["c"], [x * p["c"]]), "const": 2}


@pytest.mark.parametrize("jit", [False, pytest.param(True, id="jit")])
def test_jvp_with_container_primals_and_tangents(jit):
    if jit:
        pytest.importorskip("numba")
    p, x = {"w": _r(3), "c": 0.7}, _r(3)
    tp, tx = {"c": 0.2, "w": _r(3)}, _r(3)
    value, tangent = srcgrad.jvp(tree_map_outputs, (p, x), (tp, tx), jit=jit)
    assert_tree_close(value, tree_map_outputs(p, x), rtol=1e-12)
    eps = 1e-6

    def moved(s):
        leaves = [a + s * b for a, b in zip(pytree.flatten(p)[0], pytree.flatten(
            {"w": tp["w"], "c": tp["c"]})[0])]
        return tree_map_outputs(pytree.unflatten(pytree.flatten(p)[1], leaves), x + s * tx)
    plus, minus = pytree.flatten(moved(eps))[0], pytree.flatten(moved(-eps))[0]
    expected = pytree.unflatten(pytree.flatten(value)[1],
                                [(a - b) / (2 * eps) for a, b in zip(plus, minus)])
    assert_tree_close(tangent, expected, rtol=1e-6, atol=1e-8)


def test_jacobians_of_a_container_argument():
    def f(p, x):
        return np.sin(p["w"] * x) * p["c"]
    p, x = {"w": _r(3), "c": 0.7}, _r(3)
    rows, columns = srcgrad.jacobian(f)(p, x), srcgrad.jacfwd(f)(p, x)
    assert rows["w"].shape == (3, 3) and np.shape(rows["c"]) == (3,)
    assert_tree_close(rows, columns, rtol=1e-12)
    np.testing.assert_allclose(rows["w"], np.diag(np.cos(p["w"] * x) * x * p["c"]), rtol=1e-12)


# --------------------------------------------------------------------------- jit
def test_jit_sees_only_flat_leaves():
    pytest.importorskip("numba")
    layers = [{"W": _r(4, 3), "b": _r(4)}, {"W": _r(2, 4), "b": _r(2)}]
    expected = srcgrad.grad(layers_loss)(layers, X3, Y2)
    d = srcgrad.grad(layers_loss, jit=True)
    assert_tree_close(d(layers, X3, Y2), expected, rtol=1e-12)
    assert d.source.startswith("def layers_loss_vjp(layers_0_W, layers_0_b, layers_1_W, layers_1_b,")
    x = _r(6)
    expected = srcgrad.grad(sum_of_generator, wrt=(0, 2))(x, 5, 2.0)
    got = srcgrad.grad(sum_of_generator, wrt=(0, 2), jit=True)(x, 5, 2.0)
    assert_tree_close(got, expected, rtol=1e-12)


# --------------------------------------------------------------------------- errors
def test_non_float_leaf_error_names_its_path():
    params = {"layers": [{"W": _r(2)}, {"W": _r(2)}, {"W": _r(2), "n": 3}]}
    with pytest.raises(WrtError) as info:
        srcgrad.grad(lambda p: np.sum(p["layers"][0]["W"]))(params)
    assert 'params["layers"][2]["n"]' not in str(info.value)     # the lambda's name is p
    assert "'p[\"layers\"][2][\"n\"]': it is int" in str(info.value)


def uses_string_leaf(params):
    return np.sum(params["W"])


def test_string_leaf_error_names_its_path():
    with pytest.raises(WrtError, match=r"'params\[\"act\"\]': it is str"):
        srcgrad.grad(uses_string_leaf)({"W": _r(2), "act": "tanh"})


def dynamic_key(p, i):
    return p["w"] * p["ws"][i]  # <- dynamic index


def mutate_in_loop(p, n):
    out = {"s": 0.0}
    for i in range(n):
        out["s"] = out["s"] + p["w"]  # <- store in a loop
    return out["s"]


def store_into_argument(p):
    p["w"] = p["w"] * 2.0  # <- argument
    return p["w"]


def runtime_range_indexing(layers, n):
    h = 1.0
    for i in range(n):  # <- loop
        h = h * layers[i]
    return h


def dict_to_primitive(p):
    return np.sum(p)  # <- dict value


def branch_structure(p, c):
    if c > 0:
        q = {"a": p["w"]}
    else:
        q = {"b": p["w"]}  # <- the merge is reported at the if
    return q.get("a", 0.0)


def _marked_line(fn):
    import inspect
    lines, first = inspect.getsourcelines(fn)
    return first + next(i for i, text in enumerate(lines) if "# <-" in text)


@pytest.mark.parametrize("fn, args, cls, words", [
    (dynamic_key, ({"w": 1.0, "ws": [1.0, 2.0]}, 1), UnsupportedSyntaxError, "computed at run time"),
    (mutate_in_loop, ({"w": 1.0}, 3), UnsupportedSyntaxError, "a dict that changes inside a loop"),
    (store_into_argument, ({"w": 1.0},), AliasingError, "comes from the arguments"),
    (runtime_range_indexing, ([1.0, 2.0], 2), UnsupportedSyntaxError, "needs its bounds"),
    (dict_to_primitive, ({"w": 1.0},), UnsupportedSyntaxError, "a dict cannot be used as a value"),
], ids=lambda v: getattr(v, "__name__", None))
def test_unsupported_container_use_is_refused_at_its_line(fn, args, cls, words):
    with pytest.raises(cls) as info:
        srcgrad.grad(fn)(*args)
    assert words in str(info.value)
    assert info.value.loc is not None and info.value.loc.line == _marked_line(fn)


def store_in_branch(p, c):
    out = {"a": p["w"]}
    if c > 0:
        out["a"] = 2.0 * p["w"]  # <- store in a branch
    return out["a"]


def test_store_in_a_branch_into_an_outer_dict_is_refused():
    with pytest.raises(UnsupportedSyntaxError, match="changed inside a loop or branch") as info:
        srcgrad.grad(store_in_branch)({"w": 1.0}, 1.0)
    assert info.value.loc.line == _marked_line(store_in_branch)


def test_different_structures_in_branches_are_refused():
    with pytest.raises(UnsupportedSyntaxError, match="different structure in each branch"):
        srcgrad.grad(branch_structure)({"w": 1.0}, 1.0)


def test_missing_key_and_index_out_of_range_are_located_errors():
    with pytest.raises(UnsupportedSyntaxError, match=r"no key 'x' in this dict; its keys are \['w'\]"):
        srcgrad.grad(lambda p: p["x"])({"w": 1.0})
    with pytest.raises(UnsupportedSyntaxError, match="index 2 is out of range for a list of 2"):
        srcgrad.grad(lambda xs: xs[2])([1.0, 2.0])


def dense(p, h):
    return np.tanh(p["W"] @ h + p["b"])


def calls_own_function_with_a_dict(layers, x):
    return np.sum(dense(layers[0], x))


def nested_helper_takes_a_dict(layers, x):
    def layer(p, h):
        return np.tanh(p["W"] @ h + p["b"])
    h = x
    for p in layers:
        h = layer(p, h)
    return np.sum(h)


def test_containers_and_your_own_functions():
    layers = [{"W": _r(3, 3), "b": _r(3)}, {"W": _r(3, 3), "b": _r(3)}]
    assert_tree_grad(nested_helper_takes_a_dict, (layers, _r(3)))
    assert_tree_grad(calls_own_function_with_a_dict, (layers, _r(3)))   # lowered in place
