from django.contrib.auth.views import LogoutView
from django.urls import path, re_path
from django.views.static import serve

from pipeline.serve import views
from pipeline.serve.site import STATIC_DIR

urlpatterns = [
    path("", views.overview, name="overview"),
    path("login/", views.ThrottledLogin.as_view(), name="login"),
    path("logout/", LogoutView.as_view(), name="logout"),  # POST only in Django 5: no log-out by a stray link
    path("zones/<path:zone_id>/", views.zone, name="zone"),
    path("zones/<path:zone_id>/series.csv", views.zone_csv, name="zone_csv"),
    path("zones/<path:zone_id>/series.xlsx", views.zone_xlsx, name="zone_xlsx"),
    path("zones/<path:zone_id>/landcover/<int:year>.png", views.zone_landcover, name="zone_landcover"),
    path("runs/", views.runs, name="runs"),
    path("runs/<str:run_id>/", views.run, name="run"),
    path("runs/<str:run_id>/<str:action>/", views.review, name="review"),
    path("alerts/", views.alerts_page, name="alerts"),
    path("alerts/rules/", views.alert_rules, name="alert_rules"),
    path("alerts/<str:action>/", views.alert_state, name="alert_state"),
    path("ledgers/", views.ledgers_page, name="ledgers"),
    path("ledgers/<str:kind>/new/", views.ledger_entry, name="ledger_new"),
    path("ledgers/<str:kind>/<int:entry_id>/", views.ledger_entry, name="ledger_entry"),
    path("audit/", views.audit_log, name="audit"),
    path("api/v1/overview", views.api_overview, name="api_overview"),
    path("api/v1/zones", views.api_zones, name="api_zones"),
    path("api/v1/zones.geojson", views.api_zone_shapes, name="api_zone_shapes"),
    path("api/v1/zones/<path:zone_id>", views.api_zone, name="api_zone"),
    path("api/v1/alerts", views.api_alerts, name="api_alerts"),
    path("api/v1/ledgers", views.api_ledgers, name="api_ledgers"),
    path("api/v1/ledgers/forests/<int:entry_id>", views.api_forest, name="api_forest"),
    path("api/v1/runs", views.api_runs, name="api_runs"),
    path("api/v1/runs/<str:run_id>", views.api_run, name="api_run"),
    # the package's own scripts, styles and Leaflet: an intranet server needs no other web server for them
    re_path(r"^static/(?P<path>.*)$", serve, {"document_root": STATIC_DIR}),
]
