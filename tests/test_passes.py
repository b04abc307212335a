"""The passes on their own: canonicalize keeps Python's meaning once jumps are gone, and
lowering gives the IR structure the later passes rely on (tuples carried item by item,
arrays written in place as buffers)."""

import ast

import gast
import numpy as np
import pytest

import regression_programs as rp
from srcgrad import ir
from srcgrad.transforms.canonicalize import canonicalize
from srcgrad.transforms.lower import lower
from srcgrad.transforms.parse import parse_function

JUMPS = [
    (rp.return_two_ifs_deep, [-1.5, 1.0, 12.0]),
    (rp.return_in_elif, [-2.0, 0.7, 6.0]),
    (rp.fallthrough_binds_later_value, [-1.0, 0.5, 11.0]),
    (rp.break_two_ifs_deep, [1.0]),
    (rp.continue_two_ifs_deep, [0.7]),
    (rp.return_two_ifs_deep_in_loop, [0.2, 0.9]),
    (rp.while_break_two_ifs_deep, [0.5, 1.0]),
    (rp.while_continue_two_ifs_deep, [0.7]),
    (rp.return_from_nested_loops, [0.5, 1.5]),
    (rp.while_true_return_two_ifs_deep, [0.3]),
    (rp.tuple_rebuilt_with_continue, [0.7]),
]


def _canonical(fn):
    """The canonical form of ``fn`` as a Python function (gast -> ast -> code)."""
    node = canonicalize(parse_function(fn))
    module = gast.gast_to_ast(gast.Module(body=[node], type_ignores=[]))
    ast.fix_missing_locations(module)
    namespace = dict(fn.__globals__)
    exec(compile(module, "<canonical>", "exec"), namespace)
    return namespace[fn.__name__]


@pytest.mark.parametrize("fn, inputs", JUMPS, ids=[f.__name__ for f, _ in JUMPS])
def test_canonical_form_computes_what_python_computes(fn, inputs):
    canonical = _canonical(fn)
    for x in inputs:
        assert canonical(x) == fn(x)


@pytest.mark.parametrize("fn, _", JUMPS, ids=[f.__name__ for f, _ in JUMPS])
def test_canonical_form_has_no_jumps(fn, _):
    node = canonicalize(parse_function(fn))
    jumps = [n for n in gast.walk(node) if isinstance(n, (gast.Break, gast.Continue))]
    returns = [n for n in gast.walk(node) if isinstance(n, gast.Return)]
    assert not jumps and returns == [node.body[-1]]


def _ir(fn, **kinds):
    out = lower(parse_function(fn), kinds)
    ir.check(out)
    return out


def test_a_tuple_is_carried_item_by_item():
    loops = [s for s in _ir(rp.tuple_rebound_in_loop, a=("float", None)).body
             if isinstance(s, ir.For)]
    assert len(loops) == 1 and len(loops[0].carried) == 2     # u and v, not one tuple


def test_a_tuple_first_bound_inside_a_loop_is_carried_item_by_item():
    fn = _ir(rp.tuple_local_to_loop_used_after, x=("float", None))
    loop = next(s for s in fn.body if isinstance(s, ir.For))
    assert [fn.user_names[c] for c in loop.carried].count("pair_") == 2
    assert "tuple" not in {fn.kinds.get(c) for c in loop.carried}


def test_augmented_assignment_on_an_array_is_a_store_into_a_buffer():
    fn = _ir(rp.augmented_assignment_is_in_place, x=("array", 1))
    stores = [s for s in ir.walk(fn.body) if isinstance(s, ir.Store)]
    assert len(stores) == 1
    assert fn.kinds[stores[0].array.name] == "buffer"
    text = ir.format_function(fn)
    assert "%a_1 = store %a[:] <- %tmp" in text and "np.sum(%a_1)" in text  # b sees the write


def test_augmented_assignment_on_a_scalar_rebinds():
    fn = _ir(rp.subtract_helper_item, b=("float", None))
    assert not [s for s in ir.walk(fn.body) if isinstance(s, ir.Store)]


def test_a_view_read_before_a_later_write_is_recorded_as_a_view():
    fn = _ir(rp.store_reads_slice_of_itself, x=("array", 1))
    views = set(fn.view_group)
    reads = [s for s in fn.body if isinstance(s, ir.GetItem)]
    assert reads and reads[0].target in views


def test_slices_print_as_python_writes_them():
    fn = _ir(rp.slice_update_by_own_slices, x=("array", 1))
    text = ir.format_function(fn)
    assert "[1:]" in text and "[:2]" in text
