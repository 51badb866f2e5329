"""Images: every PIL mode keeps its colour, thin images reach the processor with no warning, pipes are refused."""

from __future__ import annotations

import io
import logging
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from models.engine.generator import Generator
from models.inputs.images import MIN_SIDE, ImageError, load_image_bytes, load_image_file, to_rgb
from models.work.prompts import Prompt


def grey16(mode: str, value: int) -> Image.Image:
    order = ">u2" if mode == "I;16B" else "<u2"
    return Image.frombytes(mode, (12, 8), np.full((8, 12), value, order).tobytes())


def palette_with_transparency() -> Image.Image:
    image = Image.new("P", (12, 8), 0)
    image.putpalette([200, 0, 0, 0, 0, 0] + [0] * 762)
    image.putpixel((0, 0), 1)  # index 1 is transparent: that pixel becomes white
    image.info["transparency"] = 1
    return image


# (mode, image, expected mean RGB after conversion): the same colour, read in each mode's own scale.
CASES = [
    ("I;16", grey16("I;16", 32768), (128, 128, 128)),
    ("I;16B", grey16("I;16B", 32768), (128, 128, 128)),
    ("I;16L", grey16("I;16L", 65535), (255, 255, 255)),
    ("I (16-bit range)", Image.fromarray(np.full((8, 12), 32768, np.int32)), (128, 128, 128)),
    ("I (8-bit range)", Image.new("L", (12, 8), 100).convert("I"), (100, 100, 100)),
    ("F (0..1)", Image.fromarray(np.full((8, 12), 0.5, np.float32)), (128, 128, 128)),
    ("F (0..255)", Image.fromarray(np.full((8, 12), 64.0, np.float32)), (64, 64, 64)),
    ("L", Image.new("L", (12, 8), 128), (128, 128, 128)),
    ("LA opaque", Image.new("LA", (12, 8), (128, 255)), (128, 128, 128)),
    ("LA transparent", Image.new("LA", (12, 8), (0, 0)), (255, 255, 255)),
    ("La", Image.new("LA", (12, 8), (128, 255)).convert("La"), (128, 128, 128)),
    ("PA", Image.new("RGBA", (12, 8), (0, 0, 200, 255)).convert("PA"), (0, 0, 200)),
    ("P with transparency", palette_with_transparency(), ((200 * 95 + 255) / 96, 255 / 96, 255 / 96)),
    ("CMYK", Image.new("CMYK", (12, 8), (0, 255, 255, 0)), (255, 0, 0)),
    ("1", Image.new("1", (12, 8), 1), (255, 255, 255)),
    ("RGB", Image.new("RGB", (12, 8), (10, 20, 30)), (10, 20, 30)),
    ("RGBA half", Image.new("RGBA", (12, 8), (0, 0, 0, 128)), (127, 127, 127)),
    ("RGBa", Image.new("RGBA", (12, 8), (200, 0, 0, 255)).convert("RGBa"), (200, 0, 0)),
    ("RGBX", Image.new("RGBX", (12, 8), (10, 20, 30, 0)), (10, 20, 30)),
    ("YCbCr grey", Image.new("YCbCr", (12, 8), (128, 128, 128)), (128, 128, 128)),
    ("HSV red", Image.new("HSV", (12, 8), (0, 255, 200)), (200, 0, 0)),
    ("LAB mid grey", Image.new("LAB", (12, 8), (128, 128, 128)), (119, 119, 119)),
]


@pytest.mark.parametrize(("mode", "image", "expected"), CASES, ids=[c[0] for c in CASES])
def test_every_mode_keeps_its_mean_colour(mode: str, image: Image.Image, expected: tuple) -> None:
    rgb = to_rgb(image)
    assert rgb.mode == "RGB" and rgb.size == image.size
    assert np.asarray(rgb, np.float64).reshape(-1, 3).mean(0) == pytest.approx(expected, abs=1.0)


def test_every_pil_mode_is_covered() -> None:
    covered = {image.mode for _, image, _ in CASES}
    assert set(Image.MODES) - covered <= {"I;16N"}  # the native-order alias of I;16L or I;16B


@pytest.mark.parametrize("case", ["I;16", "LA opaque", "P with transparency", "1", "L", "RGBA half", "CMYK"])
def test_a_file_of_each_mode_keeps_its_colour(tmp_path: Path, case: str) -> None:
    """Through a real file: a mid-grey 16-bit PNG (the issue's case) used to come out pure white."""
    image, expected = next((image, expected) for name, image, expected in CASES if name == case)
    path = tmp_path / ("image.jpg" if image.mode == "CMYK" else "image.png")
    image.save(path, quality=100)
    assert Image.open(path).mode == image.mode
    loaded = load_image_file(path)
    assert np.asarray(loaded, np.float64).reshape(-1, 3).mean(0) == pytest.approx(expected, abs=1.5)


def png(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (0, 200, 0)).save(buffer, "PNG")
    return buffer.getvalue()


@pytest.fixture
def transformers_warnings():
    """Messages logged by transformers during the test (its logger does not propagate to pytest's capture)."""
    from transformers.utils import logging as hf_logging

    seen: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: seen.append(record.getMessage())
    logger = hf_logging.get_logger("transformers")
    logger.addHandler(handler)
    yield seen
    logger.removeHandler(handler)


@pytest.mark.parametrize(("width", "height"), [(1, 1), (1, 10000), (2, 5000), (5000, 2), (3, 3), (4, 77)])
def test_thin_images_reach_the_processor_without_a_warning(
    loaded_vision, transformers_warnings, width: int, height: int
) -> None:
    image = load_image_bytes(png(width, height), "thin.png")
    assert min(image.size) >= MIN_SIDE
    inputs = Generator(loaded_vision).prompt_inputs(Prompt(user="colour?", images=(image,)), image_budget=70)
    assert not [m for m in transformers_warnings if "channel dimension is ambiguous" in m]
    assert inputs["pixel_values"].shape[0] == 1


def test_the_warning_check_can_see_the_warning(loaded_vision, transformers_warnings) -> None:
    """The raw processor still warns on a 3-pixel-wide image, so the test above would catch it."""
    loaded_vision.processor(text="<|image|>", images=[Image.new("RGB", (3, 91))], return_tensors="pt")
    assert [m for m in transformers_warnings if "channel dimension is ambiguous" in m]


@pytest.mark.timeout(20)
def test_a_pipe_or_device_given_as_an_image_is_refused_at_once(tmp_path: Path) -> None:
    fifo = tmp_path / "photo.png"
    os.mkfifo(fifo)
    # Opening the pipe or reading the device would never end: the timeout above fails the test then.
    with pytest.raises(ImageError, match=r"photo.png is a named pipe \(FIFO\), not a regular file"):
        load_image_file(fifo)
    with pytest.raises(ImageError, match="/dev/zero is a device, not a regular file"):
        load_image_file("/dev/zero")


@pytest.mark.timeout(20)
def test_the_image_strip_refuses_a_pipe_by_name(qtbot, tmp_path: Path) -> None:
    from widgets.prompt.image_strip import ImageStrip

    strip = ImageStrip()
    qtbot.addWidget(strip)
    fifo = tmp_path / "pipe.png"
    os.mkfifo(fifo)
    good = tmp_path / "good.png"
    good.write_bytes(png(20, 20))
    with qtbot.waitSignal(strip.refused) as refused:
        assert strip.add_files([fifo, good]) == 1
    assert "pipe.png" in refused.args[0] and "named pipe" in refused.args[0]
    assert len(strip.images()) == 1
