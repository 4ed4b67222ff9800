"""``verdi computer configure firecrest``: guided, validated, and never showing the secret.

Every case runs the real command (click's runner) against the session's FirecREST server, interactively
(answers on standard input) and with ``-n``.
"""

from __future__ import annotations

import logging
import re
import stat
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, cast

import pytest
from click.testing import CliRunner, Result

from aiida_firecrest import probe

from .._harness import DIALECTS, JobDialect
from .server_probe import authenticated_probe

pytestmark = pytest.mark.usefixtures('aiida_profile')

Configure = Callable[..., Result]


def _new_computer(workdir: str, label: str | None = None, scheduler: str = 'firecrest') -> Any:
    from aiida import orm

    return orm.Computer(
        label=label or f'h5-{uuid.uuid4().hex[:8]}',
        hostname='localhost',
        transport_type='firecrest',
        scheduler_type=scheduler,
        workdir=workdir,
    ).store()


@pytest.fixture
def h5_computer(firecrest_server: Any, job_dialect: JobDialect) -> Any:
    """A stored computer with the firecrest transport and the system's scheduler, not configured yet."""
    return _new_computer(firecrest_server.config['workdir'], scheduler=job_dialect.entry_point)


@pytest.fixture
def h5_tokens(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every access token the configuration checks obtain (to show that none is ever printed)."""
    tokens: list[str] = []
    authenticate = probe.FirecrestProbe.authenticate

    def spy(self: probe.FirecrestProbe, *args: Any, **kwargs: Any) -> None:
        authenticate(self, *args, **kwargs)
        tokens.append(str(self._token))

    monkeypatch.setattr(probe.FirecrestProbe, 'authenticate', spy)
    return tokens


@pytest.fixture
def h5_configure(h5_computer: Any, caplog: pytest.LogCaptureFixture) -> Configure:
    """Run ``verdi computer configure firecrest <h5_computer> *args`` with optional standard input."""
    from aiida.cmdline.commands.cmd_computer import computer_configure

    caplog.set_level(logging.DEBUG)

    def configure(*args: str, input: str | None = None, computer: Any = h5_computer) -> Result:
        return CliRunner().invoke(computer_configure, ['firecrest', computer.label, *args], input=input)

    return configure


@pytest.fixture
def h5_secret(firecrest_server: Any) -> str:
    from aiida_firecrest.secrets import resolve_secret

    return resolve_secret(str(firecrest_server.config['client_secret']))


def _options(config: dict[str, Any], secret_reference: str, **overrides: Any) -> list[str]:
    """Command-line options for every connection setting of ``config``, with ``overrides``."""
    values = {
        'url': config['url'],
        'token_uri': config['token_uri'],
        'client_id': config['client_id'],
        'client_secret': secret_reference,
        'compute_resource': config['compute_resource'],
        'billing_account': config.get('billing_account') or '',
        'temp_directory': config['temp_directory'],
        **overrides,
    }
    return [part for name, value in values.items() for part in (f'--{name.replace("_", "-")}', str(value))]


def _auth_params(computer: Any) -> dict[str, Any]:
    from aiida import orm

    return cast('dict[str, Any]', computer.get_authinfo(orm.User.collection.get_default()).get_auth_params())


def _assert_never_shown(secrets: list[str], result: Result, caplog: pytest.LogCaptureFixture) -> None:
    for secret in secrets:
        assert secret not in result.output
        assert secret not in caplog.text


def test_interactive_configuration_proposes_server_defaults_and_stores_the_typed_secret(
    h5_configure: Configure,
    h5_computer: Any,
    firecrest_server: Any,
    h5_secret: str,
    h5_tokens: list[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    from aiida.manage.configuration.settings import AiiDAConfigDir

    config = firecrest_server.config
    answers = [config['url'], config['token_uri'], config['client_id'], h5_secret] + [''] * 10
    result = h5_configure(input='\n'.join(answers) + '\n')

    assert result.exit_code == 0, result.output
    params = _auth_params(h5_computer)
    secret_file = Path(params['client_secret'])
    assert secret_file.parent == AiiDAConfigDir.get() / 'firecrest' / 'secrets'
    assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
    assert secret_file.read_text().strip() == h5_secret
    assert params['compute_resource'] == config['compute_resource']
    assert params['billing_account'] == _default_account(config)
    assert params['temp_directory'].endswith('/aiida_firecrest_tmp')
    assert f'Temporary directory {params["temp_directory"]} is ready' in result.output
    assert h5_tokens
    _assert_never_shown([h5_secret, *h5_tokens], result, caplog)


def test_non_interactive_configuration_keeps_the_secret_file_reference(
    h5_configure: Configure, h5_computer: Any, firecrest_server: Any, client_secret_file: str
) -> None:
    result = h5_configure('-n', *_options(firecrest_server.config, client_secret_file))
    assert result.exit_code == 0, result.output
    assert _auth_params(h5_computer)['client_secret'] == client_secret_file


def test_the_api_version_of_a_server_that_answered_the_checks_is_stored(
    h5_configure: Configure, h5_computer: Any, firecrest_server: Any, client_secret_file: str, api: str
) -> None:
    """So that no process asks the server its API version again before its first request."""
    result = h5_configure('-n', *_options(firecrest_server.config, client_secret_file))
    assert result.exit_code == 0, result.output
    assert _auth_params(h5_computer)['api_version'] == api


def test_an_unreachable_server_keeps_api_version_auto(
    h5_configure: Configure,
    h5_computer: Any,
    firecrest_server: Any,
    client_secret_file: str,
    h5_closed_port_url: str,
) -> None:
    options = _options(firecrest_server.config, client_secret_file, url=h5_closed_port_url)
    result = h5_configure('-n', *options)
    assert result.exit_code == 0, result.output
    assert _auth_params(h5_computer)['api_version'] == 'auto'


def test_options_in_any_order_are_all_checked(
    h5_configure: Configure, firecrest_server: Any, client_secret_file: str
) -> None:
    options = _options(firecrest_server.config, client_secret_file, compute_resource='h5-no-such-system')
    pairs = list(zip(options[::2], options[1::2], strict=True))
    reversed_options = [part for pair in reversed(pairs) for part in pair]
    result = h5_configure('-n', *reversed_options)
    assert result.exit_code != 0
    assert "Invalid value for '--compute-resource'" in result.output
    assert "no system 'h5-no-such-system'" in result.output


def test_secret_from_an_environment_variable_is_stored_as_its_name(
    h5_configure: Configure,
    h5_computer: Any,
    firecrest_server: Any,
    h5_secret: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv('H5_FIRECREST_SECRET', h5_secret)
    result = h5_configure('-n', *_options(firecrest_server.config, 'env:H5_FIRECREST_SECRET'))
    assert result.exit_code == 0, result.output
    assert _auth_params(h5_computer)['client_secret'] == 'env:H5_FIRECREST_SECRET'


def test_secret_file_readable_by_others_is_warned_about(
    h5_configure: Configure, firecrest_server: Any, h5_secret: str, tmp_path: Path
) -> None:
    loose = tmp_path / 'secret'
    loose.write_text(h5_secret)
    loose.chmod(0o644)
    result = h5_configure('-n', *_options(firecrest_server.config, str(loose)))
    assert result.exit_code == 0, result.output
    assert f'chmod 600 {loose}' in result.output


def test_configure_show_prints_the_reference_not_the_secret(
    h5_configure: Configure, h5_computer: Any, firecrest_server: Any, h5_secret: str
) -> None:
    from aiida.cmdline.commands.cmd_computer import computer_config_show

    config = firecrest_server.config
    answers = [config['url'], config['token_uri'], config['client_id'], h5_secret] + [''] * 10
    assert h5_configure(input='\n'.join(answers) + '\n').exit_code == 0
    shown = CliRunner().invoke(computer_config_show, [h5_computer.label])
    assert shown.exit_code == 0, shown.output
    assert _auth_params(h5_computer)['client_secret'] in shown.output
    assert h5_secret not in shown.output


def _bad_values(
    config: dict[str, Any], secret_file: str, tmp_path: Path
) -> dict[str, tuple[dict[str, Any], str]]:
    wrong_secret = tmp_path / 'wrong-secret'
    wrong_secret.write_text('h5-wrong-secret')
    wrong_secret.chmod(0o600)
    return {
        'wrong-credentials': ({'client_secret': str(wrong_secret)}, 'refused client id'),
        'token-uri-not-oauth2': (
            {'token_uri': f'{config["url"]}/status/liveness/'},
            'is not an OAuth2 token',
        ),
        'unknown-system': ({'compute_resource': 'h5-nosuch'}, "no system 'h5-nosuch'; available systems: "),
        'unknown-account': ({'billing_account': 'h5-nosuch'}, "no account 'h5-nosuch' on "),
        'temp-outside-file-systems': (
            {'temp_directory': '/h5-nowhere/tmp'},
            'is outside the file systems of',
        ),
        'relative-temp': ({'temp_directory': 'relative/tmp'}, 'is not an absolute path'),
        'not-a-url': ({'url': 'ftp://example.org'}, 'is not an http(s) URL'),
        'invalid-port': ({'url': 'http://127.0.0.1:port'}, 'is not a valid URL: Invalid port'),
        'missing-secret-file': ({'client_secret': '/h5/no/such/secret'}, 'does not exist'),
        'threshold-above-server-limit': ({'small_file_size_mb': 10_000}, 'above the server limit'),
        'threshold-above-base64-room': (
            {'small_file_size_mb': 0.9 * _max_ops_file_size_mb(config)},
            'less the room its base64-encoded',
        ),
    }


@pytest.mark.parametrize(
    'case',
    [
        'wrong-credentials',
        'token-uri-not-oauth2',
        'unknown-system',
        'unknown-account',
        'temp-outside-file-systems',
        'relative-temp',
        'not-a-url',
        'invalid-port',
        'missing-secret-file',
        'threshold-above-server-limit',
        'threshold-above-base64-room',
    ],
)
def test_each_wrong_value_is_refused_with_one_clear_line(
    case: str, h5_configure: Configure, firecrest_server: Any, client_secret_file: str, tmp_path: Path
) -> None:
    if case == 'unknown-account' and _accounts(firecrest_server.config) is None:
        pytest.skip('the server lists no accounts (FirecREST v1, v2 before 2.5.1, or PBS): nothing to refuse')
    overrides, message = _bad_values(firecrest_server.config, client_secret_file, tmp_path)[case]
    result = h5_configure('-n', *_options(firecrest_server.config, client_secret_file, **overrides))
    assert result.exit_code != 0
    assert message in result.output
    assert 'Traceback' not in result.output


def test_untrusted_certificate_is_refused(
    h5_configure: Configure, firecrest_server: Any, client_secret_file: str, h5_tls_url: str
) -> None:
    result = h5_configure('-n', *_options(firecrest_server.config, client_secret_file, url=h5_tls_url))
    assert result.exit_code != 0
    assert 'TLS certificate of 127.0.0.1' in result.output


def test_unreachable_server_is_accepted_non_interactively_with_a_warning(
    h5_configure: Configure,
    h5_computer: Any,
    firecrest_server: Any,
    client_secret_file: str,
    h5_closed_port_url: str,
) -> None:
    result = h5_configure(
        '-n', *_options(firecrest_server.config, client_secret_file, url=h5_closed_port_url)
    )
    assert result.exit_code == 0, result.output
    assert 'the connection was refused' in result.output
    assert 'The remaining server checks are skipped: they run at first use.' in result.output
    assert _auth_params(h5_computer)['url'] == h5_closed_port_url


def test_interactive_wrong_answers_are_asked_again(
    h5_configure: Configure,
    h5_computer: Any,
    firecrest_server: Any,
    client_secret_file: str,
    h5_closed_port_url: str,
) -> None:
    config = firecrest_server.config
    answers = [
        h5_closed_port_url,  # unreachable ...
        'n',  # ... and not kept: asked again
        config['url'],
        config['token_uri'],
        config['client_id'],
        client_secret_file,
        'h5-nosuch',  # unknown system: asked again
        config['compute_resource'],
    ] + [''] * 10
    result = h5_configure(input='\n'.join(answers) + '\n')
    assert result.exit_code == 0, result.output
    assert 'Keep this value anyway' in result.output
    assert "no system 'h5-nosuch'" in result.output
    assert _auth_params(h5_computer)['compute_resource'] == config['compute_resource']


def test_reconfiguring_proposes_the_stored_values(
    h5_configure: Configure, h5_computer: Any, firecrest_server: Any, client_secret_file: str
) -> None:
    first = h5_configure('-n', *_options(firecrest_server.config, client_secret_file, max_io_allowed=3))
    assert first.exit_code == 0, first.output
    again = h5_configure(input='\n' * 14)
    assert again.exit_code == 0, again.output
    assert _auth_params(h5_computer)['max_io_allowed'] == 3
    assert f'[{client_secret_file}]' in again.output


def test_work_directory_outside_the_server_file_systems_is_warned_about(
    h5_configure: Configure, firecrest_server: Any, client_secret_file: str
) -> None:
    computer = _new_computer('/h5-nowhere/{username}/aiida')
    result = h5_configure('-n', *_options(firecrest_server.config, client_secret_file), computer=computer)
    assert result.exit_code == 0, result.output
    assert 'The work directory /h5-nowhere/{username}/aiida is outside the file systems of' in result.output
    assert '--work-dir ' in result.output


@pytest.mark.parametrize(
    ('scheduler', 'warning'),
    [
        ('other', r'runs (slurm|pbs), not (pbs|slurm): set the computer up with the scheduler `{plugin}`'),
        ('core.slurm', r'core.slurm runs commands on the computer, which FirecREST cannot do'),
    ],
)
def test_a_scheduler_that_cannot_drive_the_system_is_warned_about(
    h5_configure: Configure,
    firecrest_server: Any,
    client_secret_file: str,
    job_dialect: JobDialect,
    scheduler: str,
    warning: str,
) -> None:
    """The first place to learn it: submission does not check (see the scheduler's tests)."""
    if scheduler == 'other':
        scheduler = next(d.entry_point for d in DIALECTS.values() if d != job_dialect)
    computer = _new_computer(firecrest_server.config['workdir'], scheduler=scheduler)
    result = h5_configure('-n', *_options(firecrest_server.config, client_secret_file), computer=computer)
    assert result.exit_code == 0, result.output
    assert re.search(warning.format(plugin=re.escape(job_dialect.entry_point)), result.output), result.output


def test_the_systems_scheduler_is_not_warned_about(
    h5_configure: Configure, firecrest_server: Any, client_secret_file: str
) -> None:
    result = h5_configure('-n', *_options(firecrest_server.config, client_secret_file))
    assert result.exit_code == 0, result.output
    assert 'scheduler' not in result.output


def _verdi_obj() -> Any:
    """The context object ``verdi`` gives its subcommands (the loaded configuration and profile)."""
    from aiida.common.extendeddicts import AttributeDict
    from aiida.manage import get_manager

    manager = get_manager()
    return AttributeDict({'config': manager.get_config(), 'profile': manager.get_profile()})


def test_setup_configure_and_test_from_the_command_line(
    firecrest_server: Any,
    job_dialect: JobDialect,
    client_secret_file: str,
    h5_secret: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    from aiida.cmdline.commands.cmd_computer import computer_configure, computer_setup, computer_test

    caplog.set_level(logging.DEBUG)

    label = f'h5-cli-{uuid.uuid4().hex[:8]}'
    setup = [
        '-n', '--label', label, '--hostname', 'localhost',
        '--transport', 'firecrest', '--scheduler', job_dialect.entry_point,
        '--work-dir', firecrest_server.config['workdir'],
        '--mpirun-command', 'srun -n {tot_num_mpiprocs}', '--mpiprocs-per-machine', '1',
    ]  # fmt: skip
    options = _options(firecrest_server.config, client_secret_file)
    runner = CliRunner()
    obj = _verdi_obj()

    assert runner.invoke(computer_setup, setup, obj=obj).exit_code == 0
    configured = runner.invoke(
        computer_configure, ['firecrest', label, '-n', '--safe-interval', '0', *options]
    )
    assert configured.exit_code == 0, configured.output
    tested = runner.invoke(computer_test, [label])

    assert tested.exit_code == 0, tested.output
    assert 'Skipped, remote command execution is not implemented' in tested.output
    assert 'Success: all 6 tests succeeded' in tested.output
    _assert_never_shown([h5_secret], tested, caplog)


def test_relative_path_to_a_secret_file_is_stored_as_an_absolute_path(
    h5_configure: Configure,
    h5_computer: Any,
    firecrest_server: Any,
    client_secret_file: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    secret_file = Path(client_secret_file)
    monkeypatch.chdir(secret_file.parent)
    result = h5_configure('-n', *_options(firecrest_server.config, secret_file.name))
    assert result.exit_code == 0, result.output
    assert _auth_params(h5_computer)['client_secret'] == str(secret_file)


def test_non_interactive_defaults_come_from_the_server(
    h5_configure: Configure, h5_computer: Any, firecrest_server: Any, client_secret_file: str
) -> None:
    options = _options(firecrest_server.config, client_secret_file)
    for name in ('--billing-account', '--temp-directory'):
        index = options.index(name)
        del options[index : index + 2]
    result = h5_configure('-n', *options)
    assert result.exit_code == 0, result.output
    params = _auth_params(h5_computer)
    assert params['temp_directory'].endswith('/aiida_firecrest_tmp')
    assert params['billing_account'] == _default_account(firecrest_server.config)


def _max_ops_file_size_mb(config: dict[str, Any]) -> float:
    """The server's direct-transfer limit in MB (``dataOperation.max_ops_file_size``)."""
    with authenticated_probe(config) as server:
        system = next(item for item in server.systems() if item['name'] == config['compute_resource'])
    return int(system['dataOperation']['max_ops_file_size']) / (1024 * 1024)


def _accounts(config: dict[str, Any]) -> list[dict[str, Any]] | None:
    """The user's accounts as the server lists them, None if it does not list them (v1 never does)."""
    with authenticated_probe(config) as server:
        return server.userinfo(config['compute_resource']).get('accounts')


def _default_account(config: dict[str, Any]) -> str:
    accounts = _accounts(config) or []
    return next((account['name'] for account in accounts if account.get('default')), '')


def test_options_can_come_from_a_yaml_file(
    h5_configure: Configure, h5_computer: Any, firecrest_server: Any, client_secret_file: str, tmp_path: Path
) -> None:
    import yaml

    options = _options(firecrest_server.config, client_secret_file)
    values = {
        name[2:].replace('-', '_'): value for name, value in zip(options[::2], options[1::2], strict=True)
    }
    config_file = tmp_path / 'firecrest.yml'
    config_file.write_text(yaml.safe_dump(values))
    result = h5_configure('-n', '--config', str(config_file))
    assert result.exit_code == 0, result.output
    assert _auth_params(h5_computer)['client_secret'] == client_secret_file


def test_temp_directory_that_cannot_be_written_is_refused(
    h5_configure: Configure,
    firecrest_server: Any,
    remote_dir: Any,
    remote_files: Any,
    client_secret_file: str,
) -> None:
    """The server runs as its (non-root) user, so a directory without write permission refuses uploads."""
    read_only = remote_dir / 'read-only'
    remote_files.mkdir(read_only, mode=0o555)
    try:
        result = h5_configure(
            '-n', *_options(firecrest_server.config, client_secret_file, temp_directory=str(read_only))
        )
    finally:
        remote_files.chmod(read_only, 0o755)  # removable with the test's directory
    assert result.exit_code != 0
    assert f"Invalid value for '--temp-directory': Cannot write in {read_only} on " in result.output
    assert 'Permission denied' in result.output


def test_the_write_check_leaves_the_temp_directory_as_it_was(
    h5_configure: Configure,
    firecrest_server: Any,
    remote_dir: Any,
    remote_files: Any,
    client_secret_file: str,
) -> None:
    temp_directory = remote_dir / 'temp'
    remote_files.mkdir(temp_directory)
    remote_files.write(temp_directory / 'kept.txt', 'kept')
    result = h5_configure(
        '-n', *_options(firecrest_server.config, client_secret_file, temp_directory=str(temp_directory))
    )
    assert result.exit_code == 0, result.output
    assert remote_files.names(temp_directory) == ['kept.txt']


def test_refused_credentials_ask_for_the_client_id_and_secret_again(
    h5_configure: Configure, h5_computer: Any, firecrest_server: Any, client_secret_file: str
) -> None:
    config = firecrest_server.config
    answers = [config['url'], config['token_uri'], 'h5-wrong-client', client_secret_file]
    answers += [config['client_id'], client_secret_file] + [''] * 10
    result = h5_configure(input='\n'.join(answers) + '\n')
    assert result.exit_code == 0, result.output
    assert "refused client id 'h5-wrong-client'" in result.output
    assert 'Client ID [h5-wrong-client]:' in result.output
    assert _auth_params(h5_computer)['client_id'] == config['client_id']


def test_unreachable_server_can_be_kept_interactively(
    h5_configure: Configure, h5_computer: Any, client_secret_file: str, h5_closed_port_url: str
) -> None:
    answers = [h5_closed_port_url, 'y', f'{h5_closed_port_url}/token', 'my-client', client_secret_file]
    answers += ['daint', '', '/scratch/me/aiida_firecrest_tmp'] + [''] * 10
    result = h5_configure(input='\n'.join(answers) + '\n')
    assert result.exit_code == 0, result.output
    params = _auth_params(h5_computer)
    assert (params['url'], params['compute_resource']) == (h5_closed_port_url, 'daint')


def _stored_secret_files() -> set[Path]:
    from aiida_firecrest.secrets import secrets_directory

    directory = secrets_directory()
    return set(directory.iterdir()) if directory.is_dir() else set()


@pytest.mark.parametrize('mode', [('-n',), ()], ids=['non-interactive', 'interactive'])
def test_a_secret_given_as_an_option_value_is_refused_with_how_to_pass_it(
    mode: tuple[str, ...], h5_configure: Configure, firecrest_server: Any, h5_secret: str
) -> None:
    before = _stored_secret_files()
    result = h5_configure(*mode, *_options(firecrest_server.config, h5_secret), input='\n' * 10)
    assert result.exit_code != 0
    assert "Invalid value for '--client-secret'" in result.output
    assert 'env:VARIABLE' in result.output
    assert h5_secret not in result.output
    assert _stored_secret_files() == before


def test_a_typed_secret_is_not_left_behind_when_the_configuration_is_interrupted(
    h5_configure: Configure, firecrest_server: Any, h5_secret: str
) -> None:
    config = firecrest_server.config
    before = _stored_secret_files()
    # the answers stop after the secret: the next prompt meets the end of input and the command aborts
    answers = [config['url'], config['token_uri'], config['client_id'], h5_secret]
    result = h5_configure(input='\n'.join(answers))
    assert result.exit_code != 0
    assert 'Stored the client secret in' in result.output
    assert _stored_secret_files() == before


@pytest.fixture
def h5_hex_computer(firecrest_server: Any) -> Any:
    """A stored computer whose label aiida-core reads as the beginning of a UUID (as a label ``fc`` is)."""
    return _new_computer(firecrest_server.config['workdir'], label=f'fc{uuid.uuid4().hex[:6]}')


def test_a_label_read_as_a_uuid_fails_in_one_line_before_any_server_check(
    h5_configure: Configure,
    h5_hex_computer: Any,
    firecrest_server: Any,
    remote_dir: Any,
    remote_files: Any,
    client_secret_file: str,
) -> None:
    from aiida.cmdline.commands.cmd_computer import computer_configure

    label = h5_hex_computer.label
    temp_directory = remote_dir / 'temp'
    options = _options(firecrest_server.config, client_secret_file, temp_directory=str(temp_directory))
    result = CliRunner().invoke(computer_configure, ['firecrest', label, '-n', *options])
    assert result.exit_code != 0
    assert f"'{label}' was read as the beginning of a UUID" in result.output
    assert f"write '{label}!'" in result.output
    assert 'Authenticated' not in result.output
    assert not remote_files.exists(temp_directory)


def test_a_label_marked_with_an_exclamation_mark_is_configured(
    h5_hex_computer: Any, firecrest_server: Any, client_secret_file: str
) -> None:
    from aiida.cmdline.commands.cmd_computer import computer_configure

    options = _options(firecrest_server.config, client_secret_file)
    result = CliRunner().invoke(
        computer_configure, ['firecrest', f'{h5_hex_computer.label}!', '-n', *options]
    )
    assert result.exit_code == 0, result.output
    assert _auth_params(h5_hex_computer)['compute_resource'] == firecrest_server.config['compute_resource']


# --- servers of other FirecREST releases (each a demo server of its own, without S3)


@pytest.fixture(scope='module')
def release_server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A demo server of the release (and staged transfer method) in ``request.param``, for this module."""
    from aiida_firecrest.demo.launcher import DemoServer

    release, method = request.param
    root = tmp_path_factory.mktemp(f'release-{release}')
    with DemoServer(root=root, server_version=release, transfer_method=method, s3_endpoint=None) as server:
        yield server


def _configure_on(h5_configure: Configure, server: Any, tmp_path: Path, **overrides: Any) -> Result:
    """Configure a new computer, non-interactively, for ``server`` (its secret in a 0600 file)."""
    secret = tmp_path / 'secret'
    secret.touch(mode=0o600)
    secret.write_text(server.config['client_secret'])
    computer = _new_computer(server.config['workdir'])
    return h5_configure('-n', *_options(server.config, str(secret), **overrides), computer=computer)


@pytest.mark.parametrize('release_server', [('2.2.8', 's3')], indirect=True)
def test_an_account_the_server_does_not_list_is_kept_for_the_first_job(
    h5_configure: Configure, release_server: Any, tmp_path: Path
) -> None:
    result = _configure_on(h5_configure, release_server, tmp_path, billing_account='h5-unlisted')
    assert result.exit_code == 0, result.output
    assert 'does not list your accounts' in result.output


@pytest.mark.parametrize('release_server', [('2.2.8', 's3'), ('2.4.2', 's3')], indirect=True)
def test_the_direct_transfer_limit_of_a_release_before_2_5_is_read(
    h5_configure: Configure, release_server: Any, tmp_path: Path
) -> None:
    result = _configure_on(h5_configure, release_server, tmp_path, small_file_size_mb=10_000)
    assert result.exit_code != 0
    assert 'above the server limit' in result.output


@pytest.mark.parametrize('release_server', [('2.x.x', 'streamer'), ('2.5.6', 'wormhole')], indirect=True)
def test_a_system_staging_by_an_unsupported_method_is_configured_with_a_one_line_warning(
    h5_configure: Configure, release_server: Any, tmp_path: Path
) -> None:
    method = release_server.settings.transfer_method
    result = _configure_on(h5_configure, release_server, tmp_path)
    warnings = [line for line in result.output.splitlines() if f'only by {method!r}' in line]
    assert (result.exit_code, len(warnings), 'Traceback' in result.output) == (0, 1, False), result.output
