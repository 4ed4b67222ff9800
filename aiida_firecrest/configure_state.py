"""The state of one ``verdi computer configure firecrest`` run: what the server said, what waits for checking.

:class:`Run` is kept in the click context for the whole command; each option's server check is a
:class:`Pending` until the values it needs are known. :func:`echo` reports through aiida's CLI logger.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .probe import (
    FirecrestProbe,
)

__all__ = ('Check', 'Pending', 'Run', 'echo', 'forget_stored_secret')


Check = Callable[['Run', dict[str, Any], Any], Any]
"""A server check of one option: (run, known values, value) -> the value to store instead, or None to keep
it; raising ProbeError."""


@dataclasses.dataclass
class Pending:
    """A server check waiting for the values it needs."""

    name: str
    value: Any
    check: Check
    needs: tuple[str, ...]
    needs_session: bool


@dataclasses.dataclass
class Run:
    """What one configure command has learnt from the server so far (kept in ``ctx.meta``)."""

    probe: FirecrestProbe | None = None
    offline: bool = False
    systems: dict[str, dict[str, Any]] | None = None
    userinfo: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)
    pending: list[Pending] = dataclasses.field(default_factory=list)
    secret: str | None = dataclasses.field(default=None, repr=False)
    stored_secret_file: Path | None = None
    api_version: str | None = None
    """The server's FirecREST API (``'1'`` or ``'2'``), once it listed its systems."""
    checked_system: tuple[dict[str, Any], str] | None = None
    """The chosen system's description and the user's name there, once checked."""
    ask_client_id_again: bool = False
    """The credentials were refused at the secret's prompt: ask for the client id before the secret again."""
    replaced: dict[str, Any] = dataclasses.field(default_factory=dict)
    """Values a server check replaced while their own option's callback ran (it returns them to click)."""

    def probe_for(self, url: str) -> FirecrestProbe:
        """The probe of ``url`` (a new one if the URL changed)."""
        if self.probe is None or self.probe.url != url.rstrip('/'):
            if self.probe is not None:
                self.probe.close()
            self.probe = FirecrestProbe(url)
        return self.probe

    def ready(self, pending: Pending, known: dict[str, Any]) -> bool:
        """Whether ``pending`` can run now."""
        if any(name not in known for name in pending.needs):
            return False
        if any(other.name in pending.needs for other in self.pending if other is not pending):
            return False  # a value it builds on is not checked yet
        return not pending.needs_session or self.systems is not None


def echo(kind: str, message: str) -> None:
    """Report progress through aiida's CLI logger (``Report:`` or ``Warning:``)."""
    from aiida.cmdline.utils import echo

    {'report': echo.echo_report, 'warning': echo.echo_warning}[kind](message)


def forget_stored_secret(run: Run) -> None:
    """Remove the secret file written in this run for credentials that turned out wrong."""
    if run.stored_secret_file is not None:
        run.stored_secret_file.unlink(missing_ok=True)
        run.stored_secret_file = None
