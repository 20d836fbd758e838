"""Plotting helpers shared by the explanatory notebooks (Matplotlib only).

Each function draws on an ``ax`` you pass (or a new one) and returns it, so
notebooks can combine them in subplots and still set titles themselves.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping

import matplotlib.pyplot as plt
import numpy as np

__all__ = ["plot_contours", "plot_trajectory", "plot_curves", "new_axes", "draw_graph", "plot_confusion_matrix",
           "plot_image_grid"]


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


def draw_graph(nodes: Mapping[str, tuple], edges, backward=None, ax=None, title: str | None = None,
               fontsize: float = 9, bend: float = 0.35):
    """A computational graph: one box per node, a solid arrow per forward edge, a dashed arrow per gradient.

    Parameters
    ----------
    nodes : {key: (x, y, text)}: the centre of each box in data coordinates and the text in it (TeX allowed).
    edges : [(from_key, to_key)]: the forward pass, drawn as straight dark arrows.
    backward : [(from_key, to_key, text)] or [(from_key, to_key, text, bend)]: gradients flowing back, drawn as
        curved dashed red arrows (bending by their own ``bend``, else the common one), each labelled with ``text``
        at its middle.
    The axes are turned off and fitted to the boxes.
    """
    if ax is None:
        _, ax = new_axes()
    boxes = {key: ax.text(x, y, text, ha="center", va="center", fontsize=fontsize, zorder=3,
                          bbox=dict(boxstyle="round,pad=0.35", fc="white", ec="0.3"))
             for key, (x, y, text) in nodes.items()}

    def arrow(a, b, **style):
        # drawn after the boxes (zorder), so that each arrow is clipped by the boxes as laid out in the same draw
        ax.annotate("", xy=nodes[b][:2], xytext=nodes[a][:2], zorder=3.5,
                    arrowprops=dict(patchA=boxes[a].get_bbox_patch(), patchB=boxes[b].get_bbox_patch(), **style))

    for a, b in edges:
        arrow(a, b, arrowstyle="-|>", color="0.25", lw=1.2, mutation_scale=12)
    for a, b, text, *own_bend in backward or []:
        rad = own_bend[0] if own_bend else bend
        arrow(a, b, arrowstyle="-|>", color="C3", lw=1.1, ls="--", mutation_scale=12, connectionstyle=f"arc3,rad={rad}")
        (xa, ya), (xb, yb) = nodes[a][:2], nodes[b][:2]
        # the middle of the arc: the chord's midpoint moved by rad/2 of the chord, to the right of the direction a -> b
        mx, my = (xa + xb) / 2 + rad / 2 * (yb - ya), (ya + yb) / 2 - rad / 2 * (xb - xa)
        ax.text(mx, my, text, ha="center", va="center", fontsize=fontsize - 1, color="C3", zorder=4,
                bbox=dict(boxstyle="round,pad=0.15", fc="white", ec="none", alpha=0.85))
    xs = [x for x, _, _ in nodes.values()]
    ys = [y for _, y, _ in nodes.values()]
    ax.set_xlim(min(xs) - 0.8, max(xs) + 0.8)
    ax.set_ylim(min(ys) - 1.0, max(ys) + 0.6)
    ax.set_aspect("equal")                          # so that the arcs bend as their labels assume
    ax.set_axis_off()
    if title:
        ax.set_title(title)
    return ax


def plot_confusion_matrix(matrix: np.ndarray, ax=None, class_names=None, title: str | None = None,
                          cmap: str = "Blues"):
    """A confusion matrix of counts (rows: true class, columns: predicted class), each non-zero cell annotated.

    ``matrix`` is square, e.g. ``sklearn.metrics.confusion_matrix(labels, predictions)``. The colours show the
    square root of the counts, so that the few errors off the diagonal stay visible next to the large diagonal.
    """
    if ax is None:
        _, ax = new_axes(width=5.5, height=5)
    matrix = np.asarray(matrix)
    k = len(matrix)
    names = [str(i) for i in range(k)] if class_names is None else [str(c) for c in class_names]
    ax.imshow(np.sqrt(matrix), cmap=cmap)
    threshold = np.sqrt(matrix.max()) / 2
    for i in range(k):
        for j in range(k):
            if matrix[i, j]:
                ax.text(j, i, str(int(matrix[i, j])), ha="center", va="center", fontsize="small",
                        color="white" if np.sqrt(matrix[i, j]) > threshold else "black")
    ax.set_xticks(range(k), names)
    ax.set_yticks(range(k), names)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    if title:
        ax.set_title(title)
    return ax


def plot_image_grid(images: np.ndarray, titles=None, ncols: int = 10, size: float = 1.1,
                    shape: tuple[int, int] = (8, 8), cmap: str = "gray_r", suptitle: str | None = None):
    """Small images (each row of ``images`` reshaped to ``shape``) on a grid of ``ncols`` columns; returns (fig, axes).

    ``titles`` (optional) labels each image; the unused cells of the last row stay blank.
    """
    images = np.asarray(images)
    nrows = max(1, -(-len(images) // ncols))
    fig, axes = new_axes(ncols=ncols, nrows=nrows, width=size, height=size * 1.3, squeeze=False)
    for k, ax in enumerate(axes.ravel()):
        ax.set_axis_off()
        if k < len(images):
            ax.imshow(images[k].reshape(shape), cmap=cmap)
            if titles is not None:
                ax.set_title(titles[k], fontsize="small")
    if suptitle:
        fig.suptitle(suptitle)
    return fig, axes
