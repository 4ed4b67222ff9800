"""Fixtures of the end-to-end tests: a bash code on the test's ``firecrest`` computer, remote helpers."""

from __future__ import annotations

import io
import typing as t
from pathlib import PurePosixPath

import pytest

if t.TYPE_CHECKING:
    from aiida import orm


@pytest.fixture
def bash_code(firecrest_computer: orm.Computer) -> orm.InstalledCode:
    """``/bin/bash`` on the cluster, the code of ``core.arithmetic.add`` and of the test CalcJobs."""
    from aiida import orm

    return orm.InstalledCode(
        computer=firecrest_computer, filepath_executable='/bin/bash', label='bash'
    ).store()


class Remote:
    """Reading and writing files on the server with pyfirecrest, independently of the plugins under test."""

    def __init__(self, client: t.Any, system: str) -> None:
        self._client = client
        self._system = system

    def write(self, path: PurePosixPath, content: str) -> None:
        data = content.encode()
        self._client.upload(self._system, io.BytesIO(data), str(path.parent), path.name, file_size=len(data))

    def read(self, path: PurePosixPath | str) -> str:
        return str(self._client.view(self._system, str(path)))

    def names(self, path: PurePosixPath | str) -> list[str]:
        return sorted(
            entry['name'] for entry in self._client.list_files(self._system, str(path), show_hidden=True)
        )


@pytest.fixture
def remote(firecrest_sync: t.Any, firecrest_server: t.Any) -> Remote:
    return Remote(firecrest_sync, firecrest_server.config['compute_resource'])
