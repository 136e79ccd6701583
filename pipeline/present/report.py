"""The report people read: report/index.html (region summary) and one page per zone.

Pure: builds HTML text and PNG bytes in memory and returns them as {relative path: bytes}; pipeline.files
writes them. Pictures sit next to the HTML, so the folder opens offline and prints (print CSS).
Chinese labels are in the HTML text; chart titles are Chinese and English, drawn with the CJK font
sinkzone installs (pipeline/files/fonts.py), so Chinese zone ids and names are never empty boxes.
"""

from __future__ import annotations

import html
import io as _stdio
import math
from collections.abc import Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import matplotlib
import numpy as np
import pandas as pd
import pyproj
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter, NullFormatter
from numpy.typing import NDArray

from pipeline.core.classmaps import NODATA_CLASS, ClassMap, label
from pipeline.core.literal import clean
from pipeline.core.names import (
    ACCURACY_AREA,
    ACCURACY_CHANGE_AREA,
    ACCURACY_MATRIX,
    ACCURACY_SUMMARY,
    CANDIDATES,
    CARBON,
    CHANGE,
    CLASS_AREA,
    GROWING_STOCK,
    PROGRESS,
    PROTECTION,
    REGION,
    VEGETATION,
)
from pipeline.files.fonts import cjk_font_family
from pipeline.metrics.progress import STATUS_LABELS
from pipeline.present.labels import FIELD_LABELS
from pipeline.present.palette import class_colours

SINK_LABELS = {"forest": "森林碳汇 forest", "grassland": "草原碳汇 grassland", "wetland": "湿地碳汇 wetland"}
CSS = """
body{font-family:"Noto Sans CJK SC","Microsoft YaHei","PingFang SC",sans-serif;margin:2em;max-width:60em;color:#222}
table{border-collapse:collapse;margin:0.5em 0 1.5em}th,td{border:1px solid #bbb;padding:0.25em 0.6em;text-align:right}
th{background:#eee}td.t,th.t{text-align:left}img{max-width:100%;height:auto}
.note{color:#555;font-size:0.9em}.figure{page-break-inside:avoid;margin:1em 0}
@media print{body{margin:0;max-width:none}a{color:#222;text-decoration:none}.noprint{display:none}
h2{page-break-after:avoid}table{page-break-inside:avoid}}
table.sortable th{cursor:pointer}
"""
# Click a column heading to sort by it (numbers as numbers); plain script, so the page works offline.
SORT_SCRIPT = """<script>
document.querySelectorAll("table.sortable th").forEach((th, i) => th.addEventListener("click", () => {
  const rows = [...th.closest("table").querySelectorAll("tr")].slice(1), up = th.dataset.up !== "1";
  th.dataset.up = up ? "1" : "0";
  const key = r => { const t = r.cells[i].textContent, n = parseFloat(t.replace(/,/g, "")); return isNaN(n) ? t : n; };
  const order = (x, y) => typeof x === "number" && typeof y === "number" ? x - y : String(x).localeCompare(String(y));
  rows.sort((a, b) => order(key(a), key(b)) * (up ? 1 : -1));
  rows.forEach(r => r.parentNode.appendChild(r));
}));
</script>"""


@dataclass(frozen=True)
class MapData:
    """A decimated picture of the latest land cover around one zone (never used for areas)."""

    data: NDArray[Any]
    transform: Any
    nodata: float | None
    crs: pyproj.CRS


def bilingual(name: str) -> str:
    zh, en = label(name)
    return f"{zh} {en}"


def _png(fig: Figure) -> bytes:
    FigureCanvasAgg(fig)
    buffer = _stdio.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    return buffer.getvalue()


def _html(value: object) -> str:
    """User text as literal HTML: escaped, control characters replaced (core/literal.py)."""
    return html.escape(clean(str(value)))


def _fmt(value: Any, digits: int = 2) -> str:
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, float | np.floating):
        return f"{value:,.{digits}f}"
    return _html(str(value))


