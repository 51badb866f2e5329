"""Loading: local folders, sharded weights, hub ids from the HF cache, and a clear refusal of everything else."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import torch

from models.checkpoint.load_errors import LoadCancelled, LoadError
from models.checkpoint.loading import DEMO_MODEL, load_checkpoint

ROOT = Path(__file__).resolve().parent.parent


def copy_checkpoint(source: Path, target: Path) -> Path:
    shutil.copytree(source, target)
    return target


def test_local_folder_loads_with_its_defaults_and_processor(loaded_text, text_checkpoint):
    assert loaded_text.path == text_checkpoint
    assert loaded_text.device.type == "cpu" and loaded_text.dtype == torch.float32
    assert next(loaded_text.model.parameters()).dtype == torch.float32
    assert not loaded_text.model.training
    assert hasattr(loaded_text.processor, "apply_chat_template")


def test_progress_is_reported_in_order(text_checkpoint):
    seen: list[tuple[float, str]] = []
    load_checkpoint(text_checkpoint, progress=lambda f, m: seen.append((f, m)))
    fractions = [f for f, _ in seen]
    assert fractions == sorted(fractions) and fractions[0] == 0.0 and fractions[-1] == 1.0
    assert any("weights" in m.lower() for _, m in seen)


def test_cancel_stops_the_load(text_checkpoint):
    cancel = threading.Event()

    def progress(fraction: float, message: str) -> None:
        if fraction >= 0.1:
            cancel.set()

    with pytest.raises(LoadCancelled):
        load_checkpoint(text_checkpoint, progress=progress, cancel=cancel)


def test_dtype_can_be_overridden(text_checkpoint):
    loaded = load_checkpoint(text_checkpoint, dtype="bf16")
    assert next(loaded.model.parameters()).dtype == torch.bfloat16


def test_sharded_checkpoint_loads(tmp_path, loaded_text, text_checkpoint):
    sharded = copy_checkpoint(text_checkpoint, tmp_path / "sharded")
    (sharded / "model.safetensors").unlink()
    loaded_text.model.save_pretrained(sharded, max_shard_size="200KB")
    assert (sharded / "model.safetensors.index.json").is_file()
    assert len(list(sharded.glob("model-*.safetensors"))) > 1
    loaded = load_checkpoint(sharded)
    expected = loaded_text.model.state_dict()
    for name, tensor in loaded.model.state_dict().items():
        assert torch.equal(tensor, expected[name]), name


def test_hub_id_loads_from_the_hf_cache_offline(tmp_path, monkeypatch, text_checkpoint):
    """A hub id resolves to its snapshot in the standard cache layout, with no network (HF_HUB_OFFLINE=1)."""
    cache = tmp_path / "hub"
    repo = cache / "models--google--tiny-diffusiongemma"
    revision = "0123456789abcdef0123456789abcdef01234567"
    copy_checkpoint(text_checkpoint, repo / "snapshots" / revision)
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(revision)
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(cache))
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_OFFLINE", True)
    loaded = load_checkpoint("google/tiny-diffusiongemma")
    assert loaded.path == repo / "snapshots" / revision
    assert loaded.name == "google/tiny-diffusiongemma"


def test_missing_hub_download_says_so(tmp_path, monkeypatch):
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path))
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_OFFLINE", True)
    with pytest.raises(LoadError, match="not in the local Hugging Face cache"):
        load_checkpoint("google/diffusiongemma-26B-A4B-it")


def test_missing_folder(tmp_path):
    with pytest.raises(LoadError, match="no checkpoint folder"):
        load_checkpoint(str(tmp_path / "nowhere" / "model"))


def test_folder_without_config(tmp_path):
    with pytest.raises(LoadError, match="no config.json"):
        load_checkpoint(tmp_path)


def test_other_model_type_is_named(tmp_path, text_checkpoint):
    other = copy_checkpoint(text_checkpoint, tmp_path / "llama")
    config = json.loads((other / "config.json").read_text())
    config["model_type"] = "llama"
    (other / "config.json").write_text(json.dumps(config))
    with pytest.raises(LoadError, match="is a llama checkpoint"):
        load_checkpoint(other)


def test_pickle_only_weights_are_refused_without_unpickling(tmp_path, text_checkpoint, monkeypatch):
    pickled = copy_checkpoint(text_checkpoint, tmp_path / "pickled")
    (pickled / "model.safetensors").unlink()
    (pickled / "pytorch_model.bin").write_bytes(b"not even a pickle; it must never be opened")
    monkeypatch.setattr(torch, "load", lambda *a, **k: pytest.fail("torch.load was called"))
    with pytest.raises(LoadError, match="only pickled weights.*safetensors only"):
        load_checkpoint(pickled)


def test_corrupt_weights_give_a_message(tmp_path, text_checkpoint):
    broken = copy_checkpoint(text_checkpoint, tmp_path / "broken")
    (broken / "model.safetensors").write_bytes(b"\x00" * 64)
    with pytest.raises(LoadError, match="could not load the weights"):
        load_checkpoint(broken)


def test_demo_model_ships_and_loads():
    loaded = load_checkpoint(None)
    assert loaded.path == DEMO_MODEL and loaded.name == "demo model"
    assert loaded.model.config.vision_config is not None


def test_models_never_import_qt():
    """The engine stays Qt-free: importing every module of models/ pulls in no Qt binding."""
    modules = sorted(".".join(p.relative_to(ROOT / "models").with_suffix("").parts)
                     for p in (ROOT / "models").rglob("*.py") if p.stem != "__init__")
    code = ("import sys\n" + "".join(f"import models.{m}\n" for m in modules) +
            "bad = [m for m in sys.modules if m.split('.')[0] in ('PySide6', 'PyQt5', 'PyQt6', 'qtpy', "
            "'pyqtgraph', 'qasync')]\nassert not bad, bad\n")
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)
