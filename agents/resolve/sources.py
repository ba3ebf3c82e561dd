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

Composer and Connect are asked through a `SourceSession`: an https:// server's
certificate is always verified (against ENGINEWATCH_RESOLVE_SSL_CAFILE's CAs,
else requests' default bundle), and a token, when set, goes as
`Authorization: Bearer`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import requests
import yaml
from pydantic import SecretStr
from requests.auth import AuthBase

from enginewatch.core.redact import MASK, mask_url, mask_urls
from enginewatch.core.settings import ResolveConfig
from enginewatch.core.tls import certificate_problem

Mapping_ = dict[str, str]

CAFILE_SETTING = ResolveConfig.variable("resolve_ssl_cafile")
TOKEN_SETTING = ResolveConfig.variable("resolve_token")
# Answers that refuse the credentials: a setting to fix, like an untrusted certificate.
REFUSED = (401, 403)


class SourceError(RuntimeError):
    """A source could not be read; the resolver keeps its last good mapping.

    `lasting`: a setting to fix (an untrusted certificate, a refused token),
    which asking again soon will not change, unlike an outage.
    """

    def __init__(self, message: str, *, lasting: bool = False) -> None:
        super().__init__(message)
        self.lasting = lasting


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


class BearerToken(AuthBase):
    """`Authorization: Bearer <token>`; the token stays a secret value until sent.

    As the session's `auth`, it also keeps a `.netrc` entry from replacing the
    header, and requests drops it on a redirect to another host.
    """

    def __init__(self, token: SecretStr) -> None:
        self._token = token

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self._token.get_secret_value()}"
        return request

    def masked(self, text: str) -> str:
        """`text` without the token, which a server may echo back (in a reason phrase, say)."""
        return text.replace(self._token.get_secret_value(), MASK)


class SourceSession(requests.Session):
    """Composer's and Connect's session: every request verified against `cafile`'s CAs
    (None: requests' default bundle), and carrying the token, if any."""

    def __init__(self, cafile: Path | None, token: SecretStr) -> None:
        super().__init__()
        self._verify = str(cafile) if cafile is not None else True
        if token.get_secret_value():
            self.auth = BearerToken(token)

    def request(
        self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any
    ) -> requests.Response:
        # Given with each request: the session's own `verify` would lose to
        # REQUESTS_CA_BUNDLE. True is requests' default bundle (REQUESTS_CA_BUNDLE,
        # else certifi's); nothing turns verification off.
        kwargs.setdefault("verify", self._verify)
        return super().request(method, url, *args, **kwargs)


def _get_json(session: requests.Session, url: str, timeout: float) -> Any:
    """The JSON `url` answers; if none, a SourceError: one line, URL and token masked."""
    token = session.auth if isinstance(session.auth, BearerToken) else None
    try:
        return _answer(session, url, timeout, sent_token=token is not None)
    except SourceError as exc:
        if token is None:
            raise
        raise SourceError(token.masked(str(exc)), lasting=exc.lasting) from None


def _answer(session: requests.Session, url: str, timeout: float, *, sent_token: bool) -> Any:
    try:
        response = session.get(url, timeout=timeout)
    except requests.RequestException as exc:
        raise _unreachable(url, exc) from None
    if response.status_code in REFUSED:
        raise _refused(url, response, sent_token=sent_token)
    try:
        response.raise_for_status()
        return response.json()
    except (requests.RequestException, ValueError) as exc:
        # Either may quote the URL, and a URL may carry a password.
        raise SourceError(f"GET {mask_url(url)}: {mask_urls(str(exc))}") from None


def _unreachable(url: str, exc: requests.RequestException) -> SourceError:
    """No answer: an outage, unless the server's certificate is not trusted."""
    problem = certificate_problem(exc)
    if problem is not None:
        return SourceError(
            f"GET {mask_url(url)}: the TLS certificate is not trusted "
            f"({problem}; give its CA in {CAFILE_SETTING})",
            lasting=True,
        )
    return SourceError(f"GET {mask_url(url)}: {mask_urls(str(exc))}")


def _refused(url: str, response: requests.Response, *, sent_token: bool) -> SourceError:
    """The server refused the credentials: what to fix, never the token itself."""
    hint = f"check {TOKEN_SETTING}" if sent_token else f"no token was sent: set {TOKEN_SETTING}"
    return SourceError(
        f"GET {mask_url(url)}: answered {response.status_code} {response.reason} ({hint})",
        lasting=True,
    )
