// SPDX-License-Identifier: Apache-2.0
// Reads a pinned zeroseg event ring as the agent would (epoll, woken per
// batch) and throws the records away, so a benchmark without the agent
// still pays for the events its new flows emit (bench/tcp_paths.sh: with
// nobody reading, the ring fills after ~50k events and every later
// reservation fails, which is cheaper than a real one).
//
//   ring_drain PINNED_RING   runs until SIGTERM/SIGINT, then prints
//                            {"events":N} on stdout
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

static volatile sig_atomic_t stop;
static unsigned long long events;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static int on_event(void *ctx, void *data, size_t size)
{
	(void)ctx;
	(void)data;
	(void)size;
	events++;
	return 0;
}

int main(int argc, char **argv)
{
	struct ring_buffer *rb;
	int fd;

	if (argc != 2) {
		fprintf(stderr, "usage: ring_drain PINNED_RING\n");
		return 2;
	}
	fd = bpf_obj_get(argv[1]);
	if (fd < 0) {
		fprintf(stderr, "ring_drain: %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	rb = ring_buffer__new(fd, on_event, NULL, NULL);
	if (!rb) {
		fprintf(stderr, "ring_drain: %s: not a ring buffer\n", argv[1]);
		return 1;
	}
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	while (!stop) {
		int n = ring_buffer__poll(rb, 100);

		/* woken per batch (bpf/lib/events.h), as the agent: a poll
		 * that timed out reads what is there (EventRing::read) */
		if (n == 0)
			n = ring_buffer__consume(rb);

		if (n < 0 && n != -EINTR) {
			fprintf(stderr, "ring_drain: poll: %s\n", strerror(-n));
			break;
		}
	}
	ring_buffer__consume(rb);
	ring_buffer__free(rb);
	printf("{\"events\":%llu}\n", events);
	return 0;
}
