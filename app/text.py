"""Neutralising text from forms and files: invisible characters never reach the database or pages.

Pure Python (no Flask), so the pipeline's script import uses the same rules as every form field.
"""
import re
import unicodedata

# Control characters (but tab and line breaks), zero-width characters and byte-order marks,
# line/paragraph separators, and the bidirectional embeddings, overrides and isolates
# (U+202A-U+202E, U+2066-U+2069) that make text display in an order other than it is stored.
_INVISIBLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e"
                        "\u2060-\u2064\u2066-\u2069\ufeff]")
_LINE_BREAKS = re.compile(r"[\r\n\t]+")
# Letters and symbols that draw nothing (Hangul fillers, the blank Braille pattern).
_BLANK_GLYPHS = frozenset("\u115f\u1160\u3164\uffa0\u2800")


def clean(value: str | None, multiline: bool = True) -> str:
    """Drop invisible and reordering characters; single-line fields also fold line breaks and tabs."""
    value = _INVISIBLE.sub("", (value or "").replace("\r\n", "\n"))
    return value if multiline else _LINE_BREAKS.sub(" ", value)


def has_visible_text(value: str) -> bool:
    """Whether anything in the text would show on screen (letters, digits, punctuation, symbols)."""
    return any(unicodedata.category(ch)[0] in "LNPS" and ch not in _BLANK_GLYPHS for ch in value)
