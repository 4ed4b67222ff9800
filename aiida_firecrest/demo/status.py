"""Demo server: the ``/status`` endpoints (systems, user info, partitions, nodes, reservations, liveness).

The shapes copy the real server's answers recorded in ``01``-``07`` of the exchanges: one system
(``settings.system_name``) with a Slurm scheduler (or a PBS one, see :mod:`.pbs`), two file systems
(the home root, the default work directory, and the scratch root) and the ``dataOperation`` block
that clients read ``max_ops_file_size`` from.
"""

from __future__ import annotations

import datetime
import math
import os
import socket
from typing import Any

from fastapi import APIRouter

from . import pbs
from .auth import CurrentUser, SystemName
from .routing import Settings
from .settings import DemoSettings
from .slurm import PARTITIONS, SLURM_VERSION

router = APIRouter()

SECRET_MASK = '**********'


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%S.%fZ')


def _seconds(value: float) -> int:
    """Whole seconds, as the real server's configuration has them (a demo timeout may be a fraction)."""
    return max(1, math.ceil(value))


def _health(service_type: str, path: str | None = None, message: str | None = None) -> dict[str, Any]:
    health: dict[str, Any] = {
        'serviceType': service_type,
        'lastChecked': _now(),
        'latency': 0.001,
        'healthy': True,
        'message': message,
    }
    if path is not None:
        health['path'] = path
    return health


def _scheduler_ping(settings: DemoSettings) -> str:
    """The scheduler health message (``scontrol ping`` as the real server renders it)."""
    if settings.scheduler == 'pbs':
        return pbs.ping_message(socket.gethostname().split('.')[0])
    return str([{'mode': 'primary', 'hostname': socket.gethostname(), 'pinged': 'UP'}])


def _data_operation(settings: DemoSettings) -> dict[str, Any]:
    slurm_directives = ['#SBATCH --nodes=1', '#SBATCH --time=0-00:15:00', '#SBATCH --partition=xfer']
    return {
        'datatransfer_jobs_directives': (
            pbs.TRANSFER_DIRECTIVES if settings.scheduler == 'pbs' else slurm_directives
        ),
        'max_ops_file_size': settings.max_ops_file_size,
        'data_transfer': _data_transfer(settings),
    }


def _data_transfer(settings: DemoSettings) -> dict[str, Any]:
    """The system's staged transfer method as the real server describes it (its defaults for the others)."""
    if settings.transfer_method == 'streamer':
        return {
            'serviceType': 'streamer',
            'pypiIndexUrl': None,
            'host': None,
            'portRange': [5665, 5675],
            'publicIps': None,
            'waitTimeout': 86400,
            'inboundTransferLimit': 5 * 1024**3,
        }
    if settings.transfer_method == 'wormhole':
        return {'serviceType': 'wormhole', 'pypiIndexUrl': None}
    return {
        'serviceType': 's3',
        'name': 's3-storage',
        'privateUrl': SECRET_MASK,
        'publicUrl': settings.s3_endpoint,
        'accessKeyId': SECRET_MASK,
        'secretAccessKey': SECRET_MASK,
        'region': 'us-east-1',
        'ttl': 604800,
        'tenant': None,
        'multipart': {
            'use_split': False,
            'max_part_size': settings.s3_max_part_size,
            'parallel_runs': 3,
            'tmp_folder': 'tmp',
        },
        'bucketLifecycleConfiguration': {'days': 10},
    }


def _scheduler(settings: DemoSettings, timeout: int) -> dict[str, Any]:
    if settings.scheduler == 'pbs':
        return pbs.scheduler_description(timeout)
    return {
        'type': 'slurm',
        'connectionMode': 'ssh',
        'version': SLURM_VERSION,
        'apiUrl': None,
        'apiVersion': None,
        'timeout': timeout,
    }


