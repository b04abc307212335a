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
import copy
import math
import operator
from dataclasses import dataclass

import gast
import numpy as np

from srcgrad import calls, custom, ir
from srcgrad.errors import (AliasingError, Loc, UnknownCalleeError,
                            UnsupportedSyntaxError)
from srcgrad.rules import casts, registry
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
# statements refused by lowering: gast class name -> (construct, what to do instead)
UNSUPPORTED_STATEMENTS = {
    "With": ("with", "move the 'with' block out of the differentiated function (for "
                     "np.errstate, set np.seterr around the call) and differentiate its body"),
    "AsyncWith": ("async with", "differentiate a plain function without 'async'"),
    "Try": ("try", "exceptions cannot be differentiated through; use an if instead of "
                   "try/except, testing the condition (if np.all(x > 0): ... else: ...)"),
    "TryStar": ("try", "exceptions cannot be differentiated through; use an if instead of "
                       "try/except*, testing the condition"),
    "Raise": ("raise", "check the inputs before calling the derivative (an exception has "
                       "no derivative); an assert is accepted, but skipped as with python -O"),
    "Global": ("global", "pass the value as a parameter or read it without 'global' (reading "
                         "a module-level name needs no declaration; assigning one is a side "
                         "effect the derivative cannot replay)"),
    "Nonlocal": ("nonlocal", "pass the value as a parameter and return the new value"),
    "Delete": ("del", "remove the 'del'; let the name go out of scope (or rebind it)"),
    "Import": ("import", "move the import to module level"),
    "ImportFrom": ("import", "move the import to module level"),
    "ClassDef": ("class", "define the class at module level"),
    "AsyncFunctionDef": ("async def", "define the nested function with a plain 'def'"),
    "AsyncFor": ("async for", "use a plain for loop"),
    "Match": ("match", "write the cases as if/elif/else"),
    "AnnAssign": ("annotated assignment", "drop the annotation (x = ... instead of "
                                          "x: float = ...)"),
}
UNSUPPORTED_EXPRESSIONS = {
    "NamedExpr": ("assignment expression :=", "assign the value on its own line first "
                                              "(y = ...), then use y"),
    "Yield": ("yield", "return the value instead"),
    "YieldFrom": ("yield from", "return the value instead"),
    "Await": ("await", "differentiate a plain function without 'async'"),
    "JoinedStr": ("f-string", "pass the values as separate arguments: print(\"x =\", x)"),
    "Starred": ("*", "pass the items one by one, or pass the container itself"),
}

# functions whose result is a fresh array the function may write in place
ALLOCATORS = {id(f) for f in (np.copy, np.zeros, np.empty, np.zeros_like, np.empty_like,
                              np.ones, np.ones_like, np.full, np.full_like, np.array,
                              broadcast_rt.zeros_like, tape_rt.hist_f64, tape_rt.hist_f32,
                              tape_rt.hist_i64, tape_rt.hist_bool)}
