"""Reliability campaign: AiiDA's transport operations and CalcJobs through FirecREST under injected faults.

Usage::

    python benchmarks/faults.py [--quick] [--firecrest-config FILE] [--mix NAME ...] [--jobs N]
                                [--files N] [--timeout S] [--seed N]

Without ``--firecrest-config`` a demo server is started (``aiida_firecrest.demo.launcher.DemoServer``);
with it, the connection file (``url``, ``token_uri``, ``client_id``, ``client_secret``,
``compute_resource``, ``temp_directory``, ``workdir``, ``billing_account``; as
``python firecrest_demo.py serve --config-out FILE`` writes it) names any server. Either way every
request goes through a fault-injecting HTTP proxy that this script starts on 127.0.0.1 (the same code
path for the demo and for a real server); the computer's ``url`` and ``token_uri`` point at the proxy.
Object-storage traffic of staged transfers goes straight to the object store (no faults there).

Fault mixes (``--mix`` selects some): ``none``; ``429`` (10 % of the API requests, ``Retry-After: 1``);
``503`` (10 %); ``500`` (5 %); ``drop`` (5 %: the connection is closed without an answer, half of the
time before the request reaches the server, half after it was served: a lost answer); ``token45``
(tokens live 45 s and the proxy refuses, as the real server does, tokens that are expired or have less
than 30 s left; tokens issued before the mix are expired when it starts); ``joblag`` (a job is
absent from the job list, and its own record answers 404, for 30 s after its submission, as Slurm's
accounting lags); ``storm`` (every API request is answered 429, ``Retry-After: 1``, for 5 s, starting
3 s into the mix: the rate limit of a busy centre). Faults hit FirecREST API requests only, not the token
endpoint.

Per mix, each operation runs through a ``FirecrestTransport`` obtained as AiiDA obtains it
(``authinfo.get_transport()`` of a ``firecrest`` computer in a throwaway AiiDA profile, then
``open_async``), one transport per operation as the engine opens one per task: ``putfile``,
``getfile``, ``puttree`` and ``gettree`` (``--files``, 100 files in nested directories),
``listdir_withattributes`` (as many entries), a staged 12 MiB ``putfile`` + ``getfile`` (above the
demo's 5 MiB direct-transfer limit), ``copy`` (a directory), ``rename`` and ``rmtree``. Inputs are
prepared and results checked with the faults paused, through a second transport. Then a batch of
``--jobs`` CalcJobs (``core.arithmetic.add``) is submitted to an AiiDA daemon with two workers, with
aiida-core's ZeroMQ broker (no RabbitMQ), as ``tests/e2e/test_daemon.py`` does.

Each operation (and each CalcJob) is one of: ok; failed (its error is printed); hung (no answer within
``--timeout`` seconds; CalcJobs: not terminated within the batch's bound, then killed); wrong (bytes,
names or sizes differ from what was sent, or a CalcJob's sum is wrong). Leftovers are counted apart:
new entries in the computer's remote ``temp_directory``; empty directories a failed or hung call made;
local temporary files (in this process's private ``TMPDIR``, shared with the daemon, or
``.aiida-firecrest-*`` next to a download); jobs still pending or running on the server once the
CalcJobs of a batch have terminated. Leftovers are removed once counted. Per mix: the counts, the
requests the proxy saw (faults not paused) and the wall time, then one line per problem; the last line
is ``faults: N operations, H hung, W wrong, L leftovers``. The exit status is 1 if H, W or L is not 0.

``--quick`` (under ~3 minutes on the demo): 4 CalcJobs per mix instead of 20, bounds of 60 s per operation
and 75 s per CalcJob batch (instead of 180 s and 240 s; plus the mix's job lag), and AiiDA's first retry
of a failed transport task after 5 s instead of its default 20 s (``--retry-interval``).
``--inject wrong`` and ``--inject leftover`` (for the tests) corrupt every download in the proxy and add
an operation that leaves a file in the temp directory, to show that the campaign counts them.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import concurrent.futures
import contextlib
import dataclasses
import json
import os
import random
import re
import shutil
import socket
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

if TYPE_CHECKING:
    from starlette.types import Receive, Scope, Send

MIB = 1024 * 1024
STAGED_SIZE = 12 * MIB
"""The staged round trip's file: above the demo's (and a default server's) 5 MiB direct-transfer limit."""
TOKEN_PATH = '/_token'
"""Where the proxy serves the identity provider's token endpoint."""
API_PREFIXES = ('/status', '/filesystem', '/compute')
MIN_TOKEN_TTL = 30.0
"""The real server refuses a token with less than this many seconds left."""
TERMINAL_JOB_STATES = {
    'COMPLETED', 'FAILED', 'CANCELLED', 'TIMEOUT', 'OUT_OF_MEMORY', 'NODE_FAIL', 'BOOT_FAIL', 'DEADLINE',
    'PREEMPTED', 'F', 'X',
}  # fmt: skip
_SUBMIT = re.compile(r'^/compute/[^/]+/jobs/?$')
_ONE_JOB = re.compile(r'^/compute/[^/]+/jobs/([^/]+)(/metadata)?/?$')
LOCAL_INFRASTRUCTURE = ('aiida_zeromq_',)
"""Names in TMPDIR that are AiiDA's own (the ZeroMQ broker client's sockets), not leftovers."""
_DOWNLOAD = re.compile(r'^/filesystem/[^/]+/ops/download')


# --------------------------------------------------------------------------------------------------
# Fault mixes
# --------------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Mix:
    """One fault mix: what the proxy does to the API requests while it is in force."""

    name: str
    description: str
    faults: tuple[tuple[str, float], ...] = ()
    """``(kind, probability)``: ``'429'``, ``'500'``, ``'503'``, ``'drop'`` or ``'corrupt'`` (downloads)."""
    retry_after: float = 1.0
    token_lifetime: float | None = None
    job_lag: float = 0.0
    storm: tuple[float, float] | None = None
    """``(start, duration)`` in seconds from the mix's start: every API request is answered 429 then."""


MIXES = (
    Mix('none', 'no faults'),
    Mix('429', '429 on 10 % of the requests, Retry-After: 1', faults=(('429', 0.10),)),
    Mix('503', '503 on 10 % of the requests', faults=(('503', 0.10),)),
    Mix('500', '500 on 5 % of the requests', faults=(('500', 0.05),)),
    Mix('drop', 'connection dropped on 5 % of the requests', faults=(('drop', 0.05),)),
    Mix('token45', 'tokens valid for 45 s', token_lifetime=45.0),
    Mix('joblag', 'jobs unknown for 30 s after their submission', job_lag=30.0),
    Mix('storm', 'every request answered 429 for 5 s (Retry-After: 1), 3 s into the mix', storm=(3.0, 5.0)),
)


# --------------------------------------------------------------------------------------------------
# The fault-injecting proxy
# --------------------------------------------------------------------------------------------------


def _error_body(message: str) -> bytes:
    """An error answer in the real server's shape."""
    return json.dumps({'errorType': 'error', 'message': message, 'data': None, 'user': None}).encode()


_HOP_HEADERS = {'host', 'content-length', 'connection', 'transfer-encoding', 'keep-alive', 'accept-encoding'}
_RESPONSE_DROP = {'content-length', 'connection', 'transfer-encoding', 'content-encoding', 'keep-alive'}


class FaultProxy:
    """A reverse proxy on 127.0.0.1 in front of a FirecREST server, which injects the current mix's faults.

    ``/_token`` forwards to the identity provider's token endpoint, everything else to the API. It runs
    uvicorn in a thread of its own. ``paused`` suspends all faults (for preparing and checking); the
    requests it forwards meanwhile are counted apart.
    """

    def __init__(self, upstream: str, token_uri: str, seed: int = 0) -> None:
        self.upstream = upstream.rstrip('/')
        self.token_uri = token_uri
        self.mix = MIXES[0]
        self.mix_started = time.time()
        self.paused = False
        self.requests = 0
        self.paused_requests = 0
        self.token_requests = 0
        self.injected: dict[str, int] = {}
        self.by_endpoint: collections.Counter[str] = collections.Counter()
        self.faults_by_endpoint: collections.Counter[str] = collections.Counter()
        self.latency = 0.0
        """Seconds added to every API request (a wide-area round trip to a production server)."""
        self.in_flight = self.peak_in_flight = 0
        self.storm_requests = 0
        """API requests that arrived during the mix's storm (every one answered 429)."""
        self.system = ''
        self._rng = random.Random(seed)
        self._tokens: dict[str, float] = {}
        self._submitted: dict[str, float] = {}
        self._client: httpx.AsyncClient | None = None
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self.url = ''

    def set_mix(self, mix: Mix) -> None:
        self.mix, self.mix_started = mix, time.time()
        self.requests = self.token_requests = 0
        self.injected = {}
        self.by_endpoint = collections.Counter()
        self.faults_by_endpoint = collections.Counter()
        self.peak_in_flight = self.storm_requests = 0

    @contextlib.contextmanager
    def faults_paused(self) -> Iterator[None]:
        previous, self.paused = self.paused, True
        try:
            yield
        finally:
            self.paused = previous

    # -- lifecycle

    def start(self) -> FaultProxy:
        import uvicorn

        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(('127.0.0.1', 0))
        sock.listen(128)
        self.url = f'http://127.0.0.1:{sock.getsockname()[1]}'
        config = uvicorn.Config(self, log_level='warning', lifespan='off', access_log=False)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={'sockets': [sock]}, name='fault-proxy', daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + 20
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError('the fault proxy did not start')
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(timeout=10)
            self._server = self._thread = None

    # -- the ASGI application

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope['type'] != 'http':
            return
        self.in_flight += 1
        self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
        try:
            await self._serve(scope, receive, send)
        finally:
            self.in_flight -= 1

    async def _serve(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = bytearray()
        while True:
            message = await receive()
            body += message.get('body', b'')
            if not message.get('more_body'):
                break
        path = scope['path']
        query = scope.get('query_string', b'').decode('latin-1')
        headers = [
            (k.decode('latin-1'), v.decode('latin-1'))
            for k, v in scope['headers']
            if k.decode('latin-1').lower() not in _HOP_HEADERS
        ]
        if path == TOKEN_PATH:
            await self._token(scope['method'], headers, bytes(body), send)
            return
        mix = None if self.paused else self.mix
        if mix is None:
            self.paused_requests += 1
        else:
            self.requests += 1
            self.by_endpoint[self.endpoint(scope['method'], path)] += 1
        if self.latency and path.startswith(API_PREFIXES):
            await asyncio.sleep(self.latency)
        refusal = self._token_refusal(mix, headers)
        if refusal:
            await self._answer(send, 401, _error_body(refusal))
            return
        fault = self._choose_fault(mix, scope['method'], path)
        if fault in ('429', '500', '503'):
            messages = {
                '429': 'Too Many Requests',
                '500': 'Internal Server Error',
                '503': 'Service Unavailable',
            }
            extra = [('retry-after', f'{mix.retry_after:g}')] if fault == '429' and mix else []
            await self._answer(send, int(fault), _error_body(messages[fault]), extra)
            return
        if fault == 'drop-before':
            await self._drop(send)
            return
        lagging = self._lagging_job(mix, scope['method'], path)
        if lagging:
            await self._answer(send, 404, _error_body('Job not found.'))
            return
        url = f'{self.upstream}{path}' + (f'?{query}' if query else '')
        try:
            response = await self._http().request(scope['method'], url, headers=headers, content=bytes(body))
        except httpx.HTTPError as exc:
            await self._answer(send, 502, _error_body(f'fault proxy: upstream failed: {exc!r}'))
            return
        content = response.content
        if fault == 'drop-after':
            await self._drop(send)
            return
        content = self._after(mix, scope['method'], path, response.status_code, content)
        extra = [(k, v) for k, v in response.headers.items() if k.lower() not in _RESPONSE_DROP]
        await self._answer(send, response.status_code, content, extra, content_type=False)

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=httpx.Timeout(600.0), follow_redirects=False)
        return self._client

    def endpoint(self, method: str, path: str) -> str:
        """``'POST /compute/{system}/jobs'``: the request's route, without the system's name and job ids."""
        parts = ['{system}' if part == self.system and part else part for part in path.rstrip('/').split('/')]
        text = '/'.join(parts)
        return f'{method} {re.sub(r"(?<=/jobs/)[^/]+", "{id}", text)}'

    def _choose_fault(self, mix: Mix | None, method: str, path: str) -> str | None:
        if mix is None or not path.startswith(API_PREFIXES):
            return None
        if mix.storm is not None:
            start, duration = mix.storm
            if start <= time.time() - self.mix_started < start + duration:
                self.storm_requests += 1
                self.injected['429'] = self.injected.get('429', 0) + 1
                self.faults_by_endpoint[f'429 (storm) on {self.endpoint(method, path)}'] += 1
                return '429'
        for kind, probability in mix.faults:
            if kind == 'corrupt':
                continue
            if self._rng.random() < probability:
                if kind == 'drop':
                    kind = 'drop-before' if self._rng.random() < 0.5 else 'drop-after'
                self.injected[kind] = self.injected.get(kind, 0) + 1
                self.faults_by_endpoint[f'{kind} on {self.endpoint(method, path)}'] += 1
                return kind
        return None

    def _token_refusal(self, mix: Mix | None, headers: list[tuple[str, str]]) -> str | None:
        """The real server's 401 message for a token too old under the mix's token lifetime, if any."""
        if mix is None or mix.token_lifetime is None:
            return None
        auth = next((v for k, v in headers if k.lower() == 'authorization'), '')
        if not auth.startswith('Bearer '):
            return None
        issued = self._tokens.get(auth[7:], 0.0)
        if issued < self.mix_started:  # a token from before the mix: expired when it started
            issued = self.mix_started - mix.token_lifetime
        remaining = mix.token_lifetime - (time.time() - issued)
        if remaining <= 0:
            message = 'Access token expired'
        elif remaining < MIN_TOKEN_TTL:
            message = f'Access token expires too soon (less than {MIN_TOKEN_TTL:g}s remaining).'
        else:
            return None
        self.injected['401 token'] = self.injected.get('401 token', 0) + 1
        return message

    def _lagging_job(self, mix: Mix | None, method: str, path: str) -> bool:
        """Whether ``GET .../jobs/{id}`` asks for a job submitted less than the mix's lag ago."""
        if mix is None or not mix.job_lag or method != 'GET':
            return False
        match = _ONE_JOB.match(path)
        if match is None:
            return False
        submitted = self._submitted.get(match.group(1))
        if submitted is not None and time.time() - submitted < mix.job_lag:
            self.injected['job hidden'] = self.injected.get('job hidden', 0) + 1
            return True
        return False

    def _after(self, mix: Mix | None, method: str, path: str, status: int, content: bytes) -> bytes:
        """Record submissions; hide lagging jobs from the job list; corrupt downloads if asked to."""
        if method == 'POST' and _SUBMIT.match(path) and status < 300:
            with contextlib.suppress(ValueError, KeyError, TypeError):
                self._submitted[str(json.loads(content)['jobId'])] = time.time()
        if mix is None:
            return content
        if mix.job_lag and method == 'GET' and _SUBMIT.match(path) and status == 200:
            data = json.loads(content)
            now = time.time()
            jobs = data.get('jobs') or []
            kept = [
                job for job in jobs if now - self._submitted.get(str(job.get('jobId')), 0.0) >= mix.job_lag
            ]
            if len(kept) != len(jobs):
                self.injected['job hidden'] = self.injected.get('job hidden', 0) + len(jobs) - len(kept)
                content = json.dumps({**data, 'jobs': kept}).encode()
        if dict(mix.faults).get('corrupt') and _DOWNLOAD.match(path) and status == 200 and content:
            self.injected['corrupt'] = self.injected.get('corrupt', 0) + 1
            content = bytes([content[0] ^ 0xFF]) + content[1:]
        return content

    async def _token(self, method: str, headers: list[tuple[str, str]], body: bytes, send: Send) -> None:
        self.token_requests += 1
        try:
            response = await self._http().request(method, self.token_uri, headers=headers, content=body)
        except httpx.HTTPError as exc:
            await self._answer(send, 502, _error_body(f'fault proxy: token endpoint failed: {exc!r}'))
            return
        content = response.content
        mix = None if self.paused else self.mix
        if response.status_code == 200:
            with contextlib.suppress(ValueError, KeyError, TypeError):
                data = json.loads(content)
                self._tokens[data['access_token']] = time.time()
                if mix is not None and mix.token_lifetime is not None:
                    data['expires_in'] = int(mix.token_lifetime)
                    content = json.dumps(data).encode()
        extra = [(k, v) for k, v in response.headers.items() if k.lower() not in _RESPONSE_DROP]
        await self._answer(send, response.status_code, content, extra, content_type=False)

    @staticmethod
    async def _answer(
        send: Send,
        status: int,
        body: bytes,
        headers: list[tuple[str, str]] | None = None,
        content_type: bool = True,
    ) -> None:
        raw = [(k.encode('latin-1'), v.encode('latin-1')) for k, v in headers or []]
        if content_type:
            raw.append((b'content-type', b'application/json'))
        raw.append((b'content-length', str(len(body)).encode()))
        await send({'type': 'http.response.start', 'status': status, 'headers': raw})
        await send({'type': 'http.response.body', 'body': body})

    @staticmethod
    async def _drop(send: Send) -> None:
        """Close the client's connection without an answer (uvicorn's ``send`` is bound to its cycle)."""
        transport = getattr(getattr(send, '__self__', None), 'transport', None)
        if transport is None:
            raise RuntimeError('cannot drop the connection: not running under uvicorn')
        transport.close()
        await asyncio.sleep(0)


# --------------------------------------------------------------------------------------------------
# Outcomes
# --------------------------------------------------------------------------------------------------


class WrongDataError(AssertionError):
    """What came back (or what the server holds) differs from what was sent."""


@dataclasses.dataclass
class Outcome:
    name: str
    status: str  # ok, failed, hung, wrong
    detail: str = ''
    seconds: float = 0.0


@dataclasses.dataclass
class MixResult:
    mix: Mix
    outcomes: list[Outcome] = dataclasses.field(default_factory=list)
    leftovers: list[str] = dataclasses.field(default_factory=list)
    notes: list[str] = dataclasses.field(default_factory=list)
    requests: int = 0
    token_requests: int = 0
    injected: dict[str, int] = dataclasses.field(default_factory=dict)
    by_endpoint: dict[str, int] = dataclasses.field(default_factory=dict)
    faults_by_endpoint: dict[str, int] = dataclasses.field(default_factory=dict)
    peak_in_flight: int = 0
    storm_requests: int = 0
    seconds: float = 0.0

    def count(self, status: str) -> int:
        return sum(1 for outcome in self.outcomes if outcome.status == status)


# --------------------------------------------------------------------------------------------------
# Local data
# --------------------------------------------------------------------------------------------------


def make_tree(root: Path, files: int, seed: int) -> dict[str, bytes]:
    """``files`` files in nested directories under ``root``; their relative paths and contents."""
    rng = random.Random(seed)
    contents = {}
    for index in range(files):
        parts = [f'level{depth}-{index % (depth + 2)}' for depth in range(index % 4)]
        relative = '/'.join([*parts, f'f{index:03d}.dat'])
        data = rng.randbytes(200 + index * 13)
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_bytes(data)
        contents[relative] = data
    return contents


def read_tree(root: Path) -> dict[str, bytes]:
    return {
        path.relative_to(root).as_posix(): path.read_bytes()
        for path in sorted(root.rglob('*'))
        if path.is_file()
    }


def compare_trees(expected: dict[str, bytes], found: dict[str, bytes], what: str) -> None:
    if expected == found:
        return
    missing = sorted(set(expected) - set(found))
    extra = sorted(set(found) - set(expected))
    changed = sorted(name for name in set(expected) & set(found) if expected[name] != found[name])
    raise WrongDataError(
        f'{what}: {len(missing)} missing {missing[:3]}, {len(extra)} unexpected {extra[:3]}, '
        f'{len(changed)} with other bytes {changed[:3]}'
    )


def compare_bytes(expected: bytes, found: bytes, what: str) -> None:
    if expected != found:
        first = next(
            (i for i, (a, b) in enumerate(zip(expected, found, strict=False)) if a != b),
            min(len(expected), len(found)),
        )
        raise WrongDataError(
            f'{what}: {len(found)} bytes instead of {len(expected)}, first difference at byte {first}'
        )


# --------------------------------------------------------------------------------------------------
# Operations
# --------------------------------------------------------------------------------------------------

Step = Callable[[Any], Awaitable[Any]]


@dataclasses.dataclass
class Operation:
    """One transport operation: ``prepare`` and ``check`` run on the checking transport (faults paused),
    ``run`` on a transport of its own under the mix."""

    name: str
    run: Step
    prepare: Step | None = None
    check: Step | None = None


def operations(local: Path, remote: str, data: dict[str, Any], files: int) -> list[Operation]:
    """The campaign's operations, each in its own remote directory ``remote/<name>`` and local ``local``."""
    small, tree, big = data['small'], data['tree'], data['big']
    src = data['src']

    def r(op: str, *parts: str) -> str:
        return '/'.join([remote, op, *parts])

    async def mkdir(v: Any, op: str) -> None:
        await v.makedirs_async(r(op), ignore_existing=True)

    async def prep_put(v: Any) -> None:
        await mkdir(v, 'putfile')

    async def check_put(v: Any) -> None:
        await v.getfile_async(r('putfile', 'small.bin'), local / 'check-putfile.bin')
        compare_bytes(small, (local / 'check-putfile.bin').read_bytes(), 'putfile: the remote file')

    async def prep_get(v: Any) -> None:
        await mkdir(v, 'getfile')
        await v.putfile_async(src / 'small.bin', r('getfile', 'small.bin'))

    async def check_get(v: Any) -> None:
        compare_bytes(small, (local / 'getfile.bin').read_bytes(), 'getfile: the local file')

    async def prep_puttree(v: Any) -> None:
        await mkdir(v, 'puttree')

    async def check_puttree(v: Any) -> None:
        await v.gettree_async(r('puttree', 'tree'), local / 'check-puttree')
        compare_trees(tree, read_tree(local / 'check-puttree'), 'puttree: the remote tree')

    async def prep_gettree(v: Any) -> None:
        await mkdir(v, 'gettree')
        await v.puttree_async(src / 'tree', r('gettree', 'tree'))

    async def check_gettree(v: Any) -> None:
        compare_trees(tree, read_tree(local / 'gettree'), 'gettree: the local tree')

    flat = {f'entry-{index:03d}': tree[name] for index, name in enumerate(sorted(tree))}

    async def prep_listdir(v: Any) -> None:
        await mkdir(v, 'listdir')
        await v.puttree_async(src / 'flat', r('listdir', 'flat'))

    async def run_listdir(t: Any) -> None:
        entries = await t.listdir_withattributes_async(r('listdir', 'flat'))
        found = {entry['name']: (entry['isdir'], entry['attributes']['st_size']) for entry in entries}
        expected = {name: (False, len(content)) for name, content in flat.items()}
        if found != expected:
            differ = sorted(
                name for name in set(found) | set(expected) if found.get(name) != expected.get(name)
            )
            raise WrongDataError(f'listdir_withattributes: {len(differ)} entries differ, e.g. {differ[:3]}')

    async def prep_staged(v: Any) -> None:
        await mkdir(v, 'staged')

    async def run_staged(t: Any) -> None:
        await t.putfile_async(src / 'big.bin', r('staged', 'big.bin'))
        await t.getfile_async(r('staged', 'big.bin'), local / 'staged-back.bin')

    async def check_staged(v: Any) -> None:
        size = (await v.get_attribute_async(r('staged', 'big.bin')))['st_size']
        if size != len(big):
            raise WrongDataError(f'staged: the remote file has {size} bytes instead of {len(big)}')
        compare_bytes(big, (local / 'staged-back.bin').read_bytes(), 'staged: the file back')

    copied = {name: content for name, content in tree.items() if name.count('/') <= 1}

    async def prep_copy(v: Any) -> None:
        await mkdir(v, 'copy')
        await v.puttree_async(src / 'copy', r('copy', 'source'))

    async def check_copy(v: Any) -> None:
        await v.gettree_async(r('copy', 'destination'), local / 'check-copy')
        compare_trees(copied, read_tree(local / 'check-copy'), 'copy: the copied directory')

    async def prep_rename(v: Any) -> None:
        await mkdir(v, 'rename')
        await v.putfile_async(src / 'small.bin', r('rename', 'old.bin'))

    async def check_rename(v: Any) -> None:
        if await v.path_exists_async(r('rename', 'old.bin')):
            raise WrongDataError('rename: the old name still exists')
        await v.getfile_async(r('rename', 'new.bin'), local / 'check-rename.bin')
        compare_bytes(small, (local / 'check-rename.bin').read_bytes(), 'rename: the renamed file')

    async def prep_rmtree(v: Any) -> None:
        await mkdir(v, 'rmtree')
        await v.puttree_async(src / 'copy', r('rmtree', 'doomed'))

    async def check_rmtree(v: Any) -> None:
        if await v.path_exists_async(r('rmtree', 'doomed')):
            left = await v.listdir_async(r('rmtree', 'doomed'))
            raise WrongDataError(f'rmtree: the directory still exists, holding {left[:5]}')

    return [
        Operation(
            'putfile',
            lambda t: t.putfile_async(src / 'small.bin', r('putfile', 'small.bin')),
            prep_put,
            check_put,
        ),
        Operation(
            'getfile',
            lambda t: t.getfile_async(r('getfile', 'small.bin'), local / 'getfile.bin'),
            prep_get,
            check_get,
        ),
        Operation(
            f'puttree ({files} files)',
            lambda t: t.puttree_async(src / 'tree', r('puttree', 'tree')),
            prep_puttree,
            check_puttree,
        ),
        Operation(
            f'gettree ({files} files)',
            lambda t: t.gettree_async(r('gettree', 'tree'), local / 'gettree'),
            prep_gettree,
            check_gettree,
        ),
        Operation(f'listdir_withattributes ({files})', run_listdir, prep_listdir),
        Operation('staged 12 MiB put+get', run_staged, prep_staged, check_staged),
        Operation(
            'copy (directory)',
            lambda t: t.copy_async(r('copy', 'source'), r('copy', 'destination')),
            prep_copy,
            check_copy,
        ),
        Operation(
            'rename',
            lambda t: t.rename_async(r('rename', 'old.bin'), r('rename', 'new.bin')),
            prep_rename,
            check_rename,
        ),
        Operation('rmtree', lambda t: t.rmtree_async(r('rmtree', 'doomed')), prep_rmtree, check_rmtree),
    ]


def sandbox_of(operation: Operation, remote: str) -> str:
    """The remote directory of an operation (``remote/<first word of its name>``)."""
    word = operation.name.split()[0]
    return f'{remote}/{"listdir" if word.startswith("listdir") else "staged" if word == "staged" else word}'


def make_sources(src: Path, files: int, seed: int) -> dict[str, Any]:
    """The local inputs of the operations under ``src``."""
    rng = random.Random(seed)
    src.mkdir(parents=True)
    small = rng.randbytes(256 * 1024)
    (src / 'small.bin').write_bytes(small)
    big = rng.randbytes(STAGED_SIZE)
    (src / 'big.bin').write_bytes(big)
    tree = make_tree(src / 'tree', files, seed)
    (src / 'flat').mkdir()
    for index, name in enumerate(sorted(tree)):
        (src / 'flat' / f'entry-{index:03d}').write_bytes(tree[name])
    for name, content in tree.items():
        if name.count('/') <= 1:
            (src / 'copy' / name).parent.mkdir(parents=True, exist_ok=True)
            (src / 'copy' / name).write_bytes(content)
    return {'small': small, 'big': big, 'tree': tree, 'src': src}


# --------------------------------------------------------------------------------------------------
# AiiDA: a throwaway profile with a ZeroMQ broker, the computer, the daemon
# --------------------------------------------------------------------------------------------------


@contextlib.contextmanager
def daemon(profile: Any, workers: int) -> Iterator[Any]:
    """The profile's daemon with ``workers`` workers (it starts the ZeroMQ broker service itself)."""
    from aiida.engine.daemon import client as daemon_client

    bin_dir = Path(sys.executable).parent
    os.environ['PATH'] = f'{bin_dir}{os.pathsep}{os.environ.get("PATH", "")}'
    if daemon_client.VERDI_BIN is None:
        daemon_client.VERDI_BIN = str(bin_dir / 'verdi')
    client = daemon_client.get_daemon_client(profile.name)
    client.start_daemon(number_workers=workers, timeout=60)
    try:
        yield client
    finally:
        client.stop_daemon(wait=True, timeout=60)


# --------------------------------------------------------------------------------------------------
# The campaign
# --------------------------------------------------------------------------------------------------


class Loop:
    """An event loop in a thread of its own: the main thread bounds each coroutine's time (``hung``)."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name='campaign-loop', daemon=True)
        self._thread.start()

    def run(self, coroutine: Awaitable[Any], timeout: float) -> Any:
        """The coroutine's result; ``concurrent.futures.TimeoutError`` after ``timeout`` (then cancelled)."""
        future: concurrent.futures.Future[Any] = asyncio.run_coroutine_threadsafe(
            coroutine,  # type: ignore[arg-type]
            self.loop,
        )
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=10)


