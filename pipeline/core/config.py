"""The typed, frozen run configuration: every section of a run config and the command line's overrides.

Pure models; `pipeline.inputs.run_config` reads YAML files into them.
"""

from __future__ import annotations

import codecs
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from pipeline.core.classmaps import BUILTIN_NAMES, ClassMap
from pipeline.core.literal import EXCEL_ROWS


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Epoch(_Frozen):
    """One land-cover raster and the year it shows."""

    year: int = Field(ge=1900, le=2200)
    path: Path
    product: str | None = None
    version: str | None = None
    nodata: float | None = None


def _known_encoding(value: str | None) -> str | None:
    if value is not None:
        try:
            codecs.lookup(value)
        except LookupError as exc:
            raise ValueError(f"unknown text encoding {value!r} (e.g. GBK, GB18030, UTF-8, Big5)") from exc
    return value


class Zones(_Frozen):
    """The zone layer: a GeoPackage, Shapefile or GeoJSON with one feature per zone."""

    path: Path
    id_field: str
    layer: str | None = None
    name_field: str | None = None  # the zone's name (片区名称), shown in the report and as the QGIS label
    encoding: str | None = None  # a Shapefile's .dbf text encoding (GBK, UTF-8 ...), when .cpg and .dbf mislead

    _encoding = field_validator("encoding")(_known_encoding)


class WetlandLayer(_Frozen):
    """The wetland polygons of a survey (湿地资源调查, 三调 湿地 地类) for 湿地保护率: when given, the rate's wetland
    is these polygons, not the land cover's wetland classes; overlapping polygons count once."""

    path: Path
    year: int = Field(ge=1900, le=2200)  # the survey's year: the year of the rate's rows
    layer: str | None = None
    encoding: str | None = None  # a Shapefile's .dbf text encoding (GBK ...), when .cpg and .dbf mislead
    illustrative: bool = False  # a made-up demonstration layer: every figure from it says so

    _encoding = field_validator("encoding")(_known_encoding)


class ProtectedAreas(_Frozen):
    """Protected areas for 湿地保护率 (nature reserves, wetland parks, 湿地保护小区, important wetlands): any polygon
    layer; overlapping polygons count once."""

    path: Path
    layer: str | None = None
    encoding: str | None = None  # a Shapefile's .dbf text encoding (GBK ...), when .cpg and .dbf mislead
    illustrative: bool = False  # a made-up demonstration layer: every figure from it says so
    wetlands: WetlandLayer | None = None  # survey wetland polygons; without them the land cover's wetland classes

    _encoding = field_validator("encoding")(_known_encoding)


class Compute(_Frozen):
    """How the work is split and where it runs."""

    chunk_cells: int = Field(default=2048, ge=64, le=16384)
    scheduler: str | None = None
    workers: int | None = Field(default=None, ge=1)


class Output(_Frozen):
    dir: Path
    # tables.xlsx holds the tables up to this many rows, by default what one Excel worksheet shows under its header;
    # longer ones (a 小班 layer's carbon table runs to millions of rows) stay in the GeoPackage only
    workbook_max_rows: int = Field(default=EXCEL_ROWS - 1, ge=0)


class History(_Frozen):
    """The history store every finished run is ingested into: a GeoPackage path or a postgresql:// URL."""

    target: str = Field(min_length=1)


class FactorRange(_Frozen):
    """A conversion factor with its 90 % range; a bare number in YAML means no range."""

    value: float = Field(ge=0)
    low: float | None = Field(default=None, ge=0)
    high: float | None = Field(default=None, ge=0)
    source: str = ""

    @model_validator(mode="after")
    def _ordered(self) -> FactorRange:
        low = self.value if self.low is None else self.low
        high = self.value if self.high is None else self.high
        if not low <= self.value <= high:
            raise ValueError(f"need low <= value <= high, got {low} <= {self.value} <= {high}")
        return self


class BiomassRaster(_Frozen):
    """An above-ground biomass density raster (t d.m./ha, float) for one land-cover epoch."""

    year: int = Field(ge=1900, le=2200)
    path: Path
    nodata: float | None = None


