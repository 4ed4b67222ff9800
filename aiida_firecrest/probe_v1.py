"""The configure-time checks on a FirecREST v1 server: :class:`.probe.FirecrestProbe`'s questions.

A v1 server answers ``GET /status/systems`` with ``{"out": [{"system": ...}]}`` instead of v2's
``{"systems": [...]}`` (:func:`.probe.is_v1_systems_answer` tells them apart); its systems' file systems and
direct limit are in ``GET /status/parameters``, turned into v2's system description by
:func:`.records_v1.system_description`. Directories are made with ``POST /utilities/mkdir`` and the write
check goes through ``/utilities/upload`` and ``/utilities/rm``, each naming the system in ``X-Machine-Name``.
The user's name and groups come from ``GET /utilities/whoami?groups=true``; v1 lists no accounts.
"""

from __future__ import annotations

import posixpath
import secrets
from typing import Any

import httpx

from .probe import FirecrestProbe, ProbeError, is_v1_systems_answer, json_object
from .records_v1 import parameter, system_description, userinfo

__all__ = ('FirecrestV1Probe',)


def _not_v1(url: str, detail: str) -> ProbeError:
    return ProbeError(
        f'{url} does not serve the FirecREST v1 API ({detail}); check the URL and --api-version.'
    )


def _v1_error(response: httpx.Response) -> str:
    """What a v1 error answer says: its ``error`` or ``description``, or the header naming the kind."""
    body = json_object(response)
    for key in ('error', 'description'):
        value = body.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip().splitlines()[0]
    for name, value in response.headers.items():
        if name.lower().startswith('x-') and name.lower() not in {'x-request-id'}:
            return value
    return f'HTTP {response.status_code}'


class FirecrestV1Probe(FirecrestProbe):
    """Synchronous questions to one FirecREST v1 server; every failure raises a :class:`.probe.ProbeError`."""

    @classmethod
    def taking_over(cls, probe: FirecrestProbe) -> FirecrestV1Probe:
        """A v1 probe on ``probe``'s connections and token (``probe`` is not to be used any more)."""
        v1 = cls(probe.url, http=probe._http)
        v1._token = probe._token
        v1.api_version = '1'
        return v1

    def systems(self) -> list[dict[str, Any]]:
        """The server's systems as v2 describes them (file systems, direct limit, scheduler).

        :calls: GET ``/status/systems``, GET ``/status/parameters``
        """
        response = self._get('/status/systems')
        body = json_object(response)
        if response.status_code != 200 or not is_v1_systems_answer(body):
            raise _not_v1(self.url, f'GET /status/systems answered HTTP {response.status_code}')
        names = [str(entry['system']) for entry in body['out'] if entry.get('system')]
        answer = self._get('/status/parameters')
        parameters = json_object(answer).get('out')
        if answer.status_code != 200 or not isinstance(parameters, dict):
            raise _not_v1(self.url, f'GET /status/parameters answered HTTP {answer.status_code}')
        self.api_version = str(parameter(parameters, 'general', 'FIRECREST_VERSION') or '1')
        return [system_description(name, parameters) for name in names]

    def userinfo(self, system: str) -> dict[str, Any]:
        """The user's name and groups on ``system``, as v2's ``userinfo`` without ``accounts``.

        :calls: GET ``/utilities/whoami``
        """
        response = self._utilities('GET', 'whoami', system, params={'groups': 'true'})
        if response.status_code != 200:
            raise ProbeError(f'Cannot read your user information on {system}: {_v1_error(response)}.')
        return userinfo(json_object(response).get('output'))

    def _utilities(self, method: str, command: str, system: str, **kwargs: Any) -> httpx.Response:
        headers = {**self._auth(), 'X-Machine-Name': system}
        url = f'{self.url}/utilities/{command}'
        return self._send(method, url, shown_as=self.url, headers=headers, **kwargs)

    def make_directory(self, system: str, path: str) -> None:
        """Create directory ``path`` and its parents on ``system``; an existing directory is left as it is.

        :calls: POST ``/utilities/mkdir``
        """
        response = self._utilities('POST', 'mkdir', system, data={'targetPath': path, 'p': 'true'})
        if response.status_code == 201:
            return
        if 'X-Exists' in response.headers or 'File exists' in _v1_error(response):
            raise ProbeError(f'{path} exists on {system} and is not a directory; choose another path.')
        raise ProbeError(f'Cannot create the directory {path} on {system}: {_v1_error(response)}')

    def check_writable(self, system: str, directory: str) -> None:
        """Check that files can be written in ``directory``: upload a 1-byte file, then remove it.

        :calls: POST ``/utilities/upload``, DELETE ``/utilities/rm``
        """
        name = f'.aiida-firecrest-write-check-{secrets.token_hex(4)}'
        response = self._utilities(
            'POST', 'upload', system, data={'targetPath': directory}, files={'file': (name, b'x')}
        )
        if response.status_code not in {200, 201, 204}:
            raise ProbeError(f'Cannot write in {directory} on {system}: {_v1_error(response)}')
        self._utilities('DELETE', 'rm', system, data={'targetPath': posixpath.join(directory, name)})
