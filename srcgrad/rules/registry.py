"""The rule registry: the single source of truth for which callables are primitives.

A rule is ordinary Python.  ``defvjp(np.sin, lambda g, ans, x: g * np.cos(x))`` registers
the vector-Jacobian product of ``np.sin`` for its first argument; the parameters after
``g, ans`` mirror the primitive's own signature (defaults included), so the code
generator can bind a call's arguments to them and inline the lambda's body with names
substituted.  Rules that are not single-expression lambdas are called, not inlined.
"""

from __future__ import annotations

import inspect

import numpy as np
from dataclasses import dataclass, field
from typing import Any, Callable


@dataclass
class Primitive:
    """Everything the compiler knows about one primitive callable."""

    fn: Any
    name: str
    vjps: dict[int, Callable | None] = field(default_factory=dict)  # param index -> rule
    jvps: dict[int, Callable | None] = field(default_factory=dict)
    nondiff: bool = False        # outputs carry no derivative (shapes, comparisons, constructors)
    seq_params: tuple[int, ...] = ()   # params that take a sequence of arrays (np.stack)
    signature: inspect.Signature | None = None   # parameters after (g, ans)
    user: bool = False           # registered by a user through srcgrad.defvjp
    joint: Callable | None = None    # vjp(g, ans, *args) -> one cotangent per argument
    structural: bool = False     # moves values without arithmetic (list append/pop): the
                                 # reverse and forward passes handle it themselves
    into: tuple[int, ...] = ()   # list params whose vjp takes the adjoint list first
                                 # (``vjp(adjoint, g, ans, ...)``), updates and returns it
    # Facts the passes read (declared with ``declare`` beside the rules; see FACTS)
    elementwise: bool = False    # per element, operands broadcast against each other
    reduction: bool = False      # reduces over ``axis`` (every axis by default) to a scalar
    fresh: bool = False          # an array result is new, never an operand or a view of one
    allocator: bool = False      # fresh and meant to be written in place (np.zeros, np.copy)
    view: bool = False           # may return its first operand itself or a view of it
    cheap: bool = False          # recomputing in the reverse sweep beats recording it
    int_preserving: bool = False  # integer operands give an integer result
    result_kind: str | None = None    # "int" | "bool" | "list" | "complex_to_real" ...
    shape_only: tuple[int, ...] = ()  # operand positions read only for their shape
    folds: bool = False          # constant operands are computed at transform time
    keeps_complex: bool = False  # non-differentiable, complex for a complex operand
    list_form: Callable | None = None  # the runtime helper taking a run-time list instead
                                       # of a sequence of arrays (np.stack -> stack_items)
    abstract: Callable | None = None  # (operand types, args, kwargs) -> type or None
    no_jit: str | None = None    # why it cannot run under jit=True (None: it can)
    why_no_rule: str | None = None  # a known function without rules: why (said when refused)
    restated: Callable | None = None  # plain Python lowered in its place (rules/restated.py)
    arity: int | Callable | None = None  # returns a tuple of this many values (rules get
                                 # and give a tuple of their cotangents or tangents); or a
                                 # callable taking the call's constant arguments by name
                                 # (others NOT_CONSTANT) and giving the count, raising
                                 # ValueError (the call is refused) if they do not fix it
    refuses: Callable | None = None  # (the call's constant arguments by name) -> why this
                                 # form of the call is refused, or None (np.pad's modes)

    def has_rules(self) -> bool:
        return bool(self.vjps or self.jvps or self.nondiff or self.structural or self.joint)

    def param_names(self) -> list[str]:
        return list(self.signature.parameters) if self.signature else []


class _Zero:
    """Marks an argument a primitive reads only for its shape or type: no derivative flows
    through it, and it needs no rule.  Helpers called by generated adjoints
    (``unbroadcast(g, x)``) take such arguments; marking them keeps the adjoint itself
    differentiable without spurious "no derivative" errors."""

    def __repr__(self):
        return "ZERO"


