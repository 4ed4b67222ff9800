"""What the FirecREST server in front of the plugin can do, read from its API version and system description.

FirecREST releases differ in ways the plugin must follow (the table, with the CHANGELOG line of each
difference, is in :mod:`aiida_firecrest.demo.versions`):

* ``compress`` / ``extract`` take a ``compression`` (none, gzip, bzip2, xz) since 2.4.0; 2.2.8 ignores it
  and always writes and reads gzip (:func:`supports_compression`);
* a system moves files above its direct limit by one staged method, its
  ``dataOperation.data_transfer.serviceType``: ``s3``, ``streamer`` (since 2.4.1) or ``wormhole`` (since
  2.4.0); since 2.5.0 the server refuses a request for another one. Only ``s3`` works here
  (:func:`staged_transfer_method`): pyfirecrest's streamer client (firecrest-streamer 0.0.21) writes its
  end-of-file marker into every file it receives and reports failures only to its log, and wormhole needs
  the ``wormhole`` command and a public relay on both sides.

A version header that does not name a release (``2.x.x``: a server built from source) counts as the newest.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .errors import FirecrestConfigError
from .probe import parse_api_version

__all__ = (
    'SCHEDULER_ENTRY_POINTS',
    'SUPPORTED_TRANSFER_METHODS',
    'scheduler_mismatch',
    'staged_transfer_method',
    'supports_compression',
    'transfer_method_problem',
)

SCHEDULER_ENTRY_POINTS = {'slurm': 'firecrest', 'pbs': 'firecrest.pbs'}
"""The scheduler plugin for each ``scheduler.type`` that FirecREST's ``/status/systems`` reports."""

SUPPORTED_TRANSFER_METHODS = ('s3',)
"""The staged transfer methods this plugin can use."""

COMPRESSION_SINCE = (2, 4, 0)

_WHY_NOT = {
    'streamer': 'firecrest-streamer 0.0.21 appends its end-of-file marker to every file it receives',
    'wormhole': 'it needs the magic-wormhole command and a public relay on both sides',
}


def _at_least(header: str | None, release: tuple[int, ...]) -> bool:
    """Whether a server of version ``header`` is ``release`` or newer (an unstated part counts as newest)."""
    version = parse_api_version(header)
    return version is None or version >= release[: len(version)]


def supports_compression(header: str | None) -> bool:
    """Whether a server of ``f7t-appversion`` ``header`` honours ``compression`` in compress and extract."""
    return _at_least(header, COMPRESSION_SINCE)


def offered_transfer_method(system: Mapping[str, Any]) -> str | None:
    """The staged transfer method ``system`` (an entry of ``GET /status/systems``) offers, None for none.

    A system without its own ``dataOperation`` (servers before 2.5.0 describe it beside the systems, where
    pyfirecrest does not keep it) offers ``s3``: the only method before 2.4.0, and the usual one after.
    """
    operation = system.get('dataOperation')
    if not isinstance(operation, Mapping):
        return 's3'
    transfer = operation.get('data_transfer', operation.get('dataTransfer'))
    if not isinstance(transfer, Mapping):
        return None
    method = transfer.get('serviceType', transfer.get('service_type'))
    return str(method) if method else None


def transfer_method_problem(system: Mapping[str, Any]) -> str | None:
    """One line saying why files above the direct limit cannot move to and from ``system``, or None."""
    method = offered_transfer_method(system)
    if method in SUPPORTED_TRANSFER_METHODS:
        return None
    name = system.get('name', '?')
    if method is None:
        return (
            f'FirecREST offers no staged transfer method on {name}: files too large for a direct transfer '
            "cannot be moved; ask the centre to configure an 's3' data_transfer for this system."
        )
    reason = _WHY_NOT.get(method, 'it is unknown to aiida-firecrest')
    return (
        f'FirecREST moves files too large for a direct transfer to and from {name} only by {method!r}, '
        f"which aiida-firecrest does not support ({reason}); ask the centre to configure an 's3' "
        'data_transfer for this system.'
    )


def staged_transfer_method(system: Mapping[str, Any]) -> str:
    """The ``transfer_method`` to ask for in a staged transfer to or from ``system``.

    :param system: the system's entry of ``GET /status/systems`` (``FirecrestClient.system_info()``).
    :raises FirecrestConfigError: with one line naming the method and what to do, if the system offers
        no method this plugin supports.
    """
    problem = transfer_method_problem(system)
    if problem is not None:
        raise FirecrestConfigError(problem)
    return str(offered_transfer_method(system))


def scheduler_mismatch(system: Mapping[str, Any], scheduler_type: str) -> str | None:
    """One line if ``system`` runs another scheduler than ``scheduler_type`` (``slurm``, ``pbs``), else None.

    A job script with the other scheduler's directives would run with none of its resources.
    """
    actual = str((system.get('scheduler') or {}).get('type') or '').lower()
    if not actual or actual == scheduler_type:
        return None
    plugin = SCHEDULER_ENTRY_POINTS.get(actual)
    advice = f'set the computer up with the scheduler `{plugin}`' if plugin else 'no plugin for it'
    return f'FirecREST system {system.get("name", "?")} runs {actual}, not {scheduler_type}: {advice}.'
