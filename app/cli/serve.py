"""`python main.py serve`: run the engine where the GPU is, on uvicorn, behind a token (and TLS when given).

Binds 127.0.0.1 by default (reach it through an SSH tunnel). Another address needs an explicit --token-file, the
token clients will present; without TLS the token then travels in clear text, which is said on start.
"""

from __future__ import annotations

import argparse
import ipaddress
import socket
import ssl
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from app.remote.limits import ServerLimits

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765
MAX_PEM_BYTES = 1 << 20  # a certificate chain or key file is a few kilobytes


class ServeError(Exception):
    """Bad options or an unusable address: printed as one line, exit status 2."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="diffusion-desk serve",
        description="Serve the engine to remote windows, the command line and OpenAI-compatible clients",
    )
    parser.add_argument("--model", help="checkpoint folder or hub id (default: the shipped demo model)")
    parser.add_argument("--host", default=DEFAULT_HOST, help="address to listen on (default: 127.0.0.1 only)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="port (default: 8765; 0 picks a free one)")
    parser.add_argument(
        "--token-file",
        help="file holding the bearer token; made with a new random token if "
        "missing (default: ~/.config/diffusion-desk/server-token)",
    )
    parser.add_argument("--certfile", help="TLS certificate (PEM); with --keyfile the server speaks https/wss")
    parser.add_argument("--keyfile", help="TLS private key (PEM)")
    parser.add_argument(
        "--allow-model-switch",
        action="store_true",
        help="let clients open another checkpoint (local folders and hub ids already cached here)",
    )
    parser.add_argument("--device", help="cuda, mps or cpu (default: the best available)")
    parser.add_argument("--dtype", help="bf16, fp16 or fp32 (default: bf16 on CUDA, fp32 elsewhere)")
    return parser


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_options(args: argparse.Namespace) -> None:
    """Refuse what would be unsafe or cannot work, before the slow model load."""
    if not is_loopback(args.host) and not args.token_file:
        raise ServeError(
            f"refusing to listen on {args.host} without --token-file: name the token file clients "
            "will present (or keep the default 127.0.0.1 and reach it through an SSH tunnel)"
        )
    if not 0 <= args.port <= 65535:
        raise ServeError(f"--port must be 0 to 65535, got {args.port}")
    if bool(args.certfile) != bool(args.keyfile):
        raise ServeError("--certfile and --keyfile go together")
    if args.certfile:
        from models.inputs.safe_files import UserFileError, check_user_file

        for option, path in (("--certfile", args.certfile), ("--keyfile", args.keyfile)):
            try:  # before ssl reads them: a FIFO would block it forever
                check_user_file(path, MAX_PEM_BYTES, "PEM")
            except UserFileError as error:
                raise ServeError(f"{option}: {error}") from error
        try:
            ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(args.certfile, args.keyfile)
        except (OSError, ssl.SSLError) as error:
            raise ServeError(f"cannot use the certificate {args.certfile} with key {args.keyfile}: {error}") from error


def listen(host: str, port: int) -> socket.socket:
    """A listening socket, bound now so that port 0 can be told and a busy port fails before serving."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        return socket.create_server((host, port), family=family)
    except OSError as error:
        raise ServeError(f"cannot listen on {host}:{port}: {error.strerror or error}") from error


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    try:
        return _serve(args)
    except ServeError as error:
        print(f"diffusion-desk serve: {error}", file=sys.stderr)
        return 2


def _serve(args: argparse.Namespace) -> int:
    from app.remote.tokens import TokenError, default_token_file, load_or_create_token
    from models.checkpoint.load_errors import LoadError

    check_options(args)
    token_file = Path(args.token_file).expanduser() if args.token_file else default_token_file()
    try:
        token, created = load_or_create_token(token_file)
    except TokenError as error:
        raise ServeError(str(error)) from error
    print(f"token file: {token_file}{' (a new token was written, mode 0600)' if created else ''}", flush=True)
    sock = listen(args.host, args.port)
    try:
        from app.remote.engine_host import EngineHost
        from app.remote.server import build_app
        from app.remote.transport import uvicorn_server
        from models.checkpoint.loading import load_checkpoint

        try:
            loaded = load_checkpoint(args.model, device=args.device, dtype=args.dtype)
        except LoadError as error:
            raise ServeError(str(error)) from error
        host = EngineHost(loaded, allow_model_switch=args.allow_model_switch, device=args.device, dtype=args.dtype)
        scheme = "https" if args.certfile else "http"
        bound_host, port = sock.getsockname()[:2]
        shown = f"[{bound_host}]" if ":" in bound_host else bound_host
        print(f"serving {loaded.name} on {loaded.device} at {scheme}://{shown}:{port}", flush=True)
        if not is_loopback(args.host) and not args.certfile:
            print(
                "warning: no TLS (--certfile/--keyfile): the token and the text travel in clear text",
                file=sys.stderr,
                flush=True,
            )
        try:
            uvicorn_server(build_app(host, token), args.certfile, args.keyfile).run(sockets=[sock])
        except KeyboardInterrupt:
            pass  # uvicorn shut down cleanly on Ctrl+C, then raised it again for us; no traceback for that
        print("server stopped", flush=True)
    finally:
        sock.close()
    return 0


class ServerThread:
    """A server on a background thread, on a socket already bound (tests and benchmarks); `stop()` ends it."""

    def __init__(
        self,
        app: Any,
        sock: socket.socket,
        certfile: str | None = None,
        keyfile: str | None = None,
        limits: ServerLimits | None = None,
    ) -> None:
        from app.remote.transport import uvicorn_server

        self.sock = sock
        self.server = uvicorn_server(app, certfile, keyfile, log_level="error", limits=limits)
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [sock]}, name="remote-server", daemon=True
        )

    @property
    def port(self) -> int:
        return self.sock.getsockname()[1]

    def start(self, timeout: float = 30.0) -> ServerThread:
        self.thread.start()
        for _ in range(int(timeout / 0.01)):
            if self.server.started:
                return self
            if not self.thread.is_alive():
                break
            threading.Event().wait(0.01)
        raise RuntimeError("the server did not start")

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)
        self.sock.close()
