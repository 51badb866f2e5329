"""The wire format of the remote engine (docs/remote-protocol.md): binary frames of a JSON header and raw buffers.

A frame is `MAGIC`, the header's length (uint32, little-endian), the header (a UTF-8 JSON object) and then the
buffers it refers to, back to back. In the header, `{"$array": i, "dtype": ..., "shape": [...]}` stands for a numpy
array whose little-endian bytes are buffer i, `{"$bytes": i}` for raw bytes (PNG images) and `{"$tuple": [...]}` for
a tuple. Nothing is ever pickled. Engine events travel field by field, so a field added to an event dataclass
travels with no change here; decoding checks every field against the dataclass's type hints and every array's
dtype and shape.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import struct
import types
import typing
from typing import Any

import numpy as np

from models.inputs.json_fields import JsonLimitError, loads_bounded, shown
from models.work.events import CanvasCommitted, Event, GenerationResult, StepSnapshot

PROTOCOL_VERSION = 2
#: What each version changed, told to a peer of an older one so its user knows why and what to do.
VERSION_CHANGES: dict[int, str] = {
    2: "version 2 added the sampler choice (entropy bound, block refinement, DDIM with corrector sweeps) to settings "
       "and marks corrector sweeps in step events",
}
MAGIC = b"DDRP"
MAX_FRAME_BYTES = 16 * 2**20  # a frame larger than this is refused (images included)
MAX_HEADER_BYTES = 2**20
_PREFIX = struct.Struct("<4sI")

EVENT_TYPES: dict[str, type] = {cls.__name__: cls for cls in (StepSnapshot, CanvasCommitted, GenerationResult)}
CANVAS_EVENTS = {"StepSnapshot", "CanvasCommitted"}  # their arrays are canvas-shaped: (canvas_length, ...)
# Plain little-endian numbers only: no objects, strings, records or big-endian data.
ALLOWED_DTYPES = {"|b1", "|i1", "<i2", "<i4", "<i8", "|u1", "<u2", "<u4", "<u8", "<f2", "<f4", "<f8"}
# The dtypes the engine documents; a field not listed here is held to ALLOWED_DTYPES only.
FIELD_DTYPES: dict[str, set[str]] = {
    "argmax": {"<i8"},
    "accepted": {"|b1"},
    "entropy": {"<f4"},
    "locked": {"|b1"},
    "editable": {"|b1"},
    "token_ids": {"<i8"},
    "prompt_ids": {"<i8"},
    "top_ids": {"<i8"},
    "top_probs": {"<f4"},
}
MAX_ARRAY_DIMS = 2


class ProtocolError(ValueError):
    """A frame or message that breaks the protocol; the message says what is wrong."""


# ---------------------------------------------------------------------------------------------- frames


def encode_frame(header: dict[str, Any]) -> bytes:
    """One frame from a header whose values may hold arrays, bytes and tuples (they become buffers)."""
    buffers: list[bytes] = []
    body = _encode_value(header, buffers)
    body["buffers"] = [len(b) for b in buffers]
    text = json.dumps(body, separators=(",", ":")).encode("utf-8")
    return b"".join([_PREFIX.pack(MAGIC, len(text)), text, *buffers])


def decode_frame(data: bytes, limit: int = MAX_FRAME_BYTES) -> dict[str, Any]:
    """The header of a frame, with arrays, bytes and tuples restored; ProtocolError if anything is off."""
    if len(data) > limit:
        raise ProtocolError(f"frame of {len(data)} bytes is over the limit of {limit} bytes")
    if len(data) < _PREFIX.size:
        raise ProtocolError(f"frame of {len(data)} bytes is too short to be a protocol frame")
    magic, length = _PREFIX.unpack_from(data)
    if magic != MAGIC:
        raise ProtocolError("not a Diffusion Desk protocol frame (bad magic bytes)")
    if length > MAX_HEADER_BYTES or _PREFIX.size + length > len(data):
        raise ProtocolError(f"frame header length {length} does not fit the frame ({len(data)} bytes)")
    try:  # numbers beyond ±2^63 and nesting deeper than MAX_JSON_DEPTH are refused here
        header = loads_bounded(bytes(data[_PREFIX.size : _PREFIX.size + length]))
    except JsonLimitError as error:
        raise ProtocolError(f"frame header: {error}") from error
    if not isinstance(header, dict) or not isinstance(header.get("type"), str):
        raise ProtocolError("frame header must be a JSON object with a string 'type'")
    sizes = header.pop("buffers", [])
    if not isinstance(sizes, list) or not all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in sizes):
        raise ProtocolError("frame header 'buffers' must be a list of byte counts")
    start = _PREFIX.size + length
    if start + sum(sizes) != len(data):
        raise ProtocolError(f"frame buffers add up to {sum(sizes)} bytes but {len(data) - start} follow the header")
    view = memoryview(data)
    buffers, used = [], [False] * len(sizes)
    for size in sizes:
        buffers.append(view[start : start + size])
        start += size
    decoded = _decode_value(header, buffers, used)
    if not all(used):
        raise ProtocolError("frame carries buffers that its header does not use")
    return decoded


def _encode_value(value: Any, buffers: list[bytes]) -> Any:
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, (int, float)):
        return value
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        array = np.ascontiguousarray(value)
        if array.dtype.byteorder == ">":
            array = array.astype(array.dtype.newbyteorder("<"))
        if array.dtype.str not in ALLOWED_DTYPES:
            raise ProtocolError(f"arrays of dtype {array.dtype} cannot travel (plain numbers only)")
        buffers.append(array.tobytes())
        return {"$array": len(buffers) - 1, "dtype": array.dtype.str, "shape": list(array.shape)}
    if isinstance(value, (bytes, bytearray, memoryview)):
        buffers.append(bytes(value))
        return {"$bytes": len(buffers) - 1}
    if isinstance(value, tuple):
        return {"$tuple": [_encode_value(v, buffers) for v in value]}
    if isinstance(value, list):
        return [_encode_value(v, buffers) for v in value]
    if isinstance(value, dict):
        if not all(isinstance(k, str) and not k.startswith("$") for k in value):
            raise ProtocolError("dictionary keys must be strings not starting with '$'")
        return {k: _encode_value(v, buffers) for k, v in value.items()}
    raise ProtocolError(f"a {type(value).__name__} cannot travel in a frame")


def _decode_value(value: Any, buffers: list[memoryview], used: list[bool]) -> Any:
    if isinstance(value, list):
        return [_decode_value(v, buffers, used) for v in value]
    if not isinstance(value, dict):
        return value
    tags = [k for k in value if k.startswith("$")]
    if not tags:
        return {k: _decode_value(v, buffers, used) for k, v in value.items()}
    if tags == ["$tuple"] and len(value) == 1 and isinstance(value["$tuple"], list):
        return tuple(_decode_value(v, buffers, used) for v in value["$tuple"])
    if tags == ["$bytes"] and len(value) == 1:
        return bytes(_take(value["$bytes"], buffers, used))
    if tags == ["$array"] and set(value) == {"$array", "dtype", "shape"}:
        return _array(value, _take(value["$array"], buffers, used))
    raise ProtocolError(f"unknown tagged value with keys {shown(sorted(value))}")


def _take(index: Any, buffers: list[memoryview], used: list[bool]) -> memoryview:
    if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < len(buffers) or used[index]:
        raise ProtocolError(f"buffer reference {shown(index)} is out of range or used twice")
    used[index] = True
    return buffers[index]


def _array(spec: dict[str, Any], buffer: memoryview) -> np.ndarray:
    dtype, shape = spec["dtype"], spec["shape"]
    if not isinstance(dtype, str) or dtype not in ALLOWED_DTYPES:
        raise ProtocolError(f"array dtype {shown(dtype)} is not allowed (plain little-endian numbers only)")
    # No size may exceed the frame limit: an empty array's other sizes would otherwise be unbounded ([0, 10**30]).
    if (
        not isinstance(shape, list)
        or len(shape) > MAX_ARRAY_DIMS
        or not all(isinstance(n, int) and not isinstance(n, bool) and 0 <= n <= MAX_FRAME_BYTES for n in shape)
    ):
        raise ProtocolError(
            f"array shape {shown(shape)} is not a list of at most {MAX_ARRAY_DIMS} sizes of 0 to {MAX_FRAME_BYTES}"
        )
    expected = math.prod(shape) * np.dtype(dtype).itemsize
    if expected != len(buffer):
        raise ProtocolError(f"array of dtype {dtype} and shape {shape} needs {expected} bytes, got {len(buffer)}")
    # A copy: the event owns its arrays (writable, like the local engine's), not a view into the frame.
    return np.frombuffer(buffer, dtype=np.dtype(dtype)).reshape(shape).copy()


# ---------------------------------------------------------------------------------------------- events


def event_header(run_id: int, event: Event) -> dict[str, Any]:
    """The header of an `event` message: the dataclass's name and every field as it is."""
    name = type(event).__name__
    if name not in EVENT_TYPES:
        raise ProtocolError(f"{name} is not an engine event")
    fields = {f.name: getattr(event, f.name) for f in dataclasses.fields(event)}
    return {"type": "event", "id": run_id, "event": name, "fields": fields}