class Volume(_Frozen):
    """Forest stock volume per zone: a CSV table, or fields of the zone layer."""

    table: Path | None = None
    field: str | None = None
    unit: Literal["m3", "m3_ha"] = "m3"
    species_field: str | None = None
    species: str | None = None
    illustrative: bool = False  # made-up volumes for a demonstration: every figure from them says so

    @model_validator(mode="after")
    def _one_source(self) -> Volume:
        if (self.table is None) == (self.field is None):
            raise ValueError("give either volume.table (a CSV) or volume.field (a zone attribute), not both")
        if self.field is not None and (self.species_field is None) == (self.species is None):
            raise ValueError("with volume.field give either species_field or species")
        return self


# IPCC 2006 V4 Table 4.4 (temperate conifers, AGB < 50 t/ha) and Table 4.3 (default CF; range spans
# temperate broadleaf 0.46 to conifer 0.55); docs/sources.md §3.
_DEFAULT_R = FactorRange(value=0.40, low=0.21, high=1.06, source="IPCC 2006 V4 Table 4.4, temperate conifer AGB<50")
_DEFAULT_CF = FactorRange(value=0.47, low=0.46, high=0.55, source="IPCC 2006 V4 Table 4.3 default CF")


class Uncertainty(_Frozen):
    """How carbon intervals are computed: IPCC approach 1 (error propagation) or 2 (Monte Carlo)."""

    method: Literal["error_propagation", "monte_carlo"] = "error_propagation"
    iterations: int = Field(default=10_000, ge=1_000, le=1_000_000)
    seed: int = 1


class Carbon(_Frozen):
    """How carbon is estimated: a pools table, biomass rasters, stock volume, and their factors."""

    pools: str | None = None
    biomass: tuple[BiomassRaster, ...] = ()
    root_shoot: FactorRange = _DEFAULT_R
    carbon_fraction: FactorRange = _DEFAULT_CF
    volume: Volume | None = None
    species: str = "ar_cm_001_recalled"
    forest_class: str = "forest"  # a class name or a role: the classes whose live biomass volume supplies
    uncertainty: Uncertainty = Uncertainty()

    @field_validator("root_shoot", "carbon_fraction", mode="before")
    @classmethod
    def _bare_number(cls, value: Any) -> Any:
        return {"value": value} if isinstance(value, int | float) else value

    @model_validator(mode="after")
    def _something(self) -> Carbon:
        if self.pools is None and not self.biomass and self.volume is None:
            raise ValueError("the carbon section needs pools, biomass or volume")
        return self


class ValueRaster(_Frozen):
    """A continuous raster (NDVI, fractional cover, canopy height ...) summarised per zone, year and class.

    `nodata` and `valid` are in the stored (raw) numbers, as product guides give them (MOD13Q1 NDVI: valid
    -2000 to 10000, scale 0.0001); a value is raw x scale + offset.
    """

    name: str = Field(pattern=r"^[A-Za-z][A-Za-z0-9_]*$")
    year: int = Field(ge=1900, le=2200)
    path: Path
    scale: float = Field(default=1.0, gt=0)
    offset: float = 0.0
    nodata: float | None = None
    valid: tuple[float, float] | None = None
    # made up for a demonstration (a generated layer, not a measurement): every table and page says so
    illustrative: bool = False

    @field_validator("valid")
    @classmethod
    def _ordered(cls, valid: tuple[float, float] | None) -> tuple[float, float] | None:
        if valid is not None and valid[0] > valid[1]:
            raise ValueError(f"valid is [low, high] with low <= high, got {list(valid)}")
        return valid


class Endmembers(_Frozen):
    """NDVI of bare soil and of full cover for the dimidiate pixel model: quantiles of the NDVI over the whole
    region's grassland of each year, or fixed values (never per zone, which would stretch every zone to 0-100 %)."""

    soil_quantile: float = Field(default=0.05, ge=0, lt=1)
    veg_quantile: float = Field(default=0.95, gt=0, le=1)
    soil: float | None = None
    veg: float | None = None

    @model_validator(mode="after")
    def _ordered(self) -> Endmembers:
        if (self.soil is None) != (self.veg is None):
            raise ValueError("give both fixed end-members, soil and veg, or neither (then the quantiles serve)")
        if self.soil is not None and self.veg is not None and not self.soil < self.veg:
            raise ValueError(f"need soil < veg, got soil {self.soil} and veg {self.veg}")
        if not self.soil_quantile < self.veg_quantile:
            raise ValueError(f"need soil_quantile < veg_quantile, got {self.soil_quantile} and {self.veg_quantile}")
        return self


