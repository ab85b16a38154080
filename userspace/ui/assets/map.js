// zeroseg live map: d3 (v3, Debian's libjs-d3) force layout over /api/graph,
// kept live by /api/events (Server-Sent Events). Names come from workload
// labels anyone may choose: they are set as text, never as markup.
(function () {
  "use strict";
  var svg = d3.select("#map");
  var defs = svg.append("defs");
  ["allowed", "denied", "audit", "new"].forEach(function (v) {
    defs.append("marker").attr("id", "m-" + v).attr("viewBox", "0 -5 10 10").attr("refX", 10)
      .attr("markerUnits", "userSpaceOnUse").attr("markerWidth", 12).attr("markerHeight", 12).attr("orient", "auto")
      .append("path").attr("d", "M0,-5L10,0L0,5");
  });
  var zoomLayer = svg.append("g");
  svg.call(d3.behavior.zoom().scaleExtent([0.3, 3]).on("zoom", function () {
    zoomLayer.attr("transform", "translate(" + d3.event.translate + ")scale(" + d3.event.scale + ")");
  })).on("dblclick.zoom", null);
  var hullLayer = zoomLayer.append("g").attr("class", "hulls");
  var edgeLayer = zoomLayer.append("g").attr("class", "edges");
  var nodeLayer = zoomLayer.append("g").attr("class", "nodes");

  var colour = d3.scale.category10();
  var nodesById = {};      // id -> node object (positions survive updates)
  var selected = {};       // id -> true
  var chosenEdge = null;   // "from>to"
  var graph = {nodes: [], edges: []};
  var updates = 0;

  var force = d3.layout.force().charge(-1400).linkDistance(170).gravity(0.02).friction(0.85)
    .on("tick", tick).on("end", function () { document.body.setAttribute("data-settled", "1"); });

  function size() {
    var box = svg.node().getBoundingClientRect();
    return [Math.max(box.width, 300), Math.max(box.height, 300)];
  }

  function filters() {
    var q = [];
    [["namespace", "#f-namespace"], ["label", "#f-label"], ["verdict", "#f-verdict"], ["since", "#f-since"]]
      .forEach(function (f) {
        var v = d3.select(f[1]).property("value").trim();
        if (v) q.push(f[0] + "=" + encodeURIComponent(v));
      });
    return q.join("&");
  }

  // where a namespace's nodes gather: around a circle, one point each
  function focus(ns, namespaces, wh) {
    var i = namespaces.indexOf(ns), n = Math.max(namespaces.length, 1);
    var r = n > 1 ? Math.min(wh[0], wh[1]) * 0.36 : 0, a = 2 * Math.PI * i / n;
    return [wh[0] / 2 + r * Math.cos(a), wh[1] / 2 + r * Math.sin(a)];
  }

  function nodeRadius(d) { return 9 + Math.min(18, Math.sqrt(d.flows) * 2); }
  function edgeWidth(d) { return 1.5 + Math.min(10, Math.sqrt(d.flows) * 1.2); }
  function edgeClass(d) { return "edge verdict-" + d.verdict + (d.new ? " new" : ""); }
  function nsName(ns) { return ns === "" ? "(no namespace)" : ns; }

  function render(g) {
    graph = g;
    updates++;
    var wh = size();
    force.size(wh);
    var namespaces = g.namespaces || [];
    var fresh = {};
    g.nodes.forEach(function (n) {
      var old = nodesById[n.id];
      if (old) { n.x = old.x; n.y = old.y; n.px = old.px; n.py = old.py; }
      else { var f = focus(n.namespace, namespaces, wh); n.x = f[0] + Math.random() * 40 - 20; n.y = f[1] + Math.random() * 40 - 20; }
      n.focus = focus(n.namespace, namespaces, wh);
      fresh[n.id] = n;
    });
    nodesById = fresh;
    Object.keys(selected).forEach(function (id) { if (!fresh[id]) delete selected[id]; });
    var links = g.edges.filter(function (e) { return fresh[e.from] && fresh[e.to]; }).map(function (e) {
      e.source = fresh[e.from]; e.target = fresh[e.to]; return e;
    });
    // both directions of a pair: bend each its own way
    var pairs = {};
    links.forEach(function (e) { pairs[e.from + ">" + e.to] = true; });
    links.forEach(function (e) { e.bend = pairs[e.to + ">" + e.from] && e.from !== e.to ? 1 : 0; });

    var edge = edgeLayer.selectAll("path.edge").data(links, function (d) { return d.id; });
    edge.enter().append("path").on("click", function (d) { d3.event.stopPropagation(); showEdge(d); })
      .append("title");
    edge.attr("class", function (d) { return edgeClass(d) + (d.id === chosenEdge ? " chosen" : ""); })
      .attr("data-id", function (d) { return d.id; })
      .attr("data-from", function (d) { return d.from; })
      .attr("data-to", function (d) { return d.to; })
      .attr("data-verdict", function (d) { return d.verdict; })
      .attr("data-flows", function (d) { return d.flows; })
      .attr("stroke-width", edgeWidth)
      .attr("marker-end", function (d) { return "url(#m-" + (d.new ? "new" : d.verdict) + ")"; });
    edge.select("title").text(function (d) {
      return d.source.name + " → " + d.target.name + ": " + d.flows + " flows (" + d.allowed + " allowed, " +
        d.denied + " denied, " + d.audit + " audit) " + d.ports.join(" ") + (d.new ? " · new since the baseline" : "");
    });
    edge.exit().remove();

    var node = nodeLayer.selectAll("g.node").data(g.nodes, function (d) { return d.id; });
    var entered = node.enter().append("g").call(force.drag);
    entered.append("circle").attr("class", "quarantine");
    entered.append("circle").attr("class", "body").on("click", function (d) {
      d3.event.stopPropagation();
      if (d3.event.defaultPrevented) return;  // a drag
      if (selected[d.id]) delete selected[d.id]; else selected[d.id] = true;
      renderSelection();
    });
    entered.append("text").attr("class", "name");
    var badge = entered.append("g").attr("class", "alert");
    badge.append("circle").attr("r", 7);
    badge.append("text").attr("dy", 3.5).text("!");
    badge.append("title");
    entered.append("title");
    node.attr("class", function (d) { return "node" + (selected[d.id] ? " selected" : ""); })
      .attr("data-id", function (d) { return d.id; })
      .attr("data-namespace", function (d) { return d.namespace; })
      .attr("data-alerts", function (d) { return d.alerts.length; })
      .attr("data-quarantined", function (d) { return d.quarantined ? "1" : "0"; });
    node.select("circle.body").attr("r", nodeRadius).attr("fill", function (d) { return colour(d.namespace); });
    node.select("circle.quarantine").attr("r", function (d) { return nodeRadius(d) + 5; })
      .attr("display", function (d) { return d.quarantined ? null : "none"; });
    node.select("text.name").attr("x", function (d) { return nodeRadius(d) + 4; }).attr("dy", 4)
      .text(function (d) { return d.name; });
    node.select("g.alert").attr("display", function (d) { return d.alerts.length ? null : "none"; })
      .attr("transform", function (d) { var r = nodeRadius(d); return "translate(" + r * 0.7 + "," + -r * 0.7 + ")"; });
    node.select("g.alert title").text(function (d) {
      return d.alerts.map(function (a) { return a.severity + " " + a.detector + ": " + a.summary; }).join("\n");
    });
    node.select(":scope > title").text(function (d) {
      return d.name + "\nidentity " + d.identity + ", namespace " + nsName(d.namespace) + "\n" + d.flows + " flows" +
        (d.quarantined ? "\nquarantined" : "") + (d.ips.length ? "\n" + d.ips.join(", ") : "");
    });
    node.exit().remove();

    var hulls = hullLayer.selectAll("g.ns").data(namespaces, function (d) { return d; });
    var he = hulls.enter().append("g").attr("class", "ns");
    he.append("circle").attr("class", "hull");
    he.append("text").attr("class", "ns-label");
    hulls.select("circle").attr("fill", colour).attr("stroke", colour);
    hulls.select("text").attr("fill", colour).text(nsName);
    hulls.exit().remove();

    var nsSelect = d3.select("#f-namespace"), current = nsSelect.property("value");
    var opts = nsSelect.selectAll("option.ns").data(namespaces.filter(function (n) { return n; }), String);
    opts.enter().append("option").attr("class", "ns");
    opts.attr("value", String).text(String);
    opts.exit().remove();
    nsSelect.property("value", current);

    document.body.removeAttribute("data-settled");
    force.nodes(g.nodes).links(links).start();
    document.body.setAttribute("data-updates", updates);
    document.body.setAttribute("data-edges", links.length);
    document.body.setAttribute("data-nodes", g.nodes.length);
    d3.select("#status").text(g.nodes.length + " identities · " + links.length + " conversations · " + g.flows +
      " flows" + (g.baseline ? "" : " · no baseline yet"));
    renderSelection();
  }

  function arc(d) {
    var sx = d.source.x, sy = d.source.y, tx = d.target.x, ty = d.target.y;
    var dx = tx - sx, dy = ty - sy, len = Math.sqrt(dx * dx + dy * dy) || 1;
    var r = nodeRadius(d.target) + 3;  // stop at the target's rim, arrow visible
    var ex = tx - dx / len * r, ey = ty - dy / len * r;
    if (d.source === d.target) {
      return "M" + sx + "," + (sy - 10) + "a22,22 0 1,1 20,10";
    }
    return "M" + sx + "," + sy + "A" + len * (d.bend ? 1 : 3) + "," + len * (d.bend ? 1 : 3) + " 0 0,1 " + ex + "," + ey;
  }

  function tick(e) {
    var k = 0.08 * e.alpha;
    graph.nodes.forEach(function (n) { n.x += (n.focus[0] - n.x) * k; n.y += (n.focus[1] - n.y) * k; });
    edgeLayer.selectAll("path.edge").attr("d", arc);
    nodeLayer.selectAll("g.node").attr("transform", function (d) { return "translate(" + d.x + "," + d.y + ")"; });
    hullLayer.selectAll("g.ns").each(function (ns) {
      var members = graph.nodes.filter(function (n) { return n.namespace === ns; });
      if (!members.length) return;
      var cx = d3.mean(members, function (n) { return n.x; }), cy = d3.mean(members, function (n) { return n.y; });
      var r = d3.max(members, function (n) { return Math.sqrt((n.x - cx) * (n.x - cx) + (n.y - cy) * (n.y - cy)) + nodeRadius(n); }) + 18;
      d3.select(this).select("circle").attr("cx", cx).attr("cy", cy).attr("r", r);
      d3.select(this).select("text").attr("x", cx - r * 0.6).attr("y", cy - r * 0.8);
    });
  }

  function renderSelection() {
    var ids = Object.keys(selected);
    nodeLayer.selectAll("g.node").classed("selected", function (d) { return !!selected[d.id]; });
    d3.select("#selected-count").text(ids.length);
    var items = d3.select("#selected-list").selectAll("li").data(ids.map(function (id) { return nodesById[id]; }), function (d) { return d.id; });
    items.enter().append("li");
    items.text(function (d) { return d.name + " (identity " + d.identity + ")"; });
    items.exit().remove();
    d3.select("#suggest").property("disabled", ids.length === 0);
    d3.select("#clear").property("disabled", ids.length === 0);
  }

  function getJSON(url, done) {
    d3.json(url, function (err, data) {
      if (err) {
        var msg = err.responseText || String(err.status || err);
        try { msg = JSON.parse(err.responseText).error; } catch (e) { /* not JSON */ }
        done(msg, null);
      } else done(null, data);
    });
  }

  function showEdge(d) {
    chosenEdge = d.id;
    edgeLayer.selectAll("path.edge").classed("chosen", function (e) { return e.id === chosenEdge; });
    var section = d3.select("#edge").attr("hidden", null).attr("data-id", d.id).attr("data-loaded", null);
    d3.select("#edge-title").text(d.source.name + " → " + d.target.name);
    d3.select("#edge-summary").text(d.flows + " flows: " + d.allowed + " allowed, " + d.denied + " denied, " +
      d.audit + " audit · " + d.ports.join(" ") + (d.new ? " · new since the baseline" : ""));
    var q = filters();
    getJSON("/api/edge?from=" + d.from + "&to=" + d.to + (q ? "&" + q : ""), function (err, data) {
      var body = d3.select("#edge-flows tbody");
      body.selectAll("tr").remove();
      if (err) { d3.select("#edge-summary").text("could not load the flows: " + err); return; }
      var rows = body.selectAll("tr").data(data.flows).enter().append("tr").attr("class", "flow")
        .attr("data-verdict", function (f) { return f.verdict; }).attr("data-rule", function (f) { return f.rule; });
      rows.append("td").text(function (f) { return f.time.replace("T", " ").replace(/\.\d+Z$/, "Z"); });
      rows.append("td").text(function (f) { return f.port; });
      rows.append("td").text(function (f) { return f.source_name + " " + f.source; });
      rows.append("td").text(function (f) { return f.destination_name + " " + f.destination; });
      rows.append("td").attr("class", function (f) { return "verdict-" + f.verdict; }).text(function (f) { return f.verdict; });
      rows.append("td").attr("class", "rule").text(function (f) { return f.rule; }).attr("title", function (f) { return f.why; });
      section.attr("data-loaded", data.flows.length);
    });
  }

  d3.select("#suggest").on("click", function () {
    var ids = Object.keys(selected);
    d3.select("#yaml").text("asking…");
    getJSON("/api/suggest?ids=" + ids.join(","), function (err, data) {
      d3.select("#yaml").text(err ? "# " + err : data.yaml);
    });
  });
  d3.select("#clear").on("click", function () { selected = {}; d3.select("#yaml").text(""); renderSelection(); });
  svg.on("click", function () { chosenEdge = null; edgeLayer.selectAll("path.edge").classed("chosen", false); });

  // live: one EventSource per set of filters; the browser reconnects by itself
  var source = null;
  function connect() {
    if (source) source.close();
    var q = filters();
    source = new EventSource("/api/events" + (q ? "?" + q : ""));
    source.addEventListener("graph", function (ev) {
      d3.select("#status").attr("data-state", "live");
      render(JSON.parse(ev.data));
    });
    source.onerror = function () {
      d3.select("#status").attr("data-state", "lost").text("connection lost: retrying…");
    };
  }
  d3.selectAll("#filters select").on("change", connect);
  d3.select("#f-label").on("change", connect);
  d3.select("#filters").on("submit", function () { d3.event.preventDefault(); connect(); });
  window.addEventListener("resize", function () { render(graph); });
  connect();
})();
