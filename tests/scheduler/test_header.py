"""The submit script: core.slurm's header for the same inputs, plus GPUs per node and exclusive nodes."""

from __future__ import annotations

import typing as t

import pytest
from aiida.common.datastructures import CodeRunMode
from aiida.schedulers import Scheduler
from aiida.schedulers.datastructures import JobTemplate, JobTemplateCodeInfo
from aiida.schedulers.plugins.slurm import SlurmScheduler

from aiida_firecrest.resources import FirecrestJobResource
from aiida_firecrest.scheduler import FirecrestScheduler

TEMPLATES: dict[str, dict[str, t.Any]] = {
    'minimal': {},
    'everything': {
        'submit_as_hold': True,
        'rerunnable': True,
        'email': 'me@example.org',
        'email_on_started': True,
        'email_on_terminated': True,
        'job_name': 'aiida-42 (a test)',
        'import_sys_environment': True,
        'sched_output_path': '_scheduler-stdout.txt',
        'sched_error_path': '_scheduler-stderr.txt',
        'queue_name': 'normal',
        'account': 'myproject',
        'qos': 'high',
        'priority': '100',
        'max_wallclock_seconds': 90061,
        'max_memory_kb': 2048000,
        'custom_scheduler_commands': '#SBATCH --constraint=gpu',
        'job_environment': {'OMP_NUM_THREADS': '2'},
        'prepend_text': 'module load x',
        'append_text': 'echo done',
    },
    'joined_output': {'sched_join_files': True, 'sched_output_path': 'out.txt', 'max_wallclock_seconds': 60},
}
RESOURCES = {'num_machines': 2, 'num_mpiprocs_per_machine': 4, 'num_cores_per_mpiproc': 2}


def _template(
    scheduler_class: type[Scheduler], fields: dict[str, t.Any], **extra_resources: t.Any
) -> JobTemplate:
    template = JobTemplate()
    template.job_resource = scheduler_class.create_job_resource(**RESOURCES, **extra_resources)
    template.codes_info = [JobTemplateCodeInfo(cmdline_params=['/bin/true'], stdout_name='aiida.out')]
    template.codes_run_mode = CodeRunMode.SERIAL
    template.update(fields)
    return template


@pytest.mark.parametrize('name', TEMPLATES)
def test_script_is_core_slurms_for_the_same_inputs(name: str) -> None:
    fields = TEMPLATES[name]
    expected = SlurmScheduler().get_submit_script(_template(SlurmScheduler, fields))
    assert FirecrestScheduler().get_submit_script(_template(FirecrestScheduler, fields)) == expected


@pytest.mark.parametrize(
    ('resources', 'lines'),
    [
        ({'num_gpus_per_machine': 4}, ['#SBATCH --gpus-per-node=4']),
        ({'exclusive': True}, ['#SBATCH --exclusive']),
        (
            {'num_gpus_per_machine': 1, 'exclusive': True},
            ['#SBATCH --gpus-per-node=1', '#SBATCH --exclusive'],
        ),
    ],
)
def test_gpus_and_exclusive_come_after_the_slurm_header_and_before_custom_commands(
    resources: dict[str, t.Any], lines: list[str]
) -> None:
    fields = {'custom_scheduler_commands': '#SBATCH --constraint=gpu'}
    slurm_header = SlurmScheduler()._get_submit_script_header(_template(SlurmScheduler, {}))
    header = FirecrestScheduler()._get_submit_script_header(
        _template(FirecrestScheduler, fields, **resources)
    )
    assert header.splitlines() == [*slurm_header.splitlines(), *lines, '#SBATCH --constraint=gpu']


def test_exclusive_false_adds_nothing() -> None:
    header = FirecrestScheduler()._get_submit_script_header(
        _template(FirecrestScheduler, {}, exclusive=False)
    )
    assert '--exclusive' not in header


@pytest.mark.parametrize(
    'resources',
    [{'num_gpus_per_machine': 0}, {'num_gpus_per_machine': 'two'}, {'exclusive': 'yes'}, {'num_gpu': 1}],
)
def test_invalid_resources_are_refused(resources: dict[str, t.Any]) -> None:
    with pytest.raises(ValueError):
        FirecrestScheduler.validate_resources(**RESOURCES, **resources)


def test_core_slurm_resources_are_validated_as_core_slurm_does() -> None:
    with pytest.raises(ValueError, match='num_cores_per_machine'):
        FirecrestJobResource(num_machines=1, num_mpiprocs_per_machine=2, num_cores_per_machine=3)
