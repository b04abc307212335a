"""Activity analysis: which values carry derivatives.

A value is *active* when it depends on a differentiated input (varied) and the result
depends on it (useful).  Integers, booleans and the outputs of non-differentiable
primitives are never active.  Loops are solved to a fixpoint over their carried values.
"""

from __future__ import annotations

import numpy as np

from srcgrad import ir
from srcgrad.rules import registry

INACTIVE_KINDS = {"int", "bool", "shape"}


def rounds_to_integers(s: ir.Call) -> bool:
    """Whether the call converts its result to an integer or boolean ``dtype=``
    (``np.full(n, a, dtype=int)``): rounding has derivative zero, so none flows back."""
    dtype = s.kwargs.get("dtype")
    value = dtype.value if isinstance(dtype, ir.Const) else None
    try:
        return value is not None and np.dtype(value).kind in "iub"
    except TypeError:
        return False


def _deps(stmt) -> list[tuple[str, list[str]]]:
    """(defined value, values it depends on) pairs at this statement's own level."""
    if isinstance(stmt, ir.Call):
        prim = registry.lookup(stmt.fn)
        if prim is None:            # no rule: would a derivative reach it? (checked below)
            return [(stmt.target, [n for a in list(stmt.args) + list(stmt.kwargs.values())
                                   for n in ir.operand_vars(a)])]
        if prim.nondiff or rounds_to_integers(stmt):
            return [(stmt.target, [])]
        operands = registry.differentiable_operands(prim, stmt.args, stmt.kwargs)
        srcs = [n for a in operands for n in ir.operand_vars(a)]
        return [(stmt.target, srcs)]
    if isinstance(stmt, ir.GetItem):
        return [(stmt.target, ir.operand_vars(stmt.array))]
    if isinstance(stmt, ir.Store):
        return [(stmt.target, ir.operand_vars(stmt.array) + ir.operand_vars(stmt.value))]
    if isinstance(stmt, ir.Copy):
        return [(stmt.target, ir.operand_vars(stmt.value))]
    if isinstance(stmt, ir.If):
        return [(o, ir.operand_vars(t) + ir.operand_vars(e))
                for o, t, e in zip(stmt.outs, stmt.then_yields, stmt.else_yields)]
    if isinstance(stmt, (ir.For, ir.While)):
        pairs = []
        for c, init, y, o in zip(stmt.carried, stmt.inits, stmt.yields, stmt.outs):
            pairs.append((c, ir.operand_vars(init) + ir.operand_vars(y)))
            pairs.append((o, [c]))
        return pairs
    return []


def _edges(body, edges):
    for stmt in ir.walk(body):
        for target, srcs in _deps(stmt):
            edges.setdefault(target, set()).update(srcs)
    return edges


def analyse(fn: ir.Function, wrt: list[str]) -> set[str]:
    """The set of active SSA names for differentiating ``fn``'s result w.r.t. ``wrt``."""
    edges = _edges(fn.body, {})
    blocked = {n for n, k in fn.kinds.items() if k in INACTIVE_KINDS}
    blocked |= {n for n, g in fn.buffer_group.items() if g in fn.integer_groups}

    varied = set(w for w in wrt if w not in blocked)
    changed = True
    while changed:
        changed = False
        for target, srcs in edges.items():
            if target not in varied and target not in blocked and srcs & varied:
                varied.add(target)
                changed = True

    useful = set(ir.operand_vars(fn.result))
    reverse: dict[str, set[str]] = {}
    for target, srcs in edges.items():
        for s in srcs:
            reverse.setdefault(s, set()).add(target)
    stack = list(useful)
    consumers_of = {}
    for target, srcs in edges.items():
        consumers_of[target] = srcs
    while stack:
        n = stack.pop()
        for s in edges.get(n, ()):
            if s not in useful:
                useful.add(s)
                stack.append(s)
    active = {n for n in varied & useful if n not in blocked}
    for target, refusal in fn.no_rule.items():
        if target in active:
            raise refusal        # a differentiated value reaches a call without a rule
    # the versions of a list are one object: its adjoint (or tangent) list follows every
    # append and pop once any version carries derivatives
    active_lists = {fn.buffer_group[n] for n in active
                    if fn.kinds.get(n) == "list" and n in fn.buffer_group}
    active.update(n for n, g in fn.buffer_group.items()
                  if g in active_lists and fn.kinds.get(n) == "list")
    # a loop's carried value and its output share one adjoint variable in the reverse loop
    for stmt in ir.walk(fn.body):
        if isinstance(stmt, (ir.For, ir.While)):
            for c, o in zip(stmt.carried, stmt.outs):
                if (c in active or o in active) and c in varied:
                    active.update((c, o))
    return active
