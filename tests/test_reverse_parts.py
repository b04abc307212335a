"""The parts of the reverse pass on their own, on small IR inputs: the namer, rule
instantiation, the primal emitter and its hooks, the tape plan (what is restored, and
how, from what a block reads) and the adjoint emitter's read reports."""

import ast
import inspect

import numpy as np
import pytest

from golden_functions import CASES
from srcgrad import ir
from srcgrad.transforms import types as value_types
from srcgrad.rules import registry
from srcgrad.transforms import adjoint, emit as E, naming, primal, reverse, rules_inline, tape_plan
from srcgrad.transforms.activity import analyse
from srcgrad.transforms.forward import Forward
from srcgrad.transforms.lower import lower
from srcgrad.transforms.parse import parse_function

FLOAT, VEC = ("float", None), ("array", 1)


def _ir(fn, **kinds):
    out = lower(parse_function(fn), kinds)
    ir.check(out)
    return out


def _src(stmts) -> str:
    return "\n".join(ast.unparse(ast.fix_missing_locations(s)) for s in primal.flatten(stmts))


def prod_loop(x):
    p = 1.0
    for i in range(len(x)):
        p = p * np.sin(x[i])
    return p


def sin_times(x, y):
    return np.sin(x) * y


def while_loop(x):
    s = x
    while s < 10.0:
        s = s * 2.0
    return s


# ----------------------------------------------------------------------- naming
def test_one_versioning_scheme():
    assert naming.version("s", 0) == "s" and naming.version("s", 2) == "s_2"
    assert naming.fresh_name("s", {"s", "s_1"}) == "s_2"
    assert naming.stem("s_2") == "s" and naming.stem("s") is None


def test_names_never_clash_with_ir_values():
    fn = _ir(prod_loop, x=VEC)
    names = naming.Names(fn)
    taken = set(names.taken)
    derived = [names.adjoint("p"), names.tangent("p"), names.tape("p"), names.fresh("seed")]
    assert derived == ["dp", "p_dot", "tape_p", "seed"]
    assert not set(derived) & taken
    assert names.adjoint("p") == "dp" and names.tape("p") == "tape_p"      # stable
    loop = next(s for s in ir.walk(fn.body) if isinstance(s, ir.For))
    assert names.trip(loop) == names.trip(loop) == "trips"


def test_global_refs_are_bound_once():
    names = naming.Names(_ir(sin_times, x=FLOAT, y=FLOAT))
    obj = object()
    first = names.global_ref(obj, "thing")
    assert names.global_ref(obj, "other") == first and names.namespace[first] is obj
    assert ast.unparse(names.function(np.sin, "np.sin")) == "np.sin"


# ----------------------------------------------------------------------- rule instantiation
def _call(fn, target):
    return next(s for s in ir.walk(fn.body) if isinstance(s, ir.Call) and s.target == target)


def test_bind_operands_spells_every_parameter():
    fn = _ir(sin_times, x=FLOAT, y=FLOAT)
    names = naming.Names(fn)
    call = next(s for s in fn.body if isinstance(s, ir.Call) and s.fn is np.sin)
    prim = registry.lookup(np.sin)
    exprs = {"g": E.name("dsin")}
    params, bound = rules_inline.bind_operands(prim, call, names, exprs)
    assert bound[params[0]] == ir.Var("x")
    assert ast.unparse(exprs[params[0]]) == "x" and ast.unparse(exprs["g"]) == "dsin"


def test_instantiate_inlines_the_rule_and_reports_its_reads():
    fn = _ir(sin_times, x=FLOAT, y=FLOAT)
    names = naming.Names(fn)
    call = next(s for s in fn.body if isinstance(s, ir.Call) and s.fn is np.sin)
    prim = registry.lookup(np.sin)
    exprs = {"g": E.name("dsin"), "ans": E.name("sin")}
    params, _ = rules_inline.bind_operands(prim, call, names, exprs)
    expr = rules_inline.instantiate(prim.vjps[0], ["g", "ans"], params, exprs, names)
    assert "np.cos(x)" in ast.unparse(expr)
    values, shapes = rules_inline.instance_reads(expr)
    assert "x" in values and "dsin" in values


