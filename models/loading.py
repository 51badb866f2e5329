"""Load a DiffusionGemma checkpoint (local folder or hub id) safely: safetensors only, no remote code."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from models.settings import SamplerSettings, defaults_from_generation_config

DEMO_MODEL = Path(__file__).resolve().parent.parent / "resources" / "demo-model"
SUPPORTED_MODEL_TYPE = "diffusion_gemma"
# Only what a checkpoint needs; never pickled weights (*.bin, *.pt) or code.
_HUB_FILES = ["*.json", "*.safetensors", "*.jinja", "*.model", "*.txt"]

Progress = Callable[[float, str], None]


class LoadError(RuntimeError):
    """The checkpoint cannot be loaded; the message says why in words a user can act on."""


class LoadCancelled(RuntimeError):
    """The user cancelled the load."""


@dataclass
class LoadedModel:
    model: Any  # DiffusionGemmaForBlockDiffusion, in eval mode
    processor: Any  # image+text processor with .tokenizer and .apply_chat_template
    source: str  # what the user asked for: a folder or a hub id
    path: Path  # the local folder the files were read from
    device: torch.device
    dtype: torch.dtype
    defaults: SamplerSettings  # the checkpoint's own sampler defaults

    @property
    def name(self) -> str:
        return "demo model" if self.path == DEMO_MODEL else self.source

    @property
    def canvas_length(self) -> int:
        return int(self.model.config.canvas_length)

    @property
    def tokenizer(self) -> Any:
        return getattr(self.processor, "tokenizer", self.processor)


def pick_device(requested: str | None = None) -> torch.device:
    """CUDA when present, else Apple's MPS, else the CPU; `requested` overrides."""
    if requested:
        return torch.device(requested)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def pick_dtype(device: torch.device, requested: str | None = None) -> torch.dtype:
    """bf16 on CUDA, fp32 elsewhere (CPU bf16 is slow and MPS bf16 is partial); `requested` overrides."""
    if requested:
        names = {"bf16": torch.bfloat16, "bfloat16": torch.bfloat16, "fp16": torch.float16,
                 "float16": torch.float16, "fp32": torch.float32, "float32": torch.float32}
        if requested not in names:
            raise LoadError(f"unknown dtype {requested!r}; use one of bf16, fp16, fp32")
        return names[requested]
    return torch.bfloat16 if device.type == "cuda" else torch.float32


def resolve_checkpoint(source: str | os.PathLike | None, progress: Progress | None = None) -> Path:
    """The local folder holding the checkpoint: the folder itself, or the hub id's snapshot in the HF cache."""
    if source is None or str(source) == "":
        return DEMO_MODEL
    path = Path(source).expanduser()
    if path.exists():
        if not path.is_dir():
            raise LoadError(f"{path} is a file; choose the checkpoint's folder (the one with config.json)")
        return path
    text = str(source)
    if text.count("/") != 1 or text.startswith((".", "/", "~")):
        raise LoadError(f"no checkpoint folder at {text}, and it is not a hub id (like google/diffusiongemma-...)")
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError, RepositoryNotFoundError

    if progress:
        progress(0.02, f"Looking for {text} in the Hugging Face cache")
    try:
        return Path(snapshot_download(text, allow_patterns=_HUB_FILES))
    except LocalEntryNotFoundError as error:
        offline = os.environ.get("HF_HUB_OFFLINE", "").lower() in {"1", "true", "yes", "on"}
        why = ("HF_HUB_OFFLINE is set" if offline else "it could not be downloaded (no connection to the hub?)")
        raise LoadError(f"{text} is not in the local Hugging Face cache and {why}") from error
    except RepositoryNotFoundError as error:
        raise LoadError(f"{text} was not found on the hub (or needs `huggingface-cli login`)") from error
    except (HfHubHTTPError, OSError) as error:
        raise LoadError(f"could not download {text}: {error}") from error


