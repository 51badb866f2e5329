"""The image strip driven as a person would: drops, paste, clicks on × and ◀ ▶, the budget combo."""

from __future__ import annotations

import re
import resource
import struct
import zlib
from pathlib import Path

import pytest
from PIL import Image
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QColor, QDragEnterEvent, QDragMoveEvent, QDropEvent, QGuiApplication, QImage
from PySide6.QtWidgets import QApplication
from qt_helpers import shown

from widgets.prompt.image_strip import BUDGETS, ImageStrip
from widgets.prompt.prompt_panel import PromptPanel

RED, GREEN, BLUE, YELLOW, MAGENTA = (220, 30, 30), (30, 200, 30), (30, 30, 220), (230, 220, 20), (200, 20, 200)


def save(path: Path, colour: tuple[int, int, int], size: tuple[int, int] = (40, 30), **kwargs) -> Path:
    Image.new("RGB", size, colour).save(path, **kwargs)
    return path


def centre_colour(image: Image.Image) -> tuple[int, int, int]:
    return image.getpixel((image.width // 2, image.height // 2))


def close_to(actual: tuple[int, ...], expected: tuple[int, ...], tolerance: int = 12) -> bool:
    return all(abs(a - e) <= tolerance for a, e in zip(actual, expected, strict=True))


def colours(strip: ImageStrip) -> list[tuple[int, int, int]]:
    return [centre_colour(image) for image in strip.images()]


def assert_colours(strip: ImageStrip, expected: list[tuple[int, int, int]]) -> None:
    actual = colours(strip)
    assert len(actual) == len(expected), actual
    assert all(close_to(a, e) for a, e in zip(actual, expected, strict=True)), actual


def file_mime(*paths: Path | str) -> QMimeData:
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path)) for path in paths])
    return mime


def drop(strip: ImageStrip, mime: QMimeData, pos: QPoint | None = None) -> bool:
    """Drag `mime` over the strip and let go: enter, move, drop. True when the strip accepted the drag."""
    pos = pos or strip.rect().center()
    buttons, keys = Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
    actions = Qt.DropAction.CopyAction | Qt.DropAction.MoveAction
    enter = QDragEnterEvent(pos, actions, mime, buttons, keys)
    QApplication.sendEvent(strip, enter)
    if not enter.isAccepted():
        return False
    move = QDragMoveEvent(pos, actions, mime, buttons, keys)
    QApplication.sendEvent(strip, move)
    QApplication.sendEvent(strip, QDropEvent(QPointF(pos), actions, mime, buttons, keys))
    return True


def qimage(colour: tuple[int, int, int], width: int = 32, height: int = 24) -> QImage:
    image = QImage(width, height, QImage.Format.Format_RGB32)
    image.fill(QColor(*colour))
    return image


def count_signals(signal) -> list:
    seen: list = []
    signal.connect(lambda *args: seen.append(args))
    return seen


@pytest.fixture
def strip(qtbot) -> ImageStrip:
    return shown(qtbot, ImageStrip(), 520, 200)


@pytest.fixture
def three(qtbot, strip: ImageStrip, tmp_path: Path) -> ImageStrip:
    strip.add_files([save(tmp_path / f"{i}.png", c) for i, c in enumerate((RED, GREEN, BLUE))])
    wait_laid_out(qtbot, strip)
    return strip


def wait_laid_out(qtbot, strip: ImageStrip) -> None:
    """Until the tiles stand left to right in order, as a person sees them before dragging one."""
    qtbot.waitUntil(lambda: all(strip.tile(i).x() < strip.tile(i + 1).x() for i in range(len(strip.images()) - 1)))


# ----- adding ----------------------------------------------------------------------------------------------------
def test_empty_strip_is_compact(qtbot) -> None:
    panel = PromptPanel()
    qtbot.addWidget(panel)
    strip = ImageStrip()
    panel.add_strip(strip)
    panel.resize(380, 500)
    panel.show()
    qtbot.waitExposed(panel)
    assert strip.height() < 2 * strip.add_button.height()  # one row: button, hint, budget
    assert strip.images() == [] and strip.names() == []
    assert not strip.scroll.isVisible()
    assert strip.add_button.isVisible() and strip.add_button.text() == "Add image…"
    assert strip.summary_label.text() == "Drop or paste images here"
    assert [strip.budget_box.itemData(i) for i in range(strip.budget_box.count())] == list(BUDGETS)
    assert "faster" in strip.budget_box.toolTip() and "detail" in strip.budget_box.toolTip()