class Campaign:
    """Everything one run needs: the proxy, the profile's computer, local and remote places."""

    def __init__(self, config: dict[str, Any], options: argparse.Namespace, workspace: Path) -> None:
        self.config = config
        self.options = options
        self.workspace = workspace
        self.proxy = FaultProxy(config['url'], config['token_uri'], options.seed).start()
        self.proxy.system = str(config['compute_resource'])
        self.proxy.latency = options.latency
        self.loop = Loop()
        self.remote_base = f'{config["workdir"]}/faults-{time.strftime("%Y%m%d-%H%M%S")}-{os.getpid()}'
        self.temp_directory = str(config['temp_directory'])
        self.local_tmp = Path(tempfile.gettempdir())  # the private TMPDIR (see main)
        self.sources = make_sources(workspace / 'sources', options.files, options.seed)
        self.authinfo: Any = None
        self.code: Any = None
        self.daemon: Any = None
        self.temp_baseline: set[str] = set()
        self.seen_jobs: set[str] = set()
        self.known_jobs: set[str] = set()
        self.local_baseline: set[str] = set()

    # -- AiiDA

    def setup_computer(self) -> None:
        from aiida import orm

        secret = workspace_secret(self.workspace, str(self.config['client_secret']))
        computer = orm.Computer(
            label='firecrest-faults',
            hostname='localhost',
            transport_type='firecrest',
            scheduler_type='firecrest.pbs' if self.config.get('scheduler') == 'pbs' else 'firecrest',
            workdir=f'{self.remote_base}/calcjobs',
        ).store()
        computer.set_minimum_job_poll_interval(1.0)
        computer.set_default_mpiprocs_per_machine(1)
        computer.configure(
            url=self.proxy.url,
            token_uri=f'{self.proxy.url}{TOKEN_PATH}',
            client_id=self.config['client_id'],
            client_secret=str(secret),
            compute_resource=self.config['compute_resource'],
            temp_directory=self.temp_directory,
            billing_account=self.config.get('billing_account') or '',
            safe_interval=0,
        )
        user = orm.User.collection.get_default()
        assert user is not None
        self.authinfo = computer.get_authinfo(user)
        self.code = orm.InstalledCode(
            computer=computer, filepath_executable='/bin/bash', label='bash'
        ).store()

    def transport(self) -> Any:
        """A new, unopened transport, as the engine gets one."""
        return self.authinfo.get_transport()

    @staticmethod
    async def _with_transport(transport: Any, step: Step) -> Any:
        """Open ``transport`` (made in the main thread: AiiDA's ORM is per thread), run ``step``, close."""
        await transport.open_async()
        try:
            return await step(transport)
        finally:
            await transport.close_async()

    def checked(self, step: Step, timeout: float = 300) -> Any:
        """Run ``step`` on a new transport with the faults paused (preparation and checks)."""
        with self.proxy.faults_paused():
            return self.loop.run(self._with_transport(self.transport(), step), timeout)

    # -- remote inspection (faults paused)

    async def _walk(self, v: Any, path: str) -> dict[str, bool]:
        """Every path under ``path`` and whether it is an empty directory."""
        found: dict[str, bool] = {}
        try:
            entries = await v.listdir_withattributes_async(path)
        except FileNotFoundError:
            return found
        found[path] = not entries
        for entry in entries:
            child = f'{path}/{entry["name"]}'
            if entry['isdir']:
                found.update(await self._walk(v, child))
            else:
                found[child] = False
        return found

    def remote_temp_entries(self) -> set[str]:
        return set(self.checked(lambda v: v.listdir_async(self.temp_directory)))

    def take_remote_temp_leftovers(self, where: str) -> list[str]:
        """New entries of the remote temp directory (then removed)."""
        new = sorted(self.remote_temp_entries() - self.temp_baseline)

        async def remove(v: Any) -> None:
            for name in new:
                path = f'{self.temp_directory}/{name}'
                if await v.isdir_async(path):
                    await v.rmtree_async(path)
                else:
                    await v.remove_async(path)

        if new:
            self.checked(remove)
        return [f'{where}: remote temp file {self.temp_directory}/{name}' for name in new]

    def take_local_leftovers(self, where: str, directory: Path) -> list[str]:
        """New entries of the private TMPDIR (counted once: the daemon's own sockets live there too, so
        they are not removed) and ``.aiida-firecrest-*`` below ``directory`` (removed)."""
        new = sorted(
            path
            for path in self.local_tmp.iterdir()
            if path.name not in self.local_baseline and not path.name.startswith(LOCAL_INFRASTRUCTURE)
        )
        self.local_baseline.update(path.name for path in new)
        scratch = sorted(directory.rglob('.aiida-firecrest-*')) if directory.exists() else []
        for path in scratch:
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
        return [f'{where}: local temp file {path}' for path in [*new, *scratch]]

    # -- one mix

    def run_mix(self, mix: Mix) -> MixResult:
        result = MixResult(mix)
        started = time.monotonic()
        remote = f'{self.remote_base}/{mix.name}'
        local = self.workspace / 'results' / mix.name
        local.mkdir(parents=True)
        ops = operations(local, remote, self.sources, self.options.files)
        if 'leftover' in self.options.inject:
            ops.append(self.leftover_operation(remote))
        wanted = [op for op in ops if not self.options.ops or op.name.split()[0] in self.options.ops]
        selected = [] if self.options.calcjobs_only else wanted
        self.proxy.set_mix(mix)
        ops_requests = 0
        for op in selected:
            ops_requests += self.run_operation(op, remote, local, result)
        result.notes.append(f'transport operations: {ops_requests} requests')
        if self.options.jobs and self.daemon is not None:
            self.run_calcjobs(mix, result)
        result.requests = self.proxy.requests
        result.token_requests = self.proxy.token_requests
        result.injected = dict(self.proxy.injected)
        result.by_endpoint = dict(self.proxy.by_endpoint)
        result.faults_by_endpoint = dict(self.proxy.faults_by_endpoint)
        result.peak_in_flight = self.proxy.peak_in_flight
        result.storm_requests = self.proxy.storm_requests
        result.seconds = time.monotonic() - started
        return result

    def leftover_operation(self, remote: str) -> Operation:
        """For the tests: an operation that succeeds and leaves a file in the temp directory."""

        async def leave(t: Any) -> None:
            await t.putfile_async(
                self.sources['src'] / 'small.bin', f'{self.temp_directory}/injected-leftover'
            )

        return Operation('inject-leftover', leave)

    def run_operation(self, op: Operation, remote: str, local: Path, result: MixResult) -> int:
        """Prepare, run (bounded), check and look for leftovers; the requests the run made."""
        sandbox = sandbox_of(op, remote)
        if op.prepare is not None:
            self.checked(op.prepare)
        before = self.checked(lambda v: self._walk(v, sandbox))
        requests = self.proxy.requests
        started = time.monotonic()
        try:
            self.loop.run(self._with_transport(self.transport(), op.run), self.options.timeout)
        except concurrent.futures.TimeoutError:
            outcome = Outcome(op.name, 'hung', f'no answer within {self.options.timeout:g} s')
        except WrongDataError as exc:
            outcome = Outcome(op.name, 'wrong', str(exc))
        except Exception as exc:
            outcome = Outcome(op.name, 'failed', one_line(exc))
        else:
            outcome = Outcome(op.name, 'ok')
            if op.check is not None:
                try:
                    self.checked(op.check)
                except WrongDataError as exc:
                    outcome = Outcome(op.name, 'wrong', str(exc))
                except Exception as exc:
                    outcome = Outcome(op.name, 'wrong', f'the check failed: {one_line(exc)}')
        outcome.seconds = time.monotonic() - started
        requests = self.proxy.requests - requests
        result.outcomes.append(outcome)
        if outcome.status in ('failed', 'hung'):
            after = self.checked(lambda v: self._walk(v, sandbox))
            made = sorted(path for path, empty in after.items() if empty and path not in before)
            result.leftovers += [
                f'{op.name}: empty directory {path} left by the failed call' for path in made
            ]
        result.leftovers += self.take_remote_temp_leftovers(op.name)
        result.leftovers += self.take_local_leftovers(op.name, local)
        return requests

    # -- CalcJobs

    def run_calcjobs(self, mix: Mix, result: MixResult) -> None:
        from aiida import orm
        from aiida.calculations.arithmetic.add import ArithmeticAddCalculation
        from aiida.engine import submit
        from aiida.engine.processes.control import kill_processes

        options = {
            'resources': {'num_machines': 1, 'num_mpiprocs_per_machine': 1},
            'max_wallclock_seconds': 120,
        }
        requests = self.proxy.requests
        started = time.monotonic()
        nodes = [
            submit(
                ArithmeticAddCalculation,
                code=self.code,
                x=orm.Int(i),
                y=orm.Int(1000),
                metadata={'options': options},
            )
            for i in range(self.options.jobs)
        ]
        bound = self.options.job_timeout + mix.job_lag
        while not all(node.is_terminated for node in nodes) and time.monotonic() - started < bound:
            time.sleep(1.0)
        hung = [node for node in nodes if not node.is_terminated]
        states = {
            node.pk: f'{node.process_state}, {node.process_status!r} {self.calc_log(node)}' for node in hung
        }
        if hung:
            with contextlib.suppress(Exception):
                kill_processes(hung, timeout=30)
        for index, node in enumerate(nodes):
            name = f'CalcJob {index} + 1000 (pk {node.pk})'
            if node in hung:
                result.outcomes.append(
                    Outcome(
                        name, 'hung', f'not terminated after {bound:g} s (then killed): {states[node.pk]}'
                    )
                )
            elif not node.is_finished_ok:
                result.outcomes.append(
                    Outcome(
                        name,
                        'failed',
                        f'exit status {node.exit_status}: {node.exit_message} {self.calc_log(node)}',
                    )
                )
            elif 'sum' not in node.outputs or node.outputs.sum.value != index + 1000:
                found = node.outputs.sum.value if 'sum' in node.outputs else None
                result.outcomes.append(Outcome(name, 'wrong', f'sum {found}, not {index + 1000}'))
            else:
                result.outcomes.append(Outcome(name, 'ok'))
        result.notes.append(
            f'{len(nodes)} CalcJobs through the daemon: {time.monotonic() - started:.1f} s, '
            f'{self.proxy.requests - requests} requests'
        )
        result.leftovers += self.running_jobs(nodes, result)
        result.leftovers += self.take_remote_temp_leftovers('CalcJobs')
        result.leftovers += self.take_local_leftovers('CalcJobs', self.workspace / 'results' / mix.name)

    @staticmethod
    def calc_log(node: Any) -> str:
        from aiida.orm import Log

        messages = [
            log.message
            for log in Log.collection.get_logs_for(node)
            if log.levelname in ('ERROR', 'WARNING', 'REPORT')
        ]
        return f'[last log: {one_line_text(messages[-1])[:500]}]' if messages else ''

    def running_jobs(self, nodes: list[Any], result: MixResult) -> list[str]:
        """Jobs of the campaign's CalcJob directory still pending or running (5 s after the batch)."""
        prefix = f'{self.remote_base}/calcjobs'
        self.known_jobs.update(str(node.get_job_id()) for node in nodes if node.get_job_id())
        known = self.known_jobs

        async def jobs(v: Any) -> list[dict[str, Any]]:
            return list(await v.client.api.job_info(v.client.system))

        deadline = time.monotonic() + 5
        while True:
            records = [
                job
                for job in self.checked(jobs)
                if str(job.get('workingDirectory') or '').startswith(prefix)
                and str(job.get('jobId')) not in self.seen_jobs
            ]
            running = [
                job
                for job in records
                if str((job.get('status') or {}).get('state')) not in TERMINAL_JOB_STATES
            ]
            if not running or time.monotonic() > deadline:
                break
            time.sleep(1.0)
        self.seen_jobs.update(str(job.get('jobId')) for job in records)
        unknown = sorted(str(job.get('jobId')) for job in records if str(job.get('jobId')) not in known)
        if unknown:
            result.notes.append(
                f'jobs on the server that no CalcJob knows (duplicate submissions?): {unknown}'
            )
        return [
            f'CalcJobs: job {job.get("jobId")} still {job["status"].get("state")} '
            f'in {job.get("workingDirectory")}'
            for job in running
        ]

    # -- all mixes

    def run(self, mixes: list[Mix]) -> list[MixResult]:
        self.setup_computer()
        self.checked(lambda v: v.makedirs_async(f'{self.remote_base}/calcjobs', ignore_existing=True))
        self.checked(lambda v: v.makedirs_async(self.temp_directory, ignore_existing=True))
        self.temp_baseline = self.remote_temp_entries()
        self.seen_jobs = set()
        results = []
        stack = contextlib.ExitStack()
        with stack:
            if self.options.jobs:
                from aiida.manage import get_manager

                self.daemon = stack.enter_context(daemon(get_manager().get_profile(), self.options.workers))
            self.local_baseline = {path.name for path in self.local_tmp.iterdir()}  # the daemon's sockets
            for mix in mixes:
                result = self.run_mix(mix)
                print(format_mix(result, self.options.verbose), flush=True)
                results.append(result)
        self.checked(lambda v: v.rmtree_async(self.remote_base), timeout=600)
        return results

    def close(self) -> None:
        self.loop.close()
        self.proxy.stop()


