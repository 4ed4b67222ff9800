"""The AiiDA transport plugin ``firecrest``: AiiDA's file operations on a FirecREST v2 server.

:class:`FirecrestTransport` maps AiiDA's ``*_async`` transport methods onto :mod:`.remote` (the
backend, :class:`.remote.Remote`) and :mod:`.transfer` (how bytes move); the blocking methods are
inherited from ``AsyncTransport``. It follows the semantics of aiida-core's own transports
(``core.ssh_async``): absolute paths, ``overwrite``, glob sources, the "copy into an existing
directory" rule of ``put``/``get``/``copy``, and ``OSError`` for remote state, ``ValueError`` for
bad arguments. Operations are not checked beforehand with ``stat``: the server does the operation
and its error is translated, except where AiiDA's semantics depend on the remote state.

The operations come in layers, each a module of one job, each class building on the one before:
:mod:`.transport_base` (the open client and path helpers), :mod:`.file_queries`, :mod:`.file_changes`,
:mod:`.put_get` and :mod:`.remote_archives`; this module adds what is left: remote-to-remote copies, the
refusal of command execution, and what ``verdi`` asks of a transport class.
"""

from __future__ import annotations

import os
from typing import Any

from aiida.transports.transport import (
    AsyncTransport,
    Transport,
    TransportPath,
)

from .config import AUTH_OPTIONS
from .remote_archives import RemoteArchives

__all__ = ('FirecrestTransport',)


class FirecrestTransport(RemoteArchives):
    """Transport through the FirecREST v2 REST API (file operations and transfers, no command execution)."""

    _valid_auth_options = AUTH_OPTIONS
    #: Seconds the engine waits before opening a transport (aiida-core sleeps this long on every open, so
    #: that the tasks arriving meanwhile share the open transport). SSH's 15 s protect sshd's limit on new
    #: connections; opening this transport sends nothing, so no such limit applies. One second still
    #: gathers the daemon's concurrent uploads, submissions and retrievals onto one client (one token, one
    #: kept-alive HTTPS connection, the server facts cached) instead of one each, which is what keeps the
    #: centre's rate limits happy; the request count itself does not depend on it.
    _DEFAULT_SAFE_OPEN_INTERVAL = 1.0

    def __str__(self) -> str:
        return f'{"OPEN" if self._is_open else "CLOSED"} [FirecrestTransport {self._config.compute_resource}]'

    @classmethod
    def _get_use_login_shell_suggestion_string(cls, computer: Any) -> bool:
        """Propose ``False`` for aiida-core's ``use_login_shell`` in ``verdi computer configure``.

        FirecREST runs no shell for this transport, so the option changes nothing; stored as False, it
        spares ``verdi computer test`` its login-shell timing, which opens the transport six more times
        to compare two identical things. A boolean, not aiida-core's ``'False'`` string, so that the
        interactive prompt shows the default it stores (``[y/N]``).
        """
        return False

    async def copy_from_remote_to_remote_async(
        self,
        transportdestination: Transport,
        remotesource: TransportPath,
        remotedestination: TransportPath,
        **kwargs: Any,
    ) -> None:
        """Copy from this server to another computer through a local sandbox.

        :param transportdestination: the (open) transport of the destination computer.
        :param remotesource: absolute path here, may contain a pattern.
        :param remotedestination: absolute path on the destination.
        :param kwargs: ``dereference`` (for the download), ``overwrite``, ``ignore_nonexisting``.
        """
        from aiida.common.folders import SandboxFolder

        dereference = kwargs.pop('dereference', True)
        put_options = {
            'dereference': True,
            'overwrite': kwargs.pop('overwrite', True),
            'ignore_nonexisting': kwargs.pop('ignore_nonexisting', False),
        }
        kwargs.pop('callback', None)
        if kwargs:
            self.logger.error(f'Unknown parameters passed to copy_from_remote_to_remote: {sorted(kwargs)}')
        with SandboxFolder() as sandbox:
            await self.get_async(remotesource, str(sandbox.abspath), dereference=dereference, overwrite=True)
            for name in sandbox.get_content_list():
                source = os.path.join(sandbox.abspath, name)
                if isinstance(transportdestination, AsyncTransport):
                    await transportdestination.put_async(source, remotedestination, **put_options)
                else:
                    transportdestination.put(source, remotedestination, **put_options)

    async def exec_command_wait_async(self, command: str, *args: Any, **kwargs: Any) -> Any:
        """FirecREST offers no command execution.

        :raises NotImplementedError: always.
        """
        raise NotImplementedError(
            'FirecREST offers no remote command execution: the firecrest transport supports file operations '
            'and transfers only, and jobs are submitted through the firecrest scheduler.'
        )

    def gotocomputer_command(self, remotedir: TransportPath | None = None) -> str:
        """A shell command explaining how to reach ``remotedir`` without an interactive FirecREST session."""
        where = f' The remote directory is {remotedir}.' if remotedir else ''
        message = (
            'FirecREST offers no interactive shell.'
            f'{where} Inspect files with `verdi calcjob remotecat` / `verdi calcjob outputcat`, '
            "or log in to the cluster with the centre's SSH access if you have one."
        )
        return f'echo {_shell_quote(message)}'


def _shell_quote(text: str) -> str:
    return "'" + text.replace("'", "'\"'\"'") + "'"
