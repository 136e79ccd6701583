// Zone maps: shapes from the platform's own GeoJSON, no base tiles (the site asks no other host for anything).
// Every text a user wrote (zone names and ids) reaches the page through textContent, never as HTML.
"use strict";
const STATUS_COLOURS = {"reached": "#1a9850", "on track": "#4575b4", "behind": "#d73027"};

function popup(properties) {
  const box = document.createElement("div");
  const link = document.createElement("a");
  link.href = "/zones/" + encodeURIComponent(properties.zone_id).replace(/%2F/g, "/") + "/";
  link.textContent = properties.name;
  const status = document.createElement("div");
  status.textContent = (properties.zone_id || "") + " · " + (properties.plan_status || "—");
  box.append(link, status);
  return box;
}

async function drawMap(element) {
  const map = L.map(element, {attributionControl: false, zoomSnap: 0.25});
  const answer = await fetch(element.dataset.url, {credentials: "same-origin"});
  const shapes = await answer.json();
  const layer = L.geoJSON(shapes, {
    style: (feature) => ({color: STATUS_COLOURS[feature.properties.plan_status] || "#777777", weight: 2,
                          fillOpacity: 0.35, className: "zone-shape"}),
    onEachFeature: (feature, shape) => shape.bindPopup(popup(feature.properties)),
  }).addTo(map);
  if (layer.getLayers().length) map.fitBounds(layer.getBounds(), {padding: [10, 10]});
  element.dataset.shapes = String(layer.getLayers().length);
}

document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll(".zone-map").forEach((element) => { drawMap(element); });
});
