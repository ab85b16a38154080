#!/usr/bin/python3
"""The live map in a real browser: Debian's chromium, headless, driven over
the DevTools protocol (CDP) with python3-websockets.

  map_browser.py URL FLOWS_JSON SCREENSHOT.png [--edge FROM>TO]
  (ZS_FLOWS_CMD, when set: the command that writes FLOWS_JSON again)

Opens URL (the agent's --ui-listen), waits for the map to draw and settle,
and checks against FLOWS_JSON (`zeroseg flows -o json --last N`, taken after
the traffic) that the page draws exactly the identities and conversations
the flows name, each edge with its flow count and verdict; clicks an edge
(--edge, else the first denied one) with the mouse and checks the side panel
lists its flows, each with the rule that decided it; selects the edge's two
nodes and asks for their policy; saves a screenshot. Prints one line per
check ("ok ..." / "FAIL ...") and exits 1 on any failure.
"""
import asyncio
import base64
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

import websockets

SEVERITY = {"allowed": 0, "audit": 1, "denied": 2}
failures = 0


def check(ok, what):
    global failures
    print(("  ok    " if ok else "  FAIL  ") + what, flush=True)
    if not ok:
        failures += 1


def expected_graph(flows_path):
    """The map's contract, computed here on its own: a flow is a 5-tuple of a
    start or deny record; its verdict the strictest of its records; its rule
    that record's rule, or its explanation when no rule decided it."""
    flows = {}
    for line in open(flows_path):
        line = line.strip()
        if not line:
            continue
        r = json.loads(line)
        if r.get("event") not in ("flow-start", "deny") or r.get("verdict") not in SEVERITY:
            continue
        s, d = r["source"], r["destination"]
        key = (r["protocol"], s["ip"], s.get("port"), d["ip"], d.get("port"), json.dumps(r.get("icmp", {}).get("type")))
        old = flows.get(key)
        if old is None or SEVERITY[r["verdict"]] > SEVERITY[old["verdict"]]:
            flows[key] = r
    edges, nodes = {}, set()
    for r in flows.values():
        a, b = str(r["source"]["identity"]), str(r["destination"]["identity"])
        nodes.update([a, b])
        e = edges.setdefault(a + ">" + b, {"flows": 0, "verdict": "allowed", "rules": []})
        e["flows"] += 1
        if SEVERITY[r["verdict"]] > SEVERITY[e["verdict"]]:
            e["verdict"] = r["verdict"]
        e["rules"].append(r.get("rule") or r.get("why", ""))
    return nodes, edges


class Browser:
    def __init__(self, ws):
        self.ws, self.next_id = ws, 0

    async def call(self, method, **params):
        self.next_id += 1
        my = self.next_id
        await self.ws.send(json.dumps({"id": my, "method": method, "params": params}))
        while True:
            msg = json.loads(await asyncio.wait_for(self.ws.recv(), 60))
            if msg.get("id") == my:
                if "error" in msg:
                    raise RuntimeError(method + ": " + json.dumps(msg["error"]))
                return msg.get("result", {})

    async def js(self, expression):
        r = await self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in r:
            raise RuntimeError("page script failed: " + json.dumps(r["exceptionDetails"])[:500])
        return r["result"].get("value")

    async def wait_for(self, expression, seconds=30):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if await self.js(expression):
                return True
            await asyncio.sleep(0.2)
        return False

    async def click(self, x, y):
        for kind in ("mouseMoved", "mousePressed", "mouseReleased"):
            await self.call("Input.dispatchMouseEvent", type=kind, x=x, y=y, button="left", clickCount=1)


# Where on screen a point of an edge's path is, and whether the path is what
# a click there would hit (a node may cover it).
EDGE_POINT = """(() => {
  const p = document.querySelector('path.edge[data-id="%s"]');
  if (!p) return null;
  const L = p.getTotalLength(), m = p.getScreenCTM();
  for (const f of [0.5, 0.4, 0.6, 0.3, 0.7, 0.2, 0.8]) {
    const q = p.getPointAtLength(L * f);
    const x = q.x * m.a + q.y * m.c + m.e, y = q.x * m.b + q.y * m.d + m.f;
    if (document.elementFromPoint(x, y) === p) return {x, y};
  }
  return null;
})()"""

