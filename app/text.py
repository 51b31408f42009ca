"""Neutralising text from forms: control characters never reach the database or the pages."""
import re

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u200b-\u200d\u2028\u2029\ufeff]")
_LINE_BREAKS = re.compile(r"[\r\n\t]+")


def clean(value: str | None, multiline: bool = True) -> str:
    """Drop invisible control characters; single-line fields also fold line breaks and tabs."""
    value = _CONTROL.sub("", (value or "").replace("\r\n", "\n"))
    return value if multiline else _LINE_BREAKS.sub(" ", value)
