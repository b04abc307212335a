"""Lowering of branches: ``if`` statements, conditional expressions and ``and``/``or``
(with Python's short-circuit) become structured ``If`` statements that yield the values
their branches change; tuples are merged item by item, containers leaf by leaf.

``Branches`` is the part of ``lower.Lowerer`` that lowers them.
"""

from __future__ import annotations

import gast

from srcgrad import ir
from srcgrad.transforms.containers import holds_mutable, known_truth
from srcgrad.transforms.lower_values import (UNDEF, Restructure, is_none, join_kinds,
                                             leaf_count, rebuild_tuple, tuple_shape)


class Branches:
    """If statements and expressions (a part of ``lower.Lowerer``)."""

    def stmt_If(self, node):
        cond = self.condition(node.test)
        if known_truth(cond) is not None:          # known now (in unrolled code, say)
            self.block(node.body if known_truth(cond) else node.orelse)
            return
        self.lists.before_runtime_block(node.body + node.orelse, node)
        before, poisoned = dict(self.env), dict(self.poisoned)
        then_body, then_env = self.sub_block(node.body, before)
        then_poisoned, self.poisoned = self.poisoned, poisoned
        else_body, else_env = self.sub_block(node.orelse, before)
        paths = (then_poisoned, self.poisoned)
        self.poisoned = {**then_poisoned, **self.poisoned}   # uncertain on some path
        self.env = dict(before)
        self.merge(cond, then_body, then_env, else_body, else_env, before, node, paths)

    def merge(self, cond, then_body, then_env, else_body, else_env, before, node, paths=None):
        """Merge the values the branches bind differently.  ``paths``: the uncertain values
        (``poisoned``) of each branch, since a write on one path leaves the other's intact."""
        names = sorted(n for n in set(then_env) | set(else_env)
                       if then_env.get(n, UNDEF) != else_env.get(n, UNDEF))
        for n in set(then_env) & set(else_env):
            if n not in names:
                self.env[n] = then_env[n]      # the same value on both paths: no merge
        outs, ty, ey = [], [], []
        for n in names:
            tv, ev = then_env.get(n, UNDEF), else_env.get(n, UNDEF)
            if holds_mutable(tv) or holds_mutable(ev):
                if tv is UNDEF or ev is UNDEF:
                    self.refuse(node, f"'{n}' is a container bound in one branch only", "if")
                self.env[n] = self.containers.merge(n, tv, ev, outs, ty, ey, node)
                continue
            self.env[n] = self.merge_value(n, tv, ev, (outs, ty, ey), node, paths)
        self.emit(ir.If(cond, then_body, else_body, outs, ty, ey, self.loc(node)))

    def merge_value(self, n, tv, ev, merged, node, paths=None):
        """One merged value of ``n``: a tuple is merged item by item (its structure is
        known now), a value bound on one path only merges with None."""
        if isinstance(tv, tuple) or isinstance(ev, tuple):
            shape = tuple_shape(tv if isinstance(tv, tuple) else ev)
            tv, ev = (self.spread(n, v, shape, node) for v in (tv, ev))
            return tuple(self.merge_value(n, t, e, merged, node, paths) for t, e in zip(tv, ev))
        if tv == ev:
            return tv
        tv = ir.Const(None) if tv is UNDEF else tv
        ev = ir.Const(None) if ev is UNDEF else ev
        out = self.fresh(n, n)
        for lst, v in zip(merged, (out, tv, ev)):
            lst.append(v)
        kinds = [self.kind(v) for v in (tv, ev) if not is_none(v)] or [None]
        self.kinds[out] = join_kinds(kinds[0], kinds[-1])   # None stands for "unbound here"
        self.join_buffers(out, [tv, ev], node)
        self.sources[out] = [v.name for v in (tv, ev) if isinstance(v, ir.Var)]
        self.own_if_all(out, [tv, ev])
        self.same_rank(out, [tv, ev])
        stale = [poisoned[v.name] for v, poisoned in zip((tv, ev), paths or (self.poisoned,) * 2)
                 if isinstance(v, ir.Var) and v.name in poisoned]
        if stale:                               # stale on one path: uncertain after the if
            self.poisoned[out] = stale[0]
        roots = {self.placeholders.get(v.name) for v in (tv, ev) if isinstance(v, ir.Var)} - {None}
        if roots and all(is_none(v) or (isinstance(v, ir.Var) and v.name in self.placeholders)
                         for v in (tv, ev)):
            self.placeholders[out] = min(roots)
        return ir.Var(out)

    def same_rank(self, out, sources):
        """``out`` has the rank its possible values share (arrays only)."""
        ranks = {self.ndim_of(v) for v in sources if not is_none(v) and v is not UNDEF}
        if len(ranks) == 1 and ranks != {None} and ranks != {0}:
            self.ndims[out] = ranks.pop()
            self.kinds[out] = self.kinds.get(out) or "array"

    def spread(self, n, value, shape, node):
        """``value`` as a tuple of structure ``shape``: None (or unbound) stands for a tuple
        of Nones; a loop value not yet known to be a tuple restarts the loop."""
        if isinstance(value, tuple):
            if tuple_shape(value) != shape:
                self.refuse(node, f"'{n}' is a tuple of a different length on each path; "
                                  f"give it the same structure on every path", "tuple")
            return value
        if value is UNDEF or is_none(value):
            return rebuild_tuple(shape, [ir.Const(None)] * leaf_count(shape))
        if isinstance(value, ir.Var) and value.name in self.placeholders:
            raise Restructure(self.placeholders[value.name], shape)
        self.refuse(node, f"'{n}' is a tuple on one path and a single value on another; "
                          f"give it the same structure on every path", "tuple")

    def sub_block(self, body, env):
        saved_out, saved_env = self.out, self.env
        self.out, self.env = [], dict(env)
        try:
            self.block(body)
            return self.out, self.env
        finally:
            self.out, self.env = saved_out, saved_env

    def condition(self, test):
        return self.as_operand(self.expr(test, "cond"), test)

    def expr_BoolOp(self, node, hint):
        """``a and b`` / ``a or b`` with Python's short-circuit, as structured ifs."""
        is_and = isinstance(node.op, gast.And)
        value = self.as_operand(self.expr(node.values[0], None), node.values[0])
        for rhs in node.values[1:]:
            before = dict(self.env)
            cond = value
            rest_body, rest_val = self.sub_expr(rhs, before)
            out = self.fresh(hint or "cond", hint)
            if is_and:
                stmt = ir.If(cond, rest_body, [], [out], [rest_val], [value], self.loc(node))
            else:
                stmt = ir.If(cond, [], rest_body, [out], [value], [rest_val], self.loc(node))
            self.kinds[out] = join_kinds(self.kind(value), self.kind(rest_val))
            self.emit(stmt)
            value = ir.Var(out)
        return value

    def sub_expr(self, node, env):
        saved_out, saved_env = self.out, self.env
        self.out, self.env = [], dict(env)
        try:
            value = self.as_operand(self.expr(node, None), node)
            return self.out, value
        finally:
            self.out, self.env = saved_out, saved_env

    def expr_IfExp(self, node, hint):
        cond = self.condition(node.test)
        if known_truth(cond) is not None:
            return self.expr(node.body if known_truth(cond) else node.orelse, hint)
        before = dict(self.env)
        then_body, then_val = self.sub_expr(node.body, before)
        else_body, else_val = self.sub_expr(node.orelse, before)
        out = self.fresh(hint or "tmp", hint)
        self.kinds[out] = join_kinds(self.kind(then_val), self.kind(else_val))
        self.emit(ir.If(cond, then_body, else_body, [out], [then_val], [else_val], self.loc(node)))
        return ir.Var(out)
