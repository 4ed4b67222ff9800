"""Run the demo server's API under uvicorn in this process (the launcher starts it as a subprocess).

Usage: ``python -m aiida_firecrest.demo.serve SETTINGS.json [--port N] [--ready-file FILE]``.
The socket is bound before uvicorn starts, so ``--port 0`` picks a free port without a race; the
chosen port is then written to ``FILE`` (see :func:`aiida_firecrest.demo.launcher.write_ready_file`).
"""

from __future__ import annotations

import argparse
import json
import socket
from pathlib import Path

import uvicorn
from fastapi import FastAPI

from .app import create_app
from .launcher import exit_with_parent, write_ready_file
from .settings import DemoSettings


def bind_socket(port: int) -> socket.socket:
    """A listening TCP socket on ``127.0.0.1:port`` (``0`` = any free port)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(('127.0.0.1', port))
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description='Serve the demo FirecREST v2 API on 127.0.0.1.')
    parser.add_argument('settings', type=Path, help='JSON file of DemoSettings.to_json()')
    parser.add_argument('--port', type=int, default=0, help='TCP port (default: a free one)')
    parser.add_argument('--ready-file', type=Path, help='write {"port": N} here once bound')
    parser.add_argument('--api', choices=('v1', 'v2'), default='v2', help='the FirecREST API to serve')
    args = parser.parse_args(argv)

    settings = DemoSettings.from_json(json.loads(args.settings.read_text()))
    try:
        sock = bind_socket(args.port)
    except OSError as exc:
        parser.exit(1, f'cannot listen on 127.0.0.1:{args.port}: {exc.strerror}\n')
    app: FastAPI
    if args.api == 'v1':
        from .v1.app import create_app as create_v1_app

        app = create_v1_app(settings)
    else:
        app = create_app(settings)
    config = uvicorn.Config(app, log_level='warning', timeout_graceful_shutdown=5)
    if args.ready_file is not None:
        write_ready_file(args.ready_file, {'port': sock.getsockname()[1]})
        exit_with_parent()
    uvicorn.Server(config).run(sockets=[sock])


if __name__ == '__main__':
    main()
