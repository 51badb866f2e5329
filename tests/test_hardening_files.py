"""User files: read only regular files of bounded size; writes are atomic, follow symlinks, take long names."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image

from models.inputs.safe_files import (
    UserFileError,
    check_save_target,
    read_user_file,
    remove_stale_temporaries,
    write_atomic,
)
from models.session.files import SUFFIX, SessionError, open_session, save_workspace
from tests.session_helpers import workspace_with_run


@pytest.fixture
def fifo(tmp_path: Path) -> Path:
    path = tmp_path / "pipe"
    os.mkfifo(path)
    return path


def test_a_regular_file_is_read(tmp_path: Path) -> None:
    file = tmp_path / "data.bin"
    file.write_bytes(b"abc" * 100)
    assert read_user_file(file, 300, "test") == b"abc" * 100


@pytest.mark.timeout(20)
def test_a_named_pipe_is_refused_at_once(fifo: Path) -> None:
    # Nobody writes to the pipe: opening it would block forever (the timeout above fails the test then).
    with pytest.raises(UserFileError, match=r"pipe is a named pipe \(FIFO\), not a regular file"):
        read_user_file(fifo, 1000, "image")


@pytest.mark.parametrize(("path", "kind"), [("/dev/zero", "a device"), ("/dev/null", "a device")])
def test_a_device_is_refused_without_reading(path: str, kind: str) -> None:
    with pytest.raises(UserFileError, match=f"{path} is {kind}, not a regular file"):
        read_user_file(path, 1000, "session")


def test_a_folder_a_missing_file_and_a_large_file_are_named(tmp_path: Path) -> None:
    with pytest.raises(UserFileError, match="is a folder, not a regular file"):
        read_user_file(tmp_path, 1000, "image")
    with pytest.raises(UserFileError, match="missing.png does not exist"):
        read_user_file(tmp_path / "missing.png", 1000, "image")
    big = tmp_path / "big.png"
    big.write_bytes(b"x" * 2001)
    with pytest.raises(UserFileError, match=r"big.png is too large \(2,001 bytes; the limit for image files is 2,000"):
        read_user_file(big, 2000, "image")


def test_write_atomic_replaces_the_file_and_leaves_nothing_else(tmp_path: Path) -> None:
    target = tmp_path / "out.json"
    target.write_text("old")
    target.chmod(0o640)
    write_atomic(target, b"new")
    assert target.read_bytes() == b"new"
    assert (target.stat().st_mode & 0o777) == 0o640  # an existing file keeps its permissions
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.json"]


def test_a_legal_250_byte_name_works_and_a_256_byte_one_is_named(tmp_path: Path) -> None:
    long_name = "a" * 245 + ".json"
    assert len(long_name.encode()) == 250
    write_atomic(tmp_path / long_name, b"{}")
    assert (tmp_path / long_name).read_bytes() == b"{}"
    with pytest.raises(UserFileError, match="File name too long"):
        write_atomic(tmp_path / ("b" * 251 + ".json"), b"{}")
    assert sorted(p.name for p in tmp_path.iterdir()) == [long_name]


def test_saving_onto_a_symlink_writes_its_target(tmp_path: Path) -> None:
    real = tmp_path / "real.json"
    real.write_text("old")
    link = tmp_path / "link.json"
    link.symlink_to(real)
    write_atomic(link, b"new")
    assert link.is_symlink() and os.readlink(link) == str(real)
    assert real.read_bytes() == b"new"


@pytest.mark.parametrize(
    ("code", "words"), [(errno.ENOSPC, "No space left on device"), (errno.EROFS, "Read-only file system")]
)
def test_a_failed_write_keeps_the_old_file_and_names_it(tmp_path: Path, monkeypatch, code: int, words: str) -> None:
    target = tmp_path / "keep.json"
    target.write_text("precious")
    real_write = os.write

    def failing_write(handle: int, data) -> int:
        if os.path.basename(os.readlink(f"/proc/self/fd/{handle}")).startswith(".dd-"):
            raise OSError(code, os.strerror(code))
        return real_write(handle, data)

    monkeypatch.setattr(os, "write", failing_write)
    with pytest.raises(UserFileError, match=f"could not save {target}: {words}.*old file is unchanged"):
        write_atomic(target, b"x" * 100_000)
    monkeypatch.undo()
    assert target.read_text() == "precious"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.json"]


def test_a_folder_the_system_will_not_write_gives_a_message(tmp_path: Path) -> None:
    if not Path("/proc/self").is_dir():
        pytest.skip("needs Linux's /proc")
    with pytest.raises(UserFileError, match="could not save /proc/x.json: .*nothing was written"):
        write_atomic("/proc/x.json", b"{}")


def test_save_target_check_refuses_folders_and_missing_folders(tmp_path: Path, fifo: Path) -> None:
    check_save_target(tmp_path / "new.json")
    with pytest.raises(UserFileError, match="it is a folder"):
        check_save_target(tmp_path)
    with pytest.raises(UserFileError, match="it is a named pipe"):
        check_save_target(fifo)
    with pytest.raises(UserFileError, match="the folder .*nowhere does not exist"):
        check_save_target(tmp_path / "nowhere" / "x.json")


def test_a_temporary_left_by_a_killed_save_is_cleaned_on_the_next_save(tmp_path: Path) -> None:
    """A real kill: a child process is killed in the middle of a large save into the folder."""
    target = tmp_path / "big.json"
    target.write_text("old")
    code = (
        "import os, sys, time\nfrom models.inputs import safe_files\nreal = os.fsync\n"
        "def slow(fd):\n    print('writing', flush=True)\n    time.sleep(60)\n"
        "safe_files.os.fsync = slow\nsafe_files.write_atomic(sys.argv[1], b'x' * 5_000_000)\n"
    )
    child = subprocess.Popen(
        [sys.executable, "-c", code, str(target)], cwd=Path(__file__).parent.parent, stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout.readline().strip() == "writing"
    finally:
        child.kill()
        child.wait()
    left = [p for p in tmp_path.iterdir() if p.name.startswith(".dd-")]
    assert len(left) == 1 and left[0].stat().st_size == 5_000_000 and target.read_text() == "old"
    write_atomic(tmp_path / "other.json", b"{}")  # any save into the folder
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.json", "other.json"]


def test_a_live_process_temporary_is_kept_until_it_is_an_hour_old(tmp_path: Path) -> None:
    fresh = tmp_path / ".dd-1-abcdef.tmp"  # pid 1 is always alive
    fresh.write_bytes(b"in progress")
    unrelated = tmp_path / ".dd-notours.tmp"
    unrelated.write_bytes(b"someone else's")
    assert remove_stale_temporaries(tmp_path) == []
    old = time.time() - 2 * 3600
    os.utime(fresh, (old, old))
    assert remove_stale_temporaries(tmp_path) == [fresh]
    assert unrelated.exists()


def test_save_session_takes_long_names_and_symlinks(tmp_path: Path, loaded_text) -> None:
    name = "s" * 245 + SUFFIX
    ws = workspace_with_run(loaded_text, seed=1)
    save_workspace(tmp_path / name, ws)
    assert open_session(tmp_path / name).document.ids.tolist() == ws.document.ids.tolist()
    link = tmp_path / "link.ddsession"
    link.symlink_to(tmp_path / name)
    other = workspace_with_run(loaded_text, seed=2)
    save_workspace(link, other)
    assert link.is_symlink() and open_session(tmp_path / name).runs[1].seed == 2


def test_save_session_failure_is_a_session_error_naming_the_file(tmp_path: Path, loaded_text) -> None:
    with pytest.raises(SessionError, match="could not save .*nowhere.*does not exist"):
        save_workspace(tmp_path / "nowhere" / "s.ddsession", workspace_with_run(loaded_text))


def test_save_png_writes_atomically_through_a_symlink(qtbot, tmp_path: Path) -> None:
    from PySide6.QtWidgets import QLabel

    from app.shell.main import save_png

    label = QLabel("hello")
    qtbot.addWidget(label)
    label.resize(40, 20)
    real = tmp_path / "shot.png"
    real.write_bytes(b"old")
    link = tmp_path / "link.png"
    link.symlink_to(real)
    save_png(label, str(link))
    assert link.is_symlink() and Image.open(real).size[0] >= 40
    with pytest.raises(OSError, match="could not save .*nothing was written"):
        save_png(label, "/proc/shot.png")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link.png", "shot.png"]
