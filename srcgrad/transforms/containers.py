"""Containers in lowering: tuples, lists, dicts and namedtuples whose structure is static.

The structure of a container (its length, keys and nesting) is known when the derivative
is generated; only its leaves are run-time values.  So containers never reach the IR:
the lowering environment binds a name to a Python tuple, list, dict or namedtuple whose
leaves are IR operands (a container argument arrives that way, one IR parameter per
leaf), and every container operation resolves at transform time: ``p["W"]``,
``xs[-1]``, ``len(xs)``, unpacking, ``for v in xs`` and ``for k, v in p.items()``
(unrolled), comprehensions over containers (unrolled), ``sum`` of a container (a chain
of additions), literals, ``dict(...)`` and stores into a container the same block built.
A ``range`` loop whose body indexes a container with its loop variable is unrolled when
its bounds are known now (``range(len(layers))``).  A generator expression or list
comprehension over a run-time ``range`` fed to ``sum`` becomes a loop with an
accumulator.  Whatever would need a container at run time (a key or index computed at
run time, a dict changed inside a loop or branch, a dict passed to a primitive) is
refused at its line.

``Containers`` is a helper object the lowerer owns (``lowerer.containers``); iteration
and unrolling are its ``iteration`` helper (``containers_iter.Iteration``).  Its state is
the container parameters (``trees``), ``has_aux``, the ``result_tree`` it finds and
``owners`` (which block built each list or dict, since only that block may change it).

Its interface to the lowerer: ``is_param``/``bind_param``, ``result``, ``own``,
``peek``, ``getitem``, ``store``, ``handles``/``call``, ``argument``, ``method``,
``membership``, ``identity``, ``dict_literal``, ``comprehension``, ``loop_items``,
``merge``, and for lists known now ``change_list``/``check_list_owner``.  It uses the
lowerer's ``expr``, ``as_operand``, ``call``, ``bind``, ``index``, ``fresh``, ``kind``,
``join_buffers``, ``refuse``, ``env``, ``kinds``, ``ndims``, ``params`` and ``out``.
"""

from __future__ import annotations

import re

import gast

from srcgrad import calls, ir, pytree
from srcgrad.custom import stop_gradient
from srcgrad.errors import AliasingError
from srcgrad.rules.registry import facts
from srcgrad.transforms.lower_tables import CONTAINER_BUILTINS
from srcgrad.transforms.lower_values import NamespaceValue

NOTHING = object()                # "not known now" (peek, static_value)
CONTAINER_TYPES = (tuple, list, dict)
DICT_VIEWS = ("items", "keys", "values")


def is_container(value) -> bool:
    """A value the environment holds as a static container (a list literal's Seq included)."""
    return isinstance(value, CONTAINER_TYPES) or isinstance(value, ir.Seq)


def is_static_list(value) -> bool:
    """A list whose length is known now (a Python list, or a list literal's Seq)."""
    return isinstance(value, list) or (isinstance(value, ir.Seq) and value.kind == "list")


def holds_mutable(value) -> bool:
    """A dict or list, or a tuple containing one: merged leaf by leaf at branches."""
    if isinstance(value, (list, dict)):
        return True
    return isinstance(value, tuple) and any(holds_mutable(v) for v in value)


def known_truth(cond):
    """The truth of a condition known now (a constant), else None."""
    if isinstance(cond, ir.Const) and type(cond.value) in (bool, int, str, type(None)):
        return bool(cond.value)
    return None


def type_name(value) -> str:
    return value.kind if isinstance(value, ir.Seq) else type(value).__name__


def _foldable_value(op) -> bool:
    return isinstance(op, ir.Const) and (op.value is None or type(op.value) in (int, bool, str))


def fold_constants(fn, args, kwargs):
    """``fn(*args)`` as a Const when every operand is an int, bool, str or None constant."""
    f = fn if facts(fn).folds else None
    if f is None or kwargs or not args or not all(_foldable_value(a) for a in args):
        return None
    try:
        return ir.Const(f(*(a.value for a in args)))
    except Exception:                 # leave the error to run time, as Python would
        return None


def leaf_name(root: str, steps) -> str:
    """A readable IR name for a leaf: ``params_W1``, ``layers_0_W``."""
    parts = [root] + [re.sub(r"\W", "_", str(key)) for _, key in steps]
    return "_".join(p for p in parts if p) or "leaf"


