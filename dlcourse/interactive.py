"""Kernel-free interactive figures: a slider and play buttons over precomputed frames.

The lessons run when the website is built, so an "interactive" figure is a
series of frames drawn at that moment and embedded in the page as PNG images,
with pure HTML + JavaScript controls to step through them. Readers need no
Python, no kernel and no internet connection.

:func:`player` does it with Matplotlib's own
``matplotlib.animation.FuncAnimation(...).to_jshtml()``, and adjusts the result:

* Matplotlib's template loads its button icons (Font Awesome) from a CDN; the
  player replaces them with small inline SVG icons, so the page references no
  external URL;
* the frames are re-encoded as 256-colour PNGs (about 3 times smaller), and a
  player larger than :data:`MAX_PLAYER_BYTES` is refused;
* the layout is computed once, so the axes stay still from frame to frame;
* the figure is closed, so the notebook does not also show a static copy.

Typical use in a lesson (the last line of a cell)::

    fig, ax = new_axes()
    line, = ax.plot([], [])
    def draw(mu):                      # update the artists for one frame value
        line.set_data(*trajectory(mu).T)
        ax.set_title(f"momentum {mu:.2f}")
    player(fig, draw, frames=np.linspace(0, 0.95, 20))
"""
from __future__ import annotations

import base64
import io
import re
from collections.abc import Callable, Iterable
from typing import Any

import matplotlib
import matplotlib.pyplot as plt
from matplotlib.animation import FuncAnimation

__all__ = ["player", "player_html", "count_frames", "MAX_PLAYER_BYTES"]

# A player whose HTML exceeds this is refused: lower the dpi or the number of frames.
MAX_PLAYER_BYTES = 2_000_000

# One embedded frame in Matplotlib's HTML: `frames[3] = "data:image/png;base64,...`.
_EMBEDDED_FRAME = re.compile(r'frames\[\d+\] = "data:image/')
_EMBEDDED_PNG = re.compile(r'(frames\[\d+\] = "data:image/png;base64,)([^"]*)(")')

# Matplotlib's template includes a stylesheet from a CDN for its button icons.
_CDN_STYLESHEET = re.compile(r'<link rel="stylesheet"\s+href="https?://[^"]*font-awesome[^"]*">\s*')
_ICON = re.compile(r'<i class="fa ([^"]*)"></i>')

# Inline SVG paths (12 x 12 box, drawn in the button's text colour) for each Font Awesome icon the template uses.
_ICON_PATHS = {
    "fa-minus": "M2 5h8v2H2z",
    "fa-plus": "M5 2h2v3h3v2H7v3H5V7H2V5h3z",
    "fa-play": "M3 1.5v9L10.5 6z",
    "fa-play fa-flip-horizontal": "M9 1.5v9L1.5 6z",
    "fa-pause": "M2.5 2H5v8H2.5zM7 2h2.5v8H7z",
    "fa-step-forward": "M2 1.5v9L8 6zM8.5 1.5H10v9H8.5z",
    "fa-step-backward": "M10 1.5v9L4 6zM2 1.5h1.5v9H2z",
    "fa-fast-forward": "M.5 2v8L5 6zM5 2v8l4.5-4zM9.5 2H11v8H9.5z",
    "fa-fast-backward": "M11.5 2v8L7 6zM7 2v8L2.5 6zM1 2h1.5v8H1z",
}


def _inline_svg_icon(match: re.Match) -> str:
    """The inline SVG replacing one ``<i class="fa ...">`` icon (raises KeyError for an unknown icon)."""
    path = _ICON_PATHS[match.group(1)]
    return (f'<svg width="12" height="12" viewBox="0 0 12 12" fill="currentColor" aria-hidden="true">'
            f'<path d="{path}"/></svg>')


def _freeze_layout(fig, draw: Callable[[Any], Any], first_value) -> None:
    """Lay ``fig`` out once, as it looks at ``first_value``, and keep that layout for every frame.

    The axes then stay still while the slider moves, and the (costly) constrained
    or tight layout is not recomputed for each frame.
    """
    draw(first_value)
    if fig.get_layout_engine() is not None:
        fig.canvas.draw()
        # None (not "none", which keeps a placeholder engine that makes savefig draw twice)
        with matplotlib.rc_context({"figure.autolayout": False, "figure.constrained_layout.use": False}):
            fig.set_layout_engine(None)


