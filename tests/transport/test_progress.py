"""Large transfers report their progress through the transport's AiiDA logger, at a bounded rate.

A staged transfer logs the bytes moved of the total (counted in its object-storage requests) and the
state of the server's transfer job; a small direct transfer logs nothing. The rate rule itself
(:class:`TransferProgress`) is checked with a fake clock.
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path, PurePosixPath

import pytest

from aiida_firecrest.progress import TransferProgress
from aiida_firecrest.transport import FirecrestTransport
from tests._harness import JobDialect
from tests.transport.fixture_types import WithTransport

LOGGER = 'aiida.transport.FirecrestTransport'
BYTES = re.compile(r': (\d+) of (\d+) bytes')
JOB = re.compile(r"the server's transfer job (\S+) is (\S+)")
SIZE = 3 * 1024 * 1024 + 12345
TAR_OVERHEAD = 512 + 10240


def matches(caplog: pytest.LogCaptureFixture, pattern: re.Pattern[str]) -> list[tuple[str, ...]]:
    """The groups of ``pattern`` in the messages of the transport's logger, in order."""
    found = (pattern.search(r.getMessage()) for r in caplog.records if r.name == LOGGER)
    return [match.groups() for match in found if match]


@pytest.fixture
def progress_log(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> pytest.LogCaptureFixture:
    """The transport's INFO records; bytes reported every 10 %, with no minimum interval (tests are fast)."""
    monkeypatch.setattr(TransferProgress, 'interval', 0.0)
    caplog.set_level(logging.INFO, logger=LOGGER)
    return caplog


@pytest.mark.slow
@pytest.mark.parametrize('direction', ['upload', 'download'])
def test_a_staged_transfer_reports_increasing_bytes_up_to_the_file_size(
    with_transport: WithTransport,
    remote_dir: PurePosixPath,
    local_dir: Path,
    progress_log: pytest.LogCaptureFixture,
    direction: str,
) -> None:
    (local_dir / 'big.bin').write_bytes(os.urandom(SIZE))
    remote = str(remote_dir / 'big.bin')

    async def scenario(t: FirecrestTransport) -> None:
        await t.putfile_async(local_dir / 'big.bin', remote)
        if direction == 'download':
            progress_log.clear()
            await t.getfile_async(remote, local_dir / 'back.bin')

    with_transport(scenario, small_file_size_mb=0.05)
    reports = [(int(moved), int(total)) for moved, total in matches(progress_log, BYTES)]
    moved = [m for m, _ in reports]
    (total,) = {total for _, total in reports}
    # an upload moves the file inside an uncompressed tar archive: a header, and padding to 10 KiB
    assert total == SIZE if direction == 'download' else SIZE < total <= SIZE + TAR_OVERHEAD
    assert moved == sorted(set(moved))
    assert moved[-1] == total
    assert 2 <= len(reports) <= 11


@pytest.mark.slow
@pytest.mark.parametrize('direction', ['puttree', 'gettree'])
def test_a_staged_tree_archive_reports_increasing_bytes_up_to_its_size(
    with_transport: WithTransport,
    remote_dir: PurePosixPath,
    local_dir: Path,
    progress_log: pytest.LogCaptureFixture,
    direction: str,
) -> None:
    """Random content does not compress: the archive of the tree is above the threshold."""
    (local_dir / 'tree' / 'sub').mkdir(parents=True)
    (local_dir / 'tree' / 'a.bin').write_bytes(os.urandom(400_000))
    (local_dir / 'tree' / 'sub' / 'b.bin').write_bytes(os.urandom(400_000))
    remote = str(remote_dir / 'tree')

    async def scenario(t: FirecrestTransport) -> None:
        await t.puttree_async(local_dir / 'tree', remote)
        if direction == 'gettree':
            progress_log.clear()
            await t.gettree_async(remote, local_dir / 'back')

    with_transport(scenario, small_file_size_mb=0.05)
    reports = [(int(moved), int(total)) for moved, total in matches(progress_log, BYTES)]
    moved = [m for m, _ in reports]
    assert len({total for _, total in reports}) == 1
    assert moved == sorted(set(moved))
    assert moved[-1] == reports[0][1] > 800_000


@pytest.mark.slow
def test_a_staged_upload_reports_the_state_of_its_transfer_job(
    with_transport: WithTransport,
    remote_dir: PurePosixPath,
    local_dir: Path,
    progress_log: pytest.LogCaptureFixture,
    job_dialect: JobDialect,
) -> None:
    (local_dir / 'big.bin').write_bytes(os.urandom(100_000))

    async def scenario(t: FirecrestTransport) -> None:
        await t.putfile_async(local_dir / 'big.bin', str(remote_dir / 'big.bin'))

    with_transport(scenario, small_file_size_mb=0.05)
    states = matches(progress_log, JOB)
    assert states
    assert states[-1][1] == job_dialect.completed


def test_small_direct_transfers_report_no_progress(
    with_transport: WithTransport,
    remote_dir: PurePosixPath,
    local_dir: Path,
    progress_log: pytest.LogCaptureFixture,
) -> None:
    (local_dir / 'small.bin').write_bytes(os.urandom(3000))
    remote = str(remote_dir / 'small.bin')

    async def scenario(t: FirecrestTransport) -> None:
        await t.putfile_async(local_dir / 'small.bin', remote)
        await t.getfile_async(remote, local_dir / 'back.bin')

    with_transport(scenario)
    assert matches(progress_log, BYTES) == []
    assert matches(progress_log, JOB) == []


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(
    ('bytes_per_second', 'every'),
    [(1, 100), (20, 200)],
    ids=['step rarer than 10 s', '10 s rarer than step'],
)
def test_bytes_are_reported_when_both_the_interval_and_the_step_have_passed(
    caplog: pytest.LogCaptureFixture, bytes_per_second: int, every: int
) -> None:
    """1000 bytes, a byte at a time: a report each 10 % (100 bytes) and 10 s, whichever comes later."""
    clock = FakeClock()
    progress = TransferProgress(logging.getLogger(LOGGER), 'Upload', 1000, clock=clock)
    caplog.set_level(logging.INFO, logger=LOGGER)
    for position in range(1, 1001):
        clock.now = position / bytes_per_second
        progress.reached('PUT part', position)
    assert [int(moved) for moved, _ in matches(caplog, BYTES)] == list(range(every, 1001, every))


def test_a_retried_request_counts_only_the_bytes_beyond_its_earlier_attempt() -> None:
    progress = TransferProgress(logging.getLogger(LOGGER), 'Upload', 300)
    progress.reached('PUT part 1', 80)
    progress.reached('PUT part 1', 50)
    progress.reached('PUT part 1', 100)
    progress.reached('PUT part 2', 200)
    assert progress.moved == 300


def test_a_transfer_job_is_reported_when_its_state_changes_or_after_a_minute_in_one_state(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = FakeClock()
    progress = TransferProgress(logging.getLogger(LOGGER), 'Upload', 1000, clock=clock)
    caplog.set_level(logging.INFO, logger=LOGGER)
    seen = [(0, 'PENDING'), (1, 'PENDING'), (2, 'RUNNING'), (30, 'RUNNING'), (63, 'RUNNING')]
    for clock.now, state in seen:
        progress.job_state('7', state)
    assert matches(caplog, JOB) == [('7', 'PENDING'), ('7', 'RUNNING'), ('7', 'RUNNING')]
