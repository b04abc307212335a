"""Forward: the tangent (JVP) program, tangent statements interleaved with the primal.

``f_jvp(*params, *tangents)`` returns ``(value, tangent)``.  Every active value ``v`` gets
a tangent ``v_dot`` computed right after ``v`` from the forward rules in the registry
(one per active argument, summed).  Branches and loops carry tangents exactly where they
carry primal values, and arrays written in place have tangent arrays written at the same
places, so no tape is needed.  The primal statements are the primal emitter's
(`primal.Primal`); this pass plugs into its hooks.
"""

from __future__ import annotations

import ast

from srcgrad import ir
from srcgrad.errors import NonDifferentiableError
from srcgrad.rules import registry
from srcgrad.rules.registry import spelled
from srcgrad.runtime.tape import list_append, list_pop
from srcgrad.transforms import emit as E
from srcgrad.transforms.complex_values import refuse_complex
from srcgrad.transforms.naming import Names
from srcgrad.transforms.primal import LIST_OPS, Expr, Hooks, Primal, flatten
from srcgrad.transforms.rules_inline import bind_operands, instantiate, scalar_call, scalar_test


class Forward(Hooks):
    """Tangents after each primal statement, as hooks of the primal emitter."""

    def __init__(self, fn: ir.Function, active: set, typemap=None):
        self.fn = fn
        self.active = active
        self.names = Names(fn)
        self.primal = Primal(fn, self.names, typemap, hooks=self)
        self.is_scalar = scalar_test(fn)

    def tangent(self, v: str) -> str:
        return self.names.tangent(v)

    def tangent_of(self, op) -> ast.expr:
        """The tangent of an operand: its tangent variable, or a zero of its shape."""
        if isinstance(op, ir.Var) and op.name in self.active:
            return E.name(self.tangent(op.name))
        if isinstance(op, Expr):
            return E.call("zeros_like", [op.node])
        if isinstance(op, ir.Const) and op.value is None:
            return E.const(None)
        if isinstance(op, ir.Seq):
            return E.tuple_([self.tangent_of(i) for i in op.items])
        return E.call("zeros_like", [E.operand(op, self.names)])

    def build_jvp(self, fn_name: str) -> ast.FunctionDef:
        fn = self.fn
        self.names.taken.add(fn_name)
        params = list(fn.params)
        tangent_params = [self.tangent(p) if p in self.active else self.names.fresh(f"{p}_dot")
                          for p in params]
        value = self.names.fresh("value")
        body = self.primal.block(fn.body)
        body.append(E.assign(value, E.operand(fn.result, self.names)))
        body.append(E.return_(E.tuple_([E.name(value), self.tangent_of(fn.result)])))
        return E.function(fn_name, params + tangent_params, flatten(body))

    # ---------------------------------------------------------------- statements
    def after(self, s) -> list:
        """The tangent of what the primal statement ``s`` defines."""
        out = []
        if isinstance(s, ir.Call) and s.fn in LIST_OPS:
            out += self.list_tangent(s)
        elif isinstance(s, ir.Call) and s.target in self.active:
            prim = registry.lookup(s.fn)
            if prim.nondiff:     # a new list whose later versions carry tangents
                out.append(E.assign(self.tangent(s.target),
                                    E.call("zeros_like", [E.name(self.names.var(s.target))])))
            else:
                out.append(E.assign(self.tangent(s.target), self.call_tangent(s, out)))
        elif isinstance(s, ir.GetItem) and s.target in self.active:
            out.append(E.assign(self.tangent(s.target),
                                E.subscript(self.tangent_of(s.array), E.operand(s.index, self.names))))
        elif isinstance(s, ir.Copy) and s.target in self.active:
            out.append(E.assign(self.tangent(s.target), self.tangent_of(s.value)))
        elif isinstance(s, ir.Store) and s.target in self.active:
            out += self.store_tangent(s)
        return out

    def list_tangent(self, s: ir.Call) -> list:
        """The tangent list follows the primal one: the same appends and pops."""
        items = s.args[0]
        if items.name not in self.active:
            return []
        t_items = E.name(self.tangent(items.name))
        if s.fn is list_pop:
            popped = E.call(E.attr(t_items, "pop"), [])
            if s.target in self.active:
                return [E.assign(self.tangent(s.target), popped)]
            return [E.expr_stmt(popped)]
        out = []
        if s.fn is list_append:
            out.append(E.expr_stmt(E.call(E.attr(t_items, "append"), [self.tangent_of(s.args[1])])))
        out.append(E.assign(self.tangent(s.target), t_items))
        return out

    def store_tangent(self, s: ir.Store) -> list:
        """The tangent array follows the primal one: written at the same index."""
        out = []
        array = s.array.name
        if array not in self.active:
            out.append(E.assign(self.tangent(array), E.call("zeros_like", [E.name(array)])))
            self.active.add(array)
        t_array = E.name(self.tangent(array))
        value = self.tangent_of(s.value) if isinstance(s.value, ir.Var) else E.const(0.0)
        out.append(E.assign(E.subscript(t_array, E.operand(s.index, self.names), store=True), value))
        out.append(E.assign(self.tangent(s.target), t_array))
        return out

    def call_tangent(self, s: ir.Call, out: list) -> ast.expr:
        prim = registry.lookup(s.fn)
        if prim.joint is not None:
            raise NonDifferentiableError(
                f"{prim.name} has only a reverse-mode rule; forward mode needs defjvp rules",
                s.loc, prim.name)
        exprs = {"ans": E.name(self.names.var(s.target))}
        params, bound = bind_operands(prim, s, self.names, exprs)
        terms = []
        for pos, pname in enumerate(params):
            value = bound.get(pname)
            items = [value] if isinstance(value, ir.Var) else (
                list(value.items) if isinstance(value, ir.Seq) else [])
            if not any(isinstance(i, ir.Var) and i.name in self.active for i in items):
                continue
            rule = prim.jvps.get(pos)
            if rule is registry.ZERO or prim.vjps.get(pos) is registry.ZERO:
                continue
            if rule is None:
                raise NonDifferentiableError(
                    f"{prim.name} has no forward-mode rule for its argument '{pname}'",
                    s.loc, prim.name)
            exprs["t"] = self.tangent_of(value)
            terms.append(instantiate(rule, ["t", "ans"], params, exprs, self.names,
                                     self.is_scalar if scalar_call(self.fn, s) else None))
        if not terms:        # active only as a buffer that is written with active values later
            return E.call("zeros_like", [E.name(self.names.var(s.target))])
        if s.target in self.fn.arity and len(terms) > 1:
            # a tuple of results (np.linalg.lstsq): each argument's rule gives a tuple of
            # tangents, summed item by item
            parts = [self.names.fresh(self.tangent(s.target) + "_part") for _ in terms]
            out += [E.assign(p, term) for p, term in zip(parts, terms)]
            items = []
            for i in range(self.fn.arity[s.target]):
                item = E.subscript(E.name(parts[0]), E.const(i))
                for p in parts[1:]:
                    item = E.add(item, E.subscript(E.name(p), E.const(i)))
                items.append(item)
            return E.tuple_(items)
        total = terms[0]
        for term in terms[1:]:
            total = E.add(total, term)
        if len(terms) == 1 and self._may_alias_buffer_tangent(s, total):
            total = E.call("copy_value", [total])
        return total

    def _may_alias_buffer_tangent(self, s: ir.Call, term) -> bool:
        """Whether a tangent could be the very array of another tangent while one of them
        is a buffer's, which later stores overwrite in place (``y = u + 0.5`` has tangent
        ``u_dot`` itself)."""
        group = self.fn.buffer_group
        # a buffer's own tangent is written in place later: it must not be an operand's;
        # any other value's tangent must not be a buffer's
        buffers = {self.tangent(a.name) for a in s.args if isinstance(a, ir.Var)
                   and a.name in self.active and (s.target in group or a.name in group)}
        if not buffers:
            return False
        node = term
        while isinstance(node, ast.Call) and node.args:
            if not spelled(ast.unparse(node.func)).view:      # may return its argument
                return False
            node = node.args[0]
        return isinstance(node, ast.Name) and node.id in buffers

    def bind_beside(self, targets, values) -> list:
        """Beside primal outputs (branches, loop carries), bind their tangents."""
        out = []
        pairs = [(t, v) for t, v in zip(targets, values) if t in self.active
                 and not (isinstance(v, ir.Var) and v.name == t)]
        if pairs:
            out.append(E.assign_many([self.tangent(t) for t, _ in pairs],
                                     [self.tangent_of(v) for _, v in pairs]))
        return out


def build_jvp(fn: ir.Function, active: set, fn_name: str, typemap=None):
    """The tangent function's syntax tree and the namespace it runs in."""
    # an array written in place has one tangent array from its allocation on, so every
    # version of a buffer with an active version gets a tangent (zeros where inactive)
    refuse_complex(fn, active)
    groups = {fn.buffer_group[n] for n in active if n in fn.buffer_group}
    active = set(active) | {n for n, g in fn.buffer_group.items() if g in groups}
    fwd = Forward(fn, active, typemap)
    tree = fwd.build_jvp(fn_name)
    return tree, fwd.names.namespace
