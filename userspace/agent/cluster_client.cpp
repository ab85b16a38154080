// SPDX-License-Identifier: Apache-2.0
// Cluster mode's settings, checked before anything loads: the etcd client
// and the identity allocator an agent in cluster mode starts with.
#include <memory>
#include <string>

#include "agent/cluster_mode.h"
#include "common/error.h"
#include "sources/cluster_identities.h"

namespace zeroseg {

std::shared_ptr<etcd::Client> cluster_client(const AgentConfig& config) {
  std::string why;
  auto endpoints = etcd::parse_cluster_url(config.cluster, why);
  if (!endpoints) throw Error("setting cluster: " + why);
  if (config.node_name.empty()) throw Error("setting cluster: needs node-name (the name this node's workloads go under)");
  if (config.node_name.find('/') != std::string::npos)
    throw Error("setting node-name: '" + config.node_name + "' holds '/', which cluster mode's keys cannot");
  if (config.node_name == ClusterKeys::kNoNode)
    throw Error("setting node-name: '-' is where cluster mode keeps the workloads that run on no node");
  if ((!config.etcd_cert.empty() || !config.etcd_key.empty()) && config.etcd_ca.empty())
    throw Error("setting etcd-cert/etcd-key: needs etcd-ca (TLS to etcd)");
  if (config.etcd_cert.empty() != config.etcd_key.empty())
    throw Error("settings etcd-cert and etcd-key: give both or neither");
  etcd::ClientOptions o;
  o.endpoints = *endpoints;
  o.ca = config.etcd_ca;
  o.cert = config.etcd_cert;
  o.key = config.etcd_key;
  return std::make_shared<etcd::Client>(std::move(o));
}

std::shared_ptr<EtcdIdentityAllocator> cluster_identities(std::shared_ptr<etcd::Client> client, const std::string& node) {
  auto ids = std::make_shared<EtcdIdentityAllocator>(std::move(client));
  ids->set_node(node);
  return ids;
}

}  // namespace zeroseg