def test_budgets_match_the_processor() -> None:
    from models.checkpoint.processing import IMAGE_TOKEN_BUDGETS

    assert BUDGETS == IMAGE_TOKEN_BUDGETS


def test_drop_files_of_every_format_keeps_their_order(qtbot, strip: ImageStrip, tmp_path: Path) -> None:
    gif = tmp_path / "anim.gif"
    frames = [Image.new("RGB", (40, 30), c) for c in (MAGENTA, GREEN)]
    frames[0].save(gif, save_all=True, append_images=frames[1:], duration=100)
    paths = [
        save(tmp_path / "a.png", RED),
        save(tmp_path / "b.jpg", GREEN, quality=95),
        save(tmp_path / "c.webp", BLUE, lossless=True),
        save(tmp_path / "d.bmp", YELLOW),
        gif,
    ]
    changed = count_signals(strip.changed)
    refused = count_signals(strip.refused)

    assert drop(strip, file_mime(*paths))

    assert_colours(strip, [RED, GREEN, BLUE, YELLOW, MAGENTA])  # the GIF's first frame
    assert strip.names() == ["a.png", "b.jpg", "c.webp", "d.bmp", "anim.gif"]
    assert all(image.mode == "RGB" for image in strip.images())
    assert len(changed) == 1 and refused == []
    assert strip.tile(0).size_label.text() == "40×30"
    assert strip.summary_label.text() == "5 images"
    assert strip.scroll.isVisible()
    xs = [strip.tile(i).mapTo(strip, QPoint(0, 0)).x() for i in range(5)]
    assert xs == sorted(xs)


def test_drop_raw_image_data(strip: ImageStrip) -> None:
    mime = QMimeData()
    mime.setImageData(qimage(GREEN, 50, 20))
    assert drop(strip, mime)
    assert_colours(strip, [GREEN])
    assert strip.images()[0].size == (50, 20)
    assert strip.names() == ["dropped image"]


def test_text_drag_is_not_accepted(strip: ImageStrip) -> None:
    mime = QMimeData()
    mime.setText("just words")
    assert not drop(strip, mime)
    assert strip.add_mime_data(mime) == 0
    assert strip.images() == []


def test_paste_image_from_clipboard(strip: ImageStrip) -> None:
    QGuiApplication.clipboard().setImage(qimage(BLUE))
    assert strip.paste_from_clipboard()
    assert_colours(strip, [BLUE])
    assert strip.names() == ["pasted image"]


def test_paste_with_text_only_changes_nothing(three: ImageStrip) -> None:
    QGuiApplication.clipboard().setText("not an image")
    changed, refused = count_signals(three.changed), count_signals(three.refused)
    assert three.paste_from_clipboard() is False
    assert_colours(three, [RED, GREEN, BLUE])
    assert changed == [] and refused == []


def test_add_button_opens_the_file_chooser(qtbot, strip: ImageStrip, tmp_path: Path, monkeypatch) -> None:
    picked = [save(tmp_path / "x.png", YELLOW), save(tmp_path / "y.png", RED)]
    monkeypatch.setattr(strip, "choose_files", lambda: [str(p) for p in picked])
    with qtbot.waitSignal(strip.changed):
        qtbot.mouseClick(strip.add_button, Qt.MouseButton.LeftButton)
    assert_colours(strip, [YELLOW, RED])
    monkeypatch.setattr(strip, "choose_files", lambda: [])  # cancelled dialog
    qtbot.mouseClick(strip.add_button, Qt.MouseButton.LeftButton)
    assert len(strip.images()) == 2


# ----- removing and reordering -----------------------------------------------------------------------------------
def test_remove_by_clicking_the_cross(qtbot, three: ImageStrip) -> None:
    with qtbot.waitSignal(three.changed):
        qtbot.mouseClick(three.tile(1).remove_button, Qt.MouseButton.LeftButton)
    assert_colours(three, [RED, BLUE])
    assert three.names() == ["0.png", "2.png"]
    assert three.summary_label.text() == "2 images"


