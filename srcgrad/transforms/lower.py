"""Lower: gast to the SSA IR, one primitive per statement, control flow kept structured.

Each user variable maps to its current SSA value in an environment; assignments make
fresh versions.  Branches merge the variables they change; loops carry the variables
their body assigns.  Python operators, methods (``x.sum()``) and attributes (``x.T``)
become calls of the NumPy/operator functions that define them, so the rule registry is
the only place derivatives live.  Anything outside the supported subset is refused here
with its location.
"""

from __future__ import annotations

import ast
import math
import operator
from dataclasses import dataclass

import gast
import numpy as np

from srcgrad import calls, custom, ir
from srcgrad.errors import (AliasingError, Loc, UnknownCalleeError,
                            UnsupportedSyntaxError)
from srcgrad.rules import registry
from srcgrad.runtime import broadcast as broadcast_rt
from srcgrad.runtime import tape as tape_rt
from srcgrad.transforms.canonicalize import Canonicalizer, canonicalize
from srcgrad.transforms.lists import LIST_METHODS, ListLowering, is_static_list
from srcgrad.transforms.containers import (CONTAINER_TYPES, ContainerLowering, holds_mutable,
                                           is_container, known_truth)
from srcgrad.transforms.prune import prune

BINOPS = {
    gast.Add: operator.add, gast.Sub: operator.sub, gast.Mult: operator.mul,
    gast.Div: operator.truediv, gast.FloorDiv: operator.floordiv, gast.Mod: operator.mod,
    gast.Pow: operator.pow, gast.MatMult: operator.matmul,
}
CMPOPS = {
    gast.Lt: operator.lt, gast.LtE: operator.le, gast.Gt: operator.gt, gast.GtE: operator.ge,
    gast.Eq: operator.eq, gast.NotEq: operator.ne,
}
UNARY = {gast.USub: operator.neg, gast.UAdd: operator.pos, gast.Not: operator.not_}

# x.method(...) -> numpy function(x, ...)
METHODS = {
    "sum": np.sum, "mean": np.mean, "max": np.max, "min": np.min, "prod": np.prod,
    "var": np.var, "std": np.std, "dot": np.dot, "reshape": np.reshape, "ravel": np.ravel,
    "flatten": np.ravel, "copy": np.copy, "transpose": np.transpose, "squeeze": np.squeeze,
    "cumsum": np.cumsum, "clip": np.clip, "trace": np.trace,
}
ATTRIBUTES = {"T": np.transpose, "shape": np.shape, "size": np.size, "ndim": np.ndim}
# functions whose result is a fresh array the function may write in place
ALLOCATORS = {id(f) for f in (np.copy, np.zeros, np.empty, np.zeros_like, np.empty_like,
                              np.ones, np.ones_like, np.full, np.full_like, np.array,
                              broadcast_rt.zeros_like, tape_rt.hist_f64, tape_rt.hist_f32,
                              tape_rt.hist_i64, tape_rt.hist_bool)}
# functions returning a new, empty list (the stacks of generated derivative code)
LIST_CONSTRUCTORS = {id(f) for f in [tape_rt.stack] + [getattr(tape_rt, f"stack_{s}")
                                                       for s in tape_rt.TAPE_TYPES]}
INT_PRESERVING = {id(f) for f in (operator.add, operator.sub, operator.mul, operator.floordiv,
                                  operator.mod, operator.neg, operator.pos, abs, min, max)}
INT_RESULT = {id(f) for f in (len, int, round, np.size, np.ndim, math.floor, math.ceil)}
BOOL_RESULT = {id(f) for f in list(CMPOPS.values()) + [operator.not_, bool]}

# names the generated module binds; SSA values never take them
GENERATED_GLOBALS = {"np", "math", "operator", "range", "len", "float", "int", "abs", "min",
                     "max", "sum", "zeros_like", "unbroadcast", "stack", "reversed_range",
                     "add_at", "copy_value", "seed", "value", "slice", "pow", "round", "bool"}
INFIX_ELEMENTWISE = (operator.add, operator.sub, operator.mul, operator.truediv, operator.pow,
                     operator.neg, operator.pos, operator.mod, operator.floordiv)
SCALAR_REDUCTIONS = (np.sum, np.mean, np.prod, np.max, np.min, np.var, np.std)
_MODULE_NAMES = {"numpy": "np", "math": "math", "operator": "operator", "builtins": ""}


def spell(fn) -> str:
    """How generated code names a primitive: ``np.sin``, ``math.exp``, ``abs``."""
    name = getattr(fn, "__name__", None) or repr(fn)
    module = getattr(fn, "__module__", None) or ""
    if isinstance(fn, np.ufunc):
        return f"np.{fn.__name__}"
    if module.startswith("numpy.linalg"):
        return f"np.linalg.{name}"
    if module.startswith("numpy"):
        return f"np.{name}"
    if module in _MODULE_NAMES:
        prefix = _MODULE_NAMES[module]
        return f"{prefix}.{name}" if prefix else name
    return name


