// dane/daemon/asio.hpp — the Boost.Asio headers the daemon uses, in one place.
//
// GCC 12's -Wnull-dereference reports a false positive inside Asio's scheduler
// (scheduler.ipp) once it is inlined into our code; the warning is silenced for
// Asio's own lines only, so our -Werror build stays meaningful everywhere else.
#pragma once

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wnull-dereference"
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/write.hpp>
#pragma GCC diagnostic pop
