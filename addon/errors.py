"""The add-on's error taxonomy, rendered per surface.

Every error carries a stable `code`, an HTTP status and one sentence saying what failed and what
to do next. The sentence never contains library internals, tokens or secrets.
"""

from flask import jsonify, render_template, request


class AddonError(Exception):
    code = "error"
    status = 400

    def __init__(self, message, *, code=None, status=None):
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        if status:
            self.status = status

    def to_dict(self):
        return {"error": {"code": self.code, "message": self.message}}


class AuthenticationError(AddonError):
    """The request's JWT is missing or failed a check; the message names the check."""

    code = "authentication_failed"
    status = 401


class PermissionDenied(AddonError):
    code = "forbidden"
    status = 403


class NotFound(AddonError):
    code = "not_found"
    status = 404


class InvalidInput(AddonError):
    code = "invalid_input"
    status = 400


def wants_html():
    """Iframe pages get an HTML error page; every other surface gets JSON."""
    best = request.accept_mimetypes.best_match(["application/json", "text/html"])
    return request.method == "GET" and best == "text/html"


def register_error_handlers(app):
    @app.errorhandler(AddonError)
    def render_addon_error(error):
        if wants_html():
            return render_template("error.html", error=error), error.status
        return jsonify(error.to_dict()), error.status
