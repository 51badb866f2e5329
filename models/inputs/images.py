"""Reading images a user gives us: refuse anything that is not a sound image, bound memory, normalise pixels.

Every PIL mode becomes RGB with its brightness kept (`to_rgb`): 16-bit greyscale (I;16, I;16B ...) is scaled
from 0..65535, 32-bit integer greyscale (I) from 0..65535 when any value exceeds 255 (16-bit PNGs open as I in
some Pillow versions) and as 8-bit otherwise, float greyscale (F) from 0..1 when no value exceeds 1 and as 0..255
otherwise; transparency is flattened on white. A side shorter than MIN_SIDE pixels is stretched to MIN_SIDE
(nearest neighbour): the processor would stretch it to a whole patch anyway, and a width of 1, 3 or 4 pixels
makes transformers guess the channel axis and print a warning.
"""

from __future__ import annotations

import io
import os
import warnings
from typing import Any

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from models.inputs.safe_files import MiB, UserFileError, read_user_file

#: The visual token budgets (soft tokens per image) Gemma 4's image processor accepts, and its own default. The one
#: home of these numbers: the processor, the image strip, the server and the command line read them here.
IMAGE_TOKEN_BUDGETS: tuple[int, ...] = (70, 140, 280, 560, 1120)
DEFAULT_IMAGE_BUDGET = 280

MAX_PIXELS = 40_000_000  # above this an image is refused as a likely decompression bomb
MAX_SIDE = 2048  # larger images are scaled down first: the processor resizes to at most ~1k pixels a side anyway
MIN_SIDE = 8  # shorter sides are stretched to this (see the module docstring)
MAX_FILE_BYTES = 64 * MiB
FORMATS = ("PNG", "JPEG", "WEBP", "BMP", "GIF")
_ALPHA_MODES = ("RGBA", "LA", "PA", "La", "RGBa")


class ImageError(ValueError):
    """Not a readable image; the message names the file."""


def load_image_bytes(data: bytes, name: str) -> Any:
    """A PIL RGB image from encoded bytes: EXIF orientation applied, transparency flattened on white, size bounded."""
    if not data:
        raise ImageError(f"{name} is empty (0 bytes)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=FORMATS) as opened:
                width, height = opened.size
                if width * height > MAX_PIXELS:
                    raise ImageError(f"{name} is too large ({width} x {height} pixels); the limit is "
                                     f"{MAX_PIXELS // 1_000_000} megapixels")
                opened.seek(0)  # first frame of an animation
                opened.load()
                image = ImageOps.exif_transpose(opened)
    except ImageError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise ImageError(f"{name} is too large to open safely (a decompression bomb?); the limit is "
                         f"{MAX_PIXELS // 1_000_000} megapixels") from error
    except UnidentifiedImageError as error:
        raise ImageError(f"{name} is not a readable image (PNG, JPEG, WebP, BMP or GIF)") from error
    except (OSError, SyntaxError, ValueError, EOFError) as error:
        raise ImageError(f"{name} is damaged or truncated ({error})") from error
    image = to_rgb(image)
    if max(image.size) > MAX_SIDE:
        image.thumbnail((MAX_SIDE, MAX_SIDE), Image.Resampling.LANCZOS)
    return _stretch_thin_sides(image)


def image_pixels(data: bytes) -> int:
    """Width x height an encoded image declares, read from its header without decoding; 0 when it is unreadable
    (`load_image_bytes` then says why)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=FORMATS) as opened:
                width, height = opened.size
    except Exception:  # noqa: BLE001 - any unreadable header: counted as nothing here, refused when it is decoded
        return 0
    return width * height


def check_pixel_budget(images: list[bytes], limit: int, where: str = "a request") -> None:
    """ImageError when the images together declare more than `limit` pixels; checked before any is decoded."""
    total = sum(image_pixels(data) for data in images)
    if total > limit:
        raise ImageError(f"{where} carries {len(images)} images of {total / 1e6:.1f} megapixels in all; the limit is "
                         f"{limit // 1_000_000} megapixels per request (send fewer or smaller images)")


def prepare_image(image: Any) -> Any:
    """A PIL image ready for the processor: RGB, no side under MIN_SIDE (the same object when it already is)."""
    return _stretch_thin_sides(image if image.mode == "RGB" else to_rgb(image))


def to_rgb(image: Any) -> Any:
    """An RGB copy of a PIL image of any mode, brightness kept and transparency flattened on white."""
    mode = image.mode
    if mode.startswith("I;16") or mode in ("I", "F"):
        return Image.fromarray(_grey_to_8bit(np.asarray(image), mode), "L").convert("RGB")
    if mode in ("La", "RGBa"):  # premultiplied alpha: PIL converts these only to their plain-alpha modes
        image = image.convert("LA" if mode == "La" else "RGBA")
        mode = image.mode
    if mode in _ALPHA_MODES or (mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


def _grey_to_8bit(values: np.ndarray, mode: str) -> np.ndarray:
    values = values.astype(np.float64)
    if mode == "F":
        values = np.nan_to_num(values, nan=0.0, posinf=255.0, neginf=0.0)
        scale = 255.0 if values.size and values.max() <= 1.0 else 1.0
    elif mode == "I" and values.size and values.max() <= 255:
        scale = 1.0
    else:  # 16-bit range
        scale = 1 / 257
    return np.clip(np.rint(values * scale), 0, 255).astype(np.uint8)


def _stretch_thin_sides(image: Any) -> Any:
    width, height = image.size
    if min(width, height) >= MIN_SIDE:
        return image
    return image.resize((max(width, MIN_SIDE), max(height, MIN_SIDE)), Image.Resampling.NEAREST)


def load_image_file(path: str | os.PathLike) -> Any:
    """A PIL RGB image from a file: read only if it is a regular file of at most MAX_FILE_BYTES."""
    try:
        data = read_user_file(path, MAX_FILE_BYTES, "image")
    except UserFileError as error:
        raise ImageError(str(error)) from error
    return load_image_bytes(data, os.path.basename(path))
