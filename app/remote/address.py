"""Server addresses (`http://host:port`, `https://...`, `ws://`, `wss://`): parsed with nothing heavy imported, so
the command line refuses a malformed one at once, before any model or connection."""

from __future__ import annotations

import urllib.parse

DEFAULT_PORT = 8765
ENGINE_PATH = "/v1/engine"
MAX_CA_FILE_BYTES = 16 << 20  # a CA bundle (--ca-file); checked as a regular file before ssl reads it


class AddressError(ValueError):
    """Not a server address; the message quotes it and says what one looks like."""


def endpoints(url: str) -> tuple[str, str, str]:
    """(WebSocket URL, HTTP base URL, host:port) of a server address like http://host:8765 or wss://host:8765."""
    not_an_address = AddressError(f"{url!r} is not a server address (http://host:port or https://host:port)")
    try:
        parsed = urllib.parse.urlsplit(url if "://" in url else f"http://{url}")
        hostname = parsed.hostname
    except ValueError as error:  # an unclosed IPv6 bracket ('http://[::1'), a bad character
        raise not_an_address from error
    secure = {"http": False, "ws": False, "https": True, "wss": True}.get(parsed.scheme)
    if secure is None or not hostname:
        raise not_an_address
    try:
        port = parsed.port or DEFAULT_PORT
    except ValueError as error:
        raise AddressError(f"{url!r} has a bad port number") from error
    host = f"[{hostname}]" if ":" in hostname else hostname
    netloc = f"{host}:{port}"
    return (
        f"{'wss' if secure else 'ws'}://{netloc}{ENGINE_PATH}",
        f"{'https' if secure else 'http'}://{netloc}",
        netloc,
    )
