"""The DiffusionGemma processor: the checkpoint's own Gemma4Processor, or an image+text one where it can't be built.

The stock `Gemma4Processor` needs a `Gemma4VideoProcessor`, which needs torchvision; on CPU machines torchvision is
often missing. `ImageTextProcessor` is then built from the same checkpoint files (tokenizer, image-processor
settings, chat template). It *is* a `Gemma4Processor` subclass that leaves the video processor and the audio
feature extractor out, so text and images go through the stock code path: the same placeholder expansion
(`<|image>` + N x `<|image|>` + `<image|>`), the same `pixel_values` / `image_position_ids` and the same
`mm_token_type_ids` that `DiffusionGemmaForBlockDiffusion.generate` consumes.

The visual token budget (70, 140, 280, 560 or 1120 soft tokens per image) can be set per call:
`processor.apply_chat_template(..., processor_kwargs=budget_kwargs(140))` or `processor(..., max_soft_tokens=140)`.

This module does not import Qt.
"""

from __future__ import annotations

import os
from typing import Any

from transformers import AutoImageProcessor, AutoProcessor, AutoTokenizer
from transformers.models.gemma4.processing_gemma4 import Gemma4Processor
from transformers.processing_utils import ProcessorMixin
from transformers.utils import is_torchvision_available

from models.checkpoint import template_guard
from models.inputs.images import IMAGE_TOKEN_BUDGETS
from models.inputs.validation import InputError, special_token_escaper

template_guard.install()  # every chat template compiles in the memory-bounded sandbox


class ImageTextProcessor(Gemma4Processor):
    """Gemma4Processor for text and images only: no video processor, no audio feature extractor."""

    def __init__(
        self,
        image_processor,
        tokenizer,
        chat_template=None,
        image_seq_length: int = 280,
        audio_seq_length: int = 750,
        audio_ms_per_token: int = 40,
        **kwargs,
    ):
        # Same attributes as Gemma4Processor.__init__ sets, minus the sub-processors this class leaves out.
        self.image_seq_length = image_seq_length
        self.image_token_id = tokenizer.image_token_id
        self.boi_token = tokenizer.boi_token
        self.eoi_token = tokenizer.eoi_token
        self.image_token = tokenizer.image_token
        # Kept so a stray video placeholder in a prompt is reported (no video can be passed).
        tokenizer.add_special_tokens({"additional_special_tokens": ["<|video|>"]})
        self.video_token = "<|video|>"
        self.video_token_id = tokenizer.convert_tokens_to_ids(self.video_token)
        self.audio_seq_length = audio_seq_length
        self.audio_ms_per_token = audio_ms_per_token
        self.audio_token_id = getattr(tokenizer, "audio_token_id", None)
        self.audio_token = getattr(tokenizer, "audio_token", None)
        # Gemma4Processor.validate_inputs raises without these, even for prompts with no audio.
        self.boa_token = getattr(tokenizer, "boa_token", None)
        self.eoa_token = getattr(tokenizer, "eoa_token", None)
        ProcessorMixin.__init__(
            self, image_processor=image_processor, tokenizer=tokenizer, chat_template=chat_template, **kwargs
        )


def load_processor(source: str | os.PathLike, **hub_kwargs: Any) -> ProcessorMixin:
    """The checkpoint's processor: the stock one where it builds, else an `ImageTextProcessor` from its files.

    `hub_kwargs` go to every `from_pretrained` (e.g. `revision`, `cache_dir`, `local_files_only`).
    Remote code is never trusted.
    """
    hub_kwargs = {k: v for k, v in hub_kwargs.items() if k != "trust_remote_code"}
    source = os.fspath(source)
    stock_error: Exception | None = None
    if is_torchvision_available():
        try:
            processor = AutoProcessor.from_pretrained(source, trust_remote_code=False, **hub_kwargs)
        except Exception as error:  # noqa: BLE001 - any failure here leaves the fallback, which is complete
            stock_error = error
        else:
            # An unregistered processor class makes AutoProcessor quietly return a bare tokenizer.
            if isinstance(processor, ProcessorMixin) and hasattr(processor, "image_processor"):
                return processor
    try:
        return build_image_text_processor(source, **hub_kwargs)
    except Exception as error:
        if stock_error is not None:
            raise error from stock_error
        raise


