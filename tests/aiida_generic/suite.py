"""Obtain aiida-core's generic transport suite (``tests/transports/test_all_plugins.py``), installed version.

aiida-core's test code is not part of this repository. In order, the suite file comes from:

1. ``$AIIDA_TRANSPORT_SUITE``: a path to a copy of the file;
2. the cache, ``$XDG_CACHE_HOME/aiida-firecrest/aiida-core-<version>/test_all_plugins.py``;
3. aiida-core's source distribution on PyPI (``pip download aiida-core==<version> --no-binary :all:``),
   if it contains ``tests/`` (the 2.9.x sdists do not);
4. the release tag on GitHub (developer machines; CI reaches only PyPI).

Whatever is found is cached, so each version is fetched once.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import httpx
from aiida import __version__ as AIIDA_VERSION  # noqa: N812

SUITE_MEMBER = 'tests/transports/test_all_plugins.py'
GITHUB_URL = 'https://raw.githubusercontent.com/aiidateam/aiida-core/v{version}/' + SUITE_MEMBER


class SuiteUnavailableError(RuntimeError):
    """The generic suite could not be obtained; the message says from where it was tried."""


def cache_dir(version: str = AIIDA_VERSION) -> Path:
    base = Path(os.environ.get('XDG_CACHE_HOME') or Path.home() / '.cache')
    return base / 'aiida-firecrest' / f'aiida-core-{version}'


def obtain_suite(version: str = AIIDA_VERSION) -> Path:
    """The path of the generic suite for aiida-core ``version``.

    :raises SuiteUnavailableError: if no source has it.
    """
    explicit = os.environ.get('AIIDA_TRANSPORT_SUITE')
    if explicit:
        if not Path(explicit).is_file():
            raise SuiteUnavailableError(f'$AIIDA_TRANSPORT_SUITE names no file: {explicit}')
        return Path(explicit)
    cached = cache_dir(version) / 'test_all_plugins.py'
    if cached.is_file():
        return cached
    attempts = []
    for source in (_from_sdist, _from_github):
        try:
            text = source(version)
        except SuiteUnavailableError as exc:
            attempts.append(str(exc))
            continue
        cached.parent.mkdir(parents=True, exist_ok=True)
        cached.write_text(text)
        return cached
    raise SuiteUnavailableError(
        '; '.join(attempts)
        + f'. Set AIIDA_TRANSPORT_SUITE to a copy of {SUITE_MEMBER} from aiida-core v{version}.'
    )


def _from_sdist(version: str) -> str:
    with tempfile.TemporaryDirectory() as scratch:
        command = [sys.executable, '-m', 'pip', 'download', f'aiida-core=={version}', '--no-binary', ':all:']
        command += ['--no-deps', '--quiet', '--dest', scratch]
        result = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
        archives = list(Path(scratch).glob('aiida_core-*.tar.gz')) + list(
            Path(scratch).glob('aiida-core-*.tar.gz')
        )
        if result.returncode != 0 or not archives:
            raise SuiteUnavailableError(
                f'pip could not download the aiida-core {version} sdist: {result.stderr[-300:]}'
            )
        with tarfile.open(archives[0]) as sdist:
            for member in sdist.getmembers():
                if member.name.endswith('/' + SUITE_MEMBER):
                    handle = sdist.extractfile(member)
                    if handle is not None:
                        return handle.read().decode()
    raise SuiteUnavailableError(f'the aiida-core {version} sdist on PyPI has no tests/ directory')


def _from_github(version: str) -> str:
    url = GITHUB_URL.format(version=version)
    try:
        response = httpx.get(url, timeout=15.0, follow_redirects=True)
    except httpx.HTTPError as exc:
        raise SuiteUnavailableError(f'{url} is unreachable ({type(exc).__name__})') from exc
    if response.status_code != 200:
        raise SuiteUnavailableError(f'{url} answered HTTP {response.status_code}')
    return response.text
