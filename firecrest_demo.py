"""Try aiida-firecrest with no HPC account: a local demo FirecREST v2 server.

    python firecrest_demo.py [--scheduler pbs]                       # a guided walkthrough
    python firecrest_demo.py serve [--scheduler pbs] [--port N] [--config-out FILE] [--server-version 2.5.6]
    python firecrest_demo.py [serve] --api v1                         # the same as a FirecREST v1 server

``serve`` starts the demo server (API, token endpoint, S3 endpoint) on free 127.0.0.1 ports,
prints how to connect, writes the connection details as JSON to FILE (the format that the test
suite's ``--firecrest-config`` reads) and runs until Ctrl-C or SIGTERM. ``--scheduler pbs`` makes
the demo's system an OpenPBS one (``cluster-pbs``) instead of Slurm (``cluster-slurm-ssh``).
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
from pathlib import Path
from typing import Any

from aiida_firecrest.demo.settings import SYSTEM_NAMES
from aiida_firecrest.demo.versions import RECORDED, VERSIONS


def describe(config: dict[str, Any], config_out: Path | None) -> str:
    """What a person needs to connect, in the order a FirecREST client asks for it."""
    written = f' (also written as JSON to {config_out.resolve()})' if config_out is not None else ''
    root = Path(config['home']).parent.parent
    lines = [
        f'FirecREST v{config.get("api_version", 2)} demo server is running. Stop it with Ctrl-C (SIGTERM).',
        '',
        f'Connection details{written}:',
        f'  API URL:          {config["url"]}',
        f'  token URI:        {config["token_uri"]}  (OAuth2 client credentials)',
        f'  client id:        {config["client_id"]}',
        f'  client secret:    {config["client_secret"]}',
        f'  system:           {config["compute_resource"]} ({config["scheduler"]})',
        f'  billing account:  {config["billing_account"]}',
        f'  work directory:   {config["workdir"]}',
        f'  temp directory:   {config["temp_directory"]}',
        '',
        f'Its file systems are real directories under {root}, deleted when the server stops:',
        f'  home:             {config["home"]}',
        f'  scratch:          {config["scratch"]}',
        f'Direct file operations stop at {config["max_ops_file_size"]} bytes (max_ops_file_size);',
        f'larger transfers are staged through its S3 endpoint at {config["s3_endpoint"]}.',
        f'It answers as FirecREST {config["server_version"]} (f7t-appversion header and API differences).',
    ]
    if config_out is not None:
        lines += ['', f'Run the test suite against it: pytest --firecrest-config={config_out}']
    return '\n'.join(lines)


def _interrupt(signum: int, frame: object) -> None:
    """Turn SIGTERM (and SIGINT, also where a shell started us with it ignored) into the same clean stop."""
    raise KeyboardInterrupt


def serve(
    port: int,
    config_out: Path | None,
    scheduler: str,
    server_version: str,
    transfer_method: str,
    api: str = 'v2',
) -> None:
    """Run the demo server until SIGINT or SIGTERM; everything it started is stopped and removed then.

    :param scheduler: the demo system's scheduler (``slurm`` or ``pbs``).
    :param server_version: the FirecREST release it answers as (``2.x.x``: the recorded server).
    :param transfer_method: the staged transfer method its system offers.
    :param api: ``v2``, or ``v1`` for FirecREST v1's API.
    """
    from aiida_firecrest.demo.launcher import DemoServer, DemoServerError

    for stop_signal in (signal.SIGTERM, signal.SIGINT):
        signal.signal(stop_signal, _interrupt)
    try:
        with DemoServer(
            port=port,
            scheduler=scheduler,
            server_version=server_version,
            transfer_method=transfer_method,
            api=api,
        ) as server:
            if config_out is not None:
                config_out.write_text(json.dumps(server.config, indent=2) + '\n')
            print(describe(server.config, config_out), flush=True)
            while True:
                signal.pause()
    except KeyboardInterrupt:
        print('Demo server stopped; its processes and files are gone.', flush=True)
    except (DemoServerError, ValueError) as exc:
        sys.exit(f'The demo server did not start: {exc}')


SCHEDULERS = tuple(SYSTEM_NAMES)
SCHEDULER_HELP = "the demo system's scheduler (default: slurm)"
API_HELP = 'the FirecREST API the demo server speaks (default: v2)'


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog='firecrest_demo.py', description=__doc__.split('\n')[0])
    parser.add_argument('--scheduler', choices=SCHEDULERS, default='slurm', help=SCHEDULER_HELP)
    parser.add_argument('--api', choices=('v1', 'v2'), default='v2', help=API_HELP)
    commands = parser.add_subparsers(dest='command')
    serve_parser = commands.add_parser('serve', help='run the demo FirecREST server until Ctrl-C')
    serve_parser.add_argument(
        '--scheduler', choices=SCHEDULERS, default=argparse.SUPPRESS, help=SCHEDULER_HELP
    )
    serve_parser.add_argument('--api', choices=('v1', 'v2'), default=argparse.SUPPRESS, help=API_HELP)
    serve_parser.add_argument('--port', type=int, default=0, help='API port (default: a free one)')
    serve_parser.add_argument('--config-out', type=Path, help='write the connection details (JSON) here')
    serve_parser.add_argument(
        '--server-version',
        choices=tuple(VERSIONS),
        default=RECORDED,
        help=f'the FirecREST release to answer as (default {RECORDED}: the recorded, unreleased 2.5.7)',
    )
    serve_parser.add_argument(
        '--transfer-method',
        choices=('s3', 'streamer', 'wormhole'),
        default='s3',
        help='the staged transfer method the system offers (default s3; the others are published only)',
    )
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    if args.command is None:
        from aiida_firecrest.demo.walkthrough import main as walkthrough

        if args.api == 'v1':
            walkthrough(args.scheduler, args.api)
        else:
            walkthrough(args.scheduler)
        return
    serve(args.port, args.config_out, args.scheduler, args.server_version, args.transfer_method, args.api)


if __name__ == '__main__':
    main()
