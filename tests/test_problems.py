"""Tests of the toy problems and plotting helpers shared by the notebooks."""
import matplotlib

import dlcourse  # noqa: F401  (quietens TensorFlow before it is imported)

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest

from dlcourse.plotting import plot_confusion_matrix, plot_contours, plot_curves, plot_image_grid
from dlcourse.problems import (
    Quadratic,
    make_linear_regression,
    momentum_factor,
    rotation_2d,
    run_gradient_descent,
)


@pytest.fixture
def quad3():
    rng = np.random.default_rng(1)
    M = rng.standard_normal((3, 3))
    A = M @ M.T + 0.5 * np.eye(3)
    return Quadratic(A, b=rng.standard_normal(3))


def central_differences(f, x, h=1e-6):
    g = np.zeros_like(x)
    for i in range(x.size):
        e = np.zeros_like(x)
        e[i] = h
        g[i] = (f(x + e) - f(x - e)) / (2 * h)
    return g


def test_gradient_matches_central_differences(quad3):
    x = np.array([0.3, -1.2, 2.0])
    np.testing.assert_allclose(quad3.gradient(x), central_differences(quad3.value, x),
                               rtol=1e-7, atol=1e-8)


def test_gradient_matches_gradient_tape(quad3):
    tf = pytest.importorskip("tensorflow")
    x = tf.Variable([0.3, -1.2, 2.0], dtype=tf.float64)
    A = tf.constant(quad3.A)
    b = tf.constant(quad3.b)
    with tf.GradientTape() as tape:
        f = 0.5 * tf.tensordot(x, tf.linalg.matvec(A, x), 1) - tf.tensordot(b, x, 1)
    np.testing.assert_allclose(f.numpy(), quad3.value(x.numpy()), rtol=1e-14)
    np.testing.assert_allclose(tape.gradient(f, x).numpy(), quad3.gradient(x.numpy()),
                               rtol=1e-12, atol=1e-14)


def test_value_and_gradient_are_vectorised(quad3):
    pts = np.random.default_rng(2).standard_normal((4, 5, 3))
    vals = quad3.value(pts)
    grads = quad3.gradient(pts)
    assert vals.shape == (4, 5) and grads.shape == (4, 5, 3)
    assert vals.dtype == np.float64
    np.testing.assert_allclose(vals[1, 2], quad3.value(pts[1, 2]))
    np.testing.assert_allclose(grads[3, 4], quad3.A @ pts[3, 4] - quad3.b)


def test_minimiser_has_zero_gradient_and_lowest_value(quad3):
    xs = quad3.minimiser
    np.testing.assert_allclose(quad3.gradient(xs), 0.0, atol=1e-12)
    np.testing.assert_allclose(quad3.min_value, -0.5 * quad3.b @ np.linalg.solve(quad3.A, quad3.b))
    others = xs + 0.1 * np.random.default_rng(3).standard_normal((50, 3))
    assert np.all(quad3.value(others) > quad3.min_value)


def test_condition_number_is_eigenvalue_ratio(quad3):
    eig = np.linalg.eigvalsh(quad3.A)
    assert quad3.L == pytest.approx(eig.max(), rel=1e-12)
    assert quad3.mu == pytest.approx(eig.min(), rel=1e-12)
    assert quad3.condition_number == pytest.approx(eig.max() / eig.min(), rel=1e-12)
    assert quad3.condition_number == pytest.approx(np.linalg.cond(quad3.A), rel=1e-9)


def test_from_eigenvalues_and_rotation():
    q = Quadratic.from_eigenvalues([1.0, 25.0], angle=np.pi / 6)
    np.testing.assert_allclose(q.eigenvalues, [1.0, 25.0], rtol=1e-12)
    R = rotation_2d(np.pi / 6)
    np.testing.assert_allclose(R @ R.T, np.eye(2), atol=1e-15)
    # the eigenvector of the large eigenvalue is the rotated second axis
    v = R[:, 1]
    np.testing.assert_allclose(q.A @ v, 25.0 * v, atol=1e-12)


