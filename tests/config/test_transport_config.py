"""``TransportConfig``: the typed configuration the transport is built from."""

from __future__ import annotations

from aiida_firecrest.config import AUTH_OPTIONS
from aiida_firecrest.settings import TransportConfig

PARAMS = {
    'url': 'https://api.example.org/firecrest/v2',
    'token_uri': 'https://auth.example.org/token',
    'client_id': 'my-client',
    'client_secret': 'h5-literal-secret-value',
    'compute_resource': 'daint',
    'temp_directory': '/scratch/me/aiida_firecrest_tmp',
}


def test_config_is_built_from_auth_params_ignoring_aiida_s_own_options() -> None:
    config = TransportConfig.from_auth_params({**PARAMS, 'use_login_shell': True, 'safe_interval': 0.0})
    assert config.compute_resource == 'daint'
    assert config.max_io_allowed == 8


def test_config_repr_does_not_show_the_secret_reference() -> None:
    assert 'h5-literal-secret-value' not in repr(TransportConfig.from_auth_params(PARAMS))


def test_option_names_are_kept_from_the_earlier_plugin() -> None:
    names = [name for name, _ in AUTH_OPTIONS]
    earlier = ['url', 'token_uri', 'client_id', 'client_secret', 'compute_resource', 'billing_account']
    assert names[:6] == earlier
    assert {'temp_directory', 'max_io_allowed', 'checksum_check', 'small_file_size_mb'} <= set(names)
