"""Property tests for the runtime tape (srcgrad/runtime/tape.py)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from srcgrad.runtime.tape import reversed_range, stack

floats = st.floats(allow_nan=False, allow_infinity=True, width=64)
arrays = hnp.arrays(dtype=st.sampled_from([np.float64, np.float32, np.int64]),
                    shape=hnp.array_shapes(min_dims=0, max_dims=3, max_side=4),
                    elements={"allow_nan": False})
values = st.one_of(floats, st.integers(-2**70, 2**70), st.booleans(), arrays)

# an operation is ("push", stack number, value) or ("pop", stack number)
ops = st.lists(st.one_of(st.tuples(st.just("push"), st.integers(0, 3), values),
                         st.tuples(st.just("pop"), st.integers(0, 3))), max_size=60)


def _identical(a, b):
    if isinstance(a, np.ndarray):
        return (isinstance(b, np.ndarray) and a.dtype == b.dtype and a.shape == b.shape
                and np.array_equal(a, b))
    return type(a) is type(b) and a == b


@settings(max_examples=150, deadline=None)
@given(ops)
def test_stacks_are_lifo(operations):
    """Interleaved pushes and pops on several stacks give back each stack's values LIFO."""
    stacks = [stack() for _ in range(4)]
    models: list[list] = [[] for _ in range(4)]
    for op in operations:
        k = op[1]
        if op[0] == "push":
            stacks[k].append(op[2])
            models[k].append(op[2])
        elif models[k]:
            got = stacks[k].pop()
            assert _identical(got, models[k].pop())
    # drain: whatever is left comes back in reverse order of pushing
    for s, model in zip(stacks, models):
        while model:
            assert _identical(s.pop(), model.pop())
        assert len(s) == 0


@settings(max_examples=100, deadline=None)
@given(st.lists(values, max_size=40))
def test_push_all_then_pop_all(items):
    s = stack()
    for v in items:
        s.append(v)
    popped = [s.pop() for _ in items]
    assert len(popped) == len(items)
    assert all(_identical(a, b) for a, b in zip(popped, reversed(items)))


def test_stacks_are_independent():
    a, b = stack(), stack()
    a.append(1.5)
    assert len(b) == 0 and a is not b


@settings(max_examples=500, deadline=None)
@given(st.integers(-60, 60), st.integers(-60, 60),
       st.integers(-12, 12).filter(lambda s: s != 0))
def test_reversed_range(start, stop, step):
    r = reversed_range(start, stop, step)
    assert len(r) == 3 and r[2] != 0
    assert list(range(*r)) == list(range(start, stop, step))[::-1]


@given(st.integers(-10**12, 10**12), st.integers(-10**12, 10**12),
       st.integers(-10**6, 10**6).filter(lambda s: s != 0))
@settings(max_examples=300, deadline=None)
def test_reversed_range_large(start, stop, step):
    forward = range(start, stop, step)
    r = range(*reversed_range(start, stop, step))
    assert len(r) == len(forward)
    if len(forward):
        assert r[0] == forward[-1] and r[-1] == forward[0] and r.step == -forward.step
