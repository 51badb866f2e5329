"""OpenAI-compatible routes: `POST /v1/chat/completions` (streamed or not) and `GET /v1/models`.

Existing clients (the `openai` package, Open WebUI, Jan) can use the same server. The model writes whole canvases,
so a stream sends the answer's new text each time a canvas commits, not token by token. Sampler settings come from
the model's defaults; `max_tokens` (or `max_completion_tokens`) and `seed` are honoured, and the extra fields
`steps`, `entropy_bound`, `t_min`, `t_max`, `sampler`, `sampler_temperature`, `threshold`, `editing_threshold`,
`corrector_steps`, `corrector_k`, `corrector_selection`, `corrector_selection_tau`, `think` and `image_budget` set the
rest. `temperature` and `top_p` are ignored (OpenAI clients send them meaning something else): the entropy-bound
sampler's temperature falls from t_max to t_min, the others' is `sampler_temperature`. Images are `data:` URLs only;
the server never fetches a URL.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
import logging
import threading
import time
import uuid
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from app.remote.errors import ServerBusy
from app.remote.messages import MAX_IMAGES, MAX_REQUEST_PIXELS, RequestError
from models.inputs.images import IMAGE_TOKEN_BUDGETS, ImageError, check_pixel_budget, load_image_bytes
from models.inputs.json_fields import JsonLimitError, loads_bounded, shown
from models.inputs.validation import InputError, check_prompt_texts
from models.work.events import CanvasCommitted, Event, GenerationResult
from models.work.prompts import Prompt, Turn, split_reply
from models.work.settings import SamplerSettings, SettingsError

if TYPE_CHECKING:
    from app.remote.engine_host import EngineHost

log = logging.getLogger("diffusion_desk.remote")
# OpenAI fields this server cannot honour, refused rather than silently ignored: the model is not trained to call
# tools, so a client that offers tools would wait for a call that never comes.
_REFUSED_FIELDS = {
    "tools": "tool calling",
    "tool_choice": "tool calling",
    "functions": "function calling",
    "function_call": "function calling",
}
_EXTRA_SETTINGS = {
    "steps": "max_denoising_steps",
    "entropy_bound": "entropy_bound",
    "t_min": "t_min",
    "t_max": "t_max",
    "max_tokens": "max_new_tokens",
    "max_completion_tokens": "max_new_tokens",
    "seed": "seed",
    "sampler": "sampler",
    "sampler_temperature": "temperature",
    "threshold": "threshold",
    "editing_threshold": "editing_threshold",
    "corrector_steps": "corrector_steps",
    "corrector_k": "corrector_k",
    "corrector_selection": "corrector_selection",
    "corrector_selection_tau": "corrector_selection_tau",
}


class ModelNotServed(RequestError):
    """The request names another model than the one this server serves."""


def openai_routes(host: EngineHost) -> list[Route]:
    async def chat_completions(request: Request) -> Response:
        return await _chat_completions(host, request)

    async def models(request: Request) -> Response:
        return JSONResponse(
            {
                "object": "list",
                "data": [{"id": host.loaded.name, "object": "model", "created": 0, "owned_by": "diffusion-desk"}],
            }
        )

    return [
        Route("/v1/chat/completions", chat_completions, methods=["POST"]),
        Route("/v1/models", models, methods=["GET"]),
    ]


def _error(status: int, message: str, kind: str = "invalid_request_error", code: str = "invalid") -> JSONResponse:
    return JSONResponse({"error": {"message": message, "type": kind, "code": code}}, status_code=status)


async def _chat_completions(host: EngineHost, request: Request) -> Response:
    try:
        return await _answer(host, request)
    except Exception as error:  # noqa: BLE001 - a bug: logged, and still an OpenAI-shaped answer
        log.exception("a chat completion failed")
        return _error(500, f"the server failed: {type(error).__name__}", "server_error", "internal")


async def _answer(host: EngineHost, request: Request) -> Response:
    try:  # numbers beyond ±2^63 and deep nesting are refused by the parser, before any field is read
        body = loads_bounded(await request.body())
    except ClientDisconnect:  # gone before its body arrived (or cut off at the request deadline): nobody to answer
        return Response(status_code=499)
    except JsonLimitError as error:
        return _error(400, f"the request body is not acceptable JSON: {error}")
    try:
        # Off the loop: images are decoded here.
        prompt, settings, budget, stream = await asyncio.to_thread(
            validate_chat, body, host.loaded.name, host.limits.defaults
        )
    except ModelNotServed as error:
        return _error(404, str(error), code="model_not_found")
    except (RequestError, SettingsError, ImageError, InputError) as error:
        return _error(400, str(error))
    cancel = threading.Event()
    events = host.generator.generate(prompt, settings, cancel, image_budget=budget)
    reply = _Reply(host, body.get("model") or host.loaded.name)
    if stream:
        return StreamingResponse(reply.chunks(events, cancel), media_type="text/event-stream")
    result = None
    try:
        async with contextlib.aclosing(host.stream(events, cancel)) as stream_events:
            async for event in stream_events:
                if isinstance(event, GenerationResult):
                    result = event
                elif await request.is_disconnected():
                    return Response(status_code=499)  # leaving the stream cancelled the run
    except ServerBusy as error:
        return _error(429, str(error), "server_busy", "busy")
    except (RequestError, SettingsError, ImageError, InputError) as error:  # found as the engine prepares
        return _error(400, str(error))
    assert result is not None
    return JSONResponse(reply.completion(result))


def validate_chat(
    body: Any, model_name: str, defaults: SamplerSettings
) -> tuple[Prompt, SamplerSettings, int | None, bool]:
    """(prompt, settings, image budget, stream) of a chat completion request; RequestError, SettingsError, ..."""
    if not isinstance(body, dict):
        raise RequestError("the request body must be a JSON object")
    if body.get("model") not in (None, "", model_name):
        raise ModelNotServed(f"model {shown(body['model'])} is not served here; this server serves {model_name!r}")
    for field, what in _REFUSED_FIELDS.items():
        if body.get(field) not in (None, [], "none"):
            raise RequestError(f"{field}: this server does not support {what} (DiffusionGemma writes text only)")
    if body.get("n", 1) != 1:
        raise RequestError("n must be 1: the server makes one completion per request")
    stream, think, budget = body.get("stream", False), body.get("think", False), body.get("image_budget")
    if not isinstance(stream, bool) or not isinstance(think, bool):
        raise RequestError("stream and think must be true or false")
    if budget is not None and (isinstance(budget, bool) or not isinstance(budget, int) or budget not in
                               IMAGE_TOKEN_BUDGETS):
        raise RequestError(f"image_budget must be one of {', '.join(map(str, IMAGE_TOKEN_BUDGETS))}")
    changes = {name: body[key] for key, name in _EXTRA_SETTINGS.items() if body.get(key) is not None}
    settings = defaults.with_values(**changes)
    prompt = _prompt(body.get("messages"), think)
    check_prompt_texts(prompt)
    return prompt, settings, budget, stream


def _prompt(messages: Any, think: bool) -> Prompt:
    if not isinstance(messages, list) or not messages or not all(isinstance(m, dict) for m in messages):
        raise RequestError("messages must be a non-empty list of {role, content} objects")
    system: list[str] = []
    turns: list[tuple[str, list[tuple[str, bytes]]]] = []  # (text, [(name, encoded image)]) of user turns
    answers: list[str] = []
    images_seen = 0
    for index, message in enumerate(messages):
        role = message.get("role")
        text, images = _content(message.get("content"), index)
        images_seen += len(images)
        if role in ("system", "developer") and not turns:
            system.append(text)
        elif role == "user" and len(turns) == len(answers):
            turns.append((text, images))
        elif role == "assistant" and len(turns) == len(answers) + 1 and not images:
            answers.append(text)
        else:
            raise RequestError(
                f"messages[{index}]: expected system messages first, then user and assistant "
                "turns in turn, ending with a user message"
            )
    if images_seen > MAX_IMAGES:
        raise RequestError(f"a request may carry at most {MAX_IMAGES} images, got {images_seen}")
    if len(turns) != len(answers) + 1:
        raise RequestError("the last message must be the user's")
    check_pixel_budget([data for _, images in turns for _, data in images], MAX_REQUEST_PIXELS)  # before decoding
    decoded = [tuple(load_image_bytes(data, name) for name, data in images) for _, images in turns]
    history = tuple(
        Turn(user, answer, images)
        for (user, _), images, answer in zip(turns[:-1], decoded[:-1], answers, strict=True)
    )
    return Prompt(user=turns[-1][0], system="\n\n".join(system), think=think, images=decoded[-1], history=history)


def _content(content: Any, index: int) -> tuple[str, list[tuple[str, bytes]]]:
    """The text of a message's content and its images, named and still encoded."""
    if isinstance(content, str):
        return content, []
    if not isinstance(content, list):
        raise RequestError(f"messages[{index}].content must be a string or a list of parts")
    texts, images = [], []
    for part in content:
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text" and isinstance(part.get("text"), str):
            texts.append(part["text"])
        elif kind == "image_url" and isinstance(part.get("image_url"), dict):
            name = f"messages[{index}] image {len(images) + 1}"
            images.append((name, _data_url_bytes(part["image_url"].get("url"), name)))
        else:
            raise RequestError(
                f"messages[{index}].content has a part this server does not take: {shown(kind)} "
                "(text and image_url are taken)"
            )
    return "\n".join(texts), images


