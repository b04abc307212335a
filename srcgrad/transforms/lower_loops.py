"""Lowering of loops: ``for`` over ranges, arrays, ``enumerate`` and ``zip`` becomes one
``range`` ``For``; ``while`` a ``While`` with its condition block.  Both carry every name
their body assigns (a tuple item by item).  A carried value found to be a tuple only
after the body was lowered makes the loop be lowered again (``Restructure``).
Comprehensions that run at run time are lowered as the loops they stand for.

``Loops`` is the part of ``lower.Lowerer`` that lowers them.
"""

from __future__ import annotations

import copy
import itertools
import operator

import gast

from srcgrad import ir
from srcgrad.errors import AliasingError
from srcgrad.transforms.containers import holds_mutable
from srcgrad.transforms.lower_values import (UNDEF, LocalFunction, Restructure, is_none,
                                             computes_with, join_kinds, reads_value, rebound_names,
                                             rebuild_tuple, target_hint, tuple_leaves,
                                             tuple_shape)


class Loops:
    """For and while loops, comprehensions run as loops (a part of ``lower.Lowerer``)."""

    def assigned_names(self, body) -> list[str]:
        names = []
        for stmt in body:
            for n in gast.walk(stmt):
                if isinstance(n, gast.Name) and isinstance(n.ctx, gast.Store):
                    names.append(n.id)
                elif isinstance(n, (gast.Assign, gast.AugAssign)):
                    targets = n.targets if isinstance(n, gast.Assign) else [n.target]
                    for t in targets:
                        for s in gast.walk(t):
                            if isinstance(s, gast.Subscript) and isinstance(s.value, gast.Name):
                                names.append(s.value.id)
                elif isinstance(n, gast.Call) and isinstance(n.func, gast.Name) and \
                        isinstance(self.env.get(n.func.id), LocalFunction):
                    names.extend(self.written_by(self.env[n.func.id].node, set()))
                elif isinstance(n, gast.Call) and self.lists.method_target(n) is not None:
                    names.append(n.func.value.id)
                elif isinstance(n, gast.Call):
                    names.extend(self.written_by_call(n))
        return sorted(set(names))

    def written_by(self, node, seen) -> list[str]:
        """Enclosing arrays a nested function writes in place (so loops calling it carry them)."""
        if id(node) in seen or isinstance(node, gast.Lambda):
            return []
        seen.add(id(node))
        own = {a.id for a in node.args.args}
        own |= {n.id for n in gast.walk(node) if isinstance(n, gast.Name) and isinstance(n.ctx, gast.Store)}
        written = []
        for n in gast.walk(node):
            if isinstance(n, (gast.Assign, gast.AugAssign)):
                targets = n.targets if isinstance(n, gast.Assign) else [n.target]
                written += [t.value.id for t in targets if isinstance(t, gast.Subscript)
                            and isinstance(t.value, gast.Name) and t.value.id not in own]
            elif isinstance(n, gast.Call) and isinstance(n.func, gast.Name) and \
                    isinstance(self.env.get(n.func.id), LocalFunction):
                written += self.written_by(self.env[n.func.id].node, seen)
        return written

    def stmt_For(self, node):
        static = self.containers.loop_items(node)
        if static is not None:
            for item in static:       # a loop over a container is unrolled
                self.bind(node.target, item, node)
                self.block(node.body)
            return
        self.lists.before_runtime_block(node.body, node)
        self.lower_loop(node, lambda shapes: self.lower_for(node, shapes))

    def stmt_While(self, node):
        if node.orelse:
            self.refuse(node, "loop 'else' clauses are not supported", "while-else")
        self.lists.before_runtime_block(node.body, node)
        self.lower_loop(node, lambda shapes: self.lower_while(node, shapes))

    def lower_loop(self, node, lower_once):
        """Lower a loop, again if a carried value turns out to be a tuple: its structure is
        known only once the body has been lowered, and then it is carried item by item.

        ``lower_once(shapes)`` lowers the loop with the given tuple structures per name.
        """
        shapes = {}
        while True:
            saved = self.snapshot()
            try:
                return lower_once(shapes)
            except Restructure as again:
                slot = self.loop_slot_of(again.carried, saved)
                if slot is None:
                    raise
                outer = self.outer_placeholder.get(again.carried)
                self.restore(saved)
                if outer is not None:     # the value comes from an enclosing loop
                    raise Restructure(outer, again.shape) from None
                shapes[slot] = again.shape

    def loop_slot_of(self, carried, saved):
        """The user name of ``carried`` if this loop (not an enclosing one) created it."""
        lowerer_state = saved[0][1]
        if carried in lowerer_state["taken"][1]:
            return None
        return self.user_names.get(carried)

    def snapshot(self) -> list:
        """The state of the lowerer and of its helpers, to lower a loop again from where it
        started (the lowerer's own state first)."""
        return [(part, _state(part)) for part in self.parts()]

    def restore(self, saved):
        for part, state in saved:
            _restore(part, state)

    def start_loop(self, names, node, shapes):
        """Create carried values for ``names`` (a tuple is carried item by item); returns
        one slot (name, structure, carried names, inits) per name."""
        slots = []
        for n in names:
            init = self.env.get(n, UNDEF)
            if isinstance(init, (list, dict)) or holds_mutable(init):
                self.refuse(first_change(node, n),
                            f"'{n}' is a {type(init).__name__} that changes inside a loop; a "
                            f"container's structure must be known when the derivative is "
                            f"generated (loops over containers are unrolled)", "loop")
            shape = tuple_shape(init) if isinstance(init, tuple) else shapes.get(n)
            leaves = tuple_leaves(self.spread(n, init, shape, node)) if shape is not None else [init]
            carried, inits = [], []
            for leaf in leaves:
                leaf = ir.Const(None) if leaf is UNDEF else leaf
                c = self.fresh(n, n)
                carried.append(c)
                inits.append(leaf)
                self.kinds[c] = self.kind(leaf) if self.kind(leaf) != "other" else None
                if isinstance(leaf, ir.Var) and leaf.name in self.groups:
                    self.kinds[c] = self.group_kind(leaf.name)
                    self.groups[c] = self.groups[leaf.name]
                    if leaf.name in self.ndims:
                        self.ndims[c] = self.ndims[leaf.name]
                if isinstance(leaf, ir.Var):
                    self.sources[c] = [leaf.name]
                if isinstance(leaf, ir.Var) and (leaf.name in self.owned or leaf.name in self.groups):
                    self.owned[c] = [leaf.name]
                if self.ndim_of(leaf):
                    self.ndims[c] = self.ndim_of(leaf)
                if is_none(leaf):
                    self.placeholders[c] = c
                elif isinstance(leaf, ir.Var) and leaf.name in self.placeholders:
                    self.placeholders[c] = c
                    self.outer_placeholder[c] = self.placeholders[leaf.name]
            vars_ = [ir.Var(c) for c in carried]
            self.env[n] = rebuild_tuple(shape, vars_) if shape is not None else vars_[0]
            slots.append((n, shape, carried, inits))
        return slots

    def finish_loop(self, slots, body_env, node, body=()):
        """Yields and outputs of the carried values; returns (carried, inits, yields, outs)."""
        kept = ([], [], [], [])
        done = []
        written = self.written_groups(body)
        for n, shape, carried, inits in slots:
            y = body_env.get(n, UNDEF)
            if isinstance(y, (list, dict)) or holds_mutable(y):
                if is_none(inits[0]) and len(inits) == 1:
                    self.env.pop(n, None)
                    continue
                self.refuse(node, f"'{n}' becomes a {type(y).__name__} inside a loop", "loop")
            if shape is None and isinstance(y, tuple):
                raise Restructure(carried[0], tuple_shape(y))
            if shape is not None:
                ys = tuple_leaves(self.spread(n, y, shape, node)) if y is not UNDEF else carried
            else:
                ys = [y]
            if shape is None and self.is_list(y) and is_none(inits[0]) and not reads_value(body, carried[0]):
                self.env.pop(n, None)         # a list made anew in each iteration
                continue
            outs = []
            for c, init, y in zip(carried, inits, ys):
                y = ir.Var(y) if isinstance(y, str) else y
                y = ir.Const(None) if y is UNDEF else y
                out = self.fresh(n, n)
                self.kinds[out] = join_kinds(self.kinds.get(c), self.kind(y))
                if is_none(init) and self.kinds.get(c) is None and self.kind(y) in ("float", "array"):
                    self.kinds[out] = self.kind(y)   # unbound before the loop: its last value
                if self.groups.get(c) in written and isinstance(y, ir.Var) \
                        and y.name not in self.groups and not self.make_buffer(y):
                    self.refuse_foreign_write(n, y, first_change(node, n),
                                              f"writing into '{n}' in this loop",
                                              f"give '{n}' an array made in this function "
                                              f"on every iteration")
                self.join_buffers(out, [ir.Var(c), y], node)
                self.sources[out] = [c] + ([y.name] if isinstance(y, ir.Var) else [])
                if isinstance(y, ir.Var):
                    self.sources.setdefault(c, []).append(y.name)
                self.own_if_all(out, [ir.Var(c), y])
                self.same_rank(out, [init, y])
                if c in self.groups:
                    self.kinds[c] = self.group_kind(c)
                self.carry_poison(n, c, y, out, body, node)
                done.append((n, c, init, y, out))
                outs.append(ir.Var(out))
                for lst, v in zip(kept, (c, init, y, out)):
                    lst.append(v)
            self.env[n] = rebuild_tuple(shape, outs) if shape is not None else outs[0]
        self.follow_loop_writes(done, body, node)
        return kept

    def carry_poison(self, n, carried, y, out, body, node):
        """A value made stale in the body (its array was written through another name, on
        some path) stays stale after the loop, and must not be read in the next iteration."""
        if not (isinstance(y, ir.Var) and y.name in self.poisoned):
            return
        where = self.poisoned[y.name]
        self.poisoned[out] = where
        if computes_with(body, carried):
            self.refuse(first_change(node, n),
                        f"'{n}' may share memory with an array written in place through another "
                        f"name at line {where.line}, so the value the next iteration reads is "
                        f"uncertain; write through '{n}' itself, or copy it (.copy())",
                        "stale alias", AliasingError)

    def reset_carried(self, slots):
        for n, shape, carried, _ in slots:
            vars_ = [ir.Var(c) for c in carried]
            self.env[n] = rebuild_tuple(shape, vars_) if shape is not None else vars_[0]

    def lower_for(self, node, shapes):
        start, stop, step, bind_item = self.iteration_space(node)
        names = self.assigned_names([node])
        slots = self.start_loop(names, node, shapes)
        index = self.fresh(node.target.id if isinstance(node.target, gast.Name) else "k",
                           node.target.id if isinstance(node.target, gast.Name) else None)
        self.kinds[index] = "int"
        saved_out = self.out
        self.out = []
        try:
            bind_item(ir.Var(index))
            self.block(node.body)
            body, body_env = self.out, dict(self.env)
        finally:
            self.out = saved_out
        self.reset_carried(slots)
        self.check_stale_reads(slots, body, node)
        carried, inits, yields, outs = self.finish_loop(slots, body_env, node, body)
        self.emit(ir.For(index, start, stop, step, carried, inits, body, yields, outs, self.loc(node)))

    def iteration_space(self, node):
        """(start, stop, step, binder) for a supported ``for`` header."""
        it = node.iter
        target = node.target
        callee = self.callee_of(it.func) if isinstance(it, gast.Call) else None
        if callee is range:
            if not isinstance(target, gast.Name):
                self.refuse(node, "the target of a range loop must be a name", "for")
            start, stop, step = self.range_args(it)

            def bind(index):
                self.env[target.id] = index
            return start, stop, step, bind
        length, item = self.iterable(it, node)

        def bind(index):
            self.bind(target, item(index, target_hint(target)), node)
        return ir.Const(0), length, ir.Const(1), bind

    def range_args(self, it):
        """start, stop, step operands of a ``range(...)`` call."""
        args = [self.as_operand(self.expr(a, "n"), it) for a in it.args]
        if not 1 <= len(args) <= 3:
            self.refuse(it, "range() takes one to three arguments", "range")
        if len(args) == 1:
            args = [ir.Const(0)] + args
        return args[0], args[1], args[2] if len(args) == 3 else ir.Const(1)

    def iterable(self, it, node):
        """(length, item) for an iterable: ``item(k)`` lowers the k-th element.

        ``enumerate`` and ``zip`` nest freely; ``range`` inside them is indexed
        arithmetically; anything else is indexed as a sequence or array.
        """
        callee = self.callee_of(it.func) if isinstance(it, gast.Call) else None
        if callee is enumerate:
            length, inner = self.iterable(it.args[0], node)
            return length, lambda k, hint=None: (k, inner(k))
        if callee is zip:
            parts = [self.iterable(a, node) for a in it.args]
            length = parts[0][0]
            for other, _ in parts[1:]:
                length = self.call(min, [length, other], {}, it, "n")
            return length, lambda k, hint=None: tuple(item(k) for _, item in parts)
        if callee is range:
            start, stop, step = self.range_args(it)
            span = self.call(range, [start, stop, step], {}, it, "span")
            length = self.call(len, [span], {}, it, "n")
            return length, lambda k, hint=None: self.call(operator.add, [start, self.call(
                operator.mul, [k, step], {}, it, None)], {}, it, hint)
        seq = self.expr(it, "seq")
        if isinstance(seq, tuple):
            seq = ir.Seq(seq)
        seq = self.as_operand(seq, it)
        if isinstance(it, gast.Name) and it.id not in rebound_names(node):
            # Python iterates the array object itself: writes in the body show in later items
            return self.length(seq, it), lambda k, hint=None: self.getitem(
                self.as_operand(self.lookup(it.id, it), it), ir.Index((k,)), node, hint)
        return self.length(seq, it), lambda k, hint=None: self.getitem(seq, ir.Index((k,)), node, hint)

    def length(self, seq, node):
        if isinstance(seq, ir.Seq):
            return ir.Const(len(seq.items))
        return self.call(len, [seq], {}, node, "n")

    def lower_while(self, node, shapes):
        names = self.assigned_names([node])
        slots = self.start_loop(names, node, shapes)
        saved_out = self.out
        self.out = []
        try:
            cond = self.condition(node.test)
            cond_body = self.out
            self.out = []
            self.block(node.body)
            body, body_env = self.out, dict(self.env)
        finally:
            self.out = saved_out
        self.reset_carried(slots)
        self.check_stale_reads(slots, cond_body + body, node)
        carried, inits, yields, outs = self.finish_loop(slots, body_env, node, cond_body + body)
        self.emit(ir.While(carried, inits, cond_body, cond, body, yields, outs, self.loc(node)))

    # ------------------------------------------------------------------ comprehensions
    def comprehension_loop(self, node, stmt, acc):
        """Lower ``stmt`` inside the comprehension's ``for``/``if`` clauses as statements;
        returns what ``acc`` holds after them.  The loop variables stay local."""
        names = {n.id for g in node.generators for n in gast.walk(g.target)
                 if isinstance(n, gast.Name)}
        saved = {n: self.env[n] for n in names if n in self.env}
        for gen in reversed(node.generators):
            if gen.is_async:
                self.refuse(node, "async comprehensions are not supported", "comprehension")
            for cond in reversed(gen.ifs):
                stmt = gast.If(test=cond, body=[stmt], orelse=[])
            stmt = gast.For(target=gen.target, iter=gen.iter, body=[stmt], orelse=[],
                            type_comment=None)
        for new in gast.walk(stmt):
            if not hasattr(new, "lineno") and isinstance(new, (gast.stmt, gast.expr)):
                gast.copy_location(new, node)
        try:
            self.stmt(stmt)
            return self.env[acc]
        finally:
            for n in names:
                self.env.pop(n, None)
            self.env.update(saved)

    def accumulator_name(self, base) -> str:
        """An environment name for a comprehension's result that no user variable can shadow."""
        if not hasattr(self, "_user_names_used"):
            self._user_names_used = {n.id for n in gast.walk(self.node) if isinstance(n, gast.Name)}
        for candidate in itertools.chain((base,), (f"{base}{k}" for k in itertools.count(1))):
            if candidate not in self.env and candidate not in self._user_names_used:
                return candidate

    def list_loop(self, node, hint=None):
        """``[elt for ... in <run-time iterable> if ...]`` as a loop appending to a new list."""
        name = self.accumulator_name("items")
        self.env[name] = self.lists.new_list(hint or name, node)
        append = gast.Call(func=gast.Attribute(value=_name(name), attr="append", ctx=gast.Load()),
                           args=[node.elt], keywords=[])
        stmt = gast.Expr(value=append)
        try:
            return self.comprehension_loop(node, stmt, name)
        finally:
            self.env.pop(name, None)


def _state(obj) -> dict:
    """The attributes of ``obj``, with a shallow copy of the contents of each container."""
    return {k: (v, copy.copy(v) if isinstance(v, (dict, list, set)) else None)
            for k, v in vars(obj).items()}


def _restore(obj, saved):
    for k, (value, contents) in saved.items():
        if isinstance(value, (dict, list, set)):
            if isinstance(value, list):
                value[:] = contents
            else:
                value.clear()
                value.update(contents)
        setattr(obj, k, value)
    for k in [k for k in vars(obj) if k not in saved]:
        delattr(obj, k)


def first_change(loop, name):
    """The first statement of a loop that assigns ``name`` or stores into it (for errors)."""
    for node in gast.walk(loop):
        if isinstance(node, (gast.Assign, gast.AugAssign)):
            targets = node.targets if isinstance(node, gast.Assign) else [node.target]
            for t in targets:
                while isinstance(t, (gast.Subscript, gast.Attribute)):
                    t = t.value
                if any(isinstance(n, gast.Name) and n.id == name for n in gast.walk(t)):
                    return node
    return loop


def _name(id_, store=False):
    return gast.Name(id=id_, ctx=gast.Store() if store else gast.Load(), annotation=None,
                     type_comment=None)
