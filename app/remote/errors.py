"""Error codes on the wire, and the exceptions they stand for on each side.

The server sends `{"type": "error", "code": ..., "message": ...}`; the client raises the engine's own exception for
the codes that have one (so the command line reports a bad setting, image or edit exactly as it does locally) and
RemoteError for the rest.
"""

from __future__ import annotations

from app.remote.messages import RequestError
from models.checkpoint.load_errors import LoadError
from models.engine.edit_plans import EditError
from models.inputs.images import ImageError
from models.inputs.validation import InputError
from models.work.settings import SettingsError


class ServerBusy(RuntimeError):
    """The engine's queue is full (or a model switch waits for a free engine)."""


class NotAllowed(PermissionError):
    """The server's operator did not allow this (a model switch without --allow-model-switch)."""


class RemoteError(RuntimeError):
    """The server refused a request or the connection failed; `code` says which (see docs/remote-protocol.md)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


# Most specific first: EditError, ImageError, SettingsError, InputError and RequestError are all ValueErrors.
_CODES: tuple[tuple[type[Exception], str], ...] = (
    (SettingsError, "settings"),
    (EditError, "edit"),
    (ImageError, "image"),
    (LoadError, "load"),
    (InputError, "input"),
    (RequestError, "invalid"),
    (ServerBusy, "busy"),
    (NotAllowed, "not_allowed"),
)
REQUEST_ERRORS = tuple(cls for cls, _ in _CODES)


def code_of(error: BaseException) -> str:
    """The wire code of an exception the server reports to a client."""
    for cls, code in _CODES:
        if isinstance(error, cls):
            return code
    return "internal"


def exception_for(code: str, message: str) -> Exception:
    """What the client raises for an error message: the engine's exception where there is one."""
    local = {"settings": SettingsError, "edit": EditError, "image": ImageError, "load": LoadError, "input": InputError}
    cls = local.get(code)
    return cls(message) if cls is not None else RemoteError(code, message)