def build_image_text_processor(source: str | os.PathLike, **hub_kwargs: Any) -> ImageTextProcessor:
    """An `ImageTextProcessor` from a checkpoint's tokenizer, image-processor settings and chat template."""
    source = os.fspath(source)
    hub_kwargs = {k: v for k, v in hub_kwargs.items() if k != "trust_remote_code"}
    tokenizer = AutoTokenizer.from_pretrained(source, trust_remote_code=False, **hub_kwargs)
    image_processor = AutoImageProcessor.from_pretrained(
        source, trust_remote_code=False, backend="pil", **hub_kwargs
    )
    processor_dict, _ = ProcessorMixin.get_processor_dict(source, **hub_kwargs)
    extra = {k: processor_dict[k] for k in ("image_seq_length", "audio_seq_length", "audio_ms_per_token")
             if k in processor_dict}
    chat_template = processor_dict.get("chat_template") or getattr(tokenizer, "chat_template", None)
    return ImageTextProcessor(image_processor, tokenizer, chat_template=chat_template, **extra)


def apply_chat_template_checked(processor: Any, messages: list[dict[str, Any]], model: str,
                                **kwargs: Any) -> Any:
    """`processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=True, return_dict=True, ...)`,
    with a failing chat template (sandbox refusal, syntax error, `raise_exception`, any error of its code) or a
    rendered prompt the processor refuses reported as one InputError naming the model.
    """
    try:  # rendered alone first, so an error here is the template's, whatever its type
        processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    except Exception as error:  # noqa: BLE001 - a chat template is the checkpoint's code: any failure is its own
        raise InputError(f"the chat template of {model} failed: {_first_line(error)}") from error
    try:
        return processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=True, return_dict=True,
                                             return_tensors="pt", **kwargs)
    except ValueError as error:  # e.g. a template that writes image placeholders itself
        raise InputError(f"the prompt that the chat template of {model} made was refused: "
                         f"{_first_line(error)}") from error


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def budget_kwargs(budget: int) -> dict[str, Any]:
    """`processor_kwargs` for `apply_chat_template` (or `**kwargs` for `__call__`) setting the image budget."""
    _check_budget(budget)
    return {"images_kwargs": {"max_soft_tokens": budget}}


def image_token_count(processor: ProcessorMixin, image: Any, budget: int | None = None) -> int:
    """Image soft tokens (`<|image|>` placeholders) that `image` takes at `budget`.

    The prompt grows by this plus 2 (the `<|image>` and `<image|>` that wrap them). `image` is a PIL image, an
    array (H, W, C) or anything with `.size` (width, height), or a (height, width) tuple. `budget=None` uses the
    processor's default.
    """
    height, width = _image_size(image)
    image_processor = processor.image_processor
    budget = budget or image_processor.max_soft_tokens
    _check_budget(budget)
    patch = image_processor.patch_size
    kernel = image_processor.pooling_kernel_size
    target_h, target_w = _aspect_ratio_preserving_size(height, width, patch, budget * kernel**2, kernel)
    return (target_h // patch) * (target_w // patch) // kernel**2


def _check_budget(budget: int) -> None:
    if budget not in IMAGE_TOKEN_BUDGETS:
        raise ValueError(f"visual token budget must be one of {IMAGE_TOKEN_BUDGETS}, got {budget}")


def _image_size(image: Any) -> tuple[int, int]:
    if isinstance(image, tuple) and len(image) == 2:
        return int(image[0]), int(image[1])
    shape = getattr(image, "shape", None)
    if shape is not None and len(shape) >= 2:  # numpy (H, W[, C])
        return int(shape[0]), int(shape[1])
    size = getattr(image, "size", None)
    if isinstance(size, tuple) and len(size) == 2:  # PIL: (width, height)
        return int(size[1]), int(size[0])
    raise TypeError(f"cannot tell the size of {type(image).__name__}")


def _aspect_ratio_preserving_size(
    height: int, width: int, patch_size: int, max_patches: int, pooling_kernel_size: int
) -> tuple[int, int]:
    """The image processor's resize rule (gemma4 image_processing_pil_gemma4.get_aspect_ratio_preserving_size)."""
    from transformers.models.gemma4.image_processing_pil_gemma4 import get_aspect_ratio_preserving_size

    return get_aspect_ratio_preserving_size(
        height=height, width=width, patch_size=patch_size, max_patches=max_patches,
        pooling_kernel_size=pooling_kernel_size,
    )


__all__ = [
    "IMAGE_TOKEN_BUDGETS", "ImageTextProcessor", "load_processor", "build_image_text_processor",
    "budget_kwargs", "image_token_count", "special_token_escaper", "apply_chat_template_checked",
]
