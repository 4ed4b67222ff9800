"""The computer configuration of a FirecREST transport: options, their validation, and the typed result.

``AUTH_OPTIONS`` is what ``verdi computer configure firecrest`` asks for (aiida-core builds one click
option per entry, see ``aiida.transports.cli``); the typed form the transport and client work with is
:class:`.settings.TransportConfig`.

How the options are checked
---------------------------

Each option's ``callback`` first checks the value on its own (a URL is a URL, a number is positive).
Checks that need the server run as soon as the computer (so that nothing is created on the server for a
computer that does not exist) and the values they depend on are known, in this order:

* ``url``: the server answers (``GET /status/liveness/``), its TLS certificate is valid;
* ``token_uri``: it is an OAuth2 token endpoint (a request with a made-up client gets an OAuth2 error);
* ``client_secret``: read from its reference (or stored in a 0600 file if typed), then a token is
  obtained with the client id and secret and ``GET /status/systems`` is asked with it (API version
  checked);
* ``compute_resource``: one of the server's systems (a wrong name lists the available ones);
* ``billing_account``: empty, or one of the user's accounts on that system (``/status/{system}/userinfo``);
* ``temp_directory``: absolute, inside one of the system's file systems, created if missing (never emptied),
  writable (a 1-byte file is written and removed);
* ``small_file_size_mb``: not above the server's direct-transfer limit.

A server that answers ``GET /status/systems`` in FirecREST v1's shape (or ``--api-version 1``) is asked v1's
equivalents (:mod:`.probe_v1`): ``/status/parameters`` for its file systems and direct limit,
``/utilities/whoami`` for the user's name (the proposed temporary directory), ``/utilities/mkdir`` and
``/utilities/upload`` for the temporary directory; v1 lists no accounts, so none is proposed and the account
is checked by the first job. The computer is stored with ``api_version`` ``1``.

Prompts come in the order above, so every check runs right after its value is entered and a wrong value
is asked again. Values given on the command line are processed first, in the order they were typed; a
check whose prerequisites are not known yet waits and runs as soon as they are (a failure then names its
option).

If the server cannot be reached at all (name resolution, refused connection, timeout), nothing it would
check can be checked: interactively you are asked whether to keep the value anyway; with ``-n`` a warning
says so and the remaining server checks are skipped. Everything is then checked at first use (``verdi
computer test``). A definite answer (wrong credentials, unknown system, a certificate problem) is an error
in both modes.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from . import secrets
from .computer_argument import ComputerType
from .configure_state import Check, Pending, Run, echo, forget_stored_secret
from .option_values import (
    valid_client_id,
    valid_non_negative,
    valid_positive,
    valid_temp_directory,
    valid_url,
)
from .probe import (
    CredentialsRefusedError,
    ProbeError,
    ServerUnreachableError,
)
from .server_checks import (
    check_api_version,
    check_billing_account,
    check_compute_resource,
    check_credentials,
    check_small_file_size,
    check_temp_directory,
    check_token_uri,
    check_url,
    scheduler_warning,
    suggest_account,
    suggest_system,
    suggest_temp_directory,
    work_directory_warning,
)

__all__ = ('AUTH_OPTIONS',)

_META_KEY = 'aiida_firecrest.configure'
#: Why a secret given as a value (not at the prompt) is refused: a command line is seen by ``ps``, kept in
#: the shell's history and written by verdi into ``<AiiDA config dir>/access/<profile>/<pid>.pid``.
LITERAL_SECRET_REFUSED = (
    'a secret given on the command line or in an options file is seen by other users (ps, shell history, '
    "verdi's process files): give the path of a file holding it (chmod 600) or env:VARIABLE, "
    'or leave the option out to type it at the prompt'
)


# --- the flow of one `verdi computer configure` run


def run_of(ctx: click.Context) -> Run:
    run = ctx.meta.get(_META_KEY)
    if run is None:
        run = ctx.meta[_META_KEY] = Run()
        # The root context is closed also when parsing fails (this command's own context is not then).
        ctx.find_root().call_on_close(lambda: _finish(ctx, run))
        _follow_the_computer_argument(ctx)
    return run


def _follow_the_computer_argument(ctx: click.Context) -> None:
    """Run the server checks once the computer is known, and explain a label that was read as a UUID.

    click processes a command's arguments after the options given on its command line, so without this the
    checks (which create the temporary directory on the server) would run for a computer that may not
    exist. aiida-core builds the command, so the hook goes on its ``computer`` argument here, at the first
    option processed; with no option on the command line the computer comes first anyway.
    """
    for param in ctx.command.params:
        if param.name != 'computer' or isinstance(param.type, ComputerType):
            continue
        param.type = ComputerType(param.type)
        param.callback = _then_run_checks(param.callback)


def _then_run_checks(
    resolve: Callable[[click.Context, click.Parameter, Any], Any] | None,
) -> Callable[[click.Context, click.Parameter, Any], Any]:
    """The computer argument's callback ``resolve``, followed by the server checks that waited for it."""

    def callback(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
        computer = resolve(ctx, param, value) if resolve is not None else value
        _run_ready_checks(ctx, {**ctx.params, 'computer': computer}, 'computer')
        return computer

    return callback


def _finish(ctx: click.Context, run: Run) -> None:
    """At the end of the command: remove a typed secret's file that the configuration did not keep (the
    command failed or was interrupted), advise on the computer's work directory, close the connections.

    The computer argument is processed after the options given on the command line, so this is the one place
    where both the computer and the server's answers are known.
    """
    if run.probe is not None:
        run.probe.close()
    computer = ctx.params.get('computer')
    if run.stored_secret_file is not None and not _stores_secret_file(
        computer, ctx.params.get('user'), run.stored_secret_file
    ):
        forget_stored_secret(run)
    complete = all(name in ctx.params for name, _ in AUTH_OPTIONS)
    if computer is None or run.checked_system is None or not complete:
        return
    system, username = run.checked_system
    warnings = [
        work_directory_warning(computer.get_workdir(), username, system) if username else None,
        scheduler_warning(computer.scheduler_type, system),
    ]
    for warning in filter(None, warnings):
        echo('warning', warning)


def _stores_secret_file(computer: Any, user: Any, path: Path) -> bool:
    """Whether the computer's configuration for ``user`` (default: the default user) refers to ``path``.

    A configure that failed after the secret was typed never stored the reference: its file is removed.
    """
    if computer is None:
        return False
    from aiida import orm
    from aiida.common.exceptions import NotExistent

    try:
        stored: dict[str, Any] = computer.get_authinfo(
            user or orm.User.collection.get_default()
        ).get_auth_params()
    except NotExistent:
        return False
    return stored.get('client_secret') == str(path)


def _is_interactive(ctx: click.Context) -> bool:
    return not ctx.params.get('non_interactive', False)


def _is_prompted(ctx: click.Context, name: str) -> bool:
    """Whether option ``name`` is being asked at a prompt (so a wrong value can be asked again)."""
    return _is_interactive(ctx) and ctx.get_parameter_source(name) is click.core.ParameterSource.PROMPT


# --- running the server checks


def _going_offline(
    ctx: click.Context, pending: Pending, current: str, problem: ServerUnreachableError
) -> None:
    """Handle an unreachable server: ask (if this option is being prompted) or warn and skip server checks."""
    run = run_of(ctx)
    if pending.name == current and _is_prompted(ctx, current):
        echo('warning', str(problem))
        if not click.confirm('Keep this value anyway (it will be checked at first use)?', default=False):
            raise click.BadParameter('not reachable; enter another value')
    else:
        echo('warning', f'{problem} The remaining server checks are skipped: they run at first use.')
    run.offline = True
    run.pending.clear()


def _execute(ctx: click.Context, pending: Pending, known: dict[str, Any], current: str) -> None:
    """Run one server check; a failure of the current option is a BadParameter (asked again if prompted).

    A value the check returns replaces the option's: in ``ctx.params`` if click stored it already, through
    the option's own callback if that is running (:attr:`.configure_state.Run.replaced`).
    """
    run = run_of(ctx)
    try:
        replacement = pending.check(run, known, pending.value)
    except ServerUnreachableError as problem:
        _going_offline(ctx, pending, current, problem)
        return
    except ProbeError as problem:
        if pending.name == current:
            run.ask_client_id_again = isinstance(problem, CredentialsRefusedError) and _is_prompted(
                ctx, current
            )
            raise click.BadParameter(str(problem)) from None
        option = '--' + pending.name.replace('_', '-')
        raise click.UsageError(f"Invalid value for '{option}': {problem}", ctx=ctx) from None
    if replacement is not None:
        known[pending.name] = replacement
        if pending.name == current:
            run.replaced[pending.name] = replacement
        else:
            ctx.params[pending.name] = replacement


def _run_ready_checks(ctx: click.Context, known: dict[str, Any], current: str) -> None:
    """Run every waiting check whose prerequisites are now known, in the order they were queued."""
    run = run_of(ctx)
    progress = True
    while progress and not run.offline:
        progress = False
        for pending in list(run.pending):
            if run.ready(pending, known):
                run.pending.remove(pending)
                _execute(ctx, pending, known, current)
                progress = True
                break


def _callback(
    local: Callable[[click.Context, Any], Any] | None = None,
    check: Check | None = None,
    *,
    needs: tuple[str, ...] = (),
    needs_session: bool = True,
) -> Callable[[click.Context, click.Parameter, Any], Any]:
    """Build an option callback: the local check, then the server check when ``needs`` are known."""

    def callback(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
        if ctx.resilient_parsing or param.name is None:
            return value
        if local is not None:
            value = local(ctx, value)
        run = run_of(ctx)
        run.pending = [pending for pending in run.pending if pending.name != param.name]
        if check is not None and value is not None and not run.offline:
            needed = ('computer', *needs, param.name)
            run.pending.append(Pending(param.name, value, check, needed, needs_session))
        _run_ready_checks(ctx, {**ctx.params, param.name: value}, param.name)
        return run.replaced.pop(param.name, value)

    return callback


# --- local checks


def _local_secret(ctx: click.Context, value: str | None) -> str | None:
    """Read the secret from its reference, or store a typed secret in a 0600 file and keep its path."""
    if value is None:
        return None
    value = value.strip()
    run = run_of(ctx)
    try:
        if secrets.is_env_reference(value):
            run.secret = secrets.read_secret_variable(value[len(secrets.ENV_PREFIX) :])
            return value
        if secrets.is_file_reference(value) or Path(value).is_file():
            path = Path(value).expanduser().absolute()
            run.secret = secrets.read_secret_file(path)
            warning = secrets.loose_permissions_warning(path)
            if warning:
                echo('warning', warning)
            return str(path)
        if not _is_prompted(ctx, 'client_secret'):
            raise click.BadParameter(LITERAL_SECRET_REFUSED)
        run.secret = value
        path = secrets.store_secret(value, hint=str(ctx.params.get('client_id') or 'client'))
    except secrets.SecretError as exc:
        raise click.BadParameter(str(exc)) from None
    run.stored_secret_file = path
    echo('report', f'Stored the client secret in {path} (mode 0600); AiiDA keeps only this path.')
    return str(path)


def _stored_value(ctx: click.Context, name: str) -> Any:
    """The value stored in AiiDA for this computer and user, or the option's plain default."""
    from aiida.transports.cli import interactive_default

    return interactive_default(name, also_non_interactive=True)(ctx)


def _default(
    name: str, suggest: Callable[[Run, dict[str, Any]], Any] | None = None, *, non_interactive: bool = True
) -> Callable[[click.Context], Any]:
    """A contextual default: the stored value, else what the server suggests (if it has been asked)."""

    def get_default(ctx: click.Context) -> Any:
        if not non_interactive and ctx.params.get('non_interactive'):
            raise click.MissingParameter()
        stored = _stored_value(ctx, name)
        if stored not in (None, ''):
            return stored
        run = run_of(ctx)
        if suggest is not None and run.systems is not None:
            suggestion = suggest(run, dict(ctx.params))
            if suggestion is not None:
                return suggestion
        return stored

    return get_default


def _default_secret(ctx: click.Context) -> str | None:
    """The stored reference to the secret; a secret stored in clear by an older version is never shown.

    After refused credentials, the client id is asked again first (it may be the wrong one).
    """
    if ctx.params.get('non_interactive'):
        raise click.MissingParameter()
    run = run_of(ctx)
    if run.ask_client_id_again:
        run.ask_client_id_again = False
        answer = click.prompt(click.style('Client ID', fg='yellow'), default=ctx.params.get('client_id'))
        ctx.params['client_id'] = valid_client_id(ctx, answer)
    stored = _stored_value(ctx, 'client_secret')
    return stored if isinstance(stored, str) and secrets.is_reference(stored) else None


# --- the options

_CREDENTIALS = ('url', 'token_uri', 'client_id')

AUTH_OPTIONS: list[tuple[str, dict[str, Any]]] = [
    (
        'url',
        {
            'type': str,
            'prompt': 'FirecREST URL',
            'help': 'URL of the FirecREST v2 API, '
            'e.g. https://api.cscs.ch/hpc/firecrest/v2 (CSCS HPC Platform).',
            'contextual_default': _default('url', non_interactive=False),
            'callback': _callback(valid_url, check_url, needs_session=False),
        },
    ),
    (
        'token_uri',
        {
            'type': str,
            'prompt': 'Token URI',
            'help': 'OAuth2 token endpoint of the identity provider, e.g. '
            'https://auth.cscs.ch/auth/realms/firecrest-clients/protocol/openid-connect/token (CSCS).',
            'contextual_default': _default('token_uri', non_interactive=False),
            'callback': _callback(valid_url, check_token_uri, needs_session=False),
        },
    ),
    (
        'client_id',
        {
            'type': str,
            'prompt': 'Client ID',
            'help': "OAuth2 client id (at CSCS: the application's Consumer Key on developer.cscs.ch).",
            'contextual_default': _default('client_id', non_interactive=False),
            'callback': _callback(valid_client_id),
        },
    ),
    (
        'client_secret',
        {
            'type': str,
            'prompt': 'Client secret (a file path, env:VARIABLE, or the secret itself; input hidden)',
            'help': 'Where the OAuth2 client secret is: a path to a file holding it (mode 0600; stored as '
            'an absolute path), or env:VARIABLE. A secret typed here is stored in a 0600 file under the '
            'AiiDA configuration directory and only that path is kept in AiiDA.',
            'hide_input': True,
            'contextual_default': _default_secret,
            'callback': _callback(_local_secret, check_credentials, needs=_CREDENTIALS, needs_session=False),
        },
    ),
    (
        'compute_resource',
        {
            'type': str,
            'prompt': 'System name',
            'help': 'The FirecREST system (cluster) to use, as listed by GET /status/systems, e.g. daint.',
            'contextual_default': _default('compute_resource', suggest_system, non_interactive=False),
            'callback': _callback(check=check_compute_resource),
        },
    ),
    (
        'billing_account',
        {
            'type': str,
            'default': '',
            'prompt': 'Billing account (empty for your default account)',
            'help': 'The account (project) jobs are charged to; empty means your default account.',
            'contextual_default': _default('billing_account', suggest_account),
            'callback': _callback(check=check_billing_account, needs=('compute_resource',)),
        },
    ),
    (
        'temp_directory',
        {
            'type': str,
            'prompt': 'Temporary directory on the server',
            'help': 'Absolute path on the server for temporary archives; created if missing, never emptied. '
            'Proposed: <scratch>/<username>/aiida_firecrest_tmp.',
            'contextual_default': _default('temp_directory', suggest_temp_directory),
            'callback': _callback(valid_temp_directory, check_temp_directory, needs=('compute_resource',)),
        },
    ),
    (
        'small_file_size_mb',
        {
            'type': float,
            'default': 0.0,
            'prompt': 'Direct-transfer threshold in MB (0 = from the server)',
            'help': 'Files up to this size move in one direct request, larger ones through the staged path.',
            'contextual_default': _default('small_file_size_mb'),
            'callback': _callback(valid_non_negative, check_small_file_size, needs=('compute_resource',)),
        },
    ),
    (
        'max_io_allowed',
        {
            'type': int,
            'default': 8,
            'prompt': 'Maximum concurrent transfers',
            'help': 'How many file transfers may run at the same time.',
            'contextual_default': _default('max_io_allowed'),
            'callback': _callback(valid_positive),
        },
    ),
    (
        'checksum_check',
        {
            'default': True,
            'switch': True,
            'prompt': 'Verify transfers with checksums',
            'help': 'Compare sha256 checksums after staged transfers and bundles.',
            'non_interactive_default': True,
        },
    ),
    (
        'api_version',
        {
            'type': click.Choice(['auto', '1', '2']),
            'default': 'auto',
            'help': 'The FirecREST API of the server: 2, 1 (FirecREST 1.x), or auto (asked of the server at '
            'first use in each process; a server that answered the checks here is stored as 1 or 2).',
            'callback': _callback(check=check_api_version),
        },
    ),
]
"""The transport's ``_valid_auth_options``; the names are those of the earlier aiida-firecrest."""

for _name, _spec in AUTH_OPTIONS:
    _spec.setdefault('non_interactive_default', True)
