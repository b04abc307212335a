"""The parts of lowering on their own: the containers helper (values known when the
derivative is generated), its iteration helper, the run-time lists helper, and the
lowerer's snapshot of its helpers' state, each called directly on small inputs; and the
size limits of the lowering modules."""

import ast
import pathlib

import gast
import numpy as np
import pytest

from srcgrad import ir, pytree
from srcgrad.errors import AliasingError, UnsupportedSyntaxError
from srcgrad.runtime import tape as tape_rt
from srcgrad.transforms import lower_tables
from srcgrad.transforms.containers import NOTHING, fold_constants
from srcgrad.transforms.lower import Lowerer, lower
from srcgrad.transforms.parse import parse_function

TRANSFORMS = pathlib.Path(__file__).resolve().parent.parent / "srcgrad" / "transforms"
LOWERING = sorted([*TRANSFORMS.glob("lower*.py"), *TRANSFORMS.glob("containers*.py"),
                   TRANSFORMS / "lists.py"])


def host(x):
    return x


def _lowerer(env=None, **kinds):
    """A lowerer for ``host`` whose environment is ``env`` (nothing lowered yet)."""
    lw = Lowerer(parse_function(host), kinds)
    lw.env.update(env or {})
    return lw


def _expr(text):
    """A gast expression with a location, as lowering receives it."""
    node = gast.parse(text).body[0].value
    for n in gast.walk(node):
        n.lineno, n.col_offset = 1, 0
    return node


def _ir(fn, **kinds):
    out = lower(parse_function(fn), kinds)
    ir.check(out)
    return ir.format_function(out)


# ---------------------------------------------------------------------- containers
def test_peek_and_static_value_see_containers_without_emitting_code():
    lw = _lowerer({"p": {"W": ir.Var("w")}, "n": ir.Const(3), "xs": [ir.Var("a"), ir.Var("b")]})
    iteration = lw.containers.iteration
    assert lw.containers.peek(_expr("p['W']")) == ir.Var("w")
    assert lw.containers.peek(_expr("xs[-1]")) == ir.Var("b")
    assert iteration.static_value(_expr("len(xs) * n - 1")) == 5
    assert iteration.static_value(_expr("len(xs)"), varying=frozenset({"xs"})) is NOTHING
    assert lw.out == []


def test_getitem_resolves_constant_keys_and_refuses_run_time_ones():
    lw = _lowerer({"p": {"W": ir.Var("w")}, "xs": (ir.Var("a"), ir.Var("b")),
                   "i": ir.Var("i")})
    assert lw.containers.getitem(lw.env["xs"], _expr("xs[0]")) == ir.Var("a")
    assert lw.containers.getitem(lw.env["xs"], _expr("xs[1:]")) == (ir.Var("b"),)
    with pytest.raises(UnsupportedSyntaxError, match="computed at run time"):
        lw.containers.getitem(lw.env["xs"], _expr("xs[i]"))
    with pytest.raises(UnsupportedSyntaxError, match=r"no key 'b' in this dict"):
        lw.containers.getitem(lw.env["p"], _expr("p['b']"))


def test_store_only_into_a_container_this_block_built():
    built = {"W": ir.Var("w")}
    lw = _lowerer({"d": built, "arg": {"W": ir.Var("v")}})
    lw.containers.own(built)
    target = _expr("d['W']")
    lw.containers.store(built, target, ir.Var("u"), target, "d")
    assert built == {"W": ir.Var("u")}
    with pytest.raises(AliasingError, match="comes from the arguments"):
        lw.containers.store(lw.env["arg"], _expr("arg['W']"), ir.Var("u"), target, "arg")


def test_result_flattens_a_container_into_a_seq_of_leaves():
    lw = _lowerer()
    value = {"a": ir.Var("x"), "b": (ir.Var("y"), ir.Const(None))}
    out = lw.containers.result(value, _expr("0"))
    assert out == ir.Seq((ir.Var("x"), ir.Var("y")))
    assert lw.containers.result_tree == pytree.flatten({"a": 1, "b": (2, None)})[1]


