"""The public keys that sign Forge Invocation Tokens, fetched from a JWKS URL and cached.

A key set is kept for as long as its response's `Cache-Control: max-age` allows, bounded by
MIN_CACHE_SECS and MAX_CACHE_SECS. A token whose `kid` is not in a fresh set makes one early
refetch (Atlassian has rotated its key), and then no other such refetch of that URL for
UNKNOWN_KID_REFETCH_COOLDOWN_SECS, so tokens with made-up kids cannot flood the key server.
"""

import json
import logging
import re
import threading
import time
from dataclasses import dataclass, field

import jwt
import requests

log = logging.getLogger(__name__)

MIN_CACHE_SECS = 60
MAX_CACHE_SECS = 24 * 3600
# Lifetime of a key set served without max-age.
DEFAULT_CACHE_SECS = 600
UNKNOWN_KID_REFETCH_COOLDOWN_SECS = 30
# A JWKS of a few RSA keys is a few kilobytes; a larger body is not one.
MAX_JWKS_BYTES = 64 * 1024

_MAX_AGE = re.compile(r"(?:^|[,\s])max-age\s*=\s*\"?(\d+)", re.IGNORECASE)


class KeySetUnavailable(Exception):
    """The key set could not be fetched or read. The message names the reason, without internals."""


@dataclass
class _CachedKeySet:
    keys: dict = field(default_factory=dict)  # kid -> jwt.PyJWK
    expires_at: float = 0.0
    last_unknown_kid_refetch_at: float | None = None


class ForgeKeySets:
    """The key sets of one app, per JWKS URL. `clock` (monotonic seconds) is replaceable in tests."""

    def __init__(self, timeout_secs, clock=time.monotonic):
        self.timeout_secs = timeout_secs
        self.clock = clock
        self.fetch_count = 0
        self._sets = {}
        self._lock = threading.Lock()

    def key_for(self, url, kid):
        """Return the verifying key of `kid` at `url`, or None if the key set has no such kid.

        Raises KeySetUnavailable when the set must be fetched and cannot be.
        """
        # One lock for every URL: fetches are rare, and this keeps concurrent first calls to a
        # single fetch.
        with self._lock:
            now = self.clock()
            cached = self._sets.get(url)
            fetched_now = cached is None or cached.expires_at <= now
            if fetched_now:
                cached = self._fetch(url, previous=cached)
            if kid in cached.keys:
                return cached.keys[kid].key
            if fetched_now:
                return None

            last = cached.last_unknown_kid_refetch_at
            if last is not None and now - last < UNKNOWN_KID_REFETCH_COOLDOWN_SECS:
                return None
            log.info("Forge key id %s is not in the cached key set of %s; fetching it again", kid, url)
            cached = self._fetch(url, previous=cached)
            cached.last_unknown_kid_refetch_at = now
            key = cached.keys.get(kid)
            return key.key if key is not None else None

    def _fetch(self, url, previous):
        self.fetch_count += 1
        try:
            with requests.get(url, timeout=self.timeout_secs, allow_redirects=False, stream=True) as response:
                body = b""
                for chunk in response.iter_content(chunk_size=8192):
                    body += chunk
                    if len(body) > MAX_JWKS_BYTES:
                        break
        except requests.RequestException as error:
            log.warning("Forge key set fetch failed: %s: %s", url, error.__class__.__name__)
            raise KeySetUnavailable("fetching the Forge key set failed or timed out") from None

        if response.status_code != 200:
            log.warning("Forge key set fetch returned HTTP %s: %s", response.status_code, url)
            raise KeySetUnavailable(f"the Forge key set URL returned HTTP {response.status_code}")
        if len(body) > MAX_JWKS_BYTES:
            log.warning("Forge key set at %s is larger than %s bytes", url, MAX_JWKS_BYTES)
            raise KeySetUnavailable("the Forge key set URL returned an invalid key set")

        keys = _rsa_keys(body, url)
        cached = _CachedKeySet(keys=keys, expires_at=self.clock() + _cache_secs(response.headers))
        if previous is not None:
            cached.last_unknown_kid_refetch_at = previous.last_unknown_kid_refetch_at
        self._sets[url] = cached
        log.info("Fetched the Forge key set %s: key ids %s", url, ", ".join(sorted(keys)) or "none")
        return cached


def _rsa_keys(body, url):
    try:
        document = json.loads(body)
    except ValueError:
        log.warning("Forge key set at %s is not JSON", url)
        raise KeySetUnavailable("the Forge key set URL returned an invalid key set") from None
    entries = document.get("keys") if isinstance(document, dict) else None
    if not isinstance(entries, list):
        log.warning("Forge key set at %s has no keys list", url)
        raise KeySetUnavailable("the Forge key set URL returned an invalid key set")

    keys = {}
    for entry in entries:
        # Only RSA signing keys with a kid can verify an RS256 token named by its kid.
        if not isinstance(entry, dict) or entry.get("kty") != "RSA" or not isinstance(entry.get("kid"), str):
            continue
        if entry.get("use", "sig") != "sig":
            continue
        try:
            keys[entry["kid"]] = jwt.PyJWK(entry, algorithm="RS256")
        except jwt.PyJWTError:
            log.warning("Skipped unreadable key %s in the Forge key set at %s", entry["kid"], url)
    return keys


def _cache_secs(headers):
    cache_control = headers.get("Cache-Control", "")
    if "no-store" in cache_control.lower() or "no-cache" in cache_control.lower():
        return MIN_CACHE_SECS
    match = _MAX_AGE.search(cache_control)
    if match is None:
        return DEFAULT_CACHE_SECS
    return min(max(int(match.group(1)), MIN_CACHE_SECS), MAX_CACHE_SECS)