def test_unbroadcast_dropped_for_scalars_and_read_as_shape_otherwise():
    expr = ast.parse("unbroadcast(g * y, x)", mode="eval").body
    assert rules_inline.instance_reads(expr) == ({"unbroadcast", "g", "y"}, {"x"})
    scalar = rules_inline.Unbroadcast(lambda node: True).visit(expr)
    assert ast.unparse(scalar) == "g * y"


# ----------------------------------------------------------------------- primal emitter
class _Spy(primal.Hooks):
    def __init__(self):
        self.recorded, self.loops = [], []

    def record(self, n):
        self.recorded.append(n)
        return []

    def before_loop(self, loop):
        self.loops.append(loop.index)
        return []


def test_primal_runs_as_the_function_and_calls_its_hooks():
    fn = _ir(prod_loop, x=VEC)
    spy = _Spy()
    names = naming.Names(fn)
    body = primal.Primal(fn, names, hooks=spy).block(fn.body)
    tree = E.function("f", list(fn.params), primal.flatten(body) + [E.return_(E.operand(fn.result, names))])
    namespace = dict(names.namespace)
    exec(compile(E.module([tree]), "<test>", "exec"), namespace)
    x = np.array([0.3, 0.5, 0.9])
    assert namespace["f"](x) == pytest.approx(prod_loop(x))
    defined = {n for s in ir.walk(fn.body) for n in ir.defined_names(s)}
    assert defined <= set(spy.recorded) and len(spy.loops) == 1


def test_forward_plugs_into_the_primal_instead_of_inheriting():
    assert not issubclass(Forward, reverse.Reverse) and issubclass(Forward, primal.Hooks)
    assert issubclass(tape_plan.TapePlan, primal.Hooks)


def test_while_loop_counts_its_trips():
    fn = _ir(while_loop, x=FLOAT)
    tree, _ = reverse.build_forward(fn, "probe")
    text = ast.unparse(tree)
    assert "trips = 0" in text and "trips += 1" in text


# ----------------------------------------------------------------------- tape plan
def _plan(fn, typemap=None):
    names = naming.Names(fn)
    plan = tape_plan.TapePlan(fn, names, typemap, set())
    plan.primal = primal.Primal(fn, names, typemap, hooks=plan)
    return plan


def _reads(values=(), shapes=()):
    return tape_plan.Reads(frozenset(values), frozenset(shapes))


def test_values_outside_loops_are_read_directly():
    fn = _ir(sin_times, x=FLOAT, y=FLOAT)
    plan = _plan(fn)
    assert plan.restores(fn.body, _reads({"x", "y", "sin"}), False, None, params=fn.params) == []
    assert not plan.record_stack and not plan.snapshot


def test_loop_values_are_recomputed_when_cheap_and_recorded_otherwise():
    fn = _ir(prod_loop, x=VEC)
    loop = next(s for s in fn.body if isinstance(s, ir.For))
    plan = _plan(fn)
    x_i = next(s.target for s in loop.body if isinstance(s, ir.GetItem))
    log = tape_plan.ReadLog()
    stmts = plan.restores(loop.body, _reads({x_i, loop.carried[0]}), True, None,
                          extra=list(loop.carried), log=log)
    text = _src(stmts)
    carried = loop.carried[0]
    assert f"{carried} = tape_{carried}.pop()" in text        # the running product: recorded
    assert f"{x_i} = x[{loop.index}]" in text                 # an element read: recomputed
    assert plan.record_stack == {carried}
    assert {"x", loop.index} <= log.values                    # what the recomputation reads
    push = _src(plan.record(carried))
    assert push == f"tape_{carried}.append({carried})"


