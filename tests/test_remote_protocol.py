"""The wire format: events travel field by field and come back exactly; anything off is refused with a reason."""

from __future__ import annotations

import dataclasses
import json
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from app.remote import protocol
from app.remote.protocol import ProtocolError, decode_event, decode_frame, encode_event, encode_frame
from models.work.events import CanvasCommitted, GenerationResult, StepSnapshot

ROOT = Path(__file__).resolve().parent.parent
CANVAS = 8


def step(**changes) -> StepSnapshot:
    values = dict(
        canvas_index=1,
        step_index=3,
        argmax=np.arange(CANVAS, dtype=np.int64),
        accepted=np.arange(CANVAS) % 2 == 0,
        entropy=np.linspace(0, 2, CANVAS, dtype=np.float32),
        locked=np.zeros(CANVAS, bool),
        editable=np.ones(CANVAS, bool),
        mean_entropy=0.25,
        num_accepted=4,
        temperature=0.7,
        elapsed=1.5,
    )
    return StepSnapshot(**{**values, **changes})


def result() -> GenerationResult:
    return GenerationResult(
        prompt_ids=np.arange(5, dtype=np.int64),
        token_ids=np.arange(16, dtype=np.int64),
        text="<|channel>hi",
        thought="hm",
        answer="hi",
        canvas_steps=(3, 4),
        adaptive_stops=(True, False),
        seconds=1.0,
        tokens_per_forward=2.5,
        tokens_per_second=10.0,
        parallel_tokens_per_second=99.0,
        cancelled=True,
        span=(2, 9),
        extra={"note": "x", "n": [1, 2]},
    )


def round_trip(event):
    return decode_event(decode_frame(encode_event(7, event)), CANVAS)


def same(a, b) -> bool:
    for field in dataclasses.fields(a):
        x, y = getattr(a, field.name), getattr(b, field.name)
        if isinstance(x, np.ndarray):
            if not (x.dtype == y.dtype and x.shape == y.shape and np.array_equal(x, y)):
                return False
        elif x != y or type(x) is not type(y):
            return False
    return True


@pytest.mark.parametrize("event", [step(), CanvasCommitted(0, np.arange(CANVAS, dtype=np.int64), 5, True), result()])
def test_every_event_comes_back_exactly(event):
    back = round_trip(event)
    assert type(back) is type(event) and same(back, event)
    if isinstance(event, GenerationResult):
        assert back.span == (2, 9) and back.canvas_steps == (3, 4) and back.extra == {"note": "x", "n": [1, 2]}


def test_a_step_is_a_few_hundred_bytes_of_header_and_the_raw_arrays():
    frame = encode_event(1, step())
    raw = CANVAS * (8 + 1 + 4 + 1 + 1)
    assert raw < len(frame) < raw + 700


def test_new_event_fields_travel_with_no_protocol_change(monkeypatch):
    """Fields added to StepSnapshot (the candidates, or any later array) need no code here, and are checked."""
    existing = {f.name for f in dataclasses.fields(StepSnapshot)}
    added = [
        (name, np.ndarray | None, dataclasses.field(default=None))
        for name in ("top_ids", "top_probs", "novel_scores")
        if name not in existing
    ]
    grown = dataclasses.make_dataclass("StepSnapshot", added, bases=(StepSnapshot,), frozen=True)
    monkeypatch.setitem(protocol.EVENT_TYPES, "StepSnapshot", grown)
    base = {f.name: getattr(step(), f.name) for f in dataclasses.fields(StepSnapshot)}
    base.update(top_ids=None, top_probs=None)
    event = grown(
        **{
            **base,
            "top_ids": np.arange(CANVAS * 3).reshape(CANVAS, 3),
            "top_probs": np.full((CANVAS, 3), 0.25, np.float32),
            "novel_scores": np.ones((CANVAS, 2), np.float16),
        }
    )
    assert same(round_trip(event), event)
    assert round_trip(grown(**base)).top_ids is None
    with pytest.raises(ProtocolError, match=r"top_ids must be canvas-shaped \(8, ...\)"):
        round_trip(grown(**{**base, "top_ids": np.zeros((CANVAS - 1, 3), np.int64)}))
    with pytest.raises(ProtocolError, match="top_probs must have dtype <f4"):
        round_trip(grown(**{**base, "top_probs": np.zeros((CANVAS, 3), np.float64)}))
    with pytest.raises(ProtocolError, match="novel_scores must be canvas-shaped"):
        round_trip(grown(**{**base, "novel_scores": np.ones(3, np.float32)}))


