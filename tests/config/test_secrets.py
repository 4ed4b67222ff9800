"""The client secret is stored only by reference, in files only its owner can read."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from aiida_firecrest import secrets

SECRET = 'h5-not-a-real-secret-7f3a'


@pytest.fixture
def h5_config_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty AiiDA configuration directory for this test."""
    from aiida.manage.configuration.settings import AiiDAConfigDir

    monkeypatch.setattr(AiiDAConfigDir, '_glb_aiida_config_folder', tmp_path)
    return tmp_path


def test_stored_secret_file_is_readable_by_its_owner_only(h5_config_dir: Path) -> None:
    path = secrets.store_secret(SECRET, hint='my client/id')
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert path.parent == h5_config_dir / 'firecrest' / 'secrets'
    assert path.name.startswith('my_client_id-')
    assert path.read_text().strip() == SECRET


def test_each_stored_secret_gets_its_own_file(h5_config_dir: Path) -> None:
    assert secrets.store_secret(SECRET) != secrets.store_secret(SECRET)


def test_an_empty_secret_is_refused(h5_config_dir: Path) -> None:
    with pytest.raises(secrets.SecretError, match='empty'):
        secrets.store_secret('  ')


@pytest.mark.parametrize(
    ('value', 'expected'),
    [
        ('env:F7T_SECRET', True),
        ('/abs/file', True),
        ('~/file', True),
        ('plain-secret', False),
        ('a/b', False),
    ],
)
def test_references_are_env_variables_and_absolute_paths(value: str, expected: bool) -> None:
    assert secrets.is_reference(value) is expected


def test_secret_resolved_from_an_environment_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv('H5_F7T_SECRET', SECRET)
    assert secrets.resolve_secret('env:H5_F7T_SECRET') == SECRET


def test_secret_resolved_from_a_file(tmp_path: Path) -> None:
    path = tmp_path / 'secret'
    path.write_text(f'{SECRET}\n')
    assert secrets.resolve_secret(str(path)) == SECRET


@pytest.mark.parametrize('reference', ['env:H5_UNSET_VARIABLE', '/nonexistent/h5/secret'])
def test_unresolvable_reference_is_named_in_the_error(reference: str) -> None:
    with pytest.raises(secrets.SecretError) as info:
        secrets.resolve_secret(reference)
    assert reference.removeprefix('env:') in str(info.value)


def test_an_empty_secret_file_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / 'secret'
    path.write_text('\n')
    with pytest.raises(secrets.SecretError, match='empty'):
        secrets.resolve_secret(str(path))


@pytest.mark.parametrize(('mode', 'warns'), [(0o600, False), (0o400, False), (0o640, True), (0o604, True)])
def test_group_or_world_access_to_a_secret_file_is_warned_about(
    tmp_path: Path, mode: int, warns: bool
) -> None:
    path = tmp_path / 'secret'
    path.write_text(SECRET)
    path.chmod(mode)
    warning = secrets.loose_permissions_warning(path)
    assert (warning is not None) is warns
    if warning:
        assert f'chmod 600 {path}' in warning
