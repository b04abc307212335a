"""Small functions whose generated derivative source is checked in under tests/golden/.

Each entry of CASES: (name, function, wrt, example arguments).  The arguments fix the
argument kinds (float scalar, array rank) the derivative is specialised for; their values
do not matter to the generated text.
"""

import numpy as np


def readme_example(W, x):
    return np.sum(np.tanh(W @ x) ** 2) + 0.5 * np.dot(x, x)


def scalar_loop(c, x):
    s = 0.0
    for i in range(len(x)):
        s = s + c * x[i]
    return s


def branch(x, y):
    if x > y:
        z = x * np.sin(y)
    else:
        z = y * y
    return z


CASES = [
    ("readme_example", readme_example, (0, 1), (np.ones((3, 4)), np.ones(4))),
    ("scalar_loop", scalar_loop, (0, 1), (2.0, np.ones(5))),
    ("branch", branch, (0, 1), (1.5, 0.5)),
]
