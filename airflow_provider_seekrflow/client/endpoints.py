"""What a request to SeekrFlow is: an endpoint (method, path, whether repeating it is harmless) and a call."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar
from urllib.parse import quote

from airflow_provider_seekrflow.client.service_model import config_error

T = TypeVar("T")

# What a SeekrFlow id may be: letters, digits and the URL-safe marks the service's ids use (``dj-…``,
# ``file-…``, integer project ids), starting with a letter or digit. An id is data, never a path:
# ``.``, ``..``, ``/``, ``?``, ``#`` and ``%`` would make a different request than the one meant,
# and the first character rules out dot segments. Longer ids than any the service makes are refused too.
_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._~:-]{0,255}")
_SHOWN_ID_CHARACTERS = 80


def check_id(name: str, value: object) -> str:
    """
    Return ``value`` if it is a usable SeekrFlow id; otherwise raise ``SeekrFlowConfigError`` naming it.

    :param name: The id's name (``data_job_id``, ``file_id``...), named in the error.
    :param value: The id as given.
    """
    if isinstance(value, str) and _ID_PATTERN.fullmatch(value):
        return value
    shown = repr(value)
    if len(shown) > _SHOWN_ID_CHARACTERS:
        shown = shown[:_SHOWN_ID_CHARACTERS] + "…"
    if not isinstance(value, str) or not value.strip():
        problem = "must be a non-empty string"
    else:
        problem = (
            "is not a SeekrFlow id: ids are letters, digits and . _ ~ : -, starting with a letter or digit"
        )
    # The emulator reads these declarations without Airflow: the Airflow-derived error is made lazily.
    raise config_error(f"{name} {shown} {problem}; nothing was sent")


@dataclass(frozen=True)
class Endpoint:
    """
    One SeekrFlow operation.

    :param name: The operation id in ``openapi.yaml``.
    :param method: The HTTP method.
    :param path: The path template, with ``{name}`` placeholders for ids.
    :param repeatable: Whether sending the request twice is harmless, so it may be retried even
        after the service may already have received it.
    """

    name: str
    method: str
    path: str
    repeatable: bool

    def render(self, **ids: str) -> str:
        """
        Return the path with each id in its placeholder; an id that is not one raises ``SeekrFlowConfigError``.

        :param ids: The value of each placeholder.
        """
        # Quoted although the pattern leaves nothing to quote but ":": the path stays right if it widens.
        return self.path.format(**{key: quote(check_id(key, value), safe="") for key, value in ids.items()})


@dataclass(frozen=True)
class Call(Generic[T]):
    """
    One JSON request, ready for the sync or the async transport, and the type its answer holds.

    :param endpoint: The operation.
    :param answer: The pydantic model (or type) of the answer's body; None when it has none.
    :param ids: The values of the path's placeholders.
    :param params: Query parameters; None values are left out.
    :param json: The JSON body.
    """

    endpoint: Endpoint
    answer: Any
    ids: Mapping[str, str] = field(default_factory=dict)
    params: Mapping[str, Any] | None = None
    json: Any = None

    @property
    def path(self) -> str:
        """Return the request path, ids filled in."""
        return self.endpoint.render(**self.ids)

    def query(self) -> dict[str, Any] | None:
        """Return the query parameters that have a value, or None."""
        return {key: value for key, value in (self.params or {}).items() if value is not None} or None