def test_typed_scalars_in_a_top_level_range_loop_go_to_a_history():
    fn = _ir(prod_loop, x=VEC)
    loop = next(s for s in fn.body if isinstance(s, ir.For))
    carried = loop.carried[0]
    plan = _plan(fn, {carried: value_types.F64})
    layout = plan.layout(loop, False, None)
    stmts = plan.restores(loop.body, _reads({carried}), True, layout, extra=list(loop.carried))
    assert _src(stmts) == f"{carried} = tape_{carried}[{loop.index}]"
    assert layout.index_reads == {loop.index}
    assert _src(plan.before_loop(loop)) == f"tape_{carried} = hist_f64(len(range(n)))"


def test_a_shape_read_needs_no_restore_when_the_shape_is_fixed():
    fn = _ir(prod_loop, x=VEC)
    loop = next(s for s in fn.body if isinstance(s, ir.For))
    plan = _plan(fn)
    carried = loop.carried[0]
    assert plan.restores(loop.body, _reads(shapes={carried}), True, None, extra=list(loop.carried)) == []


def overwritten(x):
    u = x * 2.0
    y = np.sum(u * u)
    u[0] = 0.0
    return y + np.sum(u)


def test_arrays_written_in_place_later_are_snapshotted():
    fn = _ir(overwritten, x=VEC)
    plan = _plan(fn)
    assert plan.mutated_later("u") and not plan.mutated_later("x")
    stmts = plan.restores(fn.body, _reads({"u", "x"}), False, None, params=fn.params)
    assert _src(stmts) == "u = tape_u" and plan.snapshot == {"u"}
    assert _src(plan.record("u")) == "tape_u = copy_value(u)"


# ----------------------------------------------------------------------- adjoint emitter
PROGRAMS = [(f, dict(zip(inspect.signature(f).parameters,
                         [VEC if isinstance(a, np.ndarray) and a.ndim == 1 else
                          ("array", 2) if isinstance(a, np.ndarray) else FLOAT for a in args])))
            for _, f, _, args in CASES] + [
    (prod_loop, {"x": VEC}), (while_loop, {"x": FLOAT}), (sin_times, {"x": FLOAT, "y": FLOAT}),
    (overwritten, {"x": VEC})]


@pytest.mark.parametrize("fn, kinds", PROGRAMS, ids=[f.__name__ for f, _ in PROGRAMS])
def test_reported_reads_are_what_the_reverse_code_reads(fn, kinds, monkeypatch):
    """The plan's input (reads reported while emitting) matches the generated code."""
    monkeypatch.setattr(adjoint, "CHECK_READS", True)
    fn_ir = _ir(fn, **kinds)
    active = analyse(fn_ir, list(fn_ir.params))
    tree, _, _ = reverse.build_vjp(fn_ir, active, list(fn_ir.params), "f_vjp")
    assert isinstance(tree, ast.FunctionDef)


def test_adjoint_of_a_straight_line_call():
    fn = _ir(sin_times, x=FLOAT, y=FLOAT)
    active = analyse(fn, ["x", "y"])
    tree, _, locations = reverse.build_vjp(fn, active, ["x", "y"], "f_vjp")
    text = ast.unparse(tree)
    assert "np.cos(x)" in text and "tape" not in text
    assert locations["dsin"] == locations["sin"]        # an adjoint points at its value's line


# ----------------------------------------------------------------------- module shape
PARTS = [naming, rules_inline, primal, tape_plan, adjoint, reverse]


@pytest.mark.parametrize("module", PARTS, ids=[m.__name__.rsplit(".", 1)[1] for m in PARTS])
def test_parts_are_small(module):
    source = inspect.getsource(module)
    assert source.count("\n") <= 510
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.FunctionDef):
            assert node.end_lineno - node.lineno < 60, node.name
