"""Files at the edges: read a user's file only when it is a regular file of bounded size; write atomically.

`read_user_file(path, max_bytes, what)` refuses named pipes (which would block forever), devices such as /dev/zero
(which never end), folders, and files over `max_bytes`, with a message naming the file and why.

`write_atomic(path, data)` writes to a short-named temporary file in the target's folder, fsyncs it and renames it
over the target, so a failure (full disk, read-only folder, kill) leaves the old file as it was. Saving onto a
symlink writes the file it points to, and the link stays. Temporary files are named `.dd-<pid>-<random>.tmp`: short,
so any legal file name works, and recognisable, so one left by a killed process is removed on the next save into
that folder.
"""

from __future__ import annotations

import errno
import os
import re
import secrets
import stat
import threading
import time
from pathlib import Path

MiB = 1 << 20
TEMP_PREFIX = ".dd-"
TEMP_SUFFIX = ".tmp"
_TEMP_NAME = re.compile(r"\.dd-(\d+)-[0-9a-f]{6}\.tmp")
STALE_AFTER_S = 3600.0  # a temporary file this old is stale even if its process id is alive again (reused)
_in_flight: set[str] = set()  # this process's temporaries being written now (never cleaned as stale)
_in_flight_lock = threading.Lock()


class UserFileError(ValueError):
    """A file cannot be read or written; the message names the file and says why."""


def describe_kind(mode: int) -> str:
    """What a non-regular file is, in words."""
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def _size_text(size: int) -> str:
    return f"{size / MiB:.1f} MiB" if size >= MiB else f"{size:,} bytes"


def check_user_file(path: str | os.PathLike, max_bytes: int, what: str) -> Path:
    """The path, if it names a regular file of at most `max_bytes`; else UserFileError. Opens nothing."""
    file = Path(path)
    try:
        info = file.stat()
    except FileNotFoundError as error:
        raise UserFileError(f"{file} does not exist") from error
    except OSError as error:
        raise UserFileError(f"{file} cannot be read ({error.strerror or error})") from error
    except ValueError as error:  # a NUL character: no file can have that name
        raise UserFileError(f"{str(file)!r} is not a valid file name ({error})") from error
    _check_stat(file, info, max_bytes, what)
    return file


def _check_stat(file: Path, info: os.stat_result, max_bytes: int, what: str) -> None:
    if not stat.S_ISREG(info.st_mode):
        raise UserFileError(f"{file} is {describe_kind(info.st_mode)}, not a regular file ({what} expected)")
    if info.st_size > max_bytes:
        raise UserFileError(
            f"{file} is too large ({_size_text(info.st_size)}; the limit for {what} files is {_size_text(max_bytes)})"
        )