# functions whose array result is always a new array (never one of their operands or a view)
FRESH_RESULT = {id(f) for f in (operator.add, operator.sub, operator.mul, operator.truediv,
                                operator.pow, operator.neg, operator.pos, operator.mod,
                                operator.floordiv, operator.matmul, np.dot, np.outer, np.cumsum,
                                np.cumprod, np.concatenate, np.stack, np.where, np.clip, np.sum,
                                np.mean, np.prod, np.max, np.min, np.var, np.std, np.diff)}
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
        self.placeholders: dict[str, str] = {}   # value None before a loop -> its carried root
        self.owned: dict[str, list] = {}         # array made here -> values it may be (merges)
        self.shape_len: dict[str, int] = {}      # x.shape value -> its length (x's rank)
        self.sources: dict[str, list] = {}       # merged or carried value -> what it may be
        self.view_base: dict[str, str] = {}      # view of a value not (yet) a buffer -> it
        self.outer_placeholder: dict[str, str] = {}  # carried -> enclosing loop's placeholder
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
        if arg_nodes.vararg or arg_nodes.kwarg:
            self.refuse(node, "*args and **kwargs parameters are not supported: name each "
                              "parameter, or pass several values as one tuple, list or dict",
                        "parameters")
        bound = getattr(self.parsed, "bound", {})
        for a in arg_nodes.posonlyargs + arg_nodes.args + arg_nodes.kwonlyargs:
            if a.id in bound:
                continue             # self or a partial's argument: resolved like a closure value
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
            construct, advice = UNSUPPORTED_STATEMENTS.get(
                type(node).__name__, (type(node).__name__, "rewrite it with assignments, "
                                                            "if, for and while"))
            self.refuse(node, f"'{construct}' is not supported in a differentiated function; "
                              f"{advice}", construct)
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
        if isinstance(value, gast.Call) and self.callee_of(value.func) is print:
            self.print_call(value)   # runs in the forward sweep, for debugging
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
        self.refuse(node, "an expression statement has no value to differentiate; of the "
                          "calls made for their side effects, only print(...) and the methods "
                          "of a list the function built are supported: assign the result "
                          "(y = ...) if it is needed", "expression statement")

    def print_call(self, node):
        """``print(a, b)``: a call kept for its output, never differentiated (the values
        printed are those of the forward sweep, as in the function itself)."""
        if node.keywords:
            self.refuse(node, "print's keyword arguments (sep=, end=, file=...) are not "
                              "supported (Numba has none); print the values alone: print(a, b)",
                        "print")
        args = []
        for a in node.args:
            value = self.expr(a, None)
            if is_container(value) and not isinstance(value, ir.Seq):
                self.refuse(a, "print a container's items one by one (print(d[\"w\"]))", "print")
            args.append(self.as_operand(value, a))
        target = self.fresh("printed")
        self.emit(ir.Call(target, print, "print", args, {}, self.loc(node)))
        self.kinds[target] = "other"

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
        if isinstance(old, ir.Var) and (old.name in self.groups or self.is_array(old)):
            # NumPy updates an array in place: u += e is u[...] = u + e, seen by every alias
            if not self.make_buffer(old):
                self.refuse_foreign_write(target.id, old, node, f"'{target.id} {_opsym(node.op)}= ...'",
                                          f"write '{target.id} = {target.id} {_opsym(node.op)} ...'")
            value = self.call(fn, [old, self.expr(node.value, None)], {}, node, None)
            self.store_into(target.id, old, ir.Index((ir.Slice(),)), value, node)
            return
        if isinstance(old, ir.Var) and self.kind(old) is None and self.shared(target.id, old):
            self.refuse(node, f"'{target.id} {_opsym(node.op)}= ...' updates an array in place "
                              f"but rebinds a number, and srcgrad cannot tell which '{target.id}' "
                              f"holds here; write '{target.id} = {target.id} {_opsym(node.op)} ...'",
                        "augmented assignment of an unknown kind")
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

    def shared(self, name, op) -> bool:
        """Whether another name (or the caller) may hold the object ``op``: only then does
        it matter whether an update of ``name`` is in place."""
        return op.name in self.params or any(
            isinstance(v, ir.Var) and v.name == op.name for n, v in self.env.items() if n != name)

    def is_array(self, op) -> bool:
        """Whether ``op`` is known to hold an array (not a scalar) when the derivative is made."""
        if not isinstance(op, ir.Var):
            return False
        return self.kinds.get(op.name) in ("array", "buffer") or bool(self.ndims.get(op.name))

    def make_buffer(self, op) -> bool:
        """Let the function write ``op`` in place: true for arrays it created itself (the
        result of an operation, or a merge of such results), which join one buffer group
        with every value they may be, so aliases see the write."""
        if not isinstance(op, ir.Var):
            return False
        if op.name in self.groups:
            return True
        sources = self.owned.get(op.name)
        if sources is None:
            return False
        self._group_ids += 1
        group = self._group_ids
        pending = [op.name]
        while pending:
            name = pending.pop()
            if name in self.groups:
                old = self.groups[name]
                for other, g in list(self.groups.items()):
                    if g == old:
                        self.groups[other] = group
                continue
            self.groups[name] = group
            self.kinds[name] = "buffer"
            pending += [v for v in self.owned.get(name, []) if v not in self.groups or
                        self.groups[v] != group]
        # views taken of these values before they became a buffer are views of it now
        changed = True
        while changed:
            changed = False
            for view, base in self.view_base.items():
                if view not in self.views and (self.groups.get(base) == group or
                                               self.views.get(base) == group):
                    self.views[view] = group
                    changed = True
        return True

    def refuse_foreign_write(self, name, array, node, what, instead):
        """A write into an array the function does not own (an argument, or a value that may
        be one): refused, since the caller's array would change."""
        self.refuse(node, f"{what} would write into an array this function did not create "
                          f"('{name}' may be an argument, or a view of one), changing the "
                          f"caller's data; {instead}, or copy it first ('{name} = {name}.copy()')",
                    "in-place update of an argument", AliasingError)

    def store_into(self, name, array, index, value, node):
        if isinstance(array, ir.Var) and array.name not in self.groups and \
                array.name not in self.views:
            self.make_buffer(array)
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
        # a name bound to another value of the group (merged or carried) may be this same
        # array on some path: its value is uncertain now
        if self.kinds.get(array.name) == "buffer":
            members = {n for n, g in self.groups.items() if g == group}
            for user, op in self.env.items():
                if isinstance(op, ir.Var) and op.name != new and (
                        self.groups.get(op.name) == group or self.may_be(op.name) & members):
                    self.poisoned.setdefault(op.name, self.loc(node))

    def may_be(self, name) -> set:
        """The values ``name`` may be the same object as, through merges and loops."""
        seen, pending = set(), list(self.sources.get(name, ()))
        while pending:
            n = pending.pop()
            if n not in seen:
                seen.add(n)
                pending += self.sources.get(n, ())
        return seen

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
                       if then_env.get(n, _UNDEF) != else_env.get(n, _UNDEF))
        for n in set(then_env) & set(else_env):
            if n not in names:
                self.env[n] = then_env[n]      # the same value on both paths: no merge
        outs, ty, ey = [], [], []
        for n in names:
            tv, ev = then_env.get(n, _UNDEF), else_env.get(n, _UNDEF)
            if holds_mutable(tv) or holds_mutable(ev):
                if tv is _UNDEF or ev is _UNDEF:
                    self.refuse(node, f"'{n}' is a container bound in one branch only", "if")
                self.env[n] = self.merge_containers(n, tv, ev, outs, ty, ey, node)
                continue
            self.env[n] = self.merge_value(n, tv, ev, (outs, ty, ey), node)
        self.emit(ir.If(cond, then_body, else_body, outs, ty, ey, self.loc(node)))

    def merge_value(self, n, tv, ev, merged, node):
        """One merged value of ``n``: a tuple is merged item by item (its structure is
        known now), a value bound on one path only merges with None."""
        if isinstance(tv, tuple) or isinstance(ev, tuple):
            shape = _shape(tv if isinstance(tv, tuple) else ev)
            tv, ev = (self.spread(n, v, shape, node) for v in (tv, ev))
            return tuple(self.merge_value(n, t, e, merged, node) for t, e in zip(tv, ev))
        if tv == ev:
            return tv
        tv = ir.Const(None) if tv is _UNDEF else tv
        ev = ir.Const(None) if ev is _UNDEF else ev
        out = self.fresh(n, n)
        for lst, v in zip(merged, (out, tv, ev)):
            lst.append(v)
        kinds = [self.kind(v) for v in (tv, ev) if not _is_none(v)] or [None]
        self.kinds[out] = _join(kinds[0], kinds[-1])   # None stands for "unbound here"
        self.join_buffers(out, [tv, ev], node)
        self.sources[out] = [v.name for v in (tv, ev) if isinstance(v, ir.Var)]
        self.own_if_all(out, [tv, ev])
        self.same_rank(out, [tv, ev])
        roots = {self.placeholders.get(v.name) for v in (tv, ev) if isinstance(v, ir.Var)} - {None}
        if roots and all(_is_none(v) or (isinstance(v, ir.Var) and v.name in self.placeholders)
                         for v in (tv, ev)):
            self.placeholders[out] = min(roots)
        return ir.Var(out)

    def same_rank(self, out, sources):
        """``out`` has the rank its possible values share (arrays only)."""
        ranks = {self.ndim_of(v) for v in sources if not _is_none(v) and v is not _UNDEF}
        if len(ranks) == 1 and ranks != {None} and ranks != {0}:
            self.ndims[out] = ranks.pop()
            self.kinds[out] = self.kinds.get(out) or "array"

    def own_if_all(self, out, sources):
        """``out`` is an array made here if every value it may be is one."""
        names = [v.name for v in sources if isinstance(v, ir.Var)]
        if len(names) == len(sources) and all(n in self.owned or n in self.groups for n in names):
            self.owned[out] = names

    def spread(self, n, value, shape, node):
        """``value`` as a tuple of structure ``shape``: None (or unbound) stands for a tuple
        of Nones; a loop value not yet known to be a tuple restarts the loop."""
        if isinstance(value, tuple):
            if _shape(value) != shape:
                self.refuse(node, f"'{n}' is a tuple of a different length on each path; "
                                  f"give it the same structure on every path", "tuple")
            return value
        if value is _UNDEF or _is_none(value):
            return _rebuild(shape, [ir.Const(None)] * _count(shape))
        if isinstance(value, ir.Var) and value.name in self.placeholders:
            raise _Restructure(self.placeholders[value.name], shape)
        self.refuse(node, f"'{n}' is a tuple on one path and a single value on another; "
                          f"give it the same structure on every path", "tuple")

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

    def start_loop(self, names, node, shapes):
        """Create carried values for ``names`` (a tuple is carried item by item); returns
        one slot (name, structure, carried names, inits) per name."""
        slots = []
        for n in names:
            init = self.env.get(n, _UNDEF)
            if isinstance(init, (list, dict)) or holds_mutable(init):
                self.refuse(self.first_change(node, n),
                            f"'{n}' is a {type(init).__name__} that changes inside a loop; a "
                            f"container's structure must be known when the derivative is "
                            f"generated (loops over containers are unrolled)", "loop")
            shape = _shape(init) if isinstance(init, tuple) else shapes.get(n)
            leaves = _leaves(self.spread(n, init, shape, node)) if shape is not None else [init]
            carried, inits = [], []
            for leaf in leaves:
                leaf = ir.Const(None) if leaf is _UNDEF else leaf
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
                if _is_none(leaf):
                    self.placeholders[c] = c
                elif isinstance(leaf, ir.Var) and leaf.name in self.placeholders:
                    self.placeholders[c] = c
                    self.outer_placeholder[c] = self.placeholders[leaf.name]
            vars_ = [ir.Var(c) for c in carried]
            self.env[n] = _rebuild(shape, vars_) if shape is not None else vars_[0]
            slots.append((n, shape, carried, inits))
        return slots

    def finish_loop(self, slots, body_env, node, body=()):
        """Yields and outputs of the carried values; returns (carried, inits, yields, outs)."""
        kept = ([], [], [], [])
        written = self.written_groups(body)
        for n, shape, carried, inits in slots:
            y = body_env.get(n, _UNDEF)
            if isinstance(y, (list, dict)) or holds_mutable(y):
                if _is_none(inits[0]) and len(inits) == 1:
                    self.env.pop(n, None)
                    continue
                self.refuse(node, f"'{n}' becomes a {type(y).__name__} inside a loop", "loop")
            if shape is None and isinstance(y, tuple):
                raise _Restructure(carried[0], _shape(y))
            if shape is not None:
                ys = _leaves(self.spread(n, y, shape, node)) if y is not _UNDEF else carried
            else:
                ys = [y]
            if shape is None and self.is_list(y) and _is_none(inits[0]) and not _reads(body, carried[0]):
                self.env.pop(n, None)         # a list made anew in each iteration
                continue
            outs = []
            for c, init, y in zip(carried, inits, ys):
                y = ir.Var(y) if isinstance(y, str) else y
                y = ir.Const(None) if y is _UNDEF else y
                out = self.fresh(n, n)
                self.kinds[out] = _join(self.kinds.get(c), self.kind(y))
                if _is_none(init) and self.kinds.get(c) is None and self.kind(y) in ("float", "array"):
                    self.kinds[out] = self.kind(y)   # unbound before the loop: its last value
                if self.groups.get(c) in written and isinstance(y, ir.Var) \
                        and y.name not in self.groups and not self.make_buffer(y):
                    self.refuse_foreign_write(n, y, self.first_change(node, n),
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
                outs.append(ir.Var(out))
                for lst, v in zip(kept, (c, init, y, out)):
                    lst.append(v)
            self.env[n] = _rebuild(shape, outs) if shape is not None else outs[0]
        return kept

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
            except _Restructure as again:
                slot = self.loop_slot_of(again.carried, saved)
                if slot is None:
                    raise
                outer = self.outer_placeholder.get(again.carried)
                self.restore(saved)
                if outer is not None:     # the value comes from an enclosing loop
                    raise _Restructure(outer, again.shape) from None
                shapes[slot] = again.shape

    def loop_slot_of(self, carried, saved):
        """The user name of ``carried`` if this loop (not an enclosing one) created it."""
        if carried in saved["taken"][1]:
            return None
        return self.user_names.get(carried)

    def snapshot(self) -> dict:
        """The lowerer's state, to lower a loop again from where it started."""
        return {k: (v, copy.copy(v) if isinstance(v, (dict, list, set)) else None)
                for k, v in vars(self).items()}

    def restore(self, saved):
        for k, (obj, contents) in saved.items():
            if isinstance(obj, (dict, list, set)):
                if isinstance(obj, list):
                    obj[:] = contents
                else:
                    obj.clear()
                    obj.update(contents)
            setattr(self, k, obj)
        for k in [k for k in vars(self) if k not in saved]:
            delattr(self, k)

    def stmt_For(self, node):
        static = self.static_loop_items(node)
        if static is not None:
            for item in static:       # a loop over a container is unrolled
                self.bind(node.target, item, node)
                self.block(node.body)
            return
        self.runtime_lists(node.body, node)
        self.lower_loop(node, lambda shapes: self.lower_for(node, shapes))

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

    def written_groups(self, body) -> set:
        """The buffer groups that ``body`` writes in place."""
        return {self.groups[s.target] for s in ir.walk(body)
                if isinstance(s, ir.Store) or (isinstance(s, ir.Call) and s.fn is tape_rt.add_at)
                if s.target in self.groups}

    def check_stale_reads(self, slots, body, node):
        """Refuse a loop that reads, from a value made before it, an array the loop writes
        in place: from the second iteration on, that value is out of date (an alias or a
        view of the array, not the loop's own version of it)."""
        written = self.written_groups(body)
        if not written:
            return
        inside = {n for s in ir.walk(body) for n in ir.defined_names(s)}
        inside |= {c for _, _, carried, _ in slots for c in carried}
        inside |= {c for s in ir.walk(body) if isinstance(s, (ir.For, ir.While)) for c in s.carried}
        for s in ir.walk(body):
            operands = list(ir.used_operands(s))
            for v in {n for op in operands for n in ir.operand_vars(op)} - inside:
                group = self.groups.get(v, self.views.get(v))
                if group in written and self.kinds.get(v) != "list":
                    user = self.user_names.get(v, v)
                    self.refuse(node, f"this loop writes an array in place and also reads "
                                      f"'{user}', an alias or view of it made before the loop, "
                                      f"which is out of date from the second iteration on; "
                                      f"read the array itself, or copy '{user}' (.copy())",
                                "stale alias", AliasingError)

    def reset_carried(self, slots):
        for n, shape, carried, _ in slots:
            vars_ = [ir.Var(c) for c in carried]
            self.env[n] = _rebuild(shape, vars_) if shape is not None else vars_[0]

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
        if isinstance(it, gast.Name) and it.id not in _rebound(node):
            # Python iterates the array object itself: writes in the body show in later items
            return self.length(seq, it), lambda k, hint=None: self.getitem(
                self.as_operand(self.lookup(it.id, it), it), ir.Index((k,)), node, hint)
        return self.length(seq, it), lambda k, hint=None: self.getitem(seq, ir.Index((k,)), node, hint)

    def length(self, seq, node):
        if isinstance(seq, ir.Seq):
            return ir.Const(len(seq.items))
        return self.call(len, [seq], {}, node, "n")

    def stmt_While(self, node):
        if node.orelse:
            self.refuse(node, "loop 'else' clauses are not supported", "while-else")
        self.runtime_lists(node.body, node)
        self.lower_loop(node, lambda shapes: self.lower_while(node, shapes))

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
                self.refuse(node, f"'{name}' may share memory with an array that was written "
                                  f"in place at line {where.line} (it is a view or an alias of "
                                  f"it), so its value here is uncertain; copy it (.copy()) "
                                  f"before the write, or read the written array itself",
                            "stale view", AliasingError)
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
            construct, advice = UNSUPPORTED_EXPRESSIONS.get(
                type(node).__name__, (type(node).__name__, "compute it in separate assignments"))
            self.refuse(node, f"'{construct}' is not supported in a differentiated function; "
                              f"{advice}", construct)
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
        elif src_kind in ("array", "buffer") and ndim is not None:
            rank = _indexed_rank(ndim, index.parts, self.kind)
            if rank == 0:
                self.kinds[target] = "float"
            elif rank is not None:
                self.ndims[target] = rank
                self.kinds[target] = "array"
        if isinstance(value, ir.Var) and (value.name in self.groups or value.name in self.views):
            group = self.groups.get(value.name, self.views.get(value.name))
            ndim = self.ndims.get(value.name)
            scalar = ndim is not None and len(index.parts) == ndim and all_int
            if not scalar:
                self.views[target] = group
        elif isinstance(value, ir.Var) and self.kinds.get(target) != "float" and self.kind(value) != "tuple":
            self.view_base[target] = value.name  # a view, should the array be written later
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
                return self.constant(self.parsed.attribute(base.value, node.attr), node,
                                     f"{base.name}.{node.attr}")
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
                return self.parsed.attribute(owner, func.attr, _MISSING)
        return None

    def expr_Call(self, node, hint):
        func = node.func
        if isinstance(func, gast.Name) and isinstance(self.env.get(func.id), _LocalFunction):
            return self.inline_local(self.env[func.id], node, hint)
        fn = self.callee_of(func)
        if isinstance(func, gast.Attribute) and (fn is None or isinstance(
                getattr(fn, "__self__", None), np.ndarray)):
            return self.method_call(node, hint)    # also self.w.sum() on a constant array
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
        if func.attr == "astype":
            return self.astype_call(base, node, hint)
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

    def astype_call(self, base, node, hint):
        """``x.astype(dtype)``: the cast function of that dtype (see rules/casts.py)."""
        if len(node.args) != 1 or node.keywords:
            self.refuse(node, "astype takes one argument here, the dtype (x.astype(float))",
                        "astype")
        dtype = self.expr(node.args[0], None)
        dtype = dtype.value if isinstance(dtype, (_Object, ir.Const)) else None
        cast = casts.cast_for(dtype) if dtype is not None else None
        if cast is None:
            self.refuse(node, "astype is supported to float64, int64, int32 and bool (spelled "
                              "float, int, bool, np.float64... or their names); for other "
                              "dtypes compute in float64", "astype", UnknownCalleeError)
        kind = self.kind(base)
        if hint is None and isinstance(base, ir.Var):
            hint = f"{_base(base)}_{cast.__name__[3:]}"          # x_float64
        value = self.call(cast, [base], {}, node, hint)
        ndim = self.ndim_of(base)
        if ndim is not None and ndim > 0:
            self.ndims[value.name] = ndim
        integral = cast in casts.INT_CASTS.values()
        if kind in ("float", "int", "bool") or ndim == 0:
            self.kinds[value.name] = ("bool" if cast is casts.as_bool else "int") if integral \
                else "float"
        else:
            self.kinds[value.name] = "intarray" if integral else "array"
        return value

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
            # its items, known to be a tuple now: they flow through branches and loops
            return tuple(self.getitem(ir.Var(target), ir.Index((ir.Const(i),)), node, None)
                         for i in range(fn.arity))
        ndim = self.result_ndim(fn, args, kwargs)
        if ndim is not None and self.kinds[target] not in ("int", "bool", "shape"):
            if ndim == 0:
                self.kinds[target] = "float"
            else:
                self.ndims[target] = ndim
                self.kinds[target] = self.kinds[target] or "array"
        if fn is np.shape and self.ndim_of(args[0]) is not None:
            self.shape_len[target] = self.ndim_of(args[0])
        if id(fn) in FRESH_RESULT or isinstance(fn, np.ufunc):
            self.owned[target] = []
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
                isinstance(args[0], ir.Var):
            if args[0].name in self.groups or args[0].name in self.views:
                self.views[target] = self.groups.get(args[0].name, self.views.get(args[0].name))
            else:
                self.view_base[target] = args[0].name
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
        if fn is np.array and isinstance(a, ir.Seq):   # np.array([a, b, c]): one rank more
            ranks = {self.ndim_of(item) for item in a.items}
            return 1 + ranks.pop() if len(ranks) == 1 and None not in ranks else None
        if fn in (np.copy, np.zeros_like, np.empty_like, np.ones_like, np.full_like, np.array,
                  broadcast_rt.zeros_like):
            return self.ndims.get(a.name) if isinstance(a, ir.Var) else None
        if isinstance(a, ir.Seq):
            return len(a.items)
        if isinstance(a, ir.Var) and a.name in self.shape_len:
            return self.shape_len[a.name]      # np.zeros(x.shape)
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
        if fn in SCALAR_REDUCTIONS or fn in (np.cumsum, np.cumprod):
            return _reduced_rank(fn, ndims[0] if ndims else None, args, kwargs)
        if fn in (np.copy, np.clip, np.where, np.transpose) and ndims and None not in ndims:
            return max(ndims)
        if fn is np.outer:
            return 2
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


def _indexed_rank(ndim, parts, kind):
    """The rank of ``a[parts]`` for ``a`` of rank ``ndim`` (basic indexing), else None."""
    ints = sum(1 for p in parts if not isinstance(p, ir.Slice) and p is not None
               and p is not Ellipsis and kind(p) in ("int", "bool"))
    others = [p for p in parts if not (isinstance(p, ir.Slice) or p is None or p is Ellipsis)
              and kind(p) not in ("int", "bool")]
    if others or ints + sum(1 for p in parts if isinstance(p, ir.Slice)) > ndim:
        return None
    return ndim - ints + sum(1 for p in parts if p is None)


def _reduced_rank(fn, ndim, args, kwargs):
    """The rank of a reduction (or scan) along ``axis=`` of an array of rank ``ndim``."""
    if ndim is None:
        return None
    axis = kwargs.get("axis", args[1] if len(args) > 1 else ir.Const(None))
    keep = kwargs.get("keepdims", ir.Const(False))
    if not (isinstance(axis, ir.Const) and isinstance(keep, ir.Const)):
        return None
    if fn in (np.cumsum, np.cumprod):
        return ndim if axis.value is not None else 1
    if keep.value:
        return ndim
    if axis.value is None:
        return 0
    removed = len(axis.value) if isinstance(axis.value, tuple) else 1
    return ndim - removed


def _rebound(loop) -> set:
    """Names a loop's body (or header) assigns as a whole (not through a subscript; an
    augmented assignment updates an iterable array in place)."""
    augmented = {id(n.target) for n in gast.walk(loop) if isinstance(n, gast.AugAssign)}
    return {n.id for n in gast.walk(loop) if isinstance(n, gast.Name)
            and isinstance(n.ctx, gast.Store) and id(n) not in augmented}


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


class _Restructure(Exception):
    """A loop-carried value (``carried``, None before the loop) became a tuple of this
    ``shape`` in the body: the loop that carries it is lowered again, item by item."""

    def __init__(self, carried, shape):
        super().__init__(carried)
        self.carried = carried
        self.shape = shape


def _shape(value):
    """The structure of a (nested) tuple, with None for each leaf."""
    return tuple(_shape(v) for v in value) if isinstance(value, tuple) else None


def _leaves(value) -> list:
    if isinstance(value, tuple):
        return [leaf for v in value for leaf in _leaves(v)]
    return [value]


def _count(shape) -> int:
    return 1 if shape is None else sum(_count(s) for s in shape)


def _rebuild(shape, leaves):
    """The tuple of structure ``shape`` holding ``leaves`` in order."""
    leaves = iter(leaves)

    def build(s):
        return next(leaves) if s is None else tuple(build(x) for x in s)
    return build(shape)


def _is_none(op) -> bool:
    return isinstance(op, ir.Const) and op.value is None


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
    try:
        fn = lowerer.lower_function()
    except _Restructure as stray:            # a tuple whose loop could not be found
        raise UnsupportedSyntaxError(
            f"'{lowerer.user_names.get(stray.carried, stray.carried)}' becomes a tuple inside "
            f"a loop in a way srcgrad cannot follow; give it its tuple value before the loop",
            lowerer.loc(parsed.node), "tuple") from None
    fn.result_tree = lowerer.result_tree
    settle_loop_integers(fn, lowerer.kind)
    fn.ndims = lowerer.ndims
    fn.arity = lowerer.arity
    fn.view_group = lowerer.views
    fn.result_loc = lowerer.result_loc or fn.loc
    ir.check(fn)
    fn = prune(fn)
    ir.check(fn)
    return fn


__all__ = ["lower", "spell"]
