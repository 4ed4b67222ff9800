"""Replaying the recorded exchanges of a real FirecREST v2 server on the demo, and comparing the answers.

The recordings (``shared/firecrest-v2/exchanges``) name the real server's paths, user, group,
job ids and log files. :class:`RecordedNames` maps them onto the demo's, in both directions:
recorded requests are sent with the demo's names, and demo answers are read back with the
recorded names before they are compared (:class:`Conformance`).

:class:`Replay` replays a whole recorded file, in order, on one in-process demo: a job query
(``GET /compute/{system}/jobs/{id}``) is repeated until the demo's job reaches the recorded
state, and the ids of submitted jobs are learnt as they come.

:class:`Conformance` checks that an answer has the recorded status, headers of interest, keys and
value types everywhere, and the recorded values for the keys a test names as exact. Values that
differ from machine to machine (inode numbers, times, ids) are compared by type only; dates,
uuids and ETags inside texts are blanked on both sides.
"""

from __future__ import annotations

import os
import pwd
import re
import time
import urllib.parse
from collections.abc import Callable
from typing import Any

import httpx
from fastapi.testclient import TestClient

from aiida_firecrest.demo.settings import DemoSettings

from ..recordings import load_exchanges

RECORDED_HOME = '/home/fireuser'
RECORDED_SCRATCH = '/scratch/fireuser'
RECORDED_UID = '1001'
TIMESTAMP = re.compile(r'^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d$')
DATE = re.compile(r'\w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d UTC \d{4}')
UUID = re.compile(r'[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}')
ETAG = re.compile(r'\b[0-9a-f]{32}\b')
JOB_ID_IN_TEXT = re.compile(r'(?<=job )\d+|(?<=job id )\d+|(?<=\(id:)\d+')
JOB_ID_PREFIX = re.compile(r'^\d+')
"""A job id, or the job id in a task id (``13.batch``)."""
JOB_ID_IN_PATH = re.compile(r'(?<=/jobs/)\d+|(?<=afterok:)\d+')
SPEED_UPS = {'sleep 8\n': 'sleep 0.5\n', 'sleep 90\n': 'sleep 5\n', '--time=00:01:00': '--time=0:1'}
"""Script edits that keep the recorded jobs' behaviour but make them finish within seconds."""
URL_KEYS = {'partsUploadUrls', 'completeUploadUrl', 'downloadUrl'}
"""Presigned S3 URLs: host, bucket, key and signature differ; their shape does not (see :func:`url_shape`)."""
VOLATILE_KEYS = {'lastModified', 'ino', 'dev', 'nlink', 'uid', 'gid', 'atime', 'ctime', 'mtime'}
"""Keys whose values differ from machine to machine: only their types are compared."""
ARCHIVES = ('.gz', '.tar')
"""Archives differ in size from GNU tar's (a regular file's ``size`` is compared otherwise)."""
JOB_EXACT_KEYS = {
    # job records and metadata
    'jobId',
    'id',
    'name',
    'state',
    'stateReason',
    'exitCode',
    'interruptSignal',
    'account',
    'allocationNodes',
    'cluster',
    'partition',
    'user',
    'group',
    'workingDirectory',
    'suspended',
    'standardInput',
    'standardOutput',
    'standardError',
    # transfer job replies
    'system',
    'outputLog',
    'errorLog',
    'transferMethod',
    'maxPartSize',
    # error bodies and log texts
    'errorType',
    'message',
    'causedBy',
    'location',
    'output',
}
"""The keys whose recorded values the compute and transfer answers reproduce. The others are compared
by type only: ``priority``, ``nodes`` (the host name), times, and the ``limit`` of the sped-up job 46."""
POLL_TIMEOUT = 20.0
POLL_INTERVAL = 0.05
TERMINAL_RANK = 2
"""Job states ranked PENDING (0), RUNNING (1), and any final state."""


def other_user() -> str:
    """A user that is not the current one (the recordings' ``chown`` to ``root`` is not permitted)."""
    current = pwd.getpwuid(os.geteuid()).pw_name
    return next(name for name in ('root', 'nobody', 'daemon') if name != current)


def substitute(text: str, replacements: dict[str, str]) -> str:
    """``text`` with every key of ``replacements`` replaced at once, the longest match first."""
    if not replacements:
        return text
    keys = sorted(replacements, key=len, reverse=True)
    pattern = re.compile('|'.join(re.escape(key) for key in keys))
    return pattern.sub(lambda match: replacements[match.group()], text)


