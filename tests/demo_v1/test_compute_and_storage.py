"""``/compute`` and ``/storage`` of the v1 demo through pyfirecrest's v1 client: jobs, transfers, tasks."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from firecrest.v1 import Firecrest


import os
import time

import pytest
from firecrest import FirecrestException

if TYPE_CHECKING:
    from firecrest.v1 import Firecrest


def _wait_finished(client: Firecrest, system: str, job_id: str, timeout: float = 20) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        (record,) = client.poll(system, [job_id])
        if record['state'] not in ('PENDING', 'RUNNING'):
            return dict(record)
        time.sleep(0.2)
    raise AssertionError(f'job {job_id} did not finish')


def test_a_job_submitted_by_path_runs_in_its_directory_and_is_accounted(
    v1_client: Firecrest, system: str, workdir: Path
) -> None:
    (workdir / 'job.sh').write_text('#!/bin/bash\n#SBATCH --job-name=pwd-job\npwd > where\nexit 3\n')
    submitted = v1_client.submit(system, script_remote_path=str(workdir / 'job.sh'))
    assert submitted['result'] == 'Job submitted' and submitted['firecrest_taskid']
    job_id = str(submitted['jobid'])
    active = v1_client.poll_active(system)
    assert [record['jobid'] for record in active if record['jobid'] == job_id] in ([job_id], [])
    record = _wait_finished(v1_client, system, job_id)
    assert (record['name'], record['state'], record['exit_code']) == ('pwd-job', 'FAILED', '3:0')
    assert (workdir / 'where').read_text().strip() == str(workdir)


def test_an_uploaded_script_is_submitted_and_can_be_cancelled(
    v1_client: Firecrest, system: str, tmp_path: Path
) -> None:
    script = tmp_path / 'sleep.sh'
    script.write_text('#!/bin/bash\nsleep 30\n')
    job_id = str(v1_client.submit(system, script_local_path=str(script))['jobid'])
    v1_client.cancel(system, job_id)
    record = _wait_finished(v1_client, system, job_id)
    assert record['state'].startswith('CANCELLED')
    with pytest.raises(FirecrestException):  # a finished job cannot be cancelled: the task fails
        v1_client.cancel(system, job_id)


def test_internal_transfers_are_xfer_jobs(v1_client: Firecrest, system: str, workdir: Path) -> None:
    (workdir / 'src').mkdir()
    (workdir / 'src' / 'f').write_text('f')
    jobs = [
        v1_client.submit_copy_job(system, str(workdir / 'src'), str(workdir / 'copy')),
        v1_client.submit_compress_job(system, str(workdir / 'src'), str(workdir / 'src.tar.gz')),
    ]
    for job in jobs:
        assert job['system'] == system
        assert _wait_finished(v1_client, system, str(job['jobid']))['state'] == 'COMPLETED'
    (workdir / 'out').mkdir()
    extract = v1_client.submit_extract_job(system, str(workdir / 'src.tar.gz'), str(workdir / 'out'))
    move = v1_client.submit_move_job(system, str(workdir / 'copy'), str(workdir / 'moved'))
    for job in (extract, move):
        assert _wait_finished(v1_client, system, str(job['jobid']))['state'] == 'COMPLETED'
    remove = v1_client.submit_delete_job(system, str(workdir / 'moved'))
    assert _wait_finished(v1_client, system, str(remove['jobid']))['state'] == 'COMPLETED'
    assert (workdir / 'out' / 'src' / 'f').read_text() == 'f'
    assert not (workdir / 'moved').exists() and not (workdir / 'copy').exists()


def test_a_12_mib_file_round_trips_through_the_object_store(
    v1_client: Firecrest, system: str, workdir: Path, tmp_path: Path
) -> None:
    big = tmp_path / 'big.bin'
    big.write_bytes(os.urandom(12 * 1024 * 1024))
    upload = v1_client.external_upload(system, str(big), str(workdir))
    upload.finish_upload()  # pyfirecrest runs the task's curl command
    deadline = time.monotonic() + 30
    while upload.in_progress and time.monotonic() < deadline:
        time.sleep(0.1)
    assert upload.status == '114'
    assert (workdir / 'big.bin').read_bytes() == big.read_bytes()
    download = v1_client.external_download(system, str(workdir / 'big.bin'))
    assert download.object_storage_link.startswith('http://127.0.0.1')
    download.finish_download(tmp_path / 'back.bin')
    assert download.status == '117'
    assert (tmp_path / 'back.bin').read_bytes() == big.read_bytes()
    download.invalidate_object_storage_link()


def test_a_download_of_a_missing_file_is_refused_before_any_task(
    v1_client: Firecrest, system: str, workdir: Path
) -> None:
    with pytest.raises(FirecrestException) as info:
        v1_client.external_download(system, str(workdir / 'missing'))
    assert info.value.responses[-1].status_code == 400