DRAWN = """(() => ({
  nodes: [...document.querySelectorAll('g.node')].map(n => n.dataset.id),
  edges: [...document.querySelectorAll('path.edge')].map(e => ({id: e.dataset.id,
          flows: +e.dataset.flows, verdict: e.dataset.verdict, d: e.getAttribute('d') || ''}))}))()"""

NODE_POINT = """(() => {
  const c = document.querySelector('g.node[data-id="%s"] circle.body');
  if (!c) return null;
  const b = c.getBoundingClientRect();
  return {x: b.left + b.width / 2, y: b.top + b.height / 2};
})()"""


async def drive(ws_url, url, flows_path, png, edge_wanted):
    async with websockets.connect(ws_url, max_size=None) as ws:
        b = Browser(ws)
        await b.call("Page.enable")
        await b.call("Emulation.setDeviceMetricsOverride", width=1600, height=1000, deviceScaleFactor=1, mobile=False)
        await b.call("Page.navigate", url=url)
        check(await b.wait_for("document.body && +document.body.dataset.updates >= 1"),
              "the page drew a graph from the live stream (/api/events)")
        check(await b.wait_for("document.body.dataset.settled === '1'", 60), "the layout settled")
        # the flows and the page are read at two moments: traffic that comes
        # between (the map updates live) is waited out, three times at most
        for attempt in range(3):
            if os.environ.get("ZS_FLOWS_CMD"):
                with open(flows_path, "w") as f:
                    subprocess.run(os.environ["ZS_FLOWS_CMD"], shell=True, stdout=f, check=True)
            nodes, edges = expected_graph(flows_path)
            drawn = await b.js(DRAWN)
            if {e["id"]: (e["flows"], e["verdict"]) for e in drawn["edges"]} == \
                    {k: (e["flows"], e["verdict"]) for k, e in edges.items()} and set(drawn["nodes"]) == nodes:
                break
            print("    (the page and the flows differ: reading both again)", flush=True)
            await asyncio.sleep(3)
        drawn_nodes = set(drawn["nodes"])
        drawn_edges = {e["id"]: e for e in drawn["edges"]}
        check(len(edges) >= 3, "the flows name %d conversations (a lab with traffic)" % len(edges))
        check(drawn_nodes == nodes, "the nodes drawn are the identities of the flows: %d (missing %s, extra %s)" %
              (len(nodes), sorted(nodes - drawn_nodes), sorted(drawn_nodes - nodes)))
        check(set(drawn_edges) == set(edges), "the edges drawn are the conversations of the flows: %d (missing %s, extra %s)"
              % (len(edges), sorted(set(edges) - set(drawn_edges)), sorted(set(drawn_edges) - set(edges))))
        wrong = [(k, drawn_edges[k]["flows"], e["flows"], drawn_edges[k]["verdict"], e["verdict"])
                 for k, e in edges.items() if k in drawn_edges and
                 (drawn_edges[k]["flows"] != e["flows"] or drawn_edges[k]["verdict"] != e["verdict"])]
        check(not wrong, "each edge has the flows' count and verdict (wrong: %s)" % wrong)
        check(all(e["d"].startswith("M") for e in drawn["edges"]), "every edge is drawn (a path)")
        verdicts = {e["verdict"] for e in edges.values()}
        check({"allowed", "denied"} <= verdicts, "allowed and denied conversations both on the map: %s" % sorted(verdicts))

        pick = edge_wanted or next((k for k, e in sorted(edges.items()) if e["verdict"] == "denied"), None)
        check(pick in drawn_edges, "the edge to click (%s) is drawn" % pick)
        point = await b.js(EDGE_POINT % pick) if pick in drawn_edges else None
        check(point is not None, "a point of edge %s is clickable (not under a node)" % pick)
        if point:
            await b.click(point["x"], point["y"])
            loaded = await b.wait_for("document.querySelector('#edge').dataset.id === '%s' && "
                                      "document.querySelector('#edge').dataset.loaded !== undefined" % pick)
            check(loaded, "clicking edge %s opened its flows in the side panel" % pick)
            rows = await b.js("""[...document.querySelectorAll('#edge-flows tr.flow')].map(r =>
                ({verdict: r.dataset.verdict, rule: r.dataset.rule, text: r.innerText}))""")
            want = edges[pick]
            check(len(rows) == min(want["flows"], 100), "the panel lists the edge's %d flows (got %d)" % (want["flows"], len(rows)))
            check(all(r["rule"] for r in rows), "every flow in the panel names the rule (or default deny) that decided it")
            check(sorted(r["rule"] for r in rows) == sorted(want["rules"])[:len(rows)] or len(rows) < want["flows"],
                  "the panel's rules are the flows' rules: %s" % sorted({r["rule"] for r in rows}))
            print("    panel: " + (rows[0]["text"].replace("\t", " | ") if rows else "(empty)"))
            # select both ends and ask for their policy
            a, z = pick.split(">")
            for n in dict.fromkeys([a, z]):
                p = await b.js(NODE_POINT % n)
                if p:
                    await b.click(p["x"], p["y"])
            await b.wait_for("+document.querySelector('#selected-count').textContent >= 1", 5)
            await b.js("document.querySelector('#suggest').click()")
            got = await b.wait_for("document.querySelector('#yaml').textContent.includes('kind: SegmentPolicy') || "
                                   "document.querySelector('#yaml').textContent.startsWith('# no workload')", 15)
            yaml = await b.js("document.querySelector('#yaml').textContent")
            named = [n for n in (a, z) if n not in ("0", "1", "2")]
            check(got and ("kind: SegmentPolicy" in yaml or not named),
                  "selecting the edge's nodes gives the policy `policy suggest` writes for them")
        shot = await b.call("Page.captureScreenshot", format="png")
        with open(png, "wb") as f:
            f.write(base64.b64decode(shot["data"]))
        check(os.path.getsize(png) > 10000, "screenshot saved: %s" % png)


