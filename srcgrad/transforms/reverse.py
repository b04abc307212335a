"""Reverse: build the adjoint program (forward sweep, then reverse sweep) from the IR.

The generated function ``f_vjp(*params, seed)`` returns ``(value, grads)``.  The work is
split by role:

* `naming.Names` spells everything the generated code names;
* `adjoint.Adjoint` emits the reverse sweep, inlining vjp rules (`rules_inline`);
* `tape_plan.TapePlan` decides, block by block, which values the reverse sweep gets
  back and how (read directly, recomputed, snapshotted, or recorded on a history or a
  stack), and records them as the primal emitter's hooks;
* `primal.Primal` emits the forward sweep: the primal plus those records.

The reverse sweep is built first, reporting what it reads (`tape_plan.ReadLog`), so that
the plan knows what to restore; the forward sweep, which plays the plan, is built after
it and placed before it.
"""

from __future__ import annotations

import ast

from srcgrad import ir
from srcgrad.transforms import emit as E
from srcgrad.transforms.adjoint import Adjoint, Block, mutable_adjoints
from srcgrad.transforms.complex_values import refuse_complex
from srcgrad.transforms.naming import Names
from srcgrad.transforms.primal import Primal, build_forward, flatten
from srcgrad.transforms.rules_inline import inline_rule
from srcgrad.transforms.tape_plan import TapePlan, block_defs

__all__ = ["Reverse", "Names", "inline_rule", "build_vjp", "build_forward", "refuse_complex"]


class Reverse:
    """The parts of one adjoint program, wired together."""

    def __init__(self, fn: ir.Function, active: set, wrt: list[str], typemap=None):
        self.fn = fn
        self.wrt = wrt
        self.names = Names(fn)
        mutable = mutable_adjoints(fn, active)
        self.plan = TapePlan(fn, self.names, typemap, mutable)
        self.primal = Primal(fn, self.names, typemap, hooks=self.plan)
        self.plan.primal = self.primal
        self.adjoint = Adjoint(fn, active, self.names, typemap, self.plan, mutable)

    def build(self, fn_name: str) -> ast.FunctionDef:
        fn, names, adjoint, plan = self.fn, self.names, self.adjoint, self.plan
        names.taken.add(fn_name)
        top = Block(defs=set(fn.params) | block_defs(fn.body), in_loop=False)
        seed = names.fresh("seed")
        value = names.fresh("value")
        rev: list = []
        adjoint.seed_result(fn.result, E.name(seed), top, rev)
        rev += adjoint.block(fn.body, top)
        adjoint.check(adjoint.log, rev)
        restores = plan.restores(fn.body, adjoint.log.reads(), False, None, params=fn.params)
        grads = [E.name(adjoint.d(w)) if top.is_initialized(w) else adjoint.zeros(w)
                 for w in self.wrt]
        forward = [st for p in fn.params for st in plan.record(p)] + self.primal.block(fn.body)
        body = (plan.tape_setup() + forward + [E.assign(value, E.operand(fn.result, names))]
                + restores + rev + [E.return_(E.tuple_([E.name(value), E.tuple_(grads)]))])
        return E.function(fn_name, list(fn.params) + [seed], body)

    def locations(self) -> dict:
        """Generated name -> the user's source location it comes from (for error messages)."""
        where = {}
        for stmt in ir.walk(self.fn.body):
            for n in ir.defined_names(stmt):
                where[n] = stmt.loc
        for ssa, adjoint in self.names.adjoints.items():
            if ssa in where:
                where[adjoint] = where[ssa]
        return where


def build_vjp(fn: ir.Function, active: set, wrt: list[str], fn_name: str, typemap=None):
    """The adjoint function's syntax tree and the namespace it runs in."""
    refuse_complex(fn, active)
    rev = Reverse(fn, active, wrt, typemap)
    tree = rev.build(fn_name)
    tree.body = flatten(tree.body)
    return tree, rev.names.namespace, rev.locations()
