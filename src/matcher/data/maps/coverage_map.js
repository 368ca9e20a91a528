/* matcher coverage map: draws counties, tier layers, legend, search from one JSON blob.
 * All user text goes into the page with textContent, never parsed as HTML, so names show as text.
 * Expects: L (Leaflet), MATCHER_MAP (the folium map object), MATCHER_DATA_ID (id of the JSON script). */
(function (map, dataId) {
  "use strict";
  var D = JSON.parse(document.getElementById(dataId).textContent);
  var T = D.labels;
  var renderer = L.canvas({ padding: 0.2 });
  var stats = { counties: 0, points: {}, ready: false };

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }
  function add(parent, child) { parent.appendChild(child); return child; }

  // ---- people lines in popups ----------------------------------------------------------
  function helperLines(box, links) {
    if (!links || !links.length) { add(box, el("div", "mm-none", T["map.nobody"])); return; }
    var list = add(box, el("div", "mm-people"));
    links.forEach(function (lk) {
      var h = D.helpers[lk[0]];
      var li = add(list, el("div", "mm-person"));
      add(li, el("b", null, h[0]));
      var parts = [];
      if (h[1] >= 0 && D.units[h[1]] !== h[0]) parts.push(D.units[h[1]]);
      if (h[2] >= 0) parts.push(D.ranks[h[2]]);
      parts.push(T["col.start_year"] + " " + lk[1]);
      parts.push(lk[2] ? T["pinned.true"] : T["pinned.false"]);
      add(li, el("span", "mm-meta", " " + parts.join(" · ")));
    });
  }
  function popupHead(box, name, path, extra) {
    add(box, el("div", "mm-title", name));
    if (path) add(box, el("div", "mm-path", path));
    (extra || []).forEach(function (x) { if (x) add(box, el("div", "mm-extra", x)); });
  }

  // ---- counties -------------------------------------------------------------------------
  var C = D.counties;  // {info: [[code, name, path, povertyLabel, poverty, status, nHelpers, deptIdx, links, schematic]], geojson|null}
  var modeNow = "coverage";
  function countyColor(i) {
    var c = C.info[i];
    if (modeNow === "coverage") return D.statusColors[c[5]];
    if (modeNow === "department") return c[7] >= 0 ? D.deptColors[c[7] % D.deptColors.length] : "#bdbdbd";
    if (modeNow === "poverty") return D.povertyColors[String(c[4])] || "#e0e0e0";
    var n = c[6], k = 0;
    while (k < D.helperBins.length && n >= D.helperBins[k]) k++;
    return D.helperColors[k];
  }
  function countyPopup(i) {
    var c = C.info[i], box = el("div", "mm-popup");
    var extra = [c[3], D.countyTier ? D.countyTier + D.sep + D.statusNames[c[5]] : "", T["map.helpers_in_county"] + D.sep + c[6]];
    if (c[9]) extra.push(T["map.schematic"]);
    popupHead(box, c[1], c[2], extra);
    helperLines(box, c[8]);
    return box;
  }
  function countyTip(i) {
    var c = C.info[i], box = el("div");
    add(box, el("b", null, c[1]));
    var who = (c[8] || []).map(function (lk) { return D.helpers[lk[0]][0]; }).join(D.listSep);
    add(box, el("div", null, D.statusNames[c[5]] + (who ? D.sep + who : "")));
    return box;
  }
  var countyLayer;
  if (C.geojson) {
    countyLayer = L.geoJSON(C.geojson, {
      renderer: renderer,
      style: function (f) { return { color: "#555", weight: 1, fillColor: countyColor(f.properties.i), fillOpacity: 0.55 }; },
      onEachFeature: function (f, layer) {
        layer.bindPopup(function () { return countyPopup(f.properties.i); }, { maxWidth: 360 });
        layer.bindTooltip(function () { return countyTip(f.properties.i); }, { sticky: true });
        layer._mmIndex = f.properties.i;
      }
    });
  } else {
    countyLayer = L.featureGroup(C.info.map(function (c, i) {
      var m = L.circleMarker([c[11], c[10]], { renderer: renderer, radius: 12, color: "#555", weight: 1, fillColor: countyColor(i), fillOpacity: 0.7 });
      m.bindPopup(function () { return countyPopup(i); }, { maxWidth: 360 });
      m.bindTooltip(function () { return countyTip(i); });
      m._mmIndex = i;
      return m;
    }));
  }
  countyLayer.addTo(map);
  stats.counties = countyLayer.getLayers().length;
  var countyByIndex = {};
  countyLayer.eachLayer(function (l) { countyByIndex[l._mmIndex] = l; });
  function restyleCounties() {
    countyLayer.eachLayer(function (l) {
      var s = { fillColor: countyColor(l._mmIndex) };
      if (l.setStyle) l.setStyle(s);
    });
  }

  // ---- point tiers ----------------------------------------------------------------------
  var tierLayers = {}, pointsIndex = {}, popupBuilders = {};
  D.tiers.forEach(function (tier) {
    if (!tier.points) return;
    var P = tier.points;  // [lon, lat, status, name, pathIdx, povertyLabelIdx, schematic, links]
    var group = L.featureGroup();
    var radius = tier.radius || 4;
    if (tier.cells) {  // schematic township cells under the points, same colours, same popups
      var cells = L.geoJSON(tier.cells, {
        renderer: renderer,
        style: function (f) { var c = D.statusColors[P[f.properties.i][2]]; return { color: c, weight: 0.6, fillColor: c, fillOpacity: 0.22 }; },
        onEachFeature: function (f, layer) { layer._mmTier = tier.id; layer._mmIndex = f.properties.i; }
      });
      group.addLayer(cells);
      stats.cells = stats.cells || {};
      stats.cells[tier.id] = cells.getLayers().length;
    }
    var markers = new Array(P.length);
    for (var i = 0; i < P.length; i++) {
      var p = P[i];
      var m = L.circleMarker([p[1], p[0]], {
        renderer: renderer, radius: radius, weight: tier.outline || 1, color: tier.outline ? "#fff" : "#222",
        dashArray: p[6] ? "2,2" : null, fillColor: D.statusColors[p[2]], fillOpacity: 0.9
      });
      m._mmTier = tier.id; m._mmIndex = i;
      markers[i] = m;
      group.addLayer(m);
    }
    var popupOf = function (i) {
      var p = P[i], box = el("div", "mm-popup");
      var extra = [tier.name + D.sep + D.statusNames[p[2]], D.povertyNames[p[5]] || ""];
      if (p[6]) extra.push(T["map.schematic"]);
      popupHead(box, p[3], D.paths[p[4]], extra);
      helperLines(box, p[7]);
      return box;
    };
    popupBuilders[tier.id] = popupOf;
    group.bindPopup(function (layer) { return popupOf(layer._mmIndex); }, { maxWidth: 360 });
    group.bindTooltip(function (layer) {
      var p = P[layer._mmIndex], box = el("div");
      add(box, el("b", null, p[3]));
      var who = (p[7] || []).map(function (lk) { return D.helpers[lk[0]][0]; }).join(D.listSep);
      add(box, el("div", null, D.statusNames[p[2]] + (who ? D.sep + who : "")));
      return box;
    });
    if (tier.on) group.addTo(map);
    if (P.length > 500) {  // many points: small dots when zoomed out, full markers when zoomed in
      var resize = function () {
        var z = map.getZoom(), f = z <= 7 ? 0.4 : z <= 9 ? 0.65 : 1;
        var r = Math.max(1.5, radius * f), w = z <= 8 ? (tier.outline ? 0.8 : 0) : (tier.outline || 1);
        for (var k = 0; k < markers.length; k++) { markers[k].setRadius(r); markers[k].options.weight = w; }
        if (map.hasLayer(group)) group.eachLayer(function (m) { if (m.redraw) m.redraw(); });
      };
      map.on("zoomend", resize);
      map.whenReady(resize);
    }
    tierLayers[tier.id] = group;
    pointsIndex[tier.id] = markers;
    stats.points[tier.id] = group.getLayers().length - (tier.cells ? 1 : 0);
  });

  // ---- layer control: colour modes as base layers, tiers as overlays ------------------
  var modes = {}, modeLayers = {};
  D.modes.forEach(function (m, k) {
    var g = L.layerGroup();
    g._mmMode = m[0];
    modes[m[1]] = g; modeLayers[m[0]] = g;
    if (k === 0) g.addTo(map);
  });
  var overlays = {};
  overlays[D.countyLayerName] = countyLayer;
  D.tiers.forEach(function (tier) { if (tierLayers[tier.id]) overlays[tier.name] = tierLayers[tier.id]; });
  if (D.tiles) {
    overlays[T["map.tiles"]] = L.tileLayer(D.tiles.url, { attribution: D.tiles.attribution, maxZoom: 18 });
  }
  L.control.layers(modes, overlays, { collapsed: false, position: "topright" }).addTo(map);
  map.on("baselayerchange", function (e) {
    if (e.layer && e.layer._mmMode) { modeNow = e.layer._mmMode; restyleCounties(); drawLegend(); }
  });
  countyLayer.bringToBack();

  // ---- legend ---------------------------------------------------------------------------
  var legend = L.control({ position: "bottomright" });
  var legendBox;
  legend.onAdd = function () { legendBox = el("div", "mm-box mm-legend"); L.DomEvent.disableScrollPropagation(legendBox); drawLegend(); return legendBox; };
  function swatch(box, color, text, round) {
    var row = add(box, el("div", "mm-row"));
    var s = add(row, el("i", round ? "mm-sw mm-round" : "mm-sw"));
    s.style.background = color;
    add(row, el("span", null, text));
  }
  function drawLegend() {
    if (!legendBox) return;
    legendBox.textContent = "";
    add(legendBox, el("div", "mm-h", T["map.legend"]));
    var modeName = D.modes.filter(function (m) { return m[0] === modeNow; })[0][1];
    add(legendBox, el("div", "mm-sub", modeName));
    if (modeNow === "coverage") {
      D.countyStatuses.forEach(function (s) { swatch(legendBox, D.statusColors[s], D.statusNames[s]); });
    } else if (modeNow === "department") {
      D.deptLegend.forEach(function (d) { swatch(legendBox, d[0] < 0 ? "#ffffff" : D.deptColors[d[0] % D.deptColors.length], d[1]); });
    } else if (modeNow === "poverty") {
      Object.keys(D.povertyColors).forEach(function (k) { swatch(legendBox, D.povertyColors[k], D.povertyLegend[k]); });
    } else {
      D.helperLegend.forEach(function (t, k) { swatch(legendBox, D.helperColors[k], t); });
    }
    if (D.tiers.some(function (t) { return t.points; })) {
      add(legendBox, el("div", "mm-sub", D.pointsLegendTitle));
      D.pointStatuses.forEach(function (s) { swatch(legendBox, D.statusColors[s], D.statusNames[s], true); });
      if (D.schematic) { var r = add(legendBox, el("div", "mm-row")); add(r, el("i", "mm-sw mm-round mm-dash")); add(r, el("span", null, T["map.schematic"])); }
    }
  }
  legend.addTo(map);
  L.control.scale({ imperial: false, position: "bottomleft" }).addTo(map);

  // ---- title and notes --------------------------------------------------------------------
  var title = L.control({ position: "topleft" });
  title.onAdd = function () {
    var box = el("div", "mm-box mm-titlebox");
    add(box, el("div", "mm-maintitle", D.title));
    if (D.subtitle) add(box, el("div", "mm-subtitle", D.subtitle));
    return box;
  };
  title.addTo(map);
  var note = L.control({ position: "bottomleft" });
  note.onAdd = function () {
    var box = el("div", "mm-box mm-note");
    if (D.schematic) add(box, el("div", "mm-warn", T["map.schematic_note"]));
    if (D.schematicCells) add(box, el("div", "mm-warn", T["map.schematic_cells"]));
    add(box, el("div", null, T["brief.source"] + D.sep + D.source));
    return box;
  };
  note.addTo(map);

  // ---- search ---------------------------------------------------------------------------
  var index = [];  // [text lower, label, kind, ref]
  C.info.forEach(function (c, i) { index.push([c[1].toLowerCase(), c[1], c[2], { county: i }]); });
  D.tiers.forEach(function (tier) {
    if (!tier.points) return;
    tier.points.forEach(function (p, i) {
      index.push([p[3].toLowerCase(), p[3], D.paths[p[4]], { tier: tier.id, i: i }]);
      (p[7] || []).forEach(function (lk) {
        var h = D.helpers[lk[0]];
        index.push([h[0].toLowerCase(), h[0], tier.name + " → " + p[3], { tier: tier.id, i: i }]);
      });
    });
  });
  C.info.forEach(function (c, i) {
    (c[8] || []).forEach(function (lk) {
      var h = D.helpers[lk[0]];
      index.push([h[0].toLowerCase(), h[0], (D.countyTier || "") + " → " + c[1], { county: i }]);
    });
  });
  function openRef(ref) {
    var layer;
    if (ref.county !== undefined) {
      layer = countyByIndex[ref.county];
      if (!map.hasLayer(countyLayer)) countyLayer.addTo(map);
      if (layer.getBounds) map.fitBounds(layer.getBounds(), { maxZoom: 10 }); else map.setView(layer.getLatLng(), 9);
    } else {
      layer = pointsIndex[ref.tier][ref.i];
      if (!map.hasLayer(tierLayers[ref.tier])) tierLayers[ref.tier].addTo(map);
      map.setView(layer.getLatLng(), Math.max(map.getZoom(), 11));
      L.popup({ maxWidth: 360 }).setLatLng(layer.getLatLng()).setContent(popupBuilders[ref.tier](ref.i)).openOn(map);
      return;
    }
    layer.openPopup(layer.getBounds ? layer.getBounds().getCenter() : layer.getLatLng());
  }
  function search(q) {
    q = String(q || "").trim().toLowerCase();
    if (!q) return [];
    var out = [];
    for (var k = 0; k < index.length && out.length < 20; k++) if (index[k][0].indexOf(q) >= 0) out.push(index[k]);
    return out;
  }
  var searchCtl = L.control({ position: "topleft" });
  searchCtl.onAdd = function () {
    var box = el("div", "mm-box mm-search");
    var input = add(box, el("input"));
    input.type = "search"; input.placeholder = T["map.search"]; input.setAttribute("aria-label", T["map.search"]);
    var results = add(box, el("div", "mm-results"));
    L.DomEvent.disableClickPropagation(box);
    L.DomEvent.disableScrollPropagation(box);
    input.addEventListener("input", function () {
      results.textContent = "";
      var hits = search(input.value);
      if (input.value.trim() && !hits.length) add(results, el("div", "mm-none", T["map.search.none"]));
      hits.forEach(function (h) {
        var r = add(results, el("div", "mm-hit"));
        add(r, el("b", null, h[1]));
        add(r, el("span", "mm-meta", " " + h[2]));
        r.addEventListener("click", function () { openRef(h[3]); });
      });
    });
    return box;
  };
  searchCtl.addTo(map);

  if (D.bounds) map.fitBounds(D.bounds, { animate: false });
  stats.ready = true;
  window.matcherMap = { map: map, stats: stats, search: search, open: openRef, layers: tierLayers, counties: countyLayer };
})(MATCHER_MAP, MATCHER_DATA_ID);
