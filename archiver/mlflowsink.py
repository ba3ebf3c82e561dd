"""The MLflow sink: chosen values logged as metrics through MLflow's REST API.

It speaks the tracking server's documented API (`/api/2.0/mlflow/...`) with
aiohttp. Which values, under which keys and in which requests:
archiver/mlflowmetrics.py.

**Where metrics go.** Each model's metrics go to one run in the experiment
ENGINEWATCH_MLFLOW_EXPERIMENT names (`enginewatch/{model}` by default: one
experiment per model), got by name or created. The run is long-lived: one
per model and deployment (ENGINEWATCH_APP_ID), tagged `enginewatch.run` with
a digest of both, and found again by that tag after a restart (the earliest
active one, should two archivers have made one each at once), so restarts
and replicas all log into the same run. A run deleted in MLflow is replaced
by a new one at the next write.

**At least once.** A write returns only when MLflow accepted every metric of
the body. Writing a body again logs identical metrics (key, value, timestamp
and step all come from the point), which MLflow's SQL stores keep once and a
file store keeps as an identical entry, drawn at the same place.

**Failures**, as the delivery loop (archiver/delivery.py) expects them:
no answer, 5xx and 429 are Unavailable (honouring Retry-After); 401/403,
an answer that is not MLflow's, or a deleted experiment are Refused. A 400
for some metrics of a request (a key longer than 250 characters, a time
before 1970) is narrowed down by halving the request, the accepted metrics
are logged, and Rejected names what MLflow refused, so the delivery loop
bisects the body down to the lines that hold refused metrics and
dead-letters only those. An experiment or run MLflow refuses to create (a
name too long) refuses that model's metrics the same way.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson

from archiver.mlflowmetrics import LineParseError, Metric, batches, metrics_by_model
from archiver.sink import (
    CONNECTION_ERRORS,
    USER_AGENT,
    ConfigurationError,
    Refused,
    Rejected,
    Sink,
    TooLarge,
    Unavailable,
    describe,
)
from enginewatch.core.redact import mask_url, mask_urls
from enginewatch.core.retry import RETRY_AFTER_MAX, Backoff, cap_retry_after, parse_retry_after
from enginewatch.core.settings import MlflowConfig
from enginewatch.core.tls import certificate_problem, verifying_context

logger = logging.getLogger(__name__)

API = "/api/2.0/mlflow"
PLACEHOLDER = "{model}"
# Run tags: the digest finds the run again; the others tell a person whose run it is.
RUN_TAG = "enginewatch.run"
MODEL_TAG = "enginewatch.model"
APP_ID_TAG = "enginewatch.app_id"
SOURCE = "enginewatch archiver"
MAX_TAG_VALUE = 5000  # what every MLflow store is documented to keep
MAX_RUN_NAME = 200
# Names MLflow refused to create an experiment or run for, remembered so a
# batch full of one such model does not ask again for each of its lines.
MAX_REFUSED = 1000

Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    body: dict[str, Any]  # MLflow's JSON answer; {} when it sent none
    text: str
    retry_after: float | None
    is_json: bool = True  # False: whatever answered sent no JSON object

    @property
    def error_code(self) -> str:
        return str(self.body.get("error_code", ""))

    @property
    def message(self) -> str:
        said = self.body.get("message")
        return str(said).strip() if said else self.text.strip()[:300] or f"HTTP {self.status}"


class _Refusal(Exception):
    """MLflow refused what was asked for these metrics (400): they are the bad ones."""


def run_digest(app_id: str, model: str) -> str:
    """The `enginewatch.run` tag of a model's run in one deployment. A digest, so
    the search filter quotes no model name (which may hold any character)."""
    return hashlib.sha256(orjson.dumps([app_id, model])).hexdigest()[:32]


def experiment_name(template: str, model: str) -> str:
    return template.replace(PLACEHOLDER, model)


class MlflowSink:
    """Logs the chosen values of line protocol bodies as metrics of one run per model."""

    def __init__(
        self,
        config: MlflowConfig,
        app_id: str,
        retry_after_max: float = RETRY_AFTER_MAX,
        now: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.url = config.url.rstrip("/")
        # What messages name: the URL without the password it may carry.
        self.shown = mask_url(self.url)
        self.app_id = app_id
        self.chosen = config.chosen
        self.retry_after_max = retry_after_max
        self.now = now
        self.description = f"MLflow at {self.shown} (experiment {config.experiment!r})"
        self._session: aiohttp.ClientSession | None = None
        self._experiments: dict[str, str] = {}
        self._runs: dict[str, str] = {}
        self._refused: dict[tuple[str, str], str] = {}  # (what, name) -> MLflow's message

    async def check(self) -> None:
        """At start-up: MLflow answers and takes the credentials; one fixed
        experiment is got or created (per-model ones are, at each model's first point)."""
        if PLACEHOLDER in self.config.experiment:
            answer = await self._call("POST", "experiments/search", {"max_results": 1})
            if answer.status != 200 or not answer.is_json:
                raise self._failure(answer, "experiments/search")
            return
        try:
            await self._experiment(self.config.experiment)
        except _Refusal as exc:
            raise Refused(
                f"MLflow at {self.shown} refused {exc} (check ENGINEWATCH_MLFLOW_EXPERIMENT)"
            ) from None

    async def write(self, body: bytes) -> None:
        try:
            by_model = metrics_by_model(body, self.chosen)
        except (LineParseError, UnicodeDecodeError) as exc:
            raise Rejected(f"not line protocol: {exc}") from None
        refused: list[str] = []
        for model, metrics in by_model.items():
            try:
                run_id = await self._run(model)
            except _Refusal as exc:
                refused.append(f"model {model!r}: {exc}")
                continue
            for request in batches(metrics):
                refused += await self._log(model, run_id, request)
        if refused:
            more = f" (and {len(refused) - 1} more)" if len(refused) > 1 else ""
            raise Rejected(f"MLflow refused: {refused[0]}{more}")

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    # Experiments and runs

    async def _experiment(self, name: str) -> str:
        """The id of the experiment of that name, created if missing."""
        known = self._experiments.get(name)
        if known is not None:
            return known
        self._check_not_refused("experiment", name)
        experiment_id = await self._get_experiment(name)
        if experiment_id is None:
            answer = await self._call("POST", "experiments/create", {"name": name})
            if answer.status == 200:
                experiment_id = str(self._expect(answer, "experiments/create", "experiment_id"))
            elif answer.error_code == "RESOURCE_ALREADY_EXISTS":
                # Made meanwhile by another archiver, or deleted (kept by name).
                experiment_id = await self._get_experiment(name)
            elif answer.status == 400:
                raise self._refuse(
                    "experiment", name, f"creating experiment {name!r}: {answer.message}"
                )
            else:
                raise self._failure(answer, "experiments/create")
        if experiment_id is None:
            raise Unavailable(f"MLflow at {self.shown} neither has nor makes experiment {name!r}")
        self._experiments[name] = experiment_id
        return experiment_id

    async def _get_experiment(self, name: str) -> str | None:
        params = {"experiment_name": name}
        answer = await self._call("GET", "experiments/get-by-name", params=params)
        if answer.error_code == "RESOURCE_DOES_NOT_EXIST":
            return None
        if answer.status != 200:
            raise self._failure(answer, "experiments/get-by-name")
        experiment = self._expect(answer, "experiments/get-by-name", "experiment")
        if experiment.get("lifecycle_stage") == "deleted":
            raise Refused(
                f"MLflow experiment {name!r} at {self.shown} is deleted: restore it, remove it "
                "for good (`mlflow gc`), or name another in ENGINEWATCH_MLFLOW_EXPERIMENT"
            )
        return str(experiment["experiment_id"])

    async def _run(self, model: str) -> str:
        """The id of the model's run of this deployment, found by its tag or created."""
        known = self._runs.get(model)
        if known is not None:
            return known
        self._check_not_refused("run", model)
        experiment_id = await self._experiment(experiment_name(self.config.experiment, model))
        digest = run_digest(self.app_id, model)
        run_id = await self._find_run(experiment_id, digest)
        if run_id is None:
            await self._create_run(experiment_id, model, digest)
            # Searched again rather than taking the new one: of two archivers that
            # made a run each at the same moment, both then use the earliest.
            run_id = await self._find_run(experiment_id, digest)
        if run_id is None:
            raise Unavailable(f"MLflow at {self.shown} does not find the run it made")
        self._runs[model] = run_id
        logger.info("model %r logs into run %s of experiment %s", model, run_id, experiment_id)
        return run_id

    async def _find_run(self, experiment_id: str, digest: str) -> str | None:
        search = {
            "experiment_ids": [experiment_id],
            "filter": f"tags.`{RUN_TAG}` = '{digest}'",
            "run_view_type": "ACTIVE_ONLY",
            "max_results": 100,
            "order_by": ["attributes.start_time ASC"],
        }
        answer = await self._call("POST", "runs/search", search)
        if answer.status != 200:
            raise self._failure(answer, "runs/search")
        infos = [run["info"] for run in answer.body.get("runs", [])]
        if not infos:
            return None
        earliest = min(infos, key=lambda info: (int(info.get("start_time", 0)), info["run_id"]))
        return str(earliest["run_id"])

    async def _create_run(self, experiment_id: str, model: str, digest: str) -> None:
        tags = {
            RUN_TAG: digest,
            MODEL_TAG: model[:MAX_TAG_VALUE],
            APP_ID_TAG: self.app_id,
            "mlflow.source.name": SOURCE,
        }
        request = {
            "experiment_id": experiment_id,
            "start_time": int(self.now() * 1000),
            "run_name": f"{model} ({self.app_id})"[:MAX_RUN_NAME],
            "tags": [{"key": key, "value": value} for key, value in tags.items()],
        }
        answer = await self._call("POST", "runs/create", request)
        if answer.status == 400:
            raise self._refuse(
                "run", model, f"creating a run for model {model!r}: {answer.message}"
            )
        if answer.status != 200:
            raise self._failure(answer, "runs/create")

    async def _run_is_active(self, run_id: str) -> bool:
        answer = await self._call("GET", "runs/get", params={"run_id": run_id})
        if answer.error_code == "RESOURCE_DOES_NOT_EXIST":
            return False
        if answer.status != 200:
            raise self._failure(answer, "runs/get")
        info = self._expect(answer, "runs/get", "run").get("info", {})
        return bool(info.get("lifecycle_stage") == "active")

    def _refuse(self, what: str, name: str, message: str) -> _Refusal:
        if len(self._refused) >= MAX_REFUSED:
            self._refused.clear()
        self._refused[what, name] = message
        return _Refusal(message)

    def _check_not_refused(self, what: str, name: str) -> None:
        message = self._refused.get((what, name))
        if message is not None:
            raise _Refusal(message)

    # Logging metrics

    async def _log(self, model: str, run_id: str, metrics: Sequence[Metric]) -> list[str]:
        """Log the metrics; what MLflow refused of them, as its messages."""
        answer = await self._log_batch(run_id, metrics)
        if answer.status == 200:
            return []
        gone = answer.error_code == "RESOURCE_DOES_NOT_EXIST"
        if answer.status != 400 and not gone:
            raise self._failure(answer, "runs/log-batch")
        # A run deleted meanwhile refuses everything (400, or 404 once purged):
        # that is no metric's fault.
        if gone or not await self._run_is_active(run_id):
            self._runs.pop(model, None)
            raise Unavailable(f"run {run_id} of model {model!r} is gone; looking for another")
        return await self._narrow(model, run_id, metrics, answer.message)

    async def _narrow(
        self, model: str, run_id: str, metrics: Sequence[Metric], message: str
    ) -> list[str]:
        """Halve a refused request until the refused metrics stand alone; log the rest."""
        if len(metrics) == 1:
            return [message]
        refused: list[str] = []
        middle = len(metrics) // 2
        for half in (metrics[:middle], metrics[middle:]):
            answer = await self._log_batch(run_id, half)
            if answer.status == 400:
                refused += await self._narrow(model, run_id, half, answer.message)
            elif answer.error_code == "RESOURCE_DOES_NOT_EXIST":
                self._runs.pop(model, None)
                raise Unavailable(f"run {run_id} of model {model!r} is gone; looking for another")
            elif answer.status != 200:
                raise self._failure(answer, "runs/log-batch")
        return refused

    async def _log_batch(self, run_id: str, metrics: Sequence[Metric]) -> Answer:
        request = {"run_id": run_id, "metrics": [metric.json() for metric in metrics]}
        return await self._call("POST", "runs/log-batch", request)

    # HTTP

    async def _call(
        self,
        method: str,
        endpoint: str,
        request: dict[str, Any] | None = None,
        params: dict[str, str] | None = None,
    ) -> Answer:
        url = f"{self.url}{API}/{endpoint}"
        data = orjson.dumps(request) if request is not None else None
        try:
            async with self._client().request(method, url, data=data, params=params) as response:
                text = await response.text(errors="replace")
                header = response.headers.get("Retry-After")
                status = response.status
        except CONNECTION_ERRORS as exc:
            raise self._unreachable(exc) from None
        retry_after = cap_retry_after(parse_retry_after(header), self.retry_after_max)
        body = _json(text)
        return Answer(status, body or {}, text, retry_after, body is not None)

    def _expect(self, answer: Answer, endpoint: str, key: str) -> Any:
        """`key` of a successful answer; Refused when it has none (no MLflow answered)."""
        if key not in answer.body:
            raise self._failure(answer, endpoint)
        return answer.body[key]

    def _failure(self, answer: Answer, endpoint: str) -> Unavailable | TooLarge:
        return failure(answer, self.shown, endpoint)

    def _unreachable(self, exc: BaseException) -> Unavailable:
        problem = certificate_problem(exc)
        if problem is not None:
            return Refused(
                f"the TLS certificate of {self.shown} is not trusted ({problem}; "
                "give its CA in ENGINEWATCH_MLFLOW_SSL_CAFILE)"
            )
        return Unavailable(f"cannot reach MLflow at {self.shown}: {mask_urls(describe(exc))}")

    def _client(self) -> aiohttp.ClientSession:
        # Made in the event loop that uses it (Faust's, not the start-up check's).
        if self._session is None:
            headers = {"User-Agent": USER_AGENT, "Content-Type": "application/json"}
            token = self.config.token.get_secret_value()
            if token:
                headers["Authorization"] = f"Bearer {token}"
            auth = None
            if self.config.username:
                password = self.config.password.get_secret_value()
                auth = aiohttp.BasicAuth(self.config.username, password)
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.config.timeout),
                headers=headers,
                auth=auth,
                connector=aiohttp.TCPConnector(ssl=verifying_context(self.config.ssl_cafile)),
            )
        return self._session


