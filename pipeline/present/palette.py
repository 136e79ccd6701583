"""Colours for every picture sinkzone makes (QGIS styles, report maps and charts): one per land class, the
products' official palettes, and the ramps for graduated fields."""

from __future__ import annotations

from pipeline.core.classmaps import NODATA_CLASS, ClassMap
from pipeline.present.labels import class_text

GREENS = ("#edf8e9", "#bae4b3", "#74c476", "#31a354", "#006d2c")
PROGRESS = ("#d7191c", "#fdae61", "#ffffbf", "#a6d96a", "#1a9641")

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


# Official product palettes, code -> (colour, English legend label). Codes a class map treats as
# nodata are left out: QGIS draws values missing from a palette transparent.
PALETTES: dict[str, dict[int, tuple[str, str]]] = {
    # ESA WorldCover v100/v200 product user manual, legend table.
    "esa_worldcover": {
        10: ("#006400", "Tree cover"), 20: ("#ffbb22", "Shrubland"), 30: ("#ffff4c", "Grassland"),
        40: ("#f096ff", "Cropland"), 50: ("#fa0000", "Built-up"), 60: ("#b4b4b4", "Bare / sparse vegetation"),
        70: ("#f0f0f0", "Snow and ice"), 80: ("#0064c8", "Permanent water bodies"),
        90: ("#0096a0", "Herbaceous wetland"), 95: ("#00cf75", "Mangroves"), 100: ("#fae6a0", "Moss and lichen"),
    },
    # CORINE Land Cover 2018 raster index -> the RGB of the .vat.dbf distributed with the product
    # (tests/test_styles.py compares this table with data/sao_miguel/clc2018_v2020_20u1.tif.vat.dbf).
    "corine": {
        1: ("#e6004d", "Continuous urban fabric"), 2: ("#ff0000", "Discontinuous urban fabric"),
        3: ("#cc4df2", "Industrial or commercial units"), 4: ("#cc0000", "Road and rail networks"),
        5: ("#e6cccc", "Port areas"), 6: ("#e6cce6", "Airports"), 7: ("#a600cc", "Mineral extraction sites"),
        8: ("#a64d00", "Dump sites"), 9: ("#ff4dff", "Construction sites"), 10: ("#ffa6ff", "Green urban areas"),
        11: ("#ffe6ff", "Sport and leisure facilities"), 12: ("#ffffa8", "Non-irrigated arable land"),
        13: ("#ffff00", "Permanently irrigated land"), 14: ("#e6e600", "Rice fields"), 15: ("#e68000", "Vineyards"),
        16: ("#f2a64d", "Fruit trees and berry plantations"), 17: ("#e6a600", "Olive groves"),
        18: ("#e6e64d", "Pastures"), 19: ("#ffe6a6", "Annual crops associated with permanent crops"),
        20: ("#ffe64d", "Complex cultivation patterns"),
        21: ("#e6cc4d", "Agriculture with significant natural vegetation"), 22: ("#f2cca6", "Agro-forestry areas"),
        23: ("#80ff00", "Broad-leaved forest"), 24: ("#00a600", "Coniferous forest"), 25: ("#4dff00", "Mixed forest"),
        26: ("#ccf24d", "Natural grasslands"), 27: ("#a6ff80", "Moors and heathland"),
        28: ("#a6e64d", "Sclerophyllous vegetation"), 29: ("#a6f200", "Transitional woodland-shrub"),
        30: ("#e6e6e6", "Beaches, dunes, sands"), 31: ("#cccccc", "Bare rocks"),
        32: ("#ccffcc", "Sparsely vegetated areas"), 33: ("#000000", "Burnt areas"),
        34: ("#a6e6cc", "Glaciers and perpetual snow"), 35: ("#a6a6ff", "Inland marshes"), 36: ("#4d4dff", "Peat bogs"),
        37: ("#ccccff", "Salt marshes"), 38: ("#e6e6ff", "Salines"), 39: ("#a6a6e6", "Intertidal flats"),
        40: ("#00ccf2", "Water courses"), 41: ("#80f2e6", "Water bodies"), 42: ("#00ffa6", "Coastal lagoons"),
        43: ("#a6ffe6", "Estuaries"), 44: ("#e6f2ff", "Sea and ocean"),
    },
    # MODIS MCD12Q1 LC_Type1 (IGBP) colours of the LP DAAC / Earth Engine catalogue; MCD12C1 codes water 0.
    "modis_igbp": {
        0: ("#1c0dff", "Water bodies"), 1: ("#05450a", "Evergreen needleleaf forests"),
        2: ("#086a10", "Evergreen broadleaf forests"), 3: ("#54a708", "Deciduous needleleaf forests"),
        4: ("#78d203", "Deciduous broadleaf forests"), 5: ("#009900", "Mixed forests"),
        6: ("#c6b044", "Closed shrublands"), 7: ("#dcd159", "Open shrublands"), 8: ("#dade48", "Woody savannas"),
        9: ("#fbff13", "Savannas"), 10: ("#b6ff05", "Grasslands"), 11: ("#27ff87", "Permanent wetlands"),
        12: ("#c24f44", "Croplands"), 13: ("#a5a5a5", "Urban and built-up lands"),
        14: ("#ff6d4c", "Cropland/natural vegetation mosaics"), 15: ("#69fff8", "Permanent snow and ice"),
        16: ("#f9ffa4", "Barren"), 17: ("#1c0dff", "Water bodies"),
    },
    # USGS NLCD legend colours.
    "nlcd": {
        11: ("#466b9f", "Open water"), 12: ("#d1def8", "Perennial ice/snow"), 21: ("#dec5c5", "Developed, open space"),
        22: ("#d99282", "Developed, low intensity"), 23: ("#eb0000", "Developed, medium intensity"),
        24: ("#ab0000", "Developed, high intensity"), 31: ("#b3ac9f", "Barren land"),
        41: ("#68ab5f", "Deciduous forest"), 42: ("#1c5f2c", "Evergreen forest"), 43: ("#b5c58f", "Mixed forest"),
        51: ("#af963c", "Dwarf scrub"), 52: ("#ccb879", "Shrub/scrub"), 71: ("#dfdfc2", "Grassland/herbaceous"),
        72: ("#d1d182", "Sedge/herbaceous"), 73: ("#a3cc51", "Lichens"), 74: ("#82ba9e", "Moss"),
        81: ("#dcd939", "Pasture/hay"), 82: ("#ab6c28", "Cultivated crops"), 90: ("#b8d9eb", "Woody wetlands"),
        95: ("#6c9fb8", "Emergent herbaceous wetlands"),
    },
    # CLCD colours as in Yang & Huang (2021) figures and the dataset's published colour table.
    "clcd": {
        1: ("#fae39c", "Cropland"), 2: ("#446f33", "Forest"), 3: ("#33a02c", "Shrub"), 4: ("#abd37b", "Grassland"),
        5: ("#1e69b4", "Water"), 6: ("#a6cee3", "Snow/ice"), 7: ("#cfbda3", "Barren"), 8: ("#e24290", "Impervious"),
        9: ("#289be8", "Wetland"),
    },
}


def palette_entries(class_map: ClassMap) -> list[tuple[int, str, str]]:
    """(code, colour, label) for every mapped code: the product's palette, else the class colour."""
    official = PALETTES.get(class_map.product, {})
    colours = class_colours(class_map)
    entries = []
    for code, cls in sorted(class_map.code_to_class().items()):
        colour, text = official.get(code, (colours[cls], ""))
        name = class_text(cls)
        entries.append((code, colour, f"{code} {text} ({name})" if text else f"{code} {name}"))
    return entries