def encode_event(run_id: int, event: Event) -> bytes:
    return encode_frame(event_header(run_id, event))


def decode_event(header: dict[str, Any], canvas_length: int) -> Event:
    """The event dataclass of an `event` message, every field checked against its type hint, dtype and shape."""
    name, values = header.get("event"), header.get("fields")
    cls = EVENT_TYPES.get(name) if isinstance(name, str) else None
    if cls is None:
        raise ProtocolError(f"unknown event {shown(name)}; this client knows {', '.join(EVENT_TYPES)}")
    if not isinstance(values, dict):
        raise ProtocolError(f"{name} needs a 'fields' object")
    declared = {f.name: f for f in dataclasses.fields(cls)}
    unknown = set(values) - set(declared)
    if unknown:
        raise ProtocolError(f"{name} has unknown field(s) {', '.join(sorted(unknown))}: client and server differ")
    missing = [
        n
        for n, f in declared.items()
        if n not in values and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    ]
    if missing:
        raise ProtocolError(f"{name} lacks field(s) {', '.join(missing)}")
    hints = _hints(cls)
    checked = {n: _check(v, hints[n], f"{name}.{n}") for n, v in values.items()}
    for field_name, value in checked.items():
        if isinstance(value, np.ndarray):
            _check_array(name, field_name, value, canvas_length)
    return cls(**checked)


