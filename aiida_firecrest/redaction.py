"""No credential in a log: bearer tokens, client secrets and presigned URLs' signatures are redacted from the
records of this plugin's loggers and of the libraries it talks through (``httpx``, ``httpcore``,
``firecrest``), at every level.

``httpx`` logs every request's URL at INFO, a presigned object-storage URL with its signature (a short-lived
credential to that object); a DEBUG log of ``httpcore`` or a traceback may carry a header or an answer.
:class:`RedactingFilter` rewrites a record's message, traceback and stack text with :func:`redact`, which
hides

* what follows ``Bearer``, and the values of ``access_token``, ``refresh_token``, ``id_token``,
  ``client_secret``, ``client_assertion``, ``password``;
* the query string of a URL that carries a signature (``X-Amz-Signature``, ``X-Amz-Credential``,
  ``Signature``, ``X-Goog-Signature``...), and such parameters wherever they appear;
* every value :func:`remember` was told (the client secret and the tokens of this process: the demo's
  tokens are opaque, a JWT pattern would miss them).

:func:`install_log_redaction` installs it once per process (the package does it on import). A filter on a
logger sees only the records logged on that very logger, not those of its children (``httpcore.http11``,
``aiida_firecrest.retries``), and handlers are configured later by whoever runs the plugins: so the filter
runs where every record is made, in the record factory, for the records of those loggers only.
"""

from __future__ import annotations

import collections
import logging
import re
import threading
import traceback
from typing import Any

__all__ = ('NAMESPACES', 'REDACTED', 'RedactingFilter', 'install_log_redaction', 'redact', 'remember')

#: The loggers whose records (theirs and their children's) are redacted.
NAMESPACES = ('aiida_firecrest', 'httpx', 'httpcore', 'firecrest')
REDACTED = '[redacted]'
#: Values shorter than this are not remembered (they would redact ordinary words).
MIN_REMEMBERED_LENGTH = 8
#: The most remembered values (tokens are renewed; the oldest are forgotten first).
MAX_REMEMBERED = 256

_SIGNING_PARAMETERS = (
    r'X-Amz-Signature|X-Amz-Credential|X-Amz-Security-Token|X-Goog-Signature|X-Goog-Credential'
    r'|Signature|AWSAccessKeyId|sig|se|sp|sv|token'
)
_BEARER = re.compile(r'(?i)\b(bearer\s+)[^\s\'",;)\]}]+')
_SECRET_FIELDS = re.compile(
    r'(?i)\b((?:access|refresh|id)_token|client_secret|client_assertion|password)'
    r'((?:\\?["\'])?\s*[:=]\s*(?:b?\\?["\'])?)'
    r'[^\s\'"&,;)\]}\\]+'
)
_SIGNED_URL_QUERY = re.compile(r'(?i)(https?://[^\s?#\'"<>]+)\?[^\s#\'"<>]*')
_SIGNING_PARAMETER = re.compile(rf'(?i)(?<![A-Za-z0-9-])((?:{_SIGNING_PARAMETERS})=)[^&\s\'"<>]+')
_SIGNING_PARAMETER_IN_QUERY = re.compile(rf'(?i)(?:^|&)(?:{_SIGNING_PARAMETERS})=')

_remembered: collections.OrderedDict[str, None] = collections.OrderedDict()
_lock = threading.Lock()


def remember(value: str | None) -> None:
    """Redact ``value`` (a secret, a token) wherever it appears in a log record from now on."""
    if not value or len(value) < MIN_REMEMBERED_LENGTH:
        return
    with _lock:
        _remembered[value] = None
        _remembered.move_to_end(value)
        while len(_remembered) > MAX_REMEMBERED:
            _remembered.popitem(last=False)


def _without_signed_query(match: re.Match[str]) -> str:
    query = match.group(0).partition('?')[2]
    if _SIGNING_PARAMETER_IN_QUERY.search(query):
        return f'{match.group(1)}?{REDACTED}'
    return match.group(0)


def redact(text: str) -> str:
    """``text`` without tokens, secrets and presigned URLs' query strings."""
    with _lock:
        values = sorted(_remembered, key=len, reverse=True)
    for value in values:
        if value in text:
            text = text.replace(value, REDACTED)
    text = _SIGNED_URL_QUERY.sub(_without_signed_query, text)
    text = _SIGNING_PARAMETER.sub(rf'\1{REDACTED}', text)
    text = _BEARER.sub(rf'\1{REDACTED}', text)
    return _SECRET_FIELDS.sub(rf'\1\2{REDACTED}', text)


def _concerns(name: str) -> bool:
    return any(name == namespace or name.startswith(namespace + '.') for namespace in NAMESPACES)


class RedactingFilter(logging.Filter):
    """Rewrites a record of :data:`NAMESPACES` without credentials (see the module docstring); drops none.

    The message is formatted once and kept without its arguments; a traceback (``exc_info``) is kept as
    redacted text only when it held something to hide, so that no handler formats the original again.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, '_firecrest_redacted', False) or not _concerns(record.name):
            return True
        try:
            message = record.getMessage()
        except Exception:  # a broken format: logging reports it when it formats, the text stays as it is
            message = str(record.msg)
        record.msg, record.args = redact(message), ()
        if record.exc_info and record.exc_info[0] is not None and not record.exc_text:
            text = ''.join(traceback.format_exception(*record.exc_info)).rstrip('\n')
            safe = redact(text)
            record.exc_text = safe
            if safe != text:
                record.exc_info = None
        elif record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        record._firecrest_redacted = True
        return True


_FILTER = RedactingFilter()
_installed = False


def install_log_redaction() -> None:
    """Redact every record of :data:`NAMESPACES` from now on (once per process; later calls do nothing)."""
    global _installed
    with _lock:
        if _installed:
            return
        _installed = True
        previous = logging.getLogRecordFactory()

        def redacting_factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
            record = previous(*args, **kwargs)
            _FILTER.filter(record)
            return record

        logging.setLogRecordFactory(redacting_factory)
    for name in NAMESPACES:  # also for records made by a factory installed after this one
        logging.getLogger(name).addFilter(_FILTER)
