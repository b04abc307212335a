"""Primal emission: the IR as Python statements, with hooks for what each mode adds.

`Primal` prints every statement of the IR the way a person would write it (``s = s + t``,
``for i in range(n)``, ``while True: ... if not c: break``), binds branch outputs and loop
carries with simultaneous assignments, and counts the iterations of while loops.  The
two modes plug into it through `Hooks`:

* reverse mode (`tape_plan.TapePlan`) records values on tapes after their definitions and
  at the top of loop bodies, and allocates histories before loops;
* forward mode (`forward.Forward`) emits each active value's tangent after its definition
  and binds tangents beside branch outputs and loop carries.

With the default `Hooks` the result is the primal alone, which `infer_types` types.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

from srcgrad import ir
from srcgrad.rules.effects import is_effect
from srcgrad.runtime import tape as tape_rt
from srcgrad.runtime.tape import list_append, list_pop, list_version
from srcgrad.transforms import emit as E
from srcgrad.transforms.types import dummy_value
from srcgrad.transforms.naming import Names

LIST_OPS = (list_append, list_pop, list_version)


@dataclass(frozen=True)
class Expr:
    """A ready-made expression standing where an IR operand is expected."""

    node: ast.expr


class Seq(list):
    """A statement list standing where one statement is expected (flattened on output)."""


def flatten(stmts):
    """Splice every `Seq` into the statement list around it (in nested blocks too)."""
    out = []
    for s in stmts:
        if isinstance(s, Seq):
            out.extend(flatten(s))
        else:
            for field_name in ("body", "orelse"):
                if hasattr(s, field_name) and isinstance(getattr(s, field_name), list):
                    setattr(s, field_name, flatten(getattr(s, field_name)))
            out.append(s)
    return out


def range_args(loop: ir.For, names) -> list:
    """``range`` arguments as a person writes them (``range(n)``, ``range(1, n)``...)."""
    args = [E.operand(o, names) for o in (loop.start, loop.stop, loop.step)]
    if isinstance(loop.step, ir.Const) and loop.step.value == 1:
        zero = isinstance(loop.start, ir.Const) and loop.start.value == 0
        return args[1:2] if zero else args[:2]
    return args


class Hooks:
    """What a mode adds to the primal; the defaults add nothing."""

    def record(self, n: str) -> list:
        """Statements right after ``n`` is defined (or at the top of a loop body, for a
        carried value; after the loop, for a trip count)."""
        return []

    def before_loop(self, loop: ir.For) -> list:
        """Statements just before a range loop (and before its carried values are bound)."""
        return []

    def after(self, s) -> list:
        """Statements after the primal statement ``s`` and its records."""
        return []

    def bind_beside(self, targets, values) -> list:
        """Statements after the primal binds ``targets`` to ``values`` (branch outputs,
        loop carries)."""
        return []


class Primal:
    """Emits the primal statements of ``fn``; ``hooks`` adds the mode's own."""

    def __init__(self, fn: ir.Function, names, typemap=None, hooks: Hooks | None = None):
        self.fn = fn
        self.names = names
        self.typemap = typemap or {}
        self.hooks = hooks or Hooks()

    def block(self, body) -> list:
        out = []
        for s in body:
            out += self.stmt(s)
        return out

    def stmt(self, s) -> list:
        out: list = []
        if isinstance(s, (ir.Call, ir.GetItem)):
            out.append(self.simple(s))
        elif isinstance(s, ir.Store):
            arr = E.name(self.names.var(s.array.name))
            out.append(E.assign(E.subscript(arr, E.operand(s.index, self.names), store=True),
                                E.operand(s.value, self.names)))
            out.append(E.assign(self.names.var(s.target), arr))
        elif isinstance(s, ir.Copy):
            out.append(E.assign(self.names.var(s.target), E.operand(s.value, self.names)))
        elif isinstance(s, ir.If):
            then = self.block(s.then_body) + self.bind_outs(s.outs, s.then_yields)
            orelse = self.block(s.else_body) + self.bind_outs(s.outs, s.else_yields)
            out.append(E.if_(E.operand(s.cond, self.names), then, orelse))
        elif isinstance(s, ir.For):
            out += self.for_loop(s)
        elif isinstance(s, ir.While):
            out += self.while_loop(s)
        for n in ir.defined_names(s):
            out += self.hooks.record(n)
        return out + self.hooks.after(s)

    def for_loop(self, s: ir.For) -> list:
        out = self.hooks.before_loop(s)
        out += self.bind_outs(s.carried, self.typed_inits(s))
        body = []
        for c in s.carried:
            body += self.hooks.record(c)
        body += self.block(s.body)
        body += self.bind_outs(s.carried, s.yields)
        out.append(E.for_range(self.names.var(s.index), range_args(s, self.names), body))
        return out + self.bind_outs(s.outs, [ir.Var(c) for c in s.carried])

    def while_loop(self, s: ir.While) -> list:
        trip = self.names.trip(s)
        out = self.bind_outs(s.carried, self.typed_inits(s))
        out.append(E.assign(trip, E.const(0)))
        body = []
        for c in s.carried:
            body += self.hooks.record(c)
        cond_code = self.block(s.cond_body)
        body += self.block(s.body)
        body += self.bind_outs(s.carried, s.yields)
        body.append(E.aug_add(E.name(trip), E.const(1)))
        cond = E.operand(s.cond, self.names)
        if cond_code:
            loop = E.while_(E.const(True), cond_code + [E.if_(E.not_(cond), [E.break_()])] + body)
        else:
            loop = E.while_(cond, body)
        out.append(loop)
        out += self.bind_outs(s.outs, [ir.Var(c) for c in s.carried])
        return out + self.hooks.record(trip)

    def simple(self, s) -> ast.stmt:
        """A call or element read (recomputed as it is by the reverse sweep, too)."""
        names = self.names
        if isinstance(s, ir.Call) and s.fn in LIST_OPS:
            return self.list_op(s)
        if isinstance(s, ir.Call) and s.fn is tape_rt.add_at:      # in place, then renamed
            array = E.name(names.var(s.args[0].name))
            return Seq([E.expr_stmt(E.primal_call(s, names)), E.assign(names.var(s.target), array)])
        if isinstance(s, ir.Call) and is_effect(s.fn):            # print(...): no result
            return E.expr_stmt(E.primal_call(s, names))
        if isinstance(s, ir.Call):
            return E.assign(names.var(s.target), E.primal_call(s, names))
        if isinstance(s, ir.GetItem):
            return E.assign(names.var(s.target),
                            E.subscript(E.operand(s.array, names), E.operand(s.index, names)))
        raise TypeError(s)

    def list_op(self, s: ir.Call):
        """List operations as Python spells them: ``items.append(v)``, ``v = items.pop()``."""
        items = E.name(self.names.var(s.args[0].name))
        target = self.names.var(s.target)
        if s.fn is list_pop:
            return E.assign(target, E.call(E.attr(items, "pop"), []))
        if s.fn is list_version:
            return E.assign(target, items)
        value = E.operand(s.args[1], self.names)
        return Seq([E.expr_stmt(E.call(E.attr(items, "append"), [value])), E.assign(target, items)])

    def typed_inits(self, loop) -> list:
        """Initial values, with names unbound before the loop given a value of their type."""
        inits = []
        for c, init in zip(loop.carried, loop.inits):
            if isinstance(init, ir.Const) and init.value is None and c in self.typemap:
                dummy = dummy_value(self.typemap[c])
                if dummy is not None:
                    init = Expr(dummy)
            inits.append(init)
        return inits

    def bind_outs(self, targets, values) -> list:
        pairs = [(t, v) for t, v in zip(targets, values) if not (isinstance(v, ir.Var) and v.name == t)]
        out = []
        if pairs:
            out.append(E.assign_many([self.names.var(t) for t, _ in pairs],
                                     [v.node if isinstance(v, Expr) else E.operand(v, self.names)
                                      for _, v in pairs]))
        return out + self.hooks.bind_beside(targets, values)


def build_forward(fn: ir.Function, fn_name: str):
    """The primal alone, as the forward sweep spells it (for type inference)."""
    names = Names(fn)
    body = Primal(fn, names).block(fn.body) + [E.return_(E.const(0))]
    return E.function(fn_name, list(fn.params), flatten(body)), names.namespace
