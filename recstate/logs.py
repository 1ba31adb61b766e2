"""recstate's loggers: ``recstate.runtime`` (what the runtime catches: a receiver or a
machine callback that raised), ``recstate.adapters.<vendor>`` (an adapter's own trouble),
under the ``recstate`` logger, following the standard library's conventions (the library
adds no handler; the application configures logging).

Records carry ``exc_info`` (the traceback) and, as ``extra``, ``session`` (the key),
``vendor`` and ``event`` (the trigger's name). Nothing is logged at INFO or above on the hot
path: a handling that goes as documented logs nothing. Every message and traceback is
redacted (:func:`recstate.trace.redact_message`) before any handler sees it.
"""

from __future__ import annotations

import logging

from recstate.trace import redact_message

__all__ = ["RedactingFilter", "get_logger", "hide"]

#: Secret values an adapter holds (an API key, an AppSecret), written as ``***`` wherever they
#: appear in a log record, even outside a ``key=value`` pair (an exception quoting them).
_hidden: set[str] = set()


def hide(secret: str) -> None:
    """Keep ``secret`` (4 characters or more) out of every recstate log record."""
    if isinstance(secret, str) and len(secret) >= 4:
        _hidden.add(secret)


def _redact(text: str) -> str:
    text = redact_message(text)
    for secret in _hidden:
        if secret in text:
            text = text.replace(secret, "***")
    return text


class RedactingFilter(logging.Filter):
    """Writes secret-named values in a record's message and traceback as ``***``."""

    _formatter = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = _redact(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        if record.exc_info and not record.exc_text:
            record.exc_text = _redact(self._formatter.formatException(record.exc_info))
        return True


_FILTER = RedactingFilter()

# The standard library's convention for a library: a NullHandler on its top logger, so that
# nothing reaches stderr through logging's last resort unless the application configures
# logging (the CLI's own messages go to stderr itself).
logging.getLogger("recstate").addHandler(logging.NullHandler())


def get_logger(name: str) -> logging.Logger:
    """The logger ``name`` (``recstate.runtime``...), with the redacting filter on it."""
    logger = logging.getLogger(name)
    if _FILTER not in logger.filters:
        logger.addFilter(_FILTER)
    return logger
