"""Fault injection in front of the site, as WSGI middleware.

Rules come from `PUT /_devsite/faults`; the first rule whose method and path regex match a
request applies, and its `times` counts down (0 = until cleared). Modes: latency (sleep, then
process), error (return `status`, no processing), rate_limit (429 with Retry-After and
X-RateLimit-* headers, no processing), drop_before (close the TCP connection without a response,
no processing), drop_after (process and commit, then close the connection without a response).
Drops shut the client socket down, so the caller sees a real connection failure. They need the
werkzeug server, which puts the connection's socket in the WSGI environ.
"""

import datetime
import json
import logging
import re
import socket
import time

from .state import SiteError, site

log = logging.getLogger(__name__)

MODES = {"latency", "error", "rate_limit", "drop_before", "drop_after"}
CONTROL_PREFIX = "/_devsite/"
RATE_LIMIT = 100


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
        })
    return parsed


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
        if mode == "rate_limit":
            reset_at = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=rule["retry_after"])
            headers = [("Retry-After", str(rule["retry_after"])),
                       ("X-RateLimit-Limit", str(RATE_LIMIT)),
                       ("X-RateLimit-Remaining", "0"),
                       ("X-RateLimit-Reset", reset_at.strftime("%Y-%m-%dT%H:%MZ")),
                       ("RateLimit-Reason", "jira-quota-based")]
            return self._error(start_response, path, 429, "Rate limit exceeded.", headers)
        return self._error(start_response, path, rule["status"], "Injected fault: the site failed this request.")

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
            status = 429 if mode == "rate_limit" else rule["status"]
        with site.lock:
            site.request_log.append({
                "method": method, "path": path, "query": environ.get("QUERY_STRING", ""),
                "auth": "none", "verified": False, "reason": f"fault:{mode}", "as_account_id": None,
                "status": status, "fault": mode})
