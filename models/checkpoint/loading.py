"""Load a DiffusionGemma checkpoint (local folder or hub id) safely: safetensors only, no remote code."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from models.checkpoint.devices import check_device
from models.checkpoint.load_errors import LoadCancelled, LoadError
from models.inputs.safe_files import UserFileError, read_user_file
from models.inputs.validation import InputError, Limits, check_model_source
from models.work.settings import SamplerSettings, defaults_from_generation_config
from resources import DEMO_MODEL

if TYPE_CHECKING:  # torch is imported where it is used: the window shows before torch has loaded
    import torch

DEMO_SOURCE = "demo"  # the source a LoadedModel (and a session) gives the shipped model
SUPPORTED_MODEL_TYPE = "diffusion_gemma"
# Only what a checkpoint needs; never pickled weights (*.bin, *.pt) or code.
_HUB_FILES = ["*.json", "*.safetensors", "*.jinja", "*.model", "*.txt"]

Progress = Callable[[float, str], None]


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
    def vocab_size(self) -> int:
        return int(self.model.config.text_config.vocab_size)

    @property
    def canvas_length(self) -> int:
        return int(self.model.config.canvas_length)

    @property
    def tokenizer(self) -> Any:
        return getattr(self.processor, "tokenizer", self.processor)


def pick_device(requested: str | None = None) -> torch.device:
    """CUDA when present, else Apple's MPS, else the CPU; `requested` (cpu, cuda, cuda:N, mps) overrides."""
    import torch

    if requested:
        try:
            return torch.device(check_device(requested))
        except InputError as error:
            raise LoadError(str(error)) from error
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def pick_dtype(device: torch.device, requested: str | None = None) -> torch.dtype:
    """bf16 on CUDA, fp32 elsewhere (CPU bf16 is slow and MPS bf16 is partial); `requested` overrides."""
    import torch

    if requested:
        names = {"bf16": torch.bfloat16, "bfloat16": torch.bfloat16, "fp16": torch.float16,
                 "float16": torch.float16, "fp32": torch.float32, "float32": torch.float32}
        if requested not in names:
            raise LoadError(f"unknown dtype {requested!r}; use one of bf16, fp16, fp32")
        return names[requested]
    return torch.bfloat16 if device.type == "cuda" else torch.float32


def resolve_checkpoint(source: str | os.PathLike | None, progress: Progress | None = None,
                       allow_download: bool = True) -> Path:
    """The local folder holding the checkpoint: the folder itself, or the hub id's snapshot in the HF cache.

    `allow_download=False` (a model named by a session file) reads the HF cache only and never contacts the hub.
    """
    if source is None or str(source) == "" or (str(source) == DEMO_SOURCE and not Path(DEMO_SOURCE).exists()):
        return DEMO_MODEL  # "demo" is how a session names the shipped model
    text = str(source)
    try:
        check_model_source(text)  # an existing path or a valid hub id, checked before any hub call
    except InputError as error:
        raise LoadError(str(error)) from error
    path = Path(source).expanduser()
    if path.exists():
        if not path.is_dir():
            raise LoadError(f"{path} is a file; choose the checkpoint's folder (the one with config.json)")
        return path
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import GatedRepoError, HfHubHTTPError, LocalEntryNotFoundError, RepositoryNotFoundError

    if progress:
        progress(0.02, f"Looking for {text} in the Hugging Face cache")
    try:
        return Path(snapshot_download(text, allow_patterns=_HUB_FILES, local_files_only=not allow_download))
    except LocalEntryNotFoundError as error:
        why = _why_not_downloaded(error, allow_download)
        raise LoadError(f"{text} is not in the local Hugging Face cache and {why}") from error
    except (RepositoryNotFoundError, GatedRepoError) as error:
        raise LoadError(f"{text} was not found on the hub (or needs `huggingface-cli login`)") from error
    except (HfHubHTTPError, OSError) as error:
        raise LoadError(f"could not download {text}: {_first_line(error)}") from error


def locally_available(source: str | None) -> bool:
    """Whether a model can be loaded without the network: the demo, a checkpoint folder, or a cached hub id."""
    try:
        resolve_checkpoint(source, allow_download=False)
    except LoadError:
        return False
    return True


def _why_not_downloaded(error: BaseException, allow_download: bool) -> str:
    """Why a hub id missing from the cache was not fetched, from what the hub library saw (its cause chain)."""
    from huggingface_hub.errors import HfHubHTTPError, OfflineModeIsEnabled, RepositoryNotFoundError

    if not allow_download:
        return ("downloads are off for a model named by a session file; open it once with --model (or Model > "
                "Open hub id...) to download it")
    cause = error.__cause__ or error.__context__
    if isinstance(cause, RepositoryNotFoundError):
        return "the hub has no such repository (or it needs `huggingface-cli login`)"
    response = getattr(cause, "response", None)
    status = getattr(response, "status_code", None)
    if isinstance(cause, HfHubHTTPError) and status is not None:
        what = "no such repository or file" if status == 404 else _first_line(cause)
        return f"the hub answered HTTP {status} ({what})"
    offline = os.environ.get("HF_HUB_OFFLINE", "").lower() in {"1", "true", "yes", "on"}
    if offline or isinstance(cause, OfflineModeIsEnabled):
        return "HF_HUB_OFFLINE is set"
    if cause is not None:
        return f"it could not be downloaded (no connection to the hub: {_first_line(cause)})"
    return "it could not be downloaded"


