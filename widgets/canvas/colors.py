"""One entropy colormap shared by the token grid and the heatmap, so a colour means the same entropy everywhere."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from models.canvas.overlays import Overlay

DEFAULT_MAX_ENTROPY = 4.0  # nats; confident tokens sit near 0 and a near-uniform guess over a few dozen ids near 4

# Viridis sampled at ten evenly spaced points (matplotlib's values); piecewise-linear interpolation between them
# stays within a few levels of the real map and keeps it perceptually ordered without depending on matplotlib.
_VIRIDIS_STOPS = (
    "#440154", "#482878", "#3e4989", "#31688e", "#26828e",
    "#1f9e89", "#35b779", "#6ece58", "#b5de2b", "#fde725",
)  # fmt: skip


def _build_lut(stops: tuple[str, ...], size: int = 256) -> np.ndarray:
    rgb = np.array([[int(s[i : i + 2], 16) for i in (1, 3, 5)] for s in stops], dtype=np.float64)
    at = np.linspace(0.0, 1.0, len(stops))
    x = np.linspace(0.0, 1.0, size)
    channels = [np.interp(x, at, rgb[:, c]) for c in range(3)]
    return np.ascontiguousarray(np.round(np.stack(channels, axis=1)).astype(np.uint8))


NO_VALUE_RGB = (128, 128, 128)  # a cell an overlay has no number for (unknown entropy, not settled, no candidates)
LUT: np.ndarray = _build_lut(_VIRIDIS_STOPS)  # (256, 3) uint8, low entropy first
LUT.setflags(write=False)


def lut_indices(entropy: np.ndarray, max_entropy: float = DEFAULT_MAX_ENTROPY) -> np.ndarray:
    """LUT index per value, clipped to [0, max_entropy]; NaN counts as maximal uncertainty.

    Uses the same rule as pyqtgraph's ImageItem with levels (0, max_entropy) and a 256-entry LUT
    (scale by len(LUT)/range, truncate, clip), so the grid and the heatmap pick the same entry.
    """
    e = np.asarray(entropy, dtype=np.float64)
    scaled = np.nan_to_num(e * (len(LUT) / float(max_entropy)), nan=len(LUT), posinf=len(LUT), neginf=0.0)
    return np.clip(scaled, 0, len(LUT) - 1).astype(np.intp)


def entropy_to_rgb(entropy: np.ndarray, max_entropy: float = DEFAULT_MAX_ENTROPY) -> np.ndarray:
    """(..., 3) uint8 colours for an entropy array; NaN (unknown: text typed or opened, never sampled) is grey."""
    e = np.asarray(entropy, dtype=np.float64)
    return np.where(np.isnan(e)[..., None], np.asarray(NO_VALUE_RGB, dtype=np.uint8), LUT[lut_indices(e, max_entropy)])


def relative_luminance(rgb: np.ndarray) -> np.ndarray:
    """WCAG relative luminance of (..., 3) uint8 sRGB colours."""
    c = np.asarray(rgb, dtype=np.float64) / 255.0
    linear = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    return linear @ np.array([0.2126, 0.7152, 0.0722])


# Above this luminance black text has the higher WCAG contrast ratio, below it white does:
# (L + 0.05) / 0.05 == 1.05 / (L + 0.05)  =>  L = sqrt(1.05 * 0.05) - 0.05.
_BLACK_TEXT_ABOVE = float(np.sqrt(1.05 * 0.05) - 0.05)


def use_dark_text(rgb: np.ndarray) -> np.ndarray:
    """Bool per colour: True where black text reads better than white on that background."""
    return relative_luminance(rgb) > _BLACK_TEXT_ABOVE


def text_rgb(rgb: np.ndarray) -> np.ndarray:
    """(..., 3) uint8: black or white, whichever contrasts more with each background colour."""
    dark = use_dark_text(rgb)
    return np.where(dark[..., None], np.uint8(0), np.uint8(255)).astype(np.uint8)


# Magma, sampled the same way: the overlays that count steps (revisions, commit order) use it, so switching the grid
# from a confidence overlay to a step overlay is visible at a glance.
_MAGMA_STOPS = (
    "#000004", "#180f3d", "#440f76", "#721f81", "#9e2f7f",
    "#cd4071", "#f1605d", "#fd9668", "#feca8d", "#fcfdbf",
)  # fmt: skip
MAGMA: np.ndarray = _build_lut(_MAGMA_STOPS)
MAGMA.setflags(write=False)


@dataclass(frozen=True)
class OverlayStyle:
    lut: np.ndarray
    reverse: bool = False  # high values dark: a wide margin is a confident pick, like a low entropy


STYLES: dict[Overlay, OverlayStyle] = {
    Overlay.ENTROPY: OverlayStyle(LUT),
    Overlay.REVISIONS: OverlayStyle(MAGMA),
    Overlay.COMMIT_ORDER: OverlayStyle(MAGMA),
    Overlay.MARGIN: OverlayStyle(LUT, reverse=True),
}


def overlay_rgb(overlay: Overlay, values: np.ndarray, low: float, high: float) -> np.ndarray:
    """(..., 3) uint8 colours of an overlay's values over [low, high], by the same rule as lut_indices."""
    style = STYLES[overlay]
    v = np.asarray(values, dtype=np.float64)
    if style.reverse:
        v = high - (v - low)
    if overlay is Overlay.ENTROPY and low == 0.0:
        return entropy_to_rgb(v, high)
    span = max(high - low, 1e-12)
    scaled = np.nan_to_num((v - low) * (len(style.lut) / span), nan=len(style.lut), posinf=len(style.lut), neginf=0)
    rgb = style.lut[np.clip(scaled, 0, len(style.lut) - 1).astype(np.intp)]
    return np.where(np.isnan(v)[..., None], np.asarray(NO_VALUE_RGB, dtype=np.uint8), rgb)
