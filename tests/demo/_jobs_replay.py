"""Replay of the recorded compute and transfer exchanges (40-74) against an in-process demo server.

The recordings are sequences: a submission, polls until the job changes state, views of its
logs. :class:`JobReplay` sends each recorded request with the recorded paths and job ids mapped
onto the demo's, waits (by polling) until a job reaches the recorded state before comparing a
job record, and compares every answer with the recorded one: the same status code, keys and
value types everywhere, and the same values where they are stable (states, exit codes, names,
partitions, error messages, log texts after normalising dates, uuids, ETags and ids).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

import httpx
from fastapi.testclient import TestClient

from aiida_firecrest.demo.settings import DemoSettings

from ..recordings import load_exchanges as load

RECORDED_UID = '1001'
POLL_TIMEOUT = 20.0
POLL_INTERVAL = 0.05
TERMINAL_RANK = 2
EXACT_KEYS = {
    'state',
    'exitCode',
    'interruptSignal',
    'name',
    'partition',
    'errorType',
    'system',
    'transferMethod',
    'maxPartSize',
    'causedBy',
}
"""Keys whose recorded values the demo must reproduce (other values: same type only)."""
NORMALISED_TEXT_KEYS = {'message', 'output'}
"""Keys compared as text after normalising paths, dates, uuids, ETags and job ids."""
SPEED_UPS = {'sleep 8\n': 'sleep 1\n', 'sleep 90\n': 'sleep 5\n', '--time=00:01:00': '--time=0:1'}
"""Script edits that keep the recorded jobs' behaviour but make them finish within seconds."""
DATE = re.compile(r'\w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d UTC \d{4}')
UUID = re.compile(r'[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}')
ETAG = re.compile(r'\b[0-9a-f]{32}\b')
JOB_ID_IN_TEXT = re.compile(r'(?<=job )\d+|(?<=job id )\d+|(?<=\(id:)\d+')
JOB_ID_IN_PATH = re.compile(r'(?<=/jobs/)\d+|(?<=afterok:)\d+')


def state_rank(state: str) -> int:
    return {'PENDING': 0, 'RUNNING': 1}.get(state, TERMINAL_RANK)


