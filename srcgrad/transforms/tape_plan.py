"""Tape planning: what the forward sweep records so that the reverse sweep can read it.

For each block of the reverse sweep, `TapePlan.restores` decides how every value of the
block that the reverse code reads becomes visible again at the start of the block's
reverse:

* outside loops a value defined once is read directly; an array written in place later
  is snapshotted (``copy_value``) in the forward sweep and read back;
* inside loops a cheap pure statement whose inputs are visible is recomputed; anything
  else is recorded, in a preallocated history (``tape_p[i]``) when the loop's trip count
  is known before it starts (`layout`), else on a typed stack.

What a block's reverse reads comes from the IR, not from generated code: the adjoint
emitter reports each value it puts into the code (operands, ``ans``, the values whose
shape ``zeros_like`` or ``unbroadcast`` takes) to a `ReadLog` as it emits, and the
restores of a nested block report what they read to the enclosing block's log.  (Which
operands an inlined rule reads is reported by rule instantiation,
`rules_inline.instance_reads`, from the rule's instantiated expression.)  `reads_of`,
which reads generated statements, is kept for the development check
``SRCGRAD_CHECK_READS=1`` that compares the two.

The plan is then played in the forward sweep through the primal emitter's hooks
(`record`: pushes, snapshots and history writes; `before_loop`: history allocation), and
`tape_setup` creates the stacks.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

import numpy as np

from srcgrad import ir
from srcgrad.runtime import tape as tape_rt
from srcgrad.transforms import emit as E
from srcgrad.rules.registry import facts
from srcgrad.transforms.types import tape_suffix
from srcgrad.transforms.primal import Hooks, flatten, range_args
from srcgrad.transforms.rules_inline import ReadVisitor, Substitute

_SCALAR = ("float", "int", "bool")


def writes_in_place(s) -> bool:
    """A store, or generated code's ``add_at``: the statement overwrites an array."""
    return isinstance(s, ir.Store) or (isinstance(s, ir.Call) and s.fn is tape_rt.add_at)


def block_defs(body) -> set:
    """Names the statements of ``body`` define at its own level."""
    out = set()
    for s in body:
        out.update(ir.defined_names(s))
    return out


def inner_defs(s) -> set:
    """Names defined inside a compound statement (and its carried values)."""
    names = set()
    for sub in ir.nested_bodies(s):
        for st in ir.walk(sub):
            names.update(ir.defined_names(st))
            if isinstance(st, (ir.For, ir.While)):
                names.update(st.carried)
    if isinstance(s, (ir.For, ir.While)):
        names.update(s.carried)
    return names


def contributed_inside(s) -> set:
    """Names a compound statement's reverse may contribute to (every name read inside)."""
    names = set()
    for sub in ir.nested_bodies(s):
        for st in ir.walk(sub):
            for op in ir.used_operands(st):
                names.update(ir.operand_vars(op))
            names.update(_yielded(st))
    return names | _yielded(s)


def _yielded(s) -> set:
    if isinstance(s, ir.If):
        return {n for y in s.then_yields + s.else_yields for n in ir.operand_vars(y)}
    if isinstance(s, (ir.For, ir.While)):
        return {n for y in s.yields for n in ir.operand_vars(y)}
    return set()


@dataclass
class Layout:
    """How a loop's recorded values map into histories allocated before ``root``."""

    root: "ir.For"                 # the outermost loop: histories are allocated before it
    index: object                  # () -> expression: the slot of the current iteration
    size: object                   # () -> expression: slots needed, valid before root
    root_setup: list               # trip counts of inner loops, computed before root
    index_reads: frozenset = frozenset()   # the names the slot expression reads


@dataclass(frozen=True)
class Reads:
    """The names a block's reverse code reads: for their value, or only for their shape."""

    values: frozenset
    shapes: frozenset          # read only for a shape (never also for the value)


