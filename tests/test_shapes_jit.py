"""Every case of tests/rule_cases_shapes.py, and every axis/keepdims form of the core
reductions and scans, under ``jit=True``: reverse mode against the gradient without jit
(itself checked against central differences in tests/test_rules_end_to_end.py), and
forward mode against the jvp without jit.  Forms Numba cannot compile are listed in
``REFUSED`` with the reason and must be refused with a SrcgradError."""

from __future__ import annotations

import numpy as np
import pytest

import srcgrad
from tests.rule_cases import CASES
from tests import rule_cases_shapes  # noqa: E402  (after rule_cases, which imports it)
from tests.test_rules_end_to_end import compiled_case, generated  # noqa: F401  (fixture)
from tests.test_rules_jit import check_under_jit

pytestmark = pytest.mark.slow      # about 11 minutes of Numba compiles: opt in with -m slow

CORE = (np.sum, np.mean, np.prod, np.max, np.amax, np.min, np.amin, np.var, np.std, np.cumsum,
        np.squeeze)
MINE = {id(c) for c in rule_cases_shapes.CASES}
JIT_CASES = [k for k, c in enumerate(CASES) if (id(c) in MINE or any(c.fn is f for f in CORE))
             and not c.fn.__module__.startswith("srcgrad.runtime")]   # helpers: constant axes only

#: case ids Numba cannot compile, and why
REFUSED = {
    "np.squeeze(1x3x1)": "without axis= the rank of the result depends on the lengths of the axes",
    "np.repeat(2x3,2,axis=1)": "Numba's np.repeat takes no axis",
    "np.repeat(2x3,3,axis=-2)": "Numba's np.repeat takes no axis",
}


@pytest.mark.parametrize("k", JIT_CASES, ids=[CASES[k].id for k in JIT_CASES])
def test_case_under_jit(generated, k):  # noqa: F811
    check_under_jit(generated, k, refused=CASES[k].id in REFUSED)


@pytest.mark.parametrize("k", JIT_CASES, ids=[CASES[k].id for k in JIT_CASES])
def test_case_forward_under_jit(generated, k):  # noqa: F811
    case = CASES[k]
    f, full, wrt = compiled_case(generated, k)
    if case.id in REFUSED:
        pytest.skip(REFUSED[case.id])
    floats = [i for i, a in enumerate(full[:-1]) if isinstance(a, (float, np.ndarray))]
    tangents = []
    rng = np.random.default_rng(k)
    for i, a in enumerate(full):
        if i in floats and i in wrt:
            tangents.append(rng.standard_normal(np.shape(a)) if np.ndim(a) else float(rng.standard_normal()))
        elif isinstance(a, np.ndarray) and a.dtype.kind == "f":
            tangents.append(np.zeros_like(a))
        elif isinstance(a, float):
            tangents.append(0.0)
        else:
            tangents.append(a)
    got = srcgrad.jvp(f, full, tangents, jit=True)
    want = srcgrad.jvp(f, full, tangents)
    np.testing.assert_allclose(got[1], want[1], rtol=1e-10, atol=1e-12, err_msg=case.id)