def test_move_buttons_and_context_menu(qtbot, three: ImageStrip) -> None:
    assert not three.tile(0).left_button.isEnabled() and not three.tile(2).right_button.isEnabled()
    qtbot.mouseClick(three.tile(0).right_button, Qt.MouseButton.LeftButton)
    assert_colours(three, [GREEN, RED, BLUE])
    qtbot.mouseClick(three.tile(2).left_button, Qt.MouseButton.LeftButton)
    assert_colours(three, [GREEN, BLUE, RED])
    assert not three.tile(0).left_button.isEnabled() and three.tile(0).right_button.isEnabled()

    menu = three.tile(1).context_menu()
    actions = {action.text(): action for action in menu.actions()}
    assert set(actions) == {"Move left", "Move right", "Remove"}
    actions["Move left"].trigger()
    assert_colours(three, [BLUE, GREEN, RED])
    assert not three.tile(0).context_menu().actions()[0].isEnabled()  # the first cannot move left
    three.tile(2).context_menu().actions()[2].trigger()
    assert_colours(three, [BLUE, GREEN])
    menu.deleteLater()


def test_move_and_remove_api(three: ImageStrip) -> None:
    changed = count_signals(three.changed)
    three.move(0, 2)
    assert_colours(three, [GREEN, BLUE, RED])
    three.move(1, 1)
    assert len(changed) == 1
    with pytest.raises(IndexError):
        three.move(0, 3)
    three.remove(0)
    assert_colours(three, [BLUE, RED])


