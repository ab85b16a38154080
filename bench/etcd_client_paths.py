#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""The cost of etcd's two client paths, side by side in one run
(docs/ARCHITECTURE.md, "The etcd client"): N sequential puts and the
put -> watch event latency, through the v3 JSON gateway (HTTP/1.1, a new
connection per request as zeroseg's client makes them, and one kept-alive
connection) and through gRPC (python-etcd3 over grpcio: one HTTP/2
channel). Starts its own etcd on loopback ports with a temporary data dir.

  python3 -m venv /tmp/v && /tmp/v/bin/pip install etcd3==0.12.0 grpcio 'protobuf<4'
  /tmp/v/bin/python bench/etcd_client_paths.py [--puts 1000] [--rounds 3]
"""
import argparse, base64, http.client, json, os, shutil, socket, statistics, subprocess, tempfile, threading, time


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def b64(s):
    return base64.b64encode(s.encode()).decode()


def gateway_put(conn_factory, port, key, keep):
    body = json.dumps({"key": b64(key), "value": b64("v")})
    c = keep if keep is not None else conn_factory()
    c.request("POST", "/v3/kv/put", body, {"Content-Type": "application/json"})
    r = c.getresponse()
    r.read()
    if keep is None:
        c.close()
    assert r.status == 200


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--puts", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=3)
    a = ap.parse_args()
    import etcd3

    d = tempfile.mkdtemp(prefix="zs-etcd-bench-")
    cp, pp = free_port(), free_port()
    url = f"http://127.0.0.1:{cp}"
    etcd = subprocess.Popen(["etcd", "--name", "b", "--data-dir", d + "/data", "--listen-client-urls", url,
                             "--advertise-client-urls", url, "--listen-peer-urls", f"http://127.0.0.1:{pp}",
                             "--initial-advertise-peer-urls", f"http://127.0.0.1:{pp}",
                             "--initial-cluster", f"b=http://127.0.0.1:{pp}", "--log-level", "error",
                             "--logger", "zap"], stderr=subprocess.DEVNULL)
    try:
        for _ in range(300):
            try:
                factory = lambda: http.client.HTTPConnection("127.0.0.1", cp, timeout=5)
                gateway_put(factory, cp, "/ready", None)
                break
            except Exception:
                time.sleep(0.1)
        g = etcd3.client(host="127.0.0.1", port=cp)
        results = {"gateway, new connection each": [], "gateway, one kept-alive connection": [], "gRPC (one channel)": []}
        for r in range(a.rounds):
            t = time.perf_counter()
            for i in range(a.puts):
                gateway_put(factory, cp, f"/b/n{r}/{i}", None)
            results["gateway, new connection each"].append(time.perf_counter() - t)
            keep = factory()
            t = time.perf_counter()
            for i in range(a.puts):
                gateway_put(factory, cp, f"/b/k{r}/{i}", keep)
            results["gateway, one kept-alive connection"].append(time.perf_counter() - t)
            keep.close()
            t = time.perf_counter()
            for i in range(a.puts):
                g.put(f"/b/g{r}/{i}", "v")
            results["gRPC (one channel)"].append(time.perf_counter() - t)
        for name, v in results.items():
            per = [x / a.puts * 1e6 for x in v]
            print(f"{name:38s} {a.puts} puts: median {statistics.median(v)*1000:.0f} ms "
                  f"({statistics.median(per):.0f} us/put; rounds {', '.join(f'{x*1000:.0f}' for x in v)} ms)")
        # put -> watch event, gRPC
        lat = []
        events, cancel = g.watch_prefix("/w/")
        got = threading.Event()
        stamps = {}

        def reader():
            for ev in events:
                stamps[ev.key.decode()] = time.perf_counter()
                got.set()
        th = threading.Thread(target=reader, daemon=True)
        th.start()
        time.sleep(0.3)
        for i in range(50):
            got.clear()
            t = time.perf_counter()
            g.put(f"/w/{i}", "v")
            got.wait(5)
            lat.append((stamps.get(f"/w/{i}", t) - t) * 1e6)
        cancel()
        lat.sort()
        print(f"gRPC put -> watch event: median {lat[len(lat)//2]:.0f} us, max {lat[-1]:.0f} us (50)")
    finally:
        etcd.terminate()
        etcd.wait()
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()
