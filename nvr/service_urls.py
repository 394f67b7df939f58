"""A service URL with a password put in, for passwords kept apart from their URL (REDIS_PASSWORD).

Settings import this before Django is set up, so it uses nothing but the standard library.
"""

from __future__ import annotations

from urllib.parse import quote, urlsplit, urlunsplit


def with_password(url: str, password: str) -> str:
    """`url` with `password` (and its user, if any) in the authority; a password already there is replaced."""
    parts = urlsplit(url)
    host = parts.netloc.rsplit("@", 1)[-1]
    user = quote(parts.username or "", safe="")
    return urlunsplit(parts._replace(netloc=f"{user}:{quote(password, safe='')}@{host}"))
