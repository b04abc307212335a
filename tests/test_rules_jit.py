"""Every differentiable primitive under ``jit=True``: one case per primitive, through the
compiler and Numba, against the same gradient without jit (itself checked against
central differences in tests/test_rules_end_to_end.py).  A primitive that cannot run
under jit declares why (``no_jit``, shown in docs/primitives.md) and is refused with a
clear error instead."""

from __future__ import annotations

import numpy as np
import pytest

import srcgrad
from srcgrad.rules import registry
from tests.rule_cases import CASES
from tests.test_rules_end_to_end import compiled_case, generated  # noqa: F401  (fixture)


def _first_case_per_primitive() -> list[int]:
    seen, out = set(), []
    for k, case in enumerate(CASES):
        prim = registry.lookup(case.fn)
        if prim is None or id(case.fn) in seen or \
                (getattr(case.fn, "__module__", "") or "").startswith("srcgrad.runtime"):
            continue
        seen.add(id(case.fn))
        out.append(k)
    return out


FIRST = _first_case_per_primitive()


@pytest.mark.parametrize("k", FIRST, ids=[CASES[k].id for k in FIRST])
def test_primitive_under_jit(generated, k):  # noqa: F811
    case = CASES[k]
    check_under_jit(generated, k, refused=registry.lookup(case.fn).no_jit is not None)


def check_under_jit(generated, k, refused=False):  # noqa: F811
    """Case ``k`` compiled with jit=True gives the value and gradient it gives without;
    a ``refused`` one raises a SrcgradError instead."""
    case = CASES[k]
    f, full, wrt = compiled_case(generated, k)
    wrt = tuple(i for i in wrt if isinstance(full[i], (float, np.ndarray)))
    if refused:
        with pytest.raises(srcgrad.SrcgradError):
            srcgrad.grad(f, wrt=wrt, jit=True)(*full)
        return
    got = srcgrad.value_and_grad(f, wrt=wrt, jit=True)(*full)
    want = srcgrad.value_and_grad(f, wrt=wrt)(*full)
    np.testing.assert_allclose(got[0], want[0], rtol=1e-12, atol=1e-14)
    for g, w in zip(got[1], want[1]):
        np.testing.assert_allclose(g, w, rtol=1e-10, atol=1e-12, err_msg=case.id)
