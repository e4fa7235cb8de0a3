"""Fault injection in front of the site, as WSGI middleware.

Rules come from `PUT /_devsite/faults`; the first rule whose method and path regex match a
request applies, and its `times` counts down (0 = until cleared). Modes: latency (sleep, then
process), error (return `status`, no processing), rate_limit (429 with Retry-After and
X-RateLimit-* headers, no processing), drop_before (close the TCP connection without a response,
no processing), drop_after (process and commit, then close the connection without a response).
Drops shut the client socket down, so the caller sees a real connection failure. They need the
werkzeug server, which puts the connection's socket in the WSGI environ.

Mode allowed_rate models Jira Cloud's burst limit (RateLimit-Reason `jira-burst-based`, scoped
to one tenant, one endpoint and one HTTP method): the rule owns a token bucket that holds up to
`burst` tokens (default: one second's worth) and gains `rate_per_sec` tokens per second. A
matching request takes a token and is processed, after `latency_ms` (default 0); without a token
it gets 429 with the headers of Atlassian's rate-limiting page: `Retry-After` in whole seconds
(the wait for the next token, rounded up), `X-RateLimit-Reset` (now plus Retry-After, as
yyyy-MM-ddTHH:mmZ), `X-RateLimit-Limit`, `X-RateLimit-Remaining` and `RateLimit-Reason`.
Admitted responses carry `X-RateLimit-Limit` and `X-RateLimit-Remaining`, plus
`X-RateLimit-NearLimit: true` when less than a fifth of the bucket remains. The rule stays until
cleared (its `times` is ignored) and counts `admitted` and `rejected` requests.
"""

import datetime
import json
import logging
import math
import re
import socket
import time

from .state import SiteError, site

log = logging.getLogger(__name__)

MODES = {"latency", "error", "rate_limit", "drop_before", "drop_after", "allowed_rate"}
CONTROL_PREFIX = "/_devsite/"
RATE_LIMIT = 100
# Atlassian sends X-RateLimit-NearLimit when less than 20 % of a budget remains.
NEAR_LIMIT_FRACTION = 0.2


def parse_rules(body):
    """Validate the body of PUT /_devsite/faults (one rule or a list) and return the rules."""
    rules = body if isinstance(body, list) else [body]
    parsed = []
    for rule in rules:
        if not isinstance(rule, dict):
            raise SiteError("Each fault rule must be a JSON object.")
        mode = rule.get("mode")
        if mode not in MODES:
            raise SiteError(f"Fault mode {mode!r} is unknown; use one of {sorted(MODES)}.")
        try:
            pattern = re.compile(rule.get("path", ".*"))
        except re.error as exc:
            raise SiteError(f"Fault path {rule.get('path')!r} is not a valid regular expression: {exc}.") from None
        times = int(rule.get("times", 1))
        if times < 0:
            raise SiteError("Fault times must be 0 (until cleared) or more.")
        extra = {}
        if mode == "allowed_rate":
            extra = _parse_bucket(rule)
            times = 0
        parsed.append({
            "method": (rule.get("method") or "").upper() or None,
            "path": pattern.pattern,
            "pattern": pattern,
            "mode": mode,
            "latency_ms": int(rule.get("latency_ms", 1000)),
            "status": int(rule.get("status", 500)),
            "retry_after": int(rule.get("retry_after", 5)),
            "times": times,
            "applied": 0,
            **extra,
        })
    return parsed


def _parse_bucket(rule):
    try:
        rate_per_sec = float(rule.get("rate_per_sec", 0))
        burst = float(rule.get("burst", max(1.0, rate_per_sec)))
        latency_ms = int(rule.get("latency_ms", 0))
    except (TypeError, ValueError):
        raise SiteError("Fault rate_per_sec, burst and latency_ms must be numbers.") from None
    if not (math.isfinite(rate_per_sec) and rate_per_sec > 0):
        raise SiteError(f"Fault rate_per_sec {rule.get('rate_per_sec')!r} must be a number of requests per second above 0.")
    if not (math.isfinite(burst) and burst >= 1):
        raise SiteError(f"Fault burst {rule.get('burst')!r} must be 1 request or more.")
    if latency_ms < 0:
        raise SiteError("Fault latency_ms must be 0 or more.")
    return {"rate_per_sec": rate_per_sec, "burst": burst, "latency_ms": latency_ms,
            "tokens": burst, "refilled_at": time.monotonic(), "admitted": 0, "rejected": 0}


def _take_token(rule):
    """Refill the rule's bucket, then take a token; set the request's outcome on a copy of the rule."""
    now = time.monotonic()
    rule["tokens"] = min(rule["burst"], rule["tokens"] + (now - rule["refilled_at"]) * rule["rate_per_sec"])
    rule["refilled_at"] = now
    outcome = dict(rule)
    if rule["tokens"] >= 1:
        rule["tokens"] -= 1
        rule["admitted"] += 1
        outcome["admit"] = True
    else:
        rule["rejected"] += 1
        outcome["admit"] = False
        wait_secs = (1 - rule["tokens"]) / rule["rate_per_sec"]
        outcome["retry_after"] = max(1, math.ceil(wait_secs))
    outcome["remaining"] = int(rule["tokens"])
    return outcome


