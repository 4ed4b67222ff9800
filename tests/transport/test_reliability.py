"""Under injected faults no data is lost, nothing partial is left behind, and the transport stays usable.

The faults name endpoints by what they do (:data:`ENDPOINTS`), so that the same test injects them into the
session's API, v2 (``/filesystem/.../ops/...``) or v1 (``/utilities/...``).
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import tarfile
import time
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import Any

import httpx
import pytest

from aiida_firecrest.demo.settings import FaultRule
from aiida_firecrest.ratelimit import JITTER, RateLimitGate
from aiida_firecrest.transport import FirecrestTransport
from tests._harness import DemoHandle, InProcessDemo, RemoteFiles
from tests.transport.fixture_types import WithTransport

from .conftest import run_with_transport

#: What a fault's ``endpoint`` names, and the path fragment it matches on FirecREST v2 and on v1.
ENDPOINTS = {
    'file operations': ('/ops/', '/utilities/'),
    'upload': ('/ops/upload', '/utilities/upload'),
    'download': ('/ops/download', '/utilities/download'),
    'ls': ('/ops/ls', '/utilities/ls'),
    'copy': ('/transfer/cp', '/utilities/copy'),
    'compress': ('/ops/compress', '/utilities/compress'),
    'extract': ('/ops/extract', '/utilities/extract'),
    'checksum': ('/ops/checksum', '/utilities/checksum'),
    'stat': ('/ops/stat', '/utilities/stat'),
}
#: The counter of the request that copies a file on the server: a v2 transfer job, v1's direct copy.
COPY_REQUESTS = ('POST /filesystem/{system_name}/transfer/cp', 'POST /utilities/copy')

Faults = Callable[..., list[dict[str, Any]]]


def fault(kind: str, endpoint: str | None = None, every: int = 1, count: int | None = None) -> dict[str, Any]:
    """A fault rule of the ``/_demo`` switches; ``endpoint`` is a name of :data:`ENDPOINTS`."""
    return {'kind': kind, 'endpoint': endpoint, 'every': every, 'count': count, 'retry_after': 0.05}


@pytest.fixture
def speaks_v1(demo_only: DemoHandle, api: str) -> bool:
    """Whether the session's demo server speaks FirecREST v1."""
    return api == '1'


@pytest.fixture
def on_api(speaks_v1: bool) -> Faults:
    """``on_api(*rules)``: the fault rules with their endpoint names replaced by the session API's paths."""

    def resolve(*rules: dict[str, Any]) -> list[dict[str, Any]]:
        return [{**rule, 'endpoint': _path(rule['endpoint'], speaks_v1)} for rule in rules]

    return resolve


def _path(name: str | None, v1: bool) -> str | None:
    return None if name is None else ENDPOINTS[name][v1]


def make_tree(root: Path) -> dict[str, bytes]:
    contents = {f'd{i % 3}/f{i}': os.urandom(100 + i) for i in range(12)}
    for relative, data in contents.items():
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_bytes(data)
    return contents


def read_tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob('*') if p.is_file()}


async def round_trip(t: FirecrestTransport, local: Path, remote: str) -> None:
    """Upload and download a file and a tree, and list the result."""
    await t.putfile_async(local / 'file', f'{remote}/file')
    await t.getfile_async(f'{remote}/file', local / 'file-back')
    await t.puttree_async(local / 'tree', f'{remote}/tree')
    await t.gettree_async(f'{remote}/tree', local / 'tree-back')
    assert sorted(await t.listdir_async(remote)) == ['file', 'tree']


@pytest.mark.parametrize(
    'faults',
    [
        [fault('429', every=2)],
        [fault('503', every=3)],
        [fault('500', 'file operations', every=4)],
        [fault('drop', 'download', count=2), fault('drop', 'ls', count=1)],
    ],
    ids=['429-storm', '503', '500', 'dropped-connections'],
)
def test_transfers_survive_transient_faults_without_losing_data(
    with_transport: WithTransport,
    demo_only: DemoHandle,
    remote_dir: PurePosixPath,
    local_dir: Path,
    faults: list[dict[str, Any]],
    on_api: Faults,
) -> None:
    (local_dir / 'file').write_bytes(os.urandom(5000))
    contents = make_tree(local_dir / 'tree')
    with demo_only.switches(faults=on_api(*faults)):
        with_transport(lambda t: round_trip(t, local_dir, str(remote_dir)))
    assert (local_dir / 'file-back').read_bytes() == (local_dir / 'file').read_bytes()
    assert read_tree(local_dir / 'tree-back') == contents
    assert read_tree(Path(str(remote_dir / 'tree'))) == contents