def workspace_secret(workspace: Path, secret: str) -> Path:
    path = workspace / 'client-secret'
    path.touch(mode=0o600)
    path.write_text(secret)
    return path


def one_line_text(text: str) -> str:
    return ' '.join(str(text).split())


def one_line(exc: BaseException) -> str:
    return f'{type(exc).__name__}: {one_line_text(str(exc))[:400]}'


# --------------------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------------------


def format_mix(result: MixResult, verbose: bool = False) -> str:
    injected = ', '.join(f'{kind} x{count}' for kind, count in sorted(result.injected.items())) or 'none'
    lines = [
        f'== mix {result.mix.name}: {result.mix.description}',
        f'   {len(result.outcomes)} operations: {result.count("ok")} ok, {result.count("failed")} failed, '
        f'{result.count("hung")} hung, {result.count("wrong")} wrong; {len(result.leftovers)} leftovers; '
        f'{result.requests} requests (+{result.token_requests} token), faults injected: {injected}; '
        f'{result.seconds:.1f} s',
    ]
    lines += [f'   note: {note}' for note in result.notes]
    if result.faults_by_endpoint:
        faults = ', '.join(f'{where} x{n}' for where, n in sorted(result.faults_by_endpoint.items()))
        lines.append(f'   faults: {faults}')
    if verbose:
        lines += [
            f'   {n:5d}  {where}' for where, n in sorted(result.by_endpoint.items(), key=lambda i: -i[1])
        ]
    lines += [
        f'   {outcome.status.upper()}: {outcome.name} ({outcome.seconds:.1f} s): {outcome.detail}'
        for outcome in result.outcomes
        if outcome.status != 'ok'
    ]
    lines += [f'   LEFTOVER: {leftover}' for leftover in result.leftovers]
    return '\n'.join(lines)