class Lowerer(ContainerLowering, ListLowering):
    def __init__(self, parsed, arg_kinds: dict, trees=None, has_aux=False):
        self.parsed = parsed
        self.arg_kinds = arg_kinds
        self.taken: set[str] = set()
        self.counters: dict[str, int] = {}
        self.kinds: dict[str, str] = {}
        self.ndims: dict[str, int] = {}
        self.groups: dict[str, int] = {}
        self.views: dict[str, int] = {}
        self.poisoned: dict[str, Loc] = {}
        self.user_names: dict[str, str] = {}
        self.out: list = []
        self.env: dict = {}
        self._group_ids = 0
        self.result_loc = None
        self.arity: dict[str, int] = {}
        self.inlining: set[int] = set()
        self.item_ndims: dict[int, tuple] = {}   # list group -> (rank, dtype) of its items
        self.list_ctors: list = []               # the Calls creating the user's run-time lists
        self.taken.update(GENERATED_GLOBALS)
        self.init_containers(trees, has_aux)

    # ------------------------------------------------------------------ helpers
    def loc(self, node) -> Loc:
        return self.parsed.loc(node)

    def fresh(self, base: str, user: str | None = None) -> str:
        """A deterministic new SSA name: ``x``, then ``x_1``, ``x_2``..."""
        base = base.lstrip("_") or "tmp"
        count = self.counters.get(base, 0)
        while True:
            name = base if count == 0 else f"{base}_{count}"
            count += 1
            if name not in self.taken:
                break
        self.counters[base] = count
        self.taken.add(name)
        self.user_names[name] = user or base
        return name

    def emit(self, stmt):
        self.out.append(stmt)
        return stmt

    def refuse(self, node, message, construct=None, cls=UnsupportedSyntaxError):
        raise cls(message, self.loc(node), construct)

    def kind(self, op) -> str | None:
        if isinstance(op, ir.Const):
            v = op.value
            if isinstance(v, bool):
                return "bool"
            if isinstance(v, (int, np.integer)):
                return "int"
            if isinstance(v, (float, np.floating)):
                return "float"
            if isinstance(v, np.ndarray):
                return "array"
            return "other"
        if isinstance(op, ir.Var):
            return self.kinds.get(op.name)
        if isinstance(op, ir.Seq):
            return "tuple"
        return None

    # ------------------------------------------------------------------ entry
    def lower_function(self) -> ir.Function:
        node = canonicalize(self.parsed)
        self.node = node
        params = self.params = []
        arg_nodes = node.args
        if arg_nodes.vararg or arg_nodes.kwarg or arg_nodes.kwonlyargs:
            self.refuse(node, "*args, **kwargs and keyword-only parameters are not supported",
                        "parameters")
        for a in arg_nodes.args:
            if a.id in self.trees:
                self.bind_container_param(a.id)
                continue
            name = self.fresh(a.id, a.id)
            params.append(name)
            self.env[a.id] = ir.Var(name)
            kind, ndim = self.arg_kinds.get(a.id, (None, None))
            if kind:
                self.kinds[name] = kind
            if ndim is not None:
                self.ndims[name] = ndim
        if isinstance(node, gast.Lambda):
            result = self.result_operand(self.expr(node.body, "result"), node.body)
        else:
            self.block(node.body[:-1])
            ret = node.body[-1]
            result = self.expr(ret.value, "result") if ret.value is not None else ir.Const(None)
            result = self.result_operand(result, ret)
            self.result_loc = self.loc(ret)
        self.type_runtime_lists(self.out)
        fn = ir.Function(getattr(self.parsed.fn, "__name__", "f"), params, self.out, result,
                         self.loc(node), self.kinds, self.groups, self.user_names)
        return fn

    # ------------------------------------------------------------------ statements
    def block(self, body):
        for stmt in body:
            self.stmt(stmt)

    def stmt(self, node):
        method = getattr(self, "stmt_" + type(node).__name__, None)
        if method is None:
            self.refuse(node, f"the statement '{type(node).__name__}' is not supported",
                        type(node).__name__)
        method(node)

    def stmt_Pass(self, node):
        pass

    def stmt_Assert(self, node):
        pass                         # assertions do not change values; like python -O

    def stmt_Expr(self, node):
        if isinstance(node.value, gast.Constant):
            return                   # docstring or bare constant
        value = node.value
        if isinstance(value, gast.Call) and isinstance(value.func, gast.Name) and \
                isinstance(self.env.get(value.func.id), _LocalFunction):
            self.expr(value, None)   # a nested function called for what it writes in place
            return
        if self.list_method(value) is not None:
            self.expr(value, None)   # items.append(v) / items.pop(): a new version of the list
            return
        if isinstance(value, gast.Call) and self.callee_of(value.func) is tape_rt.add_at:
            self.add_at(value)       # generated code's scatter-add into an adjoint array
            return
        if isinstance(value, gast.Call) and isinstance(value.func, gast.Attribute) and \
                isinstance(value.func.value, gast.Name) and \
                (self.is_list(self.env.get(value.func.value.id))
                 or is_static_list(self.env.get(value.func.value.id))):
            self.refuse_list_change(value.func.value.id, node, value.func.attr)
        if isinstance(value, gast.Call) and isinstance(value.func, gast.Attribute) and \
                value.func.attr in LIST_METHODS:
            self.refuse(node, f"'.{value.func.attr}()' is supported on a list variable of the "
                              f"differentiated function only (xs = []; xs.{value.func.attr}(...))",
                        f"list.{value.func.attr}")
        self.refuse(node, "an expression statement has no value to differentiate; "
                          "calls for their side effects (print, list.append...) are not supported",
                    "expression statement")

    def stmt_Assign(self, node):
        if len(node.targets) != 1:
            # a = b = value: evaluate once, bind each
            value = self.expr(node.value, None)
            for t in node.targets:
                self.bind(t, value, node)
            return
        target = node.targets[0]
        hint = target.id if isinstance(target, gast.Name) else None
        if isinstance(target, gast.Subscript):
            self.store(target, self.expr(node.value, None), node)
            return
        self.bind(target, self.expr(node.value, hint), node)

    def stmt_AugAssign(self, node):
        fn = BINOPS.get(type(node.op))
        if fn is None:
            self.refuse(node, "unsupported augmented operator", type(node.op).__name__)
        target = node.target
        if isinstance(target, gast.Subscript):
            current = self.expr(gast.Subscript(value=target.value, slice=target.slice,
                                               ctx=gast.Load()), None)
            value = self.call(fn, [current, self.expr(node.value, None)], {}, node, None)
            self.store(target, value, node)
            return
        if not isinstance(target, gast.Name):
            self.refuse(node, "unsupported augmented assignment target", "augmented assignment")
        old = self.lookup(target.id, node)
        if self.is_list(old):
            self.refuse_list_change(target.id, node)
        if isinstance(old, ir.Var) and old.name in self.groups:
            # in place on an owned buffer: u += e is u[...] = u + e
            value = self.call(fn, [old, self.expr(node.value, None)], {}, node, None)
            self.store_into(target.id, old, ir.Index((ir.Slice(),)), value, node)
            return
        if isinstance(old, ir.Var) and self.kinds.get(old.name) == "array" and old.name in self.params:
            self.refuse(node, f"'{target.id} {_opsym(node.op)}= ...' would modify the caller's "
                              f"array in place; write '{target.id} = {target.id} {_opsym(node.op)} ...' "
                              f"or copy it first", "in-place update of an argument", AliasingError)
        value = self.call(fn, [old, self.expr(node.value, None)], {}, node, target.id)
        self.bind(target, value, node)

    def bind(self, target, value, node):
        """Assign ``value`` (an operand or static tuple) to a target pattern."""
        if isinstance(target, gast.Name):
            self.env[target.id] = value
            return
        if isinstance(target, (gast.Tuple, gast.List)):
            elts = target.elts
            if isinstance(value, (tuple, list)):
                if len(value) != len(elts):
                    self.refuse(node, f"cannot unpack {len(value)} values into {len(elts)} names",
                                "unpacking")
                for t, v in zip(elts, value):
                    self.bind(t, v, node)
                return
            arity = self.arity.get(value.name) if isinstance(value, ir.Var) else None
            if arity is not None and arity != len(elts):
                self.refuse(node, f"cannot unpack {arity} returned values into {len(elts)} names",
                            "unpacking")
            for i, t in enumerate(elts):
                hint = t.id if isinstance(t, gast.Name) else None
                item = self.getitem(value, ir.Index((ir.Const(i),)), node, hint)
                self.bind(t, item, node)
            return
        if isinstance(target, gast.Subscript):
            self.store(target, value, node)
            return
        self.refuse(node, f"cannot assign to {type(target).__name__}", "assignment")

    # ------------------------------------------------------------------ in-place stores
    def store(self, target, value, node):
        if not isinstance(target.value, gast.Name):
            inner = self.peek(target.value)
            if is_container(inner):
                self.container_store(inner, target, value, node, ast.unparse(
                    gast.gast_to_ast(target.value)))
                return
            self.refuse(node, "in-place stores must write into a named array (u[i] = ...)",
                        "subscript assignment")
        name = target.value.id
        array = self.lookup(name, node)
        if is_container(array):
            self.container_store(array, target, value, node, name)
            return
        if self.is_list(array):
            self.refuse_list_change(name, node)
        index = self.index(target.slice, node)
        value = self.as_operand(value, node)
        self.store_into(name, array, index, value, node)

    def store_into(self, name, array, index, value, node):
        if not (isinstance(array, ir.Var) and array.name in self.groups):
            if isinstance(array, ir.Var) and array.name in self.views:
                self.refuse(node, f"writing into '{name}', a view of another array, is not "
                                  f"supported; index the original array instead",
                            "store into a view", AliasingError)
            self.refuse(node, f"in-place store into '{name}', which is not an array created in "
                              f"this function; make a private copy first, e.g. "
                              f"'{name} = {name}.copy()' (np.zeros, np.empty, np.zeros_like also work)",
                        "in-place store", AliasingError)
        new = self.fresh(name, name)
        self.emit(ir.Store(new, array, index, value, self.loc(node)))
        self.new_version(new, array, node)

    def new_version(self, new, array, node):
        """``new`` is the next version of the buffer ``array`` (written in place)."""
        group = self.groups[array.name]
        self.kinds[new] = "buffer"
        self.groups[new] = group
        if array.name in self.ndims:
            self.ndims[new] = self.ndims[array.name]
        # every name bound to this buffer now sees the new version; views of it go stale
        for user, op in list(self.env.items()):
            if isinstance(op, ir.Var) and op.name == array.name:
                self.env[user] = ir.Var(new)
        for view, g in self.views.items():
            if g == group:
                self.poisoned.setdefault(view, self.loc(node))

    # ------------------------------------------------------------------ control flow
    def stmt_If(self, node):
        cond = self.condition(node.test)
        if known_truth(cond) is not None:          # known now (in unrolled code, say)
            self.block(node.body if known_truth(cond) else node.orelse)
            return
        self.runtime_lists(node.body + node.orelse, node)
        before = dict(self.env)
        then_body, then_env = self.sub_block(node.body, before)
        else_body, else_env = self.sub_block(node.orelse, before)
        self.env = dict(before)
        self.merge(cond, then_body, then_env, else_body, else_env, before, node)

    def merge(self, cond, then_body, then_env, else_body, else_env, before, node):
        names = sorted(n for n in set(then_env) | set(else_env)
                       if then_env.get(n, None) != else_env.get(n, None))
        outs, ty, ey = [], [], []
        for n in names:
            tv, ev = then_env.get(n, _UNDEF), else_env.get(n, _UNDEF)
            if holds_mutable(tv) or holds_mutable(ev):
                if tv is _UNDEF or ev is _UNDEF:
                    self.refuse(node, f"'{n}' is a container bound in one branch only", "if")
                self.env[n] = self.merge_containers(n, tv, ev, outs, ty, ey, node)
                continue
            if isinstance(tv, tuple) or isinstance(ev, tuple):
                if isinstance(tv, tuple) and isinstance(ev, tuple) and len(tv) == len(ev):
                    tv, ev = ir.Seq(tv), ir.Seq(ev)
                else:
                    self.refuse(node, f"'{n}' is a tuple in one branch only", "if")
            tv = ir.Const(None) if tv is _UNDEF else tv
            ev = ir.Const(None) if ev is _UNDEF else ev
            out = self.fresh(n, n)
            outs.append(out)
            ty.append(tv)
            ey.append(ev)
            self.kinds[out] = _join(self.kind(tv), self.kind(ev))
            self.join_buffers(out, [tv, ev], node)
            self.env[n] = ir.Var(out)
        self.emit(ir.If(cond, then_body, else_body, outs, ty, ey, self.loc(node)))

    def group_kind(self, name) -> str:
        """"list" for the versions of a list, "buffer" for an array written in place."""
        return "list" if self.kinds.get(name) == "list" else "buffer"

    def join_buffers(self, out, sources, node):
        groups = {self.groups[s.name] for s in sources if isinstance(s, ir.Var) and s.name in self.groups}
        if groups:
            g = min(groups)
            lists = [s for s in sources if isinstance(s, ir.Var) and self.kinds.get(s.name) == "list"]
            self.kinds[out] = "list" if lists else "buffer"
            self.groups[out] = g
            for name, gg in list(self.groups.items()):
                if gg in groups:
                    self.groups[name] = g
            ndims = {self.ndims.get(s.name) for s in sources if isinstance(s, ir.Var)}
            if len(ndims) == 1 and None not in ndims:
                self.ndims[out] = ndims.pop()

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
                        isinstance(self.env.get(n.func.id), _LocalFunction):
                    names.extend(self.written_by(self.env[n.func.id].node, set()))
                elif isinstance(n, gast.Call) and self.list_method(n) is not None:
                    names.append(n.func.value.id)
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
                    isinstance(self.env.get(n.func.id), _LocalFunction):
                written += self.written_by(self.env[n.func.id].node, seen)
        return written

    def start_loop(self, names, node):
        """Create carried values for ``names``; returns (carried, inits)."""
        carried, inits = [], []
        for n in names:
            init = self.env.get(n, _UNDEF)
            if isinstance(init, CONTAINER_TYPES):
                self.refuse(self.first_change(node, n),
                            f"'{n}' is a {type(init).__name__} that changes inside a loop; a "
                            f"container's structure must be known when the derivative is "
                            f"generated (loops over containers are unrolled)", "loop")
            init = ir.Const(None) if init is _UNDEF else init
            c = self.fresh(n, n)
            carried.append(c)
            inits.append(init)
            self.kinds[c] = self.kind(init) if self.kind(init) != "other" else None
            if isinstance(init, ir.Var) and init.name in self.groups:
                self.kinds[c] = self.group_kind(init.name)
                self.groups[c] = self.groups[init.name]
                if init.name in self.ndims:
                    self.ndims[c] = self.ndims[init.name]
            self.env[n] = ir.Var(c)
        return carried, inits

    def finish_loop(self, names, carried, inits, body_env, node, body=()):
        """Yields and outputs of the carried values; returns (carried, inits, yields, outs).

        A name that holds a tuple at the end of the body and had no value before the loop
        (an unpacked loop item) is local to the body: it is not carried.
        """
        kept = ([], [], [], [])
        for n, c, init in zip(names, carried, inits):
            y = body_env.get(n, _UNDEF)
            if isinstance(y, CONTAINER_TYPES):
                if isinstance(init, ir.Const) and init.value is None:
                    self.env.pop(n, None)
                    continue
                self.refuse(node, f"'{n}' becomes a {type(y).__name__} inside a loop", "loop")
            if self.is_list(y) and isinstance(init, ir.Const) and init.value is None and \
                    not _reads(body, c):
                self.env.pop(n, None)         # a list made anew in each iteration
                continue
            y = ir.Const(None) if y is _UNDEF else y
            out = self.fresh(n, n)
            self.kinds[out] = _join(self.kinds.get(c), self.kind(y))
            self.join_buffers(out, [ir.Var(c), y], node)
            if c in self.groups:
                self.kinds[c] = self.group_kind(c)
            self.env[n] = ir.Var(out)
            for lst, v in zip(kept, (c, init, y, out)):
                lst.append(v)
        return kept

    def stmt_For(self, node):
        static = self.static_loop_items(node)
        if static is not None:
            for item in static:       # a loop over a container is unrolled
                self.bind(node.target, item, node)
                self.block(node.body)
            return
        self.runtime_lists(node.body, node)
        start, stop, step, bind_item = self.iteration_space(node)
        names = self.assigned_names([node])
        carried, inits = self.start_loop(names, node)
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
        for n, c in zip(names, carried):
            self.env[n] = ir.Var(c)
        carried, inits, yields, outs = self.finish_loop(names, carried, inits, body_env, node, body)
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
            self.bind(target, item(index, _hint(target)), node)
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
        return self.length(seq, it), lambda k, hint=None: self.getitem(seq, ir.Index((k,)), node, hint)

    def length(self, seq, node):
        if isinstance(seq, ir.Seq):
            return ir.Const(len(seq.items))
        return self.call(len, [seq], {}, node, "n")

    def stmt_While(self, node):
        if node.orelse:
            self.refuse(node, "loop 'else' clauses are not supported", "while-else")
        self.runtime_lists(node.body, node)
        names = self.assigned_names([node])
        carried, inits = self.start_loop(names, node)
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
        for n, c in zip(names, carried):
            self.env[n] = ir.Var(c)
        carried, inits, yields, outs = self.finish_loop(names, carried, inits, body_env, node,
                                                        cond_body + body)
        self.emit(ir.While(carried, inits, cond_body, cond, body, yields, outs, self.loc(node)))

    def stmt_FunctionDef(self, node):
        """A nested ``def`` is remembered; each call of it is lowered inline."""
        if node.decorator_list:
            self.refuse(node, "decorated nested functions are not supported", "def")
        self.env[node.name] = _LocalFunction(node)

    def expr_Lambda(self, node, hint):
        return _LocalFunction(node)

    def inline_local(self, local, call, hint):
        """Lower a call of a nested function or lambda in place, as Python would run it.

        The callee sees the enclosing variables as they are at the call (closures read
        them then); its own names stay local; arrays it writes in place stay written.
        """
        node = local.node
        if id(node) in self.inlining:
            self.refuse(call, "recursive nested functions are not supported; define the "
                              "function at module level", "recursion")
        params = node.args
        if params.vararg or params.kwarg or params.kwonlyargs:
            self.refuse(call, "*args, **kwargs and keyword-only parameters are not supported",
                        "parameters")
        names = [a.id for a in params.args]
        values = [self.expr(a, None) for a in call.args]
        keywords = {kw.arg: self.expr(kw.value, None) for kw in call.keywords}
        if len(values) > len(names) or any(k not in names for k in keywords):
            self.refuse(call, "the arguments do not match the nested function's parameters", "call")
        defaults = dict(zip(names[len(names) - len(params.defaults):], params.defaults))
        outer = self.env
        inner = dict(outer)
        for i, name in enumerate(names):
            if i < len(values):
                inner[name] = values[i]
            elif name in keywords:
                inner[name] = keywords[name]
            elif name in defaults:
                inner[name] = self.expr(defaults[name], None)
            else:
                self.refuse(call, f"missing argument '{name}'", "call")
        self.inlining.add(id(node))
        self.env = inner
        try:
            if isinstance(node, gast.Lambda):
                result = self.expr(node.body, hint)
                local_names = set(names)
            else:
                body = Canonicalizer(self.parsed).run(node, implicit_return=True).body
                local_names = set(names) | {n.id for st in body for n in gast.walk(st)
                                            if isinstance(n, gast.Name) and isinstance(n.ctx, gast.Store)}
                self.block(body[:-1])
                result = self.expr(body[-1].value, hint)
        finally:
            self.inlining.discard(id(node))
            inner, self.env = self.env, outer
        for name in list(outer):
            if name not in local_names and inner.get(name) is not outer[name]:
                outer[name] = inner[name]      # a new version of an array written in place
        return result

    # ------------------------------------------------------------------ expressions
    def lookup(self, name, node):
        if name in self.env:
            value = self.env[name]
            if isinstance(value, ir.Var) and value.name in self.poisoned:
                where = self.poisoned[value.name]
                self.refuse(node, f"'{name}' is a view of an array that was written in place at "
                                  f"line {where.line}; its values changed under it. Copy it "
                                  f"(.copy()) before the write", "stale view", AliasingError)
            return value
        if self.parsed.has_name(name):
            return self.constant(self.parsed.resolve(name), node, name)
        self.refuse(node, f"name '{name}' is not defined", "name")

    def constant(self, value, node, name=None):
        if isinstance(value, (bool, int, float, complex, np.number, type(None))):
            return ir.Const(value)
        return _Object(value, name)

    def expr(self, node, hint):
        method = getattr(self, "expr_" + type(node).__name__, None)
        if method is None:
            self.refuse(node, f"the expression '{type(node).__name__}' is not supported",
                        type(node).__name__)
        return method(node, hint)

    def as_operand(self, value, node):
        if isinstance(value, _LocalFunction):
            self.refuse(node, "a nested function can only be called here, not used as a value",
                        "function value")
        if isinstance(value, tuple):
            return ir.Seq(tuple(self.as_operand(v, node) for v in value))
        if isinstance(value, list):
            return ir.Seq(tuple(self.as_operand(v, node) for v in value), "list")
        if isinstance(value, dict):
            self.refuse(node, "a dict cannot be used as a value here: index it (d[\"key\"]), "
                              "iterate over it or return it", "dict value")
        if isinstance(value, _Object):
            if isinstance(value.value, np.ndarray) or isinstance(value.value, (tuple, list)):
                return ir.Const(value.value)
            self.refuse(node, f"'{value.name}' ({type(value.value).__name__}) cannot be used as a value here",
                        "value")
        return value

    def expr_Constant(self, node, hint):
        return ir.Const(node.value)

    def expr_Name(self, node, hint):
        return self.lookup(node.id, node)

    def expr_Tuple(self, node, hint):
        return tuple(self.expr(e, None) for e in node.elts)

    def expr_List(self, node, hint):
        items = [self.expr(e, None) for e in node.elts]
        if any(holds_mutable(v) for v in items):
            return self.own(items)         # a list of dicts or lists stays a static list
        return ir.Seq(tuple(self.as_operand(v, e) for v, e in zip(items, node.elts)), "list")

    def expr_BinOp(self, node, hint):
        fn = BINOPS.get(type(node.op))
        if fn is None:
            self.refuse(node, "unsupported operator", type(node.op).__name__)
        left = self.as_operand(self.expr(node.left, None), node.left)
        right = self.as_operand(self.expr(node.right, None), node.right)
        return self.call(fn, [left, right], {}, node, hint)

    def expr_UnaryOp(self, node, hint):
        fn = UNARY.get(type(node.op))
        if fn is None:
            self.refuse(node, "unsupported unary operator", type(node.op).__name__)
        operand = self.as_operand(self.expr(node.operand, None), node.operand)
        if isinstance(operand, ir.Const) and fn is operator.neg and isinstance(operand.value, (int, float)):
            return ir.Const(-operand.value)
        return self.call(fn, [operand], {}, node, hint)

    def expr_Compare(self, node, hint):
        if any(isinstance(op, (gast.In, gast.NotIn)) for op in node.ops):
            return self.container_membership(node)
        if any(isinstance(op, (gast.Is, gast.IsNot)) for op in node.ops):
            return self.identity_comparison(node)
        left = self.as_operand(self.expr(node.left, None), node.left)
        result = None
        for op, comp in zip(node.ops, node.comparators):
            fn = CMPOPS.get(type(op))
            if fn is None:
                self.refuse(node, "unsupported comparison", type(op).__name__)
            right = self.as_operand(self.expr(comp, None), comp)
            value = self.call(fn, [left, right], {}, node, hint if len(node.ops) == 1 else None)
            result = value if result is None else self.call(operator.and_, [result, value], {}, node, hint)
            left = right
        return result

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
            self.kinds[out] = _join(self.kind(value), self.kind(rest_val))
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
        self.kinds[out] = _join(self.kind(then_val), self.kind(else_val))
        self.emit(ir.If(cond, then_body, else_body, [out], [then_val], [else_val], self.loc(node)))
        return ir.Var(out)

    def expr_Subscript(self, node, hint):
        value = self.expr(node.value, None)
        if is_container(value):
            return self.container_getitem(value, node)
        index = self.index(node.slice, node)
        value = self.as_operand(value, node)
        return self.getitem(value, index, node, hint)

    def getitem(self, value, index, node, hint):
        if self.is_list(value):
            return self.list_item(value, index, node, hint)
        if isinstance(value, ir.Seq) and len(index.parts) == 1 and isinstance(index.parts[0], ir.Const):
            return value.items[index.parts[0].value]
        if isinstance(value, ir.Seq):
            self.refuse(node, "indexing a tuple or list literal with a value computed at run time "
                              "is not supported; use an array (np.array / np.stack) or a constant index",
                        "dynamic index into a tuple")
        if isinstance(value, ir.Var) and value.name in self.poisoned:
            self.lookup_poison(value.name, node)
        target = self.fresh(hint or (_base(value) + "_i" if isinstance(value, ir.Var) else "tmp"), hint)
        self.emit(ir.GetItem(target, value, index, self.loc(node)))
        src_kind = self.kind(value)
        all_int = all(self.kind(p) == "int" for p in index.parts)
        ndim = self.ndims.get(value.name) if isinstance(value, ir.Var) else None
        if src_kind == "shape" or (src_kind == "intarray" and all_int and ndim == len(index.parts)):
            self.kinds[target] = "int"
        elif src_kind in ("array", "buffer") and all_int and ndim == len(index.parts):
            self.kinds[target] = "float"
        elif src_kind in ("array", "buffer") and ndim is not None and not any(
                p is None or isinstance(p, ir.Slice) for p in index.parts) and all_int:
            self.ndims[target] = ndim - len(index.parts)
            self.kinds[target] = "array"
        if isinstance(value, ir.Var) and (value.name in self.groups or value.name in self.views):
            group = self.groups.get(value.name, self.views.get(value.name))
            ndim = self.ndims.get(value.name)
            scalar = ndim is not None and len(index.parts) == ndim and all_int
            if not scalar:
                self.views[target] = group
        return ir.Var(target)

    def lookup_poison(self, name, node):
        where = self.poisoned[name]
        self.refuse(node, f"this reads a view of an array that was written in place at line "
                          f"{where.line}; its values changed under it. Copy it (.copy()) before "
                          f"the write", "stale view", AliasingError)

    def index(self, node, at) -> ir.Index:
        parts = node.elts if isinstance(node, gast.Tuple) else [node]
        out = []
        for p in parts:
            if isinstance(p, gast.Slice):
                bounds = [None if b is None else self.as_operand(self.expr(b, None), b)
                          for b in (p.lower, p.upper, p.step)]
                out.append(ir.Slice(*bounds))
            elif isinstance(p, gast.Constant) and (p.value is None or p.value is Ellipsis):
                out.append(p.value)
            else:
                v = self.expr(p, None)
                if isinstance(v, tuple):
                    self.refuse(at, "tuple-valued indices are not supported", "index")
                out.append(self.as_operand(v, p))
        return ir.Index(tuple(out))

    def expr_Attribute(self, node, hint):
        base = self.expr(node.value, None)
        if is_container(base):
            if node.attr not in getattr(type(base), "_fields", ()):
                self.refuse(node, f"a {type(base).__name__} has no field '{node.attr}'", "attribute")
            return getattr(base, node.attr)
        if isinstance(base, _Object):
            try:
                return self.constant(getattr(base.value, node.attr), node, f"{base.name}.{node.attr}")
            except AttributeError:
                self.refuse(node, f"'{base.name}' has no attribute '{node.attr}'", "attribute")
        fn = ATTRIBUTES.get(node.attr)
        if fn is None:
            self.refuse(node, f"the attribute '.{node.attr}' is not supported on arrays", "attribute")
        return self.call(fn, [self.as_operand(base, node)], {}, node, hint)

    def callee_of(self, func):
        """The object a call's ``func`` expression denotes, if it is not a method call on a value."""
        if isinstance(func, gast.Name):
            if func.id in self.env:
                return None
            if self.parsed.has_name(func.id):
                return self.parsed.resolve(func.id)
            return None
        if isinstance(func, gast.Attribute):
            owner = self.callee_of(func.value)
            if owner is not None:
                return getattr(owner, func.attr, _MISSING)
        return None

    def expr_Call(self, node, hint):
        func = node.func
        if isinstance(func, gast.Name) and isinstance(self.env.get(func.id), _LocalFunction):
            return self.inline_local(self.env[func.id], node, hint)
        fn = self.callee_of(func)
        if fn is None and isinstance(func, gast.Attribute):
            return self.method_call(node, hint)
        if self.is_container_builtin(fn):
            return self.container_call(fn, node, hint)
        if fn is None or fn is _MISSING:
            spelled = ast.unparse(gast.gast_to_ast(func))
            self.refuse(node, f"cannot resolve '{spelled}': it is not a known function or a "
                              f"method of an array; register a rule with srcgrad.defvjp",
                        "call", UnknownCalleeError)
        args = []
        prim = registry.lookup(fn)
        shape_only = {i for i, r in prim.vjps.items() if r is registry.ZERO} if prim else set()
        for i, a in enumerate(node.args):
            if isinstance(a, gast.Starred):
                self.refuse(a, "*args in calls are not supported", "call")
            if i in shape_only and isinstance(a, gast.Name):
                value = self.env.get(a.id) or self.expr(a, None)        # only its shape is read
                args.append(self.as_operand(value, a) if isinstance(value, (tuple, list)) else value)
                continue
            args.append(self.call_operand(fn, self.expr(a, None), a))
        kwargs = {}
        for kw in node.keywords:
            if kw.arg is None:
                self.refuse(node, "**kwargs in calls are not supported", "call")
            kwargs[kw.arg] = self.call_operand(fn, self.expr(kw.value, None), kw.value)
        return self.call(fn, args, kwargs, node, hint)

    def add_at(self, node):
        """``add_at(a, index, v)`` updates the buffer ``a`` in place: a new version of it."""
        args = [self.as_operand(self.expr(a, None), a) for a in node.args]
        array = args[0] if args else None
        if len(args) != 3 or node.keywords or not (isinstance(array, ir.Var) and array.name in self.groups):
            self.refuse(node, "add_at(a, index, value) needs an array created in this function",
                        "add_at", AliasingError)
        name = node.args[0].id if isinstance(node.args[0], gast.Name) else _base(array)
        new = self.fresh(name, name)
        self.emit(ir.Call(new, tape_rt.add_at, "add_at", args, {}, self.loc(node)))
        self.new_version(new, array, node)

    def method_call(self, node, hint):
        func = node.func
        name = self.list_method(node)
        if name is not None:
            return self.list_call(name, node, hint)
        owner = self.expr(func.value, None)
        if self.is_list(owner):
            self.refuse_list_change(ast.unparse(gast.gast_to_ast(func.value)), node, func.attr)
        if is_container(owner) and not isinstance(owner, ir.Seq):
            return self.container_method(owner, node, hint)
        base = self.as_operand(owner, func.value)
        fn = METHODS.get(func.attr)
        if fn is None:
            self.refuse(node, f"the method '.{func.attr}()' is not supported", "method call",
                        UnknownCalleeError)
        args = [base] + [self.as_operand(self.expr(a, None), a) for a in node.args]
        kwargs = {kw.arg: self.as_operand(self.expr(kw.value, None), kw.value) for kw in node.keywords}
        if fn is np.reshape and len(args) > 2:
            args = [base, ir.Seq(tuple(args[1:]))]
        if fn is np.transpose and len(args) > 2:
            args = [base, ir.Seq(tuple(args[1:]))]
        return self.call(fn, args, kwargs, node, hint)

    def call(self, fn, args, kwargs, node, hint):
        """Emit ``target = fn(args)`` for a registered primitive and return its value."""
        read = self.list_reader(fn, args, kwargs, node, hint)
        if read is not None:
            return read
        if registry.lookup(fn) is None and (getattr(fn, "__module__", None) or "").startswith(
                "srcgrad.runtime"):
            raise UnknownCalleeError(
                f"derivatives of derivatives through '{fn.__name__}' (a helper of generated "
                f"code) are not supported yet: it has no derivative rule", self.loc(node),
                "higher-order derivative")
        if calls.is_user_function(fn):
            bound, problem = calls.bind_arguments(fn, args, kwargs, ir.Const)
            if problem:
                self.refuse(node, problem, "call")
            args, kwargs = bound, {}
            fn = calls.callee_primitive(fn)
        if custom.is_function_apply(fn):
            if kwargs:
                self.refuse(node, f"{fn.__self__.__name__}.apply takes positional arguments only",
                            "Function.apply")
            fn = custom.function_primitive(fn.__self__)
        folded = self.fold_constants(fn, args, kwargs)
        if folded is not None:
            return folded
        prim = registry.lookup(fn)
        name = getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None) or repr(fn)
        if prim is None:
            if fn is float and len(args) == 1:
                return args[0]
            raise UnknownCalleeError(
                f"'{spell(fn) if callable(fn) else name}' has no derivative rule and cannot be "
                f"differentiated through; register one with srcgrad.defvjp({name}, ...)",
                self.loc(node), "unknown function")
        if isinstance(node, gast.Call):
            self.check_signature(prim, args, kwargs, node)
        # a list of pieces is spelled as a tuple, which Numba's np.stack/np.concatenate take
        args = [ir.Seq(a.items) if i in prim.seq_params and isinstance(a, ir.Seq) else a
                for i, a in enumerate(args)]
        spelled = spell(fn)
        if "." not in spelled:
            self.taken.add(spelled)     # generated code calls it by this bare name
        target = self.fresh(hint or _short(fn), hint)
        self.emit(ir.Call(target, fn, spelled, list(args), dict(kwargs), self.loc(node)))
        self.kinds[target] = self.result_kind(fn, args)
        if isinstance(fn, calls.CalleePrimitive) and fn.arity is not None:
            self.kinds[target] = "tuple"
            self.arity[target] = fn.arity
        ndim = self.result_ndim(fn, args, kwargs)
        if ndim is not None and self.kinds[target] not in ("int", "bool", "shape"):
            if ndim == 0:
                self.kinds[target] = "float"
            else:
                self.ndims[target] = ndim
                self.kinds[target] = self.kinds[target] or "array"
        if id(fn) in LIST_CONSTRUCTORS:
            self._group_ids += 1
            self.groups[target] = self._group_ids
            self.kinds[target] = "list"
            suffix = fn.__name__.partition("_")[2]          # stack_f64_1d: 1-d float64 items
            if suffix and not suffix.startswith("list"):
                dtype, _, dims = suffix.partition("_")
                self.item_ndims[self._group_ids] = (int(dims[0]) if dims else 0, dtype)
        elif id(fn) in ALLOCATORS and not (fn is broadcast_rt.zeros_like and
                                           self.kind(args[0]) in ("float", "int", "bool")):
            self._group_ids += 1
            self.groups[target] = self._group_ids
            self.kinds[target] = "buffer"
            ndim = self.alloc_ndim(fn, args, kwargs)
            if ndim is not None:
                self.ndims[target] = ndim
        elif fn in (np.transpose, np.reshape, np.ravel, np.squeeze, np.expand_dims) and args and \
                isinstance(args[0], ir.Var) and (args[0].name in self.groups or args[0].name in self.views):
            self.views[target] = self.groups.get(args[0].name, self.views.get(args[0].name))
        return ir.Var(target)

    def check_signature(self, prim, args, kwargs, node):
        sig = prim.signature
        if sig is None:
            return
        try:
            sig.bind(*args, **kwargs)
        except TypeError as exc:
            self.refuse(node, f"unsupported arguments for {prim.name}: {exc}", "call")

    def alloc_ndim(self, fn, args, kwargs):
        if not args:
            return None
        a = args[0]
        if fn in (np.copy, np.zeros_like, np.empty_like, np.ones_like, np.full_like, np.array,
                  broadcast_rt.zeros_like):
            return self.ndims.get(a.name) if isinstance(a, ir.Var) else None
        if isinstance(a, ir.Seq):
            return len(a.items)
        if self.kind(a) == "int" or (isinstance(a, ir.Const) and isinstance(a.value, int)):
            return 1
        return None

    def ndim_of(self, op):
        """The rank of an operand when known (0 for scalars), else None."""
        if self.kind(op) in ("float", "int", "bool"):
            return 0
        if isinstance(op, ir.Var):
            return self.ndims.get(op.name)
        return None

    def result_ndim(self, fn, args, kwargs):
        """Rank of a call's result, for elementwise ops, products and full reductions."""
        ndims = [self.ndim_of(a) for a in args]
        if fn in (np.dot, operator.matmul, np.matmul) and len(ndims) == 2 and None not in ndims:
            a, b = ndims
            if a == 0 or b == 0:
                return max(a, b)
            return a + b - 2 if fn is np.dot or (a <= 2 and b <= 2) else None
        if fn in SCALAR_REDUCTIONS and len(args) == 1 and not kwargs:
            return 0
        elementwise = isinstance(fn, np.ufunc) or fn in INFIX_ELEMENTWISE
        if elementwise and ndims and None not in ndims and not kwargs:
            return max(ndims)
        return None

    def result_kind(self, fn, args):
        kinds = [self.kind(a) for a in args]
        if id(fn) in BOOL_RESULT:
            return "bool"
        if id(fn) in INT_RESULT:
            return "int"
        if fn is np.shape:
            return "shape"
        if id(fn) in INT_PRESERVING and kinds and all(k in ("int", "bool") for k in kinds):
            return "int"
        if fn is operator.and_ or fn is operator.or_:
            return "bool"
        scalar = kinds and all(k in ("int", "bool", "float") for k in kinds)
        module = getattr(fn, "__module__", "") or ""
        if module == "math" or (scalar and (id(fn) in INT_PRESERVING or fn in (
                operator.truediv, operator.pow, pow, float, np.sqrt, np.exp, np.log,
                np.sin, np.cos, np.tanh, np.abs))):
            return "float"
        return None          # full reductions: result_ndim knows (an axis keeps an array)


