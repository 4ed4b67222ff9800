"""``/status`` of FirecREST v1: the systems, the services and the deployment's parameters.

``/status/parameters`` is how a client learns the server's version (``general.FIRECREST_VERSION``), the
limit of direct transfers (``utilities.UTILITIES_MAX_FILE_SIZE``, in MB) and the object storage
(``storage.*``); a v2 server has no such endpoint, which is how a client tells the two apart.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from ..auth import CurrentUser
from ..settings import MIB
from .errors import V1Error
from .state import State, V1State

__all__ = ('FIRECREST_VERSION', 'parameters', 'router')

FIRECREST_VERSION = 'v1.16.0'
"""The release the demo answers as (the last 1.x release line)."""
SERVICES = ('certificator', 'utilities', 'compute', 'tasks', 'storage', 'reservations')
#: Seconds a direct (``/utilities``) command may run (``F7T_UTILITIES_TIMEOUT``).
UTILITIES_TIMEOUT = '5'
#: Lifetime of the object store's presigned URLs, in seconds (``F7T_STORAGE_TEMPURL_EXP_TIME``).
TEMPURL_EXPIRY = '604800'
#: The largest staged transfer, in MB (``F7T_STORAGE_MAX_FILE_SIZE``).
STORAGE_MAX_FILE_SIZE = '5120'

router = APIRouter()


def _parameter(name: str, value: Any, unit: str, description: str) -> dict[str, Any]:
    return {'name': name, 'value': value, 'unit': unit, 'description': description}


def parameters(state: V1State) -> dict[str, Any]:
    """The ``out`` of ``/status/parameters`` for this server."""
    settings = state.settings
    mounted = [str(settings.home_root), str(settings.scratch_root)]
    return {
        'general': [
            _parameter('FIRECREST_VERSION', FIRECREST_VERSION, '', 'FirecREST version.'),
            _parameter('FIRECREST_BUILD', '2024-06-01T00:00:00', '', 'FirecREST build timestamp.'),
        ],
        'compute': [
            _parameter('WORKLOAD_MANAGER', 'Slurm', '', 'Type of resource and workload manager used.'),
        ],
        'utilities': [
            _parameter(
                'UTILITIES_MAX_FILE_SIZE',
                f'{settings.max_ops_file_size / MIB:g}',
                'MB',
                'The maximum allowable file size for various operations of the utilities microservice.',
            ),
            _parameter('UTILITIES_TIMEOUT', UTILITIES_TIMEOUT, 'seconds', 'Maximum duration of a command.'),
        ],
        'storage': [
            _parameter('OBJECT_STORAGE', 's3v4', '', 'Type of object storage.'),
            _parameter(
                'STORAGE_TEMPURL_EXP_TIME', TEMPURL_EXPIRY, 'seconds', 'Expiration time for temp URLs.'
            ),
            _parameter(
                'STORAGE_MAX_FILE_SIZE', STORAGE_MAX_FILE_SIZE, 'MB', 'Maximum file size for temp URLs.'
            ),
            _parameter(
                'FILESYSTEMS',
                [{'system': settings.system_name, 'mounted': mounted}],
                '',
                'Available filesystems through the API.',
            ),
        ],
    }


def _system(state: V1State) -> dict[str, Any]:
    return {'system': state.settings.system_name, 'status': 'available', 'description': 'System ready'}


@router.get('/status/parameters')
async def get_parameters(state: State, user: CurrentUser) -> dict[str, Any]:
    return {'description': "Firecrest's parameters", 'out': parameters(state)}


@router.get('/status/systems')
async def get_systems(state: State, user: CurrentUser) -> dict[str, Any]:
    return {'description': 'List of systems with status and description.', 'out': [_system(state)]}


@router.get('/status/systems/{machinename}')
async def get_system(machinename: str, state: State, user: CurrentUser) -> dict[str, Any]:
    if machinename != state.settings.system_name:
        raise V1Error(404, 'System does not exists.')
    return {'description': 'System information', 'out': _system(state)}


@router.get('/status/services')
async def get_services(user: CurrentUser) -> dict[str, Any]:
    out = [
        {'service': name, 'status': 'available', 'description': 'server up & flask running'}
        for name in SERVICES
    ]
    return {'description': 'List of services with status and description.', 'out': out}


@router.get('/status/services/{servicename}')
async def get_service(servicename: str, user: CurrentUser) -> dict[str, Any]:
    if servicename not in SERVICES:
        raise V1Error(404, 'Service does not exists')
    return {'service': servicename, 'status': 'available', 'description': 'server up & flask running'}


@router.get('/status/filesystems')
async def get_filesystems(state: State, user: CurrentUser) -> dict[str, Any]:
    settings = state.settings
    out = [
        {
            'name': name,
            'path': str(path),
            'status': 'available',
            'status_code': 200,
            'description': 'Filesystem is ready',
        }
        for name, path in (('home', settings.home_root), ('scratch', settings.scratch_root))
    ]
    return {'description': 'Filesystem information', 'out': {settings.system_name: out}}
