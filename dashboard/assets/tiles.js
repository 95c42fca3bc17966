// Vector tiles on the explore map, drawn by Leaflet.VectorGrid (assets/vendor, 1.3.0 from npm, Beerware licence).
// dash-leaflet has no vector-tile layer, so every Leaflet map registers itself here as Leaflet creates it (an
// init hook: dash_leaflet.js, which defines L, is loaded before the assets), and a clientside callback hands
// over the tile URLs the server chose for the view, filters included: a new URL is a new layer.
(function () {
  const shiyu = window.shiyu = window.shiyu || {};
  const maps = {};    // Leaflet maps by the id of the Dash component that holds them
  const wanted = {};  // by map id: the tile layers last asked for, drawn as soon as the map is there
  const drawn = {};   // by map id, then layer name: {url, layer}

  function holderId(map) {
    const holder = map.getContainer().closest("[id]");
    return holder ? holder.id : null;
  }

  function dot(colours) {
    return function (properties, zoom) {
      return {radius: zoom >= 17 ? 5 : zoom >= 15 ? 4 : 3, fill: true, fillColor: colours[properties.category] || "#555555",
              fillOpacity: 0.9, stroke: true, color: "#ffffff", weight: zoom >= 15 ? 1 : 0.5, opacity: 0.9};
    };
  }

  const OPTIONS = {
    incidents: function (config) {
      return {pane: "overlayPane", vectorTileLayerStyles: {incidents: dot(config.colours || {})}};
    },
    grids: function () {
      // The outlines of the GeoJSON grids (map.js gridStyle), in the same pane above the hexagons. In SVG: a
      // canvas tile scaled for a fractional zoom (the map snaps to quarters) broke thin lines into dashes.
      return {pane: "grids", rendererFactory: L.svg.tile,
              vectorTileLayerStyles: {grids: {fill: true, fillOpacity: 0, color: "#1f2d3d", weight: 1.2, opacity: 0.85}}};
    },
  };

  function draw(id) {
    const map = maps[id], config = wanted[id];
    if (!map || !config || !L.vectorGrid) { return; }
    const layers = drawn[id] = drawn[id] || {};
    Object.keys(OPTIONS).forEach(function (name) {
      const url = config[name] || null, shown = layers[name];
      if (shown && shown.url === url) { return; }
      if (shown) { map.removeLayer(shown.layer); delete layers[name]; }
      const options = OPTIONS[name](config);
      if (!url || !map.getPane(options.pane)) { return; }
      const layer = L.vectorGrid.protobuf(url, Object.assign({
        rendererFactory: L.canvas.tile, interactive: false, maxZoom: 22,
        className: "shiyu-tiles shiyu-tiles-" + name, fetchOptions: {credentials: "same-origin"},
      }, options));
      layers[name] = {url: url, layer: layer.addTo(map)};
    });
  }

  if (window.L && L.Map) {
    L.Map.addInitHook(function () {
      const map = this, id = holderId(map);
      if (!id) { return; }
      maps[id] = map;
      map.on("unload", function () {
        if (maps[id] === map) { delete maps[id]; delete drawn[id]; }
      });
      // dash-leaflet adds its panes (the grids pane) right after the map: draw once they are there.
      setTimeout(function () { draw(id); }, 0);
    });
  }

  shiyu.tiles = {
    // Draw the tile layers of config ({incidents: url|null, grids: url|null, colours: {category: colour}}).
    show: function (id, config) {
      wanted[id] = config || {};
      draw(id);
      return Object.keys(drawn[id] || {}).sort().join(",");
    },
  };
})();
