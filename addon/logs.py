"""Logging set-up shared by every entry point."""

import logging
import re

# Iframe URLs carry Jira's token in the `jwt` query parameter; any logged URL must lose it.
_JWT_IN_QUERY = re.compile(r"([?&]jwt=)[^&\s\"]+")
# Forge sends its invocation token as `Bearer <token>`, and its OAuth tokens are JWTs too.
_BEARER = re.compile(r"(\bBearer\s+)[^\s\"',;]+", re.IGNORECASE)
_BARE_JWT = re.compile(r"\beyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")

# Loggers whose records the filter cleans. A logger's filters see only the records logged to
# that very logger, not those of its children, so each module that handles tokens is listed.
REDACTED_LOGGERS = (
    "werkzeug",
    "addon.atlassian.forge.fit",
    "addon.atlassian.forge.keys",
    "addon.atlassian.forge.routes",
    "addon.atlassian.forge.tenants",
)


def redact_tokens(message):
    """Return `message` with every `jwt=` parameter, bearer token and bare JWT replaced by [redacted]."""
    message = _JWT_IN_QUERY.sub(r"\1[redacted]", message)
    message = _BEARER.sub(r"\1[redacted]", message)
    return _BARE_JWT.sub("[redacted]", message)


class RedactTokensFilter(logging.Filter):
    """Replace the tokens in a log record's rendered message with `[redacted]`."""

    def filter(self, record):
        message = record.getMessage()
        redacted = redact_tokens(message)
        if redacted != message:
            record.msg = redacted
            record.args = None
        return True


def install_redaction():
    """Attach the filter to the loggers that print request lines or handle tokens."""
    for name in REDACTED_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(existing, RedactTokensFilter) for existing in logger.filters):
            logger.addFilter(RedactTokensFilter())