def check_checkpoint(path: Path) -> dict[str, Any]:
    """Refuse anything that is not a DiffusionGemma checkpoint with safetensors weights; return its config."""
    config_file = path / "config.json"
    if not config_file.is_file():
        raise LoadError(f"{path} has no config.json; it is not a model checkpoint folder")
    try:
        config = json.loads(config_file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise LoadError(f"{config_file} is not readable JSON ({error})") from error
    model_type = config.get("model_type") if isinstance(config, dict) else None
    if model_type != SUPPORTED_MODEL_TYPE:
        raise LoadError(f"{path.name} is a {model_type or 'unknown'!s} checkpoint; Diffusion Desk opens "
                        f"{SUPPORTED_MODEL_TYPE} (DiffusionGemma) checkpoints only")
    if not any(path.glob("*.safetensors")) and not (path / "model.safetensors.index.json").is_file():
        pickled = sorted(p.name for p in path.iterdir() if p.suffix in {".bin", ".pt", ".pth", ".ckpt"})
        if pickled:
            raise LoadError(f"{path.name} has only pickled weights ({', '.join(pickled)}); Diffusion Desk loads "
                            "safetensors only, because unpickling a file can run arbitrary code. Convert it "
                            "to safetensors first")
        raise LoadError(f"{path.name} has no model weights (*.safetensors)")
    return config


def load_checkpoint(
    source: str | os.PathLike | None = None,
    *,
    device: str | None = None,
    dtype: str | None = None,
    progress: Progress | None = None,
    cancel: Any = None,
) -> LoadedModel:
    """Load model and processor; `progress(fraction, message)` is called between stages, where `cancel` is checked."""
    from transformers import DiffusionGemmaForBlockDiffusion
    from transformers.utils import logging as hf_logging

    from models.processing import load_processor

    hf_logging.disable_progress_bar()  # progress goes through `progress`; a console bar would litter the CLI/app

    def stage(fraction: float, message: str) -> None:
        if cancel is not None and cancel.is_set():
            raise LoadCancelled("loading was cancelled")
        if progress:
            progress(fraction, message)

    stage(0.0, "Resolving checkpoint")
    path = resolve_checkpoint(source, progress)
    stage(0.1, "Checking checkpoint")
    check_checkpoint(path)
    target = pick_device(device)
    torch_dtype = pick_dtype(target, dtype)
    stage(0.15, "Loading processor")
    try:
        processor = load_processor(path)
    except (OSError, ValueError, TypeError, KeyError) as error:
        raise LoadError(f"could not build the tokenizer/processor of {path.name}: {error}") from error
    stage(0.25, f"Loading weights ({_weight_size(path) / 2**20:.0f} MiB) as {str(torch_dtype).removeprefix('torch.')}")
    kwargs: dict[str, Any] = {"dtype": torch_dtype, "use_safetensors": True, "trust_remote_code": False}
    if target.type == "cuda":
        # Straight onto the GPU (no host copy of the weights); with several GPUs accelerate spreads the layers.
        kwargs["device_map"] = "auto" if torch.cuda.device_count() > 1 else str(target)
    try:
        model = DiffusionGemmaForBlockDiffusion.from_pretrained(path, **kwargs)
    except Exception as error:  # noqa: BLE001 - any library failure here (safetensors, shapes, quantizers) is the checkpoint's
        raise LoadError(f"could not load the weights of {path.name}: {_first_line(error)}") from error
    stage(0.9, f"Moving to {target.type}")
    if "device_map" not in kwargs:
        model = model.to(target)
    model.eval()
    stage(1.0, "Ready")
    return LoadedModel(
        model=model, processor=processor, source=str(source) if source else "demo", path=path,
        device=next(model.parameters()).device, dtype=torch_dtype,
        defaults=defaults_from_generation_config(model.generation_config),
    )


def _weight_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.glob("*.safetensors"))


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
