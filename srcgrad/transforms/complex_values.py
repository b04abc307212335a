"""Complex values: refused where they meet a differentiated value (both modes).

The rules are written for real numbers (``np.abs``'s is ``g * sign(x)``); with a complex
intermediate they would return a wrong gradient without any error.
"""

from __future__ import annotations

import numpy as np

from srcgrad import ir
from srcgrad.errors import NonDifferentiableError
from srcgrad.rules import registry
from srcgrad.rules.registry import facts
from srcgrad.transforms.activity import INACTIVE_KINDS, _deps

COMPLEX_KINDS = ("complex", "complexarray")


def _is_complex_const(op) -> bool:
    if isinstance(op, ir.Const):
        v = op.value
        return isinstance(v, (complex, np.complexfloating)) or (
            isinstance(v, np.ndarray) and np.iscomplexobj(v))
    if isinstance(op, (ir.Seq, ir.Index)):
        return any(_is_complex_const(p) for p in (op.items if isinstance(op, ir.Seq) else op.parts))
    return False


def complex_values(fn: ir.Function) -> set:
    """Every value that may be complex: complex arguments and literals, and what they
    reach through any operation except those with a real result (``abs``)."""
    complex_names = {n for n, k in fn.kinds.items() if k in COMPLEX_KINDS}
    stmts = list(ir.walk(fn.body))
    changed = True
    while changed:
        changed = False
        for stmt in stmts:
            operands = ir.used_operands(stmt)
            if isinstance(stmt, ir.Call):     # every operand, shape-only ones too (full_like(C, x))
                prim = registry.lookup(stmt.fn)
                known = facts(stmt.fn)
                if known.result_kind == "real" or fn.kinds.get(stmt.target) in INACTIVE_KINDS or (
                        prim is not None and prim.nondiff and not known.keeps_complex):
                    continue
                pairs = [(stmt.target, [n for op in operands for n in ir.operand_vars(op)])]
            else:
                pairs = _deps(stmt)
            for target, srcs in pairs:
                if target not in complex_names and (set(srcs) & complex_names or any(
                        _is_complex_const(op) for op in operands)):
                    complex_names.add(target)
                    changed = True
    return complex_names


def refuse_complex(fn: ir.Function, active: set) -> None:
    """Refuse, at the user's line, a complex value meeting a differentiated one."""
    complex_names = complex_values(fn)
    for stmt in ir.walk(fn.body):
        if not isinstance(stmt, (ir.Call, ir.GetItem, ir.Store, ir.Copy)):
            continue
        operands = ir.used_operands(stmt)
        reads = {n for op in operands for n in ir.operand_vars(op)}
        if not (reads & active or stmt.target in active):
            continue
        if reads & complex_names or any(_is_complex_const(op) for op in operands):
            raise NonDifferentiableError(
                "a complex number meets a differentiated value here; srcgrad differentiates "
                "real arithmetic only (its rules would give a wrong gradient for complex "
                "intermediates). Compute with real and imaginary parts as separate real "
                "arrays instead", stmt.loc, "complex")