def system_description(settings: DemoSettings) -> dict[str, Any]:
    """The one system of the demo server, as ``GET /status/systems`` lists it."""
    home_root, scratch_root = str(settings.home_root), str(settings.scratch_root)
    timeout = _seconds(settings.command_timeout)
    return {
        'name': settings.system_name,
        'ssh': {
            'host': '127.0.0.1',
            'port': 22,
            'proxyHost': None,
            'proxyPort': None,
            'maxClients': 100,
            'timeout': {
                'connection': 5,
                'login': 5,
                'commandExecution': timeout,
                'idleTimeout': 60,
                'keepAlive': 5,
            },
        },
        'scheduler': _scheduler(settings, timeout),
        'servicesHealth': [
            _health('scheduler', message=_scheduler_ping(settings)),
            _health('ssh'),
            _health('filesystem', home_root),
            _health('filesystem', scratch_root),
            *([_health('s3')] if settings.transfer_method == 's3' else []),
        ],
        'probing': {
            'services': {
                'ssh': {'timeout': 5},
                'filesystem': {'timeout': 5},
                'scheduler': {'timeout': 10},
                's3': {'timeout': 10},
            },
            'intervalCheck': 60,
        },
        'lastHealthCheck': _now(),
        'fileSystems': [
            {'path': home_root, 'dataType': 'users', 'defaultWorkDir': True},
            {'path': scratch_root, 'dataType': 'scratch', 'defaultWorkDir': False},
        ],
        'dataOperation': _data_operation(settings),
    }


@router.get('/status/systems')
async def get_systems(settings: Settings, user: CurrentUser) -> dict[str, Any]:
    return {'systems': [system_description(settings)]}


@router.get('/status/liveness/')
async def get_liveness(settings: Settings) -> dict[str, Any]:
    """No token needed; without the trailing slash FastAPI answers 307, as the real server does."""
    return {'healthcheckRuns': {settings.system_name: _now()}, 'lastUpdate': 0}


@router.get('/status/{system_name}/userinfo')
async def get_userinfo(settings: Settings, system: SystemName) -> dict[str, Any]:
    group = {'id': str(settings.gid), 'name': settings.group}
    return {
        'user': {'id': str(settings.uid), 'name': settings.username},
        'group': group,
        'groups': [group],
        'accounts': [{'name': settings.account, 'default': True}],
    }


@router.get('/status/{system_name}/partitions')
async def get_partitions(settings: Settings, system: SystemName, show_hidden: bool = False) -> dict[str, Any]:
    if settings.scheduler == 'pbs':
        return {'partitions': pbs.partitions()}
    cpus = os.cpu_count() or 1
    return {
        'partitions': [
            {'name': name, 'cpus': cpus, 'totalNodes': 1, 'partition': 'UP'} for name in PARTITIONS
        ]
    }


def _free_memory_mib() -> int:
    try:
        return os.sysconf('SC_AVPHYS_PAGES') * os.sysconf('SC_PAGE_SIZE') // (1024 * 1024)
    except (ValueError, OSError):
        return 0


@router.get('/status/{system_name}/nodes')
async def get_nodes(system: SystemName) -> dict[str, Any]:
    cpus = os.cpu_count() or 1
    hostname = socket.gethostname()
    node = {
        'sockets': 1,
        'cores': cpus,
        'threads': 1,
        'cpus': cpus,
        'cpuLoad': os.getloadavg()[0],
        'freeMemory': _free_memory_mib(),
        'features': '(null)',
        'name': hostname,
        'address': '127.0.0.1',
        'hostname': hostname,
        'state': ['IDLE'],
        'partitions': list(PARTITIONS),
        'weight': 1,
        'allocMemory': 0,
        'allocCpus': 0,
        'idleCpus': cpus,
    }
    return {'nodes': [node]}


@router.get('/status/{system_name}/reservations')
async def get_reservations(system: SystemName) -> dict[str, Any]:
    return {'reservations': []}
