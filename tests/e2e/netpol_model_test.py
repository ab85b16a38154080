#!/usr/bin/env python3
"""The Kubernetes model of the differential test, on cases whose answers the
Kubernetes documentation or the upstream e2e suite (test/e2e/network/netpol)
states, so a wrong model fails here before it judges zeroseg."""
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from netpol_model import Cluster, Endpoint  # noqa: E402

NS = {"x": {"ns": "x"}, "y": {"ns": "y"}, "z": {}}
PODS = [
    {"namespace": "x", "name": "a", "ips": ["10.77.1.2"], "labels": {"pod": "a"},
     "ports": [{"name": "serve-80", "port": 80}, {"name": "serve-81-udp", "port": 81, "protocol": "UDP"}]},
    {"namespace": "x", "name": "b", "ips": ["10.77.2.2"], "labels": {"pod": "b"}, "ports": []},
    {"namespace": "y", "name": "a", "ips": ["10.77.4.2"], "labels": {"pod": "a"}, "ports": [{"name": "serve-80", "port": 8080}]},
    {"namespace": "y", "name": "b", "ips": ["10.77.5.2"], "labels": {"pod": "b"}, "ports": []},
    {"namespace": "z", "name": "c", "ips": ["10.77.7.2"], "labels": {}, "ports": []},
]
A = {"matchLabels": {"pod": "a"}}


def np(ns, spec, name="p"):
    return {"metadata": {"name": name, "namespace": ns}, "spec": spec}


def ep(x):
    for p in PODS:
        if f"{p['namespace']}/{p['name']}" == x:
            return Endpoint(p["ips"][0], p)
    return Endpoint(x)


def allowed(policies, src, dst, proto="TCP", port=80):
    return Cluster(NS, PODS, policies).verdict(ep(src), ep(dst), proto, port)[0]