class VegetationCover(_Frozen):
    """草原综合植被盖度, a remote-sensing proxy: fractional vegetation cover (FVC) over grassland classes, from an
    NDVI `values` raster by the dimidiate pixel model, or read from an FVC `values` raster (a 0-1 fraction)."""

    ndvi: str | None = None
    fvc: str | None = None
    endmembers: Endmembers = Endmembers()
    classes: tuple[str, ...] = ("grassland",)  # class names or roles whose cells count as grassland

    @model_validator(mode="after")
    def _one_source(self) -> VegetationCover:
        if (self.ndvi is None) == (self.fvc is None):
            raise ValueError("give either vegetation_cover.ndvi or vegetation_cover.fvc (a `values` name), not both")
        return self

    @property
    def source(self) -> str:
        return self.ndvi if self.ndvi is not None else str(self.fvc)


class Plans(_Frozen):
    """The plan sheet (一片一方案): a CSV or .xlsx with one row per zone, joined to the zones by zone_id."""

    path: Path
    sheet: str | None = None  # the worksheet of an .xlsx; the first when not given
    illustrative: bool = False  # made-up zones or targets for a demonstration: the zone scale says so


class RegionTarget(_Frozen):
    """One region-level target, e.g. forest coverage 19.3 % by 2025."""

    indicator: Literal["forest_coverage_pct", "forest_area_ha", "forest_area_wan_mu", "grassland_area_ha",
                       "grassland_area_wan_mu", "wetland_area_ha", "wetland_area_wan_mu",
                       "grassland_vegetation_cover_pct", "wetland_protection_pct", "forest_growing_stock_m3",
                       "sink_zone_area_ha", "sink_zone_area_wan_mu"]
    value: float = Field(gt=0)
    year: int = Field(ge=1900, le=2200)
    source: str = ""
    # the zones of one sink type of the plan sheet (sink_zone_area_*); without it, all the plan's zones
    sink_type: Literal["forest", "grassland", "wetland"] | None = None

    @model_validator(mode="after")
    def _sink_type_of_zone_area(self) -> RegionTarget:
        if self.sink_type is not None and not self.indicator.startswith("sink_zone_area"):
            raise ValueError(f"sink_type belongs to the sink_zone_area targets, not to {self.indicator}")
        return self


class Region(_Frozen):
    """Region indicators over all zones: which classes count, and the region's targets."""

    name: str = "region"
    shrub_counts_as_forest: bool = False
    wetland_includes_water: bool = False
    targets: tuple[RegionTarget, ...] = ()


class Candidates(_Frozen):
    """Afforestation candidate land (a screening for CCER-14-001-V01, not a certification)."""

    enabled: bool = True
    lookback_years: int = Field(default=3, ge=0, le=100)
    min_parcel_m2: float = Field(default=400.0, gt=0)
    # minimum mapping unit: a patch of fewer cells is classification noise more often than land
    min_cells: int = Field(default=2, ge=1)
    # class names or roles (a role names every class playing it); checked against the class map
    never_classes: tuple[str, ...] = ("forest", "shrub")
    excluded_classes: tuple[str, ...] = ("wetland", "water", "built", "snow_ice")


class Report(_Frozen):
    enabled: bool = True
    # one page per value of this zone field (e.g. 片区名称 or a forest farm), with a map and a table of its zones
    group_field: str | None = None
    # above this many zones and without group_field, the report is the index and one table, not a page per zone
    max_zone_pages: int = Field(default=300, ge=1)