def main():
    url, flows_path, png = sys.argv[1:4]
    edge = sys.argv[5] if len(sys.argv) > 5 and sys.argv[4] == "--edge" else None
    profile = tempfile.mkdtemp(prefix="zs-chromium-")
    browser = subprocess.Popen(
        ["chromium", "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run", "--no-default-browser-check",
         "--disable-extensions", "--disable-background-networking", "--hide-scrollbars", "--user-data-dir=" + profile,
         "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0", "--window-size=1600,1000", "about:blank"],
        stdout=subprocess.DEVNULL, stderr=open(os.path.join(profile, "stderr"), "w"), start_new_session=True)
    try:
        port_file = os.path.join(profile, "DevToolsActivePort")
        deadline = time.monotonic() + 60
        while not os.path.exists(port_file) and time.monotonic() < deadline and browser.poll() is None:
            time.sleep(0.1)
        if not os.path.exists(port_file):
            print("  FAIL  chromium did not start: " + open(os.path.join(profile, "stderr")).read()[-2000:])
            return 1
        port = open(port_file).read().split()[0]
        targets = json.load(urllib.request.urlopen("http://127.0.0.1:%s/json/list" % port, timeout=10))
        page = next(t for t in targets if t["type"] == "page")
        asyncio.run(drive(page["webSocketDebuggerUrl"], url, flows_path, png, edge))
    finally:
        # chromium's own children (renderer, zygote, GPU) are in its session:
        # the group we made goes whole
        for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 5)):
            try:
                os.killpg(browser.pid, sig)
            except ProcessLookupError:
                break
            try:
                browser.wait(wait)
            except subprocess.TimeoutExpired:
                continue
            time.sleep(0.5)
        shutil.rmtree(profile, ignore_errors=True)
    print("%s" % ("map_browser: all checks passed" if failures == 0 else "map_browser: %d failed" % failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
