"""Turn an uploaded file or pasted text into script text, or refuse with a message for the user."""
from __future__ import annotations

import codecs
import html
import re
import unicodedata
from pathlib import PurePath

import charset_normalizer

from app.text import clean, has_visible_text

DEFAULT_MAX_BYTES = 2_000_000
DEFAULT_MAX_CHARS = 200_000
TEXT_SUFFIXES = {"", ".txt", ".text", ".md", ".markdown"}
SUBTITLE_SUFFIXES = {".srt", ".vtt"}
# A pause longer than this between two captions starts a new paragraph.
PARAGRAPH_GAP_SECONDS = 2.0

_ACCEPTED = "Upload a .txt, .md, .srt or .vtt file."
_SAVE_AS_TEXT = "Save the script as plain text (.txt) and upload that, or paste it."
_MAGIC = [
    (b"%PDF", f"This is a PDF document, not a text file. {_SAVE_AS_TEXT}"),
    (b"PK\x03\x04", f"This is a ZIP archive or an office document such as .docx, not a text file. {_SAVE_AS_TEXT}"),
    (b"\xd0\xcf\x11\xe0", f"This is an office document such as .doc, not a text file. {_SAVE_AS_TEXT}"),
    (b"{\\rtf", f"This is a Rich Text (.rtf) document, not plain text. {_SAVE_AS_TEXT}"),
    (b"\x89PNG", "This is an image (PNG), not a script. " + _ACCEPTED),
    (b"\xff\xd8\xff", "This is an image (JPEG), not a script. " + _ACCEPTED),
    (b"GIF8", "This is an image (GIF), not a script. " + _ACCEPTED),
    (b"\x1f\x8b", "This is a compressed (gzip) file, not a text file. " + _ACCEPTED),
    (b"ID3", "This is an audio file (MP3), not a script. " + _ACCEPTED),
    (b"OggS", "This is an audio or video file (Ogg), not a script. " + _ACCEPTED),
    (b"\x7fELF", "This is a program, not a script. " + _ACCEPTED),
]
_BOMS = [  # UTF-32 first: its little-endian mark begins with UTF-16's
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
]
_TIMING = re.compile(r"^\s*(\S+)\s+-->\s+(\S+)")
_TIMESTAMP = re.compile(r"^(?:(\d+):)?(\d{1,2}):(\d{2})[.,](\d{1,3})$")
_TAG = re.compile(r"<[^>\n]*>|\{\\[^}\n]*\}")
_SOUND_ONLY = re.compile(r"^[\s\-]*(?:\[[^\]]*\]|\([^)]*\)|♪[^♪]*♪?|[♪♫\s]+)[\s.]*$")
_SRT_START = re.compile(r"\A\s*\d+\s*\n[^\n]*-->")
# How much worse Windows-1252 may look than charset-normalizer's favourite and still be chosen.
_LEEWAY = 0.1
# Share of control characters beyond which decoded "text" is really binary data.
_MAX_CONTROL_SHARE = 0.005


class ScriptImportError(ValueError):
    """The input cannot become a script; str(error) says why, in words for the user."""


def decode_script(
    data: bytes, filename: str, *, max_bytes: int = DEFAULT_MAX_BYTES, max_chars: int = DEFAULT_MAX_CHARS
) -> str:
    """The script text of an uploaded file: decoded, subtitles reduced to their words, line endings \\n."""
    if len(data) > max_bytes:
        size, limit = _sizes(len(data), max_bytes)
        raise ScriptImportError(f"The file is {size}; the limit is {limit}.")
    for magic, message in _MAGIC:
        if data.startswith(magic):
            raise ScriptImportError(message)
    suffix = PurePath(filename).suffix.lower()
    if suffix not in TEXT_SUFFIXES | SUBTITLE_SUFFIXES:
        raise ScriptImportError(f"Scriptreel cannot read “{suffix}” files. {_ACCEPTED}")
    text = normalise_line_endings(_decode(data))
    if suffix in SUBTITLE_SUFFIXES or text.lstrip().startswith("WEBVTT") or _SRT_START.match(text):
        text = subtitles_to_text(text)
        if not text:
            raise ScriptImportError("This subtitle file has no caption text.")
    return validate_script_text(text, max_chars)


def validate_script_text(text: str, max_chars: int = DEFAULT_MAX_CHARS) -> str:
    """Pasted or decoded text as a script: line endings normalised, invisible characters dropped,
    refused if nothing visible is left or it is too long."""
    text = normalise_line_endings(text)
    if not text:
        raise ScriptImportError("The script is empty.")
    if not text.strip():
        raise ScriptImportError("The script has no words, only spaces and line breaks.")
    if not has_visible_text(text):
        raise ScriptImportError("The script has no visible text, only invisible characters "
                                "(such as zero-width spaces). Paste or upload the words to narrate.")
    if len(text) > max_chars:
        raise ScriptImportError(f"The script has {len(text):,} characters; the limit is {max_chars:,}.")
    return clean(text)


def normalise_line_endings(text: str) -> str:
    """\\r\\n and lone \\r become \\n; a leading byte-order mark goes."""
    return text.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n")