class JobReplay:
    """Replays recorded sequences on one in-process demo server, keeping a map of job ids."""

    def __init__(self, client: TestClient, settings: DemoSettings) -> None:
        self.client = client
        self.settings = settings
        self.ids: dict[str, str] = {}
        self.staged: dict[str, Any] = {}
        """The last staged transfer: its mapped request body and the demo's answer."""
        self.paths = {'/home/fireuser': str(settings.home), '/scratch/fireuser': str(settings.scratch)}
        self.logs: dict[str, str] = {}
        """Recorded transfer job log path -> the demo's."""

    # --- mapping recorded requests onto the demo --------------------------------------------

    def to_demo(self, text: str) -> str:
        for recorded, demo in [*self.logs.items(), *self.paths.items()]:
            text = text.replace(recorded, demo)
        for slow, fast in SPEED_UPS.items():
            text = text.replace(slow, fast)
        return JOB_ID_IN_PATH.sub(lambda match: self.ids.get(match.group(), match.group()), text)

    def _map(self, value: Any) -> Any:
        if isinstance(value, dict):
            return {key: self._map(item) for key, item in value.items()}
        return self.to_demo(value) if isinstance(value, str) else value

    def send(self, request: dict[str, Any]) -> httpx.Response:
        return self.client.request(
            request['method'],
            self.to_demo(request['path']),
            params=self._map(request.get('query')),
            json=self._map(request.get('json_body')),
        )

    # --- mapping demo answers back ----------------------------------------------------------

    def to_recorded(self, text: str) -> str:
        """Demo text with the recorded paths and job ids, and dates, uuids and ETags blanked."""
        for recorded, demo in self.paths.items():
            text = text.replace(demo, recorded)
        reverse = {demo: recorded for recorded, demo in self.ids.items()}
        text = JOB_ID_IN_TEXT.sub(lambda match: reverse.get(match.group(), match.group()), text)
        return blank(text.replace(f'CANCELLED by {self.settings.uid}', f'CANCELLED by {RECORDED_UID}'))

    # --- replaying --------------------------------------------------------------------------

    def run(self, prefix: str, hooks: dict[int, Callable[[JobReplay], None]] | None = None) -> int:
        """Replay and check every exchange of a file; the number of job records compared."""
        compared = 0
        for index, exchange in enumerate(load(prefix)['exchanges']):
            compared += self.exchange(exchange, f'{prefix}[{index}]')
            if hooks and index in hooks:
                hooks[index](self)
        return compared

    def exchange(self, exchange: dict[str, Any], where: str) -> int:
        """Replay one exchange; 1 if a job record was compared, 0 if the demo's job was already past it."""
        request, recorded = exchange['request'], exchange['response']
        if _is_job_query(request, recorded):
            polled = self.wait_for_state(request, recorded['body'])
            if polled is None:
                return 0
            response = polled
        else:
            response = self.send(request)
        assert response.status_code == recorded['status'], f'{where}: {response.text}'
        assert response.headers['content-type'] == recorded['headers_of_interest']['content-type'], where
        if recorded['body'] == '<empty body>':
            assert response.content == b'', where
            return 0
        body = response.json()
        self._learn_ids(recorded['body'], body)
        if isinstance(body, dict) and 'transferDirectives' in body:
            self.staged = {'request': self._map(request.get('json_body')), 'body': body}
        self.compare(recorded['body'], body, where)
        return int(_is_job_query(request, recorded))

    def wait_for_state(self, request: dict[str, Any], recorded_body: dict[str, Any]) -> httpx.Response | None:
        """Poll until the job is in the recorded state; None if it went past it (the demo was faster)."""
        wanted = recorded_body['jobs'][0]['status']['state']
        deadline = time.monotonic() + POLL_TIMEOUT
        while time.monotonic() < deadline:
            response = self.send(request)
            state = self.to_recorded(response.json()['jobs'][0]['status']['state'])
            if state == wanted:
                return response
            if state_rank(state) >= TERMINAL_RANK or state_rank(state) > state_rank(wanted):
                assert state_rank(state) > state_rank(wanted), f'job ended {state}, recorded {wanted}'
                return None
            time.sleep(POLL_INTERVAL)
        raise AssertionError(f'job never reached {wanted}')

    def _learn_ids(self, recorded: Any, actual: Any) -> None:
        if not isinstance(recorded, dict) or not isinstance(actual, dict):
            return
        job = recorded.get('transferJob', recorded)
        if 'jobId' in job:
            self.ids[job['jobId']] = actual.get('transferJob', actual)['jobId']
        if 'transferJob' in recorded:
            logs = actual['transferJob']['logs']
            self.logs.update({path: logs[kind] for kind, path in recorded['transferJob']['logs'].items()})

    # --- comparing --------------------------------------------------------------------------

    def compare(self, recorded: Any, actual: Any, where: str, key: str | None = None) -> None:
        if recorded is None:
            assert actual is None, f'{where}: {actual!r} is not null'
        elif isinstance(recorded, dict):
            self._compare_dict(recorded, actual, where)
        elif isinstance(recorded, list):
            self._compare_list(recorded, actual, where, key)
        else:
            assert type(actual) is type(recorded), f'{where}: {actual!r} is not like {recorded!r}'
            self._compare_value(recorded, actual, where, key)

    def _compare_dict(self, recorded: dict[str, Any], actual: Any, where: str) -> None:
        assert isinstance(actual, dict), f'{where}: {actual!r} is not an object'
        assert set(actual) == set(recorded), f'{where}: keys {sorted(actual)} != {sorted(recorded)}'
        if recorded.get('errorType') == 'validation':
            self.compare(recorded['data'], actual['data'], f'{where}.data')
            return
        if recorded.get('name') == 'allocation':
            # Slurm's transient record of the allocation (name, group, paths blank, odd exit codes).
            self.compare(recorded['status']['state'], actual['status']['state'], f'{where}.state', 'state')
            return
        for key, value in recorded.items():
            if key == 'user' and 'errorType' in recorded:
                assert actual[key] == (None if value is None else self.settings.username), where
            else:
                self.compare(value, actual[key], f'{where}.{key}', key)

    def _compare_list(self, recorded: list[Any], actual: Any, where: str, key: str | None) -> None:
        assert isinstance(actual, list), f'{where}: {actual!r} is not a list'
        if key == 'jobs' and len(recorded) != 1:
            # A list of all jobs: the demo's jobs differ from the recorded ones, their shape does not.
            assert bool(actual) == bool(recorded), f'{where}: {len(actual)} jobs, recorded {len(recorded)}'
            for index, job in enumerate(actual):
                assert set(job) == set(recorded[0]), f'{where}[{index}]: keys {sorted(job)}'
            return
        assert len(actual) == len(recorded), f'{where}: {len(actual)} items, recorded {len(recorded)}'
        for index, (old, new) in enumerate(zip(recorded, actual, strict=True)):
            self.compare(old, new, f'{where}[{index}]', key)

    def _compare_value(self, recorded: Any, actual: Any, where: str, key: str | None) -> None:
        if key in NORMALISED_TEXT_KEYS:
            assert self.to_recorded(actual) == blank(recorded), f'{where}: {actual!r} != {recorded!r}'
        elif key == 'state':
            assert self.to_recorded(actual) == recorded, f'{where}: {actual!r} != {recorded!r}'
        elif key == 'stateReason' and recorded in {'Priority', 'None'}:
            assert actual in {'Priority', 'None'}, f'{where}: {actual!r}'
        elif key in EXACT_KEYS or key == 'stateReason':
            assert actual == recorded, f'{where}: {actual!r} != {recorded!r}'


def blank(text: str) -> str:
    """Text with dates, uuids and ETags replaced by placeholders."""
    return ETAG.sub('<etag>', UUID.sub('<uuid>', DATE.sub('<date>', text)))


def _is_job_query(request: dict[str, Any], recorded: dict[str, Any]) -> bool:
    """A ``GET /compute/{system}/jobs/{id}`` answered with a job record."""
    path = request['path']
    return (
        request['method'] == 'GET'
        and '/jobs/' in path
        and not path.endswith('/metadata')
        and recorded['status'] == 200
    )