def html_table(frame: pd.DataFrame, *, headers: Mapping[str, str] | None = None, text: tuple[str, ...] = (),
               sortable: bool = False) -> str:
    """An HTML table of a frame; `headers` renames columns, `text` columns are left-aligned; a sortable
    table sorts by a column when its heading is clicked (the page must include SORT_SCRIPT)."""
    names = headers or {c: c for c in frame.columns}
    head = "".join(f'<th class="{"t" if c in text else ""}">{_html(names.get(c, c))}</th>' for c in frame.columns)
    body = "".join("<tr>" + "".join(f'<td class="{"t" if c in text else ""}">{_fmt(v)}</td>'
                                   for c, v in row.items()) + "</tr>" for _, row in frame.iterrows())
    kind = ' class="sortable"' if sortable else ""
    return f"<table{kind}><tr>{head}</tr>{body}</table>"


def page(title: str, body: str) -> bytes:
    return (f'<!DOCTYPE html><html lang="zh-CN"><head><meta charset="utf-8"><title>{_html(title)}</title>'
            f"<style>{CSS}</style></head><body>{body}</body></html>").encode()


def class_area_chart(long: pd.DataFrame, *, title: str, colours: Mapping[str, str] | None = None) -> bytes:
    """Grouped bars: area (ha) of each class (nodata left out) in each epoch, labelled in Chinese and English.

    With `colours` (the map's class colours) each class keeps its map colour and the epochs run from pale to
    full; without, each epoch has a colour of its own.
    """
    rows = long[long["class"] != NODATA_CLASS]
    table = rows.pivot_table(index="class", columns="year", values="area_ha", aggfunc="sum", sort=False)
    table = table[(table > 0).any(axis=1)]
    fig = Figure(figsize=(7.5, 3.6), layout="constrained")
    ax = fig.add_subplot()
    width = 0.8 / max(1, len(table.columns))
    x = np.arange(len(table.index))
    n = len(table.columns)
    shades = 0.35 + 0.65 * np.arange(1, n + 1) / n  # epochs from pale to full, the latest full
    for k, year in enumerate(table.columns):
        bar_colours = [colours.get(str(c), "#999999") for c in table.index] if colours else f"C{k}"
        ax.bar(x + k * width, table[year].to_numpy(), width=width, label=str(year), color=bar_colours,
               alpha=shades[k] if colours else 1.0, edgecolor="#444444" if colours else None, linewidth=0.3)
    ax.set_xticks(x + width * (n - 1) / 2, ["\n".join(label(c)) for c in table.index], rotation=30,
                  ha="right", fontsize=8)
    ax.set_ylabel("area (ha)")
    ax.set_title(title, fontsize=10)
    if colours is None or n > 1:  # one epoch in class colours needs no legend
        legend = ax.legend(title="epoch", fontsize=8)
        if colours:  # the epochs differ in shade only: show the shades in grey
            for patch, shade in zip(legend.get_patches(), shades, strict=True):
                patch.set_facecolor("#555555")
                patch.set_alpha(shade)
    return _png(fig)


def land_cover_map(picture: MapData, *, class_map: ClassMap, zone: gpd.GeoSeries,
                   parcels: gpd.GeoSeries, title: str) -> bytes:
    """Latest land cover around the zone, the zone outline, and candidate parcels outlined in magenta."""
    names = class_map.class_names
    colours = class_colours(class_map)
    lookup = class_map.code_to_class()
    index = np.vectorize(lambda v: names.index(lookup[v]) if v in lookup else -1, otypes=[np.int64])
    codes, inverse = np.unique(picture.data, return_inverse=True)
    classes = index(codes)[inverse].reshape(picture.data.shape).astype(float)
    classes[classes < 0] = np.nan
    t = picture.transform
    rows, cols = picture.data.shape
    extent = (t.c, t.c + t.a * cols, t.f + t.e * rows, t.f)
    fig = Figure(figsize=(7.0, 6.0), layout="constrained")
    ax = fig.add_subplot()
    ax.imshow(classes, cmap=ListedColormap([colours[n] for n in names]), vmin=-0.5,
              vmax=len(names) - 0.5, extent=extent, interpolation="nearest")
    zone.to_crs(picture.crs).boundary.plot(ax=ax, color="black", linewidth=1.0)
    if len(parcels):
        parcels.to_crs(picture.crs).plot(ax=ax, facecolor="none", edgecolor="#e7298a", linewidth=0.8)
    present = sorted({int(v) for v in np.unique(classes[~np.isnan(classes)])})
    handles = [Patch(facecolor=colours[names[i]], edgecolor="#999", label=label(names[i])[1]) for i in present]
    if len(parcels):
        handles.append(Patch(facecolor="none", edgecolor="#e7298a", label="afforestation candidate"))
    ax.legend(handles=handles, fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.set_title(title, fontsize=10)
    ax.set_xlim(extent[0], extent[1])
    ax.set_ylim(extent[2], extent[3])
    return _png(fig)


def carbon_chart(carbon: pd.DataFrame, *, title: str) -> bytes:
    """Carbon stock (t C) per pool over the epochs, stacked."""
    table = carbon.pivot_table(index="year", columns="pool", values="carbon_t", aggfunc="sum")
    fig = Figure(figsize=(6.0, 3.2), layout="constrained")
    ax = fig.add_subplot()
    bottom = np.zeros(len(table.index))
    # years as evenly spaced positions with year labels (numeric years would leave gaps between epochs)
    x = np.arange(len(table.index))
    for k, pool in enumerate(c for c in table.columns if c != "total"):
        ax.bar(x, table[pool].to_numpy(), bottom=bottom, label=str(pool), color=f"C{k}")
        bottom = bottom + table[pool].fillna(0).to_numpy()
    ax.set_xticks(x, [str(year) for year in table.index])
    ax.set_ylabel("carbon stock (t C)")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8)
    return _png(fig)


