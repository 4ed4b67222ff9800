"""Try aiida-firecrest with no HPC account: a local demo FirecREST v2 server.

    python firecrest_demo.py                     # a guided walkthrough
    python firecrest_demo.py serve [--port N] [--config-out FILE]

``serve`` starts the demo server (API, token endpoint, S3 endpoint) on free 127.0.0.1 ports,
prints how to connect, writes the connection details as JSON to FILE (the format that the test
suite's ``--firecrest-config`` reads) and runs until Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
from pathlib import Path
from typing import Any


def _describe(config: dict[str, Any]) -> str:
    return '\n'.join(
        [
            'FirecREST v2 demo server is running.',
            f'  API URL:          {config["url"]}',
            f'  token URI:        {config["token_uri"]}',
            f'  client id:        {config["client_id"]}',
            f'  client secret:    {config["client_secret"]}',
            f'  system:           {config["compute_resource"]}',
            f'  billing account:  {config["billing_account"]}',
            f'  home:             {config["home"]}',
            f'  work directory:   {config["workdir"]}',
            f'  temp directory:   {config["temp_directory"]}',
            'Stop it with Ctrl-C.',
        ]
    )


def _interrupt(signum: int, frame: object) -> None:
    """Turn SIGTERM into the same clean stop as Ctrl-C."""
    raise KeyboardInterrupt


def serve(port: int, config_out: Path | None) -> None:
    """Run the demo server until SIGINT or SIGTERM."""
    from aiida_firecrest.demo.launcher import DemoServer

    signal.signal(signal.SIGTERM, _interrupt)
    with DemoServer(port=port) as server:
        if config_out is not None:
            config_out.write_text(json.dumps(server.config, indent=2) + '\n')
        print(_describe(server.config), flush=True)
        if config_out is not None:
            print(f'Connection details written to {config_out.resolve()}', flush=True)
        try:
            while True:
                signal.pause()
        except KeyboardInterrupt:
            print('Stopping the demo server...', flush=True)


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if not argv:
        from aiida_firecrest.demo.walkthrough import main as walkthrough

        walkthrough()
        return
    parser = argparse.ArgumentParser(prog='firecrest_demo.py', description=__doc__.split('\n')[0])
    commands = parser.add_subparsers(dest='command', required=True)
    serve_parser = commands.add_parser('serve', help='run the demo FirecREST server until Ctrl-C')
    serve_parser.add_argument('--port', type=int, default=0, help='API port (default: a free one)')
    serve_parser.add_argument('--config-out', type=Path, help='write the connection details (JSON) here')
    args = parser.parse_args(argv)
    serve(args.port, args.config_out)


if __name__ == '__main__':
    main()