def test_container_parameter_is_one_ir_parameter_per_leaf():
    tree = pytree.flatten({"W": 1, "b": [2, 3]})[1]
    lw = Lowerer(parse_function(host), {}, {"x": (tree, [("array", 2), ("float", 0),
                                                          ("float", 0)])})
    lw.params = []
    assert lw.containers.is_param("x") and not lw.containers.is_param("y")
    lw.containers.bind_param("x")
    assert lw.params == ["x_W", "x_b_0", "x_b_1"]
    assert lw.env["x"] == {"W": ir.Var("x_W"), "b": [ir.Var("x_b_0"), ir.Var("x_b_1")]}
    assert lw.kinds["x_W"] == "array" and lw.ndims["x_W"] == 2


def test_merge_of_two_dicts_yields_only_the_leaves_that_differ():
    lw = _lowerer()
    lw.kinds.update(w="float", v="float")
    outs, then_yields, else_yields = [], [], []
    merged = lw.containers.merge("p", {"W": ir.Var("w"), "b": ir.Var("c")},
                                 {"W": ir.Var("v"), "b": ir.Var("c")},
                                 outs, then_yields, else_yields, _expr("0"))
    assert merged == {"W": ir.Var("p_W"), "b": ir.Var("c")}
    assert (outs, then_yields, else_yields) == (["p_W"], [ir.Var("w")], [ir.Var("v")])
    assert lw.kinds["p_W"] == "float"
    with pytest.raises(UnsupportedSyntaxError, match="different structure in each branch"):
        lw.containers.merge("p", {"W": ir.Var("w")}, {"V": ir.Var("w")}, [], [], [], _expr("0"))


def test_membership_and_identity_are_known_now():
    lw = _lowerer({"p": {"W": ir.Var("w")}, "x": ir.Var("x")})
    assert lw.containers.membership(_expr("'W' in p")) == ir.Const(True)
    assert lw.containers.membership(_expr("'b' not in p")) == ir.Const(True)
    assert lw.containers.identity(_expr("x is None")) == ir.Const(False)


def test_fold_constants_folds_int_str_bool_and_none_only():
    assert fold_constants(len, [ir.Const("abc")], {}) == ir.Const(3)
    assert fold_constants(max, [ir.Const(2), ir.Const(5)], {}) == ir.Const(5)
    assert fold_constants(max, [ir.Const(2.0), ir.Const(5)], {}) is None
    assert fold_constants(np.sin, [ir.Const(1)], {}) is None


# ---------------------------------------------------------------------- iteration
def test_static_iterable_of_enumerate_zip_and_known_ranges():
    lw = _lowerer({"xs": (ir.Var("a"), ir.Var("b")), "p": {"k": ir.Var("v")}})
    iteration = lw.containers.iteration
    assert iteration.static_iterable(_expr("enumerate(xs, 1)"), ranges=False) == [
        (ir.Const(1), ir.Var("a")), (ir.Const(2), ir.Var("b"))]
    assert iteration.static_iterable(_expr("p.items()"), ranges=False) == [
        (ir.Const("k"), ir.Var("v"))]
    assert iteration.static_iterable(_expr("range(len(xs))"), ranges=False) is None
    assert iteration.static_iterable(_expr("range(len(xs))"), ranges=True) == [
        ir.Const(0), ir.Const(1)]


def test_unrolled_comprehension_keeps_its_loop_variable_local():
    lw = _lowerer({"xs": (ir.Var("a"), ir.Var("b")), "v": ir.Var("outer")})
    items = lw.containers.comprehension(_expr("[v for v in xs]"), list)
    assert items == [ir.Var("a"), ir.Var("b")]
    assert lw.env["v"] == ir.Var("outer")
    assert lw.containers.comprehension(_expr("{k: v for k, v in enumerate(xs)}"), dict) == {
        0: ir.Var("a"), 1: ir.Var("b")}