def subtitles_to_text(subtitles: str) -> str:
    """The words of SRT or WebVTT captions, cues joined into paragraphs at pauses and sound cues."""
    paragraphs: list[list[str]] = [[]]
    previous_end: float | None = None
    previous_text = ""
    for block in re.split(r"\n[ \t]*\n", subtitles):
        lines = block.strip("\n").split("\n")
        timing_at = next((i for i, line in enumerate(lines) if _TIMING.match(line)), None)
        if timing_at is None:
            continue  # the WEBVTT header, NOTE, STYLE and REGION blocks, stray numbers
        start, end = _cue_times(lines[timing_at])
        words = [_clean_caption(line) for line in lines[timing_at + 1 :]]
        if not any(words) or all(_SOUND_ONLY.match(w) for w in words if w):
            paragraphs.append([])  # silence or "[music]": a pause in the narration
            continue
        text = " ".join(w for w in words if w and not _SOUND_ONLY.match(w))
        if previous_end is not None and start is not None and start - previous_end > PARAGRAPH_GAP_SECONDS:
            paragraphs.append([])
        previous_end = end if end is not None else previous_end
        # Roll-up captions repeat the previous cue before adding to it.
        if previous_text and text.startswith(previous_text):
            text = text[len(previous_text) :].strip()
        if text:
            paragraphs[-1].append(text)
            previous_text = text
    return "\n\n".join(" ".join(p) for p in paragraphs if p)


def _decode(data: bytes) -> str:
    """Bytes to text: byte-order marks, then strict UTF-8, then the best guess, preferring Windows-1252."""
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            return _strict(data[len(bom) :], encoding)
    if b"\x00" in data:
        utf16 = _bomless_utf16(data)
        if utf16 is None:
            raise ScriptImportError(f"This file is not plain text (it holds binary data). {_ACCEPTED}")
        return _strict(data, utf16)
    try:
        return _checked(data.decode("utf-8"))
    except UnicodeDecodeError:
        pass
    best = charset_normalizer.from_bytes(data).best()
    western = charset_normalizer.from_bytes(data, cp_isolation=["cp1252"]).best()
    # Short Western texts fit many code pages about equally; Windows-1252 is by far the likeliest.
    if western is not None and (
        best is None or (western.chaos <= best.chaos + _LEEWAY and western.coherence >= best.coherence - _LEEWAY)
    ):
        best = western
    if best is None:
        raise ScriptImportError(f"This file is not plain text, or its encoding is unknown. Save it as UTF-8 text. {_ACCEPTED}")
    return _checked(str(best))


def _bomless_utf16(data: bytes) -> str | None:
    """utf-16-le/-be when NUL bytes sit in every other position, as in mostly-Latin UTF-16."""
    even, odd = data[0::2], data[1::2]
    if len(data) % 2 or not even or not odd:
        return None
    if odd.count(0) > 0.4 * len(odd) and even.count(0) < 0.05 * len(even):
        return "utf-16-le"
    if even.count(0) > 0.4 * len(even) and odd.count(0) < 0.05 * len(odd):
        return "utf-16-be"
    return None


def _strict(data: bytes, encoding: str) -> str:
    try:
        return _checked(data.decode(encoding))
    except UnicodeDecodeError as error:
        raise ScriptImportError(f"This file claims to be {encoding.upper()} text but is not readable as such. {_ACCEPTED}") from error


def _checked(text: str) -> str:
    """Refuse decoded text that is mostly control characters, i.e. binary data."""
    controls = sum(1 for ch in text if unicodedata.category(ch) == "Cc" and ch not in "\t\n\r\f\v")
    if controls > _MAX_CONTROL_SHARE * max(len(text), 1):
        raise ScriptImportError(f"This file is not plain text (it holds binary data). {_ACCEPTED}")
    return text


def _cue_times(line: str) -> tuple[float | None, float | None]:
    match = _TIMING.match(line)
    return _seconds(match.group(1)), _seconds(match.group(2))


def _seconds(stamp: str) -> float | None:
    match = _TIMESTAMP.match(stamp)
    if not match:
        return None
    hours, minutes, seconds, fraction = match.groups()
    return int(hours or 0) * 3600 + int(minutes) * 60 + int(seconds) + int(fraction.ljust(3, "0")) / 1000


def _clean_caption(line: str) -> str:
    """Caption line without markup (<i>, <v Speaker>, <c.x>, {\\an8}) and entities."""
    return " ".join(html.unescape(_TAG.sub("", line)).split())


def _sizes(size: int, limit: int) -> tuple[str, str]:
    """Both byte counts in the same readable unit, precise enough to differ."""
    for unit, scale in (("MB", 1_000_000), ("KB", 1_000)):
        if limit >= scale:
            a, b = _trimmed(size / scale), _trimmed(limit / scale)
            if a != b:
                return f"{a} {unit}", f"{b} {unit}"
    return f"{size:,} bytes", f"{limit:,} bytes"


def _trimmed(value: float) -> str:
    return f"{value:.1f}".removesuffix(".0")
