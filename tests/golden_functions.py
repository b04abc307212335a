"""Small functions whose generated derivative source is checked in under tests/golden/.

Each entry of CASES: (name, function, wrt, example arguments).  The arguments fix the
argument kinds (float scalar, array rank) the derivative is specialised for; their values
do not matter to the generated text.  STAGES holds other views of the pipeline, checked
in the same way: (name, function, wrt, example arguments, view), where the view is
"prune" (the IR text), "jvp" (the forward-mode program) or "grad2" (the source of the
derivative of the derivative).
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


def while_stack(x):
    while x > 1.0:
        x = np.sin(x) * x * 0.5
    return x


def cubic_sine(x):
    return x * x * x * np.sin(x)


CASES = [
    ("readme_example", readme_example, (0, 1), (np.ones((3, 4)), np.ones(4))),
    ("scalar_loop", scalar_loop, (0, 1), (2.0, np.ones(5))),
    ("branch", branch, (0, 1), (1.5, 0.5)),
]
CASES += [("while_stack", while_stack, (0,), (30.0,))]

STAGES = [
    ("scalar_loop_ir", scalar_loop, (0, 1), (2.0, np.ones(5)), "prune"),
    ("branch_jvp", branch, (0, 1), (1.5, 0.5), "jvp"),
    ("cubic_sine_grad2", cubic_sine, 0, (0.7,), "grad2"),
]
