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

from airflow.providers.common.compat.openlineage.facet import RunFacet

#: The run facet's key in an event's ``run.facets``.
FACET_KEY = "seekrflow_usage"
#: The facet's schema, shipped in the package (an OpenLineage consumer reads the fields, not this URI).
SCHEMA_URL = "urn:airflow-provider-seekrflow:openlineage:SeekrFlowUsageRunFacet:1-0-0"
#: The facet's fields beside ``kind``: every kind's ``usage`` keys (``jobs/usage.py``).
FIELDS = (
    "input_tokens",
    "output_tokens",
    "judge_input_tokens",
    "judge_output_tokens",
    "accelerator_type",
    "accelerator_count",
    "wall_seconds",
    "accelerator_seconds",
)


class SeekrFlowUsageRunFacet(RunFacet):  # type: ignore[misc]  # RunFacet is Any to mypy
    """
    What SeekrFlow reports of a run's cost: tokens (deployments, evaluations) or accelerator time (fine-tunes).

    Made by :func:`usage_facet`, which adds the fields through OpenLineage's own
    ``with_additional_properties`` (an ``attrs`` subclass of this class, made once per set of fields):

    - ``kind``: ``fine_tune``, ``deployment`` or ``evaluation``;
    - ``input_tokens``, ``output_tokens``: tokens sent and answered (a deployment's counters over its
      life; an evaluation's prompts and answers); ``judge_input_tokens``, ``judge_output_tokens``:
      those of an evaluation's judge;
    - ``accelerator_type`` (e.g. ``H100``), ``accelerator_count``, ``wall_seconds`` and
      ``accelerator_seconds`` (count times wall time): a fine-tune's.
    """

    @staticmethod
    def _get_schema() -> str:
        return SCHEMA_URL


def usage_facet(kind: str, usage: dict[str, Any]) -> Any:
    """
    Return the facet of a usage, as a result's ``usage`` holds it (a :class:`SeekrFlowUsageRunFacet`).

    Keys the facet does not know are left out; a figure that is None is left out of the event.

    :param kind: The kind of run: ``fine_tune``, ``deployment`` or ``evaluation``.
    :param usage: The usage.
    """
    fields = {key: usage.get(key) for key in FIELDS if key in usage}
    return SeekrFlowUsageRunFacet().with_additional_properties(kind=kind, **fields)
