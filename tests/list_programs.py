"""Programs that build lists whose length is known only at run time (tests/test_lists.py)."""

import numpy as np

def stack_loop(x, n):
    xs = []
    for i in range(n):
        xs.append(np.sin(x) * i)
    return np.sum(np.stack(xs) ** 2)

def array_of_scalars(x, n):
    vals = []
    for i in range(n):
        vals.append(x[i % 3] * x[(i + 1) % 3])
    a = np.array(vals)
    return np.sum(a * np.arange(n))

def euler_trajectory(y0, h, n):
    traj = [y0]
    for i in range(n):
        y = traj[-1]
        traj.append(y + h * np.cos(y))
    return np.sum(np.stack(traj) ** 2)

def comprehension(x, n):
    return np.sum(np.stack([np.sin(x * k) for k in range(n)]) * 0.5)

def sum_of_list(x, n):
    xs = [x * k for k in range(n)]
    return np.sum(sum(xs) ** 2) + np.sum(sum(xs, x))

def iterate_list(x, n):
    xs = []
    for i in range(n):
        xs.append(x ** (i + 1))
    total = 0.0
    for v in xs:
        total = total + np.sum(v * v)
    return total

def while_append(x, t_end):
    t = 0.0
    y = x
    ys = []
    while t < t_end:
        y = y - 0.1 * y ** 3
        ys.append(y)
        t = t + 0.1
    return np.sum(np.stack(ys))

def conditional_append(x, n):
    xs = [x[0]]
    for i in range(n):
        if x[i % 3] > 0:
            xs.append(x[i % 3] ** 2)
    return np.sum(np.array(xs))

def inner_list(x, m, n):
    acc = 0.0
    for j in range(m):
        row = []
        for i in range(n):
            row.append(np.sin(x * (i + j)))
        acc = acc + np.sum(np.stack(row) * x)
    return acc

def pairwise_product(x, n):
    xs = []
    for i in range(n):
        xs.append(x[i % 3] + 1.0)
    while len(xs) > 1:
        a = xs.pop()
        b = xs.pop()
        xs.append(a * b)
    return xs[0]

def concat_prefixes(x, n):
    parts = []
    for i in range(n):
        parts.append(x[: i % 3 + 1] * (i + 1))
    return np.sum(np.concatenate(parts) ** 2)

def mean_by_len(x, n):
    xs = [np.tanh(x * k) for k in range(n)]
    return np.sum(sum(xs) / len(xs)) + np.mean(xs) + np.max(xs)

def static_appends(x, y):
    xs = []
    xs.append(x)
    xs.append(y * 2.0)
    ys = xs
    ys.append(x * y)
    return np.sum(np.stack(xs) ** 2)

def branch_append(x, c):
    xs = [x]
    if c > 0:
        xs.append(np.sin(x))
    return np.sum(np.stack(xs) * 3.0)

def enumerate_list(x, n):
    xs = [x * (k + 1.0) for k in range(n)]
    total = 0.0
    for k, v in enumerate(xs):
        total = total + k * np.sum(v ** 2)
    return total

def index_loop(x, w, n):
    xs = []
    for i in range(n):
        xs.append(np.cos(x * i))
    out = 0.0
    for i in range(len(xs)):
        out = out + w[i % 3] * np.sum(xs[i])
    return out + np.sum(xs[0] * xs[len(xs) - 1])

def zip_lists(x, n):
    xs = []
    ys = []
    for i in range(n):
        xs.append(x * i)
        ys.append(np.exp(x * 0.1 * i))
    total = 0.0
    for a, b in zip(xs, ys):
        total = total + np.sum(a * b)
    return total

def scalar_list_sum(x, n):
    xs = []
    for i in range(n):
        xs.append(np.sum(x) * i)
    return sum(xs) * sum(xs)


def rnn(h0, W, x):
    hs = [h0]
    for t in range(x.shape[0]):
        hs.append(np.tanh(W @ hs[-1] + x[t]))
    return np.sum(np.stack(hs) ** 2)


def generator_to_array(x, n):
    return np.sum(np.array([np.sum(x * k) for k in range(n) if k % 2 == 0]) ** 2)


def stack_axis(x, n):
    cols = [x * (k + 1.0) for k in range(n)]
    m = np.stack(cols, axis=1)
    return np.sum(m * np.arange(3.0)[:, None]) + np.sum(np.concatenate(cols) ** 2)


def varying_slices(x, n):
    s = 0.0
    for i in range(n):
        s = s + np.sum(x[: i % 3 + 1] * (i + 1))
    return s
