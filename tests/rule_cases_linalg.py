"""Rule cases for `srcgrad/rules/linalg.py` (see tests/rule_cases.py for the format)."""

from tests.rule_cases import (Case, arr, const, mask, mat, npscal, pos, scal, seq)  # noqa: F401

CASES: list = []
