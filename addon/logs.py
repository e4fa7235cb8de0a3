"""Logging set-up shared by every entry point."""

import logging
import re

# Iframe URLs carry Jira's token in the `jwt` query parameter; any logged URL must lose it.
_JWT_IN_QUERY = re.compile(r"([?&]jwt=)[^&\s\"]+")


class RedactTokensFilter(logging.Filter):
    """Replace `jwt=<token>` in a log record's rendered message with `jwt=[redacted]`."""

    def filter(self, record):
        message = record.getMessage()
        redacted = _JWT_IN_QUERY.sub(r"\1[redacted]", message)
        if redacted != message:
            record.msg = redacted
            record.args = None
        return True


def install_redaction():
    """Attach the filter to the loggers that print request lines (werkzeug's development server)."""
    for name in ("werkzeug",):
        logger = logging.getLogger(name)
        if not any(isinstance(existing, RedactTokensFilter) for existing in logger.filters):
            logger.addFilter(RedactTokensFilter())
