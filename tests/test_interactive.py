"""dlcourse.interactive: the kernel-free players that the lessons embed in the website."""
from __future__ import annotations

import base64
import io
import re

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pytest

from dlcourse.interactive import MAX_PLAYER_BYTES, count_frames, player, player_html


def frame_pngs(html: str) -> list[bytes]:
    """The PNG files embedded in a player's HTML, in frame order."""
    payloads = re.findall(r'frames\[\d+\] = "data:image/png;base64,([^"]*)"', html)
    return [base64.b64decode(p.replace("\\\n", "")) for p in payloads]


def sine_figure():
    """A small figure with one line, and a draw(k) that sets it to sin(k x): returns (fig, draw, calls)."""
    fig, ax = plt.subplots(figsize=(4, 3))
    x = np.linspace(0, 2 * np.pi, 200)
    line, = ax.plot(x, np.zeros_like(x))
    ax.set_ylim(-1.1, 1.1)
    calls = []

    def draw(k):
        calls.append(k)
        line.set_ydata(np.sin(k * x))
        ax.set_title(f"k = {k}")

    return fig, draw, calls


@pytest.fixture
def small_player():
    """The HTML of a 7-frame player of a 4 x 3 inch figure, the figure, and the values draw() received."""
    fig, draw, calls = sine_figure()
    html = player_html(fig, draw, np.arange(1, 8))
    return html, fig, calls


def test_one_embedded_frame_per_value(small_player):
    html, _, _ = small_player
    assert count_frames(html) == 7
    assert len(re.findall(r'frames\[\d+\] = "data:image/png;base64,', html)) == 7
    assert "frames[6] =" in html and "frames[7] =" not in html


def test_draw_receives_every_value_in_order(small_player):
    _, _, calls = small_player
    assert calls[-7:] == list(range(1, 8))   # FuncAnimation may draw the first frame once more to initialise


def test_frames_differ(small_player):
    html, _, _ = small_player
    images = re.findall(r'frames\[\d+\] = "data:image/png;base64,([^"]*)"', html)
    assert len(set(images)) == 7, "draw() did not change what the frames show"


def test_html_has_slider_and_play_controls(small_player):
    html, _, _ = small_player
    assert 'type="range"' in html and "set_frame(" in html
    for action in ("play_animation()", "pause_animation()", "next_frame()", "previous_frame()"):
        assert action in html, action
    assert 'value="once"' in html and re.search(r'value="once"[^>]*\n?\s*checked', html), "default mode should be once"
    assert 'class="fa' not in html, "Font Awesome icons left in (they need the CDN stylesheet)"
    assert html.count("<svg") == 9, "every button gets an inline icon"


def test_figure_is_closed(small_player):
    _, fig, _ = small_player
    assert not plt.fignum_exists(fig.number)


def test_no_external_url(small_player):
    html, _, _ = small_player
    assert not re.search(r"https?://", html, flags=re.IGNORECASE)
    assert "<link" not in html


def test_small_example_is_small(small_player):
    html, _, _ = small_player
    assert len(html) < 400_000, len(html)      # 7 frames of 288 x 216 pixels


def test_dpi_sets_the_frame_size(small_player):
    from PIL import Image

    html, _, _ = small_player
    assert Image.open(io.BytesIO(frame_pngs(html)[0])).size == (4 * 72, 3 * 72)   # 4 x 3 inches at the default 72 dpi
    fig, draw, _ = sine_figure()
    sharp = player_html(fig, draw, np.arange(1, 8), dpi=100)
    assert Image.open(io.BytesIO(frame_pngs(sharp)[0])).size == (400, 300)
    assert sum(map(len, frame_pngs(sharp))) > 1.3 * sum(map(len, frame_pngs(html)))


def test_palette_frames_are_smaller_and_look_the_same(small_player):
    from PIL import Image

    html, _, _ = small_player
    fig, draw, _ = sine_figure()
    full_colour = player_html(fig, draw, np.arange(1, 8), palette_colors=None)
    assert count_frames(full_colour) == 7
    assert sum(map(len, frame_pngs(html))) < 0.8 * sum(map(len, frame_pngs(full_colour)))
    small = Image.open(io.BytesIO(frame_pngs(html)[3])).convert("RGB")
    full = Image.open(io.BytesIO(frame_pngs(full_colour)[3])).convert("RGB")
    difference = np.abs(np.asarray(small, dtype=float) - np.asarray(full, dtype=float))
    assert small.size == full.size and difference.mean() < 2.0, difference.mean()


def test_string_frame_values():
    fig, ax = plt.subplots(figsize=(2, 2))
    seen = []
    html = player_html(fig, lambda name: (seen.append(name), ax.set_title(name)), ["relu", "tanh", "selu"])
    assert count_frames(html) == 3 and seen[-3:] == ["relu", "tanh", "selu"]


def test_too_large_player_is_refused_and_closed():
    fig, draw, _ = sine_figure()
    with pytest.raises(ValueError, match="bytes"):
        player_html(fig, draw, [1, 2, 3], max_bytes=10_000)
    assert not plt.fignum_exists(fig.number)
    assert MAX_PLAYER_BYTES <= 2_000_000


def test_no_frame_values_is_an_error():
    fig, draw, _ = sine_figure()
    with pytest.raises(ValueError):
        player_html(fig, draw, [])
    assert not plt.fignum_exists(fig.number)


def test_player_returns_displayable_html():
    pytest.importorskip("IPython")
    fig, draw, _ = sine_figure()
    shown = player(fig, draw, [1, 2])
    assert count_frames(shown._repr_html_()) == 2
    assert not plt.fignum_exists(fig.number)


def test_error_in_draw_propagates_and_closes_the_figure():
    fig, ax = plt.subplots(figsize=(2, 2))

    def draw(value):
        if value == 2:
            raise KeyError(value)
        ax.set_title(str(value))

    with pytest.raises(KeyError):
        player_html(fig, draw, [1, 2, 3])
    assert not plt.fignum_exists(fig.number)


def test_axes_stay_still_between_frames():
    fig, axes = plt.subplots(1, 2, figsize=(4, 2), layout="constrained")
    positions = []

    def draw(lines):          # a taller label would make constrained layout move the axes
        positions.append(axes[1].get_position().bounds)
        axes[1].set_ylabel("\n".join(["label"] * lines))

    player_html(fig, draw, [1, 2, 3, 4])
    positions.append(axes[1].get_position().bounds)
    assert len(set(positions[2:])) == 1, positions   # all positions after the layout of the first frame
