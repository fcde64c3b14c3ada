"""What log records may say: secrets masked, and a malformed request told in one line.

A record can carry request data in its message, its arguments, its exception text or its
traceback: aiohttp's parser errors quote the offending header line, key included. SecretFilter
rewrites each record before any handler sees it. ``create_app`` attaches it to the loggers that
can print request data (aiohttp's, asyncio's and playingpack's), so it holds in the CLI and
in-process (``serve()``, the pytest plugin) alike, whatever handlers the host program set up;
the CLI also puts it on its own handlers.
"""

from __future__ import annotations

import logging
import traceback
from types import TracebackType

from aiohttp import http_exceptions

from playingpack.redaction import mask_text

# aiohttp's loggers (aiohttp.log), asyncio's ("Exception in callback ..."), and ours.
GUARDED_LOGGERS = (
    "aiohttp.access",
    "aiohttp.client",
    "aiohttp.internal",
    "aiohttp.server",
    "aiohttp.web",
    "aiohttp.websocket",
    "asyncio",
    "playingpack",
)
# How aiohttp's server logs a request its parser refused.
_REFUSED = "Error handling request from %s"


class SecretFilter(logging.Filter):
    """Masks the secrets of every record it sees; a request aiohttp could not parse becomes a
    one-line warning that names what was wrong but quotes nothing of it."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, http_exceptions.HttpProcessingError) and record.msg == _REFUSED:
            _as_notice(record, error)
        else:
            _mask(record)
        return True


SECRET_FILTER = SecretFilter()


def guard_loggers() -> None:
    """Attach SecretFilter to the loggers that can print request data: GUARDED_LOGGERS and every
    ``playingpack.*`` logger (a filter on a logger does not see its children's records).
    Attaching twice changes nothing."""
    names = [
        *GUARDED_LOGGERS,
        *(name for name in logging.root.manager.loggerDict if name.startswith("playingpack.")),
    ]
    for name in names:
        logger = logging.getLogger(name)
        if SECRET_FILTER not in logger.filters:
            logger.addFilter(SECRET_FILTER)


def _mask(record: logging.LogRecord) -> None:
    try:
        record.msg, record.args = mask_text(record.getMessage()), ()
    except (TypeError, ValueError):
        # A format that does not fit its arguments: the handler reports it, showing both.
        record.msg = mask_text(str(record.msg))
        record.args = tuple(mask_text(str(arg)) for arg in record.args or ())
    if record.exc_info and record.exc_info[0] is not None:
        # Formatters use exc_text when it is set; exc_info is dropped so no handler renders the
        # exception itself.
        record.exc_text = mask_text("".join(traceback.format_exception(*record.exc_info)).rstrip())
        record.exc_info = None
    elif record.exc_text:
        record.exc_text = mask_text(record.exc_text)
    if record.stack_info:
        record.stack_info = mask_text(record.stack_info)


def _as_notice(record: logging.LogRecord, error: http_exceptions.HttpProcessingError) -> None:
    remote = record.args[0] if isinstance(record.args, tuple) and record.args else None
    record.msg = "rejected a malformed request from %s: %s (%d)"
    record.args = (remote if isinstance(remote, str) else "a client", _reason(error), error.code)
    record.exc_info = None
    record.exc_text = None
    record.stack_info = None
    if record.levelno > logging.WARNING:
        record.levelno, record.levelname = logging.WARNING, "WARNING"


def _reason(error: http_exceptions.HttpProcessingError) -> str:
    """What was wrong with a request, in words that quote none of its bytes."""
    if isinstance(error, http_exceptions.LineTooLong):
        limit = error.args[1]
        where = _parser_step(error.__traceback__)
        part = (
            "the request line"
            if "url" in where
            else "a header"
            if "header" in where
            else "the request line or a header"
        )
        return f"{part} is longer than {limit} bytes"
    if isinstance(error, http_exceptions.BadHttpMethod):
        if error.message.startswith("Received HTTPS traffic"):
            return "HTTPS traffic on a plain HTTP port"
        return "the method is not valid"
    if isinstance(error, http_exceptions.InvalidURLError):
        return "the request target is not a valid URL"
    if isinstance(error, http_exceptions.InvalidHeader):
        return "a header is not valid"
    if isinstance(error, http_exceptions.BadStatusLine):
        return "the request line is not valid"
    if isinstance(error, http_exceptions.TransferEncodingError):
        return "the chunked body is not valid"
    if isinstance(error, http_exceptions.PayloadEncodingError):
        return "the body does not match its headers"
    # The C parser's messages are a fixed description ("Invalid header value char"), a colon,
    # a blank line, then the bytes: keep the description only. Other messages may quote bytes.
    description, quoted, _ = error.message.partition(":\n")
    if quoted and description and "\n" not in description and len(description) <= 80:
        word = description.split(" ", 1)[0]
        if word.isalpha() and word[1:].islower():  # "Invalid ...", not "Content-Length ..."
            description = description[0].lower() + description[1:]
        return mask_text(description)
    return "the request is not valid HTTP/1.1"


def _parser_step(tb: TracebackType | None) -> str:
    """The name of the innermost parser function the error passed through."""
    name = ""
    while tb is not None:
        name = tb.tb_frame.f_code.co_name
        tb = tb.tb_next
    return name