@pytest.mark.parametrize(('endpoint', 'sent'), [('upload', 2), ('compress', 1), ('extract', 1)])
def test_a_server_error_answering_an_upload_or_an_archive_command_is_retried(
    with_transport: WithTransport,
    demo_only: DemoHandle,
    remote_dir: PurePosixPath,
    local_dir: Path,
    on_api: Faults,
    endpoint: str,
    sent: int,
) -> None:
    """An upload overwrites its target, a compress or extract that answered is over: each may be sent
    again (v1's ``/utilities`` ones as v2's ``ops`` ones); the round trip sends each ``sent`` times."""
    (local_dir / 'file').write_bytes(os.urandom(5000))
    contents = make_tree(local_dir / 'tree')
    rules = on_api(fault('500', endpoint, count=1))
    with demo_only.switches(faults=rules):
        with_transport(lambda t: round_trip(t, local_dir, str(remote_dir)))
    path = rules[0]['endpoint']
    posts = sum(
        n for key, n in demo_only.counters().items() if key.startswith('POST ') and key.endswith(path)
    )
    assert posts == sent + 1
    assert read_tree(local_dir / 'tree-back') == contents
    assert read_tree(Path(str(remote_dir / 'tree'))) == contents


def test_a_copying_request_is_not_repeated_after_a_server_error(
    with_transport: WithTransport,
    demo_only: DemoHandle,
    remote_dir: PurePosixPath,
    on_api: Faults,
    speaks_v1: bool,
) -> None:
    """A copy is a POST that may have happened (v2: a transfer job; v1: ``cp``, or an xfer job after a
    timeout): after a 500 it is reported, not sent again."""
    Path(str(remote_dir / 'a')).write_text('a')

    async def scenario(t: FirecrestTransport) -> None:
        with pytest.raises(OSError):
            await t.copyfile_async(remote_dir / 'a', remote_dir / 'b')

    demo_only.reset_counters()
    with demo_only.switches(faults=on_api(fault('500', 'copy'))):
        with_transport(scenario)
    assert demo_only.counters().get(COPY_REQUESTS[speaks_v1]) == 1
    assert not Path(str(remote_dir / 'b')).exists()


def test_an_interrupted_download_leaves_nothing_at_the_destination(
    with_transport: WithTransport,
    demo_only: DemoHandle,
    remote_dir: PurePosixPath,
    local_dir: Path,
    on_api: Faults,
) -> None:
    Path(str(remote_dir / 'data')).write_bytes(b'x' * 1000)

    async def scenario(t: FirecrestTransport) -> None:
        with pytest.raises(ConnectionError):
            await t.getfile_async(remote_dir / 'data', local_dir / 'data')

    with demo_only.switches(faults=on_api(fault('drop', 'download'))):
        with_transport(scenario, max_retries=1)
    assert list(local_dir.iterdir()) == []


def test_a_tree_upload_failing_half_way_leaves_no_archive_and_can_be_repeated(
    with_transport: WithTransport,
    demo_only: DemoHandle,
    remote_dir: PurePosixPath,
    local_dir: Path,
    on_api: Faults,
) -> None:
    contents = make_tree(local_dir / 'tree')

    async def failing(t: FirecrestTransport) -> None:
        with pytest.raises(OSError):
            await t.puttree_async(local_dir / 'tree', remote_dir / 'tree')

    with demo_only.switches(faults=on_api(fault('500', 'extract'))):
        with_transport(failing, max_retries=0)
    assert list(Path(demo_only.config['temp_directory']).iterdir()) == []
    assert not Path(str(remote_dir / 'tree')).exists()
    with_transport(lambda t: t.puttree_async(local_dir / 'tree', remote_dir / 'tree'))
    assert read_tree(Path(str(remote_dir / 'tree'))) == contents