def _reads(body, name) -> bool:
    """Whether any statement of ``body`` (nested ones included) reads the value ``name``."""
    for stmt in ir.walk(body):
        operands = ir.used_operands(stmt)
        if isinstance(stmt, ir.If):
            operands += list(stmt.then_yields) + list(stmt.else_yields)
        elif isinstance(stmt, (ir.For, ir.While)):
            operands += list(stmt.yields)
        if any(name in ir.operand_vars(op) for op in operands):
            return True
    return False


class _Undefined:
    def __repr__(self):
        return "<undefined>"


_UNDEF = _Undefined()
_MISSING = object()


@dataclass
class _LocalFunction:
    """A function defined inside the differentiated one (``def`` or ``lambda``)."""

    node: object


@dataclass
class _Object:
    """A non-numeric object from the function's namespace (module, function, array...)."""

    value: object
    name: str | None


def _join(a, b):
    if a == b:
        return a
    if {a, b} <= {"int", "bool"}:
        return "int"
    return None


def _base(op):
    name = op.name
    head, _, tail = name.rpartition("_")
    return head if tail.isdigit() and head else name


def _hint(target):
    return target.id if isinstance(target, gast.Name) else None


def _short(fn):
    name = getattr(fn, "__name__", "t")
    name = {"add": "tmp", "sub": "tmp", "mul": "tmp", "truediv": "tmp", "neg": "tmp",
            "pow": "tmp", "matmul": "tmp", "floordiv": "tmp", "mod": "tmp", "pos": "tmp",
            "sum": "total", "max": "largest", "min": "smallest", "abs": "magnitude",
            "len": "n"}.get(name, name)
    return name if name.isidentifier() else "tmp"


