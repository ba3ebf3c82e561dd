"""Before consuming: which write API the server speaks, and whether it takes our writes.

`auto` asks `/ping`: its X-Influxdb-Version header names the server. 1.x
before 1.8 has only the v1 API; 1.8 and later, 2.x and 3.x serve
/api/v2/write. While InfluxDB does not answer, start-up waits (nothing has been
consumed yet); a refused token, a missing bucket or retention policy, or a
server that cannot be told apart stops it with a clear message.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable
from typing import Literal, TypeVar

import aiohttp

from archiver.influx_v1 import InfluxV1Sink
from archiver.influx_v2 import InfluxV2Sink
from archiver.sink import (
    CONNECTION_ERRORS,
    USER_AGENT,
    ConfigurationError,
    Refused,
    Unavailable,
    unreachable,
)
from enginewatch.core.redact import mask_url
from enginewatch.core.retry import RETRY_AFTER_MAX, Backoff
from enginewatch.core.settings import InfluxConfig
from enginewatch.core.tls import verifying_context

logger = logging.getLogger(__name__)

Api = Literal["v1", "v2"]
Sleep = Callable[[float], Awaitable[None]]
T = TypeVar("T")

_VERSION = re.compile(r"^\s*v?(\d+)\.(\d+)")


def api_from_version(version: str | None) -> Api | None:
    """The write API a server of this X-Influxdb-Version speaks, if it can be told."""
    match = _VERSION.match(version or "")
    if match is None:
        return None
    major, minor = int(match[1]), int(match[2])
    return "v1" if (major, minor) < (1, 8) else "v2"


def make_sink(
    api: Api, influx: InfluxConfig, retry_after_max: float = RETRY_AFTER_MAX
) -> InfluxV1Sink | InfluxV2Sink:
    sink = InfluxV1Sink if api == "v1" else InfluxV2Sink
    return sink(influx, retry_after_max)


async def prepare(
    influx: InfluxConfig,
    backoff: Backoff | None = None,
    sleep: Sleep = asyncio.sleep,
    retry_after_max: float = RETRY_AFTER_MAX,
) -> Api:
    """The API to use, once the server answered and accepted an empty write."""
    backoff = backoff or Backoff()
    shown = mask_url(influx.url)
    api: Api
    if influx.api == "auto":
        version = await _wait(lambda: _ping_version(influx), backoff, sleep, influx)
        detected = api_from_version(version)
        if detected is None:
            raise ConfigurationError(
                f"cannot tell the InfluxDB API at {shown} from /ping "
                f"(X-Influxdb-Version: {version!r}); set ENGINEWATCH_INFLUX_API to v1 or v2"
            )
        api = detected
        logger.info("InfluxDB %s at %s: using the %s write API", version, shown, api)
    else:
        api = influx.api
    sink = make_sink(api, influx, retry_after_max)
    try:
        await _wait(sink.check, backoff, sleep, influx)
    finally:
        await sink.close()
    return api


async def _wait(
    attempt: Callable[[], Awaitable[T]], backoff: Backoff, sleep: Sleep, influx: InfluxConfig
) -> T:
    retries = 0
    while True:
        try:
            return await attempt()
        except Refused as exc:
            raise ConfigurationError(str(exc)) from None
        except Unavailable as exc:
            retries += 1
            if retries == 1:
                logger.warning("waiting for InfluxDB at %s: %s", mask_url(influx.url), exc)
            await sleep(backoff.delay(retries, exc.retry_after))


async def _ping_version(influx: InfluxConfig) -> str | None:
    url = f"{influx.url.rstrip('/')}/ping"
    timeout = aiohttp.ClientTimeout(total=influx.timeout)
    try:
        async with (
            aiohttp.ClientSession(
                timeout=timeout,
                headers={"User-Agent": USER_AGENT},
                connector=aiohttp.TCPConnector(ssl=verifying_context(influx.ssl_cafile)),
            ) as session,
            session.get(url) as response,
        ):
            await response.read()
            return response.headers.get("X-Influxdb-Version")
    except CONNECTION_ERRORS as exc:
        raise unreachable(exc, mask_url(url)) from None