@pytest.mark.slow
@pytest.mark.parametrize('existing', [None, b'old content'], ids=['new-file', 'overwrite'])
def test_a_staged_upload_that_cannot_be_verified_leaves_the_target_as_it_was(
    with_transport: WithTransport,
    demo_only: DemoHandle,
    remote_dir: PurePosixPath,
    local_dir: Path,
    existing: bytes | None,
    on_api: Faults,
) -> None:
    """It goes under a temporary name, moved into place once verified: a failed overwrite keeps the old."""
    (local_dir / 'big').write_bytes(os.urandom(30_000))
    target = Path(str(remote_dir / 'big'))
    if existing is not None:
        target.write_bytes(existing)

    async def scenario(t: FirecrestTransport) -> None:
        with pytest.raises(OSError):
            await t.putfile_async(local_dir / 'big', remote_dir / 'big')

    with demo_only.switches(faults=on_api(fault('drop', 'checksum'), fault('drop', 'stat'))):
        with_transport(scenario, max_retries=0, small_file_size_mb=0.01)
    assert (target.read_bytes() if target.exists() else None) == existing
    assert list(Path(demo_only.config['temp_directory']).iterdir()) == []


@pytest.mark.slow
def test_a_failed_staged_upload_onto_a_directory_leaves_the_directory_intact(
    with_transport: WithTransport, remote_dir: PurePosixPath, local_dir: Path
) -> None:
    (local_dir / 'keep.txt').write_text('keep')
    (local_dir / 'big').write_bytes(os.urandom(50_000))

    async def scenario(t: FirecrestTransport) -> list[str]:
        await t.makedirs_async(remote_dir / 'precious')
        await t.putfile_async(local_dir / 'keep.txt', remote_dir / 'precious' / 'keep.txt')
        with pytest.raises(OSError):
            await t.putfile_async(local_dir / 'big', remote_dir / 'precious')
        return await t.listdir_async(remote_dir / 'precious')

    assert with_transport(scenario, small_file_size_mb=0.01) == ['keep.txt']


def test_failed_transfers_release_their_concurrency_slot(
    with_transport: WithTransport, remote_dir: PurePosixPath, remote_files: RemoteFiles, local_dir: Path
) -> None:
    remote_files.write(remote_dir / 'present', 'p')

    async def scenario(t: FirecrestTransport) -> None:
        for _ in range(3):
            with pytest.raises(FileNotFoundError):
                await t.getfile_async(remote_dir / 'missing', local_dir / 'x')
        await asyncio.wait_for(t.getfile_async(remote_dir / 'present', local_dir / 'present'), timeout=30)

    with_transport(scenario, max_io_allowed=1)
    assert (local_dir / 'present').read_text() == 'p'


def test_short_lived_tokens_are_renewed_before_the_server_refuses_them(
    asgi_transport: InProcessDemo, tmp_path: Path
) -> None:
    """Tokens of 36 s are renewed after about 1 s (the server refuses tokens with less than 30 s left)."""
    asgi_transport.settings.token_lifetime = 36
    params = {
        key: value for key, value in asgi_transport.config.items() if key in {f.name for f in _fields()}
    }

    async def scenario(t: FirecrestTransport) -> int:
        deadline = time.monotonic() + 2.5
        listings = 0
        while time.monotonic() < deadline:
            await t.listdir_async(asgi_transport.config['workdir'])
            listings += 1
            await asyncio.sleep(0.1)
        return listings

    listings = run_with_transport(params, scenario, http_transport=asgi_transport)
    assert listings > 10
    assert len(asgi_transport.state.tokens) >= 2


def _fields() -> tuple[dataclasses.Field[Any], ...]:
    from aiida_firecrest.settings import TransportConfig

    return dataclasses.fields(TransportConfig)


