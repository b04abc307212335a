"""Programs that once gave silently wrong values or gradients (issue "No silent wrong
answers"); each is checked against Python and central differences in test_regressions."""

import numpy as np


# ----------------------------------------------------------------- jumps nested in ifs
def return_two_ifs_deep(a):
    if a > 0.0:
        if a < 10.0:
            return a
    return 2.0 * a


def return_in_elif(a):
    if a > 5.0:
        b = 3.0 * a
    elif a > 0.0:
        return a * a
    else:
        b = -a
    return b + 1.0


def fallthrough_binds_later_value(a):
    if a > 0.0:
        if a < 10.0:
            return a
        c = a * 3.0
    else:
        c = a * 5.0
    return c * a


def break_two_ifs_deep(a):
    v = a
    for i in range(3):
        if i > 5:
            pass
        elif i == 1:
            break
        v = 2.0 * v
    return v


def continue_two_ifs_deep(a):
    v = a
    for i in range(4):
        if i < 5:
            if i % 2 == 1:
                continue
        v = v * 1.5 + a
    return v


def return_two_ifs_deep_in_loop(a):
    s = a
    for i in range(5):
        if s > 1.0:
            if i > 1:
                return s * a
        s = s * 1.3
    return -s


def same_return_on_both_paths(a):
    if a > 0.9:
        return a
    return a


# ----------------------------------------------------------------- tuples
def two_return_tuple(p):
    if p < 1.5:
        return p, p
    return p, 0.5


def helper_tuple_item_in_loop(a):
    s = a
    for i in range(3):
        s = 0.8 * s + 0.3 * two_return_tuple(a)[0]
    return s


def constant_false_branch_tuple(p):
    if 0.5 < 0.5:
        return 0.5, 0.5
    return np.sum(p ** 2), 0.5


def unpack_helper_tuple(x):
    t1, t2 = constant_false_branch_tuple(x)
    return t1


def always_true_tuple(p):
    if p > -100.0:
        return (p, p)
    return p, 2.0 * p


def subtract_helper_item(b):
    s = 3.0 * b
    s -= always_true_tuple(b)[1]
    return s


def tuple_rebound_in_loop(a):
    u, v = a, 2.0 * a
    for i in range(3):
        u, v = v, u * 0.5 + v
    return u


def tuple_in_one_branch(a):
    if a > 0.5:
        t = (a, 2.0 * a)
    s = 1.0
    if a > 0.5:
        s = t[0] * t[1]
    return s


def continue_in_nested_enumerate(x):
    s = 0.0
    for j in range(2):
        for i, e in enumerate(x):
            if i == 1:
                continue
            s = s + e * j
    return s


def pair(p):
    return p * 2.0, p * p


def helper_tuple_unpacked_in_loop(a):
    s = 0.0
    for i in range(3):
        q, r = pair(a + i)
        s = s + q * r
    return s


def tuple_returned_from_loop(a):
    for i in range(3):
        if a * i > 2.0:
            return a * i, a
    return a, 2.0 * a


def uses_tuple_returned_from_loop(a):
    p, q = tuple_returned_from_loop(a)
    return p * q


def tuple_local_to_loop_used_after(x):
    for i in range(3):
        pair_ = (x * i, x + i)
    return pair_[0] + pair_[1]


def tuple_carried_in_while(a):
    i = 0
    pr = (a, a)
    while i < 4:
        pr = (pr[1], pr[0] * 0.5 + a)
        i += 1
    return pr[0] * pr[1]


# ----------------------------------------------------------------- aliasing, in place
def augmented_assignment_is_in_place(x):
    a = x * 2.0
    b = a
    a -= 1.0
    return np.sum(b)


def augmented_add_seen_by_alias(x):
    a = x * 2.0
    b = a
    a += x
    return np.sum(b * x)


def rebound_to_fresh_then_stored(x):
    x = x * 1.0
    x[0] = 3.0 * x[1]
    return np.sum(x * x)


