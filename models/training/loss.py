"""The denoising loss, built to match how `generate` (and the engine) run the model.

At generation time the encoder reads the prompt into a KV cache; the decoder then sees a canvas in which the
accepted tokens are the model's own picks and every other position is a uniformly random token, plus the previous
step's logits scaled by a temperature between t_max and t_min (none at the first step). So one training example is:
- the prompt (text and image) through the encoder, with the masks `generate` builds, filling a DynamicCache;
- the answer canvas (answer, end of turn, pad) with each position replaced by a uniform random token with
  probability t, t ~ U(0, 1) per example;
- a first decoder pass with no self-conditioning (as at the first step), then, for half of the examples, a second
  pass conditioned on the first pass's logits divided by a temperature from U(t_min, t_max); no gradient flows
  through the first pass's logits (the sampler detaches them too);
- cross-entropy of the final pass against the clean canvas, at every canvas position.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from transformers import DynamicCache

from models.training.data import Example
from models.work.prompts import Prompt


@dataclass
class Batch:
    """Left-padded prompts and clean answer canvases; image tensors when the examples have images."""

    inputs: dict[str, torch.Tensor]  # input_ids, attention_mask, mm_token_type_ids[, pixel_values, image_position_ids]
    canvas: torch.Tensor  # (batch, canvas_length) clean target ids
    answer_mask: torch.Tensor  # (batch, canvas_length) True on answer tokens and the end of turn


def answer_canvas(tokenizer: Any, answer: str, canvas_length: int, end_id: int, pad_id: int) -> list[int]:
    """The canvas `generate` should commit: the answer, one end-of-turn, then pad (as EOS padding leaves it)."""
    ids = tokenizer(answer, add_special_tokens=False)["input_ids"] + [end_id]
    if len(ids) > canvas_length:
        raise ValueError(f"answer {answer!r} does not fit one canvas of {canvas_length} tokens")
    return ids + [pad_id] * (canvas_length - len(ids))


def collate(examples: list[Example], processor: Any, canvas_length: int, end_id: int, pad_id: int) -> Batch:
    """Encode each prompt as the engine does (chat template, images first), then left-pad to one length.

    Left padding is exact for this model: its positions are rotary (relative), padded keys are masked out, and the
    canvas follows the last prompt token, as in an unpadded run.
    """
    encoded = []
    for example in examples:
        images = (example.image,) if example.image is not None else ()
        prompt = Prompt(user=example.user, system=example.system, images=images)
        encoded.append(processor.apply_chat_template(
            prompt.messages(), add_generation_prompt=True, tokenize=True, return_dict=True, return_tensors="pt",
        ))
    length = max(item["input_ids"].shape[1] for item in encoded)
    batch_size = len(examples)
    input_ids = torch.full((batch_size, length), pad_id, dtype=torch.long)
    attention_mask = torch.zeros((batch_size, length), dtype=torch.long)
    token_types = torch.zeros((batch_size, length), dtype=torch.long)
    for row, item in enumerate(encoded):
        n = item["input_ids"].shape[1]
        input_ids[row, length - n:] = item["input_ids"][0]
        attention_mask[row, length - n:] = 1
        if "mm_token_type_ids" in item:
            token_types[row, length - n:] = item["mm_token_type_ids"][0]
    inputs = {"input_ids": input_ids, "attention_mask": attention_mask, "mm_token_type_ids": token_types}
    if any("pixel_values" in item for item in encoded):
        inputs["pixel_values"] = torch.cat([item["pixel_values"] for item in encoded if "pixel_values" in item])
        inputs["image_position_ids"] = torch.cat(
            [item["image_position_ids"] for item in encoded if "image_position_ids" in item])
    tokenizer = getattr(processor, "tokenizer", processor)
    canvas = torch.tensor([answer_canvas(tokenizer, e.answer, canvas_length, end_id, pad_id) for e in examples])
    answer_mask = torch.zeros_like(canvas, dtype=torch.bool)
    for row, example in enumerate(examples):
        answer_mask[row, :len(tokenizer(example.answer, add_special_tokens=False)["input_ids"]) + 1] = True
    return Batch(inputs=inputs, canvas=canvas, answer_mask=answer_mask)


def corrupt(canvas: torch.Tensor, vocab_size: int, generator: torch.Generator,
            levels: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Uniform noise: each position becomes a random token with probability t (one t ~ U(0, 1) per example).

    Returns (noisy canvas, noise mask, levels). A replaced position may draw its own token again, as in renoising.
    """
    batch_size = canvas.shape[0]
    if levels is None:
        levels = torch.rand(batch_size, generator=generator)
    noise = torch.rand(canvas.shape, generator=generator) < levels[:, None]
    random_ids = torch.randint(0, vocab_size, canvas.shape, generator=generator)
    return torch.where(noise, random_ids, canvas), noise, levels


