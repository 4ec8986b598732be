// The hiredis <-> Boost.Asio adapter (redis_asio.hpp).
#include "dane/daemon/redis_asio.hpp"

#include <hiredis/async.h>

#include <memory>

namespace dane::policyd {

namespace {

// One per context; kept alive by the waits in flight and by the context's ev.data (a heap
// shared_ptr released by cleanup), so that a wait completing after hiredis freed the context
// finds `closed` set and touches nothing.
struct RedisAsio : std::enable_shared_from_this<RedisAsio> {
  RedisAsio(redisAsyncContext* c, boost::asio::io_context& io) : context(c), socket(io, c->c.fd) {}

  redisAsyncContext* context;
  boost::asio::posix::stream_descriptor socket;
  bool want_read = false;
  bool want_write = false;
  bool read_armed = false;
  bool write_armed = false;
  bool closed = false;

  void arm_read() {
    if (read_armed || closed || !want_read) {
      return;
    }
    read_armed = true;
    socket.async_wait(boost::asio::posix::stream_descriptor::wait_read,
                      [self = shared_from_this()](const boost::system::error_code& ec) {
                        self->read_armed = false;
                        if (ec || self->closed || !self->want_read) {
                          return;
                        }
                        redisAsyncHandleRead(self->context); // may free the context (cleanup sets closed)
                        self->arm_read();
                      });
  }
  void arm_write() {
    if (write_armed || closed || !want_write) {
      return;
    }
    write_armed = true;
    socket.async_wait(boost::asio::posix::stream_descriptor::wait_write,
                      [self = shared_from_this()](const boost::system::error_code& ec) {
                        self->write_armed = false;
                        if (ec || self->closed || !self->want_write) {
                          return;
                        }
                        redisAsyncHandleWrite(self->context);
                        self->arm_write();
                      });
  }
};

RedisAsio& state(void* data) {
  return **static_cast<std::shared_ptr<RedisAsio>*>(data);
}

void add_read(void* data) {
  state(data).want_read = true;
  state(data).arm_read();
}
void del_read(void* data) {
  state(data).want_read = false;
}
void add_write(void* data) {
  state(data).want_write = true;
  state(data).arm_write();
}
void del_write(void* data) {
  state(data).want_write = false;
}
void cleanup(void* data) {
  auto* holder = static_cast<std::shared_ptr<RedisAsio>*>(data);
  RedisAsio& s = **holder;
  s.closed = true;
  s.want_read = false;
  s.want_write = false;
  // hiredis closes the descriptor itself: take it away from asio (ending the pending waits with
  // operation_aborted) without closing it.
  s.socket.release();
  s.context->ev.data = nullptr;
  delete holder;
}

} // namespace

bool attach_redis_asio(redisAsyncContext* context, boost::asio::io_context& io) {
  if (context->ev.data != nullptr) {
    return false;
  }
  auto* holder = new std::shared_ptr<RedisAsio>(std::make_shared<RedisAsio>(context, io));
  context->ev.data = holder;
  context->ev.addRead = add_read;
  context->ev.delRead = del_read;
  context->ev.addWrite = add_write;
  context->ev.delWrite = del_write;
  context->ev.cleanup = cleanup;
  return true;
}

} // namespace dane::policyd
