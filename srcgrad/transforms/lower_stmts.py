"""Lowering of statements other than control flow: assignment and unpacking, augmented
assignment, stores into arrays and containers, expression statements (``print``, list
methods, ``add_at``) and nested functions, which are inlined at each call.

``Statements`` is the part of ``lower.Lowerer`` that lowers them.
"""

from __future__ import annotations

import ast

import gast

from srcgrad import ir
from srcgrad.errors import AliasingError
from srcgrad.runtime import tape as tape_rt
from srcgrad.transforms.canonicalize import Canonicalizer
from srcgrad.transforms.containers import is_container
from srcgrad.transforms.lists import LIST_METHODS, is_static_list
from srcgrad.transforms.lower_tables import BINOPS
from srcgrad.transforms.lower_values import LocalFunction, base_name, opsym


class Statements:
    """Assignments, stores and nested functions (a part of ``lower.Lowerer``)."""

    def stmt_Pass(self, node):
        pass

    def stmt_Assert(self, node):
        pass                         # assertions do not change values; like python -O

    def stmt_Expr(self, node):
        if isinstance(node.value, gast.Constant):
            return                   # docstring or bare constant
        value = node.value
        if isinstance(value, gast.Call) and isinstance(value.func, gast.Name) and \
                isinstance(self.env.get(value.func.id), LocalFunction):
            self.expr(value, None)   # a nested function called for what it writes in place
            return
        if isinstance(value, gast.Call) and self.inlined_callee(value.func) is not None:
            self.expr(value, None)   # the user's function, called for what it writes in place
            return
        if self.lists.method_target(value) is not None:
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
            self.lists.refuse_change(value.func.value.id, node, value.func.attr)
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
            self.lists.refuse_change(target.id, node)
        if isinstance(old, ir.Var) and (old.name in self.groups or self.is_array(old)):
            # NumPy updates an array in place: u += e is u[...] = u + e, seen by every alias
            if not self.make_buffer(old):
                self.refuse_foreign_write(target.id, old, node, f"'{target.id} {opsym(node.op)}= ...'",
                                          f"write '{target.id} = {target.id} {opsym(node.op)} ...'")
            value = self.call(fn, [old, self.expr(node.value, None)], {}, node, None)
            self.store_into(target.id, old, ir.Index((ir.Slice(),)), value, node)
            return
        if isinstance(old, ir.Var) and self.kind(old) is None and self.shared(target.id, old):
            self.refuse(node, f"'{target.id} {opsym(node.op)}= ...' updates an array in place "
                              f"but rebinds a number, and srcgrad cannot tell which '{target.id}' "
                              f"holds here; write '{target.id} = {target.id} {opsym(node.op)} ...'",
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

    def store(self, target, value, node):
        if not isinstance(target.value, gast.Name):
            inner = self.containers.peek(target.value)
            if is_container(inner):
                self.containers.store(inner, target, value, node, ast.unparse(
                    gast.gast_to_ast(target.value)))
                return
            self.refuse(node, "in-place stores must write into a named array (u[i] = ...)",
                        "subscript assignment")
        name = target.value.id
        array = self.lookup(name, node)
        if is_container(array):
            self.containers.store(array, target, value, node, name)
            return
        if self.is_list(array):
            self.lists.refuse_change(name, node)
        index = self.index(target.slice, node)
        value = self.as_operand(value, node)
        self.store_into(name, array, index, value, node)

    def shared(self, name, op) -> bool:
        """Whether another name (or the caller) may hold the object ``op``: only then does
        it matter whether an update of ``name`` is in place."""
        return op.name in self.params or any(
            isinstance(v, ir.Var) and v.name == op.name for n, v in self.env.items() if n != name)

    def add_at(self, node):
        """``add_at(a, index, v)`` updates the buffer ``a`` in place: a new version of it."""
        args = [self.as_operand(self.expr(a, None), a) for a in node.args]
        array = args[0] if args else None
        if len(args) != 3 or node.keywords or not (isinstance(array, ir.Var) and array.name in self.groups):
            self.refuse(node, "add_at(a, index, value) needs an array created in this function",
                        "add_at", AliasingError)
        name = node.args[0].id if isinstance(node.args[0], gast.Name) else base_name(array)
        new = self.fresh(name, name)
        self.emit(ir.Call(new, tape_rt.add_at, "add_at", args, {}, self.loc(node)))
        self.new_version(new, array, node)

    def stmt_FunctionDef(self, node):
        """A nested ``def`` is remembered; each call of it is lowered inline."""
        if node.decorator_list:
            self.refuse(node, "decorated nested functions are not supported", "def")
        self.env[node.name] = LocalFunction(node, self.frame)

    def inline_local(self, local, call, hint):
        """Lower a call of a nested function or lambda in place, as Python would run it.

        The callee sees the enclosing variables as they are at the call (closures read
        them then); its own names stay local; arrays it writes in place stay written.
        Passed to another function and called there, it still reads the variables of the
        function that defined it (as they are while that call runs).
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
        outer, outer_parsed, frame = self.env, self.parsed, self.frame
        home, self.parsed = (outer, self.parsed) if local.frame == frame else \
            self.frames[local.frame]
        inner = dict(home)
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
        self.env, self.frame = inner, local.frame
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
            inner, self.env, self.parsed, self.frame = self.env, outer, outer_parsed, frame
        for name in list(home):
            if name not in local_names and inner.get(name) is not home[name]:
                if home is not outer:
                    self.refuse(call, f"'{name}', a variable of the function that defined this "
                                      f"nested function, is written in place by it while it runs "
                                      f"inside another function; pass the array as an argument",
                                "closure")
                outer[name] = inner[name]      # a new version of an array written in place
        return result

    def rebind(self, old, new):
        """Every name bound to the object ``old`` now denotes ``new`` (aliases follow)."""
        for user, op in list(self.env.items()):
            if op is old or (isinstance(old, ir.Var) and isinstance(op, ir.Var)
                             and op.name == old.name):
                self.env[user] = new