def _status(value: Any) -> str:
    zh, en = STATUS_LABELS.get(str(value), (str(value), str(value)))
    return f"{zh} {en}"


PROGRESS_HEADERS = {"metric": "指标 metric", "unit": "单位 unit", "classes": "地类 classes",
                    "latest_year": "最新年份 latest year", "latest_value": "最新值 latest",
                    "target_value": "目标 target", "target_year": "目标年 target year",
                    "pct_of_target": "完成率 % of target", "slope_per_year": "年变化 change / yr",
                    "projected_value": "目标年预测 projected", "status": "状态 status"}


def progress_section(progress: pd.DataFrame | None) -> str:
    if progress is None or progress.empty:
        return '<p class="note">无规划目标 No plan targets for this zone.</p>'
    shown = progress.drop(columns=["zone_id"]).assign(status=progress["status"].map(_status),
                                                      latest_year=progress["latest_year"].astype("Int64"))
    return html_table(shown, headers=PROGRESS_HEADERS, text=("metric", "unit", "classes", "status"))


def plan_section(zone: pd.Series) -> str:
    if "sink_type" not in zone.index or not isinstance(zone.get("sink_type"), str):
        return '<p class="note">本片区无规划表 No plan sheet row for this zone.</p>'
    sink = SINK_LABELS.get(str(zone["sink_type"]), str(zone["sink_type"]))
    rows = [("片区名称 Plan name", zone.get("plan_name")), ("碳汇类型 Sink type", sink),
            ("目标年 Target year", zone.get("target_year")), ("主要措施 Measures", zone.get("measures"))]
    body = "".join(f'<tr><th class="t">{k}</th><td class="t">{_fmt(v)}</td></tr>' for k, v in rows)
    return f"<table>{body}</table>"


def carbon_section(zone_id: str, tables: Mapping[str, pd.DataFrame], files: dict[str, bytes], stem: str,
                   title: str) -> str:
    carbon = tables.get(CARBON)
    if carbon is None:
        return '<p class="note">无碳数据 No carbon data in this run.</p>'
    mine = carbon[carbon["zone_id"].astype(str) == zone_id]
    files[f"{stem}_carbon.png"] = carbon_chart(mine, title=f"碳储量 Carbon stock by pool — {title}")
    parts = [f'<div class="figure"><img src="{stem}_carbon.png" alt="carbon stock"></div>',
             html_table(mine.drop(columns=["zone_id"]), text=("pool",))]
    change = tables.get(CHANGE)
    if change is not None and "zone_id" in change.columns:
        parts.append("<h3>碳储量变化 Carbon change</h3>")
        parts.append(html_table(change[change["zone_id"].astype(str) == zone_id].drop(columns=["zone_id"])))
    return "".join(parts)


# a zone page's indicator tables: (table, heading, columns shown)
ZONE_INDICATORS = ((VEGETATION, "草原综合植被盖度（遥感代理） Grassland vegetation cover (remote-sensing proxy)",
                    ["year", "cover_pct", "grassland_observed_ha", "ndvi_soil", "ndvi_veg", "illustrative"]),
                   (PROTECTION, "湿地保护率 Wetland protection rate",
                    ["year", "wetland_ha", "protected_wetland_ha", "protection_pct", "wetland_source",
                     "illustrative"]),
                   (GROWING_STOCK, "森林蓄积量 Forest growing stock",
                    ["year", "growing_stock_m3", "growth_m3_per_year", "illustrative"]))