def items_of(value) -> list:
    """What iterating over a container yields (a dict: its keys)."""
    if isinstance(value, ir.Seq):
        return list(value.items)
    if isinstance(value, dict):
        return [ir.Const(k) for k in value]
    return list(value)


def dict_view(d: dict, which: str) -> list:
    if which == "keys":
        return [ir.Const(k) for k in d]
    if which == "values":
        return list(d.values())
    return [(ir.Const(k), v) for k, v in d.items()]


class Containers:
    """Container values at transform time, for the lowerer ``lowerer``."""

    def __init__(self, lowerer, iteration, trees=None, has_aux=False):
        self.lo = lowerer
        self.iteration = iteration         # containers_iter.Iteration: loops, comprehensions
        self.trees = trees or {}           # parameter -> (treedef, [(kind, ndim) per leaf])
        self.has_aux = has_aux
        self.result_tree = pytree.LEAF
        self.owners: dict = {}             # id(container) -> (container, block that built it)

    def refuse(self, *args):
        self.lo.refuse(*args)             # raises: node, message, construct[, error class]

    # ------------------------------------------------------------------ parameters, result
    def is_param(self, name) -> bool:
        """Whether the parameter ``name`` is a container (one IR parameter per leaf)."""
        return name in self.trees

    def bind_param(self, name):
        """One IR parameter per leaf of a container argument; the name is bound to the structure."""
        tree, kinds = self.trees[name]
        leaves = []
        for steps, (kind, ndim) in zip(pytree.key_paths(tree), kinds):
            base = leaf_name(name, steps)
            leaf = self.lo.fresh(base, base)
            self.lo.params.append(leaf)
            if kind:
                self.lo.kinds[leaf] = kind
            if ndim is not None:
                self.lo.ndims[leaf] = ndim
            leaves.append(ir.Var(leaf))
        self.lo.env[name] = pytree.unflatten(tree, leaves, none=ir.Const(None),
                                             static=lambda value: NamespaceValue(value, name))

    def result(self, value, node):
        """The returned value as one operand: a container becomes a Seq of its leaves, and
        ``self.result_tree`` records its structure (the API rebuilds it)."""
        if self.has_aux:
            value = self.split_aux(value, node)
        leaves, tree = pytree.flatten(self.plain(value))
        self.result_tree = tree
        leaves = [self.lo.as_operand(leaf, node) for leaf in leaves]
        if any(self.lo.is_list(leaf) for leaf in leaves):
            self.refuse(node, "a list whose length is known only at run time cannot be returned; "
                              "return np.stack(...) of it", "return of a run-time list")
        if tree.is_leaf:
            return leaves[0]
        if tree.kind == "none":
            return ir.Const(None)
        return ir.Seq(tuple(leaves))

    def split_aux(self, value, node):
        """``(loss, aux)`` with aux behind stop_gradient: returned, never differentiated."""
        if isinstance(value, ir.Seq):
            value = value.items
        if not (isinstance(value, (tuple, list)) and len(value) == 2):
            self.refuse(node, "with has_aux=True the function must return a pair (value, aux)",
                        "has_aux")
        loss, aux = value
        if is_container(loss):
            self.refuse(node, "with has_aux=True the first returned value must be the scalar "
                              "to differentiate, not a container", "has_aux")
        leaves, tree = pytree.flatten(self.plain(aux))
        stopped = [self.lo.call(stop_gradient, [leaf], {}, node, "aux") if isinstance(leaf, ir.Var)
                   else leaf for leaf in (self.lo.as_operand(v, node) for v in leaves)]
        return (loss, pytree.unflatten(tree, stopped))

    def plain(self, value):
        """Python containers all the way down (Seq literals become tuples/lists, None is None)."""
        if isinstance(value, ir.Seq):
            items = [self.plain(v) for v in value.items]
            return items if value.kind == "list" else tuple(items)
        if isinstance(value, dict):
            return {k: self.plain(v) for k, v in value.items()}
        if pytree.is_namedtuple(value):
            return type(value)(*(self.plain(v) for v in value))
        if isinstance(value, (tuple, list)):
            return type(value)(self.plain(v) for v in value)
        if isinstance(value, ir.Const) and value.value is None:
            return None
        return value

    # ------------------------------------------------------------------ transform-time values
    def own(self, container):
        """Record that the current block built ``container`` (only it may store into it)."""
        self.owners[id(container)] = (container, self.lo.out)
        return container

    def own_tree(self, value):
        """``own`` for a freshly built container and the containers nested in it."""
        if isinstance(value, (list, dict)):
            self.own(value)
        if isinstance(value, (tuple, list, dict)):
            for item in (value.values() if isinstance(value, dict) else value):
                self.own_tree(item)
        return value

    # ------------------------------------------------------------------ subscripts, stores
    def getitem(self, value, node):
        """``value[key]`` resolved now: a constant key or index, or a slice of constants."""
        index = self.lo.index(node.slice, node)
        if len(index.parts) != 1:
            self.refuse(node, f"a {type_name(value)} takes one index, not "
                              f"{len(index.parts)}", "container index")
        part = index.parts[0]
        items = value.items if isinstance(value, ir.Seq) else value
        if isinstance(part, ir.Slice) and isinstance(value, (ir.Seq, list, tuple)):
            bounds = [None if b is None else b.value if isinstance(b, ir.Const) else NOTHING
                      for b in (part.lower, part.upper, part.step)]
            if NOTHING not in bounds:
                chosen = items[slice(*bounds)]
                if isinstance(value, ir.Seq):
                    return ir.Seq(tuple(chosen), value.kind)
                return self.own(list(chosen)) if isinstance(value, list) else tuple(chosen)
        if not isinstance(part, ir.Const):
            what = "key" if isinstance(value, dict) else "index"
            self.refuse(node, f"the {what} into this {type_name(value)} is computed at run time; "
                              f"containers are resolved when the derivative is generated, so "
                              f"use a constant, or loop over the container (a range loop "
                              f"indexing it is unrolled when its bounds are known)",
                        f"dynamic {what}")
        key = part.value
        if isinstance(value, dict):
            if key not in value:
                self.refuse(node, f"no key {key!r} in this dict; its keys are {list(value)}",
                            "dict key")
            return value[key]
        if type(key) is bool or not isinstance(key, int):
            self.refuse(node, f"{type_name(value)} indices must be integers, not {key!r}",
                        "container index")
        if not -len(items) <= key < len(items):
            self.refuse(node, f"index {key} is out of range for a {type_name(value)} of "
                              f"{len(items)} items", "container index")
        return items[key]

    def store(self, container, target, value, node, name):
        """``container[key] = value`` for a list or dict this block built (outside loops)."""
        if isinstance(container, tuple) or isinstance(container, ir.Seq):
            self.refuse(node, f"'{name}' is a {type_name(container)}, which cannot be changed; "
                              f"build a new one", "container store")
        index = self.lo.index(target.slice, node)
        part = index.parts[0] if len(index.parts) == 1 else None
        if not isinstance(part, ir.Const):
            self.refuse(node, "a key or index computed at run time cannot be stored into a "
                              "container; use a constant", "container store")
        owner = self.owners.get(id(container))
        if owner is None:
            self.refuse(node, f"'{name}' comes from the arguments: storing into it would change "
                              f"the caller's {type_name(container)}; build a new one "
                              f"(new = dict({name}) or list({name})) and store into that",
                        "store into an argument", AliasingError)
        if owner[1] is not self.lo.out:
            self.refuse(node, f"'{name}' is changed inside a loop or branch but was built "
                              f"outside it; a container's structure must be known when the "
                              f"derivative is generated, so build it where it is changed",
                        "container store in a loop or branch")
        if isinstance(container, list) and not (
                type(part.value) is int and -len(container) <= part.value < len(container)):
            self.refuse(node, f"index {part.value!r} is out of range for a list of "
                              f"{len(container)} items", "container store")
        container[part.value] = value

    # ------------------------------------------------------------------ calls and methods
    def handles(self, fn) -> bool:
        return any(fn is b for b in CONTAINER_BUILTINS) or (
            isinstance(fn, type) and issubclass(fn, tuple) and hasattr(fn, "_fields"))

    def argument(self, fn, value, node):
        """An argument of a call; a dict or list passed to the user's own function is refused
        with what to do instead (its adjoint is generated for array arguments)."""
        if isinstance(value, (dict, list)) and calls.is_user_function(fn):
            self.refuse(node, f"passing a {type(value).__name__} to your own function "
                              f"'{fn.__name__}' is not supported yet: pass its leaves "
                              f"(arrays and numbers), or define '{fn.__name__}' inside the "
                              f"differentiated function (nested functions are inlined)",
                        "container argument")
        return self.lo.as_operand(value, node)

    def call(self, fn, node, hint):
        """``len``, ``sum``, ``dict``, ``list``, ``tuple``, ``enumerate``, ``zip`` and
        namedtuple constructors on containers, resolved now."""
        if fn is sum:
            return self.iteration.container_sum(node, hint)
        if fn is dict:
            return self.build_dict(node)
        if fn in (enumerate, zip):
            items = self.iteration.static_iterable(node, ranges=True)
            if items is None:
                self.refuse(node, f"{fn.__name__}() is supported in for loops and over "
                                  f"containers", fn.__name__)
            return self.own(items)
        if fn is len or fn is list or fn is tuple:
            if node.keywords or len(node.args) > 1 or (fn is len and not node.args):
                self.refuse(node, f"unsupported arguments for {fn.__name__}()", fn.__name__)
            if not node.args:
                return self.own([]) if fn is list else ()
            arg = node.args[0]
            if fn is not len and isinstance(arg, (gast.GeneratorExp, gast.ListComp)):
                items = self.iteration.unroll_comprehension(arg)
            else:
                items = self.iteration.static_iterable(arg, ranges=fn is not len)
            if items is None:
                value = self.lo.as_operand(self.lo.expr(arg, None), arg)
                if fn is len:
                    return self.lo.call(len, [value], {}, node, hint)
                self.refuse(node, f"{fn.__name__}() of a value known only at run time is not "
                                  f"supported", fn.__name__)
            if fn is len:
                return ir.Const(len(items))
            return self.own(list(items)) if fn is list else tuple(items)
        args = [self.lo.expr(a, None) for a in node.args]          # a namedtuple class
        kwargs = {kw.arg: self.lo.expr(kw.value, None) for kw in node.keywords}
        try:
            return fn(*args, **kwargs)
        except TypeError as exc:
            self.refuse(node, str(exc), fn.__name__)

    def build_dict(self, node):
        """``dict()``, ``dict(other)``, ``dict(pairs)``, ``dict(a=x, b=y)``."""
        out = {}
        if len(node.args) > 1:
            self.refuse(node, "dict() takes at most one positional argument", "dict")
        if node.args:
            source = self.lo.expr(node.args[0], None)
            items = items_of(source) if is_container(source) else None
            if isinstance(source, dict):
                out.update(source)
            elif items is not None and all(isinstance(p, tuple) and len(p) == 2 for p in items):
                out.update((self.const_key(k, node), v) for k, v in items)
            else:
                self.refuse(node, "dict() needs a dict or (key, value) pairs known when the "
                                  "derivative is generated", "dict")
        for kw in node.keywords:
            if kw.arg is None:
                self.refuse(node, "dict(**other) is not supported; use {**other}", "dict")
            out[kw.arg] = self.lo.expr(kw.value, None)
        return self.own(out)

    def const_key(self, key, node):
        if not isinstance(key, ir.Const):
            self.refuse(node, "dict keys must be constants known when the derivative is generated "
                              "(strings, numbers, or loop variables of unrolled loops)", "dict key")
        try:
            hash(key.value)
        except TypeError:
            self.refuse(node, f"unhashable dict key {key.value!r}", "dict key")
        return key.value

    def method(self, owner, node, hint):
        """Methods of containers: ``items keys values get copy`` of dicts, ``copy`` of lists."""
        attr = node.func.attr
        args = [self.lo.expr(a, None) for a in node.args]
        if node.keywords:
            self.refuse(node, f".{attr}() takes positional arguments only here", "method call")
        if isinstance(owner, dict) and attr in DICT_VIEWS and not args:
            return self.own(dict_view(owner, attr))
        if isinstance(owner, dict) and attr == "get" and len(args) in (1, 2):
            key = self.const_key(args[0], node)
            return owner.get(key, args[1] if len(args) == 2 else ir.Const(None))
        if isinstance(owner, (dict, list)) and attr == "copy" and not args:
            return self.own(type(owner)(owner))
        self.refuse(node, f"the method '.{attr}()' is not supported on a {type_name(owner)} "
                          f"here", "method call")

    def membership(self, node):
        """``key in d`` / ``x not in xs`` on a container, known now."""
        if len(node.ops) != 1:
            self.refuse(node, "chained 'in' comparisons are not supported", "in")
        owner = self.lo.expr(node.comparators[0], None)
        key = self.lo.expr(node.left, None)
        if not is_container(owner) or not isinstance(key, ir.Const):
            self.refuse(node, "'in' is supported for a constant and a container whose contents "
                              "are known when the derivative is generated", "in")
        if isinstance(owner, dict):
            found = key.value in owner
        else:
            found = any(isinstance(v, ir.Const) and v.value == key.value
                        for v in items_of(owner))
        return ir.Const(found != isinstance(node.ops[0], gast.NotIn))

    def identity(self, node):
        """``v is None`` / ``v is not None``: known now, as no run-time value is None (None
        has no leaves, and a variable unbound on some path is refused elsewhere)."""
        if len(node.ops) != 1 or not isinstance(node.comparators[0], gast.Constant) or \
                node.comparators[0].value is not None:
            self.refuse(node, "'is' and 'is not' are supported only against None", "is")
        value = self.lo.expr(node.left, None)
        found = isinstance(value, ir.Const) and value.value is None
        return ir.Const(found != isinstance(node.ops[0], gast.IsNot))

    # ------------------------------------------------------------------ literals, branches, lists
    def dict_literal(self, node):
        out = {}
        for k, v in zip(node.keys, node.values):
            if k is None:                               # {**other}
                other = self.lo.expr(v, None)
                if not isinstance(other, dict):
                    self.refuse(node, "only a dict can be unpacked with ** here", "dict")
                out.update(other)
                continue
            key = self.const_key(self.lo.expr(k, None), k)
            out[key] = self.lo.expr(v, None)
        return self.own(out)

    def comprehension(self, node, kind):
        """A comprehension unrolled now: a list, or a dict for ``kind`` dict; None for a list
        comprehension over a run-time range (the lowerer makes it a run-time list)."""
        items = self.iteration.unroll_comprehension(node)
        if items is None and kind is list:
            return None
        if items is None:
            self.refuse(node, "a dict comprehension is unrolled when the derivative is generated, "
                              "so it must iterate over containers or ranges known then",
                        "comprehension")
        if kind is dict:
            return self.own({self.const_key(k, node): v for k, v in items})
        return self.own(items)

    def merge(self, name, then_value, else_value, outs, then_yields, else_yields, node):
        """Merge a container bound differently by two branches, leaf by leaf (the structure
        must match); returns the container of merged leaves."""
        then_leaves, then_tree = pytree.flatten(self.plain(then_value))
        else_leaves, else_tree = pytree.flatten(self.plain(else_value))
        if then_tree != else_tree:
            self.refuse(node, f"'{name}' has a different structure in each branch "
                              f"({then_tree!r} and {else_tree!r}); the structure of a container "
                              f"must be known when the derivative is generated", "if")
        merged = []
        for steps, t, e in zip(pytree.key_paths(then_tree), then_leaves, else_leaves):
            t, e = self.lo.as_operand(t, node), self.lo.as_operand(e, node)
            if t == e:
                merged.append(t)
                continue
            base = leaf_name(name, steps)
            out = self.lo.fresh(base, base)
            outs.append(out)
            then_yields.append(t)
            else_yields.append(e)
            a, b = self.lo.kind(t), self.lo.kind(e)
            self.lo.kinds[out] = a if a == b else ("int" if {a, b} <= {"int", "bool"} else None)
            self.lo.join_buffers(out, [t, e], node)
            merged.append(ir.Var(out))
        return self.own_tree(pytree.unflatten(then_tree, merged, none=ir.Const(None)))

    def change_list(self, name, current, attr, value, node):
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
            self.lo.rebind(current, self.own(items))
        return result

    def check_list_owner(self, name, current, node):
        owner = self.owners.get(id(current))
        if owner is None:
            self.refuse(node, f"'{name}' comes from the arguments: changing it would change the "
                              f"caller's list; copy it first (new = list({name}))",
                        "change of an argument", AliasingError)
        if owner[1] is not self.lo.out:
            self.refuse(node, f"'{name}' is changed inside a loop or branch but was built outside "
                              f"it, in a way srcgrad could not follow", "list change")

    # ------------------------------------------------------------------ iteration (delegated)
    def peek(self, node):
        """The container (or value) a name / constant subscript / field chain denotes now."""
        return self.iteration.peek(node)

    def loop_items(self, node):
        """The items of a ``for`` loop to unroll, or None for a run-time loop."""
        return self.iteration.static_loop_items(node)


__all__ = ["Containers", "is_container", "is_static_list", "holds_mutable", "known_truth",
           "fold_constants", "CONTAINER_TYPES"]
