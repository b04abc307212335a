"""Adjoint emission: the reverse sweep, block by block, backwards.

For every call with active arguments the registered vjp rules are inlined
(`rules_inline`); a value's adjoint ``d<name>`` is created by its first contribution and
later contributions are added to it.  An adjoint that receives element-wise updates
(``dx[i] += ...``) or belongs to an array written in place starts as zeros and is
updated in place, and is never shared with another (`mutable_adjoints`).  Loops run
backwards over the same index values (``range`` loops) or the recorded trip count
(``while``); their carried adjoints travel in the adjoint variables of the loop's
outputs.  Branches replay their condition.  What each block's reverse reads is made
visible again by the tape plan (`tape_plan.TapePlan.restores`).
"""

from __future__ import annotations

import ast
import os
from dataclasses import dataclass, field

import numpy as np

from srcgrad import ir
from srcgrad.errors import NonDifferentiableError
from srcgrad.rules import registry
from srcgrad.runtime.tape import list_append, list_pop
from srcgrad.transforms import emit as E
from srcgrad.transforms.types import tape_suffix
from srcgrad.transforms.primal import Seq
from srcgrad.transforms.rules_inline import (bind_operands, instance_reads, instantiate, scalar_call,
                                             scalar_test)
from srcgrad.transforms.tape_plan import (Layout, ReadLog, block_defs, check_reads, contributed_inside,
                                          inner_defs, writes_in_place)


def mutable_adjoints(fn: ir.Function, active: set) -> set[str]:
    """Adjoints updated in place: indexed reads, in-place arrays, and what they rename."""
    mutable = {n for n, k in fn.kinds.items() if k in ("buffer", "list")}
    links: list[tuple[str, str]] = []
    for s in ir.walk(fn.body):
        if isinstance(s, ir.GetItem) and isinstance(s.array, ir.Var):
            mutable.add(s.array.name)
        if isinstance(s, ir.Store):
            links.append((s.target, s.array.name))
        elif writes_in_place(s):
            links.append((s.target, s.args[0].name))
        if isinstance(s, (ir.For, ir.While)):
            for c, y, o in zip(s.carried, s.yields, s.outs):
                links.append((c, o))
                if isinstance(y, ir.Var):
                    links.append((y.name, o))
    changed = True
    while changed:
        changed = False
        for a, b in links:
            if (a in mutable) != (b in mutable):
                mutable.update((a, b))
                changed = True
    return mutable & active


@dataclass
class Block:
    """Reverse-sweep state of one block: what is defined here and what has an adjoint."""

    defs: set
    in_loop: bool
    initialized: set = field(default_factory=set)
    parent: "Block | None" = None
    history: "Layout | None" = None     # values here are taped in preallocated histories

    def is_initialized(self, v):
        b = self
        while b is not None:
            if v in b.initialized:
                return True
            b = b.parent
        return False


CHECK_READS = os.environ.get("SRCGRAD_CHECK_READS") == "1"