class Transitions(_Frozen):
    """Which epoch pairs get a class-to-class table (zone_transitions); any run with two or more epochs."""

    consecutive: bool = True  # every epoch to the next
    first_last: bool = True  # the first epoch to the latest, e.g. 2001 -> 2020
    pairs: tuple[tuple[int, int], ...] = ()  # more pairs, [from_year, to_year]

    @field_validator("pairs")
    @classmethod
    def _forward(cls, pairs: tuple[tuple[int, int], ...]) -> tuple[tuple[int, int], ...]:
        backward = [list(p) for p in pairs if p[0] >= p[1]]
        if backward:
            raise ValueError(f"each pair runs from an earlier year to a later one, got {backward}")
        return pairs


class Change(_Frozen):
    """Change strata (Olofsson et al. 2014, section 5): a class group's gain, loss and stability between two epochs.

    The categories are named after the first class or role given: forest_gain, forest_loss, stable_forest,
    stable_non_forest for `classes: [forest]`.
    """

    from_year: int
    to_year: int
    classes: tuple[str, ...] = Field(min_length=1)  # class names or roles, checked against the class map

    @model_validator(mode="after")
    def _forward(self) -> Change:
        if self.from_year >= self.to_year:
            raise ValueError(f"accuracy.change runs from an earlier year to a later one, got from_year "
                             f"{self.from_year} and to_year {self.to_year}")
        return self

    @property
    def categories(self) -> tuple[str, str, str, str]:
        """Gain, loss, stable and stable-non categories, in the order `core.estimators.change_category` numbers."""
        name = self.classes[0]
        return f"{name}_gain", f"{name}_loss", f"stable_{name}", f"stable_non_{name}"

    def group(self, class_map: ClassMap) -> tuple[str, ...]:
        """The classes of the group: named directly or through a role."""
        return class_map.resolve(self.classes, key="accuracy.change.classes")


class Accuracy(_Frozen):
    """A map accuracy assessment: sample points labelled by an interpreter, and the epoch they assess."""

    samples: Path
    layer: str | None = None
    reference_field: str = "reference"
    year: int | None = None  # default: the latest epoch
    strata_year: int | None = None  # default: the assessed epoch (the sample was stratified on that map)
    min_zone_samples: int = Field(default=10, ge=2)
    change: Change | None = None  # assess change categories between two epochs instead of one epoch's classes

    @model_validator(mode="after")
    def _change_or_years(self) -> Accuracy:
        if self.change is not None and (self.year, self.strata_year) != (None, None):
            raise ValueError("accuracy.change takes its epochs from from_year and to_year; leave out accuracy.year "
                             f"and accuracy.strata_year (got {self.year} and {self.strata_year})")
        return self


