#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Scale by simulation (issue 17, "Benchmarks"): plays NODES simulated nodes x
WORKLOADS workloads against the etcd of the three-node lab (scripts/lab.sh
--cluster), beside its three real agents, through etcd's JSON gateway, doing
what an agent does to etcd:

  - a lease per node (--ttl, kept alive every third of it) holding
    nodes/NODE, its workloads (workloads/NODE/prod/sI-wJ, the Workload's YAML,
    written in transactions of 100) and its identity uses
    (identities/used-by/NUMBER/NODE, once the real agents numbered its
    label sets: WORKLOADS/--replicas label sets app=sim-K, shared by all nodes);
  - a watch per node of what an agent watches (--watch-range objects, the
    default: namespaces/ to the end of workloads/, as ClusterKeys::watch_range;
    --watch-range whole: all of /zeroseg/v1/, as agents did before, so that
    every node received every node's applied/ report), and applied/NODE
    written after each revision of objects seen, as an agent reports (at
    most once per --report-interval a node, as agents pace it; 0: after
    every revision, as agents did before);
  - churn: --churn workload changes a second cluster-wide (a random node's
    workload deleted, or put back), for --duration seconds.

Meanwhile it samples, every --sample seconds: each real agent's CPU (utime +
stime from /proc) and RSS, etcd's key count, db size and revision (its write
rate). Prints a summary (and --json FILE). Run in the lab's underlay, as root:

  nsenter --net=/run/netns/zs-cl-u bench/cluster_sim.py --lab zs-cl [--nodes 100 --workloads 100]
