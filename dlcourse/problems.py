"""Toy problems shared by the explanatory notebooks.

Everything here works in float64 NumPy. Nothing imports TensorFlow, so the
module is cheap to import and safe to use in exercise checks.

* :class:`Quadratic` -- ``f(x) = 0.5 x^T A x - b^T x`` with its gradient,
  Hessian spectrum, condition number and minimiser.
* :func:`make_linear_regression` -- a seeded linear-regression data set.
* :func:`run_gradient_descent` -- plain gradient descent, returning the whole
  trajectory.
* :func:`momentum_factor` -- the per-step factor of momentum and Nesterov on
  one eigendirection of a quadratic.
"""
from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path

import numpy as np

# The handwritten digits (:func:`digits`), a copy of the file scikit-learn ships.
DIGITS = Path(__file__).resolve().parent / "data" / "digits.csv.gz"

__all__ = [
    "Quadratic",
    "rotation_2d",
    "make_linear_regression",
    "run_gradient_descent",
    "momentum_factor",
]


def rotation_2d(angle: float) -> np.ndarray:
    """The 2x2 rotation matrix by ``angle`` radians (float64, shape (2, 2))."""
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[c, -s], [s, c]], dtype=np.float64)


class Quadratic:
    """The quadratic ``f(x) = 0.5 x^T A x - b^T x`` with symmetric positive
    definite ``A``.

    Parameters
    ----------
    A : array_like, shape (d, d)
        Symmetric positive definite matrix (symmetrised as ``(A + A^T)/2``).
    b : array_like, shape (d,), optional
        Linear term; zero by default, so the minimiser is the origin.

    ``value``, ``gradient`` accept a single point of shape (d,) or a batch of
    points of shape (..., d) (e.g. a grid for contour plots) and return float64
    arrays of shape (...) and (..., d).
    """

    def __init__(self, A, b=None):
        A = np.asarray(A, dtype=np.float64)
        if A.ndim != 2 or A.shape[0] != A.shape[1]:
            raise ValueError(f"A must be square, got shape {A.shape}")
        self.A = 0.5 * (A + A.T)
        self.dim = A.shape[0]
        self.b = (np.zeros(self.dim) if b is None
                  else np.asarray(b, dtype=np.float64).reshape(self.dim))
        self.eigenvalues = np.linalg.eigvalsh(self.A)  # ascending
        if self.eigenvalues[0] <= 0:
            raise ValueError("A must be positive definite")

    @classmethod
    def from_eigenvalues(cls, eigenvalues, angle: float = 0.0, b=None):
        """A 2-D quadratic whose Hessian has the given two eigenvalues, with
        eigenvectors rotated by ``angle`` radians from the coordinate axes."""
        eigenvalues = np.asarray(eigenvalues, dtype=np.float64)
        if eigenvalues.shape != (2,):
            raise ValueError("from_eigenvalues builds 2-D quadratics only")
        R = rotation_2d(angle)
        return cls(R @ np.diag(eigenvalues) @ R.T, b=b)

    # --- the function ---------------------------------------------------
    def value(self, x) -> np.ndarray:
        """f(x); x has shape (..., d), the result shape (...)."""
        x = np.asarray(x, dtype=np.float64)
        return 0.5 * np.einsum("...i,ij,...j->...", x, self.A, x) - x @ self.b

    __call__ = value

    def gradient(self, x) -> np.ndarray:
        """grad f(x) = A x - b; x has shape (..., d), the result too."""
        x = np.asarray(x, dtype=np.float64)
        return x @ self.A - self.b  # A is symmetric, so x A = (A x)^T

    def hessian(self) -> np.ndarray:
        """The constant Hessian A, shape (d, d)."""
        return self.A.copy()

    # --- its geometry ---------------------------------------------------
    @property
    def L(self) -> float:
        """Largest Hessian eigenvalue (the smoothness constant)."""
        return float(self.eigenvalues[-1])

    @property
    def mu(self) -> float:
        """Smallest Hessian eigenvalue (the strong-convexity constant)."""
        return float(self.eigenvalues[0])

    @property
    def condition_number(self) -> float:
        """kappa = L / mu."""
        return self.L / self.mu

    @property
    def minimiser(self) -> np.ndarray:
        """x* = A^{-1} b, shape (d,)."""
        return np.linalg.solve(self.A, self.b)

    @property
    def min_value(self) -> float:
        """f(x*) = -0.5 b^T A^{-1} b."""
        return float(self.value(self.minimiser))

    @property
    def stability_limit(self) -> float:
        """Gradient descent converges from every start iff 0 < lr < 2 / L."""
        return 2.0 / self.L

    @property
    def optimal_learning_rate(self) -> float:
        """The constant step 2 / (L + mu) that minimises the contraction factor."""
        return 2.0 / (self.L + self.mu)

    def contraction_factor(self, lr) -> np.ndarray:
        """max_i |1 - lr * lambda_i|: the factor by which gradient descent with
        step ``lr`` shrinks the distance to x* (worst case, per step).
        ``lr`` may be a float or an array; the result has its shape."""
        lr = np.asarray(lr, dtype=np.float64)
        return np.max(np.abs(1.0 - lr[..., None] * self.eigenvalues), axis=-1)

    def momentum_factor(self, lr: float, momentum: float,
                        nesterov: bool = False) -> float:
        """The largest :func:`momentum_factor` over the Hessian's eigenvalues:
        the factor by which SGD with momentum (or Nesterov) shrinks the
        distance to x* per step, asymptotically."""
        h = lr * self.eigenvalues
        return float(np.max(momentum_factor(h, momentum, nesterov)))

    def __repr__(self) -> str:
        return (f"Quadratic(dim={self.dim}, mu={self.mu:.4g}, L={self.L:.4g}, "
                f"kappa={self.condition_number:.4g})")


