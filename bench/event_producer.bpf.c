/* SPDX-License-Identifier: Apache-2.0 */
/* The kernel's cost of one event: zs_bench_emit reserves, fills and
 * submits a zs_event as bpf/lib/events.h does; zs_bench_fill fills the same
 * record into a per-CPU scratch slot. Their difference is the ring buffer. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <zeroseg/event.h>

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4 << 20);
} zs_bench_events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct zs_event);
} zs_bench_scratch SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} zs_bench_lost SEC(".maps");

static __always_inline void fill(struct zs_event *ev, struct xdp_md *xdp)
{
	ev->ts_ns = bpf_ktime_get_ns();
	ev->type = ZS_EVENT_DENY;
	ev->verdict = 1;
	ev->reason = 2;
	ev->direction = 0;
	ev->ifindex = xdp->ingress_ifindex;
	ev->subject = 300;
	ev->peer = 2;
	ev->rule_id = 0;
	ev->suppressed = 0;
	ev->icmp_type = 0;
	ev->icmp_code = 0;
	ev->tcp_flags = 2;
	ev->hook = 0;
	ev->pad = 0;
	__builtin_memset(&ev->tuple, 0, sizeof(ev->tuple));
	ev->tuple.family = 4;
	ev->tuple.proto = 6;
	ev->tuple.saddr[0] = 0x0202000a;
	ev->tuple.daddr[0] = 0x0201000a;
	ev->tuple.sport = 0x409c;
	ev->tuple.dport = 0x5000;
}

SEC("xdp")
int zs_bench_emit(struct xdp_md *xdp)
{
	struct zs_event *ev = bpf_ringbuf_reserve(&zs_bench_events, sizeof(*ev), 0);
	__u32 zero = 0;

	if (!ev) {
		__u64 *lost = bpf_map_lookup_elem(&zs_bench_lost, &zero);

		if (lost)
			(*lost)++;
		return XDP_DROP;
	}
	fill(ev, xdp);
	bpf_ringbuf_submit(ev, 0);
	return XDP_DROP;
}

SEC("xdp")
int zs_bench_fill(struct xdp_md *xdp)
{
	__u32 zero = 0;
	struct zs_event *ev = bpf_map_lookup_elem(&zs_bench_scratch, &zero);

	if (ev)
		fill(ev, xdp);
	return XDP_DROP;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
