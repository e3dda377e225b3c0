"""Masking of credentials and account, routing and card numbers, in text and in every log.

:func:`redact` masks, in any text:

- partner tokens as Plaid forms them (``access-sandbox-<id>``, ``public-production-<id>``,
  ``processor-development-<id>``): ``access-sandbox-****``;
- every secret registered at run time with :func:`register_secret` (the partner secret, the
  access tokens this process decrypted): ``****``;
- card-like numbers: 13-19 digits, contiguous or in the usual groups (``4111 1111 1111 1111``,
  ``4111-1111-1111-1111``, ``3782 822463 10005``), Luhn-valid: ``****1111``;
- US routing numbers (9 digits passing the ABA checksum) and bank account numbers (runs of
  10-17 digits, or 6-17 digits right after acct/account/a/c/routing/aba/iban/chk/sav...):
  ``****`` and the last 4 digits.

Decimals (``1234567890.12``), dates and times, UUIDs, hex and base62 ids (digits touching
letters) and the raw layout's ``update=0000000001`` are left alone. Masking is a pure
function of the text (plus the registered secrets), so landing the same partner page twice
gives the same bytes; pass ``registered=False`` where that must hold across processes.

:func:`install` makes every log record of the process masked: a log record factory renders
``msg % args`` when the record is made and, if anything in it needs masking, replaces both
with the masked text (likewise the formatted traceback and the stack), which covers Python,
Dagster and the Spark Connect client alike. Dagster's event log stores
a record's rendered message (``context.log`` calls included) and the structured event Dagster
attached to it; the records the factory makes give that event out with every string masked
(a failure's error message and stack trace, metadata). A :class:`RedactingFilter` on the root
logger's handlers catches records made before the install or changed after they were made.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable
from typing import Any

MASK = "****"
MIN_SECRET = 8  # shorter values are not secrets worth the name, and masking them mangles text

_TOKEN = (r"\b(?P<kind>access|public|processor)-(?P<env>sandbox|development|production)-"
          r"[0-9a-z][0-9a-z-]*")
_KEYWORD = (r"(?<!\w)(?<![0-9a-f]{4}-)"
            r"(?P<kw>(?:accounts?|acct|a/c|routing|aba|iban|chk|checking|sav|savings)"
            r"(?:[\s:#.\-]*(?:no\.?|nbr|num(?:ber)?))?[\s:#.\-]*)(?P<num>\d{6,17})(?!\w|\.\d)")
# Every number starts with a digit that is not inside a word or a decimal, nor the last group
# of a UUID ("hhhh-" before it), nor the raw layout's zero-padded update=0000000001. Then:
# a card in the usual groups, 4-4-4-(1..7) or 4-6-(4..5) with one separator kind throughout
# (not starting right after "digit-separator", a date or another group), or a run of digits.
_NUMBER = (r"\d(?<![\w.]\d)(?<![0-9a-f]{4}-\d)(?<!update=\d)"
           r"(?:(?<!\d[ -]\d)(?P<grouped>\d{3}(?P<s1>[ -])\d{4}(?P=s1)\d{4}(?P=s1)\d{1,7}"
           r"|\d{3}(?P<s2>[ -])\d{6}(?P=s2)\d{4,5})|\d{8,18})(?!\w|\.\d)")
_TOKENS = re.compile(_TOKEN, re.IGNORECASE)
_KEYWORDS = re.compile(_KEYWORD, re.IGNORECASE)
_NUMBERS = re.compile(_NUMBER, re.IGNORECASE)
# quick checks, so that most text skips the patterns: a token has "-<environment>-", every
# number 4 digits in a row, and a number after a keyword 6
_TOKEN_HINT = re.compile(r"-(?:sandbox|development|production)-", re.IGNORECASE)
_DIGITS4 = re.compile(r"\d{4}")
_DIGITS6 = re.compile(r"\d{6}")
_FORMATTER = logging.Formatter()

_lock = threading.Lock()
_secrets: set[str] = set()
_secret_re: re.Pattern[str] | None = None


def luhn_valid(digits: str) -> bool:
    """The Luhn checksum of card numbers."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def aba_valid(digits: str) -> bool:
    """The checksum of a 9-digit US routing (ABA) number."""
    if len(digits) != 9 or not digits.isdigit():
        return False
    d = [ord(c) - 48 for c in digits]
    return (3 * (d[0] + d[3] + d[6]) + 7 * (d[1] + d[4] + d[7]) + d[2] + d[5] + d[8]) % 10 == 0


def _last4(digits: str) -> str:
    return MASK + digits[-4:]


def _token(m: re.Match[str]) -> str:
    return f"{m.group('kind')}-{m.group('env')}-{MASK}"


def _keyword(m: re.Match[str]) -> str:
    return m.group("kw") + _last4(m.group("num"))


def _number(m: re.Match[str]) -> str:
    text = m.group(0)
    if m.group("grouped"):
        digits = re.sub(r"\D", "", text)
        return _last4(digits) if luhn_valid(digits) else text
    if len(text) == 9:
        return _last4(text) if aba_valid(text) else text
    if len(text) <= 17 or luhn_valid(text):  # an account number, or a card's 18-19 digits
        return _last4(text)
    return text