def momentum_factor(h, momentum, nesterov: bool = False) -> np.ndarray:
    """Largest modulus of the roots of the recurrence that momentum (Keras's
    form) follows along one eigendirection of a quadratic, with
    ``h = lr * eigenvalue``:

    * heavy ball: ``r^2 - (1 + mu - h) r + mu = 0``;
    * Nesterov:   ``r^2 - (1 + mu)(1 - h) r + mu (1 - h) = 0``.

    Below 1 the direction converges by that factor per step, asymptotically.
    ``h`` and ``momentum`` may be floats or arrays that broadcast together;
    the result, float64, has their broadcast shape."""
    h = np.asarray(h, dtype=np.float64)
    mu = np.asarray(momentum, dtype=np.float64)
    b = (1 + mu) * (1 - h) if nesterov else 1 + mu - h
    c = mu * (1 - h) if nesterov else mu + 0 * h
    root = np.sqrt((b * b - 4 * c).astype(complex))
    return np.maximum(np.abs((b + root) / 2), np.abs((b - root) / 2))


def make_linear_regression(n: int = 200, d: int = 3, noise: float = 0.5,
                           seed: int = 0, feature_scales=None,
                           feature_means=None):
    """A seeded linear-regression data set ``y = X w_true + b_true + noise``.

    Parameters
    ----------
    n, d : number of examples and of features.
    noise : standard deviation of the Gaussian noise added to y.
    seed : seed of ``np.random.default_rng``; the same seed gives the same data.
    feature_scales, feature_means : arrays of shape (d,) (default ones and
        zeros). Feature j is ``feature_means[j] + feature_scales[j] * N(0, 1)``;
        unequal scales or non-zero means make the problem ill-conditioned.

    Returns
    -------
    X : float64 array, shape (n, d)
    y : float64 array, shape (n,)
    w_true : float64 array, shape (d,)
    b_true : float (Python float)
    """
    rng = np.random.default_rng(seed)
    scales = np.ones(d) if feature_scales is None else np.asarray(feature_scales, dtype=np.float64)
    means = np.zeros(d) if feature_means is None else np.asarray(feature_means, dtype=np.float64)
    if scales.shape != (d,) or means.shape != (d,):
        raise ValueError("feature_scales and feature_means must have shape (d,)")
    X = means + scales * rng.standard_normal((n, d))
    # true weights of order 1 / scale, so every feature matters about as much
    w_true = rng.uniform(-2.0, 2.0, size=d) / scales
    b_true = float(rng.uniform(-1.0, 1.0))
    y = X @ w_true + b_true + noise * rng.standard_normal(n)
    return X, y, w_true, b_true


def run_gradient_descent(grad_fn: Callable[[np.ndarray], np.ndarray], x0,
                         lr: float, steps: int) -> np.ndarray:
    """Gradient descent ``x_{k+1} = x_k - lr * grad_fn(x_k)``.

    Parameters
    ----------
    grad_fn : maps an array shaped like ``x0`` to the gradient (same shape).
    x0 : starting point, any shape (converted to float64).
    lr : constant learning rate.
    steps : number of updates.

    Returns
    -------
    float64 array of shape (steps + 1, *x0.shape): row k is x_k (row 0 is x0).
    Stops early, filling the rest with ``inf``, if the iterate overflows.
    """
    x = np.array(x0, dtype=np.float64)
    traj = np.empty((steps + 1,) + x.shape, dtype=np.float64)
    traj[0] = x
    for k in range(steps):
        x = x - lr * np.asarray(grad_fn(x), dtype=np.float64)
        if not np.all(np.isfinite(x)) or np.max(np.abs(x)) > 1e150:
            traj[k + 1:] = np.inf
            break
        traj[k + 1] = x
    return traj


def digits_split(seed: int = 0, validation: int = 300, test: int = 300,
                 standardise: bool = True) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The handwritten digits (1,797 8x8 images: :func:`digits`), split at random
    (``seed``) into {"train", "validation", "test"}: (X float64 (n, 64) standardised with the training set's mean and std
    per pixel (a pixel constant over the training set is only centred), y int64 (n,) in 0..9).

    ``standardise=False``: the same split with the raw pixel intensities (0 to 16), e.g. to show the images.
    """
    images, labels = digits()
    order = np.random.default_rng(seed).permutation(len(labels))
    parts = {"test": order[:test], "validation": order[test:test + validation], "train": order[test + validation:]}
    train = images[parts["train"]]
    mean, std = train.mean(axis=0), train.std(axis=0)
    std[std == 0] = 1.0
    if not standardise:
        mean, std = 0.0, 1.0
    return {name: ((images[idx] - mean) / std, labels[idx]) for name, idx in parts.items()}


@functools.cache
def _digits() -> tuple[np.ndarray, np.ndarray]:
    table = np.loadtxt(DIGITS, delimiter=",")
    return table[:, :-1], table[:, -1].astype(np.int64)


def digits() -> tuple[np.ndarray, np.ndarray]:
    """The optical recognition of handwritten digits data (UCI; E. Alpaydin and C. Kaynak, 1998), as scikit-learn ships it
    (``sklearn.datasets.load_digits``; the tests compare): images float64 (1797, 64), pixel intensities 0 to 16, and labels
    int64 (1797,) in 0..9. The file ships inside the course package (``dlcourse/data/digits.csv.gz``, 58 kB), so that a
    student's environment needs no scikit-learn; nothing is downloaded. Fresh copies at each call."""
    images, labels = _digits()
    return images.copy(), labels.copy()