def store_reads_slice_of_itself(x):
    u = x.copy()
    u[1] = np.sum(x * u[0:3])
    return np.sum(u * u)


def store_reads_slice_in_loop(x):
    u = np.ones(3)
    for i in range(2):
        u[1] = np.sum(x * u[0:3])
    return np.sum(u * u)


def scale_by_own_slice_in_loop(x):
    u = np.ones(3)
    for i in range(2):
        u *= np.sum(x * u[0:3])
    return np.sum(u)


def slice_update_by_own_slices(x):
    u = np.ones(3) * x
    for i in range(2):
        u[1:] = u[1:] * np.sum(u[:2])
    return np.sum(u)


def iterate_live_array(x):
    u = x.copy()
    s = 0.0
    for e in u:
        u[2] = u[2] + e
        s = s + e * e
    return s


def in_place_in_zip_loops(x):
    v1 = x * 1.0
    for i in range(2):
        for p, q in zip(v1, v1):
            v1 -= x * 0.1
    return np.sum(v1)


def scalar_read_then_store(x):
    u = x.copy()
    s = 0.0
    for i in range(3):
        t = u[i]
        u[i] = 2.0 * t
        s = s + t
    return s + np.sum(u)


def element_read_of_shaped_zeros(x):
    u = np.zeros(x.shape)
    for i in range(3):
        t = u[i]
        u[i] = t + x[i]
        s = t * 2.0 + u[i] * x[i]
    return np.sum(u) + s


# ----------------------------------------------------------------- more jumps
def while_break_two_ifs_deep(a):
    i = 0
    s = a
    while i < 10:
        i += 1
        if s > 3.0:
            if i > 2:
                break
        s = s * 1.4
    return s
def while_continue_two_ifs_deep(a):
    i = 0
    s = a
    while i < 6:
        i += 1
        if i % 2 == 0:
            if s < 100.0:
                continue
        s = s * 1.3 + a
    return s
def return_from_nested_loops(a):
    s = a
    for i in range(4):
        for j in range(3):
            if s > 2.0:
                if j == 1:
                    return s * a
            s = s + 0.2 * a
    return s - a
def enumerate_break_two_ifs_deep(x):
    s = 0.0
    for i, e in enumerate(x):
        if e > 0.5:
            if i > 0:
                break
        s = s + e * e
    return s
def while_true_return_two_ifs_deep(a):
    s = a
    i = 0
    while True:
        i += 1
        if i > 3:
            if s > 0.0:
                return s
        s = s * 2.0
def tuple_rebuilt_with_continue(a):
    t = (a, 0.0)
    for i in range(3):
        if i == 1:
            t = (t[1] + a, t[0] * a)
            continue
        t = (t[0] * 2.0, t[1] + 1.0)
    return t[0] + t[1]
def tuple_local_to_loop_with_break(a):
    acc = 0.0
    for i in range(3):
        pr = (a * i, a)
        if i == 2:
            break
        acc = acc + pr[0] * pr[1]
    return acc + pr[0]



def tangent_of_buffer_copied(y):
    u0 = np.zeros(3)
    u0 += y
    y = u0 + 0.5                     # its tangent is u0's, which the next line overwrites
    u0 += y
    return 0.5 * np.dot(y, np.array([0.7, -1.3, 0.4])) - 0.7 * np.sum(u0)



def buffer_made_from_a_row_view(x):
    u0 = x[0] + 0.5 * x[1]           # its tangent must not be x's row, written below
    u0 += u0
    return np.sum(x * x) - 0.7 * np.dot(u0, np.array([0.7, -1.3, 0.4]))


# ----------------------------------------------------------------- calls lowered in place
G_SCALE = 1.25


def _rebinds_its_parameter(a, b):
    a -= 0.3              # rebinds the callee's own name: the caller's value stays put
    return np.cos(b * 0.0), a


