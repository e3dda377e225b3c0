"""Tags and notes people put on their transactions: what a tag or a note may be (pure).

A tag is a short lower-case label (``holiday-2026``, ``business``): letters, digits and
``- _ . +``; spaces inside one become ``-``, and a comma separates two tags, so
``"Holiday 2026, Business"`` is the two tags ``holiday-2026`` and ``business``. A note is
free text kept as typed (shown as text everywhere), with line breaks and tabs but no other
control character. Anything else is refused with an :class:`AnnotationError` that says what
is wrong and what to do; nothing is written then.

The lake-facing writes are in pipelines/corrections/annotate.py; the tables in
lake/tables_notes.py.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

MAX_TAGS = 20  # per transaction
MAX_TAG_CHARS = 40
MAX_NOTE_CHARS = 2_000
_TAG_OK = re.compile(r"[^\W_]|[-_.+]")  # a letter or digit (any script), or - _ . +
_SPACES = re.compile(r"\s+")
# Bidirectional overrides and isolates: they make text read differently from what it holds.
_BIDI = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


class AnnotationError(ValueError):
    """A tag or note that is refused, with what to do instead."""


def _shown(text: str, limit: int = 30) -> str:
    """``text`` short enough to quote back in a message."""
    text = "".join(ch if ch.isprintable() else "?" for ch in text)
    return repr(text if len(text) <= limit else text[:limit] + "…")


def _control(text: str, allowed: str = "") -> str | None:
    """The first control (or bidirectional-override) character in ``text``, as U+XXXX."""
    for ch in text:
        if ch in allowed:
            continue
        if unicodedata.category(ch) == "Cc" or ch in _BIDI:
            return f"U+{ord(ch):04X}"
    return None


def normalise_tag(text: str) -> str:
    """One tag as stored: lower-case, trimmed, inner spaces as ``-``. Raises
    :class:`AnnotationError` for an empty or too long tag or one with other characters."""
    if not isinstance(text, str):
        raise AnnotationError("A tag is text, e.g. holiday-2026.")
    text = text.strip()
    bad = _control(text)
    if bad:
        raise AnnotationError(f"The tag {_shown(text)} holds a control character ({bad}): "
                              "type it again without it.")
    tag = _SPACES.sub("-", unicodedata.normalize("NFC", text).strip()).casefold()
    if not tag:
        raise AnnotationError("A tag needs at least one letter or digit, e.g. business.")
    wrong = sorted({ch for ch in tag if not _TAG_OK.fullmatch(ch)})
    if wrong:
        raise AnnotationError(
            f"The tag {_shown(text)} holds {' '.join(repr(c) for c in wrong)}: a tag may "
            "hold only letters, digits and - _ . + (spaces become -, a comma separates tags).")
    if len(tag) > MAX_TAG_CHARS:
        raise AnnotationError(f"The tag {_shown(text)} has {len(tag)} characters: at most "
                              f"{MAX_TAG_CHARS}. Use a shorter label (a note can say more).")
    return tag


def parse_tags(texts: str | Iterable[str]) -> list[str]:
    """Tags as typed (one text, or several) -> normalised tags, in order, without repeats;
    a comma inside a text separates two tags. Empty pieces (``"a,,b"``, a trailing comma)
    are skipped, but at least one tag must be given."""
    pieces = [texts] if isinstance(texts, str) else list(texts)
    out: list[str] = []
    for piece in pieces:
        if not isinstance(piece, str):
            raise AnnotationError("A tag is text, e.g. holiday-2026.")
        for part in piece.split(","):
            if part.strip():
                tag = normalise_tag(part)
                if tag not in out:
                    out.append(tag)
    if not out:
        raise AnnotationError("No tag given: type one or more, separated by commas, "
                              "e.g. holiday-2026, business.")
    return out


def tags_after(current: Iterable[str], add: Iterable[str] = (), remove: Iterable[str] = ()
               ) -> list[str]:
    """The tags a transaction has after adding ``add`` and removing ``remove`` (both
    normalised already), sorted. More than :data:`MAX_TAGS` is refused."""
    tags = (set(current) | set(add)) - set(remove)
    if len(tags) > MAX_TAGS:
        raise AnnotationError(f"A transaction can have at most {MAX_TAGS} tags; this would "
                              f"give it {len(tags)}. Remove some first: nothing was changed.")
    return sorted(tags)


def normalise_note(text: str) -> str:
    """A note as stored: line breaks as ``\\n``, trimmed. Raises :class:`AnnotationError` for
    an empty or too long note or one with a control character (tabs and line breaks are
    fine)."""
    if not isinstance(text, str):
        raise AnnotationError("A note is text.")
    note = unicodedata.normalize("NFC", text.replace("\r\n", "\n").replace("\r", "\n")).strip()
    if not note:
        raise AnnotationError("The note is empty: type some text, or clear the note instead.")
    if len(note) > MAX_NOTE_CHARS:
        raise AnnotationError(f"The note has {len(note):,} characters: at most "
                              f"{MAX_NOTE_CHARS:,}. Shorten it: nothing was changed.")
    bad = _control(note, allowed="\n\t")
    if bad:
        raise AnnotationError(f"The note holds a control character ({bad}): type it again "
                              "without it. Nothing was changed.")
    return note
