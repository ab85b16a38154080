/* SPDX-License-Identifier: Apache-2.0 */
/* flood: a 64-byte UDP flood out of a veth at several Mpps from one core,
 * for bench/veth_deny.sh.
 *
 *   flood attach pass|drop|touch-maps:N|touch-lines:N|touch-packet|lpm-deny:N IFNAME PIN
 *       attaches an XDP program to IFNAME (in this namespace) through a BPF
 *       link pinned at PIN; removing the pin detaches it. A veth takes the
 *       sender's frames only with an XDP program attached (that gives it
 *       NAPI); drop is the XDP_DROP floor. A link, not netlink: a program
 *       attached by netlink (zeroseg's agent) cannot replace it, and falls
 *       back to tc. touch-maps:N and touch-lines:N (N <= 16) drop after an
 *       increment in each of N per-CPU maps, or in N cache lines of one
 *       (flood.bpf.c): the cost of a line, and of a map of its own.
 *       touch-packet drops UDP to port 9 after reading the frame's
 *       headers: the least any filter reads. lpm-deny:N (N <= 1000000)
 *       drops UDP to port 9 from 198.18.0.0/15 by an LPM trie of N /32s
 *       in 100.64.0.0/10 (as veth_deny.sh's N allow rules) and that one.
 *
 *   flood send [options]
 *       runs zs_flood_tx (flood.bpf.c) through BPF_PROG_TEST_RUN with
 *       BPF_F_TEST_XDP_LIVE_FRAMES, which sends every frame it returns
 *       XDP_TX for out of --dev. It counts what the receiver took: the
 *       receiving veth's rx_packets (/proc/net/dev of the namespace flood
 *       starts in), which a veth counts for every frame its NAPI poll
 *       takes off the ring, before its XDP program runs, so every row,
 *       dropping in XDP or later, is counted alike; frames the ring had
 *       no room for are not counted. Prints one line:
 *         pps=N received=N sent=N seconds=S sent_pps=N loss=F busy_ns=F [restarts=N]
 *       sent: frames the sender put out (XDP_TX); loss: the share of them
 *       the receiver did not take; busy_ns: the receiver's NAPI threads'
 *       CPU time (--rx-pid, /proc/PID/schedstat) per frame taken.
 *       --rate PPS paces the sender (flood.bpf.c): bursts of --burst frames
 *       spaced to the rate; the receiver's counter is read once the ring
 *       has drained, so sent - received is what the receiver lost.
 *
 * The sender runs in the sending namespace (--netns), the counters are read
 * in the one flood started in; pin the receiver's NAPI thread elsewhere. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <linux/if_ether.h>
#include <linux/if_link.h>
#include <net/if.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "flood.skel.h"

#define FRAME_LEN 60 /* 64 on the wire with the FCS */

