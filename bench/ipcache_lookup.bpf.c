/* SPDX-License-Identifier: Apache-2.0 */
/* bench only: the two ipcache designs side by side, one lookup of the
 * packet's IPv4 source per run. zs_bench_lpm probes an LPM trie;
 * zs_bench_hash probes a hash keyed by (prefix length, masked address) for
 * each length in `lens`, longest first, as bpf/lib/ipcache_lookup.h does. */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include <zeroseg/ipcache.h>

struct lpm_key {
	__u32 prefixlen;
	__u32 addr;
};

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 262144);
	__type(key, struct lpm_key);
	__type(value, __u32);
} bench_lpm SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 262144);
	__type(key, struct zs_ipcache_key);
	__type(value, __u32);
} bench_hash SEC(".maps");

/* prefix lengths to probe, longest first; n in lens[0] */
const volatile __u8 lens[17] = {};

static __always_inline __u32 *saddr_of(struct xdp_md *xdp)
{
	void *data = (void *)(long)xdp->data, *end = (void *)(long)xdp->data_end;
	struct iphdr *ip = data + sizeof(struct ethhdr);

	if ((void *)(ip + 1) > end)
		return 0;
	return &ip->saddr;
}

SEC("xdp")
int zs_bench_lpm(struct xdp_md *xdp)
{
	struct lpm_key key = { .prefixlen = 32 };
	__u32 *saddr = saddr_of(xdp);

	if (!saddr)
		return XDP_ABORTED;
	key.addr = *saddr;
	return bpf_map_lookup_elem(&bench_lpm, &key) ? XDP_PASS : XDP_DROP;
}

SEC("xdp")
int zs_bench_hash(struct xdp_md *xdp)
{
	struct zs_ipcache_key key = { .family = ZS_FAMILY_IPV4 };
	__u32 *saddr = saddr_of(xdp);
	__u32 i, n = lens[0];

	if (!saddr)
		return XDP_ABORTED;
	for (i = 1; i < 17; i++) {
		__u32 plen;

		if (i > n)
			break;
		plen = lens[i];
		key.prefixlen = plen;
		key.addr[0] = *saddr & (plen ? bpf_htonl(~0U << (32 - plen)) : 0);
		if (bpf_map_lookup_elem(&bench_hash, &key))
			return XDP_PASS;
	}
	return XDP_DROP;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