def indicators_section(zone_id: str, tables: Mapping[str, pd.DataFrame]) -> str:
    """The zone's series of each plan indicator the run has: cover (a proxy), protection rate, growing stock."""
    parts = []
    for name, heading, columns in ZONE_INDICATORS:
        table = tables.get(name)
        if table is None or table.empty:
            continue
        mine = table[(table["level"] == "zone") & (table["zone_id"].astype(str) == zone_id)][columns]
        parts += [f"<h3>{heading}</h3>", html_table(mine.assign(illustrative=mine["illustrative"].map(
            lambda i: "示例数据 ILLUSTRATIVE" if i else "")),
            headers={c: " ".join(FIELD_LABELS.get(c, (c, ""))).strip() for c in columns},
            text=("wetland_source", "illustrative"))]
    return "".join(parts) or '<p class="note">本次运行无规划指标 No plan indicators in this run.</p>'


def candidates_section(parcels: pd.DataFrame) -> str:
    if parcels.empty:
        return '<p class="note">无候选地块 No candidate parcels at or above the size threshold.</p>'
    by_class = parcels.groupby("land_class").agg(parcels=("area_ha", "size"), area_ha=("area_ha", "sum"),
                                                 area_mu=("area_mu", "sum")).reset_index()
    by_class["land_class"] = by_class["land_class"].map(bilingual)
    note = _html(str(parcels["note"].iloc[0]))
    return (html_table(by_class, headers={"land_class": "地类 land class", "parcels": "地块数 parcels",
                                          "area_ha": "面积 ha", "area_mu": "面积 亩 mu"}, text=("land_class",))
            + f'<p class="note">{note}. 仅为 CCER-14-001-V01 适用性初筛，非认证 (screening only, not a '
            "certification); land tenure and planning status must be checked on the ground.</p>")


def zone_page(zone_id: str, zone: pd.Series, *, stem: str, tables: Mapping[str, pd.DataFrame],
              files: dict[str, bytes], run_name: str, title: str, colours: Mapping[str, str] | None = None) -> bytes:
    """One zone's page; `title` is its id and, with zones.name_field, its name."""
    long = tables[CLASS_AREA]
    mine = long[long["zone_id"] == zone_id]
    files[f"{stem}_classes.png"] = class_area_chart(mine, title=f"各期地类面积 Class area by epoch — {title}",
                                                    colours=colours)
    progress = tables.get(PROGRESS)
    parcels = tables.get(CANDIDATES, pd.DataFrame(columns=["zone_id"]))
    latest = mine[mine["year"] == mine["year"].max()][["class", "area_ha", "area_mu", "share"]]
    latest = latest.assign(share=latest["share"] * 100, **{"class": latest["class"].map(bilingual)})
    body = ['<p class="noprint"><a href="index.html">← 总览 Region summary</a></p>',
            f"<h1>片区 Zone {_html(title)}</h1><p class='note'>run {_html(run_name)}</p>",
            "<h2>规划 Plan</h2>", plan_section(zone),
            "<h2>目标进度 Progress against target</h2>",
            progress_section(None if progress is None else progress[progress["zone_id"] == zone_id]),
            "<h2>土地覆盖与候选造林地 Land cover and afforestation candidates</h2>",
            f'<div class="figure"><img src="{stem}_map.png" alt="land cover map"></div>',
            candidates_section(parcels[parcels["zone_id"] == zone_id]),
            "<h2>各期地类面积 Class area over the epochs</h2>",
            f'<div class="figure"><img src="{stem}_classes.png" alt="class area chart"></div>',
            html_table(latest, headers={"class": "地类 class", "area_ha": "面积 ha", "area_mu": "面积 亩 mu",
                                        "share": "占比 %"}, text=("class",)),
            "<h2>规划指标 Plan indicators</h2>", indicators_section(zone_id, tables),
            "<h2>碳储量 Carbon</h2>", carbon_section(zone_id, tables, files, stem, title)]
    return page(f"Zone {title}", "".join(body))