def test_learning_rate_constants(quad3):
    L, mu = quad3.L, quad3.mu
    assert quad3.stability_limit == pytest.approx(2 / L)
    assert quad3.optimal_learning_rate == pytest.approx(2 / (L + mu))
    kappa = quad3.condition_number
    assert quad3.contraction_factor(quad3.optimal_learning_rate) == pytest.approx(
        (kappa - 1) / (kappa + 1))
    # the optimal step minimises the contraction factor
    lrs = np.linspace(0.01, 2 / L, 2001)
    assert np.all(quad3.contraction_factor(lrs) >= (kappa - 1) / (kappa + 1) - 1e-12)
    assert quad3.contraction_factor(2 / L) == pytest.approx(1.0)


@pytest.mark.parametrize("nesterov", [False, True])
def test_momentum_factor_is_the_measured_rate_of_keras_form_momentum(quad3, nesterov):
    """The factor is the largest |root| of the recurrence, and the rate at which the optimizers' own SGD converges."""
    from dlcourse import optimizers
    from dlcourse.checks.callables import run_optimizer

    for lr, mu in [(0.05, 0.9), (0.2, 0.3), (0.1, 0.0)]:
        h = lr * quad3.eigenvalues
        b, c = ((1 + mu) * (1 - h), mu * (1 - h)) if nesterov else (1 + mu - h, mu + 0 * h)
        roots = [np.max(np.abs(np.roots([1.0, -bi, ci]))) for bi, ci in zip(b, c)]
        np.testing.assert_allclose(momentum_factor(h, mu, nesterov), roots, rtol=1e-12)
        factor = quad3.momentum_factor(lr, mu, nesterov)
        assert factor < 1
        steps = min(400, int(np.log(1e-11) / np.log(factor)))  # the distance stays far above rounding
        trajectory = run_optimizer(optimizers.sgd_init, optimizers.sgd_update, [np.array([1.0, 2.0, -1.0])],
                                   lambda params: [quad3.gradient(params[0])], [lr] * steps,
                                   momentum=mu, nesterov=nesterov)[0][0]
        distance = np.linalg.norm(np.asarray(trajectory) - quad3.minimiser, axis=1)
        # the envelope over 10 steps: complex roots make the distance oscillate
        envelope = [distance[k - 10:k + 1].max() for k in (steps // 2, steps)]
        measured = (envelope[1] / envelope[0]) ** (1 / (steps - steps // 2))
        assert measured == pytest.approx(factor, rel=0.02), (lr, mu, measured, factor)


def test_run_gradient_descent_matches_closed_form(quad3):
    lr, steps = 0.05, 30
    x0 = np.array([1.0, 2.0, -1.0])
    traj = run_gradient_descent(quad3.gradient, x0, lr, steps)
    assert traj.shape == (steps + 1, 3) and traj.dtype == np.float64
    np.testing.assert_array_equal(traj[0], x0)
    # x_k - x* = (I - lr A)^k (x0 - x*)
    M = np.eye(3) - lr * quad3.A
    expected = quad3.minimiser + np.linalg.matrix_power(M, steps) @ (x0 - quad3.minimiser)
    np.testing.assert_allclose(traj[-1], expected, rtol=1e-10, atol=1e-12)


def test_gradient_descent_stability_limit():
    q = Quadratic(np.diag([1.0, 10.0]))
    x0 = np.array([1.0, 1.0])
    below = run_gradient_descent(q.gradient, x0, 0.99 * q.stability_limit, 400)
    above = run_gradient_descent(q.gradient, x0, 1.01 * q.stability_limit, 400)
    assert np.linalg.norm(below[-1]) < 1e-1
    assert np.linalg.norm(above[-1]) > 10.0


def test_run_gradient_descent_marks_divergence():
    traj = run_gradient_descent(lambda x: 100.0 * x, np.array([1.0]), 1.0, 200)
    assert np.isinf(traj[-1]).all() and np.isfinite(traj[0]).all()


def test_linear_regression_reproducible_and_float64():
    a = make_linear_regression(n=50, d=4, seed=7)
    b = make_linear_regression(n=50, d=4, seed=7)
    c = make_linear_regression(n=50, d=4, seed=8)
    X, y, w, b0 = a
    assert X.shape == (50, 4) and y.shape == (50,) and w.shape == (4,)
    assert X.dtype == y.dtype == w.dtype == np.float64
    assert isinstance(b0, float)
    for u, v in zip(a[:3], b[:3]):
        np.testing.assert_array_equal(u, v)
    assert a[3] == b[3]
    assert not np.array_equal(a[0], c[0])


def test_linear_regression_noise_free_is_exact_and_scales_apply():
    X, y, w, b = make_linear_regression(n=100, d=2, noise=0.0, seed=0,
                                        feature_scales=[1.0, 100.0],
                                        feature_means=[0.0, 5.0])
    np.testing.assert_allclose(y, X @ w + b, rtol=1e-12)
    assert 50 < X[:, 1].std() < 150 and abs(X[:, 0].std() - 1) < 0.3
    assert abs(X[:, 1].mean() - 5.0) < 30
    Xt = np.column_stack([X, np.ones(100)])
    sol = np.linalg.lstsq(Xt, y, rcond=None)[0]
    np.testing.assert_allclose(sol, np.append(w, b), rtol=1e-8, atol=1e-10)


def test_plot_contours_and_curves_draw_what_they_are_given():
    q = Quadratic.from_eigenvalues([1.0, 10.0], angle=0.3)
    traj = run_gradient_descent(q.gradient, np.array([2.0, 1.0]), 0.1, 10)
    ax = plot_contours(q.value, (-3, 3), (-2, 2), {"lr=0.1": traj}, minimiser=q.minimiser,
                       title="t")
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["lr=0.1", "minimiser"]
    xdata = ax.get_lines()[0].get_xdata()
    np.testing.assert_array_equal(xdata, traj[:, 0])
    assert ax.get_title() == "t"
    plt.close("all")

    ax = plot_curves({"a": np.array([1.0, 0.1, 0.01]), "b": np.array([1.0, np.inf, 0.5])})
    assert ax.get_yscale() == "log"
    assert [len(line.get_xdata()) for line in ax.get_lines()] == [3, 2]
    plt.close("all")


def test_confusion_matrix_and_image_grid_draw_what_they_are_given():
    matrix = np.array([[5, 1], [0, 3]])
    ax = plot_confusion_matrix(matrix, title="m")
    assert sorted(t.get_text() for t in ax.texts) == ["1", "3", "5"]          # zero cells are not annotated
    assert ax.get_title() == "m" and ax.get_xlabel() == "predicted class"
    plt.close("all")
    images = np.arange(5 * 64, dtype=float).reshape(5, 64)
    fig, axes = plot_image_grid(images, titles=list("abcde"), ncols=3)
    assert axes.shape == (2, 3)
    assert [ax.get_title() for ax in axes.ravel()[:5]] == list("abcde") and not axes.ravel()[5].images
    np.testing.assert_array_equal(axes[0, 0].images[0].get_array(), images[0].reshape(8, 8))
    plt.close("all")


def test_the_shipped_digits_are_scikit_learns():
    """dlcourse/data/digits.csv.gz is the file scikit-learn ships: the same images, labels and dtypes as load_digits."""
    from sklearn.datasets import load_digits

    from dlcourse.problems import digits

    images, labels = digits()
    expected = load_digits()
    assert images.dtype == np.float64 and labels.dtype == np.int64 and images.shape == (1797, 64)
    assert np.array_equal(images, expected.data) and np.array_equal(labels, expected.target)
    images[0, 0] = -1.0  # a caller's change does not reach the next caller
    assert digits()[0][0, 0] == expected.data[0, 0]