ZERO = _Zero()


def differentiable_operands(prim: "Primitive", args, kwargs) -> list:
    """The call's operands that derivatives flow through (all but ``ZERO`` positions)."""
    zero = {i for i, r in prim.vjps.items() if r is ZERO}
    if not zero or prim.signature is None:
        return list(args) + list(kwargs.values())
    try:
        bound = prim.signature.bind(*args, **kwargs)
    except TypeError:
        return list(args) + list(kwargs.values())
    names = list(prim.signature.parameters)
    return [v for p, v in bound.arguments.items() if names.index(p) not in zero]


class _NotConstant:
    """An argument of a call that is not a constant where the call is transformed (what
    ``arity`` and ``refuses`` callables see for it)."""

    def __repr__(self):
        return "NOT_CONSTANT"


NOT_CONSTANT = _NotConstant()


_REGISTRY: dict[int, Primitive] = {}
_NO_FACTS = Primitive(fn=None, name="")
_HELPERS_BY_NAME: dict[str, Primitive] = {}
_KEEPALIVE: list[Any] = []


def _key(fn) -> int:
    return id(fn)


def record(fn) -> Primitive | None:
    """Everything known about ``fn`` (its rules and facts), or None."""
    prim = _REGISTRY.get(_key(fn))
    if prim is not None and prim.fn is fn:
        return prim
    return None


def facts(fn) -> Primitive:
    """The record of ``fn`` for reading its facts: every fact false for a callable the
    registry does not know."""
    return record(fn) or _NO_FACTS


def spelled(name: str) -> Primitive:
    """The facts of the function generated code spells ``name``: ``np.sum``,
    ``np.linalg.inv`` or a runtime helper's bare name (``zeros_like``)."""
    if name.startswith("np."):
        fn = np
        for part in name.split(".")[1:]:
            fn = getattr(fn, part, None)
        return facts(fn)
    if not _HELPERS_BY_NAME:
        _HELPERS_BY_NAME.update({getattr(p.fn, "__name__", ""): p for p in _REGISTRY.values()
                                 if (getattr(p.fn, "__module__", "") or "").startswith("srcgrad.runtime")})
    return _HELPERS_BY_NAME.get(name, _NO_FACTS)


def lookup(fn) -> Primitive | None:
    """The primitive registered for ``fn`` with rules (or as non-differentiable), or None;
    a callable with facts but no rules is not a primitive yet."""
    prim = record(fn)
    return prim if prim is not None and prim.has_rules() else None


def all_primitives() -> list[Primitive]:
    return [p for p in _REGISTRY.values() if p.has_rules()]


def _qualname(fn) -> str:
    module = getattr(fn, "__module__", None) or ""
    name = getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None) or repr(fn)
    if isinstance(fn, type(len)) and module == "builtins":
        return name
    if module.startswith("numpy"):
        module = "numpy"
    return f"{module}.{name}" if module else name


def _rule_signature(rule: Callable, skip: int) -> inspect.Signature:
    params = list(inspect.signature(rule).parameters.values())[skip:]
    return inspect.Signature(params)


def _entry(fn, name) -> Primitive:
    prim = record(fn)
    if prim is None:
        _HELPERS_BY_NAME.clear()
        prim = Primitive(fn=fn, name=name or _qualname(fn))
        if isinstance(fn, np.ufunc):        # a new array; elementwise unless a gufunc
            prim.fresh = True
            prim.elementwise = fn.signature is None
        _REGISTRY[_key(fn)] = prim
        _KEEPALIVE.append(fn)
    elif name:
        prim.name = name
    return prim