# change categories (pipeline.core.config.Change): prefix, suffix, and how each reads around the group's own label
# ({0}: the group's English label, {1}: the same with a lower-case first letter)
_CHANGE_PARTS = (("stable_non_", "", "稳定非{}", "Stable non-{1}"), ("stable_", "", "稳定{}", "Stable {1}"),
                 ("", "_gain", "{}增加", "{0} gain"), ("", "_loss", "{}减少", "{0} loss"))
_LOG_SPREAD = 50  # largest over smallest bar beyond which the accuracy chart's area axis is logarithmic


def change_label(category: str) -> tuple[str, str]:
    """('森林（乔木林）增加', 'Forest (tree cover) gain') for `forest_gain`, ('稳定非森林（乔木林）', 'Stable
    non-forest (tree cover)') for `stable_non_forest`; a name of no known form as it is."""
    for prefix, suffix, zh, en in _CHANGE_PARTS:
        group = category.removeprefix(prefix).removesuffix(suffix)
        if group and len(group) + len(prefix) + len(suffix) == len(category):
            group_zh, group_en = label(group)
            return zh.format(group_zh), en.format(group_en, group_en[:1].lower() + group_en[1:])
    return category, category


def _assessed(tables: Mapping[str, pd.DataFrame]) -> tuple[pd.DataFrame, list[tuple[str, str]], str]:
    """The assessed areas (a `class` per row: map classes, or change categories), their labels and what they are."""
    summary = tables[ACCURACY_SUMMARY].iloc[0]
    if ACCURACY_CHANGE_AREA in tables:
        area = tables[ACCURACY_CHANGE_AREA].drop(columns=["year_from", "year_to"]).rename(columns={"category": "class"})
        what = f"change {summary['strata_year']} → {summary['year']}"
        return area, [change_label(str(c)) for c in area["class"]], what
    area = tables[ACCURACY_AREA].drop(columns=["year"])
    return area, [label(str(c)) for c in area["class"]], str(summary["year"])


def accuracy_chart(area: pd.DataFrame, *, names: list[str], title: str) -> bytes:
    """Map area beside the error-adjusted area of each class (`names` below), with the adjusted area's 95 % interval."""
    fig = Figure(figsize=(7.5, 3.6), layout="constrained")
    ax = fig.add_subplot()
    x = np.arange(len(area))
    adjusted = area["adjusted_area_ha"].to_numpy()
    errors = np.vstack([adjusted - area["ci95_low_ha"].to_numpy(), area["ci95_high_ha"].to_numpy() - adjusted])
    ax.bar(x - 0.2, area["map_area_ha"].to_numpy(), width=0.4, label="map area", color="C7")
    ax.bar(x + 0.2, adjusted, width=0.4, yerr=errors, capsize=3, label="adjusted area, 95 % interval", color="C0")
    ax.set_xticks(x, names, rotation=30, ha="right", fontsize=8)
    shown = np.concatenate([area["map_area_ha"].to_numpy(), adjusted])
    # a stable class is often a hundred times the change beside it, which would leave the change an invisible sliver
    wide = shown[shown > 0].size > 0 and shown.max() > _LOG_SPREAD * shown[shown > 0].min()
    if wide:  # plain numbers on the ticks: chart text is literal, never mathtext
        ax.set_yscale("log", nonpositive="clip")
        ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:,.0f}"))
        ax.yaxis.set_minor_formatter(NullFormatter())
    ax.set_ylabel("area (ha, log scale)" if wide else "area (ha)")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8)
    return _png(fig)


def accuracy_page(tables: Mapping[str, pd.DataFrame], files: dict[str, bytes]) -> str:
    """accuracy.html's body: the summary, map vs adjusted areas (table and chart) and the error matrix."""
    summary = tables[ACCURACY_SUMMARY].iloc[0]
    area, labels, what = _assessed(tables)
    files["accuracy_area.png"] = accuracy_chart(area, names=[en for _, en in labels],
                                                title=f"Map and error-adjusted area, {what}")
    matrix = tables[ACCURACY_MATRIX].pivot(index="map_class", columns="reference_class", values="n")
    matrix = matrix.loc[list(area["class"]), list(area["class"])].rename_axis(index=None, columns=None)
    shown = area.assign(**{"class": [f"{zh} {en}" for zh, en in labels]})
    return "".join([
        "<h1>精度评价 Accuracy assessment</h1>",
        f'<p>{_html(what)}：总体精度 overall accuracy {_fmt(summary["overall_accuracy"], 3)} '
        f'± {_fmt(1.96 * summary["overall_se"], 3)} (95 %), n = {summary["n_samples"]}; '
        f'{_html(str(summary["estimator"]))}.</p>',
        '<div class="figure"><img src="accuracy_area.png" alt="map and adjusted area"></div>',
        "<h2>面积 Areas (ha)</h2>", html_table(shown, text=("class",)),
        "<h2>误差矩阵 Error matrix (sample counts; rows map, columns reference)</h2>",
        html_table(matrix.reset_index(names="map → reference"), text=("map → reference",)),
        '<p class="note"><a href="index.html">返回 back</a></p>'])


