// Style functions of the wall's map (dashboard/pages/wall.py); breaks and colours come through `hideout`.
window.shiyu = Object.assign({}, window.shiyu, {
  wallDistrict: function (feature, context) {
    const h = context.hideout || {};
    const value = feature.properties[h.property || "per_km2"] || 0;
    const breaks = h.breaks || [];
    const colours = h.colours || [];
    let colour = h.zero || "#f0f0f0";
    if (value > 0) {
      colour = colours.length ? colours[colours.length - 1] : colour;
      for (let i = 0; i < breaks.length; i++) {
        if (value <= breaks[i]) { colour = colours[i]; break; }
      }
    }
    return {fillColor: colour, fillOpacity: 0.5, color: "#e6edf5", weight: 2, opacity: 0.9};
  },
  wallHotspot: function (feature, context) {
    const h = context.hideout || {};
    const colour = (h.classes || {})[feature.properties[h.property || "class"]] || "#f7f7f7";
    return {fillColor: colour, fillOpacity: 0.85, color: colour, weight: 0.5, opacity: 0.9};
  },
  wallBelow: function () {
    return {fill: false, color: "#F0E442", weight: 1.2, opacity: 0.7, dashArray: "4 3"};
  },
  // Facilities as dots sized to the screen (0.4 vh), ringed white so they read over any district colour.
  wallFacility: function (feature, latlng, context) {
    const h = context.hideout || {};
    const colour = (h.classes || {})[feature.properties.type] || "#ffffff";
    const radius = Math.max(3, window.innerHeight * 0.004);
    return L.circleMarker(latlng, {radius: radius, fillColor: colour, fillOpacity: 1, color: "#ffffff", weight: 1.5,
                                   interactive: false});
  },
  // A report that just arrived: a yellow dot ringed dark (it reads over any district colour) under a yellow ring
  // that pulses for wall.css's 20 s, started part-way by its age so a redraw (the next arrival) does not start every
  // pulse again.
  wallNew: function (feature, latlng) {
    const radius = Math.max(6, window.innerHeight * 0.01);
    const age = "-" + (Number(feature.properties.age) || 0) + "s";
    const ring = L.circleMarker(latlng, {radius: radius, fill: false, color: "#F0E442", weight: 2, interactive: false,
                                         className: "wall-new-ring"});
    const dot = L.circleMarker(latlng, {radius: radius, fillColor: "#F0E442", fillOpacity: 1, color: "#1a1200",
                                        weight: 2.5, interactive: false, className: "wall-new-dot"});
    [ring, dot].forEach(function (marker) {
      marker.on("add", function () { if (marker._path) { marker._path.style.animationDelay = age; } });
    });
    return L.featureGroup([ring, dot]);
  },
});
