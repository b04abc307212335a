"""The fuzzer's minimal reproducers (tests/fuzz/findings.py, FINDINGS.md), checked by
the oracle: xfail while srcgrad still fails (or refuses) them, pass once fixed, and
fail if a fix brings a different failure."""

from __future__ import annotations

import warnings

import pytest

from tests.fuzz import oracle
from tests.fuzz.findings import FINDINGS, REFUSALS


@pytest.mark.parametrize("finding", FINDINGS + REFUSALS, ids=lambda f: f.key)
def test_finding(finding):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = oracle.check(finding.program, record=False)
    if out.failures and set(out.kinds) <= set(finding.kinds):
        pytest.xfail(f"{finding.title}: " + "; ".join(str(f) for f in out.failures))
    if finding in REFUSALS and out.status == "refused":
        pytest.xfail(f"{finding.title}: " + "; ".join(out.refusals))
    oracle.raise_for(finding.program, out)