def failure(answer: Answer, shown: str, endpoint: str) -> Unavailable | TooLarge:
    """What an answer MLflow's API would not give a correct request stands for;
    `shown`: the server's URL as messages name it."""
    where = f"{shown}{API}/{endpoint}"
    detail = f"MLflow answered {answer.status} at {where}: {mask_urls(answer.message)}"
    if answer.status in (401, 403):
        return Refused(
            f"{detail} (check ENGINEWATCH_MLFLOW_TOKEN, or ENGINEWATCH_MLFLOW_USERNAME "
            "and ENGINEWATCH_MLFLOW_PASSWORD)"
        )
    if answer.status == 413 and endpoint == "runs/log-batch":
        return TooLarge(detail)  # a proxy's limit, below MLflow's: smaller bodies
    if answer.status == 429 or answer.status >= 500:
        return Unavailable(detail, answer.retry_after)
    if answer.status == 200 or not answer.error_code:
        return Refused(
            f"no MLflow tracking API at {shown}: {where} answered {answer.status} "
            f"without MLflow's JSON (check ENGINEWATCH_MLFLOW_URL)"
        )
    return Refused(detail)


def _json(text: str) -> dict[str, Any] | None:
    try:
        said = orjson.loads(text)
    except orjson.JSONDecodeError:
        return None
    return said if isinstance(said, dict) else None


async def prepare(sink: Sink, backoff: Backoff | None = None, sleep: Sleep = asyncio.sleep) -> None:
    """Before consuming: wait while MLflow does not answer; stop (ConfigurationError)
    when it refuses the credentials, is no MLflow, or refuses the experiment."""
    backoff = backoff or Backoff()
    retries = 0
    try:
        while True:
            try:
                await sink.check()
                return
            except Refused as exc:
                raise ConfigurationError(str(exc)) from None
            except Unavailable as exc:
                retries += 1
                if retries == 1:
                    logger.warning("waiting for %s: %s", sink.description, exc)
                await sleep(backoff.delay(retries, exc.retry_after))
    finally:
        await sink.close()