def _opsym(op):
    return {gast.Add: "+", gast.Sub: "-", gast.Mult: "*", gast.Div: "/", gast.Pow: "**",
            gast.MatMult: "@", gast.FloorDiv: "//", gast.Mod: "%"}.get(type(op), "?")


def settle_loop_integers(fn: ir.Function, kind) -> None:
    """Find loop-carried values that are always integers (loop indices kept after a loop).

    Lowering sees a loop body before it knows what the body yields, so carried values start
    unknown.  An optimistic fixpoint over all loops settles which are integers.  Such a
    value unbound before its loop starts at 0: Python would raise NameError reading it
    after zero iterations, and 0 gives it a single type for Numba.
    """
    loops = [s for s in ir.walk(fn.body) if isinstance(s, (ir.For, ir.While))]
    state = {n: "bottom" for s in loops for n in list(s.carried) + list(s.outs)}

    def of(op):
        if isinstance(op, ir.Const) and op.value is None:
            return "bottom"
        if isinstance(op, ir.Var) and op.name in state:
            return state[op.name]
        return kind(op)

    changed = True
    while changed:
        changed = False
        for s in loops:
            for c, init, y, o in zip(s.carried, s.inits, s.yields, s.outs):
                kinds = {of(init), of(y)} - {"bottom"}
                new = "int" if kinds == {"int"} else ("bottom" if not kinds else None)
                if new != state[c]:
                    state[c] = state[o] = new
                    changed = True
    for s in loops:
        for j, (c, init, o) in enumerate(zip(s.carried, s.inits, s.outs)):
            if state[c] == "int":
                fn.kinds[c] = fn.kinds[o] = "int"
                if isinstance(init, ir.Const) and init.value is None:
                    s.inits[j] = ir.Const(0)


def lower(parsed, arg_kinds=None, trees=None, has_aux=False) -> ir.Function:
    """Lower a parsed function to IR; ``arg_kinds`` maps parameter -> (kind, ndim).

    ``trees`` maps a container parameter to ``(treedef, [(kind, ndim) per leaf])``: it
    becomes one IR parameter per leaf.  ``has_aux``: the function returns ``(value, aux)``
    and aux is not differentiated.  ``fn.result_tree`` is the structure of the result.
    """
    lowerer = Lowerer(parsed, arg_kinds or {}, trees, has_aux)
    fn = lowerer.lower_function()
    fn.result_tree = lowerer.result_tree
    settle_loop_integers(fn, lowerer.kind)
    fn.ndims = lowerer.ndims
    fn.arity = lowerer.arity
    fn.result_loc = lowerer.result_loc or fn.loc
    ir.check(fn)
    fn = prune(fn)
    ir.check(fn)
    return fn


__all__ = ["lower", "spell"]