def encode_prompt(model: Any, inputs: dict[str, torch.Tensor]) -> tuple[DynamicCache, torch.Tensor]:
    """Run the encoder over the prompt as `generate` does; return the filled cache and the prompt's 2D mask."""
    input_ids = inputs["input_ids"]
    batch_size, length = input_ids.shape
    attention_mask = inputs["attention_mask"].bool()
    cache = DynamicCache(config=model.config.get_text_config(decoder=True))
    positions = torch.arange(0, length, dtype=torch.int32).unsqueeze(0)
    extra = {k: v for k, v in inputs.items() if k not in ("input_ids", "attention_mask")}
    _, masks = model._prepare_encoder_inputs(
        input_ids=input_ids, attention_mask=attention_mask, encoder_position_ids=positions, past_key_values=cache,
        is_prefill=True, canvas_length=model.config.canvas_length, batch_size=batch_size, **extra,
    )
    outputs = model.model.encoder(input_ids=input_ids, attention_mask=masks, past_key_values=cache,
                                  position_ids=positions, **extra)
    return outputs.past_key_values, attention_mask


def diffusion_loss(model: Any, batch: Batch, generator: torch.Generator, self_condition_rate: float = 0.5,
                   t_min: float = 0.4, t_max: float = 0.8,
                   self_condition_gap: float = 0.0) -> tuple[torch.Tensor, dict[str, float]]:
    """Mean cross-entropy over the canvas after one (or, with self-conditioning, two) decoder passes.

    With `self_condition_gap` > 0 the first pass reads a noisier canvas than the second: each of its clean positions
    is renoised with probability d, d ~ U(0, gap) per example. That is what the sampler gives the model: its
    self-conditioning logits come from the previous step, whose canvas lacked the tokens accepted since. Conditioned
    on the same canvas instead, the model learns to copy the self-conditioning and ignore the canvas: the demo
    model, so trained, never kept its first accepted digits of a square from scratch (every entropy stayed ln 4).
    """
    canvas = batch.canvas
    batch_size, canvas_length = canvas.shape
    vocab_size = model.config.text_config.vocab_size
    cache, attention_mask = encode_prompt(model, batch.inputs)
    prompt_length = attention_mask.shape[1]
    decoder_mask_2d = F.pad(attention_mask, (0, canvas_length), value=True)
    noisy, noise, _ = corrupt(canvas, vocab_size, generator)
    masks = model.model.decoder.create_diffusion_decoder_attention_mask(
        config=model.config, inputs_embeds=noisy.unsqueeze(-1), past_key_values=cache,
        decoder_attention_mask=decoder_mask_2d,
    )
    positions = torch.arange(prompt_length, prompt_length + canvas_length, dtype=torch.int32).unsqueeze(0)
    use_self_conditioning = torch.rand(batch_size, generator=generator) < self_condition_rate
    self_conditioning = None
    if bool(use_self_conditioning.any()):
        earlier = noisy
        if self_condition_gap > 0:
            gap = self_condition_gap * torch.rand(batch_size, generator=generator)
            renoise = (torch.rand(canvas.shape, generator=generator) < gap[:, None]) & ~noise
            earlier = torch.where(renoise, torch.randint(0, vocab_size, canvas.shape, generator=generator), noisy)
        with torch.no_grad():
            first = model(decoder_input_ids=earlier, past_key_values=cache, decoder_attention_mask=masks,
                          decoder_position_ids=positions).logits
        temperature = t_min + (t_max - t_min) * torch.rand(batch_size, generator=generator)
        self_conditioning = first / temperature[:, None, None]
    logits = model(decoder_input_ids=noisy, past_key_values=cache, decoder_attention_mask=masks,
                   decoder_position_ids=positions, self_conditioning_logits=self_conditioning,
                   self_conditioning_mask=use_self_conditioning if self_conditioning is not None else None).logits
    per_token = F.cross_entropy(logits.reshape(-1, vocab_size), canvas.reshape(-1), reduction="none")
    per_token = per_token.view(batch_size, canvas_length)
    loss = per_token.mean()
    with torch.no_grad():
        answer = batch.answer_mask
        stats = {
            "loss": float(loss),
            "answer_loss": float(per_token[answer].mean()),
            "answer_accuracy": float((logits.argmax(-1) == canvas)[answer].float().mean()),
            "noise": float(noise.float().mean()),
        }
    return loss, stats
