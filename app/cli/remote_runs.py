"""The command line's `--server URL --token-file F`: `generate` and `rewrite` run on a server's engine.

app/cli/generate.py keeps its one flow (the same checks, the same JSON); only the engine it runs on changes: the
`RemoteGenerator` has `Generator`'s methods and yields the same events. Imports nothing heavy until it connects.
"""

from __future__ import annotations

import argparse
from typing import Any

from models.work.settings import SamplerSettings


class ServerOptionError(ValueError):
    """Options that cannot go with --server (or --server without its token file)."""


def add_server_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--server", metavar="URL", help="run on a Diffusion Desk server (main.py serve), e.g. http://127.0.0.1:8765"
    )
    parser.add_argument("--token-file", metavar="FILE", help="the server's token file (with --server)")
    parser.add_argument(
        "--ca-file", metavar="FILE", help="trust this certificate for an https server with a self-signed certificate"
    )


def check_server_options(args: argparse.Namespace) -> None:
    """With --server: a token file, and no option that picks a local model; without it, no server options."""
    if getattr(args, "server", None):
        for option in ("model", "device", "dtype"):
            if getattr(args, option, None):
                raise ServerOptionError(f"--{option} cannot be used with --server: the server runs its own model")
        if not args.token_file:
            raise ServerOptionError("--server needs --token-file (the server prints the file's path when it starts)")
        _check_server_files(args)
        return
    for option in ("token_file", "ca_file"):
        if getattr(args, option, None):
            raise ServerOptionError(f"--{option.replace('_', '-')} is for --server")


def _check_server_files(args: argparse.Namespace) -> None:
    """The address, the token file and the CA file, checked before anything slow (light imports only): a FIFO
    would block a read forever, and a malformed address should not wait for a model to load to be refused."""
    from app.remote.address import MAX_CA_FILE_BYTES, AddressError, endpoints
    from app.remote.tokens import TokenError, read_token
    from models.inputs.safe_files import UserFileError, check_user_file

    try:
        secure = endpoints(args.server)[0].startswith("wss://")
        read_token(args.token_file)
        if args.ca_file and secure:
            check_user_file(args.ca_file, MAX_CA_FILE_BYTES, "certificate")
    except (AddressError, TokenError) as error:
        raise ServerOptionError(str(error)) from error
    except UserFileError as error:
        raise ServerOptionError(f"--ca-file: {error}") from error


def connect_server(args: argparse.Namespace) -> tuple[Any, SamplerSettings, str]:
    """(engine, the served model's sampler defaults, its name for a saved session) of --server."""
    from app.remote.client import RemoteGenerator

    remote = RemoteGenerator(args.server, token_file=args.token_file, cafile=args.ca_file)
    return remote, remote.info.defaults, remote.info.source
