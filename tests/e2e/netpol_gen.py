"""Random Kubernetes NetworkPolicy cases for the differential test: labels on
namespaces and pods, named ports on pods, policies with every selector
operator, peers of each kind, ipBlock/except, numeric, named and ranged
ports over TCP/UDP/SCTP, with and without policyTypes, absent, empty and
allow-all rule lists. Only valid objects (as the API server's validation
would accept them). Everything comes from one random.Random(seed)."""
import ipaddress

NAMESPACES = ["x", "y", "z"]
PODS = ["a", "b", "c"]
POD_KEYS = {"app": ["a", "b", "c"], "tier": ["web", "db"], "env": ["prod", "dev"]}
NS_KEYS = {"team": ["red", "blue"], "env": ["prod", "dev"]}
PORT_NAMES = ["web", "alt", "dns"]
PORTS = [53, 80, 81, 82, 443, 8080]
PROTOS = ["TCP", "UDP", "SCTP"]
# addresses of things that are not pods (probes from and to them)
EXTERNAL = ["10.99.1.5", "10.99.2.7", "192.168.7.7", "fd99::5", "fd99:1::7"]


def pod_ips(i):
    """Workload i (1-based) in the lab: scripts/lib/lab.sh's addresses."""
    return [f"10.77.{i}.2", f"fd77:{i}::2"]


def cidrs(n_pods):
    v4 = ["0.0.0.0/0", "10.0.0.0/8", "10.77.0.0/16", "10.99.0.0/16", "10.99.1.0/24", "10.99.1.5/32",
          "192.168.0.0/16", "10.77.0.0/20"]
    v6 = ["::/0", "fd77::/16", "fd99::/16", "fd99::5/128", "fd77::/20"]
    for i in range(1, n_pods + 1):
        v4 += [f"10.77.{i}.0/24", f"10.77.{i}.2/32"]
        v6 += [f"fd77:{i}::/64", f"fd77:{i}::2/128"]
    return v4 + v6


def labels(rng, keys, p):
    return {k: rng.choice(v) for k, v in keys.items() if rng.random() < p}


def selector(rng, keys, extra_keys=()):
    """A LabelSelector over KEYS ({key: values}); a third of them {}."""
    if rng.random() < 0.3:
        return {}
    sel = {}
    all_keys = list(keys) + list(extra_keys)
    if rng.random() < 0.6:
        ml = {}
        for _ in range(rng.randint(1, 2)):
            k = rng.choice(list(keys))
            ml[k] = rng.choice(keys[k])
        sel["matchLabels"] = ml
    if rng.random() < 0.5 or not sel:
        exprs = []
        for _ in range(rng.randint(1, 2)):
            k = rng.choice(all_keys)
            op = rng.choice(["In", "NotIn", "Exists", "DoesNotExist"])
            e = {"key": k, "operator": op}
            if op in ("In", "NotIn"):
                vals = keys.get(k) or extra_keys[k]
                e["values"] = rng.sample(vals, rng.randint(1, len(vals)))
            exprs.append(e)
        sel["matchExpressions"] = exprs
    return sel


def ip_block(rng, n_pods):
    all_c = cidrs(n_pods)
    cidr = rng.choice(all_c)
    net = ipaddress.ip_network(cidr)
    inside = [c for c in all_c if ipaddress.ip_network(c).version == net.version
              and ipaddress.ip_network(c).subnet_of(net) and ipaddress.ip_network(c).prefixlen > net.prefixlen]
    block = {"cidr": cidr}
    if inside and rng.random() < 0.5:
        block["except"] = rng.sample(inside, rng.randint(1, min(2, len(inside))))
    return block


