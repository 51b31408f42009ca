"""Script import: encodings, subtitles, limits and refusals, as the user gets them."""
from __future__ import annotations

import codecs
import io
import zipfile

import pytest
from PIL import Image

from app.pipeline.script_import import (
    ScriptImportError,
    decode_script,
    validate_script_text,
)

WORLD = (
    "Café déjà vu — “quoted” and ‘single’, 5 € for naïve coöperation.\n"
    "中文：灯塔守护着海岸。日本語：灯台。\n"
    "עברית: המגדלור שומר על החוף.\n"
    "العربية: المنارة تحرس الساحل."
)


@pytest.mark.parametrize(
    "encoded",
    [
        pytest.param(WORLD.encode("utf-8"), id="utf-8"),
        pytest.param(codecs.BOM_UTF8 + WORLD.encode("utf-8"), id="utf-8 with BOM"),
        pytest.param(codecs.BOM_UTF16_LE + WORLD.encode("utf-16-le"), id="utf-16 LE with BOM"),
        pytest.param(codecs.BOM_UTF16_BE + WORLD.encode("utf-16-be"), id="utf-16 BE with BOM"),
    ],
)
def test_unicode_encodings_keep_every_character(encoded):
    assert decode_script(encoded, "script.txt") == WORLD


def test_utf16_without_bom_is_recognised():
    text = "The lighthouse keeper climbs the stairs.\nWaves break below."

    assert decode_script(text.encode("utf-16-le"), "script.txt") == text


@pytest.mark.parametrize(
    "text",
    [
        "He said “hello” — and paid €5 at the café.",
        "Straße, naïve résumé: ‘quotes’ … and “more” – dashes™.",
        "Prices rose 3½% in Zürich; the déjà vu was total.",
    ],
)
def test_windows_1252_is_decoded_with_curly_quotes_and_euro(text):
    assert decode_script(text.encode("cp1252"), "notes.txt") == text


def test_line_endings_become_newlines():
    data = b"First line.\r\nSecond line.\rThird line.\n\r\nFourth."

    assert decode_script(data, "script.md") == "First line.\nSecond line.\nThird line.\n\nFourth."


def test_markdown_is_kept_as_written():
    text = "# The Coast\n\nThe **old** lighthouse.\n\n## Night\n\n- one\n- two\n"

    assert decode_script(text.encode(), "script.md") == text


SRT = """1
00:00:01,000 --> 00:00:03,200
<i>For more than a century</i> the lighthouse
has guarded this coast.

2
00:00:03,400 --> 00:00:05,000
<font color="#ffff00">{\\an8}Every evening the keeper climbs the stairs.</font>

3
00:00:09,500 --> 00:00:11,000
Ships far out at sea
steer by its beam.
"""


def test_srt_cue_text_becomes_the_script_with_a_paragraph_at_each_pause():
    script = decode_script(SRT.encode("utf-8"), "episode.srt")

    assert script == (
        "For more than a century the lighthouse has guarded this coast. "
        "Every evening the keeper climbs the stairs.\n\n"
        "Ships far out at sea steer by its beam."
    )


VTT = """WEBVTT - The Lighthouse
Kind: captions
Language: en

STYLE
::cue { color: yellow; }

NOTE
Edited by the subtitle team; this note is not narration.

intro-1
00:01.000 --> 00:03.000 align:start position:10%
<v Narrator>The keeper&apos;s daughter rows out</v>

00:03.000 --> 00:04.500
<c.highlight>to the island</c> with <b>supplies</b> &amp; news.

00:04.600 --> 00:06.000
[waves crashing]

00:06.100 --> 00:08.000
A storm gathers <00:06.500>over the bay.
"""


def test_vtt_drops_headers_notes_styles_tags_and_sound_cues():
    script = decode_script(VTT.encode("utf-8"), "episode.vtt")

    assert script == (
        "The keeper's daughter rows out to the island with supplies & news.\n\n"
        "A storm gathers over the bay."
    )


