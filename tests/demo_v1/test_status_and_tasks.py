"""``/status`` and ``/tasks`` of the v1 demo, as pyfirecrest's v1 client reads them."""

from __future__ import annotations

from typing import TYPE_CHECKING

import httpx
import pytest
from firecrest import FirecrestException

if TYPE_CHECKING:
    from firecrest.v1 import Firecrest

    from aiida_firecrest.demo.launcher import DemoServer


def test_parameters_give_the_version_and_the_direct_transfer_limit(
    v1_client: Firecrest, v1_server: DemoServer
) -> None:
    parameters = v1_client.parameters()
    general = {entry['name']: entry['value'] for entry in parameters['general']}
    utilities = {entry['name']: entry for entry in parameters['utilities']}
    assert general['FIRECREST_VERSION'] == 'v1.16.0'
    assert str(v1_client._api_version) == '1.16.0'
    limit = utilities['UTILITIES_MAX_FILE_SIZE']
    assert (limit['value'], limit['unit']) == ('5', 'MB')
    assert {entry['name'] for entry in parameters['storage']} >= {'OBJECT_STORAGE', 'STORAGE_MAX_FILE_SIZE'}


def test_systems_list_the_one_system_and_an_unknown_one_is_404(v1_client: Firecrest, system: str) -> None:
    assert v1_client.all_systems() == [
        {'system': system, 'status': 'available', 'description': 'System ready'}
    ]
    assert v1_client.system(system)['status'] == 'available'
    with pytest.raises(FirecrestException):
        v1_client.system('no-such-system')


def test_a_v1_server_has_no_v2_system_description(v1_server: DemoServer) -> None:
    """What tells the API versions apart: v2 answers ``/status/systems`` with ``fileSystems`` per system."""
    token = httpx.post(
        v1_server.config['token_uri'],
        data={
            'grant_type': 'client_credentials',
            'client_id': 'firecrest-demo-client',
            'client_secret': 'firecrest-demo-secret',
        },
    ).json()['access_token']
    answer = httpx.get(f'{v1_server.url}/status/systems', headers={'Authorization': f'Bearer {token}'}).json()
    assert 'fileSystems' not in answer['out'][0]
    assert 'f7t-appversion' not in httpx.get(f'{v1_server.url}/status/systems').headers


def test_a_request_without_token_is_401_in_v1s_shape(v1_server: DemoServer) -> None:
    answer = httpx.get(f'{v1_server.url}/status/parameters')
    assert answer.status_code == 401
    assert answer.json() == {'description': 'Not authenticated'}


def test_tasks_are_listed_by_id_and_an_unknown_one_is_404(
    v1_client: Firecrest, system: str, v1_server: DemoServer
) -> None:
    v1_client.poll_active(system)  # creates one task
    tasks = v1_client._tasks()
    task_id, task = next(iter(tasks.items()))
    assert task['status'] == '200' and task['service'] == 'compute' and task['task_id'] == task_id
    assert set(v1_client._tasks([task_id])) == {task_id}
    token = v1_client._authorization.get_access_token()
    single = httpx.get(f'{v1_server.url}/tasks/{task_id}', headers={'Authorization': f'Bearer {token}'})
    assert single.json()['task']['hash_id'] == task_id
    missing = httpx.get(f'{v1_server.url}/tasks/nope', headers={'Authorization': f'Bearer {token}'})
    assert missing.status_code == 404