def peer(rng, n_pods):
    ns_extra = {"kubernetes.io/metadata.name": NAMESPACES}
    kind = rng.choice(["pod", "ns", "both", "ip"])
    if kind == "ip":
        return {"ipBlock": ip_block(rng, n_pods)}
    p = {}
    if kind in ("ns", "both"):
        p["namespaceSelector"] = selector(rng, NS_KEYS, ns_extra)
    if kind in ("pod", "both"):
        p["podSelector"] = selector(rng, POD_KEYS)
    return p


def port_entry(rng):
    e = {}
    r = rng.random()
    if r < 0.75:
        e["protocol"] = rng.choice(PROTOS)
    kind = rng.choice(["none", "number", "name", "range"])
    if kind == "number":
        e["port"] = rng.choice(PORTS)
    elif kind == "name":
        e["port"] = rng.choice(PORT_NAMES)
    elif kind == "range":
        a, b = sorted(rng.sample(PORTS, 2))
        e["port"], e["endPort"] = a, b
    return e


def a_list(rng, make, empty_p=0.15):
    """absent (None), [] or 1-3 items"""
    r = rng.random()
    if r < empty_p:
        return None
    if r < 2 * empty_p:
        return []
    return [make() for _ in range(rng.randint(1, 3))]


def rule(rng, peers_key, n_pods):
    r = {}
    peers = a_list(rng, lambda: peer(rng, n_pods))
    if peers is not None:
        r[peers_key] = peers
    ports = a_list(rng, lambda: port_entry(rng), 0.25)
    if ports is not None:
        r["ports"] = ports
    return r


def rules(rng, peers_key, n_pods):
    """absent, [], [{}] or random rules"""
    r = rng.random()
    if r < 0.25:
        return None
    if r < 0.4:
        return []
    if r < 0.5:
        return [{}]
    return [rule(rng, peers_key, n_pods) for _ in range(rng.randint(1, 3))]


def policy(rng, name, n_pods):
    spec = {"podSelector": selector(rng, POD_KEYS)}
    types = rng.choice([None, None, [], ["Ingress"], ["Egress"], ["Ingress", "Egress"], ["Egress", "Ingress"]])
    if types is not None:
        spec["policyTypes"] = types
    for key, peers_key in (("ingress", "from"), ("egress", "to")):
        rs = rules(rng, peers_key, n_pods)
        if rs is not None:
            spec[key] = rs
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": name, "namespace": rng.choice(NAMESPACES)}, "spec": spec}


def pod_ports(rng):
    out = []
    for n in PORT_NAMES:
        if rng.random() < 0.6:
            cp = {"name": n, "port": rng.choice(PORTS)}
            proto = rng.choice(PROTOS + ["TCP", None])
            if proto:
                cp["protocol"] = proto
            out.append(cp)
    return out


def case(seed, rng):
    """(namespaces {name: labels}, pods [...], policies [...])"""
    namespaces = {n: labels(rng, NS_KEYS, 0.6) for n in NAMESPACES}
    pods, i = [], 0
    for ns in NAMESPACES:
        for name in PODS:
            i += 1
            pods.append({"namespace": ns, "name": name, "index": i, "ips": pod_ips(i),
                         "labels": labels(rng, POD_KEYS, 0.6), "ports": pod_ports(rng)})
    policies = [policy(rng, f"s{seed}-p{k}", len(pods)) for k in range(rng.randint(1, 4))]
    return namespaces, pods, policies


def probe(rng, pods):
    """(src, dst, proto, port): SRC/DST a pod dict or an address string"""
    r = rng.random()
    if r < 0.15:
        src, dst = rng.choice(EXTERNAL), rng.choice(pods)
    elif r < 0.3:
        src, dst = rng.choice(pods), rng.choice(EXTERNAL)
    else:
        src, dst = rng.sample(pods, 2)
    if isinstance(src, dict) and isinstance(dst, dict) and rng.random() < 0.1:
        return src, dst, "ICMP", 8  # an echo request (IPv4: pods are traced by IPv4)
    return src, dst, rng.choice(PROTOS), rng.choice(PORTS + [9])