def test_roll_up_captions_are_not_repeated():
    vtt = (
        "WEBVTT\n\n00:00:00.000 --> 00:00:02.000\nthe keeper climbs\n\n"
        "00:00:02.000 --> 00:00:04.000\nthe keeper climbs\nthe spiral stairs\n\n"
        "00:00:04.000 --> 00:00:06.000\nthe spiral stairs\nat dusk\n"
    )

    assert decode_script(vtt.encode(), "auto.vtt") == "the keeper climbs the spiral stairs at dusk"


def test_subtitles_saved_as_txt_are_recognised():
    assert decode_script(SRT.encode("utf-8"), "captions.txt").startswith("For more than a century")


def png_bytes() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (4, 4), "red").save(buffer, "PNG")
    return buffer.getvalue()


def docx_bytes() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("word/document.xml", "<w:document/>")
    return buffer.getvalue()


@pytest.mark.parametrize(
    "data, filename, expected",
    [
        (png_bytes(), "script.txt", "This is an image (PNG), not a script."),
        (docx_bytes(), "script.docx", "office document such as .docx"),
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj", "script.pdf", "This is a PDF document"),
        (bytes(range(256)) * 4, "script.txt", "not plain text (it holds binary data)"),
        (b"Hello \x00\x01\x02 world \x00\x00\x00\x07\x08", "script.txt", "not plain text (it holds binary data)"),
        (b"\x01\x02\x03\x04\x05\x06\x07\x08 looks like text but is not \x0e\x0f\x10\x11\x12", "script.txt", "binary data"),
        (b"just text", "script.exe", "cannot read \u201c.exe\u201d files"),
    ],
)
def test_binary_and_foreign_files_are_refused_with_a_reason(data, filename, expected):
    with pytest.raises(ScriptImportError) as refused:
        decode_script(data, filename)

    assert expected in str(refused.value)


@pytest.mark.parametrize(
    "data, expected",
    [
        (b"", "The script is empty."),
        (b"   \n\t\r\n  ", "The script has no words, only spaces and line breaks."),
        (codecs.BOM_UTF8, "The script is empty."),
    ],
)
def test_empty_files_are_refused(data, expected):
    with pytest.raises(ScriptImportError, match=expected):
        decode_script(data, "script.txt")


def test_subtitles_without_words_are_refused():
    with pytest.raises(ScriptImportError, match="no caption text"):
        decode_script(b"WEBVTT\n\n00:00.000 --> 00:02.000\n[music]\n", "silence.vtt")


def test_a_file_over_the_size_limit_states_both_sizes():
    with pytest.raises(ScriptImportError) as refused:
        decode_script(b"word " * 640_000, "long.txt", max_bytes=2_000_000)

    assert str(refused.value) == "The file is 3.2 MB; the limit is 2 MB."


def test_a_file_just_over_the_limit_says_so_precisely():
    with pytest.raises(ScriptImportError) as refused:
        decode_script(b"a" * 2_000_001, "long.txt", max_bytes=2_000_000)

    assert str(refused.value) == "The file is 2,000,001 bytes; the limit is 2,000,000 bytes."


def test_a_script_over_the_character_limit_states_it():
    with pytest.raises(ScriptImportError) as refused:
        decode_script(("x" * 99 + "\n").encode() * 30, "long.txt", max_chars=2_500)

    assert str(refused.value) == "The script has 3,000 characters; the limit is 2,500."


def test_pasted_text_gets_the_same_checks_and_normalisation():
    assert validate_script_text("Line one.\r\nLine two.", max_chars=100) == "Line one.\nLine two."
    with pytest.raises(ScriptImportError, match="The script has no words"):
        validate_script_text(" \n ", max_chars=100)
    with pytest.raises(ScriptImportError, match="The script has 101 characters; the limit is 100."):
        validate_script_text("y" * 101, max_chars=100)


def test_limits_allow_a_script_exactly_at_the_limit():
    assert decode_script(b"z" * 50, "ok.txt", max_bytes=50, max_chars=50) == "z" * 50
