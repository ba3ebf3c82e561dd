"""Secrets kept out of what is printed: the credentials a URL may carry.

An InfluxDB, Composer or Connect URL may carry a password
(`http://user:pass@host`) or a token in its query (`?p=...`, as InfluxDB 1.x
reads it); every log line and error message that names a URL goes through
`mask_url`, or, for text that may quote one (an HTTP library's error),
`mask_urls`.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

MASK = "***"
# Query parameters that carry a credential (InfluxDB 1.x: `u`, `p`).
SECRET_PARAMETERS = frozenset({"p", "password", "token", "secret", "api_key", "apikey", "key"})
# A URL in running text: scheme, then anything up to white space or a quote.
_URL = re.compile(r"\b[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"<>]+")


def mask_url(url: str) -> str:
    """The URL with its password and secret query values masked; the rest as it was."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return _mask_userinfo(url)
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, host = netloc.rsplit("@", 1)
        user = userinfo.split(":", 1)[0]
        netloc = f"{user}:{MASK}@{host}" if ":" in userinfo else f"{MASK}@{host}"
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        if any(name.lower() in SECRET_PARAMETERS for name, _ in pairs):
            query = urlencode(
                [(n, MASK if n.lower() in SECRET_PARAMETERS else v) for n, v in pairs], safe="*"
            )
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def mask_urls(text: str) -> str:
    """The text with every URL in it masked as `mask_url` does."""
    return _URL.sub(lambda match: mask_url(match[0]), text)


def _mask_userinfo(url: str) -> str:
    """For what urlsplit cannot read: at least no `user:password@`."""
    return re.sub(r"(://)[^/@\s]*@", rf"\1{MASK}@", url)
