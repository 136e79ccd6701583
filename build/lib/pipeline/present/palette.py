"""One colour per land class, for every picture sinkzone makes: QGIS styles, report maps and charts."""

from __future__ import annotations

from pipeline.core.classmaps import NODATA_CLASS, ClassMap

# The ESA WorldCover colours of the matching WorldCover class, so maps read like the most widely used
# global product (ESA WorldCover product user manual, legend table).
CLASS_COLOURS: dict[str, str] = {
    "forest": "#006400", "shrub": "#ffbb22", "grassland": "#ffff4c", "cropland": "#f096ff",
    "built": "#fa0000", "bare": "#b4b4b4", "snow_ice": "#f0f0f0", "water": "#0064c8",
    "wetland": "#0096a0", "other": "#fae6a0", NODATA_CLASS: "#ffffff",
}
# For a user's own class names, in order of first appearance.
FALLBACK_COLOURS = ("#8dd3c7", "#bebada", "#fb8072", "#80b1d3", "#fdb462", "#b3de69", "#fccde5",
                    "#d9d9d9", "#bc80bd", "#ccebc5")


def class_colour(name: str, index: int) -> str:
    """The class's colour; an unknown class gets the fallback colour of its position."""
    return CLASS_COLOURS.get(name, FALLBACK_COLOURS[index % len(FALLBACK_COLOURS)])


def class_colours(class_map: ClassMap) -> dict[str, str]:
    """One colour per class of a map: the first class playing a role gets the role's colour, and any
    further class with the same role a fallback colour, so two forest classes stay apart on a map."""
    colours: dict[str, str] = {}
    used: set[str] = set()
    for index, name in enumerate(class_map.class_names):
        role = class_map.role(name)
        colours[name] = CLASS_COLOURS[role] if role not in used else FALLBACK_COLOURS[index % len(FALLBACK_COLOURS)]
        used.add(role)
    colours[NODATA_CLASS] = CLASS_COLOURS[NODATA_CLASS]
    return colours