def region_section(indicators: pd.DataFrame) -> str:
    """Each indicator (and sink type) at its latest year; figures from illustrative inputs say so."""
    latest = indicators.sort_values("year", kind="stable").drop_duplicates(["indicator", "sink_type"], keep="last")
    latest = latest.sort_index()
    sink = latest["sink_type"].map(lambda k: f" ({SINK_LABELS.get(k, k)})" if k else "")
    marked = latest["illustrative"].map(lambda i: " [示例数据 ILLUSTRATIVE input]" if i else "")
    shown = latest.assign(indicator=latest["label_zh"] + " " + latest["label_en"] + sink + marked)
    shown = shown[["indicator", "unit", "year", "value", "target", "target_year", "pct_of_target", "target_source"]]
    shown = shown.assign(target_year=shown["target_year"].astype("Int64"))
    return html_table(shown, headers={"indicator": "指标 indicator", "unit": "单位 unit", "year": "年份 year",
                                      "value": "数值 value", "target": "目标 target",
                                      "target_year": "目标年 target year",
                                      "pct_of_target": "完成率 % of target", "target_source": "来源 source"},
                      text=("indicator", "unit", "target_source"))


def zone_summary(zones: pd.DataFrame, stems: Mapping[str, str], tables: Mapping[str, pd.DataFrame],
                 titles: Mapping[str, str]) -> str:
    parcels = tables.get(CANDIDATES, pd.DataFrame(columns=["zone_id", "area_ha"]))
    cand_ha = parcels.groupby("zone_id")["area_ha"].sum()
    rows = []
    for zone_id, stem in stems.items():
        zone = zones[zones["zone_id"] == zone_id].iloc[0]
        status = zone.get("progress_status")
        sink = SINK_LABELS.get(str(zone.get("sink_type")), "–")
        rows.append(f'<tr><td class="t"><a href="{stem}.html">{_html(titles[zone_id])}</a></td>'
                    f'<td>{_fmt(zone["area_ha"])}</td><td class="t">{sink}</td>'
                    f'<td>{_fmt(zone.get("progress_pct"), 1)}</td>'
                    f'<td class="t">{_status(status) if isinstance(status, str) else "–"}</td>'
                    f'<td>{_fmt(float(cand_ha.get(zone_id, 0.0)))}</td></tr>')
    head = ('<tr><th class="t">片区 zone</th><th>面积 area ha</th><th class="t">碳汇类型 sink type</th>'
            '<th>完成率 % of target</th><th class="t">状态 status</th><th>候选造林地 candidates ha</th></tr>')
    return f"<table>{head}{''.join(rows)}</table>"


@dataclass(frozen=True)
class Layout:
    """How the report is split: a page per zone, a page per group of zones, or the index and one table."""

    kind: str  # "zones" | "groups" | "table"
    group_field: str | None = None


def report_layout(n_zones: int, *, group_field: str | None, max_zone_pages: int) -> tuple[Layout, str]:
    """The layout for a run, and a note saying why when zones get no pages of their own ('' otherwise)."""
    if group_field is not None:
        return Layout("groups", group_field), ""
    if n_zones > max_zone_pages:
        return Layout("table"), (f"report: {n_zones:,} zones is more than report.max_zone_pages ({max_zone_pages}), "
                                 "so the report is the index and one sortable table of the zones, not a page per "
                                 "zone; set report.group_field (e.g. a 片区 or forest-farm field) for a page per group")
    return Layout("zones"), ""