def _data_url_bytes(url: Any, name: str) -> bytes:
    if not isinstance(url, str) or not url.startswith("data:") or ";base64," not in url:
        raise RequestError(f"{name}: images must be base64 data: URLs; this server does not fetch URLs")
    try:
        return base64.b64decode(url.split(";base64,", 1)[1], validate=True)
    except (binascii.Error, ValueError) as error:
        raise RequestError(f"{name}: the data URL is not valid base64") from error


class _Reply:
    """Builds the completion (or its chunks) of one request, in OpenAI's shapes."""

    def __init__(self, host: EngineHost, model: str) -> None:
        self.host, self.model = host, model
        self.id = f"chatcmpl-{uuid.uuid4().hex}"
        self.created = int(time.time())

    def completion(self, result: GenerationResult) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": result.answer}
        if result.thought:
            message["reasoning_content"] = result.thought
        return {
            "id": self.id,
            "object": "chat.completion",
            "created": self.created,
            "model": self.model,
            "choices": [{"index": 0, "message": message, "finish_reason": self._finish(result)}],
            "usage": self._usage(result),
        }

    async def chunks(self, events: Any, cancel: threading.Event) -> AsyncIterator[str]:
        """Server-sent events: the answer's new text as each canvas commits, then the finish reason."""
        yield self._chunk({"role": "assistant", "content": ""})
        sent, committed = "", []

        def answer_so_far(event: Event) -> str | GenerationResult | None:
            # On the worker thread: decoding a long answer at every commit stays off the event loop.
            if isinstance(event, CanvasCommitted):
                committed.extend(int(i) for i in event.token_ids)
                return split_reply(committed, self.host.generator.tokenizer)[2]
            return event if isinstance(event, GenerationResult) else None

        try:
            async with contextlib.aclosing(self.host.stream(events, cancel, answer_so_far)) as items:
                async for item in items:
                    if isinstance(item, str) and item.startswith(sent) and len(item) > len(sent):
                        yield self._chunk({"content": item[len(sent) :]})
                        sent = item
                    elif isinstance(item, GenerationResult):
                        if len(item.answer) > len(sent) and item.answer.startswith(sent):
                            yield self._chunk({"content": item.answer[len(sent) :]})
                        yield self._chunk({}, self._finish(item), self._usage(item))
        except ServerBusy as error:
            yield self._error_event(str(error), "server_busy", "busy")
        except (RequestError, SettingsError, ImageError, InputError) as error:
            yield self._error_event(str(error), "invalid_request_error", "invalid")
        except Exception as error:  # noqa: BLE001 - the engine failed mid-stream: said in the stream, and logged
            log.exception("a streamed chat completion failed")
            yield self._error_event(f"the server failed: {type(error).__name__}", "server_error", "internal")
        yield "data: [DONE]\n\n"

    @staticmethod
    def _error_event(message: str, kind: str, code: str) -> str:
        return f"data: {json.dumps({'error': {'message': message, 'type': kind, 'code': code}})}\n\n"

    def _chunk(self, delta: dict[str, Any], finish: str | None = None, usage: dict | None = None) -> str:
        chunk: dict[str, Any] = {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }
        if usage is not None:
            chunk["usage"] = usage
        return f"data: {json.dumps(chunk)}\n\n"

    def _finish(self, result: GenerationResult) -> str:
        ended = bool(set(result.token_ids.tolist()) & self.host.generator.end_ids())
        return "stop" if ended else "length"

    def _usage(self, result: GenerationResult) -> dict[str, int]:
        ends = self.host.generator.end_ids()
        ids = result.token_ids.tolist()
        completion = next((i for i, token in enumerate(ids) if token in ends), len(ids))
        prompt = len(result.prompt_ids)
        return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}