def url_shape(url: str) -> tuple[str, int, str, list[str]]:
    """What a presigned URL shares with the recorded one: scheme, path depth, file name, query names."""
    parts = urllib.parse.urlsplit(url)
    segments = parts.path.split('/')
    names = [name for name, _ in urllib.parse.parse_qsl(parts.query)]
    return parts.scheme, len(segments), segments[-1], names


def blank(text: str) -> str:
    """Text with dates, uuids and ETags replaced by placeholders."""
    return ETAG.sub('<etag>', UUID.sub('<uuid>', DATE.sub('<date>', text)))


class RecordedNames:
    """What differs between the recordings and the demo: paths, user, group, job ids, log files."""

    def __init__(self, settings: DemoSettings) -> None:
        self.settings = settings
        self.paths = {
            RECORDED_HOME: str(settings.home),
            RECORDED_SCRATCH: str(settings.scratch),
            '/home': str(settings.home_root),
            '/scratch': str(settings.scratch_root),
        }
        """Recorded path -> the demo's (replaced in one pass, the longest first)."""
        self.job_ids: dict[str, str] = {}
        """Recorded job id -> the demo's, learnt from the answers to submissions."""
        self.logs: dict[str, str] = {}
        """Recorded transfer job log path -> the demo's."""
        self.users = {'fireuser': settings.username, RECORDED_UID: str(settings.uid), 'root': other_user()}

    # --- recorded -> demo ---------------------------------------------------------------------

    def to_demo(self, text: str) -> str:
        """A recorded request string (path, query value, script) as the demo should get it."""
        text = substitute(text, {**self.paths, **self.logs, **SPEED_UPS})
        return JOB_ID_IN_PATH.sub(lambda match: self.job_ids.get(match.group(), match.group()), text)

    def request_value(self, value: Any, key: str | None = None) -> Any:
        """A recorded query or JSON body with the demo's names (``owner``/``group`` fields too)."""
        if isinstance(value, dict):
            return {name: self.request_value(item, name) for name, item in value.items()}
        if isinstance(value, str) and key in {'owner', 'group'}:
            return self.expected(key, value)
        return self.to_demo(value) if isinstance(value, str) else value

    def expected(self, key: str, value: str) -> str:
        """A recorded ``user`` or ``group`` (name or id) as the demo names it."""
        if key == 'group':
            return {'fireuser': self.settings.group, RECORDED_UID: str(self.settings.gid)}.get(value, value)
        return self.users.get(value, value)

    # --- demo -> recorded ---------------------------------------------------------------------

    def to_recorded(self, text: str) -> str:
        """Demo text with the recorded paths, uid and job ids, and dates, uuids and ETags blanked."""
        text = substitute(text, {demo: recorded for recorded, demo in self.paths.items()})
        reverse = {demo: recorded for recorded, demo in self.job_ids.items()}
        text = JOB_ID_IN_TEXT.sub(lambda match: reverse.get(match.group(), match.group()), text)
        return blank(text.replace(f'CANCELLED by {self.settings.uid}', f'CANCELLED by {RECORDED_UID}'))