ZONE_TABLE_HEADERS = {"zone_id": "片区 zone", "area_ha": "面积 area ha", "co2e_t": "碳储量 t CO2e",
                      "co2e_per_year_t": "年变化 t CO2e / yr", "progress_pct": "完成率 % of target",
                      "progress_status": "状态 status", "candidates_ha": "候选造林地 candidates ha"}


def zone_table(zones: pd.DataFrame, tables: Mapping[str, pd.DataFrame]) -> str:
    """A sortable table of zones: area, latest class areas, carbon, progress and candidate land."""
    parcels = tables.get(CANDIDATES, pd.DataFrame(columns=["zone_id", "area_ha"]))
    classes = [f"{c}_ha" for c in dict.fromkeys(tables[CLASS_AREA]["class"]) if f"{c}_ha" in zones.columns]
    wanted = ["zone_id", "area_ha", *classes, "co2e_t", "co2e_per_year_t", "progress_pct", "progress_status"]
    shown = pd.DataFrame(zones[[c for c in wanted if c in zones.columns]])
    shown["candidates_ha"] = shown["zone_id"].map(parcels.groupby("zone_id")["area_ha"].sum()).fillna(0.0)
    headers = {**ZONE_TABLE_HEADERS, **{c: f"{bilingual(c[:-3])} ha" for c in classes}}
    return html_table(shown, headers=headers, text=("zone_id", "progress_status"), sortable=True)


def group_page(name: str, members: gpd.GeoDataFrame, *, stem: str, tables: Mapping[str, pd.DataFrame],
               files: dict[str, bytes], picture: MapData, class_map: ClassMap, run_name: str) -> bytes:
    """One group of zones: a map of its zones and candidate parcels, and a sortable table of its zones."""
    parcels = tables.get(CANDIDATES)
    mine = (parcels[parcels["zone_id"].isin(members["zone_id"])].geometry if isinstance(parcels, gpd.GeoDataFrame)
            else gpd.GeoSeries([], crs=members.crs))
    files[f"{stem}_map.png"] = land_cover_map(picture, class_map=class_map, zone=members.geometry, parcels=mine,
                                              title=f"Land cover (latest epoch), {name}")
    body = ['<p class="noprint"><a href="index.html">← 总览 Region summary</a></p>',
            f"<h1>{_html(name)}</h1><p class='note'>{len(members):,} 个片区 zones, "
            f"{_fmt(float(members['area_ha'].sum()))} ha; run {_html(run_name)}</p>",
            f'<div class="figure"><img src="{stem}_map.png" alt="land cover map"></div>',
            "<h2>片区 Zones</h2>", zone_table(members, tables), SORT_SCRIPT]
    return page(name, "".join(body))


def group_summary(zones: pd.DataFrame, stems: Mapping[str, str], *, field: str) -> str:
    rows = [f'<tr><td class="t"><a href="{stem}.html">{_html(name)}</a></td>'
            f"<td>{int((zones[field].astype(str) == name).sum()):,}</td>"
            f"<td>{_fmt(float(zones.loc[zones[field].astype(str) == name, 'area_ha'].sum()))}</td></tr>"
            for name, stem in stems.items()]
    head = f'<tr><th class="t">{_html(field)}</th><th>片区数 zones</th><th>面积 area ha</th></tr>'
    return f'<table class="sortable">{head}{"".join(rows)}</table>'


def chart_style() -> AbstractContextManager[None]:
    """matplotlib settings for every chart: the CJK font first, and text drawn literally ($ is no maths)."""
    return matplotlib.rc_context({"font.family": [cjk_font_family(), "DejaVu Sans"], "text.parse_math": False})


def zone_titles(zones: pd.DataFrame, *, name_field: str | None) -> dict[str, str]:
    """Each zone's heading: its id, and its name from `name_field` when the layer has one."""
    ids = zones["zone_id"].astype(str)
    if name_field is None or name_field not in zones.columns:
        return dict(zip(ids, ids, strict=True))
    names = zones[name_field].astype("string").str.strip().fillna("")
    return {z: f"{z} {n}" if n and n != z else z for z, n in zip(ids, names, strict=True)}


