"""The checkpoint's small tokenizer and processor files, served over authenticated HTTP and cached by content hash.

The client needs the tokenizer itself (the window decodes ids and retokenizes typed text). Gemma's tokenizer.json
is about 30 MB, too large for a capped WebSocket frame, so each file is one `GET /v1/files/<name>`; the model info
lists every file's size and SHA-256, and the client keeps them under a folder named by their hashes.
Only the names below are ever served or written: never weights, never a path.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import ssl
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

SERVED_FILES = (
    "config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "added_tokens.json",
    "tokenizer.model",
    "chat_template.jinja",
    "chat_template.json",
    "processor_config.json",
    "preprocessor_config.json",
)
MAX_FILE_BYTES = 64 * 2**20


class FileFetchError(OSError):
    """A tokenizer file could not be fetched or did not match its hash."""


def manifest(folder: Path) -> list[dict[str, Any]]:
    """[{name, size, sha256}] of the servable files present in a checkpoint folder."""
    entries = []
    for name in SERVED_FILES:
        file = folder / name
        if file.is_file() and file.stat().st_size <= MAX_FILE_BYTES:
            entries.append({"name": name, "size": file.stat().st_size, "sha256": _sha256(file.read_bytes())})
    return entries


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "diffusion-desk" / "remote-files"


def fetch_files(
    base_url: str,
    token: str,
    entries: list[dict[str, Any]],
    cache_dir: str | Path | None = None,
    ssl_context: ssl.SSLContext | None = None,
    timeout: float = 60.0,
) -> Path:
    """A local folder holding the listed files: from the cache when their hashes match, else downloaded."""
    _check_entries(entries)
    digest = _sha256("".join(f"{e['name']}:{e['sha256']}\n" for e in entries).encode())
    folder = Path(cache_dir or default_cache_dir()) / digest[:32]
    if (folder / ".complete").is_file():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    for entry in entries:
        data = _download(f"{base_url}/v1/files/{entry['name']}", token, entry["size"], ssl_context, timeout)
        if _sha256(data) != entry["sha256"]:
            raise FileFetchError(f"{entry['name']} from the server does not match its SHA-256; not used")
        _write_atomically(folder / entry["name"], data)
    (folder / ".complete").write_text("ok\n", encoding="ascii")
    return folder


def load_remote_processor(folder: Path) -> Any:
    """The processor built from fetched files, exactly as the local loader builds it."""
    from models.checkpoint.processing import load_processor

    return load_processor(folder, local_files_only=True)


def _check_entries(entries: Any) -> None:
    if not isinstance(entries, list) or not entries:
        raise FileFetchError("the server lists no tokenizer files")
    for entry in entries:
        ok = (
            isinstance(entry, dict)
            and entry.get("name") in SERVED_FILES
            and isinstance(entry.get("size"), int)
            and 0 <= entry["size"] <= MAX_FILE_BYTES
            and isinstance(entry.get("sha256"), str)
            and len(entry["sha256"]) == 64
        )
        if not ok:
            raise FileFetchError(f"the server lists a file this client will not fetch: {entry!r}")


def _download(url: str, token: str, size: int, ssl_context: ssl.SSLContext | None, timeout: float) -> bytes:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, context=ssl_context, timeout=timeout) as response:
            data = response.read(size + 1)
    except urllib.error.HTTPError as error:
        raise FileFetchError(f"the server refused {url} (HTTP {error.code})") from error
    except (urllib.error.URLError, OSError) as error:
        raise FileFetchError(f"could not fetch {url}: {getattr(error, 'reason', error)}") from error
    if len(data) != size:
        raise FileFetchError(f"{url} is {len(data)} bytes, the server listed {size}")
    return data


def _write_atomically(target: Path, data: bytes) -> None:
    temporary = target.with_name(f".{target.name}.{secrets.token_hex(6)}.tmp")
    try:
        temporary.write_bytes(data)
        os.replace(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