def _read_json(file: Path, what: str) -> Any:
    try:
        return json.loads(read_user_file(file, Limits().max_config_bytes, what).decode("utf-8"))
    except UserFileError as error:
        raise LoadError(str(error)) from error
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise LoadError(f"{file} is not readable JSON ({error})") from error


def check_checkpoint(path: Path) -> dict[str, Any]:
    """Refuse anything that is not a DiffusionGemma checkpoint with safetensors weights only; return its config.

    A sharded checkpoint's `model.safetensors.index.json` is read: every shard it names must be a `.safetensors`
    file in the folder, or transformers would open (unpickle) a `.bin` shard it lists.
    """
    config_file = path / "config.json"
    if not config_file.exists():
        raise LoadError(f"{path} has no config.json; it is not a model checkpoint folder")
    config = _read_json(config_file, "config.json")
    model_type = config.get("model_type") if isinstance(config, dict) else None
    if model_type != SUPPORTED_MODEL_TYPE:
        raise LoadError(f"{path.name} is a {model_type or 'unknown'!s} checkpoint; Diffusion Desk opens "
                        f"{SUPPORTED_MODEL_TYPE} (DiffusionGemma) checkpoints only")
    index_file = path / "model.safetensors.index.json"
    if index_file.exists():
        _check_shards(path, _read_json(index_file, "safetensors index"))
    elif not (path / "model.safetensors").is_file():
        pickled = sorted(p.name for p in path.iterdir() if p.suffix in {".bin", ".pt", ".pth", ".ckpt"})
        if pickled:
            raise LoadError(f"{path.name} has only pickled weights ({', '.join(pickled)}); Diffusion Desk loads "
                            "safetensors only, because unpickling a file can run arbitrary code. Convert it "
                            "to safetensors first")
        raise LoadError(f"{path.name} has no model weights (model.safetensors or model.safetensors.index.json)")
    return config


def _check_shards(path: Path, index: Any) -> None:
    weight_map = index.get("weight_map") if isinstance(index, dict) else None
    if not isinstance(weight_map, dict) or not weight_map:
        raise LoadError(f"{path.name}/model.safetensors.index.json has no weight_map; the checkpoint is damaged")
    for shard in sorted({str(name) for name in weight_map.values()}):
        if not shard.endswith(".safetensors"):
            raise LoadError(f"{path.name}/model.safetensors.index.json lists the weight shard {shard!r}, which is "
                            "not a .safetensors file; Diffusion Desk loads safetensors only, because unpickling a "
                            "file can run arbitrary code")
        if Path(shard).name != shard or shard.startswith("."):
            raise LoadError(f"{path.name}/model.safetensors.index.json lists the weight shard {shard!r} outside "
                            "the checkpoint folder; the checkpoint is damaged or hostile")
        if not (path / shard).is_file():
            raise LoadError(f"{path.name} is missing the weight shard {shard} that its index lists")


def load_checkpoint(
    source: str | os.PathLike | None = None,
    *,
    device: str | None = None,
    dtype: str | None = None,
    progress: Progress | None = None,
    cancel: Any = None,
    allow_download: bool = True,
    max_gpu_memory: int | str | None = None,
    max_cpu_memory: int | str | None = None,
    offload_folder: str | os.PathLike | None = None,
    device_map: str | dict[str, Any] | None = None,
) -> LoadedModel:
    """Load model and processor; `progress(fraction, message)` is called between stages, where `cancel` is checked.

    `allow_download=False` never contacts the hub (use it for a model named by a session file): a hub id must
    already be in the local Hugging Face cache.
    Offload (accelerate's, see models/checkpoint/placement.py): `max_gpu_memory` / `max_cpu_memory` cap the weights kept
    on the GPU / in RAM ("20GiB" or bytes); the rest of the layers go to RAM, then to `offload_folder` on disk.
    """
    import torch
    from transformers import DiffusionGemmaForBlockDiffusion
    from transformers.utils import logging as hf_logging

    from models.checkpoint.placement import check_runnable, execution_device, placement_kwargs
    from models.checkpoint.processing import load_processor

    hf_logging.disable_progress_bar()  # progress goes through `progress`; a console bar would litter the CLI/app

    def stage(fraction: float, message: str) -> None:
        if cancel is not None and cancel.is_set():
            raise LoadCancelled("loading was cancelled")
        if progress:
            progress(fraction, message)

    stage(0.0, "Resolving checkpoint")
    target = pick_device(device)  # a bad device or dtype is refused before anything is read
    torch_dtype = pick_dtype(target, dtype)
    path = resolve_checkpoint(source, progress, allow_download)
    stage(0.1, "Checking checkpoint")
    check_runnable(check_checkpoint(path), target)  # an FP8/NVFP4 build this device cannot run: refused here
    placement = placement_kwargs(target, path, torch_dtype, device_map=device_map, max_gpu_memory=max_gpu_memory,
                                 max_cpu_memory=max_cpu_memory, offload_folder=offload_folder)
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
    kwargs.update(placement)  # offload: accelerate's device map under the memory caps
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
        model=model, processor=processor, source=str(source) if source else DEMO_SOURCE, path=path,
        device=execution_device(model), dtype=torch_dtype,
        defaults=defaults_from_generation_config(model.generation_config),
    )


def _weight_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.glob("*.safetensors"))


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
