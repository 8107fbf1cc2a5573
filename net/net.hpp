// net.hpp — umbrella header of weft's networking layer: sockets that read like blocking code and
// park only the calling fiber. The reactor behind them is each worker's fiber::detail::poller
// (epoll on Linux; kqueue/io_uring backends would slot in behind the same interface, invisible here).
//
//   fiber::run([] {
//     auto l = fiber::net::tcp_listener::bind("127.0.0.1:0");
//     auto h = fiber::spawn([&] { auto c = l.accept(); char b[5]; c.read_exact(b); c.write_all(b); });
//     auto s = fiber::net::tcp_stream::connect(l.local_endpoint(), 2s);
//     s.write_all("hello"); char r[5]; s.read_exact(r); h.join();
//   });
#pragma once

#include <net/buffer.hpp>
#include <net/deadline.hpp>
#include <net/endpoint.hpp>
#include <net/errors.hpp>
#include <net/resolve.hpp>
#include <net/socket.hpp>
#include <net/tcp.hpp>
#include <net/udp.hpp>
#include <net/unix.hpp>
