"""Text from input files or a server made safe to print: control characters as visible escapes.

Sample names, categories, file names and server messages end up in the
summary, the plan, error messages and CI logs. A terminal obeys what such text
holds: an escape sequence can hide the text before it, write a hyperlink
(OSC 8) or the clipboard (OSC 52), forge lines (a carriage return or newline),
and Unicode bidi overrides can make a line read differently from what it is.
:func:`printable` replaces each such character with a visible escape
(``\\x1b``, ``\\x9b``, ``\\u202e``), so the text stays readable and a reader
sees that something odd was there, and the terminal gets nothing to obey.

What is replaced: C0 controls (tab and newline too: a printed value is one
line), DEL, C1 controls, the bidi embedding, override and isolate marks, and
the Unicode line and paragraph separators. It is applied once, where text is
printed (:mod:`upload_preds.report`, :mod:`upload_preds.cli`), and to the
human-text fields of the JSON report (JSON escapes C0 itself, not the others).
"""

from __future__ import annotations

import re

_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: str) -> str:
    """``text`` with every control or bidi character replaced by a visible escape."""
    if _UNSAFE.search(text) is None:
        return text  # the common case: nothing to copy
    return _UNSAFE.sub(_escape, text)
