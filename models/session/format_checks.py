"""What every session format checks alike: its header (format and version) and its sampler settings."""

from __future__ import annotations

from models.inputs.json_fields import FieldError, Fields
from models.session.writing import FORMAT, VERSION, SessionError
from models.work.settings import SamplerSettings


def check_header(header: Fields) -> int:
    """The file's format version, refusing foreign and newer files."""
    if header.data.get("format") != FORMAT:
        raise SessionError("not a Diffusion Desk session")
    version = header.data.get("version")
    if isinstance(version, bool) or not isinstance(version, int):
        raise SessionError("its format version is missing")
    if version > VERSION:
        raise SessionError(f"made by a newer Diffusion Desk (session format {version}); this one reads formats 1 "
                           f"to {VERSION}")
    if version < 1:
        raise SessionError(f"unknown session format {version}")
    return version


def settings_from(fields: Fields) -> SamplerSettings:
    if "compile" in fields.data:  # absent in older files; present, it must be a flag (null reached the window)
        fields.flag("compile")
    seed = fields.data.get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise FieldError(f"{fields.where}.seed must be a whole number")
    return SamplerSettings.from_dict(dict(fields.data))
