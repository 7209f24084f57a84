/* pyprofnb web UI. One script for two hosts:
 *  - "server": pyprofnb -http. Every change of state is a new URL (a link reproduces the view).
 *  - "embed": a notebook output (iframe srcdoc). Views for every sample type are in the page;
 *    changes that need the profile again (focus, ...) are posted to the parent window (a
 *    kernel-side widget may answer) and spelled out as the %pprof line that shows them.
 */
(function () {
  "use strict";
  var cfg = JSON.parse(document.getElementById("pp-config").textContent);
  var state = cfg.state;            // the ViewState as a dict (every field)
  var defaults = cfg.defaults;      // field -> default value
  var search = document.getElementById("pp-search");
  var notice = document.getElementById("pp-notice");
  var selected = {};                // function name -> true
  var panZoom = {};                 // pane key -> svgPanZoom instance

  function query(changes) {
    var s = Object.assign({}, state, changes || {}), parts = [];
    Object.keys(defaults).forEach(function (k) {
      var v = s[k];
      if (typeof defaults[k] === "boolean") v = !!v;
      if (v !== defaults[k] && v !== undefined && v !== null) {
        parts.push(encodeURIComponent(k) + "=" + encodeURIComponent(typeof v === "boolean" ? (v ? 1 : 0) : v));
      }
    });
    return parts.join("&");
  }
  function paneKey(view, si) { return view + "|" + si; }
  function currentPane() { return document.querySelector('.pp-pane[data-key="' + paneKey(state.view, state.si) + '"]'); }

  // Only view, si, zoom, q and ts can change without new data; everything else is "remote".
  var LOCAL = { view: 1, si: 1, zoom: 1, q: 1, ts: 1 };
  function go(changes) {
    var remote = Object.keys(changes).some(function (k) { return !LOCAL[k] && changes[k] !== state[k]; });
    if (changes.si !== undefined && changes.si !== state.si || changes.view !== undefined && changes.view !== state.view) {
      changes = Object.assign({ zoom: 0 }, changes);
    }
    if (cfg.mode === "server") {
      var target = cfg.path + (query(changes) ? "?" + query(changes) : "");
      if (!remote && (changes.zoom !== undefined || changes.q !== undefined || changes.ts !== undefined)
          && Object.keys(changes).every(function (k) { return k === "zoom" || k === "q" || k === "ts"; })) {
        Object.assign(state, changes);
        history.replaceState(null, "", target);
        return;
      }
      location.href = target;
      return;
    }
    var next = Object.assign({}, state, changes);
    var have = document.querySelector('.pp-pane[data-key="' + paneKey(next.view, next.si) + '"]');
    if (remote || !have) {
      try { window.parent.postMessage({ pyprofnb: "state", query: query(changes) }, "*"); } catch (e) { /* no parent */ }
      notice.innerHTML = "";
      var line = "%pprof -http" + flags(next) + " " + (cfg.source || "SOURCE");
      notice.appendChild(document.createTextNode("This view needs the profile again. Run "));
      var code = document.createElement("code"); code.textContent = line; notice.appendChild(code);
      notice.appendChild(document.createTextNode(" in a cell (or use the explorer's controls)."));
      return;
    }
    Object.assign(state, changes);
    notice.textContent = "";
    show();
  }
  function flags(s) {
    var map = { f: "focus", i: "ignore", h: "hide", s: "show", sf: "show_from", si: "sample_index", g: "granularity", n: "nodecount" };
    var out = "";
    Object.keys(map).forEach(function (k) {
      if (s[k] && s[k] !== defaults[k]) out += " -" + map[k] + "=" + quote(String(s[k]));
    });
    if (s.sort === "cum") out += " -cum";
    return out;
  }
  function quote(v) { return /^[\w.\-\/:]+$/.test(v) ? v : "'" + v.replace(/'/g, "'\\''") + "'"; }

  // ------------------------------------------------------------------ panes
  function show() {
    document.querySelectorAll(".pp-pane").forEach(function (p) { p.hidden = p !== currentPane(); });
    document.querySelectorAll(".pp-views a").forEach(function (a) { a.classList.toggle("on", a.dataset.view === state.view); });
    var si = document.getElementById("pp-si"); if (si) si.value = state.si;
    var pane = currentPane();
    if (!pane) return;
    if (pane.querySelector(".pp-graph")) initGraph(pane);
    if (pane.querySelector(".pp-table")) initTable(pane);
    if (pane.querySelector(".pyprofnb-flame")) initFlame(pane);
    highlight();
  }

  function initGraph(pane) {
    var key = pane.dataset.key;
    var svg = pane.querySelector(".pp-graph-svg svg");
    if (!svg || panZoom[key]) return;
    var box = pane.querySelector(".pp-graph-svg");
    svg.removeAttribute("width"); svg.removeAttribute("height");
    var pz = svgPanZoom(svg, { zoomEnabled: true, controlIconsEnabled: false, fit: true, center: true,
      minZoom: 0.05, maxZoom: 40, zoomScaleSensitivity: 0.25, dblClickZoomEnabled: true });
    panZoom[key] = pz;
    legible(pz, box);
    var names = JSON.parse(pane.querySelector(".pp-graph").dataset.names || "{}");
    svg.querySelectorAll("g.node").forEach(function (g) {
      var title = g.querySelector("title");  // the DOT node name (the legend has its text)
      var name = title ? names[title.textContent] : undefined;
      if (name === undefined) return;
      g.dataset.fn = name;
      var downAt = null;  // a drag that starts on a node pans; only a click in place selects
      g.addEventListener("mousedown", function (e) { downAt = [e.clientX, e.clientY]; });
      g.addEventListener("click", function (e) {
        if (downAt && Math.abs(e.clientX - downAt[0]) + Math.abs(e.clientY - downAt[1]) > 4) return;
        toggle(name); e.stopPropagation();
      });
    });
    pane.querySelectorAll(".pp-graph-bar [data-act]").forEach(function (b) {
      b.addEventListener("click", function () {
        if (b.dataset.act === "fit") { pz.resize(); pz.fit(); pz.center(); }
        else if (b.dataset.act === "zoomin") pz.zoomIn(); else pz.zoomOut();
      });
    });
    var labels = pane.querySelector('[data-param="labels"]');
    if (labels) labels.addEventListener("change", function () { go({ labels: labels.checked }); });
  }
  // A graph of 80 nodes fitted into a notebook cell has 3 px text: start no smaller than
  // 0.85 of Graphviz's size (8 pt labels stay readable), at the top, where the root is.
  function legible(pz, box) {
    var sizes = pz.getSizes();
    if (!sizes || !sizes.realZoom) return;
    var min = 0.85;
    if (sizes.realZoom < min) {
      pz.zoom(pz.getZoom() * min / sizes.realZoom);
      var s2 = pz.getSizes();
      pz.pan({ x: (s2.width - s2.viewBox.width * s2.realZoom) / 2, y: 8 });
    }
  }

  function initTable(pane) {
    var table = pane.querySelector(".pp-table");
    if (table.dataset.ready) { applySort(table); return; }
    table.dataset.ready = "1";
    table.querySelectorAll("th").forEach(function (th) {
      th.addEventListener("click", function () {
        var col = th.dataset.col, cur = String(state.ts || "");
        var next = cur === col ? "-" + col : col;      // first click: descending, second: ascending
        if (col === "5" && cur !== col && cur !== "-" + col) next = "-" + col;  // names: A..Z first
        go({ ts: next });
        applySort(table);
      });
    });
    table.querySelectorAll("tbody tr").forEach(function (tr) {
      tr.addEventListener("click", function () { toggle(tr.dataset.fn); });
    });
    applySort(table);
  }
  function applySort(table) {
    var ts = String(state.ts || "");
    table.querySelectorAll("th").forEach(function (th) { th.classList.remove("asc", "desc"); });
    if (!ts) return;
    var asc = ts.charAt(0) === "-", col = +ts.replace("-", "");
    var th = table.querySelector('th[data-col="' + col + '"]');
    if (th) th.classList.add(asc ? "asc" : "desc");
    var body = table.tBodies[0], rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = a.cells[col].dataset.v, y = b.cells[col].dataset.v, c;
      if (col === 5) c = x < y ? -1 : x > y ? 1 : 0; else c = Math.abs(+x) - Math.abs(+y);
      return asc ? c : -c;
    });
    rows.forEach(function (r) { body.appendChild(r); });
  }

  function initFlame(pane) {
    var root = pane.querySelector(".pyprofnb-flame");
    if (root.dataset.ppReady) return;
    root.dataset.ppReady = "1";
    var zoom = 0, input = root.querySelector(".pf-search");
    // The flame graph's own script zooms on click; mirror it to keep zoom in the URL.
    root.querySelector(".pf-body").addEventListener("click", function (e) {
      var box = e.target.closest(".pf-r"); if (!box) return;
      var i = +box.dataset.i;
      zoom = i === zoom ? parentOf(root, i) : i;
      go({ zoom: zoom });
    });
    root.querySelector(".pf-reset").addEventListener("click", function () { zoom = 0; go({ zoom: 0 }); });
    input.addEventListener("input", function () { go({ q: input.value }); });
    if (state.q) { input.value = state.q; input.dispatchEvent(new Event("input")); }
    if (state.zoom) {
      var target = root.querySelector('.pf-r[data-i="' + state.zoom + '"]');
      if (target) { target.click(); }
    }
  }
  function parentOf(root, i) {
    var data = JSON.parse(root.querySelector(".pf-data").textContent);
    var boxes = root.querySelectorAll(".pf-r");
    for (var k = 0; k < boxes.length; k++) if (+boxes[k].dataset.i === i) return data.p[k] < 0 ? 0 : data.p[k];
    return 0;
  }

  // ------------------------------------------------------------------ selection and search
  function escapeRe(s) { return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"); }
  function toggle(name) {
    if (selected[name]) delete selected[name]; else selected[name] = true;
    var names = Object.keys(selected);
    search.value = names.map(function (n) { return "^" + escapeRe(n) + "$"; }).join("|");
    highlight();
  }
  function highlight() {
    var rx = null;
    try { rx = search.value ? new RegExp(search.value) : null; } catch (e) { rx = null; }
    var pane = currentPane(); if (!pane) return;
    pane.querySelectorAll("[data-fn]").forEach(function (el) {
      el.classList.toggle("pp-sel", !!selected[el.dataset.fn]);
      el.classList.toggle("pp-match", !!rx && !selected[el.dataset.fn] && rx.test(el.dataset.fn));
    });
  }
  search.addEventListener("input", function () { selected = {}; highlight(); });
  search.addEventListener("keydown", function (e) { if (e.key === "Enter") refine("f"); });

  function refine(what) {
    var rx = search.value.trim();
    if (what === "reset") { go({ f: "", i: "", h: "", s: "", sf: "", t: "" }); return; }
    if (!rx) { notice.textContent = "Select nodes (click them) or type a regexp first."; return; }
    var c = {}; c[what] = rx; go(c);
  }
  document.querySelectorAll("[data-refine]").forEach(function (b) {
    b.addEventListener("click", function () { refine(b.dataset.refine); });
  });
  document.querySelectorAll(".pp-views a").forEach(function (a) {
    a.addEventListener("click", function (e) {
      e.preventDefault();
      var c = { view: a.dataset.view };
      if ((a.dataset.view === "peek" || a.dataset.view === "source") && search.value.trim()) c.t = search.value.trim();
      go(c);
    });
  });
  var si = document.getElementById("pp-si");
  if (si) si.addEventListener("change", function () { go({ si: si.value }); });

  // ------------------------------------------------------------------ snapshots (server)
  function post(path, body) {
    notice.textContent = "working…";
    return fetch(path, { method: "POST", headers: { "Content-Type": "application/x-www-form-urlencoded" }, body: body || "" })
      .then(function (r) { return r.json(); })
      .then(function (j) { if (j.error) { notice.textContent = j.error; return; } location.href = cfg.path + "?" + query(j.changes); })
      .catch(function (e) { notice.textContent = String(e); });
  }
  var refresh = document.getElementById("pp-refresh");
  if (refresh) refresh.addEventListener("click", function () { post("/refresh"); });
  var setBase = document.getElementById("pp-setbase");
  if (setBase) setBase.addEventListener("click", function () { go({ base: state.p }); });
  var baseSel = document.getElementById("pp-base");
  if (baseSel) baseSel.addEventListener("change", function () { go({ base: +baseSel.value }); });
  var snapSel = document.getElementById("pp-snap");
  if (snapSel) snapSel.addEventListener("change", function () { go({ p: +snapSel.value }); });

  window.addEventListener("resize", function () {
    var pz = panZoom[paneKey(state.view, state.si)]; if (pz) pz.resize();
  });
  if (cfg.selection) { search.value = cfg.selection; }
  show();
})();
