"""Pytrees: arguments and results made of nested tuples, lists and dicts.

The compiler core only sees flat arguments.  Every entry point flattens a container
argument into its *leaves* (arrays, scalars, anything that is not a container) and a
*treedef* describing the containers around them, and rebuilds gradients, tangents and
results from leaves with the same treedef.  As in JAX, tuples, lists, dicts and
namedtuples nest freely and ``None`` is an empty container (it has no leaves).  Unlike
JAX, a dict keeps its insertion order, so a gradient dict has exactly its argument's keys
in the same order.

Treedefs are small frozen values: hashable (they are part of the specialization cache
key) and with a stable ``repr`` (part of the disk-cache hash).
"""

from __future__ import annotations

import types
from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class TreeDef:
    """The containers around the leaves of a value.

    ``kind`` is ``"leaf"``, ``"none"``, ``"static"``, ``"tuple"``, ``"list"``, ``"dict"``
    or ``"namedtuple"``; ``keys`` are a dict's keys in order (a namedtuple's field names,
    a static value itself); ``cls`` is a namedtuple's class.  A static value (a module
    such as ``xp=np``, or a function) has no leaves: it is part of the structure, so each
    one gets its own specialization and is resolved when the derivative is generated.
    """

    kind: str
    children: tuple = ()
    keys: tuple = ()
    cls: type | None = None
    num_leaves: int = field(default=0, compare=False, repr=False)

    def __post_init__(self):
        count = 1 if self.kind == "leaf" else sum(c.num_leaves for c in self.children)
        object.__setattr__(self, "num_leaves", count)

    @property
    def is_leaf(self) -> bool:
        return self.kind == "leaf"

    def __repr__(self):
        if self.kind in ("leaf", "none"):
            return "*" if self.kind == "leaf" else "None"
        if self.kind == "static":
            return f"<{getattr(self.keys[0], '__name__', type(self.keys[0]).__name__)}>"
        inner = ", ".join(repr(c) for c in self.children)
        if self.kind == "dict":
            return "{" + ", ".join(f"{k!r}: {c!r}" for k, c in zip(self.keys, self.children)) + "}"
        if self.kind == "list":
            return f"[{inner}]"
        if self.kind == "namedtuple":
            return f"{self.cls.__module__}.{self.cls.__qualname__}({inner})"
        return f"({inner}{',' if len(self.children) == 1 else ''})"


LEAF = TreeDef("leaf")
NONE = TreeDef("none")


def is_static(value) -> bool:
    """A module or a function passed as an argument: resolved when the derivative is made."""
    return isinstance(value, (types.ModuleType, types.FunctionType, types.BuiltinFunctionType,
                              np.ufunc)) or hasattr(value, "py_func")


def passes_function(tree: TreeDef) -> bool:
    """Whether a static value in ``tree`` is a function rather than a module."""
    if tree.kind == "static":
        return not isinstance(tree.keys[0], types.ModuleType)
    return any(passes_function(c) for c in tree.children)


def is_namedtuple(value) -> bool:
    return isinstance(value, tuple) and hasattr(type(value), "_fields")


def flatten(value) -> tuple[list, TreeDef]:
    """``(leaves, treedef)``: the leaves in order (dicts in insertion order)."""
    leaves: list = []
    return leaves, _flatten(value, leaves)


def _flatten(value, leaves: list) -> TreeDef:
    cls = type(value)
    if cls is tuple or cls is list:
        return TreeDef(cls.__name__, tuple(_flatten(v, leaves) for v in value))
    if cls is dict:
        keys = tuple(value)
        return TreeDef("dict", tuple(_flatten(value[k], leaves) for k in keys), keys)
    if value is None:
        return NONE
    if is_static(value):
        return TreeDef("static", keys=(value,))
    if is_namedtuple(value):
        return TreeDef("namedtuple", tuple(_flatten(v, leaves) for v in value),
                       tuple(cls._fields), cls)
    leaves.append(value)
    return LEAF


def unflatten(tree: TreeDef, leaves, none=None, static=lambda value: value):
    """The value with ``tree``'s containers around ``leaves`` (empty nodes become ``none``,
    static ones ``static(value)``)."""
    items = iter(leaves)
    value = _build(tree, items, none, static)
    if next(items, _END) is not _END:
        raise ValueError(f"too many leaves for the structure {tree!r}")
    return value


_END = object()


def _build(tree: TreeDef, items, none, static):
    kind = tree.kind
    if kind == "leaf":
        leaf = next(items, _END)
        if leaf is _END:
            raise ValueError("too few leaves for the structure")
        return leaf
    if kind == "none":
        return none
    if kind == "static":
        return static(tree.keys[0])
    children = [_build(c, items, none, static) for c in tree.children]
    if kind == "dict":
        return dict(zip(tree.keys, children))
    if kind == "list":
        return children
    if kind == "namedtuple":
        return tree.cls(*children)
    return tuple(children)


def leaves_like(value, tree: TreeDef, root: str) -> list:
    """The leaves of ``value`` in the order of ``tree`` (a cotangent or tangent shaped like a
    primal), raising ValueError naming the first place where the structure differs.

    Tuples and lists stand for each other; a dict must have the same keys, in any order;
    anything may stand for None.
    """
    out: list = []
    _match(value, tree, root, out)
    return out


def _match(value, tree: TreeDef, path: str, out: list):
    kind = tree.kind
    if kind == "leaf":
        out.append(value)
        return
    if kind in ("none", "static"):
        return                     # no leaves: whatever stands for it is ignored
    if kind == "dict":
        if not isinstance(value, dict) or set(value) != set(tree.keys):
            got = list(value) if isinstance(value, dict) else type(value).__name__
            raise ValueError(f"{path} should be a dict with keys {list(tree.keys)}, not {got}")
        for key, child in zip(tree.keys, tree.children):
            _match(value[key], child, path + _spell(("[]", key)), out)
        return
    if not isinstance(value, (tuple, list)) or len(value) != len(tree.children):
        got = f"a {type(value).__name__}"
        if isinstance(value, (tuple, list)):
            got += f" of {len(value)}"
        raise ValueError(f"{path} should be a {kind} of {len(tree.children)} values, not {got}")
    for i, (item, child) in enumerate(zip(value, tree.children)):
        step = (".", tree.keys[i]) if kind == "namedtuple" else ("[]", i)
        _match(item, child, path + _spell(step), out)


def paths(tree: TreeDef, root: str) -> list[str]:
    """How the user spells each leaf, in order: ``params["layers"][2]["n"]``, ``state.h``."""
    return [root + "".join(_spell(step) for step in steps) for steps in key_paths(tree)]


def key_paths(tree: TreeDef) -> list[tuple]:
    """Each leaf's steps from the root: ``("[]", 2)``, ``("[]", "W")`` or ``(".", "h")``."""
    if tree.kind == "leaf":
        return [()]
    out = []
    for i, child in enumerate(tree.children):
        step = (".", tree.keys[i]) if tree.kind == "namedtuple" else \
            ("[]", tree.keys[i] if tree.kind == "dict" else i)
        out.extend((step,) + rest for rest in key_paths(child))
    return out


def _spell(step) -> str:
    how, key = step
    if how == ".":
        return f".{key}"
    return f'["{key}"]' if isinstance(key, str) else f"[{key!r}]"


__all__ = ["TreeDef", "LEAF", "NONE", "flatten", "unflatten", "leaves_like", "paths", "key_paths",
           "is_namedtuple"]
