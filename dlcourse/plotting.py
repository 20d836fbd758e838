"""Plotting helpers shared by the explanatory notebooks (Matplotlib only).

Each function draws on an ``ax`` you pass (or a new one) and returns it, so
notebooks can combine them in subplots and still set titles themselves.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping

import matplotlib.pyplot as plt
import numpy as np

__all__ = ["plot_contours", "plot_trajectory", "plot_curves", "new_axes"]


def new_axes(ncols: int = 1, nrows: int = 1, width: float = 5.0,
             height: float = 4.0, **kwargs):
    """``plt.subplots`` with a size proportional to the grid; returns (fig, axes)."""
    return plt.subplots(nrows, ncols, figsize=(width * ncols, height * nrows),
                        constrained_layout=True, **kwargs)


def plot_contours(f: Callable[[np.ndarray], np.ndarray], xlim, ylim,
                  trajectories: Mapping[str, np.ndarray] | None = None,
                  ax=None, levels: int | np.ndarray = 20, log_levels: bool = True,
                  minimiser=None, resolution: int = 200, title: str | None = None,
                  xlabel: str = r"$x_1$", ylabel: str = r"$x_2$"):
    """Contour plot of a 2-D function with optional trajectories on top.

    Parameters
    ----------
    f : vectorised function: an array of points of shape (..., 2) -> values (...).
    xlim, ylim : (min, max) of the plotted window.
    trajectories : {label: array of shape (steps + 1, 2)}; each is drawn as a
        line with markers, its start marked by a square.
    levels : number of contour levels or the levels themselves.
    log_levels : space the levels geometrically between the smallest and
        largest value in the window (shows the valley of an ill-conditioned
        function far better than linear spacing).
    minimiser : shape (2,), marked with a star if given.
    """
    if ax is None:
        _, ax = new_axes()
    xs = np.linspace(*xlim, resolution)
    ys = np.linspace(*ylim, resolution)
    XX, YY = np.meshgrid(xs, ys)
    ZZ = f(np.stack([XX, YY], axis=-1))
    if np.isscalar(levels) and log_levels:
        lo = ZZ.min()
        shift = 0.0 if lo > 0 else (1e-3 * (ZZ.max() - lo) - lo)
        levels = np.geomspace(lo + shift, ZZ.max() + shift, int(levels)) - shift
    ax.contour(XX, YY, ZZ, levels=levels, cmap="viridis", linewidths=0.8)
    for label, traj in (trajectories or {}).items():
        plot_trajectory(ax, traj, label=label)
    if minimiser is not None:
        ax.plot(*minimiser, "k*", ms=12, label="minimiser")
    ax.set_xlim(*xlim)
    ax.set_ylim(*ylim)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_aspect("equal")
    if title:
        ax.set_title(title)
    if trajectories or minimiser is not None:
        ax.legend(loc="best", fontsize="small")
    return ax


def plot_trajectory(ax, traj: np.ndarray, label: str | None = None, **kwargs):
    """Add one 2-D trajectory (shape (steps + 1, 2)) to an existing axes."""
    traj = np.asarray(traj)
    traj = traj[np.all(np.isfinite(traj), axis=1)]  # a diverged run stops where it overflowed
    line, = ax.plot(traj[:, 0], traj[:, 1], "o-", ms=3, lw=1.2, label=label, **kwargs)
    ax.plot(traj[0, 0], traj[0, 1], "s", color=line.get_color(), ms=7)
    return ax


def plot_curves(curves: Mapping[str, np.ndarray], ax=None, logy: bool = True,
                logx: bool = False, xlabel: str = "step", ylabel: str = "loss",
                title: str | None = None, steps: np.ndarray | None = None,
                styles: Mapping[str, str] | None = None):
    """Several curves against the step number, by default on a log y axis.

    Parameters
    ----------
    curves : {label: 1-D array}; entry k is the value after k steps.
        Non-finite or non-positive values (on a log axis) are not drawn.
    steps : x values shared by all curves (default ``arange(len(curve))``).
    styles : optional {label: matplotlib format string}, e.g. ``"k--"``.
    """
    if ax is None:
        _, ax = new_axes()
    for label, c in curves.items():
        c = np.asarray(c, dtype=np.float64)
        x = np.arange(len(c)) if steps is None else np.asarray(steps)
        ok = np.isfinite(c) & ((c > 0) if logy else True)
        fmt = (styles or {}).get(label, "-")
        ax.plot(x[ok], c[ok], fmt, label=label, lw=1.5)
    if logy:
        ax.set_yscale("log")
    if logx:
        ax.set_xscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize="small")
    return ax