def redact(text: str, *, registered: bool = True) -> str:
    """``text`` with tokens, registered secrets and account/routing/card numbers masked.

    ``registered=False`` skips the secrets registered in this process: the result then
    depends on the text alone (raw pages must land byte-identical from any process).
    """
    if not isinstance(text, str) or not text:
        return text
    pattern = _secret_re
    if registered and pattern is not None:
        text = pattern.sub(MASK, text)
    if _TOKEN_HINT.search(text):
        text = _TOKENS.sub(_token, text)
    if not _DIGITS4.search(text):
        return text
    if _DIGITS6.search(text):
        text = _KEYWORDS.sub(_keyword, text)
    return _NUMBERS.sub(_number, text)


def redact_bytes(body: bytes) -> bytes:
    """:func:`redact` (without registered secrets) over bytes taken as UTF-8 text; bytes that
    are not UTF-8 pass through unchanged."""
    text = body.decode("utf-8", errors="surrogateescape")
    masked = redact(text, registered=False)
    return body if masked == text else masked.encode("utf-8", errors="surrogateescape")


def register_secret(value: str) -> str:
    """Mask ``value`` wherever :func:`redact` sees it from now on; returns ``value``.

    Values shorter than :data:`MIN_SECRET` are ignored (the embedded partner's placeholder
    secret is the word ``sandbox``), as are partner tokens, which are masked by shape.
    """
    global _secret_re
    if not isinstance(value, str) or len(value.strip()) < MIN_SECRET:
        return value
    if value in _secrets or _TOKENS.fullmatch(value):
        return value
    with _lock:
        if value not in _secrets:
            _secrets.add(value)
            ordered = sorted(_secrets, key=len, reverse=True)  # the longest wins an overlap
            _secret_re = re.compile("|".join(map(re.escape, ordered)))
    return value


def _clean(record: logging.LogRecord) -> None:
    """Render and mask a record's message, traceback and stack in place."""
    try:
        try:
            text = record.getMessage()
        except Exception:  # noqa: BLE001 - a bad format string must not get past unmasked
            text = f"{record.msg!s} (arguments: {record.args!r})"
        masked = redact(text)
        if masked != text:  # else untouched: formatters may read args (uvicorn's do)
            record.msg, record.args = masked, ()
        if record.exc_info and record.exc_info[0] is not None:
            if not record.exc_text:
                record.exc_text = _FORMATTER.formatException(record.exc_info)
            masked = redact(record.exc_text)
            if masked != record.exc_text:  # the exception itself would print it unmasked
                record.exc_text, record.exc_info = masked, None
        elif record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
    except Exception:  # noqa: BLE001 - logging must go on; the message does not
        record.msg, record.args = "<log message withheld: it could not be masked>", ()
        record.exc_info = record.exc_text = record.stack_info = None


_EVENT = "dagster_event"  # where Dagster's log manager attaches a structured event
_MASKED_EVENT = "finlake_masked_event"


def _masked_strings(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, list):
        return [_masked_strings(v) for v in value]
    if isinstance(value, dict):
        return {k: _masked_strings(v) for k, v in value.items()}
    return value


def masked_dagster_event(event: Any) -> Any:
    """A Dagster event with every string in it masked (error messages and stack traces of
    failures, metadata); the same object when nothing changes, or if it cannot be copied."""
    try:
        from dagster._serdes import pack_value, unpack_value

        packed = pack_value(event)
        masked = _masked_strings(packed)
        return event if masked == packed else unpack_value(masked)
    except Exception:  # noqa: BLE001 - never break a run over its log
        return event


class _Record(logging.LogRecord):
    """A log record whose Dagster event reads masked. Dagster attaches the event after the
    record is made (as ``extra``) and its event log stores what the record gives it."""

    @property
    def dagster_event(self) -> Any:
        try:
            event = self.__dict__[_EVENT]
        except KeyError:
            raise AttributeError(_EVENT) from None
        cached = self.__dict__.get(_MASKED_EVENT)
        if cached is None or cached[0] is not event:
            cached = self.__dict__[_MASKED_EVENT] = (event, masked_dagster_event(event))
        return cached[1]

    @dagster_event.setter
    def dagster_event(self, value: Any) -> None:
        self.__dict__[_EVENT] = value


class RedactingFilter(logging.Filter):
    """Masks every record that passes (for handlers: records made before :func:`install`,
    or changed after they were made, as Dagster does to its own)."""

    def filter(self, record: logging.LogRecord) -> bool:
        _clean(record)
        return True


def install() -> None:
    """Mask every log record of the process from now on (idempotent)."""
    with _lock:
        current = logging.getLogRecordFactory()
        if not getattr(current, "finlake_redacting", False):
            # the default factory is LogRecord itself: make ours instead (Dagster events too)
            made = _Record if current is logging.LogRecord else current

            def factory(*args: Any, _made: Callable[..., logging.LogRecord] = made,
                        **kwargs: Any) -> logging.LogRecord:
                record = _made(*args, **kwargs)
                _clean(record)
                return record

            factory.finlake_redacting = True  # type: ignore[attr-defined]
            logging.setLogRecordFactory(factory)
        for handler in logging.getLogger().handlers:
            if not any(isinstance(f, RedactingFilter) for f in handler.filters):
                handler.addFilter(RedactingFilter())
