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

``RuntimeLists`` is a helper object the lowerer owns (``lowerer.lists``).  Its state is
``item_ndims`` (list group -> (rank, dtype) of its items, where known while lowering).
A new list is created untyped (``stack()``); the types pass gives it the typed
constructor of its items.  Its interface: ``method_target``, ``call``, ``refuse_change``,
``before_runtime_block``, ``new_list``, ``record_constructor``, ``item`` and ``reader``.  It uses the lowerer's
``expr``, ``as_operand``, ``call``, ``kind``, ``is_list``, ``rebind``, ``new_group``,
``refuse``, ``env``, ``kinds``, ``ndims``, ``groups`` and ``out``, and for a list
known now the containers' ``change_list`` and ``check_list_owner``.
"""

from __future__ import annotations

import builtins
import operator

import gast
import numpy as np

from srcgrad import calls, ir
from srcgrad.runtime import lists as lists_rt
from srcgrad.runtime import tape as tape_rt
from srcgrad.transforms.containers import is_static_list
from srcgrad.rules.registry import facts

LIST_METHODS = ("append", "pop")
_ITEM_KINDS = {"float": (0, "f64"), "int": (0, "i64"), "bool": (0, "bool")}


class RuntimeLists:
    """Run-time lists, for the lowerer ``lowerer``."""

    def __init__(self, lowerer):
        self.lo = lowerer
        self.item_ndims: dict[int, tuple] = {}   # list group -> (rank, dtype) of its items

    def refuse(self, *args):
        self.lo.refuse(*args)             # raises: node, message, construct[, error class]

    def record_constructor(self, target, fn):
        """``target = stack_...()`` (a typed list constructor of generated code): a new list."""
        group = self.lo.new_group()
        self.lo.groups[target] = group
        self.lo.kinds[target] = "list"
        suffix = fn.__name__.partition("_")[2]          # stack_f64_1d: 1-d float64 items
        if suffix and not suffix.startswith("list"):
            dtype, _, dims = suffix.partition("_")
            self.item_ndims[group] = (int(dims[0]) if dims else 0, dtype)

    def method_target(self, node):
        """The name in ``name.append(...)`` / ``name.pop()`` when it holds a list, else None."""
        if not (isinstance(node, gast.Call) and isinstance(node.func, gast.Attribute)
                and node.func.attr in LIST_METHODS and isinstance(node.func.value, gast.Name)):
            return None
        current = self.lo.env.get(node.func.value.id)
        if self.lo.is_list(current) or is_static_list(current):
            return node.func.value.id
        return None

    def call(self, name, node, hint):
        """``items.append(v)`` (None) or ``items.pop()`` (the item)."""
        attr = node.func.attr
        if attr == "append" and (len(node.args) != 1 or node.keywords):
            self.refuse(node, "list.append takes one value", "list.append")
        if attr == "pop" and (node.args or node.keywords):
            self.refuse(node, "only list.pop() of the last item is supported", "list.pop")
        value = self.lo.expr(node.args[0], None) if attr == "append" else None
        current = self.lo.env[name]
        if is_static_list(current):
            return self.lo.containers.change_list(name, current, attr, value, node)
        if attr == "append":
            self.append_item(name, self.item_operand(value, node.args[0]), node)
            return ir.Const(None)
        return self.pop_item(name, node, hint)

    def refuse_change(self, name, node, method=None):
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
        return self.lo.as_operand(value, node)

    def append_item(self, name, value, node):
        items = self.lo.env[name]
        new = self.lo.call(tape_rt.list_append, [items, value], {}, node, name)
        group = self.lo.groups[items.name]
        if group not in self.item_ndims:
            kind = self.lo.kind(value)
            if kind in _ITEM_KINDS:
                self.item_ndims[group] = _ITEM_KINDS[kind]
            elif isinstance(value, ir.Var) and value.name in self.lo.ndims:
                self.item_ndims[group] = (self.lo.ndims[value.name], "f64")
        self.new_list_version(items, new)

    def pop_item(self, name, node, hint):
        items = self.lo.env[name]
        result = self.lo.call(tape_rt.list_pop, [items], {}, node, hint)
        self.item_kind(items, result)
        new = self.lo.call(tape_rt.list_version, [items, result], {}, node, name)
        self.new_list_version(items, new)
        return result

    def new_list_version(self, items, new):
        self.lo.kinds[new.name] = "list"
        self.lo.groups[new.name] = self.lo.groups[items.name]
        self.lo.rebind(items, new)

    def item_kind(self, items, result):
        """Give ``result`` (an item of ``items``) the kind the list's items have."""
        ndim, dtype = self.item_ndims.get(self.lo.groups.get(items.name), (None, None))
        if ndim == 0:
            self.lo.kinds[result.name] = {"i64": "int", "bool": "bool"}.get(dtype, "float")
        elif ndim is not None:
            self.lo.kinds[result.name] = "array"
            self.lo.ndims[result.name] = ndim

    def before_runtime_block(self, stmts, node):
        """Before a run-time loop or branch: the static lists it appends to or pops from
        become run-time lists (their length now depends on run-time values)."""
        stored = {n.id for s in stmts for n in gast.walk(s)
                  if isinstance(n, gast.Name) and isinstance(n.ctx, gast.Store)}
        for s in stmts:
            for n in gast.walk(s):
                name = self.method_target(n)
                if name is not None and name not in stored and is_static_list(self.lo.env[name]):
                    self.from_static(name, self.lo.env[name], n)

    def from_static(self, name, current, node):
        if isinstance(current, list):
            self.lo.containers.check_list_owner(name, current, node)
        values = current.items if isinstance(current, ir.Seq) else current
        operands = [self.item_operand(v, node) for v in values]
        items = self.new_list(name, node)
        self.lo.rebind(current, items)
        for v in operands:
            self.append_item(name, v, node)

    def new_list(self, name, node):
        """An empty run-time list; the types pass names its item type later."""
        items = self.lo.call(tape_rt.stack, [], {}, node, name)
        return items

    def item(self, items, index, node, hint):
        """``items[i]`` of a run-time list."""
        parts = index.parts
        if len(parts) != 1 or parts[0] is None or isinstance(parts[0], (ir.Slice, ir.Seq)) \
                or parts[0] is Ellipsis:
            self.refuse(node, "a list whose length is known only at run time can be indexed by "
                              "one integer; slices are not supported (np.stack it first)",
                        "list index")
        result = self.lo.call(lists_rt.item, [items, parts[0]], {}, node, hint)
        self.item_kind(items, result)
        return result

    def reader(self, fn, args, kwargs, node, hint):
        """A call that reads a run-time list as a primitive of ``runtime.lists``; None if
        no argument is a run-time list (or ``fn`` handles lists itself)."""
        if not any(self.lo.is_list(a) for a in list(args) + list(kwargs.values())):
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
        reader = facts(fn).list_form
        if fn is builtins.sum:
            return self.list_sum(args, kwargs, node, hint)
        if reader is not None and self.lo.is_list(args[0] if args else None):
            if reader is lists_rt.stack_items and fn is not np.stack and (len(args) > 1 or kwargs):
                self.refuse(node, f"np.{fn.__name__} of a run-time list takes no other "
                                  f"arguments here", f"np.{fn.__name__}")
            return self.list_read(reader, args, kwargs, node, hint)
        # NumPy reads any other list argument as np.array(list)
        args = [self.list_read(lists_rt.stack_items, [a], {}, node, None) if self.lo.is_list(a)
                else a for a in args]
        kwargs = {k: self.list_read(lists_rt.stack_items, [v], {}, node, None)
                  if self.lo.is_list(v) else v for k, v in kwargs.items()}
        return self.lo.call(fn, args, kwargs, node, hint)

    def list_sum(self, args, kwargs, node, hint):
        if len(args) != 1 or kwargs:
            start = args[1] if len(args) > 1 else kwargs.get("start")
            total = self.list_read(lists_rt.sum_items, args[:1], {}, node, None)
            return self.lo.call(operator.add, [start, total], {}, node, hint)
        return self.list_read(lists_rt.sum_items, args, {}, node, hint)

    def list_read(self, reader, args, kwargs, node, hint):
        items = args[0]
        if not self.lo.is_list(items):
            self.refuse(node, "this call mixes a run-time list with other sequences",
                        "run-time list argument")
        result = self.lo.call(reader, args, kwargs, node, hint)
        ndim, dtype = self.item_ndims.get(self.lo.groups.get(items.name), (None, None))
        if reader is lists_rt.sum_items:
            self.item_kind(items, result)
        elif ndim is not None:
            self.lo.kinds[result.name] = "array"
            self.lo.ndims[result.name] = ndim + 1 if reader is lists_rt.stack_items else max(ndim, 1)
        else:
            self.lo.kinds[result.name] = "array"
        return result


__all__ = ["RuntimeLists", "is_static_list", "LIST_METHODS"]
