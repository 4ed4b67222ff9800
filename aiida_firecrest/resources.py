"""Job resources of the firecrest schedulers: a scheduler's node-number resources plus GPUs and exclusivity.

:class:`AcceleratorResources` adds ``num_gpus_per_machine`` and ``exclusive`` to any node-number resource
class; :class:`FirecrestJobResource` is core.slurm's with them (the PBS plugin makes its own the same way).
"""

from __future__ import annotations

import typing as t

from aiida.common.extendeddicts import AttributeDict
from aiida.schedulers.datastructures import NodeNumberJobResource
from aiida.schedulers.plugins.slurm import SlurmJobResource

__all__ = ('AcceleratorResources', 'FirecrestJobResource')


class AcceleratorResources(NodeNumberJobResource):
    """``num_gpus_per_machine`` and ``exclusive`` on top of a scheduler's node-number resources.

    Put it before that scheduler's resource class: ``class R(AcceleratorResources, SlurmJobResource)``.

    * ``num_gpus_per_machine`` (int >= 1): GPUs on each node;
    * ``exclusive`` (bool): ``True`` asks for the nodes without other jobs on them.
    """

    if t.TYPE_CHECKING:
        num_gpus_per_machine: int | None
        exclusive: bool

    @classmethod
    def validate_resources(cls, **kwargs: t.Any) -> AttributeDict:
        """Validate the scheduler's own resources and the two additions.

        :raises ValueError: if a value is invalid or a key unknown.
        """
        gpus = kwargs.pop('num_gpus_per_machine', None)
        exclusive = kwargs.pop('exclusive', False)
        resources = super().validate_resources(**kwargs)
        resources.num_gpus_per_machine = _validate_gpus(gpus)
        if not isinstance(exclusive, bool):
            raise ValueError(f'`exclusive` must be True or False, not {exclusive!r}.')
        resources.exclusive = exclusive
        return resources


class FirecrestJobResource(AcceleratorResources, SlurmJobResource):
    """The resources of core.slurm, plus ``num_gpus_per_machine`` and ``exclusive``.

    * ``num_gpus_per_machine`` (int >= 1): adds ``#SBATCH --gpus-per-node=N``;
    * ``exclusive`` (bool): ``True`` adds ``#SBATCH --exclusive`` (no other job on the nodes).
    """

    _default_fields = (*SlurmJobResource._default_fields, 'num_gpus_per_machine', 'exclusive')  # type: ignore[assignment]


def _validate_gpus(value: t.Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f'`num_gpus_per_machine` must be a positive integer, not {value!r}.')
    return value
