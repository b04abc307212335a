"""Calls kept for their side effect only: ``print`` runs in the forward sweep, for debugging.

Such a call has no derivative and its result is never used, so the passes that drop
unused values (prune, simplify) keep it by asking ``is_effect``; the reverse sweep never
reads it, so it is not recomputed and prints once per gradient call.
"""

from __future__ import annotations

import builtins

from srcgrad.rules.registry import defnondiff

EFFECTS = (builtins.print,)


def is_effect(fn) -> bool:
    """Whether a call of ``fn`` must run even though its result is unused."""
    return any(fn is e for e in EFFECTS)


defnondiff(builtins.print, name="print")
