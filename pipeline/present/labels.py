"""Bilingual labels: what each field and class is called in Chinese and English, in QGIS aliases, table headers,
the report and the workbook."""

from __future__ import annotations

from collections.abc import Collection

from pipeline.core.classmaps import LABELS, NODATA_CLASS, label
from pipeline.core.names import ZONES

FIELD_LABELS: dict[str, tuple[str, str]] = {
    "zone_id": ("分区编号", "Zone ID"), "name": ("名称", "Name"), "name_zh": ("中文名称", "Name (Chinese)"),
    "name_en": ("英文名称", "Name (English)"), "adcode": ("行政区划代码", "Administrative code"),
    "area_ha": ("面积 (ha)", "Area (ha)"), "area_mu": ("面积 (亩)", "Area (mu)"),
    "area_km2": ("面积 (km²)", "Area (km²)"), "year": ("年份", "Year"), "class": ("地类", "Land class"),
    "share": ("占分区面积比例", "Share of zone area"), "sink_type": ("碳汇类型", "Sink type"),
    "co2e_t": ("碳储量 (t CO2e)", "Carbon stock (t CO2e)"),
    "progress_pct": ("目标完成度 (%)", "Progress to target (%)"),
    # the tables' columns (tables.xlsx headers, attribute-table aliases)
    "pool": ("碳库", "Carbon pool"), "carbon_t": ("碳储量 (t C)", "Carbon stock (t C)"),
    "co2e_low_t": ("碳储量下限 (t CO2e)", "Carbon stock, low (t CO2e)"),
    "co2e_high_t": ("碳储量上限 (t CO2e)", "Carbon stock, high (t CO2e)"),
    "co2e_per_year_t": ("年均碳汇量 (t CO2e/年)", "Sequestration per year (t CO2e/yr)"),
    "co2e_change_t": ("碳储量变化 (t CO2e)", "Carbon stock change (t CO2e)"),
    "method": ("估算方法", "Method"), "source": ("数据来源", "Source"),
    "class_from": ("原地类", "Class from"), "class_to": ("现地类", "Class to"),
    "year_from": ("起始年份", "Year from"), "year_to": ("终止年份", "Year to"),
    "region": ("区域", "Region"), "indicator": ("指标", "Indicator"), "unit": ("单位", "Unit"),
    "value": ("数值", "Value"), "target": ("目标值", "Target"), "target_year": ("目标年", "Target year"),
    "pct_of_target": ("完成率 (%)", "% of target"), "meets_target": ("是否达标", "Meets target"),
    "target_source": ("目标来源", "Target source"), "label_zh": ("中文名称", "Label (Chinese)"),
    "label_en": ("英文名称", "Label (English)"), "plan_name": ("片区名称", "Plan name"),
    "measures": ("主要措施", "Measures"), "metric": ("指标", "Metric"), "classes": ("地类", "Classes"),
    "latest_year": ("最新年份", "Latest year"), "latest_value": ("最新值", "Latest value"),
    "target_value": ("目标值", "Target value"), "slope_per_year": ("年变化", "Change per year"),
    "projected_value": ("目标年预测值", "Projected value"), "status": ("状态", "Status"),
    "land_class": ("地类", "Land class"), "epochs_checked": ("核查年份", "Epochs checked"),
    "history_checked": ("历史已核查", "History checked"), "note": ("说明", "Note"),
    "target_share_pct": ("目标占比 (%)", "Target share (%)"), "target_area_ha": ("目标面积 (ha)", "Target area (ha)"),
    "target_carbon_t": ("目标碳储量 (t C)", "Target carbon stock (t C)"),
    # the plan's own indicators and the precision rule
    "illustrative": ("示例数据（非实测）", "Illustrative input (not measured)"), "level": ("层级", "Level"),
    "landcover_year": ("地类年份", "Land-cover year"), "observed_ha": ("有效观测面积 (ha)", "Observed area (ha)"),
    "mean": ("面积加权均值", "Area-weighted mean"), "min": ("最小值", "Minimum"), "max": ("最大值", "Maximum"),
    "p10": ("10% 分位数", "10 % quantile"), "p50": ("中位数", "Median"), "p90": ("90% 分位数", "90 % quantile"),
    "grassland_observed_ha": ("草地有效观测面积 (ha)", "Grassland observed (ha)"),
    "cover_pct": ("草原综合植被盖度（遥感代理, %）", "Grassland vegetation cover (remote-sensing proxy, %)"),
    "ndvi_soil": ("NDVI 裸土端元", "NDVI of bare soil"), "ndvi_veg": ("NDVI 植被端元", "NDVI of full cover"),
    "endmembers": ("端元取法", "End-members"), "wetland_ha": ("湿地面积 (ha)", "Wetland area (ha)"),
    "protected_wetland_ha": ("受保护湿地面积 (ha)", "Protected wetland (ha)"),
    "protection_pct": ("湿地保护率 (%)", "Wetland protection rate (%)"),
    "wetland_classes": ("计入湿地的地类", "Classes counted as wetland"),
    "wetland_source": ("湿地来源", "Wetland from"),
    "growing_stock_m3": ("森林蓄积量 (m³)", "Growing stock (m³)"),
    "grassland_cover_pct": ("草原综合植被盖度（遥感代理, %）", "Grassland vegetation cover (remote-sensing proxy, %)"),
    "wetland_protection_pct": ("湿地保护率 (%)", "Wetland protection rate (%)"),
    "growth_m3_per_year": ("年均蓄积增长 (m³/年)", "Growth (m³/yr)"),
    "u90_pct": ("90% 置信区间相对半宽 U (%)", "U, 90 % half-width relative (%)"),
    "conservative_co2e_t": ("保守碳储量 (t CO2e, 精度扣减后)", "Conservative stock (t CO2e, after deduction)"),
    "conservative_co2e_change_t": ("保守碳储量变化 (t CO2e, 精度扣减后)",
                                   "Conservative change (t CO2e, after deduction)"),
}
# the zone layer's area is the zone's own; elsewhere `area_ha` is a class's, a transition's or a parcel's
LAYER_FIELD_LABELS: dict[str, dict[str, tuple[str, str]]] = {
    ZONES: {"area_ha": ("分区面积 (ha)", "Zone area (ha)"), "area_mu": ("分区面积 (亩)", "Zone area (mu)"),
            "area_km2": ("分区面积 (km²)", "Zone area (km²)")},
}
_AREA_UNITS = {"ha": ("ha", "ha"), "mu": ("亩", "mu")}


def field_alias(field: str, classes: Collection[str] = LABELS, *, layer: str | None = None) -> str | None:
    """'森林（乔木林）面积 (ha) / Forest (tree cover) area (ha)' style alias, or None for an unknown field.

    `classes` are the class names whose `<class>_ha` fields exist (by default the role names); `layer`
    picks that layer's own labels where a field means something else there.
    """
    labels = {**FIELD_LABELS, **LAYER_FIELD_LABELS.get(layer or "", {})}
    if field in labels:
        zh, en = labels[field]
        return f"{zh} / {en}"
    stem, _, unit = field.rpartition("_")
    if (stem in classes or stem == NODATA_CLASS) and unit in _AREA_UNITS:
        zh, en = label(stem)
        zh_unit, en_unit = _AREA_UNITS[unit]
        return f"{zh}面积 ({zh_unit}) / {en} area ({en_unit})"
    return None


def class_text(name: str) -> str:
    """'森林（乔木林） / Forest (tree cover)' for a class named after its role; a bureau's own name once."""
    return " / ".join(dict.fromkeys(label(name)))
