"""The chat's file routes called from a Custom UI page through `requestRemote`.

`invokeRemote` carries a JSON body and a JSON response only, so a Custom UI page sends and fetches
files with `requestRemote` from @forge/bridge (7.2.0). The bridge turns a FormData body into JSON,
with each field whose name starts with `file` as a base64 data URL. Atlassian's host page rebuilds
the multipart body and calls the remote itself, and a binary response travels back in base64 to
become the Blob of a fetch Response in the page. The remote receives an ordinary HTTP request with
`Authorization: Bearer <FIT>`, but no `x-forge-oauth-*` token.

Two rules of `requestRemote` differ from `invokeRemote`, and this module applies them to the views
marked `@fit_reusable` (upload and download of attachments, the transcript, the appointment's .ics):

* Atlassian documents that the host caches the FIT of `requestRemote` and sends it again until it
  expires. Such a FIT may therefore be used several times on these routes, until its `exp`. A FIT
  first used on any other route stays single-use everywhere, so an `invokeRemote` token cannot be
  replayed on a file route either.
* The call comes from the browser, from the page of the Atlassian site, so these routes send CORS
  headers, including on the preflight, to the origin of an installed Forge site only.
"""

import hashlib
import logging
from datetime import datetime, timezone
from urllib.parse import urlsplit

from flask import current_app, request
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from .fit import LEEWAY_SECS, _reject, _shown
from .tenants import ForgeInstallation, ForgeSeenToken

log = logging.getLogger(__name__)

# The attribute that @fit_reusable sets on a view; functools.wraps copies it onto the wrappers.
REUSABLE_ATTRIBUTE = "forge_fit_reusable"
# The rows of forge_seen_tokens that mark a FIT as first used on a file route.
_REUSABLE_PREFIX = "reusable:"
CORS_MAX_AGE_SECS = 600
CORS_ALLOWED_METHODS = "GET, POST"
CORS_ALLOWED_HEADERS = "Authorization, Content-Type, Accept, x-b3-traceid, x-b3-spanid"
# The file name of a download is in Content-Disposition, which a cross-origin script cannot read otherwise.
CORS_EXPOSED_HEADERS = "Content-Disposition"


def fit_reusable(view):
    """Mark `view` as a file route that requestRemote calls: its FIT may be reused until it expires.

    Put it under `@require_jwt("context")`, so that the mark reaches the registered view.
    """
    setattr(view, REUSABLE_ATTRIBUTE, True)
    return view


def is_reusable_route():
    """Tell whether the current request goes to a view marked with @fit_reusable."""
    view = current_app.view_functions.get(request.endpoint) if request.endpoint else None
    return bool(getattr(view, REUSABLE_ATTRIBUTE, False))


def record_use(claims):
    """Record a use of the FIT `claims` on a file route; reject a FIT first used on another route."""
    jti = claims["jti"]
    expires_at = datetime.fromtimestamp(claims["exp"] + LEEWAY_SECS, timezone.utc)
    marker = _REUSABLE_PREFIX + hashlib.sha256(jti.encode("utf-8")).hexdigest()
    database = current_app.extensions["database"]

    # Both rows go in one transaction, so a concurrent use of the same FIT either waits for them
    # or finds them both.
    try:
        with database.transaction() as session:
            session.add(ForgeSeenToken(jti=jti, expires_at=expires_at))
            session.flush()
            session.add(ForgeSeenToken(jti=marker, expires_at=expires_at))
        return
    except IntegrityError:
        pass
    if database.session.get(ForgeSeenToken, marker, populate_existing=True) is None:
        _reject(f"The token {_shown(jti)} was already used; Forge sends a new token with each call.")


# -- CORS ---------------------------------------------------------------------------------------

def init_app(app):
    """Add the CORS headers of the file routes to the app's responses."""
    app.after_request(_add_cors_headers)


def _add_cors_headers(response):
    if not current_app.config.get("FORGE_ENABLED") or not is_reusable_route():
        return response
    origin = request.headers.get("Origin")
    response.vary.add("Origin")
    if not origin or not _is_forge_site(origin):
        return response

    response.headers["Access-Control-Allow-Origin"] = origin
    response.headers["Access-Control-Expose-Headers"] = CORS_EXPOSED_HEADERS
    if request.method == "OPTIONS":
        response.headers["Access-Control-Allow-Methods"] = CORS_ALLOWED_METHODS
        response.headers["Access-Control-Allow-Headers"] = CORS_ALLOWED_HEADERS
        response.headers["Access-Control-Max-Age"] = str(CORS_MAX_AGE_SECS)
    return response


def _is_forge_site(origin):
    """Tell whether `origin` is the site URL of an installed Forge installation."""
    parts = urlsplit(origin)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.path not in ("", "/") or len(origin) > 255:
        return False
    normalised = f"{parts.scheme}://{parts.netloc}".lower()
    # NOTE: a help center on a custom domain calls from that domain, which no FIT names. Whether
    # Atlassian's host page sends requestRemote from there, and from which origin, is not documented.
    found = current_app.extensions["database"].session.scalar(
        select(ForgeInstallation.installation_id)
        .where(func.lower(ForgeInstallation.site_url) == normalised, ForgeInstallation.status == "installed")
        .limit(1)
    )
    if found is None:
        log.debug("No CORS headers for origin %s: no installed Forge site has this URL", _shown(origin))
    return found is not None
