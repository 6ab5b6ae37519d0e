"""
The provider's own OpenLineage run facet, ``seekrflow_usage``: what the service reports of a run's cost.

Imported only by :func:`airflow_provider_seekrflow.lineage.usage_run_facets`, which Airflow reaches
only with the OpenLineage provider installed; importing this module needs the OpenLineage client.

The facet's fields are the result's ``usage`` keys (``jobs/usage.py``), so usage can be summed per
DAG in any lineage backend by the same names the XCom uses; a figure the service did not report
is left out of the event. Its JSON schema is ``SeekrFlowUsageRunFacet.json`` in the package.
"""

from __future__ import annotations

from typing import Any

import attr
from airflow.providers.common.compat.openlineage.facet import RunFacet

#: The run facet's key in an event's ``run.facets``.
FACET_KEY = "seekrflow_usage"
#: The facet's schema, shipped in the package (an OpenLineage consumer reads the fields, not this URI).
SCHEMA_URL = "urn:airflow-provider-seekrflow:openlineage:SeekrFlowUsageRunFacet:1-0-0"


@attr.define
class SeekrFlowUsageRunFacet(RunFacet):  # type: ignore[misc]  # RunFacet is Any without the client's stubs
    """
    What SeekrFlow reports of a run's cost: tokens (deployments, evaluations) or accelerator time (fine-tunes).

    :param kind: ``fine_tune``, ``deployment`` or ``evaluation``.
    :param input_tokens: Tokens sent (a deployment's counter over its life; an evaluation's prompts).
    :param output_tokens: Tokens answered.
    :param judge_input_tokens: Tokens an evaluation's judge read.
    :param judge_output_tokens: Tokens an evaluation's judge wrote.
    :param accelerator_type: A fine-tune's accelerator, e.g. ``H100``.
    :param accelerator_count: How many it ran on.
    :param wall_seconds: Its wall time, in seconds.
    :param accelerator_seconds: Count times wall time.
    """

    kind: str
    input_tokens: int | None = None
    output_tokens: int | None = None
    judge_input_tokens: int | None = None
    judge_output_tokens: int | None = None
    accelerator_type: str | None = None
    accelerator_count: int | None = None
    wall_seconds: float | None = None
    accelerator_seconds: float | None = None

    @staticmethod
    def _get_schema() -> str:
        return SCHEMA_URL


FIELDS = frozenset(field.name for field in attr.fields(SeekrFlowUsageRunFacet)) - {
    "kind",
    "_producer",
    "_schemaURL",
}


def usage_facet(kind: str, usage: dict[str, Any]) -> SeekrFlowUsageRunFacet:
    """
    Return the facet of a usage, as a result's ``usage`` holds it; keys the facet does not know are left out.

    :param kind: The kind of run: ``fine_tune``, ``deployment`` or ``evaluation``.
    :param usage: The usage.
    """
    return SeekrFlowUsageRunFacet(kind=kind, **{key: value for key, value in usage.items() if key in FIELDS})
