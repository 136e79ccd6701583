"""The platform's own tables, in its own SQLite file beside the history store: who may see which counties, and
the audit log of every change."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class Profile(models.Model):
    """A user's counties (data entry users see and edit ledgers of these only); empty means all."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="profile")
    counties = models.JSONField(default=list)


class AuditEntry(models.Model):
    """One change: who, when, what and to which object. Rows are only ever added."""

    when_utc = models.DateTimeField(auto_now_add=True)
    who = models.CharField(max_length=150)
    action = models.CharField(max_length=40)
    target = models.CharField(max_length=300)
    detail = models.TextField(blank=True)

    class Meta:
        ordering = ("-when_utc", "-id")


class AlertRule(models.Model):
    """An analyst's setting of one alert rule; a rule without a row has its default (alerts.RULES)."""

    rule = models.CharField(max_length=40, unique=True)
    enabled = models.BooleanField(default=True)
    drop_ha = models.FloatField(null=True, blank=True)
    drop_pct = models.FloatField(null=True, blank=True)
    days = models.IntegerField(null=True, blank=True)


class AlertState(models.Model):
    """What people did with a raised alert, kept by the alert's key so it stays with the alert at every evaluation."""

    key = models.CharField(max_length=500, unique=True)
    state = models.CharField(max_length=20)
    note = models.TextField(blank=True)
    by = models.CharField(max_length=150)
    when_utc = models.DateTimeField(auto_now=True)


class DemoForest(models.Model):
    """示范林: a demonstration forest a county planted in a year, its area as declared (亩) and its boundary."""

    county = models.CharField(max_length=100)
    year = models.IntegerField()
    area_mu = models.FloatField()
    name = models.CharField(max_length=200)
    boundary = models.JSONField()  # GeoJSON FeatureCollection in WGS 84, the uploaded attributes as properties
    by = models.CharField(max_length=150)
    when_utc = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ("county", "year", "id")


class Subscription(models.Model):
    """碳汇认购: a buyer's subscription of a zone's accounted sink, with its certificate number."""

    county = models.CharField(max_length=100)
    buyer = models.CharField(max_length=200)
    zone_id = models.CharField(max_length=200)
    co2e_t = models.FloatField()
    date = models.DateField()
    certificate = models.CharField(max_length=100, unique=True)
    by = models.CharField(max_length=150)
    when_utc = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ("zone_id", "date", "id")
