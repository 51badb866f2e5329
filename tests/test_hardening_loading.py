"""Checkpoints: safetensors only (the index too), no unpickler anywhere, devices and hub ids checked first,
and a model named by a session never downloaded."""

from __future__ import annotations

import json
import pickle
import re
import shutil
import socket
from pathlib import Path

import httpx2 as httpx  # the HTTP client huggingface_hub 2.x uses
import pytest
import torch

from models.checkpoint.load_errors import LoadError
from models.checkpoint.loading import check_checkpoint, load_checkpoint, pick_device

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def no_unpickling(monkeypatch):
    """Fail the test if anything calls an unpickler."""

    def refuse(*args, **kwargs):
        pytest.fail("an unpickler was called")

    monkeypatch.setattr(torch, "load", refuse)
    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(pickle, "loads", refuse)
    monkeypatch.setattr(pickle, "Unpickler", refuse)


@pytest.fixture
def no_network(monkeypatch):
    """Fail the test if anything opens a network connection."""

    def refuse(*args, **kwargs):
        pytest.fail("a network connection was attempted")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def sharded(text_checkpoint: Path, target: Path, shards: dict[str, str]) -> Path:
    """A copy of the checkpoint whose index maps its tensors to `shards` (name -> file written there)."""
    shutil.copytree(text_checkpoint, target)
    (target / "model.safetensors").rename(target / "model-00001-of-00002.safetensors")
    weight_map = {f"tensor.{i}": name for i, name in enumerate(["model-00001-of-00002.safetensors", *shards])}
    (target / "model.safetensors.index.json").write_text(json.dumps({"metadata": {}, "weight_map": weight_map}))
    for name, content in shards.items():
        if "/" not in name:
            (target / name).write_bytes(content.encode())
    return target


def test_a_bin_shard_in_the_index_is_refused_without_unpickling(tmp_path, text_checkpoint, no_unpickling):
    evil = sharded(text_checkpoint, tmp_path / "evil", {"model-00002-of-00002.bin": "cos\nsystem\n(S'echo'\ntR."})
    with pytest.raises(
        LoadError,
        match="lists the weight shard 'model-00002-of-00002.bin', which is not a "
        r"\.safetensors file; Diffusion Desk loads safetensors only",
    ):
        load_checkpoint(evil)


@pytest.mark.parametrize(
    ("shard", "message"),
    [
        ("../elsewhere.safetensors", "outside the checkpoint folder"),
        ("model-00002-of-00002.safetensors", "missing the weight shard model-00002-of-00002.safetensors"),
    ],
)
def test_index_shards_must_be_files_in_the_folder(tmp_path, text_checkpoint, shard: str, message: str):
    folder = sharded(text_checkpoint, tmp_path / "odd", {})
    index = json.loads((folder / "model.safetensors.index.json").read_text())
    index["weight_map"]["tensor.9"] = shard
    (folder / "model.safetensors.index.json").write_text(json.dumps(index))
    with pytest.raises(LoadError, match=message):
        check_checkpoint(folder)


def test_a_fifo_config_is_refused_not_waited_on(tmp_path, text_checkpoint):
    folder = tmp_path / "ckpt"
    shutil.copytree(text_checkpoint, folder)
    (folder / "config.json").unlink()
    import os

    os.mkfifo(folder / "config.json")
    with pytest.raises(LoadError, match=r"config.json is a named pipe \(FIFO\)"):
        check_checkpoint(folder)


def test_a_real_checkpoint_loads_with_no_unpickler(text_checkpoint, no_unpickling, no_network):
    assert load_checkpoint(text_checkpoint).model is not None


UNPICKLERS = re.compile(
    r"\bpickle\.(load|loads|Unpickler)\b|^\s*(import|from) (pickle|dill|joblib|shelve)\b|"
    r"\btorch\.load\(|\b(np|numpy)\.load\((?![^)]*allow_pickle\s*=\s*False)|\btorch\.jit\.load\(|\bmarshal\.loads?\(|"
    r"allow_pickle\s*=\s*True|weights_only\s*=\s*False"
)


def test_no_code_in_the_project_calls_an_unpickler():
    offenders = []
    for folder in ("app", "models", "widgets", "scripts"):
        for file in sorted((ROOT / folder).rglob("*.py")):
            for number, line in enumerate(file.read_text(encoding="utf-8").splitlines(), start=1):
                if UNPICKLERS.search(line.split("#")[0]):
                    offenders.append(f"{file.relative_to(ROOT)}:{number}: {line.strip()}")
    assert not offenders, "\n".join(offenders)


