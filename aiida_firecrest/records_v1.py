"""Pure translations of FirecREST v1's answers into the records the plugins read (those of v2).

The AiiDA layers read v2's shapes (:mod:`.remote`'s ``LsEntry``, the system description of
``/status/systems``, the job records of ``/compute/{system}/jobs``); a v1 server answers otherwise
(``ls`` in snake_case, ``/status/parameters``, ``squeue`` and ``sacct`` lines as strings). Nothing here
sends a request; the tests feed it answers of the v1 demo.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Mapping
from typing import Any

from .remote import JobRecord, LsEntry, unescape_ls_name
from .settings import MIB

__all__ = (
    'COMPRESSION_TYPES',
    'acct_job_record',
    'ls_entry',
    'max_direct_size',
    'parameter',
    'queue_job_record',
    'seconds',
    'system_description',
    'userinfo',
)

#: The ``type`` of v1's extract for each compression the transfer layer names (tar detects xz by itself).
COMPRESSION_TYPES = {'none': '.tar', 'gzip': '.gz', 'bzip2': '.bz2', 'xz': '.tar'}
_DURATION = re.compile(r'^(?:(\d+)-)?(?:(\d+):)?(\d+):(\d+)$')


def ls_entry(entry: Mapping[str, Any]) -> LsEntry:
    """A v1 ``ls`` entry (``link_target``, ``last_modified``) as v2's, its name unescaped."""
    return LsEntry(
        name=unescape_ls_name(str(entry.get('name', ''))),
        type=str(entry.get('type', '-')),
        permissions=str(entry.get('permissions', '')),
        size=entry.get('size', 0),
        user=str(entry.get('user', '')),
        group=str(entry.get('group', '')),
        lastModified=str(entry.get('last_modified', '')),
        linkTarget=unescape_ls_name(str(entry['link_target'])) if entry.get('link_target') else None,
    )


def parameter(parameters: Mapping[str, Any], section: str, name: str) -> Any:
    """The value of one of ``/status/parameters``' entries (None if it is not there)."""
    for entry in parameters.get(section) or []:
        if isinstance(entry, Mapping) and entry.get('name') == name:
            return entry.get('value')
    return None


def max_direct_size(parameters: Mapping[str, Any]) -> int | None:
    """``UTILITIES_MAX_FILE_SIZE`` (MB) in bytes: the largest file ``/utilities`` moves directly."""
    value = parameter(parameters, 'utilities', 'UTILITIES_MAX_FILE_SIZE')
    try:
        size = int(float(value) * MIB)
    except (TypeError, ValueError):
        return None
    return size if size > 0 else None


def system_description(system: str, parameters: Mapping[str, Any]) -> dict[str, Any]:
    """What v2's ``/status/systems`` would say of ``system``, from v1's parameters.

    The scheduler is Slurm (``compute.WORKLOAD_MANAGER``); files above the direct limit go through the
    object store, which the plugin calls the ``s3`` method.
    """
    manager = str(parameter(parameters, 'compute', 'WORKLOAD_MANAGER') or 'Slurm').lower()
    mounted: list[str] = []
    for entry in parameter(parameters, 'storage', 'FILESYSTEMS') or []:
        if isinstance(entry, Mapping) and entry.get('system') == system:
            mounted = [str(path) for path in entry.get('mounted') or []]
    return {
        'name': system,
        'scheduler': {'type': 'pbs' if 'pbs' in manager else 'slurm'},
        'dataOperation': {
            'max_ops_file_size': max_direct_size(parameters),
            'data_transfer': {'serviceType': 's3'},
        },
        'fileSystems': [{'path': path, 'dataType': 'users'} for path in mounted],
    }


def userinfo(output: Any) -> dict[str, Any]:
    """``/utilities/whoami?groups=true``'s output as v2's ``userinfo`` (no ``accounts``: v1 lists none).

    From FirecREST 1.15 on the output is ``{"user", "group", "groups"}``; earlier servers ignore ``groups``
    and answer the user name alone.
    """
    if isinstance(output, str):
        return {'user': {'name': output.strip()}, 'group': {}, 'groups': []}
    groups = output if isinstance(output, Mapping) else {}
    return {
        'user': dict(groups.get('user') or {}),
        'group': dict(groups.get('group') or {}),
        'groups': list(groups.get('groups') or []),
    }


def seconds(text: Any) -> int | None:
    """``[D-][HH:]MM:SS`` (squeue's and sacct's durations) in seconds; None for anything else."""
    match = _DURATION.match(str(text or '').strip())
    if match is None:
        return None
    days, hours, minutes, secs = (int(part) if part else 0 for part in match.groups())
    return ((days * 24 + hours) * 60 + minutes) * 60 + secs


def _epoch(text: Any) -> int | None:
    """A local ``YYYY-MM-DDTHH:MM:SS`` (sacct's and squeue's) as epoch seconds; None for ``Unknown``..."""
    try:
        return int(datetime.datetime.fromisoformat(str(text)).timestamp())
    except ValueError:
        return None


def _nodes(record: Mapping[str, Any]) -> tuple[str, int]:
    nodelist = str(record.get('nodelist') or '')
    try:
        count = int(record.get('nodes') or 0)
    except ValueError:
        count = 0
    return ('' if nodelist.startswith('(') or nodelist == 'None assigned' else nodelist), count


def queue_job_record(record: Mapping[str, Any]) -> JobRecord:
    """An active job of ``/compute/jobs`` (squeue) as v2's record; the pending reason is ``%R``'s."""
    nodelist = str(record.get('nodelist') or '')
    reason = nodelist[1:-1] if nodelist.startswith('(') and nodelist.endswith(')') else 'None'
    nodes, count = _nodes(record)
    elapsed = seconds(record.get('time')) or 0
    left = seconds(record.get('time_left'))
    return {
        'jobId': str(record.get('jobid')),
        'name': record.get('name'),
        'user': record.get('user'),
        'partition': record.get('partition'),
        'status': {'state': record.get('state'), 'stateReason': reason, 'exitCode': None},
        'time': {
            'start': _epoch(record.get('start_time')),
            'elapsed': elapsed,
            'limit': None if left is None else left + elapsed,
        },
        'nodes': nodes,
        'allocationNodes': count,
    }


def acct_job_record(record: Mapping[str, Any]) -> JobRecord:
    """A job of ``/compute/acct`` (``sacct -X``) as v2's record: state, exit code and signal, times."""
    code, _, signal = str(record.get('exit_code') or '0:0').partition(':')
    nodes, count = _nodes(record)
    return {
        'jobId': str(record.get('jobid')),
        'name': record.get('name'),
        'user': record.get('user'),
        'partition': record.get('partition'),
        'status': {
            'state': record.get('state'),
            'stateReason': 'None',
            'exitCode': int(code) if code.isdigit() else None,
            'interruptSignal': int(signal) if signal.isdigit() else None,
        },
        'time': {
            'start': _epoch(record.get('start_time')),
            'end': _epoch(record.get('termination_time')),
            'elapsed': seconds(record.get('elapsed_time')),
        },
        'nodes': nodes,
        'allocationNodes': count,
    }
