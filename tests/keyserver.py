"""A stand-in for Atlassian's install-key server, served on loopback, and RS256 install tokens.

Keys are served as PEM text at `<url>/_devsite/install-keys/<kid>`, the path the local Jira site
uses, so `addon_overrides(database_url, key_server, ...)` points the add-on at it. The server can
hold its responses until released (the timeout case), returns 500 for the kids in `failing`, and
records every requested path.
"""

import threading
import time
from functools import lru_cache

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from addon.atlassian.qsh import qsh_of

from .support import free_port

KEYS_PATH = "/_devsite/install-keys/"


@lru_cache(maxsize=None)
def rsa_key(name):
    """Return a 2048-bit RSA private key, generated once per name and test session."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def public_pem(private_key):
    return private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


class KeyServer:
    """Serves public keys by kid on loopback until `stop()`."""

    def __init__(self):
        self.keys = {}
        self.failing = set()
        self.requested = []
        self.stall = threading.Event()
        self._release = threading.Event()
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.keys_url = self.url + KEYS_PATH
        self._server = make_server("127.0.0.1", self.port, self._wsgi, threaded=True)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def add(self, kid, private_key):
        self.keys[kid] = public_pem(private_key)

    def _wsgi(self, environ, start_response):
        request = Request(environ)
        self.requested.append(request.path)
        if self.stall.is_set():
            # Held until the test ends, far longer than the add-on's key timeout.
            self._release.wait(timeout=30)
        kid = request.path[len(KEYS_PATH):] if request.path.startswith(KEYS_PATH) else None
        if kid in self.failing:
            return Response("key store unavailable\n", status=500, mimetype="text/plain")(environ, start_response)
        if kid not in self.keys:
            return Response("no such key\n", status=404, mimetype="text/plain")(environ, start_response)
        return Response(self.keys[kid], mimetype="text/plain")(environ, start_response)

    def stop(self):
        self._release.set()
        self._server.shutdown()
        self._thread.join(timeout=10)


def install_claims(client_key, audience, path, method="POST", lifetime_secs=180, issued_at=None, **extra):
    """Claims of a lifecycle token as Jira signs them: iss, aud, qsh over `path`, iat, exp."""
    issued_at = int(time.time()) if issued_at is None else issued_at
    claims = {
        "iss": client_key,
        "aud": audience,
        "qsh": qsh_of(method, path, ""),
        "iat": issued_at,
        "exp": issued_at + lifetime_secs,
        "context": {},
    }
    claims.update(extra)
    return claims


def sign_install(claims, private_key, kid="kid-1", drop=()):
    """Sign `claims` with RS256 and `kid`, leaving out the claims named in `drop`."""
    claims = {name: value for name, value in claims.items() if name not in drop}
    headers = {"kid": kid} if kid is not None else {}
    return jwt.encode(claims, private_key, algorithm="RS256", headers=headers)