class Conformance:
    """Compares demo answers with recorded ones: same status, keys and types; values of ``exact_keys``."""

    def __init__(self, names: RecordedNames, exact_keys: set[str]) -> None:
        self.names = names
        self.exact_keys = exact_keys

    def response(self, recorded: dict[str, Any], response: httpx.Response, where: str = 'body') -> None:
        """The whole answer: status, content type, version header and body."""
        assert response.status_code == recorded['status'], f'{where}: {response.text}'
        headers = recorded['headers_of_interest']
        assert response.headers.get('f7t-appversion') == headers['f7t-appversion'], where
        for name in ('content-type', 'location'):
            if name in headers:
                assert response.headers[name] == headers[name], f'{where}: {name}'
        body = recorded['body']
        if body == '<empty body>':
            assert response.content == b'', where
        elif isinstance(body, dict) and '_text_prefix' in body:
            assert response.text.startswith(self.names.to_demo(body['_text_prefix'])), where
            assert len(response.content) == body['_total_bytes'], where
        elif isinstance(body, dict) and '_bytes' in body:
            assert len(response.content) == int(body['_bytes'].split()[0].lstrip('<')), where
        else:
            self.check(body, response.json(), where)

    def check(self, recorded: Any, actual: Any, where: str = 'body', key: str | None = None) -> None:
        """``actual`` is like ``recorded``: the same type, keys and length, and values where exact."""
        assert type(actual) is type(recorded), f'{where}: {actual!r} is not like {recorded!r}'
        if isinstance(recorded, dict):
            assert set(actual) == set(recorded), f'{where}: keys {sorted(actual)} != {sorted(recorded)}'
            self._check_dict(recorded, actual, where)
        elif isinstance(recorded, list):
            self._check_list(recorded, actual, where, key)
        elif recorded is not None and key is not None:
            self._check_value(recorded, actual, where, key)

    def _check_dict(self, recorded: dict[str, Any], actual: dict[str, Any], where: str) -> None:
        if recorded.get('errorType') == 'validation':
            self.check(recorded['data'], actual['data'], f'{where}.data')
            first_error = self.names.to_demo(recorded['message'].split('\n\n')[0]).lower()
            assert actual['message'].split('\n\n')[0] == first_error, f'{where}.message'
            return
        if is_placeholder(recorded) and not is_placeholder(actual):
            # For a quick job a real server answers either its own record or (recorded here) the placeholder.
            self._check_value(
                recorded['status']['state'], actual['status']['state'], f'{where}.state', 'state'
            )
            return
        regular_file = recorded.get('type') == '-' and not recorded.get('name', '').endswith(ARCHIVES)
        for key, value in recorded.items():
            if key == 'size' and not regular_file:
                assert type(actual[key]) is type(value), f'{where}.size'
            else:
                self.check(value, actual[key], f'{where}.{key}', key)

    def _check_list(self, recorded: list[Any], actual: list[Any], where: str, key: str | None) -> None:
        if key == 'jobs' and len(recorded) != 1:
            # A list of all jobs: the demo's jobs differ from the recorded ones, their shape does not.
            assert bool(actual) == bool(recorded), f'{where}: {len(actual)} jobs, recorded {len(recorded)}'
            for index, job in enumerate(actual):
                assert set(job) == set(recorded[0]), f'{where}[{index}]: keys {sorted(job)}'
            return
        assert len(actual) == len(recorded), f'{where}: {len(actual)} items, recorded {len(recorded)}'
        for index, (old, new) in enumerate(zip(recorded, actual, strict=True)):
            self.check(old, new, f'{where}[{index}]', key)

    def _check_value(self, recorded: Any, actual: Any, where: str, key: str) -> None:
        if key == 'lastModified':
            assert TIMESTAMP.match(actual), f'{where}: {actual!r}'
        elif key == 'stateReason' and recorded in {'Priority', 'None'}:
            assert actual in {'Priority', 'None'}, f'{where}: {actual!r}'
        elif key in URL_KEYS:
            assert url_shape(actual) == url_shape(recorded), f'{where}: {actual!r} is not like {recorded!r}'
        elif key not in self.exact_keys or key in VOLATILE_KEYS:
            return
        elif key in {'jobId', 'id'}:
            expected = JOB_ID_PREFIX.sub(lambda match: self.names.job_ids.get(match.group(), ''), recorded)
            assert actual == expected, f'{where}: {actual!r} != {recorded!r}'
        elif key in {'user', 'group'}:
            assert actual == self.names.expected(key, recorded), f'{where}: {actual!r} != {recorded!r}'
        elif isinstance(actual, str):
            assert self.names.to_recorded(actual) == blank(recorded), f'{where}: {actual!r} != {recorded!r}'
        else:
            assert actual == recorded, f'{where}: {actual!r} != {recorded!r}'


Upload = tuple[str, bytes]
"""The multipart ``file`` of a recorded upload (recorded only as ``<N bytes>``): its name and content."""
Hook = Callable[['Replay'], None]
"""What the recorded client did between two exchanges (for example a PUT to a presigned S3 URL)."""


