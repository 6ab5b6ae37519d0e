"""What a request to SeekrFlow is: an endpoint (method, path, whether repeating it is harmless) and a call."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar
from urllib.parse import quote

T = TypeVar("T")


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
        """Return the path with each id percent-encoded into its placeholder."""
        for key, value in ids.items():
            if not isinstance(value, str) or not value.strip():
                raise ValueError(f"{key} must be a non-empty string, got {value!r}")
        return self.path.format(**{key: quote(value, safe="") for key, value in ids.items()})


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
