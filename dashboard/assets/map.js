// Style functions the map calls in the browser; data comes through `hideout`
// so a restyle never re-sends GeoJSON.
window.shiyu = Object.assign({}, window.shiyu, {
  hexStyle: function (feature, context) {
    const h = context.hideout || {};
    const value = feature.properties[h.property || "count"];
    const breaks = h.breaks || [];
    const colours = h.colours || [];
    let colour = colours.length ? colours[colours.length - 1] : "#bd0026";
    for (let i = 0; i < breaks.length; i++) {
      if (value <= breaks[i]) { colour = colours[i]; break; }
    }
    return {fillColor: colour, fillOpacity: 0.78, color: "#5b3a29", weight: 0.4, opacity: 0.5};
  },
  classStyle: function (feature, context) {
    const h = context.hideout || {};
    const colour = (h.classes || {})[feature.properties[h.property || "class"]] || "#f7f7f7";
    return {fillColor: colour, fillOpacity: 0.85, color: "#444444", weight: 0.4, opacity: 0.6};
  },
  incidentPoint: function (feature, latlng, context) {
    const h = context.hideout || {};
    const colour = (h.colours || {})[feature.properties.category] || "#555555";
    return L.circleMarker(latlng, {radius: 6, fillColor: colour, fillOpacity: 0.9, color: "#ffffff", weight: 1.5});
  },
  // Coverage, facilities and warnings: features of several kinds in one layer.
  kindStyle: function (feature, context) {
    const h = context.hideout || {};
    const p = feature.properties;
    let colour = "#969696";
    if (p.kind === "facility") {  // Leaflet styles the circle markers too
      return {fillColor: (h.classes || {})[p.type] || colour, fillOpacity: 0.95, color: "#ffffff", weight: 1.2, radius: 5};
    }
    if (p.kind === "hot_unpatrolled") colour = h.hot_unpatrolled;
    else if (p.kind === "blind_spot") colour = (h.classes || {}).blind_spot;
    else if (p.window) colour = (h.colours || {})[p.window];
    else if (p.share !== null && p.share !== undefined) {
      const breaks = h.breaks || [], colours = h.colours || [];
      colour = colours[colours.length - 1];
      for (let i = 0; i < breaks.length; i++) { if (p.share < breaks[i]) { colour = colours[i]; break; } }
    } else if (h.missing) colour = h.missing;
    const cell = p.kind === "hot_unpatrolled" || p.kind === "blind_spot";
    let fillOpacity = cell ? 0.8 : 0.65;
    if (p.kind === "blind_spot") {  // the more types a cell is beyond the reach of, the darker
      fillOpacity = 0.1 + 0.75 * p.uncovered.length / Math.max((h.types || []).length, 1);
    }
    return {fillColor: colour, fillOpacity: fillOpacity, color: cell ? "#444444" : "#1f2d3d",
            weight: cell ? 0.3 : 0.6, opacity: cell ? 0.4 : 0.7};
  },
  // The supervision layer: the SLA light as the fill, an open order's level as a ring (heavier as it rises).
  supervisionStyle: function (feature, context) {
    const h = context.hideout || {};
    const p = feature.properties;
    const fill = (h.lights || {})[p.light] || "#bbbbbb";
    if (p.order_level) {
      const weight = {reminder: 2.5, order: 3, red_list: 4}[p.order_level] || 3;
      return {radius: 8, fillColor: fill, fillOpacity: 0.95, color: (h.rings || {})[p.order_level] || "#000000",
              weight: weight, opacity: 1};
    }
    return {radius: 5, fillColor: fill, fillOpacity: 0.95, color: "#444444", weight: 1, opacity: 0.9};
  },
  facilityPoint: function (feature, latlng, context) {
    const h = context.hideout || {};
    const colour = (h.classes || {})[feature.properties.type] || "#555555";
    return L.circleMarker(latlng, {radius: 5, fillColor: colour, fillOpacity: 0.95, color: "#ffffff", weight: 1.2});
  },
  // The areas layer: a choropleth of one KPI (incidents per km²), the chosen area's outline heavier.
  areaStyle: function (feature, context) {
    const h = context.hideout || {};
    const value = feature.properties[h.property || "per_km2"] || 0;
    const breaks = h.breaks || [], colours = h.colours || [];
    let colour = h.zero || "#f0f0f0";
    if (value > 0) {
      colour = colours.length ? colours[colours.length - 1] : colour;
      for (let i = 0; i < breaks.length; i++) { if (value <= breaks[i]) { colour = colours[i]; break; } }
    }
    return {fillColor: colour, fillOpacity: 0.72, color: "#1f2d3d", weight: 1, opacity: 0.8};
  },
  gridStyle: function () {
    return {fill: true, fillOpacity: 0, color: "#1f2d3d", weight: 1.2, opacity: 0.85};
  },
});
