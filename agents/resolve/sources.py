"""The three places an engine's model name can come from, each a plain function.

- a map file: JSON or YAML `{engine uuid: model name}`;
- Composer: `GET {url}/1/workflow/{name}/status` answers, per workflow, an
  object mapping each model name to its deployment, whose `Engine.ID` is the
  engine's UUID;
- Connect: `GET {url}/api/1/service/connect/1/connect` lists the fleet (each
  instance with `id`, `name`, `api`, `health`); for each instance whose api is
  `engine`, `GET {url}/api/1/service/{name}/1/job/status` answers the engine's
  job, whose `model.name` is its active model. The UUID engines put in `src`
  is the instance's `src` where the fleet entry has one (FastScore's tutorial
  reads it so), else its `id` (Connect's API specification, `InstanceInfo`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import requests
import yaml

from enginewatch.core.redact import mask_url, mask_urls

Mapping_ = dict[str, str]


class SourceError(RuntimeError):
    """A source could not be read; the resolver keeps its last good mapping."""


def read_map_file(path: Path) -> Mapping_:
    """A JSON or YAML file `{uuid: model name}`."""
    try:
        text = path.read_text(encoding="utf-8")
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (OSError, ValueError, yaml.YAMLError) as exc:
        raise SourceError(f"engine map {path}: {exc}") from None
    if not isinstance(data, dict):
        raise SourceError(f"engine map {path}: expected an object {{uuid: model name}}")
    mapping: Mapping_ = {}
    for uuid, model in data.items():
        if not isinstance(uuid, str) or not isinstance(model, str) or not uuid or not model:
            raise SourceError(f"engine map {path}: entry {uuid!r}: {model!r} must map text to text")
        mapping[uuid] = model
    return mapping


def fetch_composer(
    session: requests.Session, url: str, workflows: list[str], timeout: float
) -> Mapping_:
    """Engine UUID -> model name for every model of the named Composer workflows."""
    mapping: Mapping_ = {}
    for workflow in workflows:
        status = _get_json(session, f"{url.rstrip('/')}/1/workflow/{workflow}/status", timeout)
        if not isinstance(status, dict):
            raise SourceError(f"composer workflow {workflow!r}: status is not an object")
        for model, deployment in status.items():
            engine = deployment.get("Engine") if isinstance(deployment, dict) else None
            uuid = engine.get("ID") if isinstance(engine, dict) else None
            if isinstance(uuid, str) and uuid:
                mapping[uuid] = str(model)
    return mapping


def fetch_connect(
    session: requests.Session, url: str, timeout: float, previous: Mapping[str, str]
) -> Mapping_:
    """Engine UUID -> active model name for every engine of a Connect fleet.

    An engine whose job status cannot be read keeps its `previous` name; an
    engine that answers without a model has none.
    """
    base = url.rstrip("/")
    fleet = _get_json(session, f"{base}/api/1/service/connect/1/connect", timeout)
    if not isinstance(fleet, list):
        raise SourceError("connect: the fleet is not a list")
    mapping: Mapping_ = {}
    for instance in fleet:
        if not isinstance(instance, dict) or instance.get("api") != "engine":
            continue
        uuid, name = _engine_uuid(instance), instance.get("name")
        if uuid is None or not isinstance(name, str):
            continue
        try:
            job = _get_json(session, f"{base}/api/1/service/{name}/1/job/status", timeout)
        except SourceError:
            # One unhealthy engine must neither hide the fleet nor lose its name.
            if uuid in previous:
                mapping[uuid] = previous[uuid]
            continue
        model = job.get("model") if isinstance(job, dict) else None
        model_name = model.get("name") if isinstance(model, dict) else None
        if isinstance(model_name, str) and model_name:
            mapping[str(uuid)] = model_name
    return mapping


def _engine_uuid(instance: dict[str, Any]) -> str | None:
    """The UUID an engine sends as `src`: the fleet entry's `src`, as FastScore's
    own tutorial reads it, else its `id`, as Connect's API specification names it."""
    for field in ("src", "id"):
        value = instance.get(field)
        if isinstance(value, str) and value:
            return value
    return None


def _get_json(session: requests.Session, url: str, timeout: float) -> Any:
    try:
        response = session.get(url, timeout=timeout)
        response.raise_for_status()
        return response.json()
    except (requests.RequestException, ValueError) as exc:
        # Either may quote the URL, and a URL may carry a password.
        raise SourceError(f"GET {mask_url(url)}: {mask_urls(str(exc))}") from None