def _palette_png(png: bytes, colors: int) -> bytes:
    """``png`` re-encoded with at most ``colors`` colours (about 3 times smaller for a plot).

    Plots have few distinct colours besides the anti-aliasing shades, so the
    difference is invisible. A frame with transparent pixels is returned as is.
    """
    from PIL import Image  # Pillow is a dependency of Matplotlib

    image = Image.open(io.BytesIO(png))
    if image.mode == "RGBA" and image.getchannel("A").getextrema()[0] < 255:
        return png
    paletted = image.convert("RGB").quantize(colors=colors, method=Image.Quantize.MEDIANCUT,
                                             dither=Image.Dither.NONE)
    out = io.BytesIO()
    paletted.save(out, format="png")
    return out.getvalue() if out.tell() < len(png) else png


def _with_palette_frames(html: str, colors: int) -> str:
    """``html`` with every embedded PNG frame re-encoded by :func:`_palette_png`."""
    def shrink(match: re.Match) -> str:
        png = base64.b64decode(match.group(2).replace("\\\n", ""))
        return match.group(1) + base64.b64encode(_palette_png(png, colors)).decode("ascii") + match.group(3)

    return _EMBEDDED_PNG.sub(shrink, html)


def count_frames(html: str) -> int:
    """Number of images embedded in a player's HTML (one per frame value)."""
    return len(_EMBEDDED_FRAME.findall(html))


def player_html(fig, draw: Callable[[Any], Any], frames: Iterable, interval_ms: int = 400,
                dpi: float = 72, palette_colors: int | None = 256,
                max_bytes: int = MAX_PLAYER_BYTES) -> str:
    """The self-contained HTML of a slider / play-button player over ``frames``; closes ``fig``.

    Parameters
    ----------
    fig : the Matplotlib figure to animate. Create its artists once (lines,
        markers, fixed axis limits); ``draw`` only updates them. The layout
        is computed once, for the first frame, so the axes do not jump.
    draw : called as ``draw(value)`` for each value of ``frames``, in order,
        before that frame is rendered; it updates the artists of ``fig``
        (e.g. ``line.set_data``, ``ax.set_title``). Its return value is ignored.
    frames : the frame values (floats, ints, strings, ...): one image each.
        Any finite iterable, e.g. a 1-D NumPy array or a list of names.
    interval_ms : delay between frames when playing, in milliseconds.
    dpi : resolution of the frames. The HTML holds one base64 PNG per frame,
        so its size grows like ``len(frames) * dpi**2``.
    palette_colors : re-encode each frame as a PNG with at most this many
        colours (about 3 times smaller, no visible difference for a plot);
        ``None`` keeps Matplotlib's full-colour PNGs.
    max_bytes : refuse (ValueError) a player whose HTML is larger than this.

    Returns
    -------
    str : HTML (with its inline CSS and JavaScript) that loads nothing from
    the internet; ``count_frames(html) == len(frames)``.
    """
    values = list(frames)
    if not values:
        plt.close(fig)
        raise ValueError("a player needs at least one frame value")
    try:
        fig.set_dpi(dpi)
        _freeze_layout(fig, draw, values[0])
        animation = FuncAnimation(fig, draw, frames=values, interval=interval_ms, repeat=False,
                                  cache_frame_data=False)
        # Each frame is rendered once, by the writer's savefig; FuncAnimation's extra
        # canvas.draw_idle() after each draw() would render it a second time for nothing.
        fig.canvas.draw_idle = lambda *args, **kwargs: None
        html = animation.to_jshtml(default_mode="once")
    finally:
        plt.close(fig)
    if palette_colors:
        html = _with_palette_frames(html, palette_colors)
    html = _CDN_STYLESHEET.sub("", html)
    html = _ICON.sub(_inline_svg_icon, html)
    html = html.replace('<img id="_anim_img', '<img style="max-width: 100%; height: auto;" id="_anim_img', 1)
    if re.search(r"https?://", html):
        raise RuntimeError("the player's HTML still references an external URL (Matplotlib's template changed?)")
    if count_frames(html) != len(values):
        raise RuntimeError(f"the player embeds {count_frames(html)} frames, expected {len(values)} "
                           "(Matplotlib's animation.embed_limit reached?)")
    if len(html) > max_bytes:
        raise ValueError(f"the player's HTML is {len(html):,} bytes (limit {max_bytes:,}): "
                         "lower dpi, shrink the figure or use fewer frames")
    return html


def player(fig, draw: Callable[[Any], Any], frames: Iterable, interval_ms: int = 400,
           dpi: float = 72, palette_colors: int | None = 256, max_bytes: int = MAX_PLAYER_BYTES):
    """:func:`player_html` wrapped in ``IPython.display.HTML``, for the last line of a notebook cell."""
    from IPython.display import HTML

    return HTML(player_html(fig, draw, frames, interval_ms=interval_ms, dpi=dpi,
                            palette_colors=palette_colors, max_bytes=max_bytes))
