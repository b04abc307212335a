"""Iteration over containers at transform time: what a name or subscript denotes now
(``peek``, ``static_value``), the items a ``for`` header or comprehension iterates over
when they are known now, loops and comprehensions unrolled over them, and ``sum`` of a
container or of a generator over a run-time range (a loop with an accumulator).

``Iteration`` is a helper object of the lowerer's ``Containers`` (``containers.iteration``);
it holds no state of its own.  Its interface: ``peek``, ``static_value``,
``static_iterable``, ``static_loop_items``, ``unrolls``, ``unroll_comprehension`` and
``container_sum``.  It uses the lowerer's ``expr``, ``as_operand``, ``call``, ``bind``,
``kind``, ``callee_of``, ``assigned_names``, ``accumulator_name``,
``comprehension_loop``, ``refuse`` and ``env``.
"""

from __future__ import annotations

import operator

import gast

from srcgrad import ir, pytree
from srcgrad.transforms.containers import (DICT_VIEWS, NOTHING, dict_view, is_container,
                                           items_of)


class Iteration:
    """Loops, comprehensions and ``sum`` over containers known now, for ``lowerer``."""

    def __init__(self, lowerer):
        self.lo = lowerer

    def refuse(self, *args):
        self.lo.refuse(*args)             # raises: node, message, construct[, error class]

    def peek(self, node, varying=frozenset()):
        """The value a name / constant-subscript / field chain denotes, emitting no code;
        ``NOTHING`` unless it is known now.  Names in ``varying`` are not known."""
        if isinstance(node, gast.Name):
            if node.id in varying:
                return NOTHING
            return self.lo.env.get(node.id, NOTHING)
        if isinstance(node, gast.Subscript):
            base = self.peek(node.value, varying)
            key = self.static_value(node.slice, varying)
            if isinstance(node.slice, gast.Slice):
                bounds = [None if b is None else self.static_value(b, varying)
                          for b in (node.slice.lower, node.slice.upper, node.slice.step)]
                key = NOTHING if NOTHING in bounds else slice(*bounds)
            if not is_container(base) or key is NOTHING:
                return NOTHING
            items = base.items if isinstance(base, ir.Seq) else base
            try:
                return items[key]
            except (KeyError, IndexError, TypeError):
                return NOTHING
        if isinstance(node, gast.Attribute):
            base = self.peek(node.value, varying)
            if pytree.is_namedtuple(base) and node.attr in type(base)._fields:
                return getattr(base, node.attr)
        return NOTHING

    def static_value(self, node, varying=frozenset()):
        """A constant known now (a literal, a name bound to one, ``len`` of a container,
        integer arithmetic on such values), else ``NOTHING``; emits no code."""
        if isinstance(node, gast.Constant):
            return node.value
        if isinstance(node, gast.Name):
            value = self.peek(node, varying)
            return value.value if isinstance(value, ir.Const) else NOTHING
        if isinstance(node, gast.UnaryOp) and isinstance(node.op, gast.USub):
            value = self.static_value(node.operand, varying)
            return -value if type(value) is int else NOTHING
        if isinstance(node, gast.BinOp):
            fn = {gast.Add: operator.add, gast.Sub: operator.sub, gast.Mult: operator.mul,
                  gast.FloorDiv: operator.floordiv}.get(type(node.op))
            left = self.static_value(node.left, varying)
            right = self.static_value(node.right, varying)
            if fn and type(left) is int and type(right) is int:
                return fn(left, right)
            return NOTHING
        if isinstance(node, gast.Call) and len(node.args) == 1 and not node.keywords and \
                self.lo.callee_of(node.func) is len:
            value = self.peek(node.args[0], varying)
            if is_container(value):
                return len(value.items if isinstance(value, ir.Seq) else value)
        return NOTHING

    def indexes_container(self, nodes, varying) -> bool:
        """Whether ``nodes`` index a container with a value that changes per iteration."""
        for root in nodes:
            for node in gast.walk(root):
                if isinstance(node, gast.Subscript) and \
                        self.static_value(node.slice, varying) is NOTHING and \
                        is_container(self.peek(node.value, varying)):
                    return True
        return False

    def static_iterable(self, it, ranges: bool):
        """The items a ``for`` header or comprehension iterates over, when known now, else None.

        ``ranges`` says a ``range`` with bounds known now counts (to unroll the loop).
        """
        if isinstance(it, (gast.Tuple, gast.List)):
            return items_of(self.lo.expr(it, None))
        if isinstance(it, gast.Call):
            func = it.func
            if isinstance(func, gast.Attribute) and func.attr in DICT_VIEWS and not it.args:
                owner = self.peek(func.value)
                if isinstance(owner, dict):
                    return dict_view(owner, func.attr)
                return None
            callee = self.lo.callee_of(func)
            if callee is enumerate and len(it.args) in (1, 2) and not it.keywords:
                inner = self.static_iterable(it.args[0], ranges)
                start = self.static_value(it.args[1]) if len(it.args) == 2 else 0
                if inner is None or type(start) is not int:
                    return None
                return [(ir.Const(start + i), item) for i, item in enumerate(inner)]
            if callee is zip and it.args and not it.keywords:
                parts = [self.static_iterable(a, ranges) for a in it.args]
                return None if any(p is None for p in parts) else [tuple(t) for t in zip(*parts)]
            if callee is range and ranges and not it.keywords:
                bounds = [self.static_value(a) for a in it.args]
                if 1 <= len(bounds) <= 3 and all(type(b) is int for b in bounds):
                    return [ir.Const(i) for i in range(*bounds)]
            return None
        value = self.peek(it)
        return items_of(value) if is_container(value) else None

    def static_loop_items(self, node):
        """The items of a ``for`` loop to unroll, or None for a run-time loop.

        Loops over containers are unrolled; so is a ``range`` loop whose body indexes a
        container with a value that changes per iteration, which needs its bounds now.
        """
        varying = frozenset(self.lo.assigned_names([node]))
        unroll = self.indexes_container(node.body, varying)
        items = self.static_iterable(node.iter, ranges=unroll)
        if items is None and unroll:
            self.refuse(node, "this loop indexes a container (list, tuple or dict) with a value "
                              "that changes per iteration, so it is unrolled, which needs its "
                              "bounds when the derivative is generated; loop over the container, "
                              "or over range(len(container))", "loop over a container")
        return items

    def unrolls(self, node) -> bool:
        """Whether a comprehension must be unrolled: it iterates over a container, or
        indexes one with its loop variables."""
        varying = frozenset(n.id for g in node.generators for n in gast.walk(g.target)
                            if isinstance(n, gast.Name))
        parts = [node.elt] + [c for g in node.generators for c in g.ifs]
        return self.over_container(node.generators[0].iter) or \
            self.indexes_container(parts, varying)

    def over_container(self, it) -> bool:
        """Whether ``static_iterable`` finds container items here (checked without lowering)."""
        if isinstance(it, (gast.Tuple, gast.List)) or is_container(self.peek(it)):
            return True
        if not isinstance(it, gast.Call):
            return False
        if isinstance(it.func, gast.Attribute) and it.func.attr in DICT_VIEWS:
            return isinstance(self.peek(it.func.value), dict)
        callee = self.lo.callee_of(it.func)
        return (callee is enumerate or callee is zip) and bool(it.args) and \
            all(self.over_container(a) for a in it.args[:1 if callee is enumerate else None])

    def unroll_comprehension(self, node):
        """The elements (``(key, value)`` pairs for a dict) of a comprehension, unrolled; None
        if its first iterable is not known now.  Its loop variables stay local to it."""
        gens = node.generators
        names = {n.id for g in gens for n in gast.walk(g.target) if isinstance(n, gast.Name)}
        saved = {n: self.lo.env[n] for n in names if n in self.lo.env}
        out: list = []

        def run(k):
            if k == len(gens):
                if isinstance(node, gast.DictComp):
                    out.append((self.lo.expr(node.key, None), self.lo.expr(node.value, None)))
                else:
                    out.append(self.lo.expr(node.elt, None))
                return True
            gen = gens[k]
            if gen.is_async:
                self.refuse(node, "async comprehensions are not supported", "comprehension")
            items = self.static_iterable(gen.iter, ranges=True)
            if items is None:
                if k == 0:
                    return False
                self.refuse(gen.iter, "an inner loop of a comprehension must iterate over a "
                                      "container or range known when the derivative is "
                                      "generated", "comprehension")
            for item in items:
                self.lo.bind(gen.target, item, node)
                if all(self.static_condition(c) for c in gen.ifs):
                    run(k + 1)
            return True

        try:
            done = run(0)
        finally:
            for n in names:
                self.lo.env.pop(n, None)
            self.lo.env.update(saved)
        return out if done else None

    def static_condition(self, node) -> bool:
        value = self.lo.as_operand(self.lo.expr(node, None), node)
        if not isinstance(value, ir.Const):
            self.refuse(node, "the condition of an unrolled comprehension must be known when the "
                              "derivative is generated", "comprehension filter")
        return bool(value.value)

    def container_sum(self, node, hint):
        """``sum(container)`` as a chain of additions; ``sum(gen over a run-time range)`` as a
        loop with an accumulator."""
        if len(node.args) not in (1, 2) or any(kw.arg != "start" for kw in node.keywords):
            self.refuse(node, "sum() takes an iterable and an optional start", "sum")
        start = node.args[1] if len(node.args) == 2 else next(
            (kw.value for kw in node.keywords), None)
        arg = node.args[0]
        if isinstance(arg, (gast.GeneratorExp, gast.ListComp)) and not self.unrolls(arg):
            initial = ir.Const(0) if start is None else \
                self.lo.as_operand(self.lo.expr(start, None), start)
            return self.sum_loop(arg, initial)
        if isinstance(arg, (gast.GeneratorExp, gast.ListComp)):
            items = self.unroll_comprehension(arg)
        else:
            items = self.static_iterable(arg, ranges=False)
        if items is None:                   # a run-time list (or refused: no rule for sum)
            value = self.lo.as_operand(self.lo.expr(arg, None), arg)
            if start is not None:
                initial = self.lo.as_operand(self.lo.expr(start, None), start)
                return self.lo.call(sum, [value, initial], {}, node, hint)
            return self.lo.call(sum, [value], {}, node, hint)
        items = [self.lo.as_operand(v, arg) for v in items]
        if start is not None:
            total = self.lo.as_operand(self.lo.expr(start, None), start)
        elif items and self.lo.kind(items[0]) != "bool":
            total, items = items[0], items[1:]
        else:
            total = ir.Const(0)
        for item in items:
            total = self.lo.call(operator.add, [total, item], {}, node, None)
        return total

    def sum_loop(self, node, initial):
        """``sum(elt for target in iterable if cond)`` as ``for``/``if`` statements adding to an
        accumulator, lowered like the user's own loops."""
        acc = self.lo.accumulator_name("total")
        add = gast.BinOp(left=_name(acc), op=gast.Add(), right=node.elt)
        stmt = gast.Assign(targets=[_name(acc, store=True)], value=add, type_comment=None)
        self.lo.env[acc] = initial
        try:
            return self.lo.comprehension_loop(node, stmt, acc)
        finally:
            self.lo.env.pop(acc, None)


def _name(id_, store=False):
    return gast.Name(id=id_, ctx=gast.Store() if store else gast.Load(), annotation=None,
                     type_comment=None)
