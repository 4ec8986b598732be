// dane/daemon/redis_asio.hpp — hiredis's asynchronous API driven by a Boost.Asio io_context.
//
// What: attach_redis_asio() installs the five event hooks of a redisAsyncContext (addRead,
// delRead, addWrite, delWrite, cleanup) over a boost::asio::posix::stream_descriptor on the
// context's socket, so that the daemon's own event loop reads and writes for hiredis: no thread
// of ours ever blocks on Redis.
// Inputs: a context fresh from redisAsyncConnect/redisAsyncConnectUnix (no hooks installed yet)
// and the io_context that runs the daemon's I/O; both must be used from that io_context's thread.
// Failure modes: none reported here; hiredis reports connection errors through its connect and
// disconnect callbacks. The descriptor is never closed by the adapter (hiredis owns it): the
// cleanup hook, called when hiredis frees the context, releases it and ends every pending wait.
// Trust: none involved (transport only).
#pragma once

#include "dane/daemon/asio.hpp"

struct redisAsyncContext;

namespace dane::policyd {

// Returns false when the context already has an event library attached.
bool attach_redis_asio(redisAsyncContext* context, boost::asio::io_context& io);

} // namespace dane::policyd
