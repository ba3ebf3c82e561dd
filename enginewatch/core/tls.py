"""TLS for enginewatch's HTTP clients (InfluxDB, Composer and Connect).

The server's certificate chain and host name are always verified: against the
CAs of a given file, else the system's. No setting turns verification off; a
server with a private CA is trusted by giving its CA file.
"""

from __future__ import annotations

import ssl
from functools import lru_cache
from pathlib import Path

# How deep to look inside wrapped exceptions (aiohttp's, requests' and urllib3's
# wrap the ssl module's error two or three levels down).
_DEPTH = 6


@lru_cache(maxsize=8)
def verifying_context(cafile: Path | None) -> ssl.SSLContext:
    """A client context that checks the server against `cafile`'s CAs, or the system's.

    One per file: the file is read once, and every client of the process shares it.
    """
    return ssl.create_default_context(
        ssl.Purpose.SERVER_AUTH, cafile=str(cafile) if cafile is not None else None
    )


def certificate_problem(exc: BaseException) -> str | None:
    """Why the server's certificate was not trusted, when `exc` (or what it wraps) says
    so; None for any other failure."""
    seen: list[object] = [exc]
    for _ in range(_DEPTH):
        found = [e for e in seen if isinstance(e, ssl.SSLCertVerificationError)]
        if found:
            # aiohttp's error is one too (an alias of ssl.CertificateError), and
            # holds the ssl module's as its `certificate_error`.
            error = getattr(found[0], "certificate_error", found[0])
            return getattr(error, "verify_message", None) or str(error)
        seen = [inner for e in seen for inner in _wrapped(e)]
    return None


def _wrapped(exc: object) -> list[object]:
    inner: list[object] = []
    if isinstance(exc, BaseException):
        inner += [exc.__cause__, exc.__context__, *exc.args]
    # aiohttp's ClientConnectorCertificateError and urllib3's MaxRetryError.
    inner += [getattr(exc, "certificate_error", None), getattr(exc, "reason", None)]
    return [e for e in inner if isinstance(e, BaseException)]
