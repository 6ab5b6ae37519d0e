"""Fine-tune a model on SeekrFlow from training files (e.g. a data job's parquet output) and wait for it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow_provider_seekrflow.exceptions import SeekrFlowConfigError, SeekrFlowError
from airflow_provider_seekrflow.links import SeekrFlowFineTuneLink
from airflow_provider_seekrflow.operators.job_base import SeekrFlowJobOperator
from airflow_provider_seekrflow.vocabulary import AcceleratorType

# The client's fine-tunes and projects (pydantic models) load when a task runs: DAG parsing never needs them.
if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

    from airflow_provider_seekrflow.client.lost_answers import Snapshot
    from airflow_provider_seekrflow.jobs.submissions import SubmissionNote


class SeekrFlowFineTuneOperator(SeekrFlowJobOperator):
    """
    Fine-tune a model on SeekrFlow, in a project given by id or by name, and (by default) wait for it.

    Everything is checked locally before the first request. A project given by name is created
    when absent, and found again by a retry. Each new event (epoch, loss, reward) goes to the task
    log once. Only ``completed`` is success; ``failed`` raises ``SeekrFlowFineTuneFailedError`` with
    the service's ``error_analysis``. Returns ``{"job_id", "status", "model_id", "project_id",
    "model", "inference_available", "usage"}`` in every mode (``usage``: accelerator type and count,
    wall time and accelerator-seconds); the job id is pushed under ``fine_tune_id``.

    :param training_files: Ids of the training files, e.g. the data job's ``fine_tune_file_id``. (templated)
    :param model: The base model. (templated)
    :param n_epochs: Epochs, at least 1.
    :param project_id: The project's integer id; or give ``project_name``. (templated)
    :param project_name: The project's name (5 to 100 characters), created when absent. (templated)
    :param project_description: The description of a project created by name (5 to 1000 characters).
    :param accel_type: GAUDI2, GAUDI3, A100, A10, H100 or MI300X.
    :param n_accel: Accelerators, at least 1.
    :param n_node: Nodes, at least 1; the service's default when None.
    :param learning_rate: The learning rate; the service's default when None.
    :param batch_size: 1 to 1024; the service's default when None.
    :param lora_config: LoRA settings: ``r``, ``alpha``, ``dropout`` (0-1), ``bias`` (none, all,
        lora_only); not sent when None.
    :param validation_files: Ids of validation files. (templated)
    :param fine_tune_type: STANDARD, PREFERENCE or REINFORCEMENT (GRPO is its deprecated name); the
        service's default when None.
    :param experiment_name: A suffix for the output model's name.
    :param training_options: Further ``training_config`` fields of the contract, sent as given.
    :param seekrflow_conn_id: The Airflow connection to use. (templated)
    :param hook_params: Keyword arguments for the hook, e.g. ``{"timeout": 60, "max_retries": 3}``;
        the deferred wait's trigger gets them too.
    :param wait_for_completion: Whether to wait for the fine-tune to end.
    :param deferrable: Whether to wait in the triggerer rather than on the worker.
    :param poll_interval: The longest time between two status checks, in seconds.
    :param min_poll_interval: The shortest time between two status checks, in seconds.
    :param timeout: Seconds to wait before cancelling the fine-tune and failing; None waits for ever.
    :param cancel_on_kill: Whether killing the task, or a timeout, cancels the fine-tune.
    :param durable: Whether a retry picks up the fine-tune of an earlier try (Airflow 3.3+) instead
        of creating another.
    """

    template_fields: Sequence[str] = (
        "training_files",
        "validation_files",
        "model",
        "project_id",
        "project_name",
        "seekrflow_conn_id",
    )
    template_fields_renderers = {"training_files": "json", "validation_files": "json"}
    kind_key = "fine_tune"
    operator_extra_links = (SeekrFlowFineTuneLink(),)
    finds_unanswered_submissions = True

    def __init__(
        self,
        *,
        training_files: Any,
        model: str,
        n_epochs: int,
        project_id: int | str | None = None,
        project_name: str | None = None,
        project_description: str = "Fine-tunes run by Apache Airflow",
        accel_type: str = AcceleratorType.H100.value,
        n_accel: int = 1,
        n_node: int | None = None,
        learning_rate: float | None = None,
        batch_size: int | None = None,
        lora_config: dict[str, Any] | None = None,
        validation_files: Any = None,
        fine_tune_type: str | None = None,
        experiment_name: str | None = None,
        training_options: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if (project_id is None) == (project_name is None):
            raise SeekrFlowConfigError("give exactly one of project_id and project_name")
        self.training_files = training_files
        self.model = model
        self.n_epochs = n_epochs
        self.project_id = project_id
        self.project_name = project_name
        self.project_description = project_description
        self.accel_type = accel_type
        self.n_accel = n_accel
        self.n_node = n_node
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.lora_config = lora_config
        self.validation_files = validation_files
        self.fine_tune_type = fine_tune_type
        self.experiment_name = experiment_name
        self.training_options = training_options

    # -- the request ----------------------------------------------------------------------------

    def _request(self, project_id: int) -> dict[str, Any]:
        """Return the create request's arguments (``fine_tunes.create_request`` and the hook take the same)."""
        return {
            "project_id": project_id,
            "training_files": self.training_files,
            "model": self.model,
            "n_epochs": self.n_epochs,
            "accel_type": self.accel_type,
            "n_accel": self.n_accel,
            "n_node": self.n_node,
            "learning_rate": self.learning_rate,
            "batch_size": self.batch_size,
            "fine_tune_type": self.fine_tune_type,
            "lora_config": self.lora_config,
            "validation_files": self.validation_files,
            "experiment_name": self.experiment_name,
            "training_options": self.training_options,
        }

    def _project_id(self) -> int | None:
        if self.project_id is None:
            return None
        try:
            return int(str(self.project_id))
        except ValueError:
            raise SeekrFlowConfigError(
                f"project_id: must be a project's integer id, got {self.project_id!r}"
            ) from None

    def prepare_request(self) -> None:
        """Check the rendered request locally; nothing is sent when it is wrong."""
        from airflow_provider_seekrflow.client import fine_tunes, projects

        project_id = self._project_id()
        if project_id is None:
            projects.create_request(str(self.project_name), self.project_description)
        fine_tunes.create_request(**self._request(project_id if project_id is not None else 0))

    def submit_job(self, context: Context) -> str:
        """Find or create the project, then create the fine-tune, each once."""
        project_id = self._project_id()
        if project_id is None:
            project_id = self.hook.ensure_project(str(self.project_name), self.project_description).id
        job = self.hook.create_fine_tune(snapshot=self.snapshot, **self._request(project_id))
        if not job.id:
            raise SeekrFlowError(f"SeekrFlow created a fine-tune but its answer names no id: {job!r}")
        return job.id

    def snapshot_before_submit(self, context: Context) -> Snapshot:
        """Return the fine-tunes listed before the create."""
        return self.hook.snapshot_fine_tunes()

    def find_submitted_job(self, note: SubmissionNote, context: Context) -> str | None:
        """Return the fine-tune an earlier try's unanswered create made (its whole config), if the service lists it."""
        project_id = self._project_id()
        if project_id is None:
            project = self.hook.find_project(str(self.project_name))
            if project is None:
                return None  # no project of that name, so no fine-tune in it
            project_id = project.id
        job = self.hook.find_created_fine_tune(snapshot=note.snapshot, **self._request(project_id))
        return job.id if job is not None else None

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        """
        Return this run's OpenLineage datasets: the training and validation files read, the model made.

        :param task_instance: The task instance that ended (unused: the operator kept its result).
        """
        from airflow_provider_seekrflow.lineage import fine_tune_lineage

        return fine_tune_lineage(self)