def test_loop_over_a_container_is_unrolled_in_the_ir():
    def f(x):
        total = 0.0
        for w in (1.0, 2.0, 3.0):
            total = total + w * x
        return total
    text = _ir(f, x=("float", 0))
    assert "for " not in text and text.count("mul(") == 3


# ---------------------------------------------------------------------- run-time lists
def test_method_target_names_a_list_variable_only():
    lw = _lowerer({"xs": [], "x": ir.Var("x")})
    assert lw.lists.method_target(_expr("xs.append(1.0)")) == "xs"
    assert lw.lists.method_target(_expr("x.append(1.0)")) is None
    assert lw.lists.method_target(_expr("xs.extend(1.0)")) is None


def test_a_list_appended_in_a_loop_becomes_a_run_time_list():
    def f(x, n):
        xs = []
        for i in range(n):
            xs.append(x * i)
        return np.stack(xs).sum()
    text = _ir(f, x=("float", 0), n=("int", 0))
    assert "stack()" in text and "list_append(" in text and "stack_items(" in text
    # the types pass gives it the typed constructor (tests/test_types.py)


def test_constructor_records_the_item_type_of_a_typed_list():
    lw = _lowerer()
    lw.lists.record_constructor("xs", tape_rt.stack_f64_1d)
    group = lw.groups["xs"]
    assert lw.kinds["xs"] == "list" and lw.lists.item_ndims[group] == (1, "f64")


def test_reader_refuses_a_run_time_list_passed_to_a_function_without_list_reads():
    lw = _lowerer()
    lw.kinds["xs"] = "list"
    assert lw.lists.reader(np.sin, [ir.Var("y")], {}, _expr("0"), None) is None
    with pytest.raises(UnsupportedSyntaxError, match="cannot be passed to 'host'"):
        lw.lists.reader(host, [ir.Var("xs")], {}, _expr("0"), None)


# ---------------------------------------------------------------------- the lowerer's state
def test_snapshot_and_restore_cover_the_helpers_state():
    lw = _lowerer({"x": ir.Var("x")})
    saved = lw.snapshot()
    lw.containers.owners[1] = ("built", [])
    lw.lists.item_ndims[7] = (0, "f64")
    lw.env["y"] = ir.Var("y")
    lw.fresh("y")
    lw.restore(saved)
    assert lw.containers.owners == {} and lw.lists.item_ndims == {}
    assert "y" not in lw.env and "y" not in lw.taken


def test_primitive_facts_live_on_the_records_not_in_side_tables():
    """Whether a primitive allocates, is elementwise, folds... is read from its registry
    record (declared beside its rules), never from a table in a pass."""
    passes = pathlib.Path(lower_tables.__file__).parent
    for path in passes.glob("*.py"):
        source = path.read_text()
        for table in ("ALLOCATORS", "FRESH_RESULT", "INT_PRESERVING", "INT_RESULT", "BOOL_RESULT",
                      "FOLDABLE", "SEQUENCE_READERS", "RANK_ELEMENTWISE", "ELEMENTWISE",
                      "SCALAR_REDUCTIONS", "REDUCTIONS", "VIEW_RESULT", "LIST_CONSTRUCTORS",
                      "CHEAP_RECOMPUTE", "SHAPE_PRESERVING", "SHAPE_ONLY", "PASS_THROUGH",
                      "REAL_OF_COMPLEX", "KEEPS_COMPLEX", "LIST_MUTATORS"):
            assert f"\n{table} =" not in source and f"\n_{table} =" not in source, (path.name, table)


@pytest.mark.parametrize("path", LOWERING, ids=[p.name for p in LOWERING])
def test_lowering_modules_and_functions_stay_small(path):
    source = path.read_text()
    lines = source.count("\n")
    assert lines <= 500 or "reason:" in source.split("\n", 3)[0].lower()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.FunctionDef):
            assert node.end_lineno - node.lineno + 1 <= 60, node.name