class Replay:
    """Replays recorded files on one in-process demo and checks every answer with :class:`Conformance`."""

    def __init__(self, client: TestClient, names: RecordedNames, exact_keys: set[str]) -> None:
        self.client = client
        self.names = names
        self.conformance = Conformance(names, exact_keys)
        self.staged: dict[str, Any] = {}
        """The last staged transfer: its request body (with the demo's names) and the demo's answer."""

    def run(
        self, prefix: str, hooks: dict[int, Hook] | None = None, uploads: dict[int, Upload] | None = None
    ) -> None:
        """Replay and check every exchange of the file ``prefix``; ``hooks`` run after their exchange."""
        for index, exchange in enumerate(load_exchanges(prefix)['exchanges']):
            upload = (uploads or {}).get(index)
            self.exchange(exchange, f'{prefix}[{index}] ({exchange.get("note", "")})', upload)
            if hooks and index in hooks:
                hooks[index](self)

    def exchange(self, exchange: dict[str, Any], where: str, upload: Upload | None = None) -> None:
        """Replay one exchange and check the answer (unless the demo's job already went past it)."""
        request, recorded = exchange['request'], exchange['response']
        if _is_job_query(request, recorded):
            polled = self.wait_for_state(request, recorded)
            if polled is None:
                return
            response = polled
        else:
            response = self.send(request, upload)
        if response.headers.get('content-type') == 'application/json' and response.content:
            self._learn(request, recorded['body'], response.json())
        self.conformance.response(recorded, response, where)

    def send(self, request: dict[str, Any], upload: Upload | None = None) -> httpx.Response:
        """Send a recorded request with the demo's names; without a token if it was recorded without."""
        names = self.names
        outgoing = self.client.build_request(
            request['method'],
            names.to_demo(request['path']),
            params=names.request_value(request.get('query')),
            json=names.request_value(request.get('json_body')),
            files=None if upload is None else {'file': upload},
        )
        if 'Authorization' not in request.get('headers_of_interest', {}):
            del outgoing.headers['Authorization']
        response: httpx.Response = self.client.send(outgoing, follow_redirects=False)
        return response

    def wait_for_state(self, request: dict[str, Any], recorded: dict[str, Any]) -> httpx.Response | None:
        """Poll a job until it is in the recorded state; None if it went past it (the demo was faster).

        Where the recording has the job's own record, a placeholder answer (which a real server gives
        too, for a while after a quick job ended) is polled past until the job's own record is back.
        """
        wanted = recorded['body']['jobs'][0]['status']['state']
        placeholder_recorded = is_placeholder(recorded['body']['jobs'][0])
        deadline = time.monotonic() + POLL_TIMEOUT
        while time.monotonic() < deadline:
            response = self.send(request)
            job = response.json()['jobs'][0]
            state = self.names.to_recorded(job['status']['state'])
            if state == wanted:
                if placeholder_recorded or not is_placeholder(job):
                    return response
            elif _state_rank(state) >= TERMINAL_RANK or _state_rank(state) > _state_rank(wanted):
                assert _state_rank(state) > _state_rank(wanted), f'job ended {state}, recorded {wanted}'
                return None
            time.sleep(POLL_INTERVAL)
        raise AssertionError(f'job never reached {wanted}')

    def _learn(self, request: dict[str, Any], recorded: Any, actual: Any) -> None:
        """Remember the demo's job ids and log paths for the recorded ones, and the last staged transfer."""
        if not isinstance(recorded, dict) or not isinstance(actual, dict):
            return
        job = recorded.get('transferJob', recorded)
        if 'jobId' in job:
            self.names.job_ids[job['jobId']] = actual.get('transferJob', actual)['jobId']
        if 'transferJob' in recorded:
            logs = actual['transferJob']['logs']
            self.names.logs.update(
                {path: logs[kind] for kind, path in recorded['transferJob']['logs'].items()}
            )
        if 'transferDirectives' in actual:
            self.staged = {'request': self.names.request_value(request.get('json_body')), 'body': actual}


def is_placeholder(job: dict[str, Any]) -> bool:
    """A job record that is Slurm's placeholder ('allocation', no partition), not the job's own."""
    return job.get('name') == 'allocation' and not job.get('partition')


def _state_rank(state: str) -> int:
    return {'PENDING': 0, 'RUNNING': 1}.get(state, TERMINAL_RANK)


def _is_job_query(request: dict[str, Any], recorded: dict[str, Any]) -> bool:
    """A ``GET /compute/{system}/jobs/{id}`` answered with a job record."""
    path = request['path']
    return (
        request['method'] == 'GET'
        and '/jobs/' in path
        and not path.endswith('/metadata')
        and recorded['status'] == 200
    )
