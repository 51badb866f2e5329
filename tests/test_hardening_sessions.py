"""Hostile session files (issue 21, causes 10 and 11): arrays whose .npy header declares a huge shape, a session.json
too large to parse, `"compile": null`. The command line (export, rewrite) refuses each with one line and exit 2,
the window's File > Open with one message; nothing is allocated for what a header merely declares."""

from __future__ import annotations

import io
import json
import os
import resource
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import event, given
from hypothesis import strategies as st

import main
from app.cli.generate import main as cli_main
from models.session.files import SessionError, open_session, save_workspace
from models.session.reading import MAX_JSON_BYTES
from tests.hardening_support import BigInt, Nested, fuzz, json_text, json_values, paths, replaced
from tests.session_helpers import edit_manifest, manifest, workspace_with_run
from tests.window_helpers import close_quietly, make_window

ROOT = Path(__file__).resolve().parent.parent
DEAD_PID = 99_999_999  # above any pid_max: no process has it


@pytest.fixture(scope="module")
def saved(loaded_text, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("sessions") / "good.ddsession"
    save_workspace(path, workspace_with_run(loaded_text, steps=2), "test")
    return path


def entries(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as archive:
        return {info.filename: archive.read(info.filename) for info in archive.infolist()}


def rewritten(source: Path, target: Path, replace: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in {**entries(source), **replace}.items():
            archive.writestr(name, data)
    return target


def npy_claiming(shape: tuple[int, ...], dtype: str = "<i4") -> bytes:
    """A .npy entry whose header declares `shape` but that holds 16 bytes of data."""
    out = io.BytesIO()
    np.lib.format.write_array_header_1_0(out, {"descr": dtype, "fortran_order": False, "shape": shape})
    return out.getvalue() + b"\0" * 16


def ids_entry(path: Path) -> str:
    return next(name for name in entries(path) if name.startswith("turns/") and name.endswith("/ids.npy"))


def huge_array(saved: Path, folder: Path, elements: int) -> Path:
    return rewritten(saved, folder / f"huge-{elements}.ddsession", {ids_entry(saved): npy_claiming((elements,))})


def huge_manifest(saved: Path, folder: Path) -> Path:
    """A real session.json of MAX_JSON_BYTES + 16 MiB (padding in a string field): inflated, it would be parsed."""
    target = folder / "huge-manifest.ddsession"
    manifest = json.dumps(json.loads(entries(saved)["session.json"]))
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        for name, data in entries(saved).items():
            if name != "session.json":
                archive.writestr(name, data)
        with archive.open("session.json", "w", force_zip64=True) as out:
            out.write(manifest[:-1].encode() + b', "padding": "')
            chunk = b" " * (1 << 20)
            for _ in range((MAX_JSON_BYTES >> 20) + 16):
                out.write(chunk)
            out.write(b'"}')
    return target


def null_compile(saved: Path, folder: Path) -> Path:
    target = folder / "null-compile.ddsession"
    target.write_bytes(saved.read_bytes())
    edit_manifest(target, lambda data: data["settings"].update(compile=None))
    return target


HOSTILE = {
    "a 10^12-element array": (lambda s, f: huge_array(s, f, 10**12), "declares 4,000,000,000,000 bytes of int32 data"),
    "a 7.45 GiB array": (lambda s, f: huge_array(s, f, 2_000_000_000),
                         "declares 8,000,000,000 bytes of int32 data but holds 16 bytes"),
    "a session.json over the cap": (huge_manifest, f"manifest is at most {MAX_JSON_BYTES >> 20} MiB"),
    "compile: null": (null_compile, "session.settings.compile must be true or false"),
}


@pytest.fixture(scope="module")
def hostile(saved, tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("hostile")
    return {name: make(saved, folder) for name, (make, _) in HOSTILE.items()}


def one_line(err: str, words: str) -> None:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("diffusion-desk: ") and words in lines[0], err
    assert "shorter prompt" not in err and "memory" not in err  # refused as damaged, not as "out of memory"


@pytest.mark.parametrize("name", list(HOSTILE))
def test_export_refuses_with_one_line(hostile, tmp_path, capsys, name):
    assert main.main(["export", "--session", str(hostile[name]), "--to", str(tmp_path / "out.json")]) == 2
    one_line(capsys.readouterr().err, HOSTILE[name][1])
    assert not (tmp_path / "out.json").exists()


@pytest.mark.parametrize("name", list(HOSTILE))
def test_rewrite_refuses_with_one_line(hostile, capsys, name):
    assert cli_main(["rewrite", "--session", str(hostile[name]), "--span", "0:4"]) == 2
    one_line(capsys.readouterr().err, HOSTILE[name][1])


def test_export_in_a_process_with_little_memory_refuses_the_huge_array(hostile, tmp_path):
    """The issue's machine: there, numpy's allocation of the declared 7.45 GiB failed (`_ArrayMemoryError`, a
    traceback). Here a 2 GiB address-space limit plays that machine; the header check allocates nothing."""
    def little_memory() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))

    done = subprocess.run(
        [sys.executable, "main.py", "export", "--session", str(hostile["a 7.45 GiB array"]), "--to",
         str(tmp_path / "out.json")],
        cwd=ROOT, capture_output=True, text=True, timeout=120, preexec_fn=little_memory,
    )
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    one_line(done.stderr, "but holds 16 bytes")


@pytest.mark.parametrize("name", list(HOSTILE))
def test_the_windows_file_open_shows_one_message(qtbot, tmp_path, monkeypatch, hostile, name):
    win = make_window(qtbot, tmp_path / "settings.ini")
    before = win.workspace
    monkeypatch.setattr("app.controllers.session_controller.open_file_name",
                        lambda *args, **kwargs: str(hostile[name]))  # the file a person picks
    with qtbot.waitSignal(win.errorShown, timeout=30_000) as shown:
        win.sessions.actions["open"].trigger()
    assert HOSTILE[name][1] in shown.args[0] and "Traceback" not in shown.args[0]
    assert win.workspace is before  # nothing half-opened
    win.sampler_panel.spins["max_denoising_steps"].setValue(3)  # the window still renders and edits settings
    assert win.workspace.settings.max_denoising_steps == 3 and win.workspace.settings.compile is False
    close_quietly(win)


def test_rewrite_refuses_a_lock_outside_the_text(saved, capsys):
    """As the server refuses the same lock (EditError); it used to be dropped silently with exit 0."""
    for lock, words in (("40", "--lock 40 is outside the session's generated text (0 to 31)"),
                        ("-1", "--lock -1 is outside")):
        assert cli_main(["rewrite", "--session", str(saved), "--span", "0:4", "--lock", lock]) == 2
        one_line(capsys.readouterr().err, words)


def stale_temporary(folder: Path) -> Path:
    """What `kill -9` in the middle of a save leaves: `.dd-<pid>-<hex>.tmp` of a process that is gone."""
    path = folder / f".dd-{DEAD_PID}-abcdef.tmp"
    path.write_bytes(b"x" * 1000)
    return path


def test_the_command_line_clears_a_killed_saves_temporaries_on_start(tmp_path, text_checkpoint, capsys):
    """Before any run (here --plan, which runs none and saves nothing): the folder of --save is cleaned."""
    left = stale_temporary(tmp_path)
    target = tmp_path / "out.ddsession"
    code = cli_main(["generate", "--model", str(text_checkpoint), "--prompt", "x", "--plan", "--save", str(target)])
    assert code == 0 and not left.exists() and not target.exists(), capsys.readouterr().err


def test_the_window_clears_a_killed_saves_temporaries_on_start(qtbot, tmp_path, monkeypatch):
    from PySide6.QtCore import QSettings

    from app.controllers.file_places import KEY

    folder = tmp_path / "documents"
    folder.mkdir()
    data = Path(os.environ["DIFFUSION_DESK_DATA"])  # the autosave folder, this test's own (conftest)
    data.mkdir()
    left, data_left = stale_temporary(folder), stale_temporary(data)
    store = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    store.setValue(KEY, str(folder))
    store.sync()
    win = make_window(qtbot, tmp_path / "settings.ini")
    qtbot.waitUntil(lambda: not left.exists() and not data_left.exists(), timeout=10_000)
    close_quietly(win)


def manifest_fields(saved: Path) -> list[tuple]:
    """Every field of the manifest, the token table's entries but its first few left out (hundreds of them)."""
    return [p for p in paths(manifest(saved)) if not (p[:1] == ("tokens",) and len(p) > 2 and p[2] not in (0, 1))]


def opens_or_is_refused(saved: Path, folder: Path, where: tuple, value) -> str:
    """The session with `value` at `where` opens with valid settings, or is refused with one SessionError; nothing
    else escapes (the window and the command line show that one message)."""
    target = folder / "fuzzed.ddsession"
    rewritten(saved, target, {"session.json": json_text(replaced(manifest(saved), where, value)).encode()})
    try:
        ws = open_session(target)
    except SessionError as error:
        assert str(error).startswith(str(target)) and "\n" not in str(error) and len(str(error)) < 2000
        return "refused"
    for settings in (ws.settings, *(run.settings for run in ws.runs.values())):
        assert settings.validated() is settings and isinstance(settings.compile, bool)
    return "opened"


@pytest.mark.parametrize(("where", "value"), [
    (("settings", "compile"), None), (("settings", "max_new_tokens"), 10**400),
    (("runs", 0, "settings", "t_max"), BigInt("9" * 5000)), (("conversation",), Nested(900)),
])
def test_the_issues_values_in_a_session_manifest(saved, tmp_path, where, value):
    assert opens_or_is_refused(saved, tmp_path, where, value) == "refused"


@fuzz(80)
@given(choice=st.integers(0, 10**6), value=json_values())
def test_fuzz_every_field_of_a_session_manifest(saved, tmp_path_factory, choice, value):
    fields = manifest_fields(saved)
    event(opens_or_is_refused(saved, tmp_path_factory.mktemp("fuzzed"), fields[choice % len(fields)], value))
