"""scripts/gpu_check.py runs end to end with --device cpu, so it is known to work before a GPU is at hand."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_the_gpu_check_runs_on_the_cpu_and_writes_its_report(tmp_path):
    out = tmp_path / "report.json"
    done = subprocess.run(
        [
            sys.executable,
            "scripts/gpu_check.py",
            "--device",
            "cpu",
            "--out",
            str(out),
            "--workdir",
            str(tmp_path / "work"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,  # a bound on a hang, not on speed: a busy shared machine takes its time
    )
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(out.read_text())
    sections = report["sections"]
    parity = sections["parity"]
    assert parity["status"] == "ok", parity
    assert parity["text"]["identical"] == parity["text"]["runs"] == 2
    assert parity["image"]["identical"] == parity["image"]["runs"] == 2
    assert parity["locks"]["locked_changed_at_any_step"] == parity["locks"]["kept_positions_changed"] == 0
    speed = sections["speed"]
    assert speed["status"] == "ok" and speed["same_ids"] and speed["speed_ratio"] > 0
    assert speed["engine_tokens_per_second"] > 0 and len(speed["engine_seconds"]) == speed["rounds"] >= 1
    window = sections["window"]
    assert window["status"] == "ok", window
    assert window["device"] == "cpu" and window["steps"] == 3 and window["gap_ms"]["worst"] > 0
    for name in ("26b", "compile", "26b-compile"):
        assert sections[name] == {"status": "skipped", "reason": f"{name} runs on CUDA only", "seconds": 0.0}
    table = done.stdout.splitlines()
    assert table[0].split() == ["section", "status", "result"] and table[1].startswith("parity       ok")
    assert report["seconds"] > 0 and report["machine"]["torch"]
