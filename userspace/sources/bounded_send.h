// SPDX-License-Identifier: Apache-2.0
// One request to one etcd member, bounded in time as a whole (sources/
// etcd_client.cpp): httplib's read timeout is per read, so a member that
// trickles its reply a byte at a time would otherwise hold the call, and
// the thread waiting on it (the watcher's list, an apply), for ever, and
// no outage would ever be declared.
#pragma once

#include <httplib.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>

#include "sources/etcd_client.h"

namespace zeroseg::etcd {

// what a call to one member may take in all: connecting, then the reply
// (httplib's read timeout is per read: a member that trickles a byte at a
// time would hold the call, and the thread that waits on it, for ever)
inline std::chrono::milliseconds deadline_of(const ClientOptions& o) { return o.connect_timeout + o.request_timeout; }

// c.send(), cut off at deadline_of(o): late says it was
inline bool send_within(httplib::Client& c, httplib::Request& req, httplib::Response& res, httplib::Error& err,
                        const ClientOptions& o, bool& late) {
  std::mutex m;
  std::condition_variable cv;
  bool done = false;
  std::thread dog([&] {
    std::unique_lock lock(m);
    if (!cv.wait_for(lock, deadline_of(o), [&] { return done; })) {
      late = true;
      c.stop();  // shuts the socket down: the read under way fails
    }
  });
  bool sent = c.send(req, res, err);
  {
    std::lock_guard lock(m);
    done = true;
  }
  cv.notify_one();
  dog.join();
  return sent && !late;
}

// a reply's text for a message: its first 200 bytes, control bytes as '?'
inline std::string printable(const std::string& text) {
  std::string out = text.substr(0, 200);
  for (char& ch : out)
    if (static_cast<unsigned char>(ch) < 0x20 || ch == 0x7f) ch = '?';
  return out;
}

}  // namespace zeroseg::etcd