def callee_rebinds_a_global_argument(x):
    """Fuzz find (issue 14): a loop around a call whose callee does ``a -= ...`` on a
    parameter carried the caller's argument name (here a global) as if written in place,
    with no value before the loop."""
    for i in range(1, 3):
        for j in range(1):
            s, t = _rebinds_its_parameter(G_SCALE, np.sum(x))
    u = np.array([x[2], G_SCALE, 0.3])
    return np.dot(x, x) + 0.5 * np.sum(u * u)


SCALAR = [
    (return_two_ifs_deep, 1.0), (return_two_ifs_deep, -1.5), (return_two_ifs_deep, 12.0),
    (return_in_elif, 0.7), (return_in_elif, 6.0), (return_in_elif, -2.0),
    (fallthrough_binds_later_value, 0.5), (fallthrough_binds_later_value, 11.0),
    (fallthrough_binds_later_value, -1.0),
    (break_two_ifs_deep, 1.0), (continue_two_ifs_deep, 0.7),
    (return_two_ifs_deep_in_loop, 0.9), (return_two_ifs_deep_in_loop, 0.2),
    (same_return_on_both_paths, 1.0), (same_return_on_both_paths, 0.2),
    (subtract_helper_item, 1.3), (tuple_rebound_in_loop, 1.1),
    (tuple_in_one_branch, 0.7), (tuple_in_one_branch, 0.3),
    (helper_tuple_item_in_loop, 1.0), (helper_tuple_item_in_loop, 2.0),
    (helper_tuple_unpacked_in_loop, 0.7),
    (uses_tuple_returned_from_loop, 0.3), (uses_tuple_returned_from_loop, 1.3),
    (tuple_local_to_loop_used_after, 1.2), (tuple_carried_in_while, 0.8),
    (while_break_two_ifs_deep, 1.0), (while_break_two_ifs_deep, 0.5),
    (while_continue_two_ifs_deep, 0.7), (return_from_nested_loops, 0.5),
    (return_from_nested_loops, 1.5), (while_true_return_two_ifs_deep, 0.3),
    (tuple_rebuilt_with_continue, 0.7), (tuple_local_to_loop_with_break, 0.4),
]
VECTOR = [
    callee_rebinds_a_global_argument, unpack_helper_tuple, continue_in_nested_enumerate, augmented_assignment_is_in_place,
    augmented_add_seen_by_alias, rebound_to_fresh_then_stored, store_reads_slice_of_itself,
    store_reads_slice_in_loop, scale_by_own_slice_in_loop, slice_update_by_own_slices,
    iterate_live_array, in_place_in_zip_loops, scalar_read_then_store,
    element_read_of_shaped_zeros, enumerate_break_two_ifs_deep, tangent_of_buffer_copied,
]
# functions calling the user's own helpers: reverse mode only without jit (issue 14)
# calls of the user's helpers are lowered in place, so they run under jit and in forward
# mode like everything else: no program is left out of those tests any more
CALLS_HELPERS: set = set()


# ----------------------------------------------------------------- refused, at their line
def alias_of_merged_buffer(x, c=0.5):
    u = np.zeros(3)
    w = u
    if c > 0.0:
        u = np.ones(3)
    u[0] = x[0]
    return w[0]                      # refused: w may be the array written above


def alias_read_after_loop_writes(x):
    u = np.zeros(3)
    w = u
    for i in range(3):
        u[i] = x[i] * i
    return w[2]                      # w is u: sees the loop's writes


def argument_alias_updated_in_loop(x):
    v = x
    for i in range(2):
        v -= 0.5 * x                 # refused: would change the caller's array
    return np.sum(v)


def stale_alias_read_in_loop(x):
    u = x * 1.0
    w = u
    s = 0.0
    for i in range(3):
        s = s + w[1]
        u[1] = u[1] * 2.0            # refused at the loop: w is out of date next time
    return s


def loop_alias_then_written(x):
    w = x * 0.5
    for i in range(len(x)):
        x = w
    w += x                           # x is w after the loop, unless it ran zero times
    return np.sum(x * x)             # refused: x may be the array just written


