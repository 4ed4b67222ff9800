"""The server checks of ``verdi computer configure firecrest``, and the proposals made from the answers.

Each ``check_*`` takes the run, the values known so far and its option's value, asks the server what it
needs (through the run's probe, each answer asked once per run) and raises :class:`.probe.ProbeError`
with a one-line message; the ``suggest_*`` functions propose defaults from those answers; the warnings
are about the computer itself (its work directory, its scheduler plugin).
"""

from __future__ import annotations

import posixpath
from typing import Any

from .capabilities import SCHEDULER_ENTRY_POINTS, scheduler_mismatch, transfer_method_problem
from .configure_state import Run, echo, forget_stored_secret
from .paths import is_within
from .probe import (
    ProbeError,
    V1ServerError,
    check_token_endpoint,
    max_ops_file_size,
    unknown_account_message,
    unknown_system_message,
)
from .probe_v1 import FirecrestV1Probe
from .settings import MIB
from .transfer import largest_direct_download

__all__ = (
    'TEMP_DIRECTORY_NAME',
    'check_api_version',
    'check_billing_account',
    'check_compute_resource',
    'check_credentials',
    'check_small_file_size',
    'check_temp_directory',
    'check_token_uri',
    'check_url',
    'propose_temp_directory',
    'scheduler_warning',
    'suggest_account',
    'suggest_system',
    'suggest_temp_directory',
    'work_directory_warning',
)

TEMP_DIRECTORY_NAME = 'aiida_firecrest_tmp'


def check_url(run: Run, known: dict[str, Any], url: str) -> None:
    run.probe_for(url).check_reachable()


def check_api_version(run: Run, known: dict[str, Any], value: str) -> str | None:
    """``auto`` is stored as the API the server answered in (``1`` or ``2``: no detection request at first
    use); another version than the server's is refused."""
    answered = run.api_version
    if answered is None or value == answered:
        return None
    if value == 'auto':
        return answered
    raise ProbeError(f'the server answered as FirecREST v{answered}; use {answered} or auto')


def check_token_uri(run: Run, known: dict[str, Any], token_uri: str) -> None:
    check_token_endpoint(token_uri)


def check_credentials(run: Run, known: dict[str, Any], value: str) -> None:
    """Get a token with the client id and secret, then list the systems with it.

    A server that answers in FirecREST v1's shape (or ``--api-version 1``, when given before) is asked
    v1's questions from then on.
    """
    probe = run.probe_for(known['url'])
    try:
        probe.authenticate(known['token_uri'], known['client_id'], run.secret or '')
    except ProbeError:
        forget_stored_secret(run)
        raise
    if known.get('api_version') == '1' and not isinstance(probe, FirecrestV1Probe):
        probe = run.probe = FirecrestV1Probe.taking_over(probe)
    try:
        systems = probe.systems()
    except V1ServerError:
        if known.get('api_version') == '2':
            raise
        probe = run.probe = FirecrestV1Probe.taking_over(probe)
        systems = probe.systems()
    run.api_version = '1' if isinstance(probe, FirecrestV1Probe) else '2'
    run.systems = {
        system['name']: system for system in systems if isinstance(system, dict) and 'name' in system
    }
    version = probe.api_version or 'not stated'
    echo(
        'report',
        f'Authenticated. FirecREST API version {version}; systems: {", ".join(run.systems) or "none"}.',
    )


def _system(run: Run, name: str) -> dict[str, Any]:
    systems = run.systems or {}
    if name not in systems:
        raise ProbeError(unknown_system_message(name, sorted(systems)))
    return systems[name]


def userinfo_of(run: Run, known: dict[str, Any], system: str) -> dict[str, Any]:
    if system not in run.userinfo:
        run.userinfo[system] = run.probe_for(known['url']).userinfo(system)
    return run.userinfo[system]


def check_compute_resource(run: Run, known: dict[str, Any], system: str) -> None:
    description = _system(run, system)
    username = _username(userinfo_of(run, known, system))
    echo('report', f'System {system} found; you are {username or "(unknown user)"} there.')
    problem = transfer_method_problem(description)
    if problem is not None:
        echo('warning', problem)
    run.checked_system = (description, username or '')


def scheduler_warning(entry_point: str, system: dict[str, Any]) -> str | None:
    """A warning if the computer's scheduler plugin ``entry_point`` cannot drive ``system``, else None.

    Submission does not ask for the system's description (it would cost every CalcJob a request), so this
    is where a mismatch is caught first; ``verdi computer test`` then fails on it.
    """
    kinds = {plugin: kind for kind, plugin in SCHEDULER_ENTRY_POINTS.items()}
    if entry_point not in kinds:
        plugins = ' or '.join(f'`{plugin}`' for plugin in kinds)
        return (
            f'The scheduler {entry_point} runs commands on the computer, which FirecREST cannot do; '
            f'set the computer up with the scheduler {plugins}.'
        )
    return scheduler_mismatch(system, kinds[entry_point])