def public_rule(rule):
    return {name: value for name, value in rule.items() if name != "pattern"}


def take_rule(method, path, full_path):
    """Find the first rule matching the request and count it down; return None when none matches."""
    with site.lock:
        for rule in site.faults:
            if rule["method"] not in (None, method):
                continue
            if not (rule["pattern"].search(path) or rule["pattern"].search(full_path)):
                continue
            rule["applied"] += 1
            if rule["mode"] == "allowed_rate":
                return _take_token(rule)
            if rule["times"]:
                rule["times"] -= 1
                if rule["times"] == 0:
                    site.faults.remove(rule)
            return dict(rule)
    return None


class FaultMiddleware:
    def __init__(self, app):
        self.app = app

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path.startswith(CONTROL_PREFIX):
            return self.app(environ, start_response)
        method = environ.get("REQUEST_METHOD", "GET").upper()
        rule = take_rule(method, path, environ.get("SCRIPT_NAME", "") + path)
        if rule is None:
            return self.app(environ, start_response)

        mode = rule["mode"]
        if mode == "allowed_rate" and rule["admit"]:
            return self._admit(environ, start_response, rule)
        log.info("Fault %s applied to %s %s", mode, method, path)
        if mode == "latency":
            time.sleep(rule["latency_ms"] / 1000)
            return self.app(environ, start_response)
        if mode == "drop_after":
            status_headers = []
            body = self.app(environ, lambda status, headers, exc_info=None: status_headers.append(status))
            try:
                for _ in body:
                    pass
            finally:
                if hasattr(body, "close"):
                    body.close()
            return self._drop(environ, start_response)

        self._log(environ, method, path, mode, None if mode == "drop_before" else rule)
        if mode == "drop_before":
            return self._drop(environ, start_response)
        if mode in ("rate_limit", "allowed_rate"):
            return self._rate_limited(start_response, path, rule)
        return self._error(start_response, path, rule["status"], "Injected fault: the site failed this request.")

    def _admit(self, environ, start_response, rule):
        if rule["latency_ms"]:
            time.sleep(rule["latency_ms"] / 1000)
        headers = [("X-RateLimit-Limit", str(int(rule["burst"]))),
                   ("X-RateLimit-Remaining", str(rule["remaining"]))]
        if rule["remaining"] < rule["burst"] * NEAR_LIMIT_FRACTION:
            headers.append(("X-RateLimit-NearLimit", "true"))

        def start_with_limits(status, response_headers, exc_info=None):
            return start_response(status, list(response_headers) + headers, exc_info)

        return self.app(environ, start_with_limits)

    def _rate_limited(self, start_response, path, rule):
        reset_at = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=rule["retry_after"])
        if rule["mode"] == "allowed_rate":
            limit, remaining, reason = int(rule["burst"]), rule["remaining"], "jira-burst-based"
        else:
            limit, remaining, reason = RATE_LIMIT, 0, "jira-quota-based"
        headers = [("Retry-After", str(rule["retry_after"])),
                   ("X-RateLimit-Limit", str(limit)),
                   ("X-RateLimit-Remaining", str(remaining)),
                   ("X-RateLimit-Reset", reset_at.strftime("%Y-%m-%dT%H:%MZ")),
                   ("RateLimit-Reason", reason)]
        return self._error(start_response, path, 429, "Rate limit exceeded.", headers)

    @staticmethod
    def _error(start_response, path, status, message, headers=()):
        if "/rest/servicedeskapi" in path:
            body = {"errorMessage": message, "i18nErrorMessage": {"i18nKey": "sd.devsite.fault", "parameters": []}}
        else:
            body = {"errorMessages": [message], "errors": {}}
        data = json.dumps(body).encode("utf-8")
        start_response(f"{status} FAULT", [("Content-Type", "application/json"),
                                           ("Content-Length", str(len(data)))] + list(headers))
        return [data]

    @staticmethod
    def _drop(environ, start_response):
        connection = environ.get("werkzeug.socket")
        if connection is None:
            log.error("Cannot drop the connection: the server does not expose its socket")
        else:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        # Writing the status line now fails with a broken pipe, which the server treats as a
        # client that went away: nothing reaches the client.
        start_response("500 DROPPED", [("Content-Length", "0")])
        return [b""]

    @staticmethod
    def _log(environ, method, path, mode, rule):
        status = None
        if rule is not None:
            status = 429 if mode in ("rate_limit", "allowed_rate") else rule["status"]
        with site.lock:
            site.request_log.append({
                "method": method, "path": path, "query": environ.get("QUERY_STRING", ""),
                "auth": "none", "verified": False, "reason": f"fault:{mode}", "as_account_id": None,
                "status": status, "fault": mode})
