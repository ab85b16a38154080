"""Kubernetes NetworkPolicy semantics as an independent model, for the
differential test (netpol_differential.py). Written from the Kubernetes API
reference (networking.k8s.io/v1 NetworkPolicySpec, NetworkPolicyPeer,
NetworkPolicyPort, IPBlock, LabelSelector) and the concepts page, not from
zeroseg's compiler:

- A policy selects the pods of its own namespace that its podSelector
  matches ({} selects all of them).
- policyTypes, when absent or empty, defaults to [Ingress], plus Egress when
  the egress list is non-empty (the API server's defaulting:
  `len(spec.Egress) != 0`); `egress: []` is no egress policy.
- A pod is isolated for a direction when any policy that selects it has that
  direction in its policyTypes; it then accepts exactly the union of those
  policies' rules of that direction. Not isolated: everything passes.
- A rule matches when one of its peers matches (no peers, absent or [], is
  every peer) and one of its ports matches (no ports is every port of every
  protocol, ICMP included).
- A peer: podSelector alone is pods of the policy's namespace;
  namespaceSelector alone is every pod of the matching namespaces; both in
  one peer is their AND; ipBlock is an address in cidr and in no except
  (applied to pod addresses too, as the upstream e2e suite expects).
- A port: protocol (default TCP) must be the packet's; no port is every port;
  a number with endPort is the range; a name resolves on the destination pod
  (the selected pod for ingress, the peer for egress) by name and protocol,
  and matches nothing when the destination is not a pod.
- A connection passes when the source pod's egress and the destination pod's
  ingress both allow it; an end that is not a pod is not judged.
- Every namespace carries the label kubernetes.io/metadata.name=NAME (set by
  the API server since 1.22, immutable).
"""
import ipaddress

NAME_LABEL = "kubernetes.io/metadata.name"


def selector_matches(sel, labels):
    """A LabelSelector; {} (or no key at all) matches everything."""
    for k, v in (sel.get("matchLabels") or {}).items():
        if labels.get(k) != v:
            return False
    for e in sel.get("matchExpressions") or []:
        key, op, values = e["key"], e["operator"], e.get("values") or []
        if op == "In":
            ok = key in labels and labels[key] in values
        elif op == "NotIn":
            ok = key not in labels or labels[key] not in values
        elif op == "Exists":
            ok = key in labels
        elif op == "DoesNotExist":
            ok = key not in labels
        else:
            raise ValueError(f"operator {op}")
        if not ok:
            return False
    return True


def policy_types(spec):
    given = spec.get("policyTypes")
    if given:
        return set(given)
    return {"Ingress", "Egress"} if spec.get("egress") else {"Ingress"}


class Endpoint:
    """One end of a probe: a pod (with the address the probe uses) or an address."""

    def __init__(self, ip, pod=None):
        self.ip = ipaddress.ip_address(ip)
        self.pod = pod

    def __repr__(self):
        return f"{self.pod['namespace']}/{self.pod['name']}" if self.pod else str(self.ip)


class Cluster:
    """namespaces: {name: labels}; pods: [{namespace, name, labels, ips,
    ports: [{name, port, protocol}]}]; policies: NetworkPolicy objects as
    dicts ({metadata: {name, namespace}, spec: {...}})."""

    def __init__(self, namespaces, pods, policies):
        self.ns_labels = {n: dict(labels, **{NAME_LABEL: n}) for n, labels in namespaces.items()}
        self.pods = pods
        self.policies = policies

    def pod_by_ip(self, ip):
        for p in self.pods:
            if any(ipaddress.ip_address(a) == ip for a in p["ips"]):
                return p
        return None

    def _peer_matches(self, peer, policy_ns, other):
        if "ipBlock" in peer:
            block = peer["ipBlock"]
            net = ipaddress.ip_network(block["cidr"])

            def inside(ip):
                if ip.version != net.version or ip not in net:
                    return False
                return not any(ip in ipaddress.ip_network(e) for e in block.get("except") or []
                               if ipaddress.ip_network(e).version == ip.version)
            return inside(other.ip)
        pod = other.pod
        if pod is None:
            return False
        if "namespaceSelector" in peer:
            ns_ok = selector_matches(peer["namespaceSelector"] or {}, self.ns_labels.get(pod["namespace"], {}))
        else:
            ns_ok = pod["namespace"] == policy_ns
        pod_ok = selector_matches(peer["podSelector"] or {}, pod["labels"]) if "podSelector" in peer else True
        return ns_ok and pod_ok

    def _port_matches(self, entry, proto, port, dst_pod):
        want = entry.get("protocol", "TCP")
        if want != proto:
            return False
        if "port" not in entry or entry["port"] is None:
            return True
        p = entry["port"]
        if isinstance(p, int):
            end = entry.get("endPort")
            return p <= port <= end if end is not None else port == p
        if dst_pod is None:
            return False
        return any(cp["name"] == p and cp.get("protocol", "TCP") == want and cp["port"] == port
                   for cp in dst_pod.get("ports") or [])

    def _rule_matches(self, rule, peers_key, policy_ns, other, proto, port, dst_pod):
        peers = rule.get(peers_key) or []
        if peers and not any(self._peer_matches(pr, policy_ns, other) for pr in peers):
            return False
        ports = rule.get("ports") or []
        return not ports or any(self._port_matches(e, proto, port, dst_pod) for e in ports)

    def direction(self, subject, other, direction, proto, port):
        """(allowed, why) for pod SUBJECT in DIRECTION ('Ingress'|'Egress')."""
        key, peers_key = ("ingress", "from") if direction == "Ingress" else ("egress", "to")
        dst_pod = subject.pod if direction == "Ingress" else other.pod
        selecting = []
        for pol in self.policies:
            meta, spec = pol["metadata"], pol["spec"]
            if meta["namespace"] != subject.pod["namespace"]:
                continue
            if not selector_matches(spec.get("podSelector") or {}, subject.pod["labels"]):
                continue
            if direction not in policy_types(spec):
                continue
            selecting.append(meta["name"])
            for i, rule in enumerate(spec.get(key) or []):
                if self._rule_matches(rule, peers_key, meta["namespace"], other, proto, port, dst_pod):
                    return True, f"allowed by {meta['name']} {key}[{i}]"
        if not selecting:
            return True, "not isolated"
        return False, "isolated by " + ", ".join(selecting) + ", no rule allows"

    def verdict(self, src, dst, proto, port):
        """(allowed, [why...]): the source's egress and the destination's ingress."""
        why, ok = [], True
        if src.pod is not None:
            a, w = self.direction(src, dst, "Egress", proto, port)
            ok, why = ok and a, why + [f"egress of {src}: {w}"]
        if dst.pod is not None:
            a, w = self.direction(dst, src, "Ingress", proto, port)
            ok, why = ok and a, why + [f"ingress of {dst}: {w}"]
        return ok, why
