"""Lists in lowering whose length is known only at run time.

A list stays static (a Python list of IR operands, see ``containers``) for as long as
its length is known when the derivative is generated: ``xs = []; xs.append(a)`` in
straight-line code just grows that list.  When a loop or branch that runs at run time
appends to (or pops from) a static list, the list becomes a run-time list just before
it: a list value with SSA versions, the same mechanism as the stacks of generated code
(``list_append`` / ``list_pop`` / ``list_version``).  A comprehension over a run-time
``range`` becomes a loop appending to a fresh run-time list.

Every read of a run-time list is a primitive with a derivative rule (``runtime.lists``):
``xs[i]``, ``np.stack(xs)`` / ``np.array(xs)``, ``np.concatenate(xs)``, ``sum(xs)``; other
NumPy functions see ``np.array(xs)``, as NumPy itself does; ``len(xs)`` and
``for v in xs`` index it.  Whatever else would need the list at run time (a slice, a
store into it, a list of containers) is refused at its line.

``ListLowering`` is a mixin of ``lower.Lowerer``.
"""

from __future__ import annotations

import builtins
import operator

import gast
import numpy as np

from srcgrad import calls, ir
from srcgrad.errors import AliasingError
from srcgrad.runtime import lists as lists_rt
from srcgrad.runtime import tape as tape_rt

LIST_METHODS = ("append", "pop")
# NumPy functions that take a list as a sequence of pieces
_SEQUENCE_READERS = {id(np.stack): lists_rt.stack_items, id(np.array): lists_rt.stack_items,
                     id(np.asarray): lists_rt.stack_items,
                     id(np.concatenate): lists_rt.concatenate_items}
_ELEMENTWISE = {operator.add, operator.sub, operator.mul, operator.truediv, operator.pow,
                operator.neg, operator.pos, operator.mod, operator.floordiv, abs, np.where, np.clip}
_ITEM_KINDS = {"float": (0, "f64"), "int": (0, "i64"), "bool": (0, "bool")}


def is_static_list(value) -> bool:
    return isinstance(value, list) or (isinstance(value, ir.Seq) and value.kind == "list")


