"""The calls the suite's fixtures make of pyfirecrest's v2 sync client, made on a FirecREST v1 server.

The fixtures set up and inspect files with ``firecrest.v2.Firecrest``'s methods, independently of the
plugins under test. On a v1 server (the v1 demo, or a server whose ``--firecrest-config`` file says
``"api_version": "1"``) :class:`V1SetupClient` gives them the same methods through pyfirecrest's
``firecrest.v1.Firecrest``: files above the server's direct limit go through its object storage.
"""

from __future__ import annotations

import io
import shutil
import tempfile
from pathlib import Path
from typing import Any

import firecrest
from firecrest.v1 import Firecrest

MIB = 1024 * 1024


class V1SetupClient:
    """``mkdir``, ``upload``, ``extract``, ``compress``, ``view``, ``download``, ``rm``, ``chmod``, ``stat``,
    ``list_files``, ``userinfo`` and ``systems`` with the signatures of ``firecrest.v2.Firecrest``."""

    def __init__(self, url: str, auth: firecrest.ClientCredentialsAuth) -> None:
        self._client = Firecrest(firecrest_url=url, authorization=auth)
        self._client.timeout = 60
        self._client.num_retries_rate_limit = 5
        self._client.polling_sleep_times = [0.2] * 1500
        self._direct_limit: int | None = None

    def direct_limit(self) -> int:
        """``UTILITIES_MAX_FILE_SIZE`` of ``/status/parameters`` in bytes (asked once)."""
        if self._direct_limit is None:
            utilities = self._client.parameters().get('utilities') or []
            value = next(
                (item['value'] for item in utilities if item.get('name') == 'UTILITIES_MAX_FILE_SIZE'), 5
            )
            self._direct_limit = int(float(value) * MIB)
        return self._direct_limit

    def systems(self) -> list[dict[str, Any]]:
        """The systems of ``/status/systems``, each named as v2 names it (``name``)."""
        return [{'name': system['system'], **system} for system in self._client.all_systems()]

    def userinfo(self, system: str) -> dict[str, Any]:
        groups = dict(self._client.groups(system))
        return {'user': groups.get('user'), 'group': groups.get('group'), 'groups': groups.get('groups')}

    def mkdir(self, system: str, path: str, create_parents: bool = False) -> None:
        self._client.mkdir(system, path, p=create_parents or None)

    def upload(self, system: str, local: Any, directory: str, name: str, **_: Any) -> None:
        """``local`` is a path or, as pyfirecrest also takes, a binary file object."""
        with tempfile.TemporaryDirectory() as scratch:
            path = Path(scratch) / name
            if hasattr(local, 'read'):
                with path.open('wb') as out:
                    shutil.copyfileobj(local, out)
            else:
                shutil.copyfile(local, path)
            if path.stat().st_size <= self.direct_limit():
                self._client.simple_upload(system, str(path), directory, filename=name)
                return
            upload = self._client.external_upload(system, str(path), directory)
            upload.finish_upload()
            _wait(upload, 'upload', path)

    def download(self, system: str, remote: str, local: str | Path | io.BytesIO, **_: Any) -> None:
        if int(self.stat(system, remote, dereference=True)['size']) <= self.direct_limit():
            self._client.simple_download(system, remote, local)
            return
        download = self._client.external_download(system, remote)
        if isinstance(local, (str, Path)):
            download.finish_download(local)
        else:
            with tempfile.TemporaryDirectory() as scratch:
                path = Path(scratch) / 'object'
                download.finish_download(path)
                local.write(path.read_bytes())
        download.invalidate_object_storage_link()

    def view(self, system: str, path: str) -> str:
        """The whole file (v1's ``/utilities/view`` runs ``head``: its first lines only)."""
        buffer = io.BytesIO()
        self.download(system, path, buffer)
        return buffer.getvalue().decode()

    def extract(self, system: str, archive: str, directory: str, **_: Any) -> None:
        self._client.extract(system, archive, directory)

    def compress(self, system: str, source: str, archive: str, **_: Any) -> None:
        self._client.compress(system, source, archive)

    def rm(self, system: str, path: str, **_: Any) -> None:
        self._client.simple_delete(system, path)

    def chmod(self, system: str, path: str, mode: str) -> None:
        self._client.chmod(system, path, mode)

    def stat(self, system: str, path: str, dereference: bool = False) -> dict[str, int]:
        """Of a missing path: pyfirecrest's error for a 404, as v2's client raises (v1 answers 400)."""
        import httpx

        try:
            answer: dict[str, Any] = dict(self._client.stat(system, path, dereference))
            return {key: int(value) for key, value in answer.items()}
        except firecrest.FirecrestException as exc:
            headers = exc.responses[-1].headers if exc.responses else {}
            if 'X-Not-Found' in headers or 'X-Invalid-Path' in headers:
                raise firecrest.FirecrestException([httpx.Response(404)]) from exc
            raise

    def list_files(self, system: str, path: str, show_hidden: bool = False, **_: Any) -> list[dict[str, Any]]:
        return [dict(entry) for entry in self._client.list_files(system, path, show_hidden=show_hidden)]

    def close_session(self) -> None:
        """pyfirecrest's v1 sync client keeps no session to close."""


def _wait(transfer: Any, kind: str, path: Path) -> None:
    """Wait for the staged ``transfer``'s task to be done (pyfirecrest's ``in_progress`` polls it)."""
    import time

    deadline = time.monotonic() + 300
    while transfer.in_progress:
        if time.monotonic() > deadline:
            raise TimeoutError(f'the staged {kind} of {path.name} did not finish in 300 s')
        time.sleep(0.2)