def test_the_unpickler_scan_sees_an_unpickler():
    assert all(
        UNPICKLERS.search(line)
        for line in (
            "x = pickle.loads(data)",
            "import pickle",
            "torch.load(f)",
            "np.load(path)",
            "np.load(p, allow_pickle=True)",
        )
    )
    assert not any(
        UNPICKLERS.search(line)
        for line in ("read_array(buffer, allow_pickle=False)", "np.load(path, allow_pickle=False)")
    )


@pytest.mark.parametrize(
    ("device", "message"),
    [
        ("nonsense", "unknown device 'nonsense'; use cpu, cuda, cuda:N or mps"),
        ("meta", "device 'meta' holds no weights"),
        ("cpu:0:1", "unknown device"),
        ("cuda:99", "cuda:99"),
    ],
)
def test_bad_devices_are_refused_before_loading(text_checkpoint, device: str, message: str):
    with pytest.raises(LoadError, match=message):
        load_checkpoint(text_checkpoint, device=device)


def test_known_devices_are_accepted():
    assert pick_device("cpu").type == "cpu" and pick_device("CPU").type == "cpu"
    if not torch.cuda.is_available():
        with pytest.raises(LoadError, match="CUDA is not available here"):
            pick_device("cuda")


@pytest.mark.parametrize("source", ["a b/c d", "google/with space", "org/name/extra", "org/" + "x" * 100 + "!"])
def test_an_invalid_hub_id_is_refused_before_any_hub_call(monkeypatch, source: str):
    monkeypatch.setattr("huggingface_hub.snapshot_download", lambda *a, **k: pytest.fail("the hub was called"))
    with pytest.raises(LoadError, match="not a valid hub id"):
        load_checkpoint(source)


def fake_cache(tmp_path: Path, monkeypatch) -> Path:
    cache = tmp_path / "hub"
    cache.mkdir()
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(cache))
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_OFFLINE", False)  # the hub would be tried if allowed
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    return cache


def test_allow_download_false_never_contacts_the_hub(tmp_path, monkeypatch, no_network):
    fake_cache(tmp_path, monkeypatch)
    with pytest.raises(
        LoadError,
        match="google/not-cached is not in the local Hugging Face cache and downloads "
        "are off for a model named by a session file",
    ):
        load_checkpoint("google/not-cached", allow_download=False)


def test_allow_download_false_still_opens_a_cached_hub_id(tmp_path, monkeypatch, text_checkpoint, no_network):
    cache = fake_cache(tmp_path, monkeypatch)
    revision = "0123456789abcdef0123456789abcdef01234567"
    shutil.copytree(text_checkpoint, cache / "models--google--cached" / "snapshots" / revision)
    (cache / "models--google--cached" / "refs").mkdir()
    (cache / "models--google--cached" / "refs" / "main").write_text(revision)
    assert load_checkpoint("google/cached", allow_download=False).path.name == revision


def hub_error(status: int):
    from huggingface_hub.errors import HfHubHTTPError

    request = httpx.Request("GET", "https://huggingface.co/api/models/google/gone")
    return HfHubHTTPError(f"{status} Client Error", response=httpx.Response(status, request=request))


@pytest.mark.parametrize(
    ("cause", "words"),
    [
        (lambda: hub_error(404), "the hub answered HTTP 404 (no such repository or file)"),
        (lambda: hub_error(503), "the hub answered HTTP 503"),
        (
            lambda: httpx.ConnectError("Name or service not known"),
            "no connection to the hub: Name or service not known",
        ),
    ],
)
def test_the_hub_message_says_what_the_hub_said(tmp_path, monkeypatch, cause, words: str):
    from huggingface_hub.errors import LocalEntryNotFoundError

    fake_cache(tmp_path, monkeypatch)

    def download(*args, **kwargs):
        raise LocalEntryNotFoundError("Cannot find an appropriate cached snapshot folder") from cause()

    monkeypatch.setattr("huggingface_hub.snapshot_download", download)
    with pytest.raises(LoadError) as raised:
        load_checkpoint("google/gone")
    assert words in str(raised.value)
    if "404" in words:
        assert "no connection" not in str(raised.value)
