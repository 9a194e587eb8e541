"""Talking to a deployment from a notebook: score records and read the reply as a table."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import requests

from ..errors import ScoringInputError
from .artifacts import Deployment

if TYPE_CHECKING:
    import pandas as pd


def score(target: Deployment | str, payload: dict[str, Any], timeout: float = 60.0,
          session: requests.Session | None = None, debiased: bool = False) -> dict[str, Any]:
    """POST a `fields`/`values` payload to a deployment (or scoring URL); the reply as a dict.

    `debiased=True` asks the debiased endpoint, which adds the fairness monitor's debiased outcome.
    A rejected request raises ScoringInputError with the service's message.
    """
    url = target.scoring_url if isinstance(target, Deployment) else target
    if debiased:
        url = f"{url}/debiased"
    reply = (session or requests).post(url, json=payload, timeout=timeout)
    if reply.status_code >= 400:
        try:
            message = reply.json()["error"]["message"]
        except (ValueError, KeyError, TypeError):
            message = reply.text
        raise ScoringInputError(f"the deployment refused the request ({reply.status_code}): {message}",
                                status=reply.status_code)
    return reply.json()


def reply_frame(reply: dict[str, Any]) -> pd.DataFrame:
    """A scoring reply as a DataFrame, one row per record."""
    import pandas as pd

    return pd.DataFrame(reply["values"], columns=reply["fields"])


def score_in_batches(target: Deployment | str, payload: dict[str, Any], batch_size: int = 100,
                     progress: bool = True) -> list[dict[str, Any]]:
    """Score many records in batches over one connection, with a progress bar."""
    from ..core.progress import progress as tqdm

    values = payload["values"]
    replies = []
    with requests.Session() as session:
        for start in tqdm(range(0, len(values), batch_size), desc="scoring", unit="batch", disable=not progress):
            batch = {"fields": payload["fields"], "values": values[start:start + batch_size]}
            replies.append(score(target, batch, session=session))
    return replies
