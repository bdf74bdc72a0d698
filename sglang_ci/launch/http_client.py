"""HTTP sessions for talking to servers: requests with urllib3 retries for transient
connection errors (never for answers: a 500 is a result, not a glitch)."""

from __future__ import annotations

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry


def make_session(api_key: str | None = None, connect_retries: int = 3) -> requests.Session:
    session = requests.Session()
    # read=False / other=False: a read timeout or a dropped connection mid-answer surfaces
    # as itself (requests.ReadTimeout, ...) instead of a generic retry error.
    retry = Retry(
        total=connect_retries, connect=connect_retries, read=False, status=0, other=False,
        backoff_factor=0.2, allowed_methods=None, raise_on_status=False,
    )  # fmt: skip
    adapter = HTTPAdapter(max_retries=retry, pool_connections=4, pool_maxsize=256)
    session.mount("http://", adapter)
    if api_key:
        session.headers["Authorization"] = f"Bearer {api_key}"
    return session
