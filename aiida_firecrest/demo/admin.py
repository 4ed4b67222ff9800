"""Demo server: the ``/_demo`` control endpoints (not part of FirecREST; no token, not counted).

* ``GET /_demo/counters``: requests per FirecREST endpoint, ``{"METHOD /route/template": n}``.
* ``DELETE /_demo/counters``: reset them (204).
* ``GET /_demo/switches``: the current switches ``{"latency", "faults", "job_not_found_for"}``.
* ``PUT /_demo/switches``: replace any subset of them, live; answers the new switches.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Literal

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field

from .routing import Settings
from .settings import DemoSettings, FaultRule
from .state import demo_state

router = APIRouter(prefix='/_demo', include_in_schema=False)


class FaultRuleModel(BaseModel):
    """A :class:`~.settings.FaultRule` as JSON."""

    kind: Literal['429', '500', '503', 'drop', 'drop-after']
    every: int = Field(default=1, ge=1)
    endpoint: str | None = None
    count: int | None = Field(default=None, ge=0)
    retry_after: float | None = Field(default=None, ge=0)


class SwitchesModel(BaseModel):
    """The switches a ``PUT`` may replace; a missing key keeps its current value."""

    latency: float | None = Field(default=None, ge=0)
    faults: list[FaultRuleModel] | None = None
    job_not_found_for: float | None = Field(default=None, ge=0)


def _switches(settings: DemoSettings) -> dict[str, Any]:
    return {
        'latency': settings.latency,
        'faults': [dataclasses.asdict(rule) for rule in settings.faults],
        'job_not_found_for': settings.job_not_found_for,
    }


@router.get('/counters')
async def get_counters(request: Request) -> dict[str, int]:
    return dict(demo_state(request).counters)


@router.delete('/counters', status_code=204)
async def reset_counters(request: Request) -> Response:
    demo_state(request).counters.clear()
    return Response(status_code=204)


@router.get('/switches')
async def get_switches(settings: Settings) -> dict[str, Any]:
    return _switches(settings)


@router.put('/switches')
async def put_switches(settings: Settings, switches: SwitchesModel) -> dict[str, Any]:
    if switches.latency is not None:
        settings.latency = switches.latency
    if switches.faults is not None:
        settings.faults = [FaultRule(**rule.model_dump()) for rule in switches.faults]
    if switches.job_not_found_for is not None:
        settings.job_not_found_for = switches.job_not_found_for
    return _switches(settings)