def view_taken_before_write(x):
    u0 = x + x
    u1 = u0[::-1]
    u0 += x                          # u1 sees this write in Python
    return np.dot(u1, np.array([0.7, -1.3, 0.4]))   # refused at this line


def alias_written_in_inner_loop(x):
    u0 = x * 0.5
    for e0 in u0:
        b0 = u0
        u0 += u0                     # reads what the inner loop wrote through b0
        for i0 in range(1):
            b0 += 0.5                # writes u0 through its alias
    return np.sum(u0)


def alias_left_stale_by_loop(x):
    u = x * 1.0
    w = u
    for i in range(2):
        u[i] = x[i] * 2.0
        u = x * 3.0                  # another array: w saw the first write only
    return np.sum(w * x)             # refused


def alias_stale_in_next_iteration(x):
    u = x * 1.0
    s = 0.0
    for k in range(2):
        b = u
        for i in range(2):
            b[i] = b[i] * x[i]
            b = b * 1.0              # u keeps the first write of each pass
        s += b[0]
    return s + u[1]


def alias_written_after_inner_loop_may_rebind(x):
    # fuzz seed 5151 (wrong value, no warning): the inner loop may rebind u0 (never here),
    # so u0 may still be the array written through u1; the outer loop carried that
    # uncertain value out unflagged
    u0 = np.sin(x)
    for i0 in range(1):
        u1 = u0
        for i1 in range(1, 4):
            if i1 > 0:
                continue
            u0 = 0.5 * u0
        u1 *= 2.0
    return np.sum(u0)


REFUSED = [(alias_of_merged_buffer, "return w[0]"),
           (alias_written_after_inner_loop_may_rebind, "u0 = 0.5 * u0"),
           (alias_left_stale_by_loop, "return np.sum(w * x)"),
           (alias_stale_in_next_iteration, "for k in range(2):"),
           (argument_alias_updated_in_loop, "v -= 0.5 * x"),
           (stale_alias_read_in_loop, "for i in range(3):"),
           (loop_alias_then_written, "return np.sum(x * x)"),
           (view_taken_before_write, "return np.dot(u1, np.array([0.7, -1.3, 0.4]))"),
]

# found refused or wrong before loops followed writes through aliases of their arrays
VECTOR += [alias_read_after_loop_writes, alias_written_in_inner_loop]


def swap_after_write_in_one_branch(x):
    # refused once branches carried uncertain values out (the Hessian of a double-buffered
    # stencil): the write through v2 leaves v stale on the path that takes it only, and
    # the other path's v is intact
    u = x * 1.0
    v = np.zeros_like(x)
    t = 0
    while True:
        if not t < 3:
            break
        v2 = v
        for i in range(1, len(x) - 1):
            v2[i] = u[i] + 0.3 * (u[i + 1] - u[i - 1])
        t, u, v = t + 1, v2, u
    return np.sum(u * u)


VECTOR += [swap_after_write_in_one_branch]


def view_read_before_store_in_loop(x):
    # fuzz seed 5156 (wrong gradient, no warning): the view u[1:] read before the store
    # into u kept the number of u's buffer group from before the loop merged it with
    # another, so it looked unwritten and was recorded without a copy; the store then
    # changed the recorded values
    u = x.copy()
    for i in range(2):
        u = u * 1.0
        u[1:] = u[1:] * u[-1]
    return np.dot(u, np.array([0.7, -1.3, 0.4]))


VECTOR += [view_read_before_store_in_loop]


def _carries_without_writing(a, b):
    for i1 in range(1):
        a = a                        # carried by the loop, never written
    return 0.5 * b


def callee_carries_caller_array(x):
    u0 = np.zeros(3) + x
    for i0 in range(1):
        s3 = _carries_without_writing(u0, x)
    return 0.9 * np.dot(u0, np.array([0.7, -1.3, 0.4])) + s3


# found by the fuzzer (seed 9393): the caller's name was bound to the callee's loop value
SCALAR += [(callee_carries_caller_array, 0.062)]
