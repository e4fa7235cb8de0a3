"""The local Jira site's allowed_rate fault: a token bucket with Jira Cloud's burst-limit headers."""

import re
import time

import pytest

from .test_devsite_appstub import installed_stub, stub_app  # noqa: F401 (fixtures)

RESET_LAYOUT = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}Z$")


def _allow(jira_site, **rule):
    jira_site.control("PUT", "/_devsite/faults", json=dict(
        {"method": "POST", "path": "/comment$", "mode": "allowed_rate"}, **rule))


def _post_comment(stub, jira_site, text="Un message"):
    return stub.call(jira_site, "POST", "/rest/servicedeskapi/request/SUP-1/comment",
                     json={"body": text, "public": True})


def _comment_count(jira_site):
    return len(jira_site.control("GET", "/_devsite/issues/SUP-1")["comments"])


def test_allowed_rate_admits_burst(installed_stub, jira_site):
    _allow(jira_site, rate_per_sec=0.5, burst=3)
    responses = [_post_comment(installed_stub, jira_site, f"Message {n}") for n in range(3)]
    assert [response.status_code for response in responses] == [201, 201, 201]
    assert [response.headers["X-RateLimit-Remaining"] for response in responses] == ["2", "1", "0"]
    assert responses[0].headers["X-RateLimit-Limit"] == "3"
    assert "X-RateLimit-NearLimit" not in responses[0].headers
    assert responses[2].headers["X-RateLimit-NearLimit"] == "true"
    assert _comment_count(jira_site) == 3


def test_allowed_rate_rejects_beyond_bucket(installed_stub, jira_site):
    _allow(jira_site, rate_per_sec=0.5, burst=1)
    assert _post_comment(installed_stub, jira_site).status_code == 201

    rejected = _post_comment(installed_stub, jira_site, "Refusé")

    assert rejected.status_code == 429
    # The next token comes in about 2 s at 0.5 token per second.
    assert rejected.headers["Retry-After"] == "2"
    assert rejected.headers["RateLimit-Reason"] == "jira-burst-based"
    assert rejected.headers["X-RateLimit-Limit"] == "1"
    assert rejected.headers["X-RateLimit-Remaining"] == "0"
    assert RESET_LAYOUT.match(rejected.headers["X-RateLimit-Reset"])
    assert rejected.json()["errorMessage"] == "Rate limit exceeded."
    assert _comment_count(jira_site) == 1
    assert jira_site.control("GET", "/_devsite/requests")[-1]["status"] == 429


def test_allowed_rate_refills_after_retry_after(installed_stub, jira_site):
    _allow(jira_site, rate_per_sec=4, burst=1)
    assert _post_comment(installed_stub, jira_site).status_code == 201
    rejected = _post_comment(installed_stub, jira_site)
    assert rejected.status_code == 429
    assert rejected.headers["Retry-After"] == "1"

    time.sleep(int(rejected.headers["Retry-After"]))

    assert _post_comment(installed_stub, jira_site).status_code == 201
    rule = jira_site.control("GET", "/_devsite/faults")[0]
    assert rule["admitted"] == 2
    assert rule["rejected"] == 1
    assert _comment_count(jira_site) == 2


def test_allowed_rate_scoped_to_rule(installed_stub, jira_site):
    _allow(jira_site, rate_per_sec=0.5, burst=1)
    assert _post_comment(installed_stub, jira_site).status_code == 201
    assert _post_comment(installed_stub, jira_site).status_code == 429
    other = installed_stub.call(jira_site, "GET", "/rest/api/3/myself")
    assert other.status_code == 200
    assert "X-RateLimit-Remaining" not in other.headers


def test_allowed_rate_latency(installed_stub, jira_site):
    _allow(jira_site, rate_per_sec=100, latency_ms=200)
    started = time.monotonic()
    assert _post_comment(installed_stub, jira_site).status_code == 201
    assert time.monotonic() - started >= 0.2


@pytest.mark.parametrize("rule, fragment", [
    ({}, "rate_per_sec"),
    ({"rate_per_sec": 0}, "rate_per_sec"),
    ({"rate_per_sec": "vite"}, "must be numbers"),
    ({"rate_per_sec": 5, "burst": 0.5}, "burst"),
    ({"rate_per_sec": 5, "latency_ms": -1}, "latency_ms"),
])
def test_allowed_rate_invalid_rule(jira_site, rule, fragment):
    response = jira_site.control("PUT", "/_devsite/faults", json=dict({"mode": "allowed_rate"}, **rule),
                                 expected=(400,))
    assert fragment in str(response)
    assert jira_site.control("GET", "/_devsite/faults") == []
