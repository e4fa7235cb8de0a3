"""The Connect descriptor, served at /atlassian-connect.json.

The top-level atlassian-connect.json contains everything except the app key and the base URL; both
come from the configuration (ADDON_KEY, ADDON_BASE_URL), so one file serves every deployment.
Module, lifecycle and webhook URLs in it are relative to `baseUrl`, which may carry a path prefix.
"""

import json
import logging
from pathlib import Path

from flask import Blueprint, current_app

TEMPLATE_PATH = Path(__file__).resolve().parent.parent.parent / "atlassian-connect.json"

# Key under app.extensions holding the serialised descriptor once built.
_CACHE_KEY = "connect_descriptor"

log = logging.getLogger(__name__)

bp = Blueprint("descriptor", __name__)


def build_descriptor(config, template_path=TEMPLATE_PATH):
    """Return the descriptor dict for `config`: the template with `key` and `baseUrl` filled in."""
    with open(template_path, encoding="utf-8") as template_file:
        template = json.load(template_file)
    template.pop("key", None)
    template.pop("baseUrl", None)

    # Key and baseUrl first, so that they open the served JSON.
    return {"key": config["ADDON_KEY"], "baseUrl": config["ADDON_BASE_URL"], **template}


def descriptor_json(app):
    """Return the serialised descriptor of `app`, built on the first call and cached on the app."""
    cached = app.extensions.get(_CACHE_KEY)
    if cached is None:
        descriptor = build_descriptor(app.config)
        cached = json.dumps(descriptor, ensure_ascii=False, indent=2)
        # Two threads may both build it, which is harmless because they build the same text.
        app.extensions[_CACHE_KEY] = cached
        log.info("Connect descriptor built for key %s at base URL %s",
                 descriptor["key"], descriptor["baseUrl"])
    return cached


@bp.get("/atlassian-connect.json")
def serve_descriptor():
    # Public by design: Jira fetches it without credentials before any shared secret exists.
    return current_app.response_class(descriptor_json(current_app), mimetype="application/json")
