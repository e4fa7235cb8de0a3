"""The query string hash (qsh) claim of Atlassian Connect JWTs.

canonical request = METHOD "&" path "&" query, and qsh = hex SHA-256 of it. The rules, checked
against the signed URLs Atlassian published for its JWT libraries:

- path: as sent on the wire (percent-encoding untouched), relative to the receiver's base path,
  "/" when empty, one trailing "/" dropped, and every "&" written as "%26";
- query: each parameter split on its first "=", "+" read as a space and percent-decoded; `jwt`
  dropped; the decoded values of a repeated name sorted, then each value percent-encoded per
  RFC 3986 (upper-case hex) and joined with ","; parameters sorted by encoded name; blank values kept.
"""

import hashlib
from urllib.parse import quote, unquote_plus, urlsplit

# Tokens that Jira issues for calls from the iframe's own script (AP.context.getToken) carry this
# literal instead of a hash; they are valid only where no particular request is being signed.
CONTEXT_QSH = "context-qsh"


def _encode(text):
    return quote(text, safe="-._~", encoding="utf-8")


def canonical_path(raw_path, base_path=""):
    base_path = base_path.rstrip("/")
    path = raw_path or "/"
    if base_path and (path == base_path or path.startswith(base_path + "/")):
        path = path[len(base_path):]
    if not path.startswith("/"):
        path = "/" + path
    if len(path) > 1 and path.endswith("/"):
        path = path[:-1]
    return path.replace("&", "%26")


def canonical_query(raw_query):
    values_by_name = {}
    for item in (raw_query or "").split("&"):
        if not item:
            continue
        name, _, value = item.partition("=")
        name = unquote_plus(name)
        if name == "jwt":
            continue
        values_by_name.setdefault(name, []).append(unquote_plus(value))
    encoded = sorted(
        (_encode(name), ",".join(_encode(value) for value in sorted(values)))
        for name, values in values_by_name.items()
    )
    return "&".join(f"{name}={values}" for name, values in encoded)


def canonical_request(method, raw_path, raw_query, base_path=""):
    return "&".join((method.upper(), canonical_path(raw_path, base_path), canonical_query(raw_query)))


def qsh_of(method, raw_path, raw_query, base_path=""):
    canonical = canonical_request(method, raw_path, raw_query, base_path)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def qsh_of_url(method, url, base_url=""):
    """qsh of a request to the absolute or relative `url`, relative to the path of `base_url`."""
    parts = urlsplit(url)
    return qsh_of(method, parts.path, parts.query, urlsplit(base_url).path)