def read_user_file(path: str | os.PathLike, max_bytes: int, what: str) -> bytes:
    """The bytes of a regular file of at most `max_bytes`; UserFileError (naming the file) for anything else.

    `what` names the kind of file in messages ("image", "session", "config.json").
    """
    file = check_user_file(path, max_bytes, what)  # before opening: opening a FIFO or a device can block or act
    try:
        # O_NONBLOCK: if the path was swapped for a FIFO since the check, open returns at once instead of hanging.
        handle = os.open(file, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except OSError as error:
        raise UserFileError(f"{file} cannot be read ({error.strerror or error})") from error
    try:
        _check_stat(file, os.fstat(handle), max_bytes, what)  # the file actually opened
        chunks: list[bytes] = []
        left = max_bytes + 1  # one byte more than allowed tells a file that grew past the limit
        while left > 0:
            chunk = os.read(handle, min(left, 8 * MiB))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
    except OSError as error:
        raise UserFileError(f"{file} cannot be read ({error.strerror or error})") from error
    finally:
        os.close(handle)
    data = b"".join(chunks)
    if len(data) > max_bytes:
        raise UserFileError(f"{file} is too large (the limit for {what} files is {_size_text(max_bytes)})")
    return data


def _follow(requested: Path, verb: str) -> tuple[Path, os.stat_result | None]:
    """(the file a save writes: a symlink's target, else the path itself; its stat, or None when it is new)."""
    target = Path(os.path.realpath(requested)) if os.path.islink(requested) else requested
    try:
        return target, target.stat()
    except FileNotFoundError:
        return target, None
    except OSError as error:
        raise UserFileError(f"{verb} {requested}: {_reason(error)}") from error
    except ValueError as error:  # a NUL character: no file can have that name
        raise UserFileError(f"{verb} {str(requested)!r}: not a valid file name ({error})") from error


def check_save_target(path: str | os.PathLike) -> None:
    """Cheap early check that `write_atomic(path, ...)` can work: its folder exists and it is no folder or device.

    Lets a caller refuse a bad save path before long work (a generation) rather than after it.
    """
    requested = Path(path)
    target, info = _follow(requested, "cannot save to")
    if info is not None and not stat.S_ISREG(info.st_mode):
        raise UserFileError(f"cannot save to {requested}: it is {describe_kind(info.st_mode)}")
    if not target.parent.is_dir():
        raise UserFileError(f"cannot save to {requested}: the folder {target.parent} does not exist")


def write_atomic(path: str | os.PathLike, data: bytes) -> None:
    """Replace the file at `path` with `data`, all or nothing; UserFileError naming the file on failure.

    A symlink is followed (its target is written). An existing file keeps its permission bits; a new one gets the
    usual permissions (0666 less the umask).
    """
    requested = Path(path)
    target, info = _follow(requested, "could not save")
    folder = target.parent
    mode: int | None = None
    if info is not None:
        if not stat.S_ISREG(info.st_mode):
            raise UserFileError(f"could not save {requested}: it is {describe_kind(info.st_mode)}")
        mode = stat.S_IMODE(info.st_mode)
    if not folder.is_dir():
        raise UserFileError(f"could not save {requested}: the folder {folder} does not exist")
    remove_stale_temporaries(folder)
    temporary = folder / f"{TEMP_PREFIX}{os.getpid()}-{secrets.token_hex(3)}{TEMP_SUFFIX}"
    with _in_flight_lock:
        _in_flight.add(str(temporary))
    try:
        _write_and_rename(temporary, target, data, mode)
    except OSError as error:
        _unlink_quietly(temporary)
        kept = "the old file is unchanged" if mode is not None else "nothing was written"
        raise UserFileError(f"could not save {requested}: {_reason(error)}; {kept}") from error
    finally:
        with _in_flight_lock:
            _in_flight.discard(str(temporary))


def _write_and_rename(temporary: Path, target: Path, data: bytes, mode: int | None) -> None:
    handle = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o666)
    try:
        if mode is not None:
            os.fchmod(handle, mode)
        view = memoryview(data)
        while view:
            written = os.write(handle, view)
            view = view[written:]
        os.fsync(handle)
    finally:
        os.close(handle)
    os.replace(temporary, target)
    _fsync_folder(target.parent)


def _fsync_folder(folder: Path) -> None:
    """Make the rename itself durable; not every system can open a folder for this, which is harmless."""
    try:
        handle = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(handle)
    except OSError:
        pass
    finally:
        os.close(handle)


def _reason(error: OSError) -> str:
    if error.errno == errno.ENOSPC:
        return "No space left on device (the disk is full)"
    if error.errno == errno.ENAMETOOLONG:
        return "File name too long for this file system"
    return error.strerror or str(error)


def remove_stale_temporaries(folder: str | os.PathLike) -> list[Path]:
    """Delete temporaries of our naming in `folder` that no running save owns; return what was removed."""
    removed: list[Path] = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    now = time.time()
    for entry in entries:
        match = _TEMP_NAME.fullmatch(entry.name)
        if match is None or not entry.is_file(follow_symlinks=False):
            continue
        with _in_flight_lock:
            if os.path.join(folder, entry.name) in _in_flight:
                continue
        try:
            age = now - entry.stat(follow_symlinks=False).st_mtime
        except OSError:
            continue
        pid = int(match.group(1))
        if age > STALE_AFTER_S or pid == os.getpid() or not _process_alive(pid):
            if _unlink_quietly(Path(entry.path)):
                removed.append(Path(entry.path))
    return removed


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, OSError):
        return True  # exists but is not ours, or cannot tell: leave its file alone until it is old
    return True


def _unlink_quietly(path: Path) -> bool:
    try:
        path.unlink()
    except OSError:
        return False
    return True