class ReadLog:
    """What a block's reverse code reads, reported by the code's emitter as it goes (IR
    value names; generated names such as adjoints and tapes are never restored)."""

    def __init__(self, parent: "ReadLog | None" = None):
        self.parent = parent
        self.values: set = set()
        self.shapes: set = set()

    def value(self, *names):
        self.values.update(names)

    def operand(self, *ops):
        for op in ops:
            self.values.update(ir.operand_vars(op))

    def shape(self, name):
        self.shapes.add(name)

    def merge_into_parent(self):
        self.parent.values |= self.values
        self.parent.shapes |= self.shapes

    def reads(self) -> "Reads":
        return Reads(frozenset(self.values), frozenset(self.shapes - self.values))


class TapePlan(Hooks):
    """Decides, block by block, what the reverse sweep restores and how; records it in the
    forward sweep as the primal emitter's hooks."""

    def __init__(self, fn: ir.Function, names, typemap, mutable: set):
        self.fn = fn
        self.names = names
        self.typemap = typemap or {}
        self.mutable = mutable             # adjoints updated in place (adjoint.mutable_adjoints)
        self.primal = None                 # the primal emitter (recomputed statements)
        self.history: dict[str, Layout] = {}   # values written to a loop's history
        self.record_stack: set[str] = set()    # values pushed on a stack in the forward sweep
        self.snapshot: set[str] = set()    # top-level arrays copied before being overwritten
        self._inside: dict[int, set] = {}
        self._log: ReadLog | None = None
        self.stored_groups = {fn.buffer_group[s.target] for s in ir.walk(fn.body)
                              if writes_in_place(s) and s.target in fn.buffer_group}
        self.stmt_of = {n: stmt for stmt in ir.walk(fn.body) for n in ir.defined_names(stmt)}
        self.carried_sources = {c: (init, y) for loop in ir.walk(fn.body)
                                if isinstance(loop, (ir.For, ir.While))
                                for c, init, y in zip(loop.carried, loop.inits, loop.yields)}
        self._top_positions()

    # --------------------------------------------------------------- overwritten arrays
    def _top_positions(self):
        """Top-level statement index of each top-level value, and groups stored from each."""
        self.top_position = {p: -1 for p in self.fn.params}
        self.stores_from = []
        for k, s in enumerate(self.fn.body):
            for n in ir.defined_names(s):
                self.top_position[n] = k
            groups = {self.fn.buffer_group.get(st.target) for st in ir.walk([s])
                      if writes_in_place(st)}
            self.stores_from.append(groups)
        self.stores_from = [set()] + self.stores_from

    def mutated_later(self, v) -> bool:
        """Whether the array ``v`` names may be overwritten in place after its definition."""
        g = self.fn.buffer_group.get(v, self.fn.view_group.get(v))
        if g is None or g not in self.stored_groups:
            return False
        position = self.top_position.get(v)
        if position is None:
            return True              # defined inside a loop or branch: be conservative
        return any(g in stored for stored in self.stores_from[position + 2:])

    # --------------------------------------------------------------- the plan of a block
    def restores(self, body, reads: Reads, in_loop: bool, history: Layout | None,
                 params=(), extra=(), log: ReadLog | None = None) -> list:
        """Statements that make this block's values visible again at its reverse start.

        ``reads`` is what the block's reverse code reads; ``extra`` are values that exist
        from the start of each iteration (a loop's carried values).  What the restoring
        statements read themselves goes to ``log`` (the enclosing block's).
        """
        self._log = log
        used, shape_used = reads.values, reads.shapes
        local = {c: None for c in extra}     # carried values exist from the iteration's start
        for s in body:
            for n in ir.defined_names(s):
                local[n] = s
        for s in body:
            if isinstance(s, ir.While) and self.names.trip(s) in used and in_loop:
                local[self.names.trip(s)] = s
        needed = [n for n in local if n in used]
        if not in_loop:
            return self._top_restores(needed, local, used, params)
        memo: dict[str, bool] = {}   # a read of a shape needs the value if its shape may change
        needed += [n for n in local if n in shape_used and n not in used
                   and not self._shape_fixed(n, local, memo)]
        return self._loop_restores(needed, local, history)

    def _top_restores(self, needed, local, used, params) -> list:
        """Values defined once stay visible; only arrays written in place later need a copy."""
        restores = []
        for n in needed:
            if n in local and self.mutated_later(n):
                self.snapshot.add(n)
                restores.append(E.assign(n, E.name(self.names.tape(n))))
        for p in params:
            if p in used and self.mutated_later(p):
                self.snapshot.add(p)
                restores.append(E.assign(p, E.name(self.names.tape(p))))
        return restores

    def _loop_restores(self, needed, local, history) -> list:
        """Recompute what is cheap from visible values; read the rest from the tape."""
        order = {n: i for i, n in enumerate(local)}
        plan: dict[str, object] = {}
        pending = list(needed)
        memo: dict[str, bool] = {}
        while pending:
            n = pending.pop()
            if n in plan:
                continue
            s = local.get(n)
            if self._rebuildable(n, local, memo):
                plan[n] = s
                pending += [dep for op in ir.used_operands(s) for dep in ir.operand_vars(op)
                            if dep in local and dep not in plan]
            else:
                plan[n] = "pop"
        stmts = []
        for n in sorted(plan, key=lambda k: order[k]):
            how = plan[n]
            if how == "pop" and history is not None and self.history_suffix(n):
                self.history[n] = history
                self._reported(history.index_reads)
                stmts.append(E.assign(n, E.subscript(E.name(self.names.tape(n)), history.index())))
            elif how == "pop":
                self.record_stack.add(n)
                stmts.append(E.assign(n, E.call(E.attr(E.name(self.names.tape(n)), "pop"), [])))
            else:
                stmts.append(self.primal.simple(how))
                self._reported(n for op in ir.used_operands(how) for n in ir.operand_vars(op))
        return stmts

    def _reported(self, names):
        if self._log is not None:
            self._log.value(*names)

    # --------------------------------------------------------------- shapes across iterations
    def _shape_fixed(self, n, local, memo) -> bool:
        """Whether ``n`` has the same shape in every iteration of the loop defining ``local``
        (so reading its shape in the reverse sweep needs no restore).  Conservative."""
        if n not in local or self.fn.kinds.get(n) in _SCALAR:
            return True
        if n not in memo:
            memo[n] = True                   # optimistic around loop-carried cycles
            memo[n] = self._shape_fixed_at(local[n], n, local, memo)
        return memo[n]

    def _operand_fixed(self, op, local, memo) -> bool:
        if isinstance(op, ir.Slice):
            return all(b is None or isinstance(b, ir.Const) or b.name not in local
                       for b in (op.lower, op.upper, op.step))
        if isinstance(op, ir.Index):
            return all(self._operand_fixed(p, local, memo) for p in op.parts)
        return all(self._shape_fixed(d, local, memo) for d in ir.operand_vars(op))

    def _shape_fixed_at(self, s, n, local, memo) -> bool:
        fixed = lambda *ops: all(self._operand_fixed(op, local, memo) for op in ops)  # noqa: E731
        if self.fn.kinds.get(n) == "list":
            return False                     # a list's length changes as it is built
        if s is None:                        # a carried value: as its init and its yield
            return fixed(*self.carried_sources.get(n, ()))
        if isinstance(s, ir.Copy):
            return fixed(s.value)
        if isinstance(s, ir.GetItem):
            return fixed(s.array, s.index)
        if isinstance(s, ir.Store):
            return fixed(s.array)
        if isinstance(s, ir.If):
            k = s.outs.index(n)
            return fixed(s.then_yields[k], s.else_yields[k])
        if isinstance(s, (ir.For, ir.While)):
            k = s.outs.index(n)
            return fixed(s.inits[k], s.yields[k])
        known = facts(s.fn) if isinstance(s, ir.Call) else None
        if known is not None and (known.elementwise or isinstance(s.fn, np.ufunc)
                                  or known.reduction and known.result_kind is None):
            return fixed(*s.args, *s.kwargs.values())
        return False

    # --------------------------------------------------------------- recompute or record
    def _rebuildable(self, n, local, memo) -> bool:
        """Whether ``n`` can be recomputed from visible values and carried values alone.

        A value whose inputs would themselves need the tape is taped directly instead:
        one entry per iteration rather than one per input.
        """
        if n not in memo:
            s = local.get(n)
            memo[n] = False
            if s is not None and self._recomputable(s, local):
                deps = [d for op in ir.used_operands(s) for d in ir.operand_vars(op) if d in local]
                memo[n] = all(local[d] is None or self._rebuildable(d, local, memo) for d in deps)
        return memo[n]

    def _recomputable(self, s, local) -> bool:
        """Cheap pure statements whose inputs are visible are recomputed instead of taped."""
        if isinstance(s, ir.GetItem):
            arr = s.array
            return not (isinstance(arr, ir.Var) and (
                self.fn.kinds.get(arr.name) in ("buffer", "list")
                or self.mutated_later(arr.name) or arr.name in local))
        if isinstance(s, ir.Call):
            if not facts(s.fn).cheap and not isinstance(s.fn, np.ufunc):
                return False
            return not any(self.fn.kinds.get(dep) in ("buffer", "list")
                           for op in list(s.args) + list(s.kwargs.values())
                           for dep in ir.operand_vars(op))
        return False

    # --------------------------------------------------------------- histories
    def suffix(self, n) -> str | None:
        """The typed-stack suffix of ``n`` (``f64``, ``i64_2d``...; a trip counter is an
        integer), or None when its type is not known."""
        if n in self.typemap:
            return tape_suffix(self.typemap[n])
        return "i64" if n in self.names.trips.values() else None

    def history_suffix(self, n):
        """The history constructor suffix for ``n`` (typed scalars only), else None."""
        suffix = self.suffix(n)
        return suffix if suffix in ("f64", "f32", "i64", "bool") else None

    def iteration(self, loop: ir.For) -> ast.expr:
        """The 0-based iteration number of a range loop, from its index."""
        index = E.name(self.names.var(loop.index))
        start = E.operand(loop.start, self.names)
        zero_start = isinstance(loop.start, ir.Const) and loop.start.value == 0
        offset = index if zero_start else E.sub(index, start)
        if isinstance(loop.step, ir.Const) and loop.step.value == 1:
            return offset
        return E.binop(ast.FloorDiv, offset, E.operand(loop.step, self.names))

    @staticmethod
    def _iteration_reads(loop: ir.For) -> frozenset:
        """The IR values `iteration` reads (constants read nothing)."""
        return frozenset([loop.index, *ir.operand_vars(loop.start), *ir.operand_vars(loop.step)])

    def layout(self, loop, in_loop: bool, outer: Layout | None) -> Layout | None:
        """Where values recorded in ``loop``'s body go when its trip count is known early.

        A range loop outside other loops, and a range loop directly in the body of such a
        loop whose bounds do not change from one outer iteration to the next, get one
        preallocated history per recorded value, indexed by the (combined) iteration
        number.  Everything else records on stacks.
        """
        if not isinstance(loop, ir.For):
            return None
        if not in_loop:
            size = E.call("len", [E.call("range", range_args(loop, self.names))])
            return Layout(loop, lambda: self.iteration(loop), lambda: size, [],
                          self._iteration_reads(loop))
        if outer is None:
            return None
        hoisted = [self._hoist(op, outer.root) for op in (loop.start, loop.stop, loop.step)]
        if any(h is None for h in hoisted):
            return None
        if isinstance(loop.step, ir.Const) and loop.step.value == 1:
            zero = isinstance(loop.start, ir.Const) and loop.start.value == 0
            hoisted = hoisted[1:2] if zero else hoisted[:2]
        trips = self.names.fresh(f"trips_{self.names.var(loop.index)}")
        outer.root_setup.append(E.assign(trips, E.call("len", [E.call("range", hoisted)])))
        return Layout(outer.root,
                      lambda: E.add(E.mul(outer.index(), E.name(trips)), self.iteration(loop)),
                      lambda: E.mul(outer.size(), E.name(trips)), outer.root_setup,
                      outer.index_reads | self._iteration_reads(loop))

    def _hoist(self, op, root: ir.For):
        """``op`` as an expression valid before ``root`` starts, or None if it varies."""
        if isinstance(op, ir.Const):
            return E.operand(op, self.names)
        if not isinstance(op, ir.Var):
            return None
        if op.name not in self._loop_names(root):
            return E.name(self.names.var(op.name))
        stmt = self.stmt_of.get(op.name)
        if isinstance(stmt, ir.GetItem) and any(stmt is st for st in root.body) and \
                all(isinstance(p, ir.Const) for p in stmt.index.parts):
            array = self._hoist(stmt.array, root)      # k = shape[0] of a shape read here
            return None if array is None else E.subscript(array, E.operand(stmt.index, self.names))
        if not (isinstance(stmt, ir.Call) and facts(stmt.fn).cheap and not stmt.kwargs
                and any(stmt is st for st in root.body)):
            return None
        args = [self._hoist(a, root) for a in stmt.args]
        if any(a is None for a in args):
            return None
        mapping = {a.name: h for a, h in zip(stmt.args, args) if isinstance(a, ir.Var)}
        return Substitute(mapping, lambda node: node).visit(E.primal_call(stmt, self.names))

    def _loop_names(self, loop) -> set:
        key = id(loop)
        if key not in self._inside:
            self._inside[key] = inner_defs(loop) | {loop.index}
        return self._inside[key]

    # --------------------------------------------------------------- the forward sweep's side
    def before_loop(self, loop: ir.For) -> list:
        """Allocate, before ``loop``, the histories of values recorded in it (or loops in it)."""
        out = []
        layouts = [lay for lay in self.history.values() if lay.root is loop]
        if layouts:
            out += layouts[0].root_setup
        for n in sorted(v for v, lay in self.history.items() if lay.root is loop):
            ctor = f"hist_{self.history_suffix(n)}"
            self.names.namespace.setdefault(ctor, getattr(tape_rt, ctor))
            out.append(E.assign(self.names.tape(n), E.call(E.name(ctor), [self.history[n].size()])))
        return out

    def record(self, n) -> list:
        tape = self.names.tape
        if n in self.history:
            target = E.subscript(E.name(tape(n)), self.history[n].index(), store=True)
            return [E.assign(target, E.name(n))]
        if n in self.record_stack:
            value = E.name(n)
            if self.fn.kinds.get(n) == "buffer" or (n in self.mutable or n in self.fn.view_group) \
                    and self.mutated_later(n):
                value = E.call("copy_value", [value])
            elif getattr(self.typemap.get(n), "layout", "C") != "C":
                value = E.call("np.ascontiguousarray", [value])   # typed stacks hold C arrays
            return [E.expr_stmt(E.call(E.attr(E.name(tape(n)), "append"), [value]))]
        if n in self.snapshot:
            return [E.assign(tape(n), E.call("copy_value", [E.name(n)]))]
        return []

    def tape_setup(self) -> list:
        """One typed stack per recorded value; a plain ``[]`` when its type has no typed
        stack (a tuple of results, such as ``np.linalg.slogdet``'s): Numba types that list
        from its appends."""
        out = []
        for n in sorted(self.record_stack):
            suffix = self.suffix(n)
            if suffix is None:
                out.append(E.assign(self.names.tape(n), E.list_([])))
                continue
            ctor = f"stack_{suffix}"
            self.names.namespace.setdefault(ctor, getattr(tape_rt, ctor))
            out.append(E.assign(self.names.tape(n), E.call(E.name(ctor), [])))
        return out


def reads_of(stmts) -> Reads:
    """What the generated statements ``stmts`` read (names read only for a shape apart).

    Not used to plan: only by the development check that compares it with the reads the
    adjoint emitter reported (`adjoint.check_reads`).
    """
    reader = ReadVisitor()
    for s in flatten(list(stmts)):
        reader.visit(s)
    return Reads(frozenset(reader.names), frozenset(reader.shapes - reader.names))


def check_reads(reads, code, fn: ir.Function, names):
    """Development check: the reads reported while emitting ``code`` are the IR values
    that ``code`` reads (`tape_plan.reads_of`)."""
    known = set(fn.params) | set(names.trips.values())
    for st in ir.walk(fn.body):
        known.update(ir.defined_names(st))
        if isinstance(st, (ir.For, ir.While)):
            known.update(st.carried)
            known.update([st.index] if isinstance(st, ir.For) else [])
    seen = reads_of(code)
    got = (reads.values & known, reads.shapes & known)
    want = (seen.values & known, seen.shapes & known)
    if got != want:
        raise AssertionError(f"reads reported {got}, code reads {want}")