class Model(unittest.TestCase):
    def test_no_policy_allows_everything(self):
        self.assertTrue(allowed([], "x/b", "x/a"))

    def test_default_deny_ingress_by_an_empty_spec(self):
        p = [np("x", {"podSelector": {}})]
        self.assertFalse(allowed(p, "y/a", "x/a"))
        self.assertTrue(allowed(p, "x/a", "y/a"), "no policyTypes, no egress: egress is not isolated")

    def test_allow_all_ingress(self):
        self.assertTrue(allowed([np("x", {"podSelector": {}, "ingress": [{}]})], "y/a", "x/a", "UDP", 9))

    def test_empty_egress_list_without_policy_types_is_no_egress_policy(self):
        p = [np("x", {"podSelector": {}, "egress": []})]
        self.assertTrue(allowed(p, "x/a", "y/a"))
        self.assertFalse(allowed(p, "y/a", "x/a"))

    def test_empty_policy_types_defaults_too(self):
        p = [np("x", {"podSelector": {}, "policyTypes": [], "egress": [{"ports": [{"port": 81}]}]})]
        self.assertFalse(allowed(p, "x/a", "y/a"), "egress non-empty: Egress by default")
        self.assertFalse(allowed(p, "y/a", "x/a"), "and Ingress always")

    def test_deny_all_egress(self):
        p = [np("x", {"podSelector": {}, "policyTypes": ["Egress"]})]
        self.assertFalse(allowed(p, "x/a", "y/a"))
        self.assertTrue(allowed(p, "y/a", "x/a"))

    def test_ingress_rules_of_an_egress_only_policy_do_not_isolate(self):
        p = [np("x", {"podSelector": A, "policyTypes": ["Egress"], "ingress": [{"from": [{"podSelector": {}}]}],
                      "egress": [{}]})]
        self.assertTrue(allowed(p, "z/c", "x/a"))

    def test_both_selectors_in_one_peer_are_an_and(self):
        p = [np("x", {"podSelector": A, "ingress": [{"from": [
            {"namespaceSelector": {"matchLabels": {"ns": "y"}}, "podSelector": {"matchLabels": {"pod": "b"}}}]}]})]
        self.assertTrue(allowed(p, "y/b", "x/a"))
        self.assertFalse(allowed(p, "y/a", "x/a"))
        self.assertFalse(allowed(p, "x/b", "x/a"))

    def test_two_peers_are_an_or(self):
        p = [np("x", {"podSelector": A, "ingress": [{"from": [
            {"namespaceSelector": {"matchLabels": {"ns": "y"}}}, {"podSelector": {"matchLabels": {"pod": "b"}}}]}]})]
        self.assertTrue(allowed(p, "y/a", "x/a"))
        self.assertTrue(allowed(p, "x/b", "x/a"))
        self.assertFalse(allowed(p, "z/c", "x/a"))

    def test_pod_selector_alone_is_the_policy_namespace(self):
        p = [np("x", {"podSelector": A, "ingress": [{"from": [{"podSelector": {}}]}]})]
        self.assertTrue(allowed(p, "x/b", "x/a"))
        self.assertFalse(allowed(p, "y/b", "x/a"))

    def test_operators(self):
        def from_ns(expr):
            return [np("x", {"podSelector": A, "ingress": [{"from": [{"namespaceSelector": {"matchExpressions": [expr]}}]}]})]
        notin = from_ns({"key": "ns", "operator": "NotIn", "values": ["x"]})
        self.assertTrue(allowed(notin, "z/c", "x/a"), "NotIn matches a missing key")
        self.assertFalse(allowed(notin, "x/b", "x/a"))
        self.assertFalse(allowed(from_ns({"key": "ns", "operator": "In", "values": ["x", "q"]}), "z/c", "x/a"))
        self.assertTrue(allowed(from_ns({"key": "ns", "operator": "Exists"}), "y/a", "x/a"))
        self.assertFalse(allowed(from_ns({"key": "ns", "operator": "Exists"}), "z/c", "x/a"))
        self.assertTrue(allowed(from_ns({"key": "ns", "operator": "DoesNotExist"}), "z/c", "x/a"))

    def test_namespace_name_label(self):
        p = [np("x", {"podSelector": A, "ingress": [{"from": [
            {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "z"}}}]}]})]
        self.assertTrue(allowed(p, "z/c", "x/a"))
        self.assertFalse(allowed(p, "y/a", "x/a"))

    def test_ports(self):
        p = [np("x", {"podSelector": A, "ingress": [{"ports": [{"port": 80, "endPort": 82}, {"protocol": "SCTP"}]}]})]
        self.assertTrue(allowed(p, "y/a", "x/a", "TCP", 82))
        self.assertFalse(allowed(p, "y/a", "x/a", "TCP", 83))
        self.assertFalse(allowed(p, "y/a", "x/a", "UDP", 80), "protocol defaults to TCP")
        self.assertTrue(allowed(p, "y/a", "x/a", "SCTP", 9))
        self.assertFalse(allowed(p, "y/a", "x/a", "ICMP", 8), "ports name protocols: ICMP is not one")

    def test_no_ports_is_every_protocol(self):
        self.assertTrue(allowed([np("x", {"podSelector": A, "ingress": [{"from": [{"podSelector": {}}]}]})],
                                "x/b", "x/a", "ICMP", 8))

    def test_named_port_ingress_resolves_on_the_selected_pod(self):
        p = [np("x", {"podSelector": A, "ingress": [{"ports": [{"port": "serve-80"}]}]})]
        self.assertTrue(allowed(p, "y/a", "x/a", "TCP", 80))
        self.assertFalse(allowed(p, "y/a", "x/a", "TCP", 8080))
        udp = [np("x", {"podSelector": A, "ingress": [{"ports": [{"port": "serve-81-udp"}]}]})]
        self.assertFalse(allowed(udp, "y/a", "x/a", "UDP", 81), "a named port matches with its protocol only")
        udp[0]["spec"]["ingress"][0]["ports"][0]["protocol"] = "UDP"
        self.assertTrue(allowed(udp, "y/a", "x/a", "UDP", 81))

    def test_named_port_egress_resolves_on_the_destination(self):
        # upstream: "should allow egress access on one named port"
        p = [np("x", {"podSelector": {}, "policyTypes": ["Egress"], "egress": [{"ports": [{"port": "serve-80"}]}]})]
        self.assertTrue(allowed(p, "x/b", "x/a", "TCP", 80))
        self.assertTrue(allowed(p, "x/b", "y/a", "TCP", 8080))
        self.assertFalse(allowed(p, "x/b", "y/a", "TCP", 80))
        self.assertFalse(allowed(p, "x/b", "10.99.1.5", "TCP", 80), "not a pod: no named port")

    def test_ip_block_except(self):
        p = [np("x", {"podSelector": A, "ingress": [{"from": [
            {"ipBlock": {"cidr": "10.77.0.0/16", "except": ["10.77.4.0/24"]}}]}]})]
        self.assertTrue(allowed(p, "y/b", "x/a"), "ipBlock matches pod addresses")
        self.assertFalse(allowed(p, "y/a", "x/a"))
        self.assertFalse(allowed(p, "10.99.1.5", "x/a"))
        self.assertTrue(allowed(p, "10.77.9.9", "x/a"))

    def test_policies_add_up_and_stay_in_their_namespace(self):
        p = [np("x", {"podSelector": A, "ingress": [{"ports": [{"port": 80}]}]}, "one"),
             np("x", {"podSelector": {}, "ingress": [{"ports": [{"port": 81}]}]}, "two"),
             np("y", {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}, "other")]
        self.assertTrue(allowed(p, "z/c", "x/a", "TCP", 80))
        self.assertTrue(allowed(p, "z/c", "x/a", "TCP", 81))
        self.assertFalse(allowed(p, "z/c", "x/b", "TCP", 80))
        self.assertFalse(allowed(p, "x/b", "y/b", "TCP", 81), "both ends: y isolates its ingress")
        self.assertFalse(allowed(p, "y/b", "z/c", "TCP", 81), "both ends: y isolates its egress")


