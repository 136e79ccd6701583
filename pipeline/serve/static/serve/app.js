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

// The overview's map (data-bounds set) asks for the zones in view at the map's zoom, again after each move: at
// 小班 scale the server sends the largest zones in view, boundaries simplified to about a pixel.
async function drawMap(element) {
  const map = L.map(element, {attributionControl: false, zoomSnap: 0.25});
  // over a land-cover overlay the zone is an outline only, so the classes show in their own colours
  const outlined = document.getElementById("overlays") !== null;
  const style = (feature) => ({color: STATUS_COLOURS[feature.properties.plan_status] || "#777777",
                               weight: outlined ? 3 : 2, fillOpacity: outlined ? 0 : 0.35, className: "zone-shape"});
  let layer = null;
  let casing = null;  // a white line under the outline, so it shows over any land-cover colour
  async function load(query) {
    const answer = await fetch(element.dataset.url + query, {credentials: "same-origin"});
    const shapes = await answer.json();
    if (layer) layer.remove();
    if (casing) casing.remove();
    if (outlined) {
      casing = L.geoJSON(shapes, {style: {color: "#ffffff", weight: 7, opacity: 0.85, fill: false},
                                  interactive: false}).addTo(map);
    }
    layer = L.geoJSON(shapes, {style: style, onEachFeature: (feature, shape) => shape.bindPopup(popup(feature.properties))})
      .addTo(map);
    element.dataset.leftOut = String(shapes.left_out || 0);
    element.dataset.shapes = String(layer.getLayers().length);
  }
  if (!element.dataset.bounds) {
    await load("");
    if (layer.getLayers().length) map.fitBounds(layer.getBounds(), {padding: [10, 10]});
    landcover(map, element);
    return;
  }
  const [west, south, east, north] = element.dataset.bounds.split(",").map(Number);
  map.fitBounds([[south, west], [north, east]], {padding: [10, 10]});
  const inView = () => "?bbox=" + map.getBounds().toBBoxString() + "&zoom=" + Math.round(map.getZoom());
  await load(inView());
  map.on("moveend", () => { load(inView()); });
}

// The zone page's land cover: one epoch's picture (a PNG from this server, in the web map's projection, placed by
// its corners) under the zone outline; the year slider picks the epoch and shows its legend or its note.
function landcover(map, element) {
  const data = document.getElementById("overlays");
  const slider = document.getElementById("year");
  if (!data || !slider) return;
  const epochs = JSON.parse(data.textContent);
  map.createPane("landcover").style.zIndex = "350";  // above the background, under the zone outlines (400)
  let image = null;
  function show() {
    const epoch = epochs[Number(slider.value)];
    document.getElementById("year-value").textContent = String(epoch.year);
    document.querySelectorAll(".landcover").forEach((box) => { box.hidden = box.dataset.year !== String(epoch.year); });
    if (image) image.remove();
    delete element.dataset.overlay;
    image = epoch.url ? L.imageOverlay(epoch.url, epoch.corners, {pane: "landcover", className: "landcover-image"}) : null;
    if (image) {
      image.on("load", () => { element.dataset.overlay = String(epoch.year); });
      image.addTo(map);
    }
  }
  slider.addEventListener("input", show);
  show();
}

document.addEventListener("DOMContentLoaded", () => {
  // colours through the CSSOM: the content security policy refuses style attributes written in the page
  document.querySelectorAll(".swatch[data-colour]").forEach((swatch) => {
    swatch.style.backgroundColor = swatch.dataset.colour;
  });
  document.querySelectorAll(".zone-map").forEach((element) => { drawMap(element); });
});