class Adjoint:
    """Emits the reverse sweep of ``fn`` for the values in ``active``."""

    def __init__(self, fn: ir.Function, active: set, names, typemap, plan, mutable: set):
        self.fn = fn
        self.active = active
        self.names = names
        self.typemap = typemap or {}
        self.plan = plan
        self.mutable = mutable
        self.item_of: dict[str, str] = {}       # synthetic tuple item -> its tuple
        self.is_scalar = scalar_test(fn)
        self.log = ReadLog()                    # what the current block's reverse reads

    def check(self, log: ReadLog, code: list):
        """With ``SRCGRAD_CHECK_READS=1`` (development), compare the reads reported while
        emitting ``code`` with what ``code`` reads."""
        if CHECK_READS:
            check_reads(log.reads(), code, self.fn, self.names)

    # --------------------------------------------------------------- adjoint variables
    def d(self, v):
        return self.names.adjoint(v)

    def contribute(self, v: str, value: ast.expr, block: Block, out: list, move=False):
        """Add ``value`` to the adjoint of ``v``, creating it on first use.

        ``move`` says ``value`` is an adjoint nobody reads afterwards, so even an adjoint
        updated in place may take it over instead of copying it.
        """
        if v not in self.active:
            return
        # all versions of a list are one object, and so is its adjoint: a contribution
        # is always the whole adjoint list, handed on
        takes_over = self.fn.kinds.get(v) == "list" or (
            move and v in self.mutable and not block.is_initialized(v))
        dv = self.d(v)
        if takes_over:
            out.append(E.assign(dv, value))
        elif block.is_initialized(v):
            if v in self.mutable:
                out.append(E.aug_add(E.name(dv), value))
            else:
                out.append(E.assign(dv, E.add(E.name(dv), value)))
            return
        elif v in self.mutable:
            out.append(E.assign(dv, self.zeros(v)))
            out.append(E.aug_add(E.name(dv), value))
        else:
            out.append(E.assign(dv, value))
        self.owner_block(v, block).initialized.add(v)

    def zeros(self, v):
        """A zero adjoint for ``v``: a literal for float64 scalars, else ``zeros_like(v)``."""
        if v in self.typemap and tape_suffix(self.typemap[v]) == "f64" and \
                self.fn.kinds.get(v) != "list":
            return E.const(0.0)
        self.log.shape(v)
        return E.call(E.name("zeros_like"), [E.name(self.names.var(v))])

    def init_zero(self, v, block: Block, out: list):
        if v in self.fn.arity:
            for i in range(self.fn.arity[v]):
                item = self._item(v, i)
                if not block.is_initialized(item):
                    element = E.subscript(E.name(self.names.var(v)), E.const(i))
                    self.log.value(v)
                    out.append(E.assign(self.d(item), E.call("zeros_like", [element])))
                    self.owner_block(item, block).initialized.add(item)
            return
        if v in self.active and not block.is_initialized(v):
            out.append(E.assign(self.d(v), self.zeros(v)))
            self.owner_block(v, block).initialized.add(v)

    def owner_block(self, v, block: Block) -> Block:
        v = self.item_of.get(v, v)
        b = block
        while b is not None:
            if v in b.defs:
                return b
            b = b.parent
        return block

    def seed_result(self, result, seed: ast.expr, block: Block, out: list):
        if isinstance(result, ir.Var):
            self.contribute(result.name, seed, block, out)
        elif isinstance(result, ir.Seq):
            for i, item in enumerate(result.items):
                self.seed_result(item, E.subscript(seed, E.const(i)), block, out)

    # --------------------------------------------------------------- statements
    def block(self, body, block: Block) -> list:
        out: list = []
        for stmt in reversed(body):
            out += self.stmt(stmt, block)
        return out

    def stmt(self, s, block: Block) -> list:
        out: list = []
        if isinstance(s, ir.Call):
            self.call(s, block, out)
        elif isinstance(s, ir.GetItem):
            self.getitem(s, block, out)
        elif isinstance(s, ir.Store):
            self.store(s, block, out)
        elif isinstance(s, ir.Copy):
            if s.target in self.active and block.is_initialized(s.target) and isinstance(s.value, ir.Var):
                self.contribute(s.value.name, E.name(self.d(s.target)), block, out)
        elif isinstance(s, ir.If):
            self.if_(s, block, out)
        elif isinstance(s, (ir.For, ir.While)):
            self.loop(s, block, out)
        return out

    def call(self, s: ir.Call, block: Block, out: list):
        t = s.target
        prim = registry.lookup(s.fn)
        if prim is None:         # a call without a rule: inactive (activity refused otherwise)
            return
        if prim.structural:
            self.list_op(s, block, out)
            return
        if t not in self.active or not self._has_adjoint(t, block) or prim.nondiff:
            return
        if prim.joint is not None:
            self.joint(s, prim, block, out)
            return
        if t in self.fn.arity:          # a tuple of results: the tuple of their cotangents
            out.append(E.assign(self.d(t), self._cotangent(t, block)))
        exprs = {"g": E.name(self.d(t)), "ans": E.name(self.names.var(t))}
        params, bound = bind_operands(prim, s, self.names, exprs)
        for pos, pname in enumerate(params):
            value = bound.get(pname)
            if isinstance(value, (ir.Var, ir.Seq)):
                self.argument(s, prim, pos, pname, value, (params, exprs), block, out)

    def argument(self, s, prim, pos, pname, value, bound, block: Block, out: list):
        """The contribution of one call to the adjoint of its argument ``pname``."""
        params, exprs = bound
        items = [value] if isinstance(value, ir.Var) else list(value.items)
        active_items = [i for i, it in enumerate(items) if isinstance(it, ir.Var) and it.name in self.active]
        rule = prim.vjps.get(pos)
        if not active_items or rule is registry.ZERO:
            return
        if rule is None:
            raise NonDifferentiableError(
                f"{prim.name} has no derivative with respect to its argument '{pname}'",
                s.loc, prim.name)
        leading = ["g", "ans"]
        if pos in prim.into:           # the rule adds into the list's adjoint itself
            self.list_adjoint(value.name, block, out)
            exprs["adjoint"] = E.name(self.d(value.name))
            leading = ["adjoint"] + leading
        expr = instantiate(rule, leading, params, exprs, self.names,
                           self.is_scalar if scalar_call(self.fn, s) else None)
        values, shapes = instance_reads(expr)
        self.log.values |= values
        self.log.shapes |= shapes
        if isinstance(value, ir.Seq) and pos not in prim.seq_params:
            raise NonDifferentiableError(
                f"a {value.kind} of values is passed as '{pname}' of {prim.name}, which takes "
                f"a single number or array; unpack it first, or make it an array "
                f"(np.array(...))", s.loc, prim.name)
        if pos in prim.seq_params and isinstance(value, ir.Seq):
            tmp = self.names.fresh(self.d(s.target) + "_parts")
            out.append(E.assign(tmp, expr))
            for i in active_items:
                self.contribute(items[i].name, E.subscript(E.name(tmp), E.const(i)), block, out)
        else:
            self.contribute(value.name, expr, block, out)

    def joint(self, s: ir.Call, prim, block: Block, out: list):
        """One call of a rule that returns every argument's cotangent, then contributions."""
        active = [(i, a.name) for i, a in enumerate(s.args)
                  if isinstance(a, ir.Var) and a.name in self.active]
        if not active:
            return
        t = s.target
        parts = self.names.fresh(self.d(t) + "_parts")
        rule = E.name(self.names.global_ref(prim.joint, prim.fn.__name__ + "_vjp"))
        args = [self._cotangent(t, block), E.name(self.names.var(t))] + \
            [E.operand(a, self.names) for a in s.args]
        self.log.value(t)
        self.log.operand(*s.args)
        out.append(E.assign(parts, E.call(rule, args)))
        for i, name in active:
            self.contribute(name, E.subscript(E.name(parts), E.const(i)), block, out)

    # ---- lists: the adjoint list mirrors the primal one, operations undone in reverse
    def list_op(self, s: ir.Call, block: Block, out: list):
        """Undo one list operation on the adjoint list.

        An append's adjoint pops the appended value's cotangent; a pop's pushes the popped
        value's cotangent back.  Every operation on an active list is undone (even one whose
        value has no derivative), so the adjoint list always has the primal's length.
        """
        items = s.args[0].name
        if items not in self.active:
            return
        if s.fn is list_pop:
            self.list_adjoint(items, block, out)
            v = s.target
            if v in self.active and block.is_initialized(v):
                dv = E.name(self.d(v))
            else:
                dv = E.call("zeros_like", [E.name(self.names.var(v))])
                self.log.shape(v)
            out.append(E.expr_stmt(E.call(E.attr(E.name(self.d(items)), "append"), [dv])))
            return
        self.list_adjoint(s.target, block, out)
        d_new = E.name(self.d(s.target))
        if s.fn is list_append:
            popped = E.call(E.attr(d_new, "pop"), [])
            value = s.args[1]
            if isinstance(value, ir.Var) and value.name in self.active:
                self.contribute(value.name, popped, block, out)
            else:
                out.append(E.expr_stmt(popped))
        self.contribute(items, d_new, block, out)

    def list_adjoint(self, v, block: Block, out: list):
        """Make sure the adjoint list of ``v`` exists (zeros for what the list holds now)."""
        if not block.is_initialized(v):
            self.log.shape(v)
            out.append(E.assign(self.d(v), E.call("zeros_like", [E.name(self.names.var(v))])))
            self.owner_block(v, block).initialized.add(v)

    # ---- tuples returned by calls: one adjoint per item
    def _item(self, x, i) -> str:
        """The synthetic value standing for item ``i`` of the tuple ``x``."""
        name = f"{x}_item{i}"
        if name not in self.item_of:
            self.item_of[name] = x
            self.active.add(name)
        return name

    def _has_adjoint(self, t, block: Block) -> bool:
        if t in self.fn.arity:
            return any(block.is_initialized(self._item(t, i)) for i in range(self.fn.arity[t]))
        return block.is_initialized(t)

    def _cotangent(self, t, block: Block) -> ast.expr:
        """The adjoint of ``t`` as one expression (a tuple for a tuple of results)."""
        if t not in self.fn.arity:
            return E.name(self.d(t))
        items = []
        for i in range(self.fn.arity[t]):
            item = self._item(t, i)
            if block.is_initialized(item):
                items.append(E.name(self.d(item)))
            else:
                self.log.value(t)
                items.append(E.call("zeros_like", [E.subscript(E.name(self.names.var(t)), E.const(i))]))
        return E.tuple_(items)

    # ---- element reads and in-place writes
    def getitem(self, s: ir.GetItem, block: Block, out: list):
        t = s.target
        if t not in self.active or not block.is_initialized(t) or not isinstance(s.array, ir.Var):
            return
        x = s.array.name
        if x not in self.active:
            return
        if x in self.fn.arity:
            self.contribute(self._item(x, s.index.parts[0].value), E.name(self.d(t)), block, out)
            return
        if not block.is_initialized(x):
            self.init_zero(x, block, out)
        index = E.operand(s.index, self.names)
        self.log.operand(s.index)
        if self._basic_index(s.index):
            out.append(E.aug_add(E.subscript(E.name(self.d(x)), index), E.name(self.d(t))))
        else:
            out.append(E.expr_stmt(E.call(E.name("add_at"), [E.name(self.d(x)), index, E.name(self.d(t))])))

    def _basic_index(self, index: ir.Index) -> bool:
        for p in index.parts:
            if p is None or p is Ellipsis or isinstance(p, ir.Slice) or (
                    isinstance(p, ir.Const) and (p.value is None or p.value is Ellipsis)):
                continue
            if isinstance(p, ir.Const) and isinstance(p.value, (int, np.integer)):
                continue
            if isinstance(p, ir.Var) and self.fn.kinds.get(p.name) == "int":
                continue
            return False
        return True

    def store(self, s: ir.Store, block: Block, out: list):
        u2, u1 = s.target, s.array.name
        if u2 not in self.active or not block.is_initialized(u2):
            return
        du2 = E.name(self.d(u2))
        index = E.operand(s.index, self.names)
        self.log.operand(s.index)
        later = None                 # u[...] = u: the value's cotangent joins du1 after
        if isinstance(s.value, ir.Var) and s.value.name in self.active:
            piece = E.subscript(du2, index)
            if not self._scalar_index(s):
                self.log.shape(s.value.name)
                piece = E.call("unbroadcast", [E.call("np.copy", [piece]), E.name(self.names.var(s.value.name))])
            if s.value.name == u1:
                later = self.names.fresh(f"{self.d(u1)}_stored")
                out.append(E.assign(later, piece))
            else:
                self.contribute(s.value.name, piece, block, out)
        out.append(E.assign(E.subscript(du2, index, store=True), E.const(0.0)))
        if u1 in self.active:
            out.append(E.assign(self.d(u1), du2))
            self.owner_block(u1, block).initialized.add(u1)
        if later is not None:
            self.contribute(u1, E.name(later), block, out)

    def _scalar_index(self, s: ir.Store) -> bool:
        parts = s.index.parts
        return all((isinstance(p, ir.Const) and isinstance(p.value, (int, np.integer))) or
                   (isinstance(p, ir.Var) and self.fn.kinds.get(p.name) == "int") for p in parts) and \
            getattr(self.fn, "ndims", {}).get(s.array.name) == len(parts)

    # ---- control flow
    def _pre_init(self, s, block: Block, out: list):
        """Create, before a compound statement's reverse, adjoints it updates from inside."""
        for v in sorted(contributed_inside(s)):
            if v in self.active and not block.is_initialized(v) and v not in inner_defs(s):
                self.init_zero(v, block, out)

    def restored(self, body, sub: Block, emit, extra=()) -> list:
        """The reverse code ``emit()`` of a nested block, preceded by the statements that
        make the values it reads visible again (`TapePlan.restores`)."""
        parent = self.log
        self.log = ReadLog(parent)
        try:
            code = emit()
        finally:
            log, self.log = self.log, parent
        self.check(log, code)
        log.merge_into_parent()
        return self.plan.restores(body, log.reads(), sub.in_loop, sub.history, extra=extra,
                                  log=parent) + code

    def branch(self, body, yields, live, s: ir.If, sub: Block) -> list:
        """One branch backwards, after the adjoints of what it yielded."""
        code: list = []
        for i in live:
            y = yields[i]
            if isinstance(y, ir.Var):
                self.contribute(y.name, E.name(self.d(s.outs[i])), sub, code, move=True)
        return code + self.block(body, sub)

    def if_(self, s: ir.If, block: Block, out: list):
        live = [i for i, o in enumerate(s.outs) if o in self.active and block.is_initialized(o)]
        if not live and not any(n in self.active for n in inner_defs(s)):
            return
        self._pre_init(s, block, out)
        branches = []
        for body, yields in ((s.then_body, s.then_yields), (s.else_body, s.else_yields)):
            sub = Block(defs=block_defs(body), in_loop=block.in_loop, parent=block)
            branches.append(self.restored(body, sub, lambda: self.branch(body, yields, live, s, sub)))
        if not branches[0] and not branches[1]:
            return
        cond = E.operand(s.cond, self.names)
        self.log.operand(s.cond)
        if branches[0]:
            out.append(E.if_(cond, branches[0], branches[1]))
        else:
            out.append(E.if_(E.not_(cond), branches[1]))

    def loop(self, s, block: Block, out: list):
        live = [j for j, (c, o) in enumerate(zip(s.carried, s.outs)) if o in self.active or c in self.active]
        if not live and not any(n in self.active for n in inner_defs(s)):
            return
        self._pre_init(s, block, out)
        for j in live:
            self.init_zero(s.outs[j], block, out)
        defs = block_defs(s.body) | set(s.carried)
        if isinstance(s, ir.For):
            defs.add(s.index)
        sub = Block(defs=defs, in_loop=True, parent=block,
                    history=self.plan.layout(s, block.in_loop, block.history))
        code = self.restored(s.body, sub, lambda: self.loop_body(s, live, sub), extra=list(s.carried))
        if isinstance(s, ir.For):
            out.append(self.reverse_range(s, code))
        else:
            trip = self.names.trip(s)
            self.log.value(trip)
            out.append(E.for_range("_", [E.name(trip)], code))
        for j in live:
            init = s.inits[j]
            if isinstance(init, ir.Var) and init.name in self.active:
                self.contribute(init.name, E.name(self.d(s.outs[j])), block, out, move=True)

    def loop_body(self, s, live, sub: Block) -> list:
        """One reverse iteration: the body backwards, then the carried adjoints handed on."""
        code: list = []
        # the adjoint arriving at the end of an iteration flows into what the body yielded
        for j in live:
            y = s.yields[j]
            if isinstance(y, ir.Var) and y.name in self.active:
                self.contribute(y.name, E.name(self.d(s.outs[j])), sub, code, move=True)
        code += self.block(s.body, sub)
        tail_targets, tail_values = [], []
        for j in live:
            c = s.carried[j]
            tail_targets.append(self.d(s.outs[j]))
            tail_values.append(E.name(self.d(c)) if sub.is_initialized(c) and c in self.active
                               else self.zeros(c))
        if tail_targets:
            code.append(E.assign_many(tail_targets, tail_values))
        return code

    def reverse_range(self, s: ir.For, code):
        start, stop, step = (E.operand(o, self.names) for o in (s.start, s.stop, s.step))
        self.log.operand(s.start, s.stop, s.step)
        index = self.names.var(s.index)
        if isinstance(s.step, ir.Const) and s.step.value == 1:
            first = E.sub(stop, E.const(1))
            last = E.sub(start, E.const(1)) if not (isinstance(s.start, ir.Const) and s.start.value == 0) \
                else E.const(-1)
            if isinstance(s.start, ir.Const) and s.start.value != 0:
                last = E.const(s.start.value - 1)
            return E.for_range(index, [first, last, E.const(-1)], code)
        bounds = self.names.fresh(f"{index}_bounds")
        loop = E.for_range(index, [E.subscript(E.name(bounds), E.const(k)) for k in range(3)], code)
        return Seq([E.assign(bounds, E.call("reversed_range", [start, stop, step])), loop])
