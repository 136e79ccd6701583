"""Text files users write (configs, plan sheets, tables), decoded the way they were saved.

Notepad and Excel on a Chinese Windows save GBK (a subset of GB18030) unless told otherwise, so a file
that is not UTF-8 is read as GB18030 and the caller says so in a note.
"""

from __future__ import annotations

UTF8 = "utf-8"
GB18030 = "gb18030"


def decode_text(data: bytes) -> tuple[str, str]:
    """The text of a file's bytes and the encoding it was read with: UTF-8 (BOM or not), else GB18030.

    Raises UnicodeDecodeError when the bytes are neither.
    """
    try:
        return data.decode("utf-8-sig"), UTF8
    except UnicodeDecodeError:
        return data.decode(GB18030), GB18030


def encoding_note(source: object, encoding: str) -> str | None:
    """A note for a file that was not UTF-8, or None."""
    if encoding == UTF8:
        return None
    return (f"{source}: not UTF-8 text; read as {encoding.upper()} (GBK), as Notepad and Excel save it on "
            "Chinese Windows")
