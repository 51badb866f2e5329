"""The server's bearer token: made once, kept in a file only its owner can read, compared in constant time."""

from __future__ import annotations

import hmac
import os
import secrets
import stat
from pathlib import Path

from models.inputs.safe_files import UserFileError, check_user_file, read_user_file

TOKEN_BYTES = 32  # 256 bits of randomness, as URL-safe text (43 characters)
MAX_TOKEN_FILE_BYTES = 4096


class TokenError(ValueError):
    """The token file cannot be read or made safely; the message says what to do."""


def default_token_file() -> Path:
    """$XDG_CONFIG_HOME/diffusion-desk/server-token (~/.config/... when unset)."""
    base = os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config"
    return Path(base) / "diffusion-desk" / "server-token"


def load_or_create_token(path: str | os.PathLike) -> tuple[str, bool]:
    """(token, created): the file's token, or a new random one written to a new file with mode 0600."""
    file = Path(path).expanduser()
    if os.path.lexists(file):  # whatever is there (a FIFO, a folder) is read_token's to refuse, never replaced
        return read_token(file, check_private=True), False
    token = secrets.token_urlsafe(TOKEN_BYTES)
    try:
        file.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as error:  # a parent that is a file (/etc/hostname/token), or no permission
        raise TokenError(f"cannot make the folder for the token file {file}: {error.strerror or error}") from error
    temporary = file.with_name(f".{file.name}.{secrets.token_hex(8)}.tmp")
    try:
        # Created with mode 0600 from the start (O_EXCL: never through a file or link someone else made), written
        # whole, then linked into place: a reader sees no file or the whole token, and an existing file is kept.
        handle = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
        with os.fdopen(handle, "w", encoding="ascii") as out:
            out.write(token + "\n")
            out.flush()
            os.fsync(out.fileno())
        os.link(temporary, file)
    except FileExistsError:
        return read_token(file, check_private=True), False  # made by another process meanwhile
    except OSError as error:
        raise TokenError(f"cannot write the token file {file}: {error.strerror or error}") from error
    finally:
        temporary.unlink(missing_ok=True)
    return token, True


def read_token(path: str | os.PathLike, *, check_private: bool = False) -> str:
    """The token in a file (its first line); with `check_private`, refuse a file others can read."""
    file = Path(path).expanduser()
    try:
        # A FIFO would block the read forever, a device never end: only a small regular file is read.
        if check_private and os.name == "posix":
            mode = check_user_file(file, MAX_TOKEN_FILE_BYTES, "token").stat().st_mode
            if mode & (stat.S_IRWXG | stat.S_IRWXO):
                raise TokenError(
                    f"token file {file} can be read by other users (mode {stat.S_IMODE(mode):04o}); "
                    f"run `chmod 600 {file}`"
                )
        text = read_user_file(file, MAX_TOKEN_FILE_BYTES, "token").decode("ascii")
    except UserFileError as error:
        if not os.path.lexists(file):
            raise TokenError(f"no token file at {file}") from error
        raise TokenError(f"cannot use the token file: {error}") from error
    except (OSError, UnicodeDecodeError) as error:
        raise TokenError(f"cannot read the token file {file}: {getattr(error, 'strerror', None) or error}") from error
    token = text.strip().splitlines()[0].strip() if text.strip() else ""
    if len(token) < 16:
        raise TokenError(f"token file {file} holds no token (at least 16 characters)")
    return token


def token_matches(presented: str | None, expected: str) -> bool:
    """Constant-time comparison, so the time taken says nothing about how much of a guess was right."""
    if presented is None:
        return False
    return hmac.compare_digest(presented.encode("utf-8"), expected.encode("utf-8"))


def bearer(authorization: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` header value, or None."""
    if not authorization:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None
