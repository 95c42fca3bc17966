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

  // A tile past its cap holds counts per H3 cell (layers/tile_cells.py): hexagons shaded by count, YlOrRd as the
  // hexagon layer is, in classes a power of ten apart so a dense core reads denser than the countryside.
  const CELL_COLOURS = ["#ffffb2", "#fed976", "#feb24c", "#fd8d3c", "#f03b20", "#bd0026"];
  function cell(properties) {
    const n = Math.max(1, properties.count || 0);
    const i = Math.min(CELL_COLOURS.length - 1, Math.floor(Math.log10(n) * 1.5));
    return {fill: true, fillColor: CELL_COLOURS[i], fillOpacity: 0.7, stroke: true, color: "#ffffff", weight: 0.5,
            opacity: 0.6};
  }

  function escape(text) {
    return String(text).replace(/[&<>"']/g, function (c) {
      return {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c];
    });
  }

  // The tooltip of a GeoJSON point (components/mapview.py point_tooltip), in the words the server sent.
  function pointTooltip(p, labels) {
    if (p.h3 !== undefined) { return escape(p.count) + " " + escape(labels.incidents || "incidents"); }
    const categories = labels.categories || {}, statuses = labels.statuses || {};
    return escape(categories[p.category] || p.category) + " · " + escape(statuses[p.status] || p.status) + "<br>" +
      escape(String(p.reported_at || "").slice(0, 16).replace("T", " ")) + "<br>" +
      escape(labels.grid || "Grid") + ": " + escape(p.grid_code || "—");
  }

  // Leaflet.VectorGrid 1.3.0 was written for Leaflet 1.2; dash-leaflet brings 1.9, and two things broke that a
  // pointer on a dot needs. Its click handler calls L.DomEvent.fakeStop, which 1.8 removed (stopping the click's
  // propagation is what it did: the map does not take the click as its own too). And Leaflet 1.9 places the event
  // of a layer that has getLatLng at that latlng, but a tile's dot (a CircleMarker) has none: without the method
  // the event is placed where the pointer is. Mended once, when the vendored script has run.
  let mended = false;
  function mend() {
    if (mended || !L.VectorGrid) { return; }
    mended = true;
    if (!L.DomEvent.fakeStop) { L.DomEvent.fakeStop = L.DomEvent.stopPropagation; }
    const create = L.VectorGrid.prototype._createLayer;
    L.VectorGrid.prototype._createLayer = function () {
      const symbol = create.apply(this, arguments);
      const proto = symbol && Object.getPrototypeOf(symbol);
      if (proto && proto.getLatLng && !symbol._latlng) { proto.getLatLng = undefined; }
      return symbol;
    };
  }

  function explain(layer, map, labels) {
    // A dot's tooltip on hover and, for touch screens, on a tap.
    const tip = L.tooltip({className: "shiyu-tile-tooltip", direction: "top", offset: [0, -4]});
    layer.on("mouseover click", function (e) {
      if (!e.layer || !e.layer.properties) { return; }
      map.openTooltip(tip.setLatLng(e.latlng).setContent(pointTooltip(e.layer.properties, labels)));
    }).on("mouseout", function () { map.closeTooltip(tip); }).on("remove", function () { map.closeTooltip(tip); });
  }

  const OPTIONS = {
    incidents: function (config) {
      return {pane: "overlayPane", interactive: true, vectorTileLayerStyles: {incidents: dot(config.colours || {}),
                                                                     incident_cells: cell}};
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
    mend();
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
      if (options.interactive) { explain(layer, map, config.labels || {}); }
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
