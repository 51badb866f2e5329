"""Images a user hands the window (files, a drop, the clipboard), read with a refusal in words for each bad one."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import partial
from os import PathLike
from pathlib import Path
from typing import Any

from PySide6.QtCore import QMimeData
from PySide6.QtGui import QImage, QPixmap

from models.inputs.images import ImageError, load_image_bytes, load_image_file
from widgets.prompt.image_tiles import qimage_to_png


def read_files(paths: Iterable[str | PathLike]) -> tuple[list[tuple[Any, str]], list[str]]:
    """([(image, name)], refusals): every readable image among the files, in order, and why the others are not."""
    images, refusals = [], []
    for path in paths:
        image, refusal = _read(partial(load_image_file, path), Path(path).name)
        if image is None:
            refusals.append(refusal)
        else:
            images.append((image, Path(path).name))
    return images, refusals


def read_mime(mime: QMimeData, name: str) -> tuple[list[tuple[Any, str]], list[str]]:
    """The one image a drop or paste carries as data (several encodings of it: the first that reads wins)."""
    urls = mime.urls() if mime.hasUrls() else []
    data = _image_payloads(mime)
    if not data:
        return [], [f"{url.toDisplayString()} is not a file on this computer" for url in urls]
    refusals = []
    for payload in data:
        image, refusal = _read(partial(load_image_bytes, payload, name), name)
        if image is not None:
            return [(image, name)], []
        refusals.append(refusal)
    return [], refusals[:1]


def _read(load: Callable[[], Any], name: str) -> tuple[Any, str]:
    """(image, "") or (None, why not): whatever a damaged file makes PIL raise, it is refused, never raised into Qt."""
    try:
        return load(), ""
    except ImageError as error:
        return None, str(error)
    except Exception as error:  # noqa: BLE001 - a crafted file can trip any decoder error; report it, keep the rest
        return None, f"{name} could not be read ({type(error).__name__}: {error})"


def _image_payloads(mime: QMimeData) -> list[bytes]:
    """Encoded images a MIME payload carries: raw image/* bytes first (they keep EXIF), then its QImage."""
    payloads = [bytes(mime.data(f).data()) for f in mime.formats() if f.startswith("image/")]
    if mime.hasImage():
        image = mime.imageData()
        if isinstance(image, QPixmap):
            image = image.toImage()
        # A null image becomes empty bytes, which load_image_bytes refuses with a message like any other.
        payloads.append(qimage_to_png(image) if isinstance(image, QImage) and not image.isNull() else b"")
    return payloads
