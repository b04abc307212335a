"""Second order for every differentiable primitive: one case each, through the compiler,
the Hessian-vector product (forward over the generated gradient) against central
differences of that gradient (itself checked in tests/test_rules_end_to_end.py).  Where a
rule's adjoint is not differentiable again (``REFUSED``, with the reason) the derivative
must be refused with a SrcgradError."""

from __future__ import annotations

import numpy as np
import pytest

import srcgrad
from tests.rule_cases import CASES
from tests.test_rules_end_to_end import compiled_case, generated  # noqa: F401  (fixture)
from tests.test_rules_jit import FIRST

EPS = 1e-5

#: the primitives whose second derivative is refused, and why
REFUSED = {
    "linalg.multi_dot": "multi_dot_grads (a helper of generated code) has no rule",
}


def _refused(case) -> bool:
    return case.id.split("(")[0] in REFUSED


@pytest.mark.parametrize("k", FIRST, ids=[CASES[k].id for k in FIRST])
def test_hessian_vector_product(generated, k):  # noqa: F811
    f, full, wrt = compiled_case(generated, k)
    i = next(i for i in wrt if isinstance(full[i], (float, np.ndarray)))
    rng = np.random.default_rng(k)
    v = rng.standard_normal(np.shape(full[i]))
    v = v if np.ndim(full[i]) else float(v)
    gradient = srcgrad.grad(f, wrt=i)
    if _refused(CASES[k]):
        with pytest.raises(srcgrad.SrcgradError):
            srcgrad.hvp(f, i)(*full, v)
        return
    got = srcgrad.hvp(f, i)(*full, v)
    plus, minus = list(full), list(full)
    plus[i] = full[i] + EPS * v
    minus[i] = full[i] - EPS * v
    want = (np.asarray(gradient(*plus)) - np.asarray(gradient(*minus))) / (2 * EPS)
    scale = 1.0 + np.max(np.abs(want))
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6 * scale, err_msg=CASES[k].id)
