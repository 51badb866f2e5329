"""Why a checkpoint did not load: errors whose message a user can act on, and a cancelled load."""

from __future__ import annotations


class LoadError(RuntimeError):
    """The checkpoint cannot be loaded; the message says why in words a user can act on."""


class LoadCancelled(RuntimeError):
    """The user cancelled the load."""