class PerPod(unittest.TestCase):
    """ipBlock and named ports judge the pod and the address the packet
    carries, not every pod with the same labels (zeroseg once did)."""
    pods = [{"namespace": "x", "name": "a", "ips": ["10.77.1.2", "fd77:1::2"], "labels": {"pod": "s"},
             "ports": [{"name": "web", "port": 80}]},
            {"namespace": "x", "name": "b", "ips": ["10.77.2.2", "fd77:2::2"], "labels": {"pod": "s"},
             "ports": [{"name": "web", "port": 8080}]},
            {"namespace": "x", "name": "c", "ips": ["10.77.3.2", "fd77:3::2"], "labels": {}, "ports": []}]

    def verdict(self, policies, src, dst, port=80, family=0):
        c = Cluster({"x": {}}, self.pods, policies)
        s, d = (next(p for p in self.pods if p["name"] == n) for n in (src, dst))
        return c.verdict(Endpoint(s["ips"][family], s), Endpoint(d["ips"][family], d), "TCP", port)[0]

    def test_an_ip_block_matches_the_address(self):
        p = [np("x", {"podSelector": {"matchLabels": {}}, "ingress": [{"from": [{"ipBlock": {"cidr": "10.77.1.2/32"}}]}]})]
        self.assertTrue(self.verdict(p, "a", "c"))
        self.assertFalse(self.verdict(p, "a", "c", family=1), "the IPv6 address is not in it")
        self.assertFalse(self.verdict(p, "b", "c"), "b has a's labels, not its address")

    def test_a_named_port_resolves_on_the_pod(self):
        p = [np("x", {"podSelector": {"matchLabels": {"pod": "s"}}, "ingress": [{"ports": [{"port": "web"}]}]})]
        self.assertTrue(self.verdict(p, "c", "a", 80))
        self.assertFalse(self.verdict(p, "c", "a", 8080), "b's web port, not a's")
        self.assertTrue(self.verdict(p, "c", "b", 8080))


if __name__ == "__main__":
    unittest.main()