def _zone_pages(tables: Mapping[str, pd.DataFrame], zones: gpd.GeoDataFrame, files: dict[str, bytes], *,
                class_map: ClassMap, maps: Mapping[str, MapData], run_name: str, titles: Mapping[str, str]) -> str:
    """A page per zone; returns the index's zone table."""
    stems = {str(z): f"zone_{i:03d}" for i, z in enumerate(zones["zone_id"])}
    parcels = tables.get(CANDIDATES)
    for zone_id, stem in stems.items():
        zone = zones[zones["zone_id"] == zone_id]
        mine = (parcels[parcels["zone_id"] == zone_id].geometry if isinstance(parcels, gpd.GeoDataFrame)
                else gpd.GeoSeries([], crs=zones.crs))
        files[f"{stem}_map.png"] = land_cover_map(maps[zone_id], class_map=class_map, zone=zone.geometry,
                                                  parcels=mine,
                                                  title=f"最新土地覆盖 Land cover (latest epoch) — {titles[zone_id]}")
        files[f"{stem}.html"] = zone_page(zone_id, zone.iloc[0], stem=stem, tables=tables, files=files,
                                          run_name=run_name, title=titles[zone_id], colours=class_colours(class_map))
    return zone_summary(zones, stems, tables, titles)


def _group_pages(tables: Mapping[str, pd.DataFrame], zones: gpd.GeoDataFrame, files: dict[str, bytes], *,
                 field: str, class_map: ClassMap, maps: Mapping[str, MapData], run_name: str) -> str:
    """A page per group of zones; returns the index's group table."""
    names = sorted(zones[field].astype(str).unique())
    stems = {name: f"group_{i:03d}" for i, name in enumerate(names)}
    for name, stem in stems.items():
        files[f"{stem}.html"] = group_page(name, zones[zones[field].astype(str) == name], stem=stem, tables=tables,
                                           files=files, picture=maps[name], class_map=class_map, run_name=run_name)
    return group_summary(zones, stems, field=field) + SORT_SCRIPT


def build_report(tables: Mapping[str, pd.DataFrame], zones: gpd.GeoDataFrame, *, class_map: ClassMap,
                 maps: Mapping[str, MapData], run_name: str, region: str, name_field: str | None = None,
                 layout: Layout = Layout("zones"), note: str = "") -> dict[str, bytes]:
    """Every report file as {name: bytes}: index.html, then zone or group pages and their PNGs.

    `maps` are keyed by zone id, or by group name for a group layout; a table layout needs none. Chart text
    is literal: a zone id such as `$x$` is drawn as written, never parsed as mathtext.
    """
    with chart_style():
        return _report_files(tables, zones, class_map=class_map, maps=maps, run_name=run_name, region=region,
                             titles=zone_titles(zones, name_field=name_field), layout=layout, note=note)


def _report_files(tables: Mapping[str, pd.DataFrame], zones: gpd.GeoDataFrame, *, class_map: ClassMap,
                  maps: Mapping[str, MapData], run_name: str, region: str, titles: Mapping[str, str],
                  layout: Layout, note: str) -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    if layout.kind == "groups" and layout.group_field is not None:
        listing = _group_pages(tables, zones, files, field=layout.group_field, class_map=class_map, maps=maps,
                               run_name=run_name)
    elif layout.kind == "table":
        listing = f'<p class="note">{_html(note)}</p>' + zone_table(zones, tables) + SORT_SCRIPT
    else:
        listing = _zone_pages(tables, zones, files, class_map=class_map, maps=maps, run_name=run_name, titles=titles)
    files["region_classes.png"] = class_area_chart(tables[CLASS_AREA],
                                                   title=f"{region} 各地类面积 Class area, all zones",
                                                   colours=class_colours(class_map))
    body = [f"<h1>{_html(region)}：碳汇片区报告 Carbon-sink zone report</h1>",
            f'<p class="note">run {_html(run_name)}; areas are exact per zone; targets come from the '
            "plan sheet and the region config.</p>",
            "<h2>区域指标 Region indicators</h2>", region_section(tables[REGION]),
            '<div class="figure"><img src="region_classes.png" alt="class area, all zones"></div>',
            "<h2>片区 Zones</h2>", listing]
    if ACCURACY_AREA in tables or ACCURACY_CHANGE_AREA in tables:
        files["accuracy.html"] = page(f"{region} accuracy", accuracy_page(tables, files))
        body.append('<p><a href="accuracy.html">精度评价与校正面积 Accuracy assessment and adjusted areas</a></p>')
    files["index.html"] = page(f"{region} report", "".join(body))
    return files