@pytest.mark.parametrize('endpoint', ['compress', 'extract'])
def test_a_connection_lost_during_compress_or_extract_is_reported_as_such(
    with_transport: WithTransport,
    demo_only: DemoHandle,
    remote_dir: PurePosixPath,
    endpoint: str,
    on_api: Faults,
) -> None:
    root = Path(str(remote_dir))
    (root / 'data').mkdir()
    (root / 'data' / 'f').write_text('f')
    with tarfile.open(root / 'data.tar.gz', 'w:gz') as tar:
        tar.add(root / 'data', arcname='data')

    async def scenario(t: FirecrestTransport) -> ConnectionError:
        with pytest.raises(ConnectionError) as info:
            if endpoint == 'compress':
                await t.compress_async('tar.gz', remote_dir / 'data', remote_dir / 'out.tar.gz', remote_dir)
            else:
                await t.extract_async(remote_dir / 'data.tar.gz', remote_dir / 'extracted')
        return info.value

    with demo_only.switches(faults=on_api(fault('drop', endpoint))):
        error = with_transport(scenario, max_retries=0)
    assert str(error).startswith('The connection to http://') and 'broke off' in str(error)


# ------------------------------------------------------------------------------------------- 429 storms


class Arrivals(httpx.AsyncBaseTransport):
    """The requests that reach the in-process server: when each was sent, its path and its answer."""

    def __init__(self, server: httpx.AsyncBaseTransport) -> None:
        self.server = server
        self.log: list[tuple[float, str, int]] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        sent = time.monotonic()
        response = await self.server.handle_async_request(request)
        self.log.append((sent, request.url.path, response.status_code))
        return response

    def firecrest(self, since: float = 0.0, until: float = float('inf')) -> list[tuple[float, str, int]]:
        """The FirecREST requests (no token requests) sent in ``[since, until)``."""
        return [entry for entry in self.log if since <= entry[0] < until and '/oauth2/' not in entry[1]]

    def first_429(self) -> float | None:
        return self.first_refusal(429)

    def first_refusal(self, status: int) -> float | None:
        return next((sent for sent, _, answered in self.log if answered == status), None)


def in_process_params(asgi_transport: InProcessDemo) -> dict[str, Any]:
    names = {f.name for f in _fields()}
    return {key: value for key, value in asgi_transport.config.items() if key in names}


async def open_transports(params: dict[str, Any], arrivals: Arrivals, count: int) -> list[FirecrestTransport]:
    transports = [
        FirecrestTransport(machine='localhost', safe_interval=0, http_transport=arrivals, **params)
        for _ in range(count)
    ]
    for transport in transports:
        await transport.open_async()
    return transports


def test_a_429_holds_back_the_requests_of_every_client_of_the_process_until_its_retry_after(
    asgi_transport: InProcessDemo,
) -> None:
    """One client is refused with ``Retry-After: 1``; seven other clients start listing during that second:
    none of their requests reaches the server before the second is over, and all of them succeed."""
    arrivals = Arrivals(asgi_transport)
    workdir = asgi_transport.config['workdir']

    async def scenario() -> None:
        first, *others = await open_transports(in_process_params(asgi_transport), arrivals, 8)
        await first.listdir_async(workdir)  # the token and what the server is, known to the process
        asgi_transport.settings.faults = [FaultRule('429', count=1, retry_after=1)]
        refused = asyncio.create_task(first.listdir_async(workdir))
        while arrivals.first_429() is None:
            await asyncio.sleep(0.01)
        await asyncio.gather(refused, *(t.listdir_async(workdir) for t in others))
        for transport in (first, *others):
            await transport.close_async()

    asyncio.run(scenario())
    refused_at = arrivals.first_429()
    assert refused_at is not None
    assert arrivals.firecrest(since=refused_at + 0.001, until=refused_at + 0.95) == []
    assert len(arrivals.firecrest(since=refused_at + 0.95)) == 8


