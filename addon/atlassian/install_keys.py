"""Atlassian's public keys for the RS256 tokens of the install and uninstall callbacks.

The key named by a token's `kid` header is served as PEM text at CONNECT_INSTALL_KEYS_URL + kid.
A `kid` is attacker-controlled until the signature is verified, so it is checked against a strict
pattern before any request and URL-quoted in it. Keys are cached per URL (base URL + kid) for the
life of the process, because Atlassian rotates keys by publishing a new kid.
"""

import logging
import re
import threading
from urllib.parse import quote

import requests
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from flask import current_app

log = logging.getLogger(__name__)

# Letters, digits, ".", "_" and "-", starting with a letter or digit. UUID-style kids fit, and no
# "/", "%" or ".." can point the request elsewhere.
KID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")

# A PEM RSA public key of 4096 bits is about 800 bytes, so a larger body is not a key.
MAX_KEY_BYTES = 16 * 1024

_cache = {}
_cache_lock = threading.Lock()


class InstallKeyError(Exception):
    """The public key of a kid could not be obtained. The message names the reason, without internals."""


def is_valid_kid(kid):
    return isinstance(kid, str) and KID_PATTERN.fullmatch(kid) is not None


def public_key_for(kid):
    """Return the RSA public key of `kid`, fetched once per process and URL, or raise InstallKeyError."""
    if not is_valid_kid(kid):
        raise InstallKeyError("the kid header is invalid")
    url = current_app.config["CONNECT_INSTALL_KEYS_URL"].rstrip("/") + "/" + quote(kid, safe="")

    with _cache_lock:
        cached = _cache.get(url)
    if cached is not None:
        return cached

    key = _fetch(url, current_app.config["INSTALL_KEY_TIMEOUT_SECS"])
    with _cache_lock:
        _cache[url] = key
    return key


def _fetch(url, timeout_secs):
    # The key server is trusted only to serve keys: no redirects, a bounded body, a timeout.
    try:
        with requests.get(url, timeout=timeout_secs, allow_redirects=False, stream=True) as response:
            body = b""
            for chunk in response.iter_content(chunk_size=4096):
                body += chunk
                if len(body) > MAX_KEY_BYTES:
                    break
    except requests.Timeout:
        log.warning("Install key fetch timed out after %s s: %s", timeout_secs, url)
        raise InstallKeyError("fetching the install public key timed out") from None
    except requests.RequestException as error:
        # requests raises a timeout while reading the body as ConnectionError, not Timeout.
        log.warning("Install key fetch failed: %s: %s", url, error)
        raise InstallKeyError("fetching the install public key failed or timed out") from None

    if response.status_code != 200:
        log.warning("Install key fetch returned HTTP %s: %s", response.status_code, url)
        raise InstallKeyError(f"the install key server returned HTTP {response.status_code}")
    if len(body) > MAX_KEY_BYTES:
        log.warning("Install key response is larger than %s bytes: %s", MAX_KEY_BYTES, url)
        raise InstallKeyError("the install key server returned an invalid public key")

    try:
        key = load_pem_public_key(body)
    except ValueError:
        log.warning("Install key response is not a PEM public key: %s", url)
        raise InstallKeyError("the install key server returned an invalid public key") from None
    if not isinstance(key, RSAPublicKey):
        log.warning("Install key response is not an RSA public key: %s", url)
        raise InstallKeyError("the install public key is not an RSA key")
    log.info("Fetched install public key %s", url)
    return key

