"""The computer argument of ``verdi computer configure firecrest``: a label read as a UUID is explained.

aiida-core reads an identifier that looks hexadecimal (``fc``, ``beef``) as the beginning of a UUID; when
no computer has such a UUID, its error says only that none was found. :class:`ComputerType` wraps
aiida-core's parameter type and says what happened and how to name the computer by its label.
"""

from __future__ import annotations

from typing import Any

import click

__all__ = ('ComputerType', 'looks_like_a_uuid_prefix')


class ComputerType(click.ParamType):
    """aiida-core's computer parameter type, with a hint when a label was taken for the start of a UUID."""

    def __init__(self, inner: click.ParamType) -> None:
        self.inner = inner
        self.name = inner.name

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        try:
            return self.inner.convert(value, param, ctx)
        except click.BadParameter as exc:
            if isinstance(value, str) and looks_like_a_uuid_prefix(value):
                exc.message = (
                    f'{value!r} was read as the beginning of a UUID (it looks hexadecimal) and no computer '
                    f'has such a UUID; to name a computer by its label {value!r}, write {value + "!"!r}'
                )
            raise


def looks_like_a_uuid_prefix(value: str) -> bool:
    """Whether aiida-core reads the identifier ``value`` as (the start of) a UUID, as its loaders decide."""
    try:
        int(value)
        return False
    except ValueError:
        pass
    try:
        int(value.replace('-', ''), 16)
    except ValueError:
        return False
    return True