def summary(results: list[MixResult]) -> tuple[str, bool]:
    """The last line, and whether it is clean (no hung, wrong, leftover)."""
    operations = sum(len(result.outcomes) for result in results)
    hung = sum(result.count('hung') for result in results)
    wrong = sum(result.count('wrong') for result in results)
    leftovers = sum(len(result.leftovers) for result in results)
    return f'faults: {operations} operations, {hung} hung, {wrong} wrong, {leftovers} leftovers', not (
        hung or wrong or leftovers
    )


# --------------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or '').splitlines()[0])
    parser.add_argument('--firecrest-config', type=Path, help='connection file of a server (default: a demo)')
    parser.add_argument('--quick', action='store_true', help='4 CalcJobs per mix, 60 s operation bound')
    parser.add_argument(
        '--mix', action='append', choices=[mix.name for mix in MIXES], help='only these mixes'
    )
    parser.add_argument('--ops', default='', help='only these operations (comma-separated first words)')
    parser.add_argument('--jobs', type=int, help='CalcJobs per mix (default 20, --quick 4; 0: none)')
    parser.add_argument('--workers', type=int, default=2, help='daemon workers')
    parser.add_argument('--files', type=int, default=100, help='files of the trees and entries listed')
    parser.add_argument(
        '--timeout', type=float, help='seconds an operation may take (default 180, --quick 60)'
    )
    parser.add_argument(
        '--job-timeout',
        type=float,
        help='seconds a CalcJob batch may take, plus the job lag (default 240, --quick 75)',
    )
    parser.add_argument('--verbose', action='store_true', help='print the requests of each mix by endpoint')
    parser.add_argument(
        '--retry-interval',
        type=float,
        help="AiiDA's transport.task_retry_initial_interval (default: AiiDA's 20 s; --quick 5 s)",
    )
    parser.add_argument('--seed', type=int, default=1, help='seed of the fault choices and of the data')
    parser.add_argument(
        '--latency', type=float, default=0.0, help='seconds the proxy adds to every API request (default 0)'
    )
    parser.add_argument('--calcjobs-only', action='store_true', help='no transport operations, CalcJobs only')
    parser.add_argument('--inject', default='', help=argparse.SUPPRESS)  # tests: 'wrong', 'leftover'
    options = parser.parse_args(argv)
    options.jobs = options.jobs if options.jobs is not None else (4 if options.quick else 20)
    options.timeout = options.timeout or (60.0 if options.quick else 180.0)
    options.job_timeout = options.job_timeout or (75.0 if options.quick else 240.0)
    if options.retry_interval is None and options.quick:
        options.retry_interval = 5.0
    options.ops = [name for name in options.ops.split(',') if name]
    options.inject = [name for name in options.inject.split(',') if name]
    return options