def defvjp(fn, *vjps, name: str | None = None, seq_params: tuple[int, ...] = (), user: bool = False,
           into: tuple[int, ...] = ()):
    """Register vector-Jacobian products ``vjp(g, ans, *args, **kwargs)``, one per argument.

    This is the form built-in rule modules use; users call ``srcgrad.defvjp``
    (``public_defvjp``), which marks the rule as theirs (left out of the docs' table).

    ``None`` marks an argument as non-differentiable (an error if a derivative reaches
    it); ``ZERO`` one whose value does not matter (only its shape).  For a run-time list
    argument listed in ``into`` the rule is ``vjp(adjoint, g, ans, ...)``: it adds to the
    list's adjoint (one cotangent per item) and returns it.  Returns ``fn`` so it can decorate.
    """
    prim = _entry(fn, name)
    rules = [(i, r) for i, r in enumerate(vjps) if r is not None and r is not ZERO]
    if rules:
        prim.signature = _rule_signature(rules[0][1], 3 if rules[0][0] in into else 2)
    prim.vjps = {i: r for i, r in enumerate(vjps)}
    prim.seq_params = tuple(seq_params)
    prim.into = tuple(into)
    prim.nondiff = False
    prim.user = user
    return fn


def public_defvjp(fn, *vjps, name: str | None = None, seq_params: tuple[int, ...] = (),
                  into: tuple[int, ...] = ()):
    """Register vector-Jacobian products ``vjp(g, ans, *args, **kwargs)`` for ``fn``, one
    per positional argument (None: not differentiable; ``ZERO``: only its shape is read).
    Returns ``fn``, so it can decorate."""
    return defvjp(fn, *vjps, name=name, seq_params=seq_params, into=into, user=True)


public_defvjp.__name__ = public_defvjp.__qualname__ = "defvjp"


def defvjp_joint(fn, rule, name: str | None = None):
    """Register one rule returning the cotangents of all positional arguments at once.

    For operations whose backward computes every input's gradient together (a
    ``srcgrad.Function``); the generated code calls the rule once per use.
    """
    prim = _entry(fn, name)
    prim.joint = rule
    prim.signature = _rule_signature(rule, 2)
    prim.nondiff = False
    prim.user = True
    return fn


def defjvp(fn, *jvps, name: str | None = None):
    """Register Jacobian-vector products ``jvp(t, ans, *args, **kwargs)``, one per argument."""
    prim = _entry(fn, name)
    rules = [r for r in jvps if r is not None and r is not ZERO]
    if rules and prim.signature is None:
        prim.signature = _rule_signature(rules[0], 2)
    prim.jvps = {i: r for i, r in enumerate(jvps)}
    return fn


def defstructural(fn, zero_args: tuple[int, ...] = (), name: str | None = None):
    """Register an operation the passes differentiate structurally rather than by rules
    (a list append's adjoint pops the adjoint list); ``zero_args`` carry no derivative."""
    prim = _entry(fn, name)
    prim.structural = True
    prim.nondiff = False
    prim.signature = inspect.signature(fn)
    prim.vjps = {i: ZERO for i in zero_args}
    prim.jvps = {i: ZERO for i in zero_args}
    return fn


FACTS = ("elementwise", "reduction", "fresh", "allocator", "view", "cheap", "int_preserving",
         "result_kind", "shape_only", "folds", "keeps_complex", "list_form", "abstract",
         "no_jit", "arity", "refuses", "why_no_rule", "restated")


def declare(fn, name: str | None = None, **facts):
    """Record facts about a primitive that the passes use besides its rules (whether it
    is elementwise, allocates, returns a view...).  Returns ``fn``."""
    unknown = set(facts) - set(FACTS)
    if unknown:
        raise TypeError(f"unknown primitive facts {sorted(unknown)}; known: {FACTS}")
    prim = _entry(fn, name)
    for key, value in facts.items():
        setattr(prim, key, value)
    if prim.allocator:
        prim.fresh = True
    return fn


def defnondiff(fn, name: str | None = None, signature_of: Callable | None = None):
    """Register ``fn`` as a primitive whose outputs carry no derivative."""
    prim = _entry(fn, name)
    prim.nondiff = True
    if signature_of is not None:
        prim.signature = inspect.signature(signature_of)
    return fn