class RunConfig(_Frozen):
    """Everything one run needs. Built from YAML by `load_config` or directly by the command line."""

    name: str = "sinkzone"
    landcover: tuple[Epoch, ...] = Field(min_length=1)
    zones: Zones
    classes: str
    output: Output
    compute: Compute = Compute()
    carbon: Carbon | None = None
    plans: Plans | None = None
    region: Region = Region()
    candidates: Candidates | None = None  # screening is asked for: it polygonizes every chunk
    report: Report | None = None  # one page and map per zone: asked for, not made for thousands of parcels
    transitions: Transitions = Transitions()
    accuracy: Accuracy | None = None
    values: tuple[ValueRaster, ...] = ()
    vegetation_cover: VegetationCover | None = None
    protected_areas: ProtectedAreas | None = None
    history: History | None = None  # where the run is ingested at its end; not part of the run id
    # the config file it was read from (none from flags alone): not a setting, kept out of dumps and run ids
    origin: str | None = Field(default=None, exclude=True)

    @field_validator("landcover")
    @classmethod
    def _distinct_years(cls, epochs: tuple[Epoch, ...]) -> tuple[Epoch, ...]:
        years = [e.year for e in epochs]
        if len(set(years)) != len(years):
            raise ValueError(f"each land-cover epoch needs its own year, got {years}")
        return tuple(sorted(epochs, key=lambda e: e.year))

    @model_validator(mode="after")
    def _biomass_years(self) -> RunConfig:
        years = {e.year for e in self.landcover}
        stray = [b.year for b in (self.carbon.biomass if self.carbon else ()) if b.year not in years]
        if stray:
            raise ValueError(f"carbon.biomass years {stray} match no land-cover epoch {sorted(years)}")
        return self

    @model_validator(mode="after")
    def _value_names(self) -> RunConfig:
        keys = [(v.name, v.year) for v in self.values]
        twice = sorted({f"{n} {y}" for n, y in keys if keys.count((n, y)) > 1})
        if twice:
            raise ValueError(f"values: each name and year once, got {', '.join(twice)} more than once")
        return self

    @model_validator(mode="after")
    def _cover_source(self) -> RunConfig:
        cover = self.vegetation_cover
        names = sorted({v.name for v in self.values})
        if cover is not None and cover.source not in names:
            raise ValueError(f"vegetation_cover names values {cover.source!r}, but `values` has {names or 'none'}")
        return self

    @model_validator(mode="after")
    def _transition_years(self) -> RunConfig:
        years = {e.year for e in self.landcover}
        stray = [list(p) for p in self.transitions.pairs if not set(p) <= years]
        if stray:
            raise ValueError(f"transitions.pairs {stray} name years that are no land-cover epoch {sorted(years)}")
        return self

    @model_validator(mode="after")
    def _accuracy_years(self) -> RunConfig:
        years = sorted(e.year for e in self.landcover)
        asked = [y for y in (self.accuracy.year, self.accuracy.strata_year) if y is not None] if self.accuracy else []
        if any(y not in years for y in asked):
            raise ValueError(f"accuracy.year and accuracy.strata_year must be land-cover epochs {years}, got {asked}")
        return self

    @model_validator(mode="after")
    def _change_years(self) -> RunConfig:
        change = self.accuracy.change if self.accuracy else None
        years = sorted(e.year for e in self.landcover)
        if change is not None and not {change.from_year, change.to_year} <= set(years):
            raise ValueError(f"accuracy.change.from_year and to_year must be land-cover epochs {years}, got "
                             f"{change.from_year} and {change.to_year}")
        return self

    @property
    def accuracy_years(self) -> tuple[int, int] | None:
        """(assessed year, strata year) of the accuracy assessment, defaults filled in; None without one.
        A change assessment reads its map categories from (to_year, from_year)."""
        if self.accuracy is None:
            return None
        if self.accuracy.change is not None:
            return self.accuracy.change.to_year, self.accuracy.change.from_year
        year = self.accuracy.year if self.accuracy.year is not None else self.landcover[-1].year
        return year, self.accuracy.strata_year if self.accuracy.strata_year is not None else year

    @model_validator(mode="after")
    def _classes_known(self) -> RunConfig:
        if self.classes not in BUILTIN_NAMES and not self.classes.endswith((".yaml", ".yml")):
            raise ValueError(f"classes must be one of {', '.join(BUILTIN_NAMES)} or a .yaml file, got {self.classes!r}")
        return self


def format_validation_error(exc: ValidationError, source: str) -> str:
    """One line per problem, naming the key path, what was given and what is wanted."""
    lines = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "(top level)"
        given = err.get("input")
        shown = "" if isinstance(given, dict | list) else f" (given: {given!r})"
        lines.append(f"{source}: {where}: {err['msg']}{shown}")
    return "\n".join(lines)


class Overrides(_Frozen):
    """What command-line flags set: changes to a config file, or with no file the whole one-off run.

    Land cover and biomass are `YEAR=PATH` texts; a bare land-cover PATH takes the year its file name
    holds (`CLCD_v01_2020_albert.tif`), and a bare biomass PATH the latest epoch's year. Relative paths
    are relative to the working folder.
    """

    out: Path | None = None
    scheduler: str | None = None
    landcover: tuple[str, ...] = ()
    zones: Path | None = None
    zone_id: str | None = None
    zones_layer: str | None = None
    zones_encoding: str | None = None
    classes: str | None = None
    pools: str | None = None
    biomass: tuple[str, ...] = ()
    history: str | None = None


Model = TypeVar("Model", bound=BaseModel)


def replaced(model: Model, **changes: object) -> Model:
    """A copy of a frozen config model with the given fields changed, validated again as a whole, so that the
    checks across fields (epoch years, biomass years, ...) hold for the changed copy too."""
    return type(model).model_validate({**model.model_dump(), **changes})
