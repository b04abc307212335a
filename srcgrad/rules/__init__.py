"""Derivative rules, one module per namespace; importing this package registers them all."""

from srcgrad.rules.registry import (  # noqa: F401
    Primitive, all_primitives, defjvp, defnondiff, defvjp, lookup,
)
from srcgrad.rules import builtins, numpy, linalg, special, shapes, adjoints, effects, casts, restated  # noqa: F401,E402,E501
