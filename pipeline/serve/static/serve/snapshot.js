// The public snapshot's maps (sinkzone publish): shapes from zones.js, a file assigning the zones' GeoJSON, so the
// pages work from any web server and from files opened in a browser (which may not fetch zones.geojson); no base
// tiles, no other host. Every text a user wrote (zone names and ids) reaches the page through textContent.
"use strict";
const STATUS_COLOURS = {"reached": "#1a9850", "on track": "#4575b4", "behind": "#d73027"};

function zonePage(root, properties) {
  return root + "zones/" + encodeURIComponent(properties.page) + ".html";
}

function popup(root, properties) {
  const box = document.createElement("div");
  const link = document.createElement("a");
  link.href = zonePage(root, properties);
  link.textContent = properties.name;
  const status = document.createElement("div");
  status.textContent = properties.zone_id + " · " + (properties.plan_status || "—");
  box.append(link, status);
  return box;
}

function drawMap(element) {
  const root = element.dataset.root || "";
  const only = element.dataset.zone;
  const zones = window.SINKZONE_ZONES || {type: "FeatureCollection", features: []};
  const features = zones.features.filter((feature) => !only || feature.properties.page === only);
  const map = L.map(element, {attributionControl: false, zoomSnap: 0.25});
  const style = (feature) => ({color: STATUS_COLOURS[feature.properties.plan_status] || "#777777", weight: 2,
                               fillOpacity: 0.35, className: "zone-shape"});
  const layer = L.geoJSON({type: "FeatureCollection", features: features}, {
    style: style, onEachFeature: (feature, shape) => shape.bindPopup(popup(root, feature.properties))}).addTo(map);
  if (layer.getLayers().length) map.fitBounds(layer.getBounds(), {padding: [10, 10]});
  element.dataset.shapes = String(layer.getLayers().length);
}

document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll(".zone-map").forEach(drawMap);
});
