// SPDX-License-Identifier: Apache-2.0
#include "loader/test_run.h"

#include <bpf/bpf.h>
#include <linux/bpf.h>
#include <linux/pkt_cls.h>

#include <cerrno>

#include "common/error.h"

namespace zeroseg {

TestRun test_run(int prog_fd, Program program, std::span<const uint8_t> packet, uint32_t ifindex,
                 uint32_t repeat, uint32_t mark, uint32_t priority, uint32_t from_ifindex) {
  std::vector<uint8_t> out(packet.size() + 256);
  LIBBPF_OPTS(bpf_test_run_opts, opts);
  opts.data_in = packet.data();
  opts.data_size_in = static_cast<uint32_t>(packet.size());
  opts.data_out = out.data();
  opts.data_size_out = static_cast<uint32_t>(out.size());
  opts.repeat = repeat;

  xdp_md xdp{};
  __sk_buff skb{};
  if (program == Program::xdp_ingress) {
    xdp.data_end = static_cast<uint32_t>(packet.size());
    xdp.ingress_ifindex = ifindex;
    opts.ctx_in = &xdp;
    opts.ctx_size_in = sizeof(xdp);
  } else {
    skb.ifindex = ifindex;
    skb.mark = mark;
    skb.priority = priority;
    skb.ingress_ifindex = from_ifindex;
    opts.ctx_in = &skb;
    opts.ctx_size_in = sizeof(skb);
  }
  if (bpf_prog_test_run_opts(prog_fd, &opts))
    throw_errno(std::string("test run of ") + program_name(program), errno);
  return {opts.retval, opts.duration};
}

bool test_run_passed(Program program, uint32_t retval) {
  if (program == Program::xdp_ingress) return retval == XDP_PASS;
  return retval == TC_ACT_OK;
}

}  // namespace zeroseg