def work_directory_warning(workdir: str, username: str, system: dict[str, Any]) -> str | None:
    """A warning if the computer's work directory is not on one of the system's file systems, else None.

    :param workdir: the computer's work directory, possibly with ``{username}``.
    :param username: the user's name on the system.
    :param system: the system's entry of ``GET /status/systems``.
    """
    roots = _file_system_paths(system)
    path = workdir.replace('{username}', username)
    if not roots or any(is_within(path, root) for root in roots):
        return None
    proposal = propose_temp_directory(system, '{username}') or ''
    proposal = posixpath.join(posixpath.dirname(proposal), 'aiida') if proposal else roots[0]
    return (
        f'The work directory {workdir} is outside the file systems of {system.get("name")} '
        f'({", ".join(roots)}); calculations will fail there. Set up the computer again with '
        f'--work-dir {proposal} (for example with verdi computer duplicate).'
    )


def check_billing_account(run: Run, known: dict[str, Any], account: str) -> None:
    """The account must be one of the user's where the server lists them (Slurm, FirecREST 2.5.1 or later)."""
    if not account:
        return
    system = known['compute_resource']
    userinfo = userinfo_of(run, known, system)
    if userinfo.get('accounts') is None:
        echo(
            'report',
            f'The server does not list your accounts on {system}: {account} is checked by the first job.',
        )
        return
    accounts = _account_names(userinfo)
    if account not in accounts:
        raise ProbeError(unknown_account_message(account, system, accounts))


def check_temp_directory(run: Run, known: dict[str, Any], path: str) -> None:
    system = known['compute_resource']
    roots = _file_system_paths(_system(run, system))
    if roots and not any(is_within(path, root) for root in roots):
        raise ProbeError(f'{path} is outside the file systems of {system} ({", ".join(roots)}).')
    probe = run.probe_for(known['url'])
    probe.make_directory(system, path)
    probe.check_writable(system, path)
    echo(
        'report', f'Temporary directory {path} is ready (created if missing; its contents are never deleted).'
    )


def check_small_file_size(run: Run, known: dict[str, Any], size_mb: float) -> None:
    """The threshold must not exceed what the server moves directly (downloads come base64-encoded)."""
    limit = max_ops_file_size(_system(run, known['compute_resource']))
    if limit and size_mb * MIB > largest_direct_download(limit):
        largest = largest_direct_download(limit) / MIB
        raise ProbeError(
            f'{size_mb:g} MB is above the server limit for direct transfers ({largest:.2f} MB: '
            f'{limit / MIB:g} MB, less the room its base64-encoded downloads need); use 0 for the largest.'
        )


# --- reading the server's answers


def _username(userinfo: dict[str, Any]) -> str | None:
    user = userinfo.get('user')
    return user.get('name') if isinstance(user, dict) else None


def _accounts(userinfo: dict[str, Any]) -> list[dict[str, Any]]:
    accounts = userinfo.get('accounts')
    return [account for account in accounts or [] if isinstance(account, dict) and account.get('name')]


def _account_names(userinfo: dict[str, Any]) -> list[str]:
    return [str(account['name']) for account in _accounts(userinfo)]


def _file_system_paths(system: dict[str, Any]) -> list[str]:
    return [fs['path'] for fs in system.get('fileSystems') or [] if isinstance(fs, dict) and fs.get('path')]


def propose_temp_directory(system: dict[str, Any], username: str) -> str | None:
    """The proposed temporary directory: ``<scratch file system>/<username>/aiida_firecrest_tmp``.

    The scratch file system (``dataType`` ``scratch``) is preferred, then the default work directory's one.
    """
    file_systems = [fs for fs in system.get('fileSystems') or [] if isinstance(fs, dict) and fs.get('path')]
    ranked = sorted(
        file_systems, key=lambda fs: (fs.get('dataType') != 'scratch', not fs.get('defaultWorkDir'))
    )
    if not ranked or not username:
        return None
    return posixpath.join(ranked[0]['path'], username, TEMP_DIRECTORY_NAME)


# --- proposals


def suggest_system(run: Run, known: dict[str, Any]) -> str | None:
    return next(iter(run.systems or {})) if len(run.systems or {}) == 1 else None


def suggest_account(run: Run, known: dict[str, Any]) -> str | None:
    system = known.get('compute_resource')
    if system not in (run.systems or {}) or run.offline:
        return None
    accounts = _accounts(userinfo_of(run, known, system))
    return next((str(account['name']) for account in accounts if account.get('default')), '')


def suggest_temp_directory(run: Run, known: dict[str, Any]) -> str | None:
    system = known.get('compute_resource')
    if system not in (run.systems or {}) or run.offline:
        return None
    username = _username(userinfo_of(run, known, system))
    return propose_temp_directory(run.systems[system], username or '') if run.systems else None