def test_drag_a_thumbnail_to_the_end(qtbot, three: ImageStrip) -> None:
    last = three.tile(2)
    right_of_last = last.mapTo(three, QPoint(last.width() - 2, last.height() // 2))
    assert drop(three, ImageStrip.reorder_mime(0), right_of_last)
    assert_colours(three, [GREEN, BLUE, RED])
    wait_laid_out(qtbot, three)
    first = three.tile(0)
    left_of_first = first.mapTo(three, QPoint(2, first.height() // 2))
    assert drop(three, ImageStrip.reorder_mime(2), left_of_first)
    assert_colours(three, [RED, GREEN, BLUE])
    assert not three._marker.isVisible()


def test_set_images_and_clear(three: ImageStrip) -> None:
    images, names = three.images(), three.names()
    changed = count_signals(three.changed)
    three.clear()
    assert three.images() == [] and not three.scroll.isVisible()
    three.clear()  # already empty: no signal
    three.set_images(images[::-1], names[::-1])
    assert_colours(three, [BLUE, GREEN, RED])
    assert three.names() == ["2.png", "1.png", "0.png"]
    assert len(changed) == 2


# ----- what each image becomes -----------------------------------------------------------------------------------
def test_exif_orientation_is_applied(strip: ImageStrip, tmp_path: Path) -> None:
    image = Image.new("RGB", (60, 20), BLUE)
    image.paste(RED, (0, 0, 30, 20))  # left half red
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90° clockwise to display
    path = tmp_path / "phone.jpg"
    image.save(path, exif=exif, quality=95)
    assert strip.add_files([path]) == 1
    shown = strip.images()[0]
    assert shown.size == (20, 60)
    assert close_to(shown.getpixel((10, 5)), RED, 30) and close_to(shown.getpixel((10, 55)), BLUE, 30)
    assert strip.tile(0).size_label.text() == "20×60"


def test_transparency_is_flattened_on_white(strip: ImageStrip, tmp_path: Path) -> None:
    path = tmp_path / "clear.png"
    Image.new("RGBA", (30, 30), (0, 0, 0, 0)).save(path)
    strip.add_files([path])
    assert strip.images()[0].mode == "RGB"
    assert centre_colour(strip.images()[0]) == (255, 255, 255)


def test_big_image_is_scaled_down_and_its_thumbnail_stays_small(strip: ImageStrip, tmp_path: Path) -> None:
    strip.add_files([save(tmp_path / "wide.png", GREEN, (5000, 100))])
    image = strip.images()[0]
    assert max(image.size) <= 2048 and image.width / image.height == pytest.approx(50, rel=0.05)
    pixmap = strip.tile(0).picture.pixmap()
    assert pixmap.width() / pixmap.devicePixelRatio() <= 144 and pixmap.height() / pixmap.devicePixelRatio() <= 72


# ----- refusals --------------------------------------------------------------------------------------------------
def bomb_png(path: Path, side: int = 20000) -> Path:
    """A PNG whose header claims side x side pixels, without ever holding them."""
    Image.new("1", (8, 8)).save(path)
    data = bytearray(path.read_bytes())
    data[16:24] = struct.pack(">II", side, side)  # IHDR width, height
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))  # CRC over "IHDR" + its 13 bytes
    path.write_bytes(bytes(data))
    return path


def bad_files(tmp_path: Path) -> dict[str, Path]:
    text = tmp_path / "notes.txt"
    text.write_text("hello, not an image")
    truncated = tmp_path / "cut.png"
    Image.effect_noise((64, 64), 40).convert("RGB").save(truncated)
    truncated.write_bytes(truncated.read_bytes()[: truncated.stat().st_size // 2])
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    folder = tmp_path / "photos.png"
    folder.mkdir()
    return {
        "notes.txt": text,
        "cut.png": truncated,
        "empty.png": empty,
        "bomb.png": bomb_png(tmp_path / "bomb.png"),
        "photos.png": folder,
        "missing.png": tmp_path / "missing.png",
    }


def test_bad_files_are_refused_by_name_and_the_good_ones_kept_in_order(strip: ImageStrip, tmp_path: Path) -> None:
    strip.add_files([save(tmp_path / "before.png", YELLOW)])
    bad = bad_files(tmp_path)
    good_1, good_2 = save(tmp_path / "one.png", RED), save(tmp_path / "two.png", BLUE)
    changed, refused = count_signals(strip.changed), count_signals(strip.refused)

    assert drop(strip, file_mime(good_1, *bad.values(), good_2))

    assert_colours(strip, [YELLOW, RED, BLUE])
    assert strip.names() == ["before.png", "one.png", "two.png"]
    assert len(changed) == 1 and len(refused) == 1
    lines = refused[0][0].splitlines()
    assert len(lines) == len(bad)
    for line, name in zip(lines, bad, strict=True):
        assert name in line
    assert "empty" in lines[2] and "folder" in lines[4] and "does not exist" in lines[5]


def test_refusal_only_drop_changes_nothing(strip: ImageStrip, tmp_path: Path) -> None:
    strip.add_files([save(tmp_path / "keep.png", GREEN)])
    changed, refused = count_signals(strip.changed), count_signals(strip.refused)
    text = tmp_path / "readme.txt"
    text.write_text("words")
    assert drop(strip, file_mime(text))
    remote = QMimeData()
    remote.setUrls([QUrl("https://example.com/cat.png")])
    assert drop(strip, remote)
    assert changed == []
    assert [r[0] for r in refused] == [
        "readme.txt is not a readable image (PNG, JPEG, WebP, BMP or GIF)",
        "https://example.com/cat.png is not a file on this computer",
    ]
    assert_colours(strip, [GREEN])


@pytest.mark.parametrize("side", [8000, 20000])  # above the app's 40 MP limit; above PIL's own bomb limit too
def test_decompression_bomb_is_refused_without_allocating_it(strip: ImageStrip, tmp_path: Path, side: int) -> None:
    bomb = bomb_png(tmp_path / "huge.png", side)
    assert bomb.stat().st_size < 1000
    refused = count_signals(strip.refused)
    peak_before_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    assert strip.add_files([bomb]) == 0
    grown_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak_before_kib
    assert grown_kib < 100_000  # 8000 x 8000 RGB would be 192 MB, 20000 x 20000 1.2 GB
    assert len(refused) == 1 and refused[0][0].startswith("huge.png is ")
    assert strip.images() == []


def test_an_unexpected_decoder_error_is_refused_like_any_other(strip: ImageStrip, tmp_path: Path, monkeypatch) -> None:
    import widgets.prompt.image_input as module  # where the window reads the files it is given

    real = module.load_image_file

    def fragile(path):
        if Path(path).name == "odd.png":
            raise struct.error("unpack requires a buffer of 4 bytes")  # what a crafted chunk can make PIL raise
        return real(path)

    monkeypatch.setattr(module, "load_image_file", fragile)
    refused = count_signals(strip.refused)
    paths = [save(tmp_path / "a.png", RED), save(tmp_path / "odd.png", GREEN), save(tmp_path / "c.png", BLUE)]
    assert strip.add_files(paths) == 2
    assert_colours(strip, [RED, BLUE])
    assert "odd.png could not be read" in refused[0][0]


def test_drop_raw_encoded_bytes_keeps_exif(strip: ImageStrip, tmp_path: Path) -> None:
    exif = Image.Exif()
    exif[0x0112] = 6
    path = save(tmp_path / "phone.jpg", RED, (60, 20), exif=exif)
    mime = QMimeData()
    mime.setData("image/jpeg", path.read_bytes())
    assert drop(strip, mime)
    assert strip.images()[0].size == (20, 60)


def test_broken_pasted_data_is_refused(strip: ImageStrip) -> None:
    mime = QMimeData()
    mime.setData("image/png", b"\x89PNG\r\n\x1a\n not really")
    refused = count_signals(strip.refused)
    assert strip.add_mime_data(mime, "pasted image") == 0
    assert strip.images() == []
    assert refused and refused[0][0].startswith("pasted image is")


# ----- tokens ----------------------------------------------------------------------------------------------------
def test_budget_combo_changes_budget_and_token_label(qtbot, three: ImageStrip) -> None:
    three.set_budget(70)
    assert three.summary_label.text() == "3 images"
    assert not three.tile(0).tokens_label.isVisible()
    three.set_token_counter(lambda image, budget: budget // 2)
    assert three.summary_label.text() == f"3 images · {3 * (35 + 2)} prompt tokens ({3 * 35} image + 6 markers)"
    assert three.tile(0).tokens_label.text() == "35 tokens" and three.tile(0).tokens_label.isVisible()

    three.budget_box.setFocus()
    with qtbot.waitSignal(three.changed):
        qtbot.keyClick(three.budget_box, Qt.Key.Key_Down)
    assert three.budget() == 140
    assert three.summary_label.text() == f"3 images · {3 * (70 + 2)} prompt tokens ({3 * 70} image + 6 markers)"
    assert three.tile(2).tokens_label.text() == "70 tokens"
    three.set_token_counter(None)
    assert three.summary_label.text() == "3 images" and three.prompt_tokens() is None
    with pytest.raises(ValueError):
        three.set_budget(100)


def test_token_count_from_the_real_processor(qtbot, strip: ImageStrip, vision_checkpoint, tmp_path: Path) -> None:
    from models.checkpoint.processing import image_token_count, load_processor

    processor = load_processor(vision_checkpoint)
    strip.set_token_counter(lambda image, budget: image_token_count(processor, image, budget))
    strip.add_files([save(tmp_path / "photo.jpg", GREEN, (640, 480))])

    def label_total() -> int:
        match = re.fullmatch(r"1 image · (\d+) prompt tokens \(\d+ image \+ 2 markers\)", strip.summary_label.text())
        assert match, strip.summary_label.text()
        return int(match.group(1))

    strip.set_budget(70)
    low = label_total()
    strip.set_budget(280)
    high = label_total()
    image = strip.images()[0]
    assert low == image_token_count(processor, image, 70) + 2
    assert high == image_token_count(processor, image, 280) + 2
    assert low < high


# ----- looks -----------------------------------------------------------------------------------------------------
def test_strip_sits_in_the_prompt_panel(qtbot, tmp_path: Path) -> None:
    panel = PromptPanel()
    qtbot.addWidget(panel)
    strip = ImageStrip()
    panel.add_strip(strip)
    strip.set_token_counter(lambda image, budget: budget - 6)
    strip.add_files(
        [
            save(tmp_path / f"{i}.png", c, s)
            for i, (c, s) in enumerate(((RED, (640, 480)), (GREEN, (300, 600)), (BLUE, (1200, 300))))
        ]
    )
    panel.resize(380, 520)
    panel.show()
    qtbot.waitExposed(panel)
    top = strip.mapTo(panel, QPoint(0, 0)).y()
    assert panel.user_edit.geometry().bottom() < top < panel.think_box.geometry().top()
    assert strip.summary_label.text() == f"3 images · {3 * (274 + 2)} prompt tokens ({3 * 274} image + 6 markers)"
    assert panel.grab().save(str(tmp_path / "strip.png"))
