"""``verdi computer configure firecrest`` on a FirecREST v1 server (the v1 demo); ``verdi computer test``.

The v1 demo runs beside the session's server (whatever its API); its file systems are local directories.
"""

from __future__ import annotations

import os
import pwd
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest
from click.testing import CliRunner, Result

pytestmark = pytest.mark.usefixtures('aiida_profile')


@pytest.fixture(scope='module')
def h5_v1_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from aiida_firecrest.demo.launcher import DemoServer

    with DemoServer(root=tmp_path_factory.mktemp('firecrest-v1-configure'), api='v1') as server:
        yield server


@pytest.fixture
def h5_v1_secret_file(h5_v1_server: Any, tmp_path: Path) -> str:
    stored = str(h5_v1_server.config['client_secret'])
    if os.path.isabs(stored) or stored.startswith('env:'):
        return stored
    path = tmp_path / 'client-secret'
    path.touch(mode=0o600)
    path.write_text(stored)
    return str(path)


def _v1_computer(h5_v1_server: Any) -> Any:
    from aiida import orm

    workdir = Path(h5_v1_server.config['workdir'])
    workdir.mkdir(parents=True, exist_ok=True)
    return orm.Computer(
        label=f'h5-v1-{uuid.uuid4().hex[:8]}',
        hostname='localhost',
        transport_type='firecrest',
        scheduler_type='firecrest',
        workdir=str(workdir),
    ).store()


def _configure(
    computer: Any, config: dict[str, Any], secret: str, *extra: str, temp_directory: str | None = 'fresh'
) -> Result:
    """``verdi computer configure firecrest -n`` with the server's details; a fresh temporary directory
    unless one is given (``None``: none, the proposed one is taken)."""
    from aiida.cmdline.commands.cmd_computer import computer_configure

    options = {
        'url': config['url'],
        'token_uri': config['token_uri'],
        'client_id': config['client_id'],
        'client_secret': secret,
        'compute_resource': config['compute_resource'],
    }
    if temp_directory == 'fresh':
        temp_directory = f'{config["temp_directory"]}/{uuid.uuid4().hex[:8]}'
    if temp_directory is not None:
        options['temp_directory'] = temp_directory
    args = [part for name, value in options.items() for part in (f'--{name.replace("_", "-")}', value)]
    command = ['firecrest', computer.label, '-n', '--safe-interval', '0', *extra, *args]
    return CliRunner().invoke(computer_configure, command)


def _auth_params(computer: Any) -> dict[str, Any]:
    from aiida import orm

    return cast('dict[str, Any]', computer.get_authinfo(orm.User.collection.get_default()).get_auth_params())


@pytest.mark.parametrize('api_option', [(), ('--api-version', '1'), ('--api-version', 'auto')])
def test_non_interactive_configuration_on_a_v1_server_stores_api_version_1(
    h5_v1_server: Any, h5_v1_secret_file: str, api_option: tuple[str, ...]
) -> None:
    computer = _v1_computer(h5_v1_server)
    result = _configure(computer, h5_v1_server.config, h5_v1_secret_file, *api_option)

    assert result.exit_code == 0, result.output
    params = _auth_params(computer)
    assert params['api_version'] == '1'
    assert Path(params['temp_directory']).is_dir()
    assert not list(Path(params['temp_directory']).iterdir())  # the write check's file is removed
    assert f'Temporary directory {params["temp_directory"]} is ready' in result.output
    assert f'you are {pwd.getpwuid(os.getuid()).pw_name} there' in result.output  # /utilities/whoami


def test_the_temp_directory_proposed_on_a_v1_server_is_in_the_users_directory(
    h5_v1_server: Any, h5_v1_secret_file: str
) -> None:
    """v1 tells the user's name (``/utilities/whoami``) and file systems (``/status/parameters``)."""
    computer = _v1_computer(h5_v1_server)
    result = _configure(computer, h5_v1_server.config, h5_v1_secret_file, temp_directory=None)

    assert result.exit_code == 0, result.output
    temp_directory = _auth_params(computer)['temp_directory']
    assert Path(temp_directory).parts[-2:] == (pwd.getpwuid(os.getuid()).pw_name, 'aiida_firecrest_tmp')
    assert Path(temp_directory).is_dir()


def test_api_version_given_first_is_used_for_the_checks(h5_v1_server: Any, h5_v1_secret_file: str) -> None:
    computer = _v1_computer(h5_v1_server)
    result = _configure(computer, h5_v1_server.config, h5_v1_secret_file, '--api-version', '1')
    assert result.exit_code == 0, result.output
    assert _auth_params(computer)['api_version'] == '1'


def test_api_version_2_is_refused_on_a_v1_server(h5_v1_server: Any, h5_v1_secret_file: str) -> None:
    computer = _v1_computer(h5_v1_server)
    result = _configure(computer, h5_v1_server.config, h5_v1_secret_file, '--api-version', '2')
    assert result.exit_code != 0
    assert 'FirecREST v1' in result.output


def test_a_temp_directory_outside_the_v1_file_systems_is_refused(
    h5_v1_server: Any, h5_v1_secret_file: str
) -> None:
    computer = _v1_computer(h5_v1_server)
    result = _configure(computer, h5_v1_server.config, h5_v1_secret_file, temp_directory='/nowhere/aiida_tmp')
    assert result.exit_code != 0
    assert 'outside the file systems' in result.output


def test_verdi_computer_test_passes_on_the_v1_computer_configured_by_verdi(
    h5_v1_server: Any, h5_v1_secret_file: str
) -> None:
    from aiida.cmdline.commands.cmd_computer import computer_test

    computer = _v1_computer(h5_v1_server)
    assert _configure(computer, h5_v1_server.config, h5_v1_secret_file).exit_code == 0
    result = CliRunner().invoke(computer_test, [computer.label], catch_exceptions=False)

    assert result.exit_code == 0, result.output
    assert 'Success' in result.output


@pytest.mark.parametrize(
    'output',
    [
        {'user': {'name': 'alice', 'id': '1000'}, 'group': {'name': 'alice', 'id': '1000'}, 'groups': []},
        'alice\n',  # FirecREST before 1.15 ignores groups=true and answers the name alone
    ],
    ids=['groups', 'before-1.15'],
)
def test_the_user_name_is_read_from_every_v1_whoami_answer(output: Any) -> None:
    import httpx

    from aiida_firecrest.probe import FirecrestProbe
    from aiida_firecrest.probe_v1 import FirecrestV1Probe

    def answer(request: httpx.Request) -> httpx.Response:
        assert (request.url.path, request.headers['X-Machine-Name']) == ('/utilities/whoami', 'daint')
        return httpx.Response(200, json={'description': 'User information', 'output': output})

    http = httpx.Client(transport=httpx.MockTransport(answer))
    probe = FirecrestV1Probe.taking_over(FirecrestProbe('https://firecrest.example.org', http=http))
    userinfo = probe.userinfo('daint')
    assert userinfo['user']['name'] == 'alice'
    assert 'accounts' not in userinfo  # v1 lists none: the account is checked by the first job