def selected_mixes(options: argparse.Namespace) -> list[Mix]:
    mixes = [mix for mix in MIXES if not options.mix or mix.name in options.mix]
    if 'wrong' in options.inject:
        mixes = [dataclasses.replace(mix, faults=(*mix.faults, ('corrupt', 1.0))) for mix in mixes]
    return mixes


def campaign(config: dict[str, Any], options: argparse.Namespace, workspace: Path) -> list[MixResult]:
    """Run the selected mixes against the server of ``config`` in a throwaway profile."""
    # A private TMPDIR for this process and the daemon (which inherits it): what is left there is ours.
    local_tmp = workspace / 'tmp'
    local_tmp.mkdir()
    os.environ['TMPDIR'] = str(local_tmp)
    tempfile.tempdir = str(local_tmp)
    from aiida_firecrest.demo import walkthrough

    # the engine's first wait after a failed transport task (default 20 s)
    profile_options = (
        {}
        if options.retry_interval is None
        else {'transport.task_retry_initial_interval': options.retry_interval}
    )
    with walkthrough.throwaway_profile(workspace / 'aiida', 'core.zeromq', profile_options):
        run = Campaign(config, options, workspace)
        try:
            return run.run(selected_mixes(options))
        finally:
            run.close()


def run_campaign(options: argparse.Namespace) -> list[MixResult] | None:
    """The campaign against ``--firecrest-config``'s server or a demo started for it; None if it aborted."""
    workspace = Path(tempfile.mkdtemp(prefix='firecrest-faults-'))
    try:
        if options.firecrest_config:
            config = json.loads(options.firecrest_config.read_text())
            return campaign(config, options, workspace)
        from aiida_firecrest.demo.launcher import DemoServer

        with DemoServer(root=workspace / 'server') as server:
            print(f'Demo server at {server.url}', flush=True)
            return campaign(server.config, options, workspace)
    except Exception:
        traceback.print_exc()
        return None
    finally:
        shutil.rmtree(workspace, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    options = parse_args(argv)
    started = time.monotonic()
    print(
        f'Reliability campaign: {options.jobs} CalcJobs per mix through an AiiDA daemon '
        f'({options.workers} workers, ZeroMQ broker), operation bound {options.timeout:g} s, '
        f'CalcJob batch bound {options.job_timeout:g} s, AiiDA transport-task retry interval '
        f'{"20 (default)" if options.retry_interval is None else f"{options.retry_interval:g}"} s',
        flush=True,
    )
    results = run_campaign(options)
    if results is None:
        print('faults: campaign aborted')
        return 2
    line, clean = summary(results)
    print(f'wall time {time.monotonic() - started:.1f} s')
    print(line)
    return 0 if clean else 1


if __name__ == '__main__':
    sys.exit(main())
