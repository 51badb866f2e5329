"""Reading images a user gives us: refuse anything that is not a sound image, bound memory, normalise pixels."""

from __future__ import annotations

import io
import os
import warnings
from pathlib import Path
from typing import Any

from PIL import Image, ImageOps, UnidentifiedImageError

MAX_PIXELS = 40_000_000  # above this an image is refused as a likely decompression bomb
MAX_SIDE = 2048  # larger images are scaled down first: the processor resizes to at most ~1k pixels a side anyway
FORMATS = ("PNG", "JPEG", "WEBP", "BMP", "GIF")


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
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, rgba)
    image = image.convert("RGB")
    if max(image.size) > MAX_SIDE:
        image.thumbnail((MAX_SIDE, MAX_SIDE), Image.Resampling.LANCZOS)
    return image


def load_image_file(path: str | os.PathLike) -> Any:
    file = Path(path)
    try:
        data = file.read_bytes()
    except FileNotFoundError as error:
        raise ImageError(f"{file} does not exist") from error
    except IsADirectoryError as error:
        raise ImageError(f"{file} is a folder, not an image") from error
    except OSError as error:
        raise ImageError(f"{file} cannot be read ({error.strerror or error})") from error
    return load_image_bytes(data, file.name)