"""
import argparse, base64, http.client, json, multiprocessing, os, random, sys, threading, time

PREFIX = "/zeroseg/v1/"


def b64(s):
    return base64.b64encode(s.encode()).decode()


def unb64(s):
    return base64.b64decode(s).decode()


def prefix_end(p):
    return p[:-1] + chr(ord(p[-1]) + 1)


class Etcd:
    """One kept-alive HTTP connection to the gateway (one per thread)."""

    def __init__(self, host, port, timeout=30):
        self.host, self.port, self.c, self.timeout = host, port, None, timeout

    def call(self, path, body):
        for attempt in range(3):
            try:
                if self.c is None:
                    self.c = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
                self.c.request("POST", path, json.dumps(body), {"Content-Type": "application/json"})
                r = self.c.getresponse()
                data = r.read()
                if r.status != 200:
                    raise RuntimeError(f"{path}: {r.status} {data[:200]!r}")
                return json.loads(data)
            except (OSError, http.client.HTTPException):
                self.c = None
                if attempt == 2:
                    raise
                time.sleep(0.2)

    def put_op(self, key, value, lease=0):
        r = {"key": b64(key), "value": b64(value)}
        if lease:
            r["lease"] = str(lease)
        return {"request_put": r}

    def txn(self, ops):
        return self.call("/v3/kv/txn", {"success": ops})

    def put(self, key, value, lease=0):
        return self.call("/v3/kv/put", self.put_op(key, value, lease)["request_put"])

    def delete(self, key):
        return self.call("/v3/kv/deleterange", {"key": b64(key)})

    def range_prefix(self, p, keys_only=False, count_only=False):
        return self.call("/v3/kv/range", {"key": b64(p), "range_end": b64(prefix_end(p)), "keys_only": keys_only,
                                          "count_only": count_only})

    def status(self):
        return self.call("/v3/maintenance/status", {})


def workload_yaml(node, j, replicas):
    return (f"apiVersion: zeroseg.io/v1\nkind: Workload\nmetadata:\n  name: s{node}-w{j}\n  namespace: prod\n"
            f"  labels: {{app: sim-{j // replicas}}}\nspec:\n  interface: s{node}w{j}\n"
            f"  ips: [172.20.{node}.{j + 1}]\n")


class SimNode:
    def __init__(self, sim, i):
        self.sim, self.i, self.name = sim, i, f"sim-{i:03d}"
        self.db = Etcd(sim.host, sim.port)
        self.lease = 0
        self.present = set()

    def key(self, j):
        return f"{PREFIX}workloads/{self.name}/prod/s{self.i}-w{j}"  # names are cluster-wide

    def join(self):
        r = self.db.call("/v3/lease/grant", {"TTL": str(self.sim.ttl)})
        self.lease = int(r["ID"])
        self.sim.leases.put(self.lease)
        ops = [self.db.put_op(f"{PREFIX}nodes/{self.name}", json.dumps({"since_ns": time.time_ns()}), self.lease)]
        for j in range(self.sim.workloads):
            ops.append(self.db.put_op(self.key(j), workload_yaml(self.i, j, self.sim.replicas), self.lease))
            self.present.add(j)
        rev = 0
        for k in range(0, len(ops), 100):
            rev = int(self.db.txn(ops[k:k + 100])["header"]["revision"])
        return rev

    def use(self, numbers):
        ops = [self.db.put_op(f"{PREFIX}identities/used-by/{n}/{self.name}", "", self.lease) for n in numbers]
        for k in range(0, len(ops), 100):
            self.db.txn(ops[k:k + 100])

    def churn(self):
        j = random.randrange(self.sim.workloads)
        if j in self.present:
            self.db.delete(self.key(j))
            self.present.discard(j)
        else:
            self.db.put(self.key(j), workload_yaml(self.i, j, self.sim.replicas), self.lease)
            self.present.add(j)

    def paced_reports(self, group):
        """applied/NODE as agents write it since session 14 (agent/report_pacer.h):
        at most one a node per --report-interval, the newest revision, the first
        after a quiet interval at once. Returns what the watch calls per revision."""
        pace, cv, state = self.sim.report_interval, threading.Condition(), {"want": 0, "done": 0}

        def loop():
            db, last = Etcd(self.sim.host, self.sim.port), -1e9
            while not self.sim.stopping:
                with cv:
                    while state["want"] <= state["done"] and not self.sim.stopping:
                        cv.wait(0.5)
                time.sleep(max(0.0, last + pace - time.monotonic()))
                with cv:
                    rev = state["want"]
                last = time.monotonic()
                try:
                    for n in group:
                        db.put(f"{PREFIX}applied/{n.name}", str(rev), n.lease)
                    self.sim.count("reports", len(group))
                    with cv:
                        state["done"] = rev
                except (OSError, http.client.HTTPException, RuntimeError, ValueError):
                    self.sim.count("report_errors", 1)

        threading.Thread(target=loop, daemon=True).start()

        def applied(rev):
            with cv:
                state["want"] = max(state["want"], rev)
                cv.notify()
        return applied

    def watch(self, start_revision, group):
        """Every write under /zeroseg/v1/ from start_revision; applied/NODE of
        each node of `group` (this one and those whose watch it stands for)
        after each revision of objects."""
        if self.sim.watch_range == "whole":
            begin, end = PREFIX, prefix_end(PREFIX)
        else:
            begin, end = PREFIX + "namespaces/", prefix_end(PREFIX + "workloads/")
        body = {"create_request": {"key": b64(begin), "range_end": b64(end),
                                   "start_revision": str(start_revision)}}
        # an object's key, base64 as the gateway sends it ("/zeroseg/v1/" is 12
        # bytes: 16 characters, then the kind's first 3 bytes): found without
        # decoding, so that 100 watchers in one Python process keep up
        objects = tuple(b'"key":"' + base64.b64encode((PREFIX + k).encode())[:20] for k in ("nam", "pol", "wor"))
        kinds = tuple(PREFIX + k for k in ("namespaces/", "policies/", "workloads/"))
        reporter = Etcd(self.sim.host, self.sim.port)
        report = self.paced_reports(group) if self.sim.report_interval > 0 else None
        while not self.sim.stopping:
            try:
                c = http.client.HTTPConnection(self.sim.host, self.sim.port, timeout=None)
                c.request("POST", "/v3/watch", json.dumps(body), {"Content-Type": "application/json"})
                r = c.getresponse()
                while not self.sim.stopping:
                    line = r.readline()
                    if not line:
                        break
                    self.sim.count("watch_messages", 1)
                    self.sim.count("watch_bytes", len(line))
                    self.sim.count("watch_events", line.count(b'"kv":'))
                    if not any(o in line for o in objects):
                        # a reconnect resumes past it (no replay of others' reports)
                        m = line.find(b'"revision":"')
                        if m >= 0:
                            rev = line[m + 12:line.find(b'"', m + 12)]
                            if rev.isdigit():
                                body["create_request"]["start_revision"] = str(int(rev) + 1)
                        continue
                    top = 0
                    for e in json.loads(line).get("result", {}).get("events", []):
                        if unb64(e["kv"]["key"]).startswith(kinds):
                            top = max(top, int(e["kv"].get("mod_revision", 0)))
                    if top:
                        if report:
                            report(top)
                        else:
                            for n in group:
                                reporter.put(f"{PREFIX}applied/{n.name}", str(top), n.lease)
                            self.sim.count("reports", len(group))
                        body["create_request"]["start_revision"] = str(top + 1)
            except (OSError, http.client.HTTPException, ValueError, RuntimeError):
                self.sim.count("watch_errors", 1)
                time.sleep(0.5)


class Sim:
    def __init__(self, a):
        self.host, self.port = a.etcd.rsplit(":", 1)
        self.port = int(self.port)
        self.ttl, self.workloads, self.replicas = a.ttl, a.workloads, a.replicas
        self.watch_range = a.watch_range
        self.report_interval = a.report_interval / 1000
        self.nodes = [SimNode(self, i) for i in range(a.nodes)]
        self.stopping = False
        self.counts, self.mu = {}, threading.Lock()
        self.leases = multiprocessing.Queue()
        self.beats = multiprocessing.Array("l", 3)  # kept alive, lost, failed
        self.beat = multiprocessing.Value("d", 0.0)

    def beat_figures(self):
        return {"keepalives": self.beats[0], "leases_lost": self.beats[1], "keepalive_errors": self.beats[2],
                "last_beat_s_ago": round(time.time() - self.beat.value, 1)}

    def count(self, what, n):
        with self.mu:
            self.counts[what] = self.counts.get(what, 0) + n


def keepalive(host, port, ttl, leases, counts, beat):
    """The leases' beats, in a process of their own: the watchers' Python
    threads must not delay them past the TTL (that measured the tool, not
    etcd). leases: a queue of lease ids as they are granted; counts and
    beat: shared values for the summary."""
    from concurrent.futures import ThreadPoolExecutor
    held, local = [], threading.local()

    def one(lease):
        if not hasattr(local, "db"):
            local.db = Etcd(host, port, timeout=3)  # a beat must not wait out the TTL
        try:
            r = local.db.call("/v3/lease/keepalive", {"ID": str(lease)})
            # a lease etcd no longer has answers without a TTL: the node's keys are gone
            i = 0 if int(r.get("result", {}).get("TTL", 0)) > 0 else 1
        except (OSError, http.client.HTTPException, RuntimeError, ValueError):
            i = 2  # etcd overloaded or away: as an agent, try at the next beat
        with counts.get_lock():
            counts[i] += 1

    # nodes beat each on their own, not one after another
    with ThreadPoolExecutor(max_workers=25) as pool:
        while True:
            t0 = time.monotonic()
            beat.value = time.time()
            while not leases.empty():
                held.append(leases.get())
            list(pool.map(one, held))
            time.sleep(max(0.1, ttl / 3 - (time.monotonic() - t0)))


def agent_pids(lab):
    pids = {}
    for k in (1, 2, 3):
        try:
            pids[f"n{k}"] = int(open(f"/run/zeroseg/{lab}/n{k}/agent.pid").read())
        except (OSError, ValueError):
            pass
    return pids


def proc_cpu_rss(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])
    rss = 0
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1]) * 1024
    return ticks / os.sysconf("SC_CLK_TCK"), rss


def etcd_figures(db):
    st = db.status()
    keys = db.call("/v3/kv/range", {"key": b64("\0"), "range_end": b64("\0"), "count_only": True})
    return {"revision": int(st["header"]["revision"]), "db_size": int(st.get("dbSize", 0)),
            "db_in_use": int(st.get("dbSizeInUse", 0)), "keys": int(keys.get("count", 0))}


def sample(db, pids, last):
    now = time.monotonic()
    out = {"t": now, "etcd": etcd_figures(db), "agents": {}}
    for name, pid in pids.items():
        try:
            cpu, rss = proc_cpu_rss(pid)
        except OSError:
            continue
        out["agents"][name] = {"cpu_s": cpu, "rss": rss}
    if last:
        dt = now - last["t"]
        out["revisions_per_s"] = (out["etcd"]["revision"] - last["etcd"]["revision"]) / dt
        for name, a in out["agents"].items():
            if name in last["agents"]:
                a["cpu_pct"] = 100 * (a["cpu_s"] - last["agents"][name]["cpu_s"]) / dt
    return out


def wait_identities(db, sets, timeout):
    """The numbers the real agents gave app=sim-K (K < sets), once all are there."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = {}
        for kv in db.range_prefix(PREFIX + "identities/by-id/").get("kvs", []):
            labels = json.loads(unb64(kv["value"]))
            app = labels.get("app", "")
            if app.startswith("sim-") and labels.get("zeroseg.io/refinement", "") == "":
                found[int(unb64(kv["key"]).rsplit("/", 1)[1])] = app
        if len(set(found.values())) >= sets:
            return sorted(found)
        time.sleep(1)
    return []


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--etcd", default="10.79.0.254:2379")
    ap.add_argument("--lab", default="zs-cl", help="the lab whose agents are measured")
    ap.add_argument("--nodes", type=int, default=100)
    ap.add_argument("--workloads", type=int, default=100, help="per node")
    ap.add_argument("--replicas", type=int, default=5, help="workloads of a node per label set")
    ap.add_argument("--ttl", type=int, default=15)
    ap.add_argument("--churn", type=float, default=1.0, help="workload changes a second, cluster-wide")
    ap.add_argument("--duration", type=float, default=120, help="seconds of churn")
    ap.add_argument("--sample", type=float, default=10)
    ap.add_argument("--policies", action=argparse.BooleanOptionalAction, default=True,
                    help="a SegmentPolicy per simulated label set (removed at the end)")
    ap.add_argument("--watchers", type=int, default=0,
                    help="watches held (default: one per node); each reports for NODES/WATCHERS nodes")
    ap.add_argument("--no-watch", action="store_true", help="the simulated nodes neither watch nor report")
    ap.add_argument("--watch-range", choices=("objects", "whole"), default="objects",
                    help="what each simulated node watches: the objects' range, as agents do, or all of the prefix (before)")
    ap.add_argument("--report-interval", type=float, default=200, metavar="MS",
                    help="applied/NODE at most once per MS a node, as agents now (0: after every revision, as before)")
    ap.add_argument("--json")
    a = ap.parse_args()
    random.seed(17)
    sim = Sim(a)
    db = Etcd(sim.host, sim.port)
    pids = agent_pids(a.lab)
    samples = [sample(db, pids, None)]
    print(f"before: etcd {samples[0]['etcd']}, agents {samples[0]['agents']}", flush=True)
    # policies over the simulated label sets, as any node writes them: app
    # sim-K takes port 80 from sim-(K+1)
    sets = (a.workloads + a.replicas - 1) // a.replicas
    for k in range(sets if a.policies else 0):
        db.put(f"{PREFIX}policies/SegmentPolicy/prod/sim-{k}",
               f"apiVersion: zeroseg.io/v1\nkind: SegmentPolicy\nmetadata: {{name: sim-{k}, namespace: prod}}\n"
               f"spec:\n  selector: {{matchLabels: {{app: sim-{k}}}}}\n  ingress:\n"
               f"  - from: [{{selector: {{matchLabels: {{app: sim-{(k + 1) % sets}}}}}}}]\n"
               f"    ports: [{{port: 80, protocol: TCP}}]\n")
    beats = multiprocessing.Process(target=keepalive, args=(sim.host, sim.port, sim.ttl, sim.leases, sim.beats, sim.beat),
                                    daemon=True)
    beats.start()
    t0 = time.monotonic()
    last_join = max(n.join() for n in sim.nodes)  # the revision an agent reports once it holds them all
    joined = time.monotonic() - t0
    start_rev = etcd_figures(db)["revision"]
    print(f"{a.nodes} nodes x {a.workloads} workloads written in {joined:.1f} s (etcd revision {start_rev})", flush=True)
    if not a.no_watch:
        k = a.watchers or a.nodes
        for i in range(k):
            threading.Thread(target=sim.nodes[i].watch, args=(start_rev + 1, sim.nodes[i::k]), daemon=True).start()
    # the real agents take them in: each reports the revision in applied/NODE
    t1 = time.monotonic()
    real = [f"{a.lab}-{k}" for k in pids]  # none: etcd alone (a dry run of the tool)
    caught = {}  # seconds from the first node's join
    while time.monotonic() - t1 < 600 and len(caught) < len(real):
        for kv in db.range_prefix(PREFIX + "applied/").get("kvs", []):
            node = unb64(kv["key"]).rsplit("/", 1)[1]
            if node in real and node not in caught and int(unb64(kv["value"])) >= last_join:
                caught[node] = time.monotonic() - t0
        time.sleep(0.2)
    print(f"real agents in step with the {a.nodes * a.workloads} workloads, from the first join: "
          + ", ".join(f"{n} {t:.1f} s" for n, t in sorted(caught.items())), flush=True)
    numbers = wait_identities(db, sets, 120) if pids else []
    for n in sim.nodes:
        try:
            n.use(numbers)
        except RuntimeError as e:
            sim.count("use_errors", 1)
            print(f"{n.name}: identity uses not written: {e}", flush=True)
    print(f"counts: {sim.counts}, {sim.beat_figures()}", flush=True)
    print(f"identity uses written: {len(numbers)} numbers x {a.nodes} nodes", flush=True)
    samples.append(sample(db, pids, samples[-1]))
    print(f"loaded: {json.dumps(samples[-1])}", flush=True)
    # steady churn
    with sim.mu:
        counts_at_churn = dict(sim.counts)
    churn_began = time.monotonic()
    stop_at = time.monotonic() + a.duration
    next_sample = time.monotonic() + a.sample
    changes = 0
    while time.monotonic() < stop_at:
        random.choice(sim.nodes).churn()
        changes += 1
        if time.monotonic() >= next_sample:
            samples.append(sample(db, pids, samples[-1]))
            s = samples[-1]
            print(f"t+{a.duration - (stop_at - time.monotonic()):.0f}s: etcd {s['etcd']}, "
                  f"{s.get('revisions_per_s', 0):.1f} rev/s, agents " +
                  ", ".join(f"{k} {v.get('cpu_pct', 0):.1f}% {v['rss'] / 2**20:.0f} MiB" for k, v in s["agents"].items())
                  + f"; {sim.counts}, {sim.beat_figures()}", flush=True)
            next_sample += a.sample
        time.sleep(1 / a.churn)
    samples.append(sample(db, pids, samples[-1]))
    sim.stopping = True
    beats.terminate()
    churn_samples = samples[2:]
    churn_s = time.monotonic() - churn_began
    watchers = 0 if a.no_watch else (a.watchers or a.nodes)
    per_watcher = {}
    for what in ("watch_events", "watch_messages", "watch_bytes"):
        n = sim.counts.get(what, 0) - counts_at_churn.get(what, 0)
        per_watcher[what + "_per_watcher_per_s"] = n / max(1, watchers) / churn_s
    summary = {"nodes": a.nodes, "workloads": a.workloads, "watchers": a.watchers or a.nodes, "churn_per_s": a.churn, "join_s": joined,
               "agents_caught_up_s": caught, "changes": changes, "counts": dict(sim.counts, **sim.beat_figures()),
               "etcd_end": samples[-1]["etcd"], "etcd_before": samples[0]["etcd"],
               "revisions_per_s": sum(s.get("revisions_per_s", 0) for s in churn_samples) / max(1, len(churn_samples)),
               "watch_range": a.watch_range, "churn_s": churn_s, **per_watcher, "report_interval_ms": a.report_interval,
               "reports_per_s": (sim.counts.get("reports", 0) - counts_at_churn.get("reports", 0)) / churn_s,
               "agents": {}}
    span = samples[-1]["t"] - samples[1]["t"]
    for name in pids:
        if name in samples[-1]["agents"] and name in samples[1]["agents"] and name in samples[0]["agents"]:
            summary["agents"][name] = {
                "cpu_pct_churn": 100 * (samples[-1]["agents"][name]["cpu_s"] - samples[1]["agents"][name]["cpu_s"]) / span,
                "cpu_s_join": samples[1]["agents"][name]["cpu_s"] - samples[0]["agents"][name]["cpu_s"],
                "rss_before": samples[0]["agents"][name]["rss"], "rss_loaded": samples[1]["agents"][name]["rss"],
                "rss_end": samples[-1]["agents"][name]["rss"]}
    print("summary: " + json.dumps(summary, indent=1), flush=True)
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"summary": summary, "samples": samples}, f)
    # the simulated nodes leave: their leases revoked, their keys gone with them
    for n in sim.nodes:
        if n.lease:
            try:
                db.call("/v3/lease/revoke", {"ID": str(n.lease)})
            except RuntimeError:
                pass  # already gone
    for k in range(sets if a.policies else 0):
        db.delete(f"{PREFIX}policies/SegmentPolicy/prod/sim-{k}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
