"""The CJK font the report's charts are drawn with: Noto Sans SC, shipped by a wheel (SIL OFL 1.1).

matplotlib's own DejaVu Sans has no Chinese glyphs, so zone ids and names such as 九原区 would be
drawn as empty boxes; nothing is downloaded at run time.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import pylopdf_fonts_zh_cn
from matplotlib import font_manager


def cjk_font_path() -> Path:
    return Path(pylopdf_fonts_zh_cn.sans_path())


@cache
def cjk_font_family() -> str:
    """Register the CJK font with matplotlib (once) and return its family name."""
    path = cjk_font_path()
    font_manager.fontManager.addfont(str(path))
    return str(font_manager.FontProperties(fname=str(path)).get_name())
