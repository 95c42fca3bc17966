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
  gridStyle: function () {
    return {fill: true, fillOpacity: 0, color: "#1f2d3d", weight: 1.2, opacity: 0.85};
  },
});
