/* fstore docs: a little vanilla JS. Page data comes from <script id="page-data">; nothing is fetched. */
(function () {
  "use strict";

  var SVGNS = "http://www.w3.org/2000/svg";
  var PALETTE = ["#2f5bd3", "#d9731f", "#12946f", "#c2376b", "#7a4fd6", "#8a6d1c", "#1f8fbf", "#d4483b",
    "#5f8f1f", "#a04fb3", "#2c7a7b", "#b0661a", "#4b5fa8", "#b8435f", "#3f9b52", "#8a5a44", "#5b6b7f",
    "#c08a00", "#1d6fa5", "#9c3d8f"];

  function $(sel, root) { return (root || document).querySelector(sel); }
  function $$(sel, root) { return Array.prototype.slice.call((root || document).querySelectorAll(sel)); }
  function esc(s) {
    return String(s == null ? "" : s).replace(/[&<>"']/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c];
    });
  }
  function el(tag, attrs, parent, text) {
    var node = document.createElementNS(SVGNS, tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text != null) node.textContent = text;
    if (parent) parent.appendChild(node);
    return node;
  }
  function pageData() {
    var node = document.getElementById("page-data");
    return node ? JSON.parse(node.textContent) : null;
  }
  function fmt(v, digits) {
    if (v == null || isNaN(v)) return "—";
    var a = Math.abs(v);
    if (digits != null) return v.toFixed(digits);
    if (Number.isInteger(v)) return String(v);
    return a >= 100 ? v.toFixed(0) : a >= 1 ? v.toFixed(3) : v.toFixed(4);
  }

  /* ------------------------------------------------------------------ table filters */

  function applyFilter(table) {
    var text = (table.dataset.text || "").toLowerCase();
    var state = table.dataset.state || "all";
    var shown = 0;
    $$("tbody tr", table).forEach(function (tr) {
      var okText = !text || tr.textContent.toLowerCase().indexOf(text) >= 0;
      var okState = state === "all" || tr.dataset.state === state || (state === "rejected" && tr.hasAttribute("data-rejected"));
      tr.classList.toggle("hidden", !(okText && okState));
      if (okText && okState) shown += 1;
    });
    table.dispatchEvent(new CustomEvent("filtered", { detail: shown }));
  }

  function initFilters() {
    $$("input.filter[data-filter]").forEach(function (input) {
      var table = document.getElementById(input.dataset.filter);
      if (!table) return;
      input.addEventListener("input", function () { table.dataset.text = input.value.trim(); applyFilter(table); });
    });
    var seg = $("#coverage-state");
    if (seg) {
      $$("button", seg).forEach(function (b) {
        b.addEventListener("click", function () {
          $$("button", seg).forEach(function (o) { o.setAttribute("aria-pressed", o === b ? "true" : "false"); });
          var table = document.getElementById("coverage");
          table.dataset.state = b.dataset.state;
          applyFilter(table);
        });
      });
    }
  }

  /* ------------------------------------------------------------------ DAG */

  function closure(start, key, nodes) {
    var seen = {}, stack = (nodes[start] || {})[key] ? nodes[start][key].slice() : [];
    while (stack.length) {
      var n = stack.pop();
      if (seen[n] || !nodes[n]) continue;
      seen[n] = true;
      stack.push.apply(stack, nodes[n][key]);
    }
    return seen;
  }

  function initDag(data) {
    var box = $("#dag"), svg = $("#dag-svg"), view = $("#dag-view");
    if (!box || !svg) return;
    var W = +svg.dataset.width, H = +svg.dataset.height;
    var t = { k: 1, x: 0, y: 0 };
    var nodes = data.nodes, pinned = null;
    function apply() { view.setAttribute("transform", "translate(" + t.x + "," + t.y + ") scale(" + t.k + ")"); }
    function fitScale() { return Math.min(box.clientWidth / W, box.clientHeight / H); }
    function fit() {
      t.k = Math.min(fitScale(), 1.25);
      t.x = (box.clientWidth - W * t.k) / 2;
      t.y = (box.clientHeight - H * t.k) / 2;
      apply();
    }
    function start() {
      if (H * 1.25 + 48 < box.clientHeight) box.style.height = Math.max(320, H * 1.25 + 48) + "px"; // a small graph: no empty band
      var k = fitScale();
      if (k >= 0.6) { fit(); return; }
      // a big graph: readable labels first, from its sources on the left, centred on what is in view
      t.k = 0.75;
      t.x = 0;
      var lo = Infinity, hi = -Infinity;
      $$(".node", svg).forEach(function (g) {
        var m = /translate\(([-\d.]+),([-\d.]+)\)/.exec(g.getAttribute("transform"));
        if ((+m[1] + 24) * t.k < box.clientWidth) { lo = Math.min(lo, +m[2]); hi = Math.max(hi, +m[2] + 30); }
      });
      t.y = box.clientHeight / 2 - ((lo + hi) / 2 + 24) * t.k;
      apply();
    }
    function zoomAt(factor, cx, cy) {
      var k = Math.max(0.05, Math.min(4, t.k * factor));
      t.x = cx - (cx - t.x) * (k / t.k);
      t.y = cy - (cy - t.y) * (k / t.k);
      t.k = k;
      apply();
    }
    function centerOn(id, k) {
      var g = $('.node[data-id="' + CSS.escape(id) + '"]', svg);
      if (!g) return false;
      var b = g.getBBox(), m = /translate\(([-\d.]+),([-\d.]+)\)/.exec(g.getAttribute("transform"));
      var pad = 24, cx = +m[1] + pad + b.width / 2, cy = +m[2] + pad + b.height / 2;
      t.k = k || Math.max(t.k, 1);
      t.x = box.clientWidth / 2 - cx * t.k;
      t.y = box.clientHeight / 2 - cy * t.k;
      apply();
      return true;
    }
    var card = $("#dag-card");
    function describe(id) {
      var n = nodes[id];
      if (!card) return;
      if (!n) { card.hidden = true; return; }
      card.hidden = false;
      card.innerHTML = "<strong>" + esc(id) + "</strong> <span class='badge k-" + esc(n["class"]) + "'>" + esc(n.label) + "</span>" +
        (n.description ? "<p>" + esc(n.description) + "</p>" : "") +
        "<p class='small muted'>" + n.up.length + " upstream · " + n.down.length + " downstream" +
        (n.rows != null ? " · " + Number(n.rows).toLocaleString("en") + " rows" : "") + "</p>";
    }
    function light(id) {
      describe(id);
      $$(".lit,.self", svg).forEach(function (n) { n.classList.remove("lit", "self"); });
      if (!id) { box.classList.remove("focus"); return; }
      var up = closure(id, "up", nodes), down = closure(id, "down", nodes);
      box.classList.add("focus");
      $$(".node", svg).forEach(function (g) {
        var n = g.dataset.id;
        if (n === id) g.classList.add("lit", "self");
        else if (up[n] || down[n]) g.classList.add("lit");
      });
      $$(".edge", svg).forEach(function (p) {
        var s = p.dataset.s, d = p.dataset.t;
        var onUp = up[s] && (up[d] || d === id), onDown = down[d] && (down[s] || s === id);
        if (onUp || onDown) p.classList.add("lit");
      });
    }
    svg.addEventListener("mouseover", function (ev) {
      var g = ev.target.closest && ev.target.closest(".node");
      if (g && !drag.moved) light(g.dataset.id);
    });
    svg.addEventListener("mouseout", function (ev) {
      var g = ev.target.closest && ev.target.closest(".node");
      if (g && !(ev.relatedTarget && g.contains(ev.relatedTarget))) light(pinned);
    });
    box.addEventListener("wheel", function (ev) {
      ev.preventDefault();
      var r = box.getBoundingClientRect();
      zoomAt(Math.exp(-ev.deltaY * 0.0015), ev.clientX - r.left, ev.clientY - r.top);
    }, { passive: false });
    var drag = { on: false, moved: false, x: 0, y: 0 };
    box.addEventListener("pointerdown", function (ev) {
      if (ev.button !== 0) return;
      drag = { on: true, moved: false, x: ev.clientX, y: ev.clientY, tx: t.x, ty: t.y };
    });
    window.addEventListener("pointermove", function (ev) {
      if (!drag.on) return;
      var dx = ev.clientX - drag.x, dy = ev.clientY - drag.y;
      if (!drag.moved && Math.abs(dx) + Math.abs(dy) < 4) return;
      drag.moved = true;
      box.classList.add("dragging");
      t.x = drag.tx + dx; t.y = drag.ty + dy;
      apply();
    });
    window.addEventListener("pointerup", function () {
      drag.on = false;
      box.classList.remove("dragging");
    });
    box.addEventListener("click", function (ev) {
      if (drag.moved) { ev.preventDefault(); ev.stopPropagation(); drag.moved = false; }
    }, true);
    function zoomButton(id, f) {
      $(id).addEventListener("click", function () { zoomAt(f, box.clientWidth / 2, box.clientHeight / 2); });
    }
    zoomButton("#zoom-in", 1.3);
    zoomButton("#zoom-out", 1 / 1.3);
    $("#zoom-fit").addEventListener("click", fit);
    $("#dag-tag").addEventListener("change", function () {
      var tag = this.value;
      $$(".node", svg).forEach(function (g) {
        var tags = (g.dataset.tags || "").split(" ");
        g.classList.toggle("dim", !!tag && tags.indexOf(tag) < 0);
      });
      $$(".edge", svg).forEach(function (p) {
        var s = nodes[p.dataset.s] || {}, d = nodes[p.dataset.t] || {};
        var keep = !tag || ((s.tags || []).indexOf(tag) >= 0 && (d.tags || []).indexOf(tag) >= 0);
        p.classList.toggle("dim", !keep);
      });
    });
    var search = $("#dag-search");
    function find() {
      var q = search.value.trim();
      if (!q) { pinned = null; light(null); return; }
      var id = nodes[q] ? q : Object.keys(nodes).filter(function (n) { return n.indexOf(q) >= 0; })[0];
      if (id && centerOn(id, 1.2)) { pinned = id; light(id); }
    }
    search.addEventListener("change", find);
    search.addEventListener("keydown", function (ev) { if (ev.key === "Enter") find(); });
    box.addEventListener("keydown", function (ev) {
      if (ev.key === "+" || ev.key === "=") zoomAt(1.3, box.clientWidth / 2, box.clientHeight / 2);
      if (ev.key === "-") zoomAt(1 / 1.3, box.clientWidth / 2, box.clientHeight / 2);
      if (ev.key === "0") fit();
    });
    var hash = decodeURIComponent(location.hash.slice(1));
    if (hash && nodes[hash] && centerOn(hash, 1.2)) { pinned = hash; light(hash); search.value = hash; }
    else start();
    window.addEventListener("resize", function () { if (!pinned) start(); });
    box.dataset.ready = "1";
  }

  /* ------------------------------------------------------------------ asset IDs */

  function initAssets(data) {
    var table = $("#mapping"), panel = $("#history");
    if (!table) return;
    var count = $("#asset-count"), total = $$("tbody tr", table).length;
    table.addEventListener("filtered", function (ev) { count.textContent = ev.detail + " of " + total + " symbols"; });
    count.textContent = total + " symbols";
    function show(symbol) {
      var spans = data.history[symbol];
      $$("tr.selected", table).forEach(function (tr) { tr.classList.remove("selected"); });
      var btn = $('button.sym[data-symbol="' + CSS.escape(symbol) + '"]', table);
      if (btn) btn.closest("tr").classList.add("selected");
      if (!spans) { panel.innerHTML = "<h2>Symbol history</h2><p class=muted>No history for " + esc(symbol) + ".</p>"; return; }
      var rows = spans.map(function (s) {
        var to = s.valid_to_version ? esc(s.valid_to_version) : "<span class='badge ok'>current</span>";
        return "<tr><td><strong>" + esc(s.valid_from_version) + "</strong> → " + to + "</td><td>" + esc(s.category) +
          "<div class=small>" + esc(s.subcategory) + "</div></td><td>" +
          (s.is_active ? "<span class='badge ok'>active</span>" : "<span class='badge muted'>retired</span>") +
          "</td><td class=small>" + esc(String(s.valid_from || "").slice(0, 10)) + "</td></tr>";
      }).join("");
      panel.innerHTML = "<h2>Symbol history</h2><p class='sel-head'><strong>" + esc(symbol) + "</strong> · asset ID " +
        esc(spans[0].asset_id) + " · " + spans.length + " span" + (spans.length === 1 ? "" : "s") + "</p>" +
        "<table class='grid' id='history-table'><thead><tr><th>versions</th><th>category</th><th>state</th><th>from</th></tr></thead><tbody>" +
        rows + "</tbody></table>";
    }
    table.addEventListener("click", function (ev) {
      var b = ev.target.closest("button.sym");
      if (b) { show(b.dataset.symbol); history.replaceState(null, "", "#" + encodeURIComponent(b.dataset.symbol)); }
    });
    var search = $("#asset-search");
    search.addEventListener("keydown", function (ev) {
      if (ev.key !== "Enter") return;
      var first = $$("tbody tr", table).filter(function (tr) { return !tr.classList.contains("hidden"); })[0];
      if (first) show($("button.sym", first).dataset.symbol);
    });
    var hash = decodeURIComponent(location.hash.slice(1));
    if (hash && data.history[hash]) {
      show(hash);
      var row = $('button.sym[data-symbol="' + CSS.escape(hash) + '"]', table);
      if (row) row.scrollIntoView({ block: "center" });
    }
  }

  /* ------------------------------------------------------------------ charts */

  function lineChart(figure, title, series, opts) {
    figure.innerHTML = "";
    var cap = document.createElement("figcaption");
    cap.textContent = title;
    figure.appendChild(cap);
    var pts = [];
    series.forEach(function (s) { s.points.forEach(function (p) { if (p[1] != null) pts.push(p); }); });
    if (!pts.length) {
      var p = document.createElement("p");
      p.className = "muted small";
      p.textContent = opts.empty || "no values logged";
      figure.appendChild(p);
      return;
    }
    var Wd = 520, Ht = 230, L = 52, R = 14, T = 10, B = 42;
    var xs = pts.map(function (p) { return p[0]; }), ys = pts.map(function (p) { return p[1]; });
    var x0 = Math.min.apply(null, xs), x1 = Math.max.apply(null, xs);
    var y0 = Math.min.apply(null, ys), y1 = Math.max.apply(null, ys);
    if (opts.zero) { y0 = Math.min(y0, 0); y1 = Math.max(y1, 0); }
    if (y1 - y0 < 1e-9) { y0 -= 0.5 * (Math.abs(y0) || 1) * 0.1; y1 += 0.5 * (Math.abs(y1) || 1) * 0.1; }
    var padY = (y1 - y0) * 0.08; y0 -= padY; y1 += padY;
    if (x1 === x0) { x0 -= 1; x1 += 1; }
    var sx = function (v) { return L + (v - x0) / (x1 - x0) * (Wd - L - R); };
    var sy = function (v) { return T + (1 - (v - y0) / (y1 - y0)) * (Ht - T - B); };
    var svg = el("svg", { viewBox: "0 0 " + Wd + " " + Ht, class: "chart", role: "img", "aria-label": title }, figure);
    for (var i = 0; i <= 4; i++) {
      var v = y0 + (y1 - y0) * i / 4, y = sy(v);
      el("line", { x1: L, x2: Wd - R, y1: y, y2: y, class: "gridline" }, svg);
      el("text", { x: L - 6, y: y + 4, "text-anchor": "end" }, svg, fmt(v));
    }
    var epochs = [];
    for (var e = Math.ceil(x0); e <= x1; e++) epochs.push(e);
    var step = Math.max(1, Math.ceil(epochs.length / 10));
    epochs.forEach(function (ep, j) {
      if (j % step === 0) el("text", { x: sx(ep), y: Ht - B + 16, "text-anchor": "middle" }, svg, ep);
    });
    el("line", { x1: L, x2: Wd - R, y1: Ht - B, y2: Ht - B, class: "axisline" }, svg);
    el("text", { x: (L + Wd - R) / 2, y: Ht - 4, "text-anchor": "middle" }, svg, "epoch");
    series.forEach(function (s) {
      var good = s.points.filter(function (p) { return p[1] != null; });
      if (!good.length) return;
      var d = good.map(function (p, k) { return (k ? "L" : "M") + sx(p[0]).toFixed(1) + "," + sy(p[1]).toFixed(1); }).join("");
      el("path", { d: d, class: "series", stroke: s.color, "stroke-dasharray": s.dash ? "6 4" : "none" }, svg);
      good.forEach(function (p) {
        var c = el("circle", { cx: sx(p[0]), cy: sy(p[1]), r: 3.2, fill: s.color, class: "dot" }, svg);
        el("title", {}, c, s.name + " · epoch " + p[0] + ": " + fmt(p[1]));
      });
    });
    var legend = document.createElement("div");
    legend.className = "chart-legend";
    legend.innerHTML = series.filter(function (s) { return s.points.some(function (p) { return p[1] != null; }); })
      .map(function (s) {
        return "<span><i class='" + (s.dash ? "dash" : "") + "' style='border-color:" + s.color + "'></i>" + esc(s.name) + "</span>";
      }).join("");
    figure.appendChild(legend);
  }

  /* ------------------------------------------------------------------ runs */

  var SPLIT_COLOUR = { train: "#2f5bd3", valid: "#d9731f", test: "#12946f" };

  function initRuns(data) {
    var table = $("#runs");
    if (!table) return;
    var byId = {};
    data.runs.forEach(function (r) { byId[r.run_id] = r; });
    function selected() {
      return $$("input.cmp", table).filter(function (c) { return c.checked; }).map(function (c) { return byId[c.value]; });
    }
    function series(runs, metric, splits) {
      var out = [];
      runs.forEach(function (r, i) {
        splits.forEach(function (split) {
          var pts = r.metrics.filter(function (m) { return m.split === split; }).map(function (m) { return [m.epoch, m[metric]]; });
          out.push({ name: (runs.length > 1 ? r.run_id + " " : "") + split, color: SPLIT_COLOUR[split], dash: i === 1, points: pts });
        });
      });
      return out;
    }
    function draw() {
      var runs = order.map(function (id) { return byId[id]; });
      $$("tbody tr", table).forEach(function (tr) { tr.classList.toggle("selected", $("input.cmp", tr).checked); });
      $("#curves-runs").textContent = runs.map(function (r, i) { return (i ? "dashed: " : "solid: ") + r.run_id; }).join(" · ");
      lineChart($("#chart-loss"), "Loss", series(runs, "loss", ["train", "valid"]), {});
      lineChart($("#chart-auc"), "AUC", series(runs, "auc", ["train", "valid"]), { empty: "no AUC (regression runs log IC)" });
      lineChart($("#chart-ic"), "IC (rank correlation)", series(runs, "ic", ["train", "valid"]), { zero: true, empty: "no IC (classification runs log AUC)" });
      lineChart($("#chart-accuracy"), "Accuracy", series(runs, "accuracy", ["train", "valid"]), {});
      compare(runs);
    }
    function compare(runs) {
      var body = $("#compare-body");
      if (runs.length < 2) { body.innerHTML = "<p class='muted'>Tick a second run to compare.</p>"; return; }
      var a = runs[0], b = runs[1];
      var rows = [["test loss", "test_loss", -1], ["test AUC", "test_auc", 1], ["test IC", "test_ic", 1],
        ["test accuracy", "test_accuracy", 1], ["best epoch", "best_epoch", 0]].map(function (m) {
        var va = a[m[1]], vb = b[m[1]], ca = "", cb = "";
        if (m[2] && va != null && vb != null && va !== vb) {
          var aBetter = m[2] > 0 ? va > vb : va < vb;
          ca = aBetter ? "better" : ""; cb = aBetter ? "" : "better";
        }
        return "<tr><td>" + m[0] + "</td><td class='num " + ca + "'>" + fmt(va) + "</td><td class='num " + cb + "'>" + fmt(vb) + "</td></tr>";
      });
      var keys = {};
      Object.keys(a.config).concat(Object.keys(b.config)).forEach(function (k) { keys[k] = true; });
      var diff = Object.keys(keys).sort().filter(function (k) {
        return JSON.stringify(a.config[k]) !== JSON.stringify(b.config[k]) && k.indexOf("run_id") < 0;
      }).map(function (k) {
        return "<tr><td>" + esc(k) + "</td><td>" + esc(JSON.stringify(a.config[k])) + "</td><td>" + esc(JSON.stringify(b.config[k])) + "</td></tr>";
      });
      body.innerHTML = "<div class='cols2'><div><table class='grid compare'><thead><tr><th>metric</th><th class=num>" + esc(a.run_id) +
        "</th><th class=num>" + esc(b.run_id) + "</th></tr></thead><tbody>" + rows.join("") + "</tbody></table></div>" +
        "<div><table class='grid compare'><thead><tr><th>config that differs</th><th>" + esc(a.run_id) + "</th><th>" + esc(b.run_id) +
        "</th></tr></thead><tbody>" + (diff.join("") || "<tr><td colspan=3 class=muted>same config</td></tr>") + "</tbody></table></div></div>";
    }
    var order = selected().map(function (r) { return r.run_id; }); // ticked runs, oldest tick first
    table.addEventListener("change", function (ev) {
      var box = ev.target;
      if (!box.classList.contains("cmp")) return;
      order = order.filter(function (id) { return id !== box.value; });
      if (box.checked) order.push(box.value);
      while (order.length > 2) {
        var drop = order.shift();
        $$("input.cmp", table).forEach(function (c) { if (c.value === drop) c.checked = false; });
      }
      if (!order.length) { box.checked = true; order = [box.value]; }
      draw();
    });
    table.addEventListener("click", function (ev) {
      var tr = ev.target.closest("tbody tr");
      if (!tr || ev.target.closest("input")) return;
      var box = $("input.cmp", tr);
      box.checked = !box.checked;
      box.dispatchEvent(new Event("change", { bubbles: true }));
    });
    draw();
  }

  /* ------------------------------------------------------------------ embeddings */

  function initEmbeddings(data) {
    var fig = $("#emb-map");
    if (!fig) return;
    var runSel = $("#emb-run"), colourSel = $("#emb-colour"), search = $("#emb-search");
    var tip = document.createElement("div");
    tip.className = "tooltip";
    document.body.appendChild(tip);
    var state = { sel: null };
    function current() { return data.runs[runSel.value]; }
    function colours(points, key) {
      var groups = {};
      points.forEach(function (p) { groups[p[key]] = true; });
      var names = Object.keys(groups).sort(), map = {};
      names.forEach(function (n, i) { map[n] = PALETTE[i % PALETTE.length]; });
      return map;
    }
    function draw() {
      var run = current(), key = colourSel.value, pts = run.points;
      var cmap = colours(pts, key), byId = {};
      pts.forEach(function (p) { byId[p.id] = p; });
      var Wd = 820, Ht = 560, P = 36;
      var xs = pts.map(function (p) { return p.x; }), ys = pts.map(function (p) { return p.y; });
      var x0 = Math.min.apply(null, xs), x1 = Math.max.apply(null, xs), y0 = Math.min.apply(null, ys), y1 = Math.max.apply(null, ys);
      var s = Math.min((Wd - 2 * P) / ((x1 - x0) || 1), (Ht - 2 * P) / ((y1 - y0) || 1)); // one scale: distances keep their meaning
      var ox = (Wd - (x1 - x0) * s) / 2, oy = (Ht - (y1 - y0) * s) / 2;
      var sx = function (v) { return ox + (v - x0) * s; }, sy = function (v) { return Ht - (oy + (v - y0) * s); };
      fig.innerHTML = "";
      var svg = el("svg", { viewBox: "0 0 " + Wd + " " + Ht, role: "img", "aria-label": "embedding map" }, fig);
      var axis = el("g", { class: "axis" }, svg);
      el("line", { x1: sx(0), x2: sx(0), y1: P / 2, y2: Ht - P / 2, class: "axisline", "stroke-dasharray": "3 4" }, axis);
      el("line", { x1: P / 2, x2: Wd - P / 2, y1: sy(0), y2: sy(0), class: "axisline", "stroke-dasharray": "3 4" }, axis);
      el("text", { x: Wd - P / 2, y: sy(0) - 6, "text-anchor": "end" }, axis, "PC1 · " + (run.explained[0] * 100).toFixed(1) + "% of variance");
      el("text", { x: sx(0) + 6, y: P / 2 + 10 }, axis, "PC2 · " + (run.explained[1] * 100).toFixed(1) + "%");
      var sel = state.sel != null ? byId[state.sel] : null, nb = {};
      if (sel) {
        sel.nn.forEach(function (n) { nb[n[0]] = n[1]; });
        sel.nn.forEach(function (n) {
          var q = byId[n[0]];
          if (q) el("line", { x1: sx(sel.x), y1: sy(sel.y), x2: sx(q.x), y2: sy(q.y), stroke: "#9aa6bb", "stroke-width": 1 }, svg);
        });
      }
      var layer = el("g", {}, svg);
      pts.forEach(function (p) {
        var c = el("circle", {
          cx: sx(p.x).toFixed(1), cy: sy(p.y).toFixed(1), r: p.id === state.sel ? 8 : 5.5,
          fill: cmap[p[key]], stroke: p.untrained ? cmap[p[key]] : "#fff",
          class: "pt" + (p.untrained ? " untrained" : "") + (p.id === state.sel ? " sel" : "") + (nb[p.id] != null ? " nb" : ""),
          "data-id": p.id, "data-symbol": p.symbol
        }, layer);
        c.addEventListener("mousemove", function (ev) {
          tip.style.display = "block";
          tip.style.left = ev.clientX + 12 + "px";
          tip.style.top = ev.clientY + 12 + "px";
          tip.innerHTML = "<strong>" + esc(p.symbol) + "</strong> · ID " + p.id + "<br>" + esc(p.category) + " / " + esc(p.subcategory) +
            (p.untrained ? "<br><em>untrained</em>" : "");
        });
        c.addEventListener("mouseleave", function () { tip.style.display = "none"; });
        c.addEventListener("click", function () { select(p.id); });
      });
      if (sel) {
        [sel].concat(sel.nn.map(function (n) { return byId[n[0]]; })).forEach(function (q) {
          if (q) el("text", { x: sx(q.x) + 9, y: sy(q.y) + 4, class: "lbl" }, svg, q.symbol);
        });
      }
      var untrained = pts.filter(function (p) { return p.untrained; }).length;
      $("#emb-info").textContent = "epoch " + run.epoch + " · dim " + run.dim + " · " + pts.length + " assets · " +
        untrained + " untrained (" + run.untrained_rule + ")";
      $("#emb-legend").innerHTML = Object.keys(cmap).map(function (k) {
        return "<span class='legend-item'><i class='sw' style='background:" + cmap[k] + "'></i>" + esc(k) + "</span>";
      }).join("") + "<span class='legend-item'><i class='sw' style='border:2px dashed #5d6778;background:#fff'></i>untrained</span>";
      side(sel, byId, cmap, key);
    }
    function side(sel, byId, cmap, key) {
      var box = $("#emb-neighbours");
      if (!sel) { box.innerHTML = "<p class='muted'>Click an asset on the map.</p>"; return; }
      var items = sel.nn.map(function (n) {
        var q = byId[n[0]] || { symbol: "#" + n[0], category: "" };
        var w = Math.max(0, Math.min(100, (n[1] + 1) * 50));
        return "<li><button class='link nb-pick' data-id='" + n[0] + "'>" + esc(q.symbol) + "</button>" +
          "<span class='bar'><i style='width:" + w.toFixed(1) + "%;background:" + (cmap[q[key]] || "#2f5bd3") + "'></i></span>" +
          "<span class='cos'>" + n[1].toFixed(3) + "</span></li>";
      }).join("");
      box.innerHTML = "<div class='sel-head'><strong>" + esc(sel.symbol) + "</strong> · ID " + sel.id +
        "<div class='small muted'>" + esc(sel.category) + " / " + esc(sel.subcategory) + " · norm " + sel.norm.toFixed(3) +
        (sel.untrained ? " · <span class='badge warn'>untrained</span>" : "") + "</div></div>" +
        "<p class='small muted'>cosine similarity in " + current().dim + " dimensions</p><ol class='nb-list' id='nb-list'>" + items + "</ol>" +
        "<p class='more'><a href='assets.html#" + encodeURIComponent(sel.symbol) + "'>asset-ID history →</a></p>";
    }
    function select(id) { state.sel = id; draw(); }
    $("#emb-neighbours").addEventListener("click", function (ev) {
      var b = ev.target.closest(".nb-pick");
      if (b) select(+b.dataset.id);
    });
    function find() {
      var q = search.value.trim().toUpperCase();
      if (!q) return;
      var pts = current().points;
      var hit = pts.filter(function (p) { return p.symbol === q; })[0] || pts.filter(function (p) { return p.symbol.indexOf(q) === 0; })[0];
      if (hit) select(hit.id);
    }
    search.addEventListener("change", find);
    search.addEventListener("keydown", function (ev) { if (ev.key === "Enter") find(); });
    runSel.addEventListener("change", draw);
    colourSel.addEventListener("change", draw);
    var hash = decodeURIComponent(location.hash.slice(1));
    if (hash) { search.value = hash; find(); }
    if (state.sel == null) draw();
  }

  /* ------------------------------------------------------------------ start */

  document.addEventListener("DOMContentLoaded", function () {
    var data = pageData();
    var page = document.body.dataset.page;
    initFilters();
    if (page === "dag" && data) initDag(data);
    if (page === "assets" && data) initAssets(data);
    if (page === "runs" && data) initRuns(data);
    if (page === "embeddings" && data) initEmbeddings(data);
  });
})();