static void usage(void)
{
	fprintf(stderr,
		"usage: flood attach pass|drop|touch-maps:N|touch-lines:N|touch-packet|lpm-deny:N\n"
		"             IFNAME PIN   (touch N <= 16, lpm-deny N <= 1000000)\n"
		"       flood send --dev IF --dst-mac MAC --src ADDR --dst ADDR [--ipv6]\n"
		"                  [--flows N | --random-sources N] [--ports N] [--sport P] [--dport P]\n"
		"                  [--duration S] [--netns PATH] [--rx-dev IF] [--cpu N]\n"
		"                  [--rate PPS [--burst N]] [--rx-pid PID[,PID...]]\n"
		"  --flows N           cycle over N flows: source address i and port i, i < N (default 256)\n"
		"  --random-sources N  a random source address of N and a random port of --ports per packet\n"
		"  --ports N           source ports (default 1 with --flows: one port per address; 65536 with\n"
		"                      --random-sources)\n"
		"  --src ADDR          the first source address; --dst the destination (udp --dport, 9)\n"
		"  --netns PATH        send from this namespace (the counters stay in the starting one)\n"
		"  --rx-dev IF         the receiving veth whose rx_packets count (in the starting namespace)\n"
		"  --rate PPS          paced: PPS frames a second in bursts of --burst (default 16)\n"
		"  --rx-pid PIDS       the receiver's NAPI threads: their CPU time per frame taken\n");
	exit(2);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int parse_mac(const char *s, unsigned char *mac)
{
	return sscanf(s, "%hhx:%hhx:%hhx:%hhx:%hhx:%hhx", &mac[0], &mac[1], &mac[2], &mac[3],
		      &mac[4], &mac[5]) == 6 ? 0 : -1;
}

static int get_mac(const char *ifname, unsigned char *mac)
{
	char path[128], buf[32];
	FILE *f;
	int rc;

	snprintf(path, sizeof(path), "/sys/class/net/%s/address", ifname);
	f = fopen(path, "r");
	if (!f)
		return -1;
	rc = fgets(buf, sizeof(buf), f) ? parse_mac(buf, mac) : -1;
	fclose(f);
	return rc;
}

/* rx_packets of ifname from an open /proc/net/dev (bound to its namespace) */
static long long rx_packets(int fd, const char *ifname)
{
	static char buf[1 << 16];
	size_t want = strlen(ifname);
	ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
	char *line;

	if (n <= 0)
		return -1;
	buf[n] = 0;
	for (line = strtok(buf, "\n"); line; line = strtok(NULL, "\n")) {
		char *p = line;
		unsigned long long bytes, packets;

		while (*p == ' ')
			p++;
		if (strncmp(p, ifname, want) || p[want] != ':')
			continue;
		if (sscanf(p + want + 1, "%llu %llu", &bytes, &packets) != 2)
			return -1;
		return (long long)packets;
	}
	return -1;
}

/* CPU time (ns) of the threads in pids (comma-separated), summed */
static long long busy_ns(const char *pids)
{
	long long sum = 0;
	const char *p = pids;

	while (p && *p) {
		char path[64], buf[128];
		long pid = strtol(p, (char **)&p, 10);
		unsigned long long run;
		FILE *f;

		snprintf(path, sizeof(path), "/proc/%ld/schedstat", pid);
		f = fopen(path, "r");
		if (!f)
			return -1;
		if (!fgets(buf, sizeof(buf), f) || sscanf(buf, "%llu", &run) != 1) {
			fclose(f);
			return -1;
		}
		fclose(f);
		sum += (long long)run;
		if (*p == ',')
			p++;
	}
	return sum;
}

/* flood_lpm's keys (lpm-deny:N): n /32s in 100.64.0.0/10, allowed (as
 * veth_deny.sh's zeroseg policy), and 198.18.0.0/15, denied. */
static int fill_lpm(int fd, unsigned n)
{
	struct {
		__u32 prefixlen;
		__u32 addr;
	} key;
	__u32 allow = 0, deny = 1;

	for (unsigned i = 0; i < n; i++) {
		key.prefixlen = 32;
		key.addr = htonl(100u << 24 | (64 + i / 65536 % 64) << 16 | (i / 256 % 256) << 8 | i % 256);
		if (bpf_map_update_elem(fd, &key, &allow, BPF_ANY))
			goto fail;
	}
	key.prefixlen = 15;
	key.addr = htonl(198u << 24 | 18u << 16);
	if (!bpf_map_update_elem(fd, &key, &deny, BPF_ANY))
		return 0;
fail:
	fprintf(stderr, "flood: filling the LPM trie: %s\n", strerror(errno));
	return 1;
}

static int cmd_attach(int argc, char **argv)
{
	struct flood_bpf *skel;
	struct bpf_link *link;
	struct bpf_program *prog;
	int ifindex, err;

	unsigned touch = 0, lpm = 0;
	char kind[8] = "";
	int end = 0;

	if (argc != 4)
		usage();
	/* each form whole: "touch-packet" would fill kind below ("touch-%[a-z]"
	 * matches before the missing ':'), and "lpm-deny:10x" is no count */
	if (!strcmp(argv[1], "touch-packet")) {
	} else if (sscanf(argv[1], "lpm-deny:%u%n", &lpm, &end) == 1 && !argv[1][end]) {
		if (!lpm || lpm > 1000000)
			usage();
	} else if (sscanf(argv[1], "touch-%7[a-z]:%u%n", kind, &touch, &end) == 2 && !argv[1][end]) {
		if ((strcmp(kind, "maps") && strcmp(kind, "lines")) || touch > 16)
			usage();
	} else if (strcmp(argv[1], "pass") && strcmp(argv[1], "drop")) {
		usage();
	}
	ifindex = if_nametoindex(argv[2]);
	if (!ifindex) {
		fprintf(stderr, "flood: no interface %s\n", argv[2]);
		return 1;
	}
	skel = flood_bpf__open();
	if (skel) {
		skel->rodata->flood_touch = touch;
		if (flood_bpf__load(skel)) {
			flood_bpf__destroy(skel);
			skel = NULL;
		}
	}
	if (!skel) {
		fprintf(stderr, "flood: loading flood.bpf.o failed\n");
		return 1;
	}
	if (lpm && fill_lpm(bpf_map__fd(skel->maps.flood_lpm), lpm)) {
		flood_bpf__destroy(skel);
		return 1;
	}
	if (lpm)
		prog = skel->progs.zs_flood_lpm_deny;
	else if (!strcmp(argv[1], "touch-packet"))
		prog = skel->progs.zs_flood_touch_packet;
	else if (*kind)
		prog = strcmp(kind, "maps") ? skel->progs.zs_flood_touch_lines : skel->progs.zs_flood_touch_maps;
	else
		prog = strcmp(argv[1], "pass") ? skel->progs.zs_flood_drop : skel->progs.zs_flood_pass;
	link = bpf_program__attach_xdp(prog, ifindex);
	err = libbpf_get_error(link);
	if (err) {
		fprintf(stderr, "flood: attaching XDP to %s: %s\n", argv[2], strerror(-err));
		flood_bpf__destroy(skel);
		return 1;
	}
	err = bpf_link__pin(link, argv[3]);
	if (err) {
		fprintf(stderr, "flood: pinning the link at %s: %s\n", argv[3], strerror(-err));
		bpf_link__destroy(link);
		flood_bpf__destroy(skel);
		return 1;
	}
	bpf_link__disconnect(link); /* the pin holds it */
	bpf_link__destroy(link);
	flood_bpf__destroy(skel);
	return 0;
}

struct send_opts {
	const char *dev, *netns, *rx_dev, *rx_pids;
	unsigned char dst_mac[6];
	int have_dst_mac, ipv6, random, cpu;
	unsigned flows, ports, sport, dport, burst;
	double duration, rate;
	struct in6_addr src6, dst6;
	struct in_addr src4, dst4;
	const char *src, *dst;
};

static size_t build_frame(const struct send_opts *o, const unsigned char *src_mac,
			  unsigned char *frame)
{
	unsigned char *p = frame + ETH_HLEN;
	size_t len = FRAME_LEN;

	memset(frame, 0, 128);
	memcpy(frame, o->dst_mac, 6);
	memcpy(frame + 6, src_mac, 6);
	if (o->ipv6) {
		len = ETH_HLEN + 40 + 8 + 2; /* the least above 60 */
		frame[12] = 0x86, frame[13] = 0xdd;
		p[0] = 0x60;
		p[4] = 0, p[5] = 10; /* payload: UDP header + 2 */
		p[6] = 17, p[7] = 64;
		memcpy(p + 8, &o->src6, 16);
		memcpy(p + 24, &o->dst6, 16);
		p += 40;
	} else {
		frame[12] = 0x08, frame[13] = 0x00;
		p[0] = 0x45;
		p[2] = 0, p[3] = FRAME_LEN - ETH_HLEN;
		p[8] = 64, p[9] = 17;
		memcpy(p + 12, &o->src4, 4);
		memcpy(p + 16, &o->dst4, 4);
		p += 20;
	}
	p[0] = o->sport >> 8, p[1] = o->sport & 0xff;
	p[2] = o->dport >> 8, p[3] = o->dport & 0xff;
	{
		unsigned udp_len = len - (p - frame);

		p[4] = udp_len >> 8, p[5] = udp_len & 0xff;
	}
	return len;
}

static int cmd_send(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"dev", required_argument, 0, 'd'},  {"dst-mac", required_argument, 0, 'm'},
		{"src", required_argument, 0, 's'},  {"dst", required_argument, 0, 'D'},
		{"ipv6", no_argument, 0, '6'},       {"flows", required_argument, 0, 'f'},
		{"random-sources", required_argument, 0, 'r'}, {"ports", required_argument, 0, 'p'},
		{"sport", required_argument, 0, 'S'}, {"dport", required_argument, 0, 'P'},
		{"duration", required_argument, 0, 't'}, {"netns", required_argument, 0, 'n'},
		{"rx-dev", required_argument, 0, 'R'}, {"cpu", required_argument, 0, 'c'},
		{"rate", required_argument, 0, 'a'}, {"burst", required_argument, 0, 'b'},
		{"rx-pid", required_argument, 0, 'x'},
		{0, 0, 0, 0},
	};
	struct send_opts o = {.flows = 256, .sport = 1024, .dport = 9, .duration = 5, .cpu = -1,
			      .burst = 16};
	unsigned char frame[128], src_mac[6];
	struct flood_bpf *skel;
	int c, ifindex, rx_fd = -1, prog_fd, ports_given = 0;
	size_t len;
	long long rx0 = 0, rx1 = 0, busy0 = -1, busy1 = -1;
	unsigned long long sent = 0, sent0 = 0, restarts = 0;
	double t0 = 0, t1 = 0, deadline;

	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'd': o.dev = optarg; break;
		case 'm':
			if (parse_mac(optarg, o.dst_mac))
				usage();
			o.have_dst_mac = 1;
			break;
		case 's': o.src = optarg; break;
		case 'D': o.dst = optarg; break;
		case '6': o.ipv6 = 1; break;
		case 'f': o.flows = strtoul(optarg, NULL, 0); o.random = 0; break;
		case 'r': o.flows = strtoul(optarg, NULL, 0); o.random = 1; break;
		case 'p': o.ports = strtoul(optarg, NULL, 0); ports_given = 1; break;
		case 'S': o.sport = strtoul(optarg, NULL, 0); break;
		case 'P': o.dport = strtoul(optarg, NULL, 0); break;
		case 't': o.duration = strtod(optarg, NULL); break;
		case 'n': o.netns = optarg; break;
		case 'R': o.rx_dev = optarg; break;
		case 'c': o.cpu = atoi(optarg); break;
		case 'a': o.rate = strtod(optarg, NULL); break;
		case 'b': o.burst = strtoul(optarg, NULL, 0); break;
		case 'x': o.rx_pids = optarg; break;
		default: usage();
		}
	}
	if (!o.dev || !o.have_dst_mac || !o.src || !o.dst || !o.flows || o.duration <= 0 ||
	    o.rate < 0 || !o.burst || o.burst > 256)
		usage();
	if (o.rx_pids && busy_ns(o.rx_pids) < 0) {
		fprintf(stderr, "flood: no schedstat for --rx-pid %s\n", o.rx_pids);
		return 1;
	}
	if (!ports_given)
		o.ports = o.random ? 65536 : 1;
	if (!o.ports || o.sport + (o.random ? 0 : 0) > 65535)
		usage();
	if (o.ipv6 ? inet_pton(AF_INET6, o.src, &o.src6) != 1 || inet_pton(AF_INET6, o.dst, &o.dst6) != 1
		   : inet_pton(AF_INET, o.src, &o.src4) != 1 || inet_pton(AF_INET, o.dst, &o.dst4) != 1) {
		fprintf(stderr, "flood: --src and --dst must be %s addresses\n", o.ipv6 ? "IPv6" : "IPv4");
		return 2;
	}
	if (o.rx_dev) {
		rx_fd = open("/proc/self/net/dev", O_RDONLY);
		if (rx_fd < 0 || rx_packets(rx_fd, o.rx_dev) < 0) {
			fprintf(stderr, "flood: no counters for %s in this namespace\n", o.rx_dev);
			return 1;
		}
	}
	if (o.netns) {
		int fd = open(o.netns, O_RDONLY);

		if (fd < 0 || setns(fd, CLONE_NEWNET)) {
			fprintf(stderr, "flood: entering %s: %s\n", o.netns, strerror(errno));
			return 1;
		}
		close(fd);
	}
	if (o.cpu >= 0) {
		cpu_set_t set;

		CPU_ZERO(&set);
		CPU_SET(o.cpu, &set);
		if (sched_setaffinity(0, sizeof(set), &set))
			fprintf(stderr, "flood: pinning to CPU %d: %s\n", o.cpu, strerror(errno));
	}
	ifindex = if_nametoindex(o.dev);
	if (!ifindex || get_mac(o.dev, src_mac)) {
		/* /sys may show another namespace's interfaces: the MAC is
		 * only the frame's source, any will do */
		if (!ifindex) {
			fprintf(stderr, "flood: no interface %s\n", o.dev);
			return 1;
		}
		memcpy(src_mac, "\x02\x00\x00\x00\x00\x01", 6);
	}

	skel = flood_bpf__open();
	if (!skel)
		return 1;
	skel->rodata->flood_ipv6 = o.ipv6;
	skel->rodata->flood_random = o.random;
	skel->rodata->flood_sources = o.flows;
	skel->rodata->flood_ports = o.ports;
	skel->rodata->flood_sport_base = o.sport;
	if (o.rate > 0) {
		skel->rodata->flood_burst = o.burst;
		skel->rodata->flood_gap_ns = (__u64)(o.burst * 1e9 / o.rate);
	}
	if (o.ipv6) {
		__u32 w;

		memcpy(&w, &o.src6.s6_addr[12], 4);
		skel->rodata->flood_src_base = ntohl(w);
	} else {
		skel->rodata->flood_src_base = ntohl(o.src4.s_addr);
	}
	if (flood_bpf__load(skel)) {
		fprintf(stderr, "flood: loading flood.bpf.o failed\n");
		flood_bpf__destroy(skel);
		return 1;
	}
	prog_fd = bpf_program__fd(skel->progs.zs_flood_tx);
	len = build_frame(&o, src_mac, frame);

	{
		struct xdp_md ctx_in = {.data_end = len, .ingress_ifindex = ifindex};
		LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = frame, .data_size_in = len,
			    .ctx_in = &ctx_in, .ctx_size_in = sizeof(ctx_in),
			    .flags = BPF_F_TEST_XDP_LIVE_FRAMES, .repeat = 1 << 18,
			    .batch_size = 64);
		int warm = 1;

		if (o.rate > 0) {
			/* paced: one call for the warm-up, one for the figure.
			 * A call costs ~30 ms of set-up and tear-down here
			 * (loaded machine), sending nothing: in short calls
			 * that gap, not the pacing, set the rate. The time is
			 * the program's own, first burst to last. */
			opts.repeat = o.rate * 0.3 > o.burst ? (__u32)(o.rate * 0.3) : o.burst;
			if (bpf_prog_test_run_opts(prog_fd, &opts))
				goto run_failed;
			usleep(20000);
			sent0 = skel->bss->flood_sent;
			skel->bss->flood_first_ns = 0;
			if (rx_fd >= 0)
				rx0 = rx_packets(rx_fd, o.rx_dev);
			if (o.rx_pids)
				busy0 = busy_ns(o.rx_pids);
			opts.repeat = o.rate * o.duration > 1u << 31 ? 1u << 31
				: o.rate * o.duration > o.burst ? (__u32)(o.rate * o.duration) : o.burst;
			if (bpf_prog_test_run_opts(prog_fd, &opts))
				goto run_failed;
			t0 = skel->bss->flood_first_ns / 1e9;
			t1 = (skel->bss->flood_last_ns + skel->rodata->flood_gap_ns) / 1e9;
		}
		t0 = o.rate > 0 ? t0 : now_s();
		deadline = t0 + 0.3 + o.duration;
		while (o.rate <= 0) {
			if (bpf_prog_test_run_opts(prog_fd, &opts))
				goto run_failed;
			t1 = now_s();
			if (warm && t1 - t0 >= 0.3) {
				/* past the warm-up: the receiver runs flat out */
				warm = 0;
				t0 = t1;
				sent0 = skel->bss->flood_sent;
				if (rx_fd >= 0)
					rx0 = rx_packets(rx_fd, o.rx_dev);
				if (o.rx_pids)
					busy0 = busy_ns(o.rx_pids);
			}
			if (t1 >= deadline && !warm)
				break;
		}
		sent = skel->bss->flood_sent - sent0;
		/* paced: what is still on the ring is not lost; let it drain */
		if (o.rate > 0)
			usleep(20000);
		if (rx_fd >= 0)
			rx1 = rx_packets(rx_fd, o.rx_dev);
		if (o.rx_pids)
			busy1 = busy_ns(o.rx_pids);
	}
	if (0) {
run_failed:
		fprintf(stderr, "flood: BPF_PROG_TEST_RUN: %s\n", strerror(errno));
		flood_bpf__destroy(skel);
		return 1;
	}
	/* paced: bursts started late by more than 4 gaps (the sender
	 * stalled, or cannot go that fast): each loses time to the rate */
	restarts = skel->bss->flood_restarts;
	flood_bpf__destroy(skel);
	if (rx_fd >= 0) {
		long long got = rx1 - rx0;
		double loss = sent && (long long)sent > got ? (double)((long long)sent - got) / sent : 0;

		printf("pps=%.0f received=%lld sent=%llu seconds=%.3f sent_pps=%.0f loss=%.6f",
		       got / (t1 - t0), got, sent, t1 - t0, sent / (t1 - t0), loss);
		if (busy0 >= 0 && busy1 >= 0 && got > 0)
			printf(" busy_ns=%.1f", (double)(busy1 - busy0) / got);
		if (o.rate > 0)
			printf(" restarts=%llu", restarts);
		printf("\n");
	} else
		printf("pps=- received=- sent=%llu seconds=%.3f sent_pps=%.0f\n", sent, t1 - t0,
		       sent / (t1 - t0));
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 2)
		usage();
	if (!strcmp(argv[1], "attach"))
		return cmd_attach(argc - 1, argv + 1);
	if (!strcmp(argv[1], "send"))
		return cmd_send(argc - 1, argv + 1);
	usage();
	return 2;
}