@pytest.mark.parametrize(('retry_after', 'held_back'), [(1, True), (None, False)])
def test_a_503_with_retry_after_holds_back_every_client_as_a_429_does(
    asgi_transport: InProcessDemo, retry_after: float | None, held_back: bool
) -> None:
    """A proxy's or a maintenance page's 503 says when the server is back: every client waits for it. A
    503 without ``Retry-After`` (FirecREST's own) is retried by the refused request alone."""
    arrivals = Arrivals(asgi_transport)
    workdir = asgi_transport.config['workdir']

    async def scenario() -> None:
        first, *others = await open_transports(in_process_params(asgi_transport), arrivals, 4)
        await first.listdir_async(workdir)
        asgi_transport.settings.faults = [FaultRule('503', count=1, retry_after=retry_after)]
        refused = asyncio.create_task(first.listdir_async(workdir))
        while arrivals.first_refusal(503) is None:
            await asyncio.sleep(0.01)
        await asyncio.gather(refused, *(t.listdir_async(workdir) for t in others))
        for transport in (first, *others):
            await transport.close_async()

    asyncio.run(scenario())
    refused_at = arrivals.first_refusal(503)
    assert refused_at is not None
    during = arrivals.firecrest(since=refused_at + 0.001, until=refused_at + 0.95)
    assert (during == []) is held_back
    assert all(status == 200 for _, _, status in arrivals.firecrest(since=refused_at + 0.001))


def test_under_a_lasting_429_a_single_probe_goes_per_retry_after_period(
    asgi_transport: InProcessDemo,
) -> None:
    """Six clients list while the server refuses everything for 1.5 s (``Retry-After: 0.3``): after the
    first refusals, about one request per 0.3 s reaches the server, not six."""
    arrivals = Arrivals(asgi_transport)
    workdir = asgi_transport.config['workdir']

    async def scenario() -> None:
        transports = await open_transports(in_process_params(asgi_transport), arrivals, 6)
        await transports[0].listdir_async(workdir)
        asgi_transport.settings.faults = [FaultRule('429', retry_after=0.3)]
        asyncio.get_running_loop().call_later(1.5, setattr, asgi_transport.settings, 'faults', [])
        await asyncio.gather(*(t.listdir_async(workdir) for t in transports))
        for transport in transports:
            await transport.close_async()

    asyncio.run(scenario())
    refused_at = arrivals.first_429()
    assert refused_at is not None
    later = arrivals.firecrest(since=refused_at + 0.25, until=refused_at + 1.5)
    assert 2 <= len(later) <= 6  # one per 0.3 s period (five periods), each a 429
    assert all(status == 200 for _, _, status in arrivals.firecrest(since=refused_at + 1.6))


def test_requests_held_back_by_a_429_come_back_jittered_not_in_lockstep() -> None:
    """Each waiting request is told a different time, all after the ``Retry-After``, within its jitter."""
    now = [100.0]
    gate = RateLimitGate(clock=lambda: now[0])
    refused = object()
    assert gate.refused(refused, retry_after=2.0)  # the refused request probes after 2 s
    waits = [gate.admission(object()) for _ in range(20)]
    assert all(2.0 <= wait <= 2.0 * (1 + JITTER) for wait in waits)
    assert len(set(waits)) == len(waits)


def test_only_the_probe_goes_when_the_retry_after_is_over_and_the_others_after_its_answer() -> None:
    now = [0.0]
    gate = RateLimitGate(clock=lambda: now[0])
    refused, waiting = object(), object()
    gate.refused(refused, retry_after=1.0)
    now[0] = 1.5
    assert gate.admission(refused) == 0
    assert gate.admission(waiting) > 0  # the probe is out: its answer is awaited
    gate.answered(sent_at=1.5)
    assert gate.admission(waiting) == 0


def test_a_probe_that_never_answers_hands_its_turn_to_a_waiting_request_after_one_period() -> None:
    now = [0.0]
    gate = RateLimitGate(clock=lambda: now[0])
    hanging, waiting = object(), object()
    gate.refused(hanging, retry_after=1.0)
    now[0] = 1.9
    assert gate.admission(waiting) > 0
    now[0] = 2.0
    assert gate.admission(waiting) == 0
    assert gate.admission(object()) > 0  # and only one of the waiting ones


def test_an_answer_to_a_request_sent_before_the_429_does_not_open_the_gate() -> None:
    now = [10.0]
    gate = RateLimitGate(clock=lambda: now[0])
    gate.refused(object(), retry_after=1.0)
    gate.answered(sent_at=9.5)  # in flight when the server began refusing
    assert gate.admission(object()) > 0
