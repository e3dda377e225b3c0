"""Text from people, partners and settings shown as typed inside Streamlit's markdown.

Streamlit renders markdown in ``st.markdown``, alerts, captions, titles, button labels and
progress texts, and adds its own syntax on top of CommonMark: GitHub's tables, strikethrough
and bare ``www.``/``http://``/e-mail links, ``$math$``, ``:emoji:`` and ``:material/icon:``
shortcodes, ``:streamlit:`` (an image) and directives such as ``:red[text]`` or ``:help[x]``.
A category, merchant, description, account name or echoed input could otherwise become a
link, an image, HTML (pages that allow it) or a heading.

Backslash escapes stop CommonMark's own syntax, but Streamlit finds shortcodes and bare links
in the text *after* unescaping, so those are broken with an invisible word joiner (after
``:`` and ``@``, inside ``www.``, and inside ``->``, ``--`` and the other pairs Streamlit
turns into arrows and dashes) instead. Line breaks become spaces: a value stays
inline, so it cannot start a list, quote, rule or code block.
"""

from __future__ import annotations

import re
from typing import Any

JOINER = "\u2060"  # WORD JOINER: zero width, not a space, not a word character
_LINE_BREAKS = re.compile(r"\s*[\n\r\v\f\x1c-\x1e\x85\u2028\u2029]\s*")
# Always escaped: emphasis, code, links and images, HTML, math, strikethrough, tables,
# headings, and the backslash itself.
_ESCAPED = re.compile(r"([\\`*_\[\]<>$~|#])")
_ENTITY = re.compile(r"&(?=[#A-Za-z0-9])")  # &amp; &#58; ... (a lone "&" is just text)
# a list item ("- x", "+ x", "1. x", "2) x") or a rule ("---", "- - -") at the start
_LINE_START = re.compile(r"^(?:\d{1,9}[.)]|[-+])(?=\s|$)|^-(?=[ \t]*-[ \t]*-)")
_SHORTCODE = re.compile(r"([:@])(?=\S)")  # :emoji: :material/x: :red[x] http:// a@b.com
_WWW = re.compile(r"(?<![\w.])(www)(?=\.)", re.IGNORECASE)
_ARROWS = re.compile(r"(?<=[-<>~])(?=[->=])")  # Streamlit's -> <- <-> -- >= <= ~= glyphs


def plain(value: Any) -> str:
    """``value`` as text that Streamlit's markdown shows exactly as written (None: "")."""
    if value is None:
        return ""
    text = _LINE_BREAKS.sub(" ", str(value)).strip()
    text = _ARROWS.sub(JOINER, text)
    text = _ESCAPED.sub(r"\\\1", text)
    text = _ENTITY.sub(r"\\&", text)
    text = _LINE_START.sub(lambda m: m[0][:-1] + "\\" + m[0][-1], text)
    text = _SHORTCODE.sub(r"\1" + JOINER, text)
    return _WWW.sub(r"\1" + JOINER, text)