class ListLowering:
    """Run-time lists, mixed into ``lower.Lowerer``."""

    def is_list(self, value) -> bool:
        """Whether ``value`` is a run-time list (a list-kind SSA value)."""
        return isinstance(value, ir.Var) and self.kinds.get(value.name) == "list"

    # ------------------------------------------------------------------ methods
    def list_method(self, node):
        """The name in ``name.append(...)`` / ``name.pop()`` when it holds a list, else None."""
        if not (isinstance(node, gast.Call) and isinstance(node.func, gast.Attribute)
                and node.func.attr in LIST_METHODS and isinstance(node.func.value, gast.Name)):
            return None
        current = self.env.get(node.func.value.id)
        if self.is_list(current) or is_static_list(current):
            return node.func.value.id
        return None

    def list_call(self, name, node, hint):
        """``items.append(v)`` (None) or ``items.pop()`` (the item)."""
        attr = node.func.attr
        if attr == "append" and (len(node.args) != 1 or node.keywords):
            self.refuse(node, "list.append takes one value", "list.append")
        if attr == "pop" and (node.args or node.keywords):
            self.refuse(node, "only list.pop() of the last item is supported", "list.pop")
        value = self.expr(node.args[0], None) if attr == "append" else None
        current = self.env[name]
        if is_static_list(current):
            return self.static_list_call(name, current, attr, value, node)
        if attr == "append":
            self.append_item(name, self.item_operand(value, node.args[0]), node)
            return ir.Const(None)
        return self.pop_item(name, node, hint)

    def static_list_call(self, name, current, attr, value, node):
        """Append to / pop from a list whose length is known now: the list just changes."""
        if isinstance(current, list):
            self.check_list_owner(name, current, node)
        items = list(current.items if isinstance(current, ir.Seq) else current)
        if attr == "append":
            items.append(value)
            result = ir.Const(None)
        else:
            if not items:
                self.refuse(node, f"pop from the empty list '{name}'", "list.pop")
            result = items.pop()
        if isinstance(current, list):
            current[:] = items
        else:
            self.rebind(current, self.own(items))
        return result

    def check_list_owner(self, name, current, node):
        owner = self.owners.get(id(current))
        if owner is None:
            self.refuse(node, f"'{name}' comes from the arguments: changing it would change the "
                              f"caller's list; copy it first (new = list({name}))",
                        "change of an argument", AliasingError)
        if owner[1] is not self.out:
            self.refuse(node, f"'{name}' is changed inside a loop or branch but was built outside "
                              f"it, in a way srcgrad could not follow", "list change")

    def rebind(self, old, new):
        """Every name bound to the object ``old`` now denotes ``new`` (aliases follow)."""
        for user, op in list(self.env.items()):
            if op is old or (isinstance(old, ir.Var) and isinstance(op, ir.Var)
                             and op.name == old.name):
                self.env[user] = new

    def refuse_list_change(self, name, node, method=None):
        """Changes to a run-time list other than append and pop are refused."""
        what = f"the method '.{method}()'" if method else "storing into an item"
        self.refuse(node, f"{what} is not supported on the list '{name}' (its length may be "
                          f"known only at run time): only .append(v) and .pop() change it; "
                          f"build a new list, or np.stack it and work on the array",
                    f"list.{method}" if method else "store into a run-time list")

    def item_operand(self, value, node):
        if isinstance(value, (tuple, list, dict)) or isinstance(value, ir.Seq):
            self.refuse(node, "a list whose length is known only at run time can hold numbers "
                              "and arrays, not containers", "list of containers")
        return self.as_operand(value, node)

    def append_item(self, name, value, node):
        items = self.env[name]
        new = self.call(tape_rt.list_append, [items, value], {}, node, name)
        group = self.groups[items.name]
        if group not in self.item_ndims:
            kind = self.kind(value)
            if kind in _ITEM_KINDS:
                self.item_ndims[group] = _ITEM_KINDS[kind]
            elif isinstance(value, ir.Var) and value.name in self.ndims:
                self.item_ndims[group] = (self.ndims[value.name], "f64")
        self.new_list_version(items, new)

    def pop_item(self, name, node, hint):
        items = self.env[name]
        result = self.call(tape_rt.list_pop, [items], {}, node, hint)
        self.item_kind(items, result)
        new = self.call(tape_rt.list_version, [items, result], {}, node, name)
        self.new_list_version(items, new)
        return result

    def new_list_version(self, items, new):
        self.kinds[new.name] = "list"
        self.groups[new.name] = self.groups[items.name]
        self.rebind(items, new)

    def item_kind(self, items, result):
        """Give ``result`` (an item of ``items``) the kind the list's items have."""
        ndim, dtype = self.item_ndims.get(self.groups.get(items.name), (None, None))
        if ndim == 0:
            self.kinds[result.name] = {"i64": "int", "bool": "bool"}.get(dtype, "float")
        elif ndim is not None:
            self.kinds[result.name] = "array"
            self.ndims[result.name] = ndim

    # ------------------------------------------------------------------ static -> run time
    def runtime_lists(self, stmts, node):
        """Before a run-time loop or branch: the static lists it appends to or pops from
        become run-time lists (their length now depends on run-time values)."""
        stored = {n.id for s in stmts for n in gast.walk(s)
                  if isinstance(n, gast.Name) and isinstance(n.ctx, gast.Store)}
        for s in stmts:
            for n in gast.walk(s):
                name = self.list_method(n)
                if name is not None and name not in stored and is_static_list(self.env[name]):
                    self.to_runtime_list(name, self.env[name], n)

    def to_runtime_list(self, name, current, node):
        if isinstance(current, list):
            self.check_list_owner(name, current, node)
        values = current.items if isinstance(current, ir.Seq) else current
        operands = [self.item_operand(v, node) for v in values]
        items = self.new_runtime_list(name, node)
        self.rebind(current, items)
        for v in operands:
            self.append_item(name, v, node)

    def new_runtime_list(self, name, node):
        """An empty run-time list; ``type_runtime_lists`` names its item type later."""
        items = self.call(tape_rt.stack, [], {}, node, name)
        self.list_ctors.append(self.out[-1])
        return items

    def type_runtime_lists(self, body):
        """Give each run-time list the typed constructor of what is appended to it (Numba
        cannot type an empty list it sees passed around).  Float items are taken to be
        float64."""
        if not self.list_ctors:
            return
        ranks = self.settle_ranks(body)
        for s in ir.walk(body):
            if isinstance(s, ir.Call) and s.fn is tape_rt.list_append:
                group = self.groups.get(s.target)
                rank = ranks.get(s.args[1].name) if isinstance(s.args[1], ir.Var) else 0
                if group not in self.item_ndims and rank is not None:
                    self.item_ndims[group] = _ITEM_KINDS.get(self.kind(s.args[1]), (rank, "f64"))
        for ctor in self.list_ctors:
            ndim, dtype = self.item_ndims.get(self.groups.get(ctor.target), (None, None))
            if ndim is None or ndim > 3:
                continue
            suffix = dtype if ndim == 0 else f"{dtype}_{ndim}d"
            ctor.fn = getattr(tape_rt, f"stack_{suffix}")
            ctor.fn_name = f"stack_{suffix}"

    def settle_ranks(self, body) -> dict:
        """Array ranks lowering left open, found by propagating known ranks through
        elementwise operations and loop-carried values (used to type run-time lists)."""
        ranks = dict(self.ndims)
        ranks.update((n, 0) for n, k in self.kinds.items() if k in ("float", "int", "bool"))

        def rank(op):
            if isinstance(op, ir.Const):
                return np.ndim(op.value)
            return ranks.get(op.name) if isinstance(op, ir.Var) else None

        changed = True
        while changed:
            changed = False
            for s in ir.walk(body):
                pairs = []
                if isinstance(s, ir.Call) and (isinstance(s.fn, np.ufunc) or s.fn in _ELEMENTWISE):
                    found = [rank(a) for a in s.args]
                    if found and None not in found:
                        pairs.append((s.target, max(found)))
                elif isinstance(s, (ir.For, ir.While)):
                    for c, init, y, out in zip(s.carried, s.inits, s.yields, s.outs):
                        r = rank(init)
                        if r is not None and rank(y) in (None, r):
                            pairs += [(c, r)] + ([(out, r)] if rank(y) == r else [])
                elif isinstance(s, ir.If):
                    for out, t, e in zip(s.outs, s.then_yields, s.else_yields):
                        if rank(t) is not None and rank(t) == rank(e):
                            pairs.append((out, rank(t)))
                for name, r in pairs:
                    if name not in ranks:
                        ranks[name] = r
                        changed = True
        return ranks

    # ------------------------------------------------------------------ comprehensions
    def list_loop(self, node, hint=None):
        """``[elt for ... in <run-time iterable> if ...]`` as a loop appending to a new list."""
        name = self.accumulator_name("items")
        self.env[name] = self.new_runtime_list(hint or name, node)
        append = gast.Call(func=gast.Attribute(value=_name(name), attr="append", ctx=gast.Load()),
                           args=[node.elt], keywords=[])
        stmt = gast.Expr(value=append)
        try:
            return self.comprehension_loop(node, stmt, name)
        finally:
            self.env.pop(name, None)

    # ------------------------------------------------------------------ reads
    def list_item(self, items, index, node, hint):
        """``items[i]`` of a run-time list."""
        parts = index.parts
        if len(parts) != 1 or parts[0] is None or isinstance(parts[0], (ir.Slice, ir.Seq)) \
                or parts[0] is Ellipsis:
            self.refuse(node, "a list whose length is known only at run time can be indexed by "
                              "one integer; slices are not supported (np.stack it first)",
                        "list index")
        result = self.call(lists_rt.item, [items, parts[0]], {}, node, hint)
        self.item_kind(items, result)
        return result

    def list_reader(self, fn, args, kwargs, node, hint):
        """A call that reads a run-time list as a primitive of ``runtime.lists``; None if
        no argument is a run-time list (or ``fn`` handles lists itself)."""
        if not any(self.is_list(a) for a in list(args) + list(kwargs.values())):
            return None
        module = getattr(fn, "__module__", None) or ""
        if module.startswith("srcgrad.runtime") or fn is builtins.len:
            return None
        if calls.is_user_function(fn) or not (module.startswith("numpy") or fn is builtins.sum
                                               or isinstance(fn, np.ufunc)):
            name = getattr(fn, "__name__", repr(fn))
            self.refuse(node, f"a list whose length is known only at run time cannot be passed "
                              f"to '{name}'; pass np.stack(...) of it, or index it",
                        "run-time list argument")
        reader = _SEQUENCE_READERS.get(id(fn))
        if fn is builtins.sum:
            return self.list_sum(args, kwargs, node, hint)
        if reader is not None and self.is_list(args[0] if args else None):
            if reader is lists_rt.stack_items and fn is not np.stack and (len(args) > 1 or kwargs):
                self.refuse(node, f"np.{fn.__name__} of a run-time list takes no other "
                                  f"arguments here", f"np.{fn.__name__}")
            return self.list_read(reader, args, kwargs, node, hint)
        # NumPy reads any other list argument as np.array(list)
        args = [self.list_read(lists_rt.stack_items, [a], {}, node, None) if self.is_list(a)
                else a for a in args]
        kwargs = {k: self.list_read(lists_rt.stack_items, [v], {}, node, None)
                  if self.is_list(v) else v for k, v in kwargs.items()}
        return self.call(fn, args, kwargs, node, hint)

    def list_sum(self, args, kwargs, node, hint):
        if len(args) != 1 or kwargs:
            start = args[1] if len(args) > 1 else kwargs.get("start")
            total = self.list_read(lists_rt.sum_items, args[:1], {}, node, None)
            return self.call(operator.add, [start, total], {}, node, hint)
        return self.list_read(lists_rt.sum_items, args, {}, node, hint)

    def list_read(self, reader, args, kwargs, node, hint):
        items = args[0]
        if not self.is_list(items):
            self.refuse(node, "this call mixes a run-time list with other sequences",
                        "run-time list argument")
        result = self.call(reader, args, kwargs, node, hint)
        ndim, dtype = self.item_ndims.get(self.groups.get(items.name), (None, None))
        if reader is lists_rt.sum_items:
            self.item_kind(items, result)
        elif ndim is not None:
            self.kinds[result.name] = "array"
            self.ndims[result.name] = ndim + 1 if reader is lists_rt.stack_items else max(ndim, 1)
        else:
            self.kinds[result.name] = "array"
        return result


def _name(id_, store=False):
    return gast.Name(id=id_, ctx=gast.Store() if store else gast.Load(), annotation=None,
                     type_comment=None)