@functools.cache
def _parts(hint: Any) -> tuple[Any, tuple[Any, ...]]:
    return typing.get_origin(hint), typing.get_args(hint)


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _check_array(event: str, name: str, array: np.ndarray, canvas_length: int) -> None:
    allowed = FIELD_DTYPES.get(name)
    if allowed is not None and array.dtype.str not in allowed:
        raise ProtocolError(f"{event}.{name} must have dtype {' or '.join(sorted(allowed))}, got {array.dtype.str}")
    if event in CANVAS_EVENTS:
        if array.ndim < 1 or array.shape[0] != canvas_length:
            raise ProtocolError(f"{event}.{name} must be canvas-shaped ({canvas_length}, ...), got {array.shape}")
    elif array.ndim != 1:
        raise ProtocolError(f"{event}.{name} must be one-dimensional, got shape {array.shape}")


def _check(value: Any, hint: Any, where: str) -> Any:
    """`value` if it fits the type hint (ints accepted for floats, lists for tuples), else ProtocolError."""
    origin, args = _parts(hint)
    if origin in (typing.Union, types.UnionType):
        for arm in args:
            try:
                return _check(value, arm, where)
            except ProtocolError:
                continue
        raise ProtocolError(f"{where} has the wrong type ({type(value).__name__})")
    if hint is type(None):
        if value is None:
            return None
    elif hint is np.ndarray:
        if isinstance(value, np.ndarray):
            return value
    elif hint is bool:
        if isinstance(value, bool):
            return value
    elif hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif hint is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    elif hint is str:
        if isinstance(value, str):
            return value
    elif hint is dict or origin is dict:
        if isinstance(value, dict):
            return value
    elif origin is tuple:
        if isinstance(value, tuple):
            if len(args) == 2 and args[1] is Ellipsis:
                return tuple(_check(v, args[0], where) for v in value)
            if len(args) == len(value):
                return tuple(_check(v, a, where) for v, a in zip(value, args, strict=True))
    elif hint is Any:
        return value
    else:
        raise ProtocolError(f"{where}: this client cannot check a field of type {hint}")
    raise ProtocolError(f"{where} has the wrong type ({type(value).__name__})")


# ---------------------------------------------------------------------------------------------- messages


def error_header(code: str, message: str, request_id: int | None = None) -> dict[str, Any]:
    return {"type": "error", "id": request_id, "code": code, "message": message}


def version_mismatch(theirs: Any, ours: int = PROTOCOL_VERSION, *, we_are: str = "server") -> str:
    other = "client" if we_are == "server" else "server"
    newer = [VERSION_CHANGES[v] for v in sorted(VERSION_CHANGES)
             if isinstance(theirs, int) and not isinstance(theirs, bool) and theirs < v <= ours]
    advice = (f" ({'; '.join(newer)}); update the {other} to a Diffusion Desk of protocol version {ours}" if newer
              else "; use a Diffusion Desk of the same protocol version on both sides")
    return (f"protocol version mismatch: the {other} speaks version {shown(theirs)}, this {we_are} speaks version "
            f"{ours}{advice}")
