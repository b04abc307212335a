"""srcgrad quickstart: differentiate a small NumPy function and read the generated code.

Run from the repository root after ``pip install -e .``::

    python examples/quickstart.py
"""

import numpy as np

import srcgrad


def f(W, x):
    return np.sum(np.tanh(W @ x) ** 2) + 0.5 * np.dot(x, x)


def central_difference(fn, args, which, index, eps=1e-6):
    """d fn / d args[which][index], estimated from two nearby function values."""
    plus = [np.array(a, dtype=float) for a in args]
    minus = [np.array(a, dtype=float) for a in args]
    plus[which][index] += eps
    minus[which][index] -= eps
    return (fn(*plus) - fn(*minus)) / (2 * eps)


def main():
    rng = np.random.default_rng(0)
    W = rng.standard_normal((3, 4))
    x = rng.standard_normal(4)

    df = srcgrad.grad(f, wrt=(0, 1))     # gradients with respect to W and x
    dW, dx = df(W, x)

    # Check one entry of each gradient against a central difference.
    for name, which, grad, index in (("W", 0, dW, (1, 2)), ("x", 1, dx, (3,))):
        estimate = central_difference(f, (W, x), which, index)
        print(f"d{name}{list(index)} = {grad[index]:.8f}   (central difference {estimate:.8f})")
        if not np.isclose(grad[index], estimate, rtol=1e-5, atol=1e-7):
            raise SystemExit(f"gradient check failed for {name}{list(index)}")

    np.set_printoptions(precision=4, suppress=True)
    print("\ndf/dW =")
    print(dW)
    print("df/dx =")
    print(dx)

    print("\n# the generated derivative: srcgrad.show(df)")
    srcgrad.show(df)

    print("\n# the IR it was generated from: srcgrad.show(df, stage=\"ir\")")
    srcgrad.show(df, stage="ir")


if __name__ == "__main__":
    main()