@pytest.mark.parametrize(
    "change, message",
    [
        ({"argmax": np.arange(CANVAS, dtype=np.int32)}, "argmax must have dtype <i8"),
        ({"entropy": np.zeros(CANVAS + 1, np.float32)}, r"entropy must be canvas-shaped"),
        ({"accepted": np.zeros(CANVAS, np.int64)}, "accepted must have dtype |b1"),
        ({"mean_entropy": "high"}, "mean_entropy has the wrong type"),
        ({"num_accepted": 2.5}, "num_accepted has the wrong type"),
        ({"locked": None}, "locked has the wrong type"),
    ],
)
def test_fields_are_checked_against_their_dtype_shape_and_type(change, message):
    with pytest.raises(ProtocolError, match=message):
        round_trip(step(**change))


def test_unknown_missing_and_foreign_events_are_refused():
    header = decode_frame(encode_event(1, step()))
    header["fields"]["surprise"] = 1
    with pytest.raises(ProtocolError, match="unknown field"):
        decode_event(header, CANVAS)
    header = decode_frame(encode_event(1, step()))
    del header["fields"]["argmax"]
    with pytest.raises(ProtocolError, match="lacks field.*argmax"):
        decode_event(header, CANVAS)
    with pytest.raises(ProtocolError, match="unknown event 'Exploit'"):
        decode_event({"type": "event", "event": "Exploit", "fields": {}}, CANVAS)


def frame(header: dict, *buffers: bytes) -> bytes:
    """A frame written by hand, to say things the encoder never would."""
    text = json.dumps({**header, "buffers": [len(b) for b in buffers]}).encode()
    return b"DDRP" + struct.pack("<I", len(text)) + text + b"".join(buffers)


@pytest.mark.parametrize(
    "data, message",
    [
        (b"DD", "too short"),
        (b"ABCD\x02\x00\x00\x00{}", "bad magic"),
        (b"DDRP\xff\x00\x00\x00{}", "does not fit"),
        (b"DDRP\x02\x00\x00\x00[]", "JSON object with a string 'type'"),
        (frame({"type": "x"}, b"a")[:-1], "add up to 1 bytes but 0 follow"),
        (frame({"type": "x"}, b"a") + b"b", "add up to 1 bytes but 2 follow"),
        (frame({"type": "x"}, b"a"), "buffers that its header does not use"),
        (frame({"type": "x", "a": {"$bytes": 0}, "b": {"$bytes": 0}}, b"a"), "out of range or used twice"),
        (frame({"type": "x", "v": {"$eval": 1}}), "unknown tagged value"),
    ],
)
def test_broken_frames_are_refused(data, message):
    with pytest.raises(ProtocolError, match=message):
        decode_frame(data)


@pytest.mark.parametrize(
    "dtype, shape, size, message",
    [
        ("|O", [3], 24, "not allowed"),
        ("<U1", [3], 12, "not allowed"),
        (">i8", [3], 24, "not allowed"),
        ("<i8", [4], 24, "needs 32 bytes, got 24"),
        ("<i8", [1, 1, 3], 24, "at most 2 sizes"),
        ("<i8", [-3], 24, "at most 2 sizes"),
    ],
)
def test_arrays_must_be_plain_numbers_of_the_declared_size(dtype, shape, size, message):
    with pytest.raises(ProtocolError, match=message):
        decode_frame(frame({"type": "x", "a": {"$array": 0, "dtype": dtype, "shape": shape}}, b"\0" * size))


def test_the_encoder_sends_plain_little_endian_numbers_only():
    assert np.array_equal(decode_frame(encode_frame({"type": "x", "a": np.arange(3)}))["a"], np.arange(3))
    with pytest.raises(ProtocolError, match="cannot travel"):
        encode_frame({"type": "x", "a": np.array([object()])})
    back = decode_frame(encode_frame({"type": "x", "a": np.arange(3, dtype=">i4")}))["a"]
    assert back.dtype == np.dtype("<i4") and back.tolist() == [0, 1, 2]


def test_frames_over_the_limit_are_refused():
    with pytest.raises(ProtocolError, match="over the limit"):
        decode_frame(encode_frame({"type": "x", "data": b"\0" * 100}), limit=50)


def test_nothing_in_app_remote_imports_qt():
    modules = sorted(p.stem for p in (ROOT / "app" / "remote").glob("*.py") if p.stem != "__init__")
    code = (
        "import sys\n"
        + "".join(f"import app.remote.{m}\n" for m in modules)
        + "bad = [m for m in sys.modules if m.split('.')[0] in ('PySide6', 'PyQt5', 'PyQt6', 'qtpy', "
        "'pyqtgraph', 'qasync')]\nassert not bad, bad\n"
    )
    assert len(modules) >= 10
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)
