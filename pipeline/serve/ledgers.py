"""台账 Ledgers: demonstration forests (示范林, with the plan's "at least 500 亩 per county per year" check) and
carbon-sink subscriptions (碳汇认购, never beyond the zone's accounted sink as the history store holds it).

The entries live in the platform's own database; the store is only read (a zone's accounted sink). A user sees
and edits only the counties `roles.counties_of` gives: an entry of another county is "not found", whatever its id.
"""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.db.models import QuerySet, Sum

from pipeline.core.errors import PlatformError
from pipeline.files.uploads import MAX_UPLOAD_BYTES, read_boundary
from pipeline.serve import history as store
from pipeline.serve.history import History
from pipeline.serve.models import DemoForest, Subscription

MIN_MU_PER_COUNTY_YEAR = 500.0  # 包头 plan: at least 500 亩 of demonstration forest per county per year


class ForestForm(forms.Form):
    county = forms.CharField(max_length=100)
    year = forms.IntegerField(min_value=1949, max_value=2100)
    area_mu = forms.FloatField(min_value=0.0)
    name = forms.CharField(max_length=200)
    boundary = forms.FileField(required=False)


class SubscriptionForm(forms.Form):
    county = forms.CharField(max_length=100)
    buyer = forms.CharField(max_length=200)
    zone_id = forms.CharField(max_length=200)
    co2e_t = forms.FloatField(min_value=0.0)
    date = forms.DateField()
    certificate = forms.CharField(max_length=100)


def visible(model: type[DemoForest] | type[Subscription], counties: list[str] | None) -> QuerySet[Any]:
    rows = model.objects.all()
    return rows if counties is None else rows.filter(county__in=counties)


def mu_check(forests: QuerySet[DemoForest]) -> list[dict[str, Any]]:
    """The declared 亩 per county and year against the plan's minimum."""
    totals = forests.values("county", "year").annotate(total_mu=Sum("area_mu")).order_by("county", "year")
    return [{**row, "minimum_mu": MIN_MU_PER_COUNTY_YEAR, "meets": row["total_mu"] >= MIN_MU_PER_COUNTY_YEAR}
            for row in totals]


def boundary(upload: Any) -> dict[str, Any]:
    """An uploaded boundary as a GeoJSON FeatureCollection in WGS 84 (checked by `files.uploads`)."""
    # one byte more than an upload may have, so a larger one is refused by its size without being read whole
    frame = read_boundary(upload.read(MAX_UPLOAD_BYTES + 1), name=str(upload.name))
    collection: dict[str, Any] = json.loads(frame.to_json(drop_id=True))
    return collection


def save_forest(data: dict[str, Any], *, entry: DemoForest | None, by: str) -> DemoForest:
    """A new entry (its boundary required) or an edited one (a new boundary optional)."""
    shape = boundary(data["boundary"]) if data.get("boundary") else None
    if shape is None and entry is None:
        raise PlatformError("boundary: upload the demonstration forest's boundary (.geojson or zipped Shapefile)")
    forest = entry or DemoForest()
    for key in ("county", "year", "area_mu", "name"):
        setattr(forest, key, data[key])
    forest.boundary = shape or forest.boundary
    forest.by = by
    forest.save()
    return forest


def save_subscription(history: History, data: dict[str, Any], *, entry: Subscription | None,
                      by: str) -> Subscription:
    """A subscription kept only within the zone's accounted sink, counting the zone's other subscriptions."""
    if store.zone(history, data["zone_id"]) is None:
        raise PlatformError(f"zone_id {data['zone_id']!r} is not a current zone of the history store")
    sink = store.accounted_sink(history, data["zone_id"])
    others = Subscription.objects.filter(zone_id=data["zone_id"]).exclude(pk=entry.pk if entry else None)
    taken = float(others.aggregate(total=Sum("co2e_t"))["total"] or 0.0)
    if sink is None or taken + data["co2e_t"] > sink:
        raise PlatformError(f"co2e_t {data['co2e_t']:.4f} t CO2e for zone {data['zone_id']!r} is beyond its accounted "
                            f"sink: {'none recorded' if sink is None else f'{sink:.4f} t CO2e'}, of which "
                            f"{taken:.4f} t CO2e are already subscribed")
    duplicate = Subscription.objects.filter(certificate=data["certificate"]).exclude(pk=entry.pk if entry else None)
    if duplicate.exists():
        raise PlatformError(f"certificate {data['certificate']!r} is already in the ledger; each certificate "
                            "number is entered once")
    subscription = entry or Subscription()
    for key in ("county", "buyer", "zone_id", "co2e_t", "date", "certificate"):
        setattr(subscription, key, data[key])
    subscription.by = by
    subscription.save()
    return subscription


def forest_row(forest: DemoForest) -> dict[str, Any]:
    return {"id": forest.pk, "county": forest.county, "year": forest.year, "area_mu": forest.area_mu,
            "name": forest.name, "by": forest.by, "when_utc": forest.when_utc.isoformat(),
            "features": len(forest.boundary.get("features", []))}


def subscription_row(item: Subscription) -> dict[str, Any]:
    return {"id": item.pk, "county": item.county, "buyer": item.buyer, "zone_id": item.zone_id,
            "co2e_t": item.co2e_t, "date": item.date.isoformat(), "certificate": item.certificate, "by": item.by,
            "when_utc": item.when_utc.isoformat()}
