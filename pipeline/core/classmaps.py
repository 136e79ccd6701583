"""Class maps: which product codes make up each named land-cover class.

The built-in maps follow the crosswalk in docs/sources.md §1 (a design choice, not an
official crosswalk) and the product legends cited on each map. A user's own map is a YAML file read by
pipeline.core.config: `classes: {forest: [2], 灌木林: {codes: [3], role: shrub}}`; a code may belong to one
class only. Class names are any text; each class plays one role (forest, shrub, grassland, ...; a short-form
class named otherwise plays `other`, and the run says so), and
everything that counts forest, grassland or wetland (region indicators, plans, candidates, carbon,
colours) works from roles, so a map may name its classes as the bureau does. The reserved class
`nodata` lists codes that mean "no observation" (fill values, clouds).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pipeline.core.errors import ClassMapError

NODATA_CLASS = "nodata"
ROLES = ("forest", "shrub", "grassland", "wetland", "water", "cropland", "built", "bare", "snow_ice", "other")

LABELS: dict[str, tuple[str, str]] = {
    "forest": ("森林（乔木林）", "Forest (tree cover)"),
    "shrub": ("灌木林", "Shrubland"),
    "grassland": ("草地", "Grassland"),
    "wetland": ("湿地", "Wetland"),
    "water": ("水体", "Open water"),
    "cropland": ("耕地", "Cropland"),
    "built": ("建设用地", "Built-up"),
    "bare": ("裸地", "Bare / sparse vegetation"),
    "snow_ice": ("冰雪", "Snow and ice"),
    "other": ("其他", "Other"),
    NODATA_CLASS: ("无数据", "No data"),
}


@dataclass(frozen=True)
class ClassMap:
    """Named classes, each a set of product codes; `nodata_codes` are treated as no observation."""

    name: str
    classes: Mapping[str, tuple[int, ...]]
    nodata_codes: tuple[int, ...] = ()
    source: str = ""
    roles: Mapping[str, str] = field(default_factory=dict)
    product: str = ""  # the product whose codes these are (its official colours), when known
    # classes given in the short form under a name that is no role: they play `other` until given one
    roleless: tuple[str, ...] = ()

    def code_to_class(self) -> dict[int, str]:
        return {code: name for name, codes in self.classes.items() for code in codes}

    @property
    def class_names(self) -> list[str]:
        return list(self.classes)

    def role(self, name: str) -> str:
        """The role a class plays; nodata is its own."""
        return self.roles.get(name, name)

    def with_roles(self, roles: Iterable[str]) -> tuple[str, ...]:
        """The classes playing any of these roles, in map order."""
        wanted = set(roles)
        return tuple(c for c in self.classes if self.role(c) in wanted)

    def resolve(self, names: Iterable[str], *, key: str) -> tuple[str, ...]:
        """Classes named directly or through a role (`forest` selects every class playing forest).

        A name that is neither raises, naming the config `key` and the closest valid names.
        """
        found: list[str] = []
        for name in names:
            if name in self.classes:
                found.append(name)
            elif name in ROLES:
                found.extend(self.with_roles([name]))
            else:
                raise ClassMapError(f"{key}: {name!r} is neither a class of class map {self.name!r} nor a role"
                                    f"{closest(name, [*self.classes, *ROLES])}")
        return tuple(dict.fromkeys(found))


def closest(name: str, valid: Iterable[str]) -> str:
    """'; did you mean ...?' with the nearest valid names, and the valid names listed."""
    choices = list(dict.fromkeys(valid))
    near = difflib.get_close_matches(name, choices, n=3, cutoff=0.5)
    hint = f"; did you mean {' or '.join(map(repr, near))}?" if near else ""
    return f"{hint} (valid: {', '.join(choices)})"


def label(class_name: str) -> tuple[str, str]:
    """(Chinese, English) label of a role (or a built-in class, named after its role); others read as themselves."""
    return LABELS.get(class_name, (class_name, class_name))


def _name_problems(classes: Mapping[str, object], roles: Mapping[str, str]) -> list[str]:
    """Class names are non-empty text, distinct regardless of case (GeoPackage field names are); roles are roles."""
    problems: list[str] = []
    seen: dict[str, str] = {}
    for name in classes:
        if not isinstance(name, str) or not name.strip() or name != name.strip():
            problems.append(f"class name {name!r} must be text without surrounding spaces")
            continue
        if name.lower() in seen:
            problems.append(f"class names {seen[name.lower()]!r} and {name!r} differ only in case; their "
                            "area fields would collide: rename one")
        seen[name.lower()] = name
        if name.lower() == "area":
            problems.append(f"class name {name!r} is reserved (its field {name}_ha is the zone's area)")
        role = roles.get(name)
        if role is not None and role not in ROLES:
            problems.append(f"class {name!r}: role {role!r} is not a role{closest(role, ROLES)}")
        elif role is not None and name in ROLES and role != name:
            problems.append(f"class {name!r} is named after the role {name} but given role {role!r}: rename it")
    return problems


def build_class_map(name: str, classes: Mapping[str, list[int]], *, source: str = "",
                    roles: Mapping[str, str] | None = None, product: str = "") -> ClassMap:
    """Check and freeze a class map given as {class: [codes]} and {class: role} for classes not named
    after their role; the class `nodata` marks fill codes."""
    roles = dict(roles or {})
    problems = _name_problems(classes, roles)
    if NODATA_CLASS in roles:
        problems.append(f"class {NODATA_CLASS!r} lists fill codes and takes no role")
    seen: dict[int, str] = {}
    for cls, codes in classes.items():
        for code in codes:
            if code in seen:
                problems.append(f"code {code} is in both {seen[code]!r} and {cls!r}")
            seen[code] = cls
    if problems:
        raise ClassMapError(f"class map {name!r}: " + "; ".join(problems))
    named = {c: tuple(int(v) for v in codes) for c, codes in classes.items() if c != NODATA_CLASS}
    nodata = tuple(int(v) for v in classes.get(NODATA_CLASS, []))
    roleless = tuple(c for c in named if c not in roles and c not in ROLES)
    return ClassMap(name=name, classes=named, nodata_codes=nodata, source=source,
                    roles={c: roles.get(c, "other" if c in roleless else c) for c in named}, product=product,
                    roleless=roleless)


_BUILTIN: dict[str, tuple[str, dict[str, list[int]]]] = {
    # ESA WorldCover 10 m v100/v200 legend (Zanaga et al. 2021/2022, doi:10.5281/zenodo.5571936 and
    # 10.5281/zenodo.7254221).
    # 95 mangroves count as forest, 100 moss/lichen as other.
    "esa_worldcover": ("ESA WorldCover v100/v200 product user manual legend", {
        "forest": [10, 95], "shrub": [20], "grassland": [30], "cropland": [40], "built": [50],
        "bare": [60], "snow_ice": [70], "water": [80], "wetland": [90], "other": [100], NODATA_CLASS: [0],
    }),
    # CLCD (Yang & Huang 2021, ESSD 13:3907), nodata 0 often undeclared (doi:10.5281/zenodo.8176941).
    "clcd": ("CLCD v1.0.x legend, Yang & Huang 2021", {
        "cropland": [1], "forest": [2], "shrub": [3], "grassland": [4], "water": [5], "snow_ice": [6],
        "bare": [7], "built": [8], "wetland": [9], NODATA_CLASS: [0],
    }),
    # GlobeLand30 (NGCC) legend; 70 tundra counted as grassland; 0 and 255 fill (docs/sources.md §1).
    "globeland30": ("GlobeLand30 legend, NGCC", {
        "cropland": [10], "forest": [20], "grassland": [30, 70], "shrub": [40], "wetland": [50],
        "water": [60], "built": [80], "bare": [90], "snow_ice": [100], NODATA_CLASS: [0, 255],
    }),
    # MODIS IGBP (MCD12Q1 LC_Type1, MCD12C1): 8 woody savanna as forest, 9 savanna with grassland,
    # 14 cropland/natural mosaic as cropland; water is 17 in MCD12Q1 and 0 in MCD12C1; 255 fill
    # (MCD12 user guide; docs/sources.md §1).
    "modis_igbp": ("MODIS MCD12Q1/MCD12C1 IGBP legend (LC_Type1)", {
        "forest": [1, 2, 3, 4, 5, 8], "shrub": [6, 7], "grassland": [9, 10], "wetland": [11],
        "cropland": [12, 14], "built": [13], "snow_ice": [15], "bare": [16], "water": [0, 17],
        NODATA_CLASS: [255],
    }),
    # CORINE Land Cover raster index 1..44 (CLC level 3; the .vat.dbf shipped with the data gives
    # CODE_18). Forest 311-313; shrub 322-324 (moors, sclerophyllous, transitional woodland-shrub);
    # grassland 321 natural grassland and 231 pastures (IPCC "grassland" includes managed pasture);
    # wetland 411-423; water 511-523; 48 is CLC's NODATA index, 49/50 unclassified.
    "corine": ("CORINE Land Cover 2018 v2020_20u1 raster legend (Copernicus Land Monitoring Service)", {
        "built": list(range(1, 12)), "cropland": [12, 13, 14, 15, 16, 17, 19, 20, 21, 22],
        "grassland": [18, 26], "forest": [23, 24, 25], "shrub": [27, 28, 29], "bare": [30, 31, 32],
        "other": [33, 49, 50], "snow_ice": [34], "wetland": [35, 36, 37, 38, 39],
        "water": [40, 41, 42, 43, 44], NODATA_CLASS: [48, 128, 255],
    }),
    # NLCD (USGS) legend: 41-43 forest, 51-52 shrub, 71-72 grassland, 81 pasture/hay as grassland,
    # 90/95 wetland; 73-74 lichen/moss as other; 0 unclassified.
    "nlcd": ("USGS National Land Cover Database legend", {
        "water": [11], "snow_ice": [12], "built": [21, 22, 23, 24], "bare": [31], "forest": [41, 42, 43],
        "shrub": [51, 52], "grassland": [71, 72, 81], "other": [73, 74], "cropland": [82],
        "wetland": [90, 95], NODATA_CLASS: [0],
    }),
}

BUILTIN_NAMES = tuple(sorted(_BUILTIN))


def builtin_class_map(name: str) -> ClassMap:
    """One of the built-in class maps by product name."""
    if name not in _BUILTIN:
        raise ClassMapError(f"unknown class map {name!r}: use one of {', '.join(BUILTIN_NAMES)} or a YAML file")
    source, classes = _BUILTIN[name]
    return build_class_map(name, classes, source=source, product=name)


def parse_class_map(raw: Any, *, origin: str, name: str, default_source: str) -> ClassMap:
    """A user's class map from its YAML content: `origin` names the file in messages, `name` is the map's name
    and `default_source` its source where the YAML gives none.

    `classes: {forest: [2], 灌木林: {codes: [3], role: shrub}}`: the short form names a role; the long
    form gives any name and the role the class plays. `product: modis_igbp` (optional) says whose codes
    these are, so the land cover keeps that product's official colours.
    """
    classes = raw.get("classes") if isinstance(raw, dict) else None
    if not isinstance(classes, dict):
        raise ClassMapError(f"{origin}: expected `classes: {{name: [integer codes] or {{codes: [...], role: ...}}}}`")
    codes: dict[str, list[int]] = {}
    roles: dict[str, str] = {}
    for class_name, value in classes.items():
        codes[class_name], role = _class_entry(origin, class_name, value)
        if role is not None:
            roles[class_name] = role
    product = raw.get("product")
    if product is not None and product not in BUILTIN_NAMES:
        raise ClassMapError(f"{origin}: product {product!r} is not one of {', '.join(BUILTIN_NAMES)}")
    return build_class_map(name, codes, source=str(raw.get("source", default_source)), roles=roles,
                           product=product or "")


def _class_entry(origin: str, name: object, value: Any) -> tuple[list[int], str | None]:
    """The codes and the role (None in the short form) of one class of a class-map YAML."""
    entry = value if isinstance(value, dict) else {"codes": value}
    role = entry.get("role")
    if set(entry) - {"codes", "role"} or not _int_list(entry.get("codes")) or not isinstance(role, str | None):
        raise ClassMapError(f"{origin}: class {name!r}: expected [integer codes] or {{codes: [integer codes], "
                            f"role: forest|shrub|...}}, got {value!r}")
    return entry["codes"], role


def _int_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(c, int) and not isinstance(c, bool) for c in value)
