"""When and how long to wait before calling Jira again.

Atlassian's guidance for REST calls (Jira Cloud rate-limiting page): at most 4 retries, a first
delay of 5 s, each later delay doubled up to 30 s, and jitter of x0.7-1.3. A `Retry-After` header
(on 429, and on some 503s) overrides the computed delay.
"""

import math
import random
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime

DEFAULT_MAX_RETRIES = 4
DEFAULT_BASE_DELAY_SECS = 5.0
DEFAULT_MAX_DELAY_SECS = 30.0
DEFAULT_MAX_RETRY_AFTER_SECS = 60.0

# Jira did not process a request that returned these statuses, so any method may be sent again.
NOT_PROCESSED_STATUSES = frozenset({429, 503})

# Methods whose repetition leaves Jira as one call would (RFC 9110 section 9.2.2).
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})

JITTER_MIN = 0.7
JITTER_MAX = 1.3


@dataclass(frozen=True)
class RetryPolicy:
    """How many times to retry a failed Jira call and how long to wait in between."""

    max_retries: int = DEFAULT_MAX_RETRIES
    base_delay_secs: float = DEFAULT_BASE_DELAY_SECS
    max_delay_secs: float = DEFAULT_MAX_DELAY_SECS
    max_retry_after_secs: float = DEFAULT_MAX_RETRY_AFTER_SECS

    @classmethod
    def from_config(cls, config):
        return cls(
            max_retries=int(config.get("JIRA_MAX_RETRIES", DEFAULT_MAX_RETRIES)),
            base_delay_secs=float(config.get("JIRA_RETRY_BASE_SECS", DEFAULT_BASE_DELAY_SECS)),
            max_delay_secs=float(config.get("JIRA_RETRY_MAX_SECS", DEFAULT_MAX_DELAY_SECS)),
            max_retry_after_secs=float(
                config.get("JIRA_RETRY_AFTER_MAX_SECS", DEFAULT_MAX_RETRY_AFTER_SECS)
            ),
        )

    def delay_secs(self, retry_number, retry_after_secs=None):
        """Seconds to wait before retry `retry_number` (1 for the first retry).

        A `Retry-After` value wins over the backoff but never exceeds `max_retry_after_secs`.
        """
        if retry_after_secs is not None:
            return min(retry_after_secs, self.max_retry_after_secs)
        backoff = self.base_delay_secs * 2 ** (retry_number - 1)
        jittered = backoff * random.uniform(JITTER_MIN, JITTER_MAX)  # nosec: jitter, not security
        return min(jittered, self.max_delay_secs)


def is_idempotent(method):
    return method.upper() in IDEMPOTENT_METHODS


def is_retryable_status(status, idempotent):
    """Return True when a response with `status` may be retried, given the call's idempotency."""
    if status in NOT_PROCESSED_STATUSES:
        return True
    return idempotent and 500 <= status < 600


def parse_retry_after(value, now=None):
    """Seconds asked for by a `Retry-After` header (delta-seconds or HTTP-date), or None."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone.utc)
        now = now or datetime.now(timezone.utc)
        seconds = (when - now).total_seconds()
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)
