#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Propagation in cluster mode (issue 17, "Benchmarks"), on the three-node lab
(scripts/lab.sh --cluster: a routed underlay, etcd in its own namespace, one
agent per node).

  policy: N changes of one SegmentPolicy, each applied through node 1
          (`zeroseg apply`), timed from the CLI's start to the moment each node
          reports that etcd revision applied (its `applied/NODE` key, which an
          agent writes after the change is in its maps; seen through an etcd
          watch). Change i lets guest (node 3) reach web (n1), api (n2) and
          client (n3) on port 80 when i is even, on port 9000+i when odd.
          Every 5th change is checked in each node's pinned policy map (the
          allow entry of the new port for its local subject and guest's
          identity) and by real packets (guest -> web, api, client :80:
          allowed when even, refused when odd).
  workload: N new workloads (an address each, no interface), applied in turn
          through node 1, 2, 3, timed from the CLI's start to each *other*
          node's report; every 5th is looked for in their pinned ipcaches
          once they reported it, and every workload in every node's ipcache
          at the end.

p50/p99 are nearest rank. Run as root from the repo:

  bench/cluster_propagation.py [--changes 100] [--name zs-cp] [--quick]
  bench/cluster_propagation.py --reuse --name zs-cl   (a lab already up: the scale run)
"""
import argparse, base64, json, os, subprocess, sys, threading, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ETCD = "10.79.0.254:2379"


def b64(s):
    return base64.b64encode(s.encode()).decode()


def unb64(s):
    return base64.b64decode(s).decode()


class Lab:
    def __init__(self, name, zeroseg):
        self.name, self.zeroseg = name, zeroseg
        self.env = dict(os.environ, ZEROSEG=zeroseg)

    def sh(self, *args, check=True):
        r = subprocess.run([f"{ROOT}/scripts/lab.sh", "--cluster", "--name", self.name, *args], env=self.env,
                           capture_output=True, text=True)
        if check and r.returncode != 0:
            raise RuntimeError(f"lab.sh {' '.join(args)}: {r.stdout}{r.stderr}")
        return r

    def zs(self, node, *args, check=True):
        node_ns = f"/run/netns/{self.name}-n{node}"
        extra = ["--bpf-pin-dir", f"/sys/fs/bpf/{self.name}-n{node}"] if args[0] == "bpf" else \
            ["--socket", f"/run/zeroseg/{self.name}/n{node}/agent.sock"]
        r = subprocess.run(["nsenter", f"--net={node_ns}", self.zeroseg, *args, *extra], capture_output=True,
                           text=True)
        if check and r.returncode != 0:
            raise RuntimeError(f"zeroseg {' '.join(args)} on node {node}: {r.stdout}{r.stderr}")
        return r.stdout

    def zs_json(self, node, *args):
        return json.loads(self.zs(node, *args, "-o", "json"))

    def apply(self, node, yaml_text, verb="apply"):
        path = f"/run/zeroseg/{self.name}/bench-{node}.yaml"
        with open(path, "w") as f:
            f.write(yaml_text)
        return json.loads(self.zs(node, verb, "-f", path, "-o", "json"))["cluster_revision"]

    def probe(self, src, dst, port):
        # ncat -z with a 1 s timeout, from the source's namespace: exit 0 = answered
        return self.sh("probe", src, dst, "tcp", str(port), check=False).returncode == 0


class AppliedWatch:
    """Every applied/NODE report, with the time it arrived: an etcd watch
    (the JSON gateway's stream, read line by line) from the underlay."""

    def __init__(self, lab):
        prefix = "/zeroseg/v1/applied/"
        end = prefix[:-1] + chr(ord(prefix[-1]) + 1)
        body = json.dumps({"create_request": {"key": b64(prefix), "range_end": b64(end)}})
        self.proc = subprocess.Popen(["nsenter", f"--net=/run/netns/{lab.name}-u", "curl", "-sN", "-X", "POST",
                                      "-d", body, f"http://{ETCD}/v3/watch"], stdout=subprocess.PIPE, text=True)
        self.events, self.cv = [], threading.Condition()  # (time, node, revision)
        threading.Thread(target=self._read, daemon=True).start()
        self.prefix = prefix

    def _read(self):
        for line in self.proc.stdout:
            t = time.monotonic()
            try:
                evs = json.loads(line).get("result", {}).get("events", [])
            except ValueError:
                continue
            with self.cv:
                for e in evs:
                    kv = e.get("kv", {})
                    if e.get("type", "PUT") != "PUT" or "value" not in kv:
                        continue
                    self.events.append((t, unb64(kv["key"])[len(self.prefix):], int(unb64(kv["value"]))))
                self.cv.notify_all()

    def wait(self, nodes, revision, since, timeout=60):
        """{node: first time at or after `since` it reported >= revision}"""
        deadline = time.monotonic() + timeout
        with self.cv:
            while True:
                got = {}
                for t, n, r in self.events:
                    if n in nodes and r >= revision and t >= since and n not in got:
                        got[n] = t
                if len(got) == len(nodes) or time.monotonic() > deadline:
                    return got
                self.cv.wait(0.5)

    def close(self):
        self.proc.kill()
        self.proc.wait()


def pct(xs, p):
    xs = sorted(xs)
    return xs[max(0, min(len(xs) - 1, -(-len(xs) * p // 100) - 1))]


def summary(name, xs):
    return f"{name}: n={len(xs)} p50 {pct(xs, 50) * 1000:.1f} ms, p99 {pct(xs, 99) * 1000:.1f} ms, max {max(xs) * 1000:.1f} ms"


def policy_yaml(i):
    port = 80 if i % 2 == 0 else 9000 + i
    return f"""apiVersion: zeroseg.io/v1
kind: SegmentPolicy
metadata: {{name: bench-prop, namespace: prod}}
spec:
  selector: {{matchExpressions: [{{key: tier, operator: In, values: [web, api, client]}}]}}
  ingress:
  - from: [{{namespaceSelector: {{matchLabels: {{env: guest}}}}}}]
    ports: [{{port: {port}, protocol: TCP}}]
""", port


def workload_yaml(i):
    return f"""apiVersion: zeroseg.io/v1
kind: Workload
metadata: {{name: bench-w{i}, namespace: prod, labels: {{tier: bench}}}}
spec: {{ips: [10.77.{i // 250}.{i % 250 + 1}]}}
""", f"10.77.{i // 250}.{i % 250 + 1}"


def identity_of(lab, node, ns, name):
    for w in lab.zs_json(node, "workload", "list"):
        if w["namespace"] == ns and w["name"] == name:
            return w["identity"]
    return None


def policy_in_map(lab, node, subject, peer, port):
    return any(e["subject"] == subject and e["peer"] == peer and e["port"] == port and e["port_plen"] == 16
               and e["allow_rule"] != 0 and e["direction"] == "ingress"
               for e in lab.zs_json(node, "bpf", "dump", "policy"))


def ipcache_has(lab, node, ip):
    return any(e["prefix"] == ip + "/32" for e in lab.zs_json(node, "bpf", "dump", "ipcache"))


def bench_policy(lab, watch, nodes, n, gap):
    local = {1: ("prod", "web"), 2: ("prod", "api"), 3: ("prod", "client")}
    subject = {k: identity_of(lab, k, *local[k]) for k in (1, 2, 3)}
    guest = identity_of(lab, 1, "guest", "guest")
    all_times, local_times, failures, checked = [], [], [], 0
    for i in range(n):
        text, port = policy_yaml(i)
        t0 = time.monotonic()
        rev = lab.apply(1, text)
        t_local = time.monotonic()
        got = watch.wait(nodes, rev, t0)
        if len(got) != len(nodes):
            failures.append(f"change {i} (revision {rev}): not reported by {sorted(set(nodes) - set(got))}")
            continue
        all_times.append(max(got.values()) - t0)
        local_times.append(t_local - t0)
        if i % 5 == 0 or i == n - 1:
            checked += 1
            for k in (1, 2, 3):
                if not policy_in_map(lab, k, subject[k], guest, port):
                    failures.append(f"change {i}: node {k}'s policy map lacks {local[k][1]} <- guest :{port}")
            for dst in ("web", "api", "client"):
                if lab.probe("guest", dst, 80) != (port == 80):
                    failures.append(f"change {i}: guest -> {dst}:80 {'refused' if port == 80 else 'answered'}")
        time.sleep(gap)
    return all_times, local_times, failures, checked


def bench_workloads(lab, watch, n, gap):
    times, failures, checked, by_node, ips = [], [], 0, {1: [], 2: [], 3: []}, []
    for i in range(n):
        origin = i % 3 + 1
        text, ip = workload_yaml(i)
        others = [f"{lab.name}-n{k}" for k in (1, 2, 3) if k != origin]
        t0 = time.monotonic()
        rev = lab.apply(origin, text)
        by_node[origin].append(text)
        ips.append(ip)
        got = watch.wait(others, rev, t0)
        if len(got) != len(others):
            failures.append(f"workload {i} (revision {rev}): not reported by {sorted(set(others) - set(got))}")
            continue
        times.append(max(got.values()) - t0)
        if i % 5 == 0:
            checked += 1
            for k in (1, 2, 3):
                if k != origin and not ipcache_has(lab, k, ip):
                    failures.append(f"workload {i}: {ip} reported applied by node {k} but not in its ipcache")
        time.sleep(gap)
    for k in (1, 2, 3):
        have = {e["prefix"] for e in lab.zs_json(k, "bpf", "dump", "ipcache")}
        missing = [ip for ip in ips if ip + "/32" not in have]
        if missing:
            failures.append(f"node {k}'s ipcache lacks {len(missing)} of the {len(ips)} workloads: {missing[:5]}")
    for k, docs in by_node.items():  # cleaned up, at most 128 objects a transaction
        for j in range(0, len(docs), 100):
            if docs[j:j + 100]:
                lab.apply(k, "---\n".join(docs[j:j + 100]), verb="delete")
    return times, failures, checked


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--changes", type=int, default=100)
    ap.add_argument("--name", default="zs-cp")
    ap.add_argument("--zeroseg", default=f"{ROOT}/build/userspace/zeroseg")
    ap.add_argument("--reuse", action="store_true", help="a lab already up under --name: neither up nor down")
    ap.add_argument("--quick", action="store_true", help="10 changes of each kind")
    ap.add_argument("--gap", type=float, default=0.1, help="seconds between changes")
    ap.add_argument("--json", help="write the figures here too")
    a = ap.parse_args()
    if a.quick:
        a.changes = 10
    lab = Lab(a.name, os.path.realpath(a.zeroseg))
    if not a.reuse:
        lab.sh("up")
    watch = None
    try:
        watch = AppliedWatch(lab)
        time.sleep(0.5)
        nodes = [f"{a.name}-n{k}" for k in (1, 2, 3)]
        pol, local, f1, c1 = bench_policy(lab, watch, nodes, a.changes, a.gap)
        lab.zs(1, "delete", "-f", f"/run/zeroseg/{a.name}/bench-1.yaml")
        wl, f2, c2 = bench_workloads(lab, watch, a.changes, a.gap)
        out = {"policy_all_nodes": pol, "policy_apply_returned": local, "workload_other_nodes": wl,
               "failures": f1 + f2, "checked_policy": c1, "checked_workload": c2}
        for line in (summary("policy, apply on n1 -> enforced on all 3", pol),
                     summary("policy, apply on n1 -> the CLI returned (enforced on n1)", local),
                     summary("new workload on one node -> the other two's ipcache", wl)):
            print(line)
        print(f"checked: {c1} policy changes in the maps of all 3 and by 3 real connections each; "
              f"{c2} workloads polled in the others' ipcache; all {a.changes} in every ipcache at the end")
        for f in f1 + f2:
            print("FAIL:", f)
        if a.json:
            with open(a.json, "w") as fh:
                json.dump(out, fh)
        return 1 if f1 + f2 or not pol or not wl else 0
    finally:
        if watch:
            watch.close()
        if not a.reuse:
            lab.sh("down", check=False)


if __name__ == "__main__":
    sys.exit(main())
