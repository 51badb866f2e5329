"""Session files, the public face: save a workspace, open one (format 2, or a format-1 file of its model).

    save_workspace(path, ws)            atomic; SessionError (the old file intact) when it cannot
    open_session(path, model, tokenizer) the whole file checked first; SessionError naming the file and why
"""

from __future__ import annotations

from models.session.format_v1 import NeedsItsModel
from models.session.reading import open_session, session_from_bytes
from models.session.writing import FORMAT, SUFFIX, VERSION, SessionError, save_workspace, session_bytes

__all__ = ["FORMAT", "SUFFIX", "VERSION", "NeedsItsModel", "SessionError", "open_session", "save_workspace",
           "session_bytes", "session_from_bytes"]
