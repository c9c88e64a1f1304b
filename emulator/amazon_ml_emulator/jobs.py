"""The job runner: a scheduler thread moves entities through PENDING, INPROGRESS, COMPLETED or FAILED on the
emulator's clock, while a small thread pool does the real work (S3, training, scoring) applied at the finish.
"""

from __future__ import annotations

import gzip
import json
import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from amazon_ml_emulator import learning
from amazon_ml_emulator.databases import (
    REDSHIFT,
    DatabaseError,
    DatabaseQuery,
    inferred_schema,
    rows_as_csv,
    run_query,
    source_name,
)
from amazon_ml_emulator.models import (
    COMPLETED,
    DELETED,
    FAILED,
    INPROGRESS,
    PENDING,
    BatchPrediction,
    DataSource,
    Entity,
    Evaluation,
    MachineLearningBackend,
    MLModel,
)
from amazon_ml_emulator.storage import S3Storage, StorageError

log = logging.getLogger(__name__)

Work = Callable[[], dict[str, Any]]
TICK_SECONDS = 0.02


class JobFailure(Exception):
    """A job cannot complete; the message becomes the entity's Message."""


class JobRunner:
    """
    Runs the jobs of a backend's entities in the background.

    :param backend: the state whose PENDING and INPROGRESS entities it moves on.
    :param storage: the S3 the jobs read and write.
    :param max_workers: threads doing the real work at once (jobs beyond it still show INPROGRESS).
    """

    def __init__(self, backend: MachineLearningBackend, storage: S3Storage, max_workers: int = 4) -> None:
        self.backend = backend
        self.storage = storage
        self._executor = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="aml-emulator-job")
        self._work: dict[Entity, Future[dict[str, Any]]] = {}
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._recheck = threading.Event()
        self._thread = threading.Thread(target=self._run, name="aml-emulator-scheduler", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join()
        self._executor.shutdown(wait=True, cancel_futures=True)

    def wake(self) -> None:
        """Look at the jobs now rather than at the next tick (after a create)."""
        self._wake.set()

    def recheck(self) -> None:
        """Look at every PENDING job now, even with no slot free: a control may have failed a dependency."""
        self._recheck.set()
        self._wake.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            recheck = self._recheck.is_set()
            self._recheck.clear()
            try:
                self.tick(recheck)
            except Exception:
                log.exception("The emulator's scheduler failed a tick")
            self._wake.wait(TICK_SECONDS)
            self._wake.clear()

    def tick(self, recheck: bool = True) -> None:
        """
        Move the jobs on; ``recheck`` says a control may have failed a job others depend on.

        The PENDING jobs (thousands in a busy account) are looked at only when one may start or fail: a slot
        is free, a job failed this tick, or ``recheck``. A job created with slots full is looked at when it
        could start, and a failed dependency fails it then.
        """
        backend, config = self.backend, self.backend.config
        with backend.lock:
            now = backend.clock.now()
            backend.mount_ready_endpoints(now)
            for entity in backend.with_status(INPROGRESS):
                if now - (entity.started_at or now) > config.max_job_runtime:
                    entity.fail(now, run_time_exceeded(config.max_job_runtime))
                else:
                    self._maybe_finish(entity, now, config.job_duration)
                # Only a failure can fail the jobs that depend on it.
                recheck = recheck or entity.status == FAILED
            in_progress = backend.count_in_progress()
            if recheck or in_progress < config.concurrency_limit:
                self._start_pending(now, in_progress, check_all=recheck)
            # Work whose entity was failed, deleted or reset away by a control is no longer wanted.
            for entity in list(self._work):
                if entity.status != INPROGRESS or backend.find(entity.kind, entity.entity_id) is not entity:
                    self._work.pop(entity).cancel()

    def _start_pending(self, now: float, in_progress: int, check_all: bool) -> None:
        """Start PENDING jobs, oldest first, while slots are free; fail those whose dependency cannot serve."""
        config = self.backend.config
        for entity in self.backend.with_status(PENDING):
            if in_progress >= config.concurrency_limit and not check_all:
                return
            if now - entity.created_at < config.pending_duration:
                continue
            waiting, failure = self._dependencies(entity)
            if failure is not None:
                entity.fail(now, failure)
            elif not waiting and in_progress < config.concurrency_limit:
                entity.start(now)
                in_progress += 1
                self._work[entity] = self._executor.submit(self._prepare(entity))

    def _maybe_finish(self, entity: Entity, now: float, job_duration: float) -> None:
        future = self._work.get(entity)
        if future is None or not future.done() or now - (entity.started_at or now) < job_duration:
            return
        del self._work[entity]
        try:
            results = future.result()
        except (JobFailure, StorageError, DatabaseError, learning.LearningError) as error:
            entity.fail(now, str(error))
            return
        except Exception as error:
            log.exception("%s %s failed", entity.kind, entity.entity_id)
            entity.fail(now, f"Internal error: {error}")
            return
        for name, value in results.items():
            setattr(entity, name, value)
        entity.complete(now)

    def _dependencies(self, entity: Entity) -> tuple[bool, str | None]:
        """Whether the job must still wait for a dependency, and why it must fail if one cannot serve."""
        waiting = False
        for kind, dependency_id in entity.dependencies():
            dependency = self.backend.find(kind, dependency_id)
            if dependency is None:
                return False, f"No {kind} with id {dependency_id} exists"
            if dependency.status == COMPLETED:
                continue
            if dependency.status in (PENDING, INPROGRESS):
                waiting = True
                continue
            reason = f": {dependency.message}" if dependency.message and dependency.status != DELETED else ""
            return False, f"{kind} {dependency_id!r} is {dependency.status}{reason}"
        return waiting, None

    def _prepare(self, entity: Entity) -> Work:
        """Capture, under the backend's lock, what the job needs; return the work to run without it."""
        if entity.injected_failure is not None:
            return _failing(entity.injected_failure)
        if isinstance(entity, DataSource):
            return self._data_source_work(entity)
        if isinstance(entity, MLModel):
            return self._ml_model_work(entity)
        if isinstance(entity, BatchPrediction):
            return self._batch_prediction_work(entity)
        if isinstance(entity, Evaluation):
            return self._evaluation_work(entity)
        raise TypeError(f"no job for {type(entity).__name__}")

    def _data_source_work(self, data_source: DataSource) -> Work:
        location = data_source.data_location_s3
        schema_text = data_source.data_schema
        schema_location = data_source.data_schema_location_s3
        rearrangement_text = data_source.data_rearrangement
        compute_statistics = data_source.compute_statistics
        storage = self.storage
        stage = self._staging(data_source)

        def work() -> dict[str, Any]:
            text = schema_text
            if text is None and schema_location is not None:
                text = storage.read(schema_location).decode("utf-8")
            if stage is not None:
                text = stage(text)
            schema = learning.DataSchema.from_json(text or "")
            files = storage.read_objects(location)
            if not files:
                raise JobFailure(f"DataLocationS3 {location!r}: no objects found")
            rearrangement = learning.parse_data_rearrangement(rearrangement_text)
            dataset = learning.load_dataset(files, schema, rearrangement)
            return {
                "file_urls": [url for url, _ in files],
                "data_size_in_bytes": sum(len(content) for _, content in files),
                "number_of_files": len(files),
                "schema_text": text,
                "schema": schema,
                "dataset": dataset,
                "statistics": dataset.statistics() if compute_statistics else None,
            }

        return work

    def _staging(self, data_source: DataSource) -> Callable[[str | None], str] | None:
        """
        For a Redshift or RDS data source: the work that runs its query and stages the result as CSV.

        It takes the schema's text, None when none was given (Redshift only), and returns the schema's text,
        inferred from the result when none was given.
        """
        query: DatabaseQuery | None = data_source.database_query
        if query is None:
            return None
        config = self.backend.config
        addresses = config.redshift_clusters if query.engine == REDSHIFT else config.rds_instances
        address = addresses.get(query.identifier)
        staged_url = f"{data_source.data_location_s3}{data_source.entity_id}.csv"
        storage = self.storage

        def stage(schema_text: str | None) -> str:
            if address is None:
                raise JobFailure(f"{source_name(query)} not found")
            columns, rows = run_query(query, address)
            if schema_text is None:
                schema_text = inferred_schema(columns, rows)
            schema = learning.DataSchema.from_json(schema_text)
            if len(columns) != len(schema.attributes):
                raise JobFailure(
                    f"SelectSqlQuery returns {len(columns)} columns but the DataSchema has "
                    f"{len(schema.attributes)} attributes"
                )
            body = rows_as_csv(columns, rows, header=schema.data_file_contains_header)
            storage.write(staged_url, body, "text/csv")
            return schema_text

        return stage

    def _ml_model_work(self, ml_model: MLModel) -> Work:
        training: Any = self.backend.find(DataSource.kind, ml_model.training_data_source_id)
        model_type, parameters = ml_model.ml_model_type, dict(ml_model.parameters)
        recipe, recipe_uri = ml_model.recipe, ml_model.recipe_uri
        dataset, schema_text = training.dataset, training.schema_text
        if not training.compute_statistics:
            # Reachable only when the model was accepted before its data source existed.
            return _failing(
                f"TrainingDataSourceId {training.entity_id!r}: a model can only be trained on a "
                "data source created with ComputeStatistics=true"
            )
        storage = self.storage

        def work() -> dict[str, Any]:
            recipe_text = recipe
            if recipe_text is None and recipe_uri is not None:
                recipe_text = storage.read(recipe_uri).decode("utf-8")
            if recipe_text is not None:
                learning.validate_recipe(recipe_text, dataset.schema)
            trained_model = learning.train_model(model_type, dataset, parameters, recipe_text)
            return {
                "trained_model": trained_model,
                "size_in_bytes": trained_model.size_in_bytes,
                "schema_text": schema_text,
                "recipe": recipe_text,
                "input_data_location_s3": training.data_location_s3,
            }

        return work

    def _batch_prediction_work(self, batch_prediction: BatchPrediction) -> Work:
        ml_model: Any = self.backend.find(MLModel.kind, batch_prediction.ml_model_id)
        data_source: Any = self.backend.find(
            DataSource.kind, batch_prediction.batch_prediction_data_source_id
        )
        trained_model, schema = ml_model.trained_model, data_source.schema
        score_threshold = ml_model.score_threshold
        if score_threshold is None:
            score_threshold = 0.5
        input_urls = list(data_source.file_urls)
        storage = self.storage

        def work() -> dict[str, Any]:
            manifest: dict[str, str] = {}
            total = invalid = 0
            for input_url in input_urls:
                scored = trained_model.score_file(storage.read(input_url), schema, score_threshold)
                result_url = batch_prediction.result_url(input_url)
                storage.write(result_url, gzip.compress(scored.csv_text.encode("utf-8")), "application/gzip")
                manifest[input_url] = result_url
                total += scored.total_record_count
                invalid += scored.invalid_record_count
            storage.write(
                batch_prediction.manifest_url(), json.dumps(manifest).encode("utf-8"), "application/json"
            )
            return {
                "total_record_count": total,
                "invalid_record_count": invalid,
                "input_data_location_s3": data_source.data_location_s3,
            }

        return work

    def _evaluation_work(self, evaluation: Evaluation) -> Work:
        ml_model: Any = self.backend.find(MLModel.kind, evaluation.ml_model_id)
        data_source: Any = self.backend.find(DataSource.kind, evaluation.evaluation_data_source_id)
        trained_model, dataset = ml_model.trained_model, data_source.dataset

        def work() -> dict[str, Any]:
            return {
                "performance_metrics": trained_model.evaluate(dataset),
                "input_data_location_s3": data_source.data_location_s3,
            }

        return work


def run_time_exceeded(limit: float) -> str:
    """The Message of a job stopped at the run-time limit (the service's exact wording is unverified)."""
    days = limit / 86400
    span = f"{days:g} days" if days == int(days) else f"{limit:g} seconds"
    return f"The job exceeded the maximum run time of {span} and was stopped"


def _failing(message: str) -> Work:
    def fail() -> dict[str, Any]:
        raise JobFailure(message)

    return fail
