"""What every router of the demo server shares: its settings, the request-body base model, 204 answers.

* :data:`Settings` is the route parameter annotation that hands a route the answering server's
  :class:`~.settings.DemoSettings` (``request.app.state.demo.settings``).
* :class:`CamelModel` reads request bodies as the real server documents them (camelCase), and
  also by their snake_case names, which pyfirecrest sends for some fields.
* :func:`source_path_field` is the ``sourcePath`` field, also accepted as ``source_path`` or ``path``.
* :func:`no_content` is the real server's 204: no body, yet ``content-type: application/json``.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request, Response
from pydantic import AliasChoices, BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from .settings import DemoSettings
from .state import demo_state


def demo_settings(request: Request) -> DemoSettings:
    """The settings of the demo server answering ``request``."""
    return demo_state(request).settings


Settings = Annotated[DemoSettings, Depends(demo_settings)]
"""Annotation for a route parameter holding the server's settings."""


class CamelModel(BaseModel):
    """A request body whose fields are read by their camelCase names or their snake_case ones."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


def source_path_field() -> Any:
    """``sourcePath``, also accepted as ``source_path`` or ``path`` (pyfirecrest sends them all)."""
    return Field(validation_alias=AliasChoices('sourcePath', 'source_path', 'path'))


def no_content() -> Response:
    """204 with no body but ``content-type: application/json``, as the real server answers."""
    return Response(status_code=204, headers={'content-type': 'application/json'})
