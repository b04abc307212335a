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

``ContainerLowering`` is a mixin of ``lower.Lowerer``; it uses the lowerer's ``expr``,
``call``, ``bind``, ``fresh``, ``env`` and ``refuse``.
"""

from __future__ import annotations

import itertools
import operator
import re

import gast

from srcgrad import calls, ir, pytree
from srcgrad.custom import stop_gradient
from srcgrad.errors import AliasingError

_NOTHING = object()
CONTAINER_TYPES = (tuple, list, dict)
_DICT_VIEWS = ("items", "keys", "values")
# builtins that act on containers at transform time
_CONTAINER_BUILTINS = (len, sum, dict, list, tuple, enumerate, zip)
# constant operands of these are folded (int, bool, str and None values only)
_FOLDABLE = {id(f): f for f in (operator.add, operator.sub, operator.mul, operator.floordiv,
                                operator.mod, operator.neg, operator.pos, operator.not_,
                                operator.eq, operator.ne, operator.lt, operator.le,
                                operator.gt, operator.ge, operator.and_, operator.or_,
                                len, min, max, abs)}


def is_container(value) -> bool:
    """A value the environment holds as a static container (a list literal's Seq included)."""
    return isinstance(value, CONTAINER_TYPES) or isinstance(value, ir.Seq)


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


def leaf_name(root: str, steps) -> str:
    """A readable IR name for a leaf: ``params_W1``, ``layers_0_W``."""
    parts = [root] + [re.sub(r"\W", "_", str(key)) for _, key in steps]
    return "_".join(p for p in parts if p) or "leaf"


class ContainerLowering:
    """Lowering of container values, mixed into ``lower.Lowerer``."""

    def init_containers(self, trees, has_aux):
        self.trees = trees or {}           # parameter -> (treedef, [(kind, ndim) per leaf])
        self.has_aux = has_aux
        self.result_tree = pytree.LEAF
        self.owners: dict = {}             # id(container) -> (container, block that built it)

    # ------------------------------------------------------------------ parameters, result
    def bind_container_param(self, name):
        """One IR parameter per leaf of a container argument; the name is bound to the structure."""
        tree, kinds = self.trees[name]
        leaves = []
        for steps, (kind, ndim) in zip(pytree.key_paths(tree), kinds):
            base = leaf_name(name, steps)
            leaf = self.fresh(base, base)
            self.params.append(leaf)
            if kind:
                self.kinds[leaf] = kind
            if ndim is not None:
                self.ndims[leaf] = ndim
            leaves.append(ir.Var(leaf))
        self.env[name] = pytree.unflatten(tree, leaves, none=ir.Const(None))

    def result_operand(self, value, node):
        """The returned value as one operand: a container becomes a Seq of its leaves, and
        ``self.result_tree`` records its structure (the API rebuilds it)."""
        if self.has_aux:
            value = self.split_aux(value, node)
        leaves, tree = pytree.flatten(self.plain(value))
        self.result_tree = tree
        leaves = [self.as_operand(leaf, node) for leaf in leaves]
        if any(self.is_list(leaf) for leaf in leaves):
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
        stopped = [self.call(stop_gradient, [leaf], {}, node, "aux") if isinstance(leaf, ir.Var)
                   else leaf for leaf in (self.as_operand(v, node) for v in leaves)]
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
        self.owners[id(container)] = (container, self.out)
        return container

    def own_tree(self, value):
        """``own`` for a freshly built container and the containers nested in it."""
        if isinstance(value, (list, dict)):
            self.own(value)
        if isinstance(value, (tuple, list, dict)):
            for item in (value.values() if isinstance(value, dict) else value):
                self.own_tree(item)
        return value

    def peek(self, node, varying=frozenset()):
        """The value a name / constant-subscript / field chain denotes, emitting no code;
        ``_NOTHING`` unless it is known now.  Names in ``varying`` are not known."""
        if isinstance(node, gast.Name):
            if node.id in varying:
                return _NOTHING
            return self.env.get(node.id, _NOTHING)
        if isinstance(node, gast.Subscript):
            base = self.peek(node.value, varying)
            key = self.static_value(node.slice, varying)
            if isinstance(node.slice, gast.Slice):
                bounds = [None if b is None else self.static_value(b, varying)
                          for b in (node.slice.lower, node.slice.upper, node.slice.step)]
                key = _NOTHING if _NOTHING in bounds else slice(*bounds)
            if not is_container(base) or key is _NOTHING:
                return _NOTHING
            items = base.items if isinstance(base, ir.Seq) else base
            try:
                return items[key]
            except (KeyError, IndexError, TypeError):
                return _NOTHING
        if isinstance(node, gast.Attribute):
            base = self.peek(node.value, varying)
            if pytree.is_namedtuple(base) and node.attr in type(base)._fields:
                return getattr(base, node.attr)
        return _NOTHING

    def static_value(self, node, varying=frozenset()):
        """A constant known now (a literal, a name bound to one, ``len`` of a container,
        integer arithmetic on such values), else ``_NOTHING``; emits no code."""
        if isinstance(node, gast.Constant):
            return node.value
        if isinstance(node, gast.Name):
            value = self.peek(node, varying)
            return value.value if isinstance(value, ir.Const) else _NOTHING
        if isinstance(node, gast.UnaryOp) and isinstance(node.op, gast.USub):
            value = self.static_value(node.operand, varying)
            return -value if type(value) is int else _NOTHING
        if isinstance(node, gast.BinOp):
            fn = {gast.Add: operator.add, gast.Sub: operator.sub, gast.Mult: operator.mul,
                  gast.FloorDiv: operator.floordiv}.get(type(node.op))
            left = self.static_value(node.left, varying)
            right = self.static_value(node.right, varying)
            if fn and type(left) is int and type(right) is int:
                return fn(left, right)
            return _NOTHING
        if isinstance(node, gast.Call) and len(node.args) == 1 and not node.keywords and \
                self.callee_of(node.func) is len:
            value = self.peek(node.args[0], varying)
            if is_container(value):
                return len(value.items if isinstance(value, ir.Seq) else value)
        return _NOTHING

    def items_of(self, value) -> list:
        """What iterating over a container yields (a dict: its keys)."""
        if isinstance(value, ir.Seq):
            return list(value.items)
        if isinstance(value, dict):
            return [ir.Const(k) for k in value]
        return list(value)

    def fold_constants(self, fn, args, kwargs):
        """``fn(*args)`` as a Const when every operand is an int, bool, str or None constant."""
        f = _FOLDABLE.get(id(fn))
        if f is None or kwargs or not args or not all(_foldable_value(a) for a in args):
            return None
        try:
            return ir.Const(f(*(a.value for a in args)))
        except Exception:                 # leave the error to run time, as Python would
            return None

    # ------------------------------------------------------------------ iteration
    def indexes_container(self, nodes, varying) -> bool:
        """Whether ``nodes`` index a container with a value that changes per iteration."""
        for root in nodes:
            for node in gast.walk(root):
                if isinstance(node, gast.Subscript) and \
                        self.static_value(node.slice, varying) is _NOTHING and \
                        is_container(self.peek(node.value, varying)):
                    return True
        return False

    def static_iterable(self, it, ranges: bool):
        """The items a ``for`` header or comprehension iterates over, when known now, else None.

        ``ranges`` says a ``range`` with bounds known now counts (to unroll the loop).
        """
        if isinstance(it, (gast.Tuple, gast.List)):
            return self.items_of(self.expr(it, None))
        if isinstance(it, gast.Call):
            func = it.func
            if isinstance(func, gast.Attribute) and func.attr in _DICT_VIEWS and not it.args:
                owner = self.peek(func.value)
                if isinstance(owner, dict):
                    return self.dict_view(owner, func.attr)
                return None
            callee = self.callee_of(func)
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
        return self.items_of(value) if is_container(value) else None

    def dict_view(self, d: dict, which: str) -> list:
        if which == "keys":
            return [ir.Const(k) for k in d]
        if which == "values":
            return list(d.values())
        return [(ir.Const(k), v) for k, v in d.items()]

    def static_loop_items(self, node):
        """The items of a ``for`` loop to unroll, or None for a run-time loop.

        Loops over containers are unrolled; so is a ``range`` loop whose body indexes a
        container with a value that changes per iteration, which needs its bounds now.
        """
        varying = frozenset(self.assigned_names([node]))
        unroll = self.indexes_container(node.body, varying)
        items = self.static_iterable(node.iter, ranges=unroll)
        if items is None and unroll:
            self.refuse(node, "this loop indexes a container (list, tuple or dict) with a value "
                              "that changes per iteration, so it is unrolled, which needs its "
                              "bounds when the derivative is generated; loop over the container, "
                              "or over range(len(container))", "loop over a container")
        return items

    # ------------------------------------------------------------------ subscripts, stores
    def container_getitem(self, value, node):
        """``value[key]`` resolved now: a constant key or index, or a slice of constants."""
        index = self.index(node.slice, node)
        if len(index.parts) != 1:
            self.refuse(node, f"a {type_name(value)} takes one index, not "
                              f"{len(index.parts)}", "container index")
        part = index.parts[0]
        items = value.items if isinstance(value, ir.Seq) else value
        if isinstance(part, ir.Slice) and isinstance(value, (ir.Seq, list, tuple)):
            bounds = [None if b is None else b.value if isinstance(b, ir.Const) else _NOTHING
                      for b in (part.lower, part.upper, part.step)]
            if _NOTHING not in bounds:
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

    def container_store(self, container, target, value, node, name):
        """``container[key] = value`` for a list or dict this block built (outside loops)."""
        if isinstance(container, tuple) or isinstance(container, ir.Seq):
            self.refuse(node, f"'{name}' is a {type_name(container)}, which cannot be changed; "
                              f"build a new one", "container store")
        index = self.index(target.slice, node)
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
        if owner[1] is not self.out:
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
    def is_container_builtin(self, fn) -> bool:
        return any(fn is b for b in _CONTAINER_BUILTINS) or (
            isinstance(fn, type) and issubclass(fn, tuple) and hasattr(fn, "_fields"))

    def call_operand(self, fn, value, node):
        """An argument of a call; a dict or list passed to the user's own function is refused
        with what to do instead (its adjoint is generated for array arguments)."""
        if isinstance(value, (dict, list)) and calls.is_user_function(fn):
            self.refuse(node, f"passing a {type(value).__name__} to your own function "
                              f"'{fn.__name__}' is not supported yet: pass its leaves "
                              f"(arrays and numbers), or define '{fn.__name__}' inside the "
                              f"differentiated function (nested functions are inlined)",
                        "container argument")
        return self.as_operand(value, node)

    def container_call(self, fn, node, hint):
        """``len``, ``sum``, ``dict``, ``list``, ``tuple``, ``enumerate``, ``zip`` and
        namedtuple constructors on containers, resolved now."""
        if fn is sum:
            return self.container_sum(node, hint)
        if fn is dict:
            return self.build_dict(node)
        if fn in (enumerate, zip):
            items = self.static_iterable(node, ranges=True)
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
                items = self.unroll_comprehension(arg)
            else:
                items = self.static_iterable(arg, ranges=fn is not len)
            if items is None:
                value = self.as_operand(self.expr(arg, None), arg)
                if fn is len:
                    return self.call(len, [value], {}, node, hint)
                self.refuse(node, f"{fn.__name__}() of a value known only at run time is not "
                                  f"supported", fn.__name__)
            if fn is len:
                return ir.Const(len(items))
            return self.own(list(items)) if fn is list else tuple(items)
        args = [self.expr(a, None) for a in node.args]          # a namedtuple class
        kwargs = {kw.arg: self.expr(kw.value, None) for kw in node.keywords}
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
            source = self.expr(node.args[0], None)
            items = self.items_of(source) if is_container(source) else None
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
            out[kw.arg] = self.expr(kw.value, None)
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
                self.as_operand(self.expr(start, None), start)
            return self.sum_loop(arg, initial)
        if isinstance(arg, (gast.GeneratorExp, gast.ListComp)):
            items = self.unroll_comprehension(arg)
        else:
            items = self.static_iterable(arg, ranges=False)
        if items is None:                   # a run-time list (or refused: no rule for sum)
            value = self.as_operand(self.expr(arg, None), arg)
            if start is not None:
                initial = self.as_operand(self.expr(start, None), start)
                return self.call(sum, [value, initial], {}, node, hint)
            return self.call(sum, [value], {}, node, hint)
        items = [self.as_operand(v, arg) for v in items]
        if start is not None:
            total = self.as_operand(self.expr(start, None), start)
        elif items and self.kind(items[0]) != "bool":
            total, items = items[0], items[1:]
        else:
            total = ir.Const(0)
        for item in items:
            total = self.call(operator.add, [total, item], {}, node, None)
        return total

    def container_method(self, owner, node, hint):
        """Methods of containers: ``items keys values get copy`` of dicts, ``copy`` of lists."""
        attr = node.func.attr
        args = [self.expr(a, None) for a in node.args]
        if node.keywords:
            self.refuse(node, f".{attr}() takes positional arguments only here", "method call")
        if isinstance(owner, dict) and attr in _DICT_VIEWS and not args:
            return self.own(self.dict_view(owner, attr))
        if isinstance(owner, dict) and attr == "get" and len(args) in (1, 2):
            key = self.const_key(args[0], node)
            return owner.get(key, args[1] if len(args) == 2 else ir.Const(None))
        if isinstance(owner, (dict, list)) and attr == "copy" and not args:
            return self.own(type(owner)(owner))
        self.refuse(node, f"the method '.{attr}()' is not supported on a {type_name(owner)} "
                          f"here", "method call")

    def container_membership(self, node):
        """``key in d`` / ``x not in xs`` on a container, known now."""
        if len(node.ops) != 1:
            self.refuse(node, "chained 'in' comparisons are not supported", "in")
        owner = self.expr(node.comparators[0], None)
        key = self.expr(node.left, None)
        if not is_container(owner) or not isinstance(key, ir.Const):
            self.refuse(node, "'in' is supported for a constant and a container whose contents "
                              "are known when the derivative is generated", "in")
        if isinstance(owner, dict):
            found = key.value in owner
        else:
            found = any(isinstance(v, ir.Const) and v.value == key.value
                        for v in self.items_of(owner))
        return ir.Const(found != isinstance(node.ops[0], gast.NotIn))

    def identity_comparison(self, node):
        """``v is None`` / ``v is not None``: known now, as no run-time value is None (None
        has no leaves, and a variable unbound on some path is refused elsewhere)."""
        if len(node.ops) != 1 or not isinstance(node.comparators[0], gast.Constant) or \
                node.comparators[0].value is not None:
            self.refuse(node, "'is' and 'is not' are supported only against None", "is")
        value = self.expr(node.left, None)
        found = isinstance(value, ir.Const) and value.value is None
        return ir.Const(found != isinstance(node.ops[0], gast.IsNot))

    # ------------------------------------------------------------------ literals, comprehensions
    def expr_Dict(self, node, hint):
        out = {}
        for k, v in zip(node.keys, node.values):
            if k is None:                               # {**other}
                other = self.expr(v, None)
                if not isinstance(other, dict):
                    self.refuse(node, "only a dict can be unpacked with ** here", "dict")
                out.update(other)
                continue
            key = self.const_key(self.expr(k, None), k)
            out[key] = self.expr(v, None)
        return self.own(out)

    def expr_ListComp(self, node, hint):
        return self.comprehension(node, list, hint)

    def expr_GeneratorExp(self, node, hint):
        return self.comprehension(node, list, hint)

    def expr_DictComp(self, node, hint):
        return self.comprehension(node, dict)

    def expr_SetComp(self, node, hint):
        self.refuse(node, "set comprehensions are not supported", "set comprehension")

    def expr_Set(self, node, hint):
        self.refuse(node, "sets are not supported (their order is not defined)", "set")

    def comprehension(self, node, kind, hint=None):
        items = self.unroll_comprehension(node)
        if items is None and kind is list:
            return self.list_loop(node, hint)         # over a run-time range: a run-time list
        if items is None:
            self.refuse(node, "a dict comprehension is unrolled when the derivative is generated, "
                              "so it must iterate over containers or ranges known then",
                        "comprehension")
        if kind is dict:
            return self.own({self.const_key(k, node): v for k, v in items})
        return self.own(items)

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
        if isinstance(it.func, gast.Attribute) and it.func.attr in _DICT_VIEWS:
            return isinstance(self.peek(it.func.value), dict)
        callee = self.callee_of(it.func)
        return (callee is enumerate or callee is zip) and bool(it.args) and \
            all(self.over_container(a) for a in it.args[:1 if callee is enumerate else None])

    def unroll_comprehension(self, node):
        """The elements (``(key, value)`` pairs for a dict) of a comprehension, unrolled; None
        if its first iterable is not known now.  Its loop variables stay local to it."""
        gens = node.generators
        names = {n.id for g in gens for n in gast.walk(g.target) if isinstance(n, gast.Name)}
        saved = {n: self.env[n] for n in names if n in self.env}
        out: list = []

        def run(k):
            if k == len(gens):
                if isinstance(node, gast.DictComp):
                    out.append((self.expr(node.key, None), self.expr(node.value, None)))
                else:
                    out.append(self.expr(node.elt, None))
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
                self.bind(gen.target, item, node)
                if all(self.static_condition(c) for c in gen.ifs):
                    run(k + 1)
            return True

        try:
            done = run(0)
        finally:
            for n in names:
                self.env.pop(n, None)
            self.env.update(saved)
        return out if done else None

    def static_condition(self, node) -> bool:
        value = self.as_operand(self.expr(node, None), node)
        if not isinstance(value, ir.Const):
            self.refuse(node, "the condition of an unrolled comprehension must be known when the "
                              "derivative is generated", "comprehension filter")
        return bool(value.value)

    def sum_loop(self, node, initial):
        """``sum(elt for target in iterable if cond)`` as ``for``/``if`` statements adding to an
        accumulator, lowered like the user's own loops."""
        acc = self.accumulator_name("total")
        add = gast.BinOp(left=_name(acc), op=gast.Add(), right=node.elt)
        stmt = gast.Assign(targets=[_name(acc, store=True)], value=add, type_comment=None)
        self.env[acc] = initial
        try:
            return self.comprehension_loop(node, stmt, acc)
        finally:
            self.env.pop(acc, None)

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

    def first_change(self, loop, name):
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

    # ------------------------------------------------------------------ branches
    def merge_containers(self, name, then_value, else_value, outs, then_yields, else_yields, node):
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
            t, e = self.as_operand(t, node), self.as_operand(e, node)
            if t == e:
                merged.append(t)
                continue
            base = leaf_name(name, steps)
            out = self.fresh(base, base)
            outs.append(out)
            then_yields.append(t)
            else_yields.append(e)
            a, b = self.kind(t), self.kind(e)
            self.kinds[out] = a if a == b else ("int" if {a, b} <= {"int", "bool"} else None)
            self.join_buffers(out, [t, e], node)
            merged.append(ir.Var(out))
        return self.own_tree(pytree.unflatten(then_tree, merged, none=ir.Const(None)))


def _name(id_, store=False):
    return gast.Name(id=id_, ctx=gast.Store() if store else gast.Load(), annotation=None,
                     type_comment=None)


__all__ = ["ContainerLowering", "is_container", "holds_mutable", "known_truth", "CONTAINER_TYPES"]
