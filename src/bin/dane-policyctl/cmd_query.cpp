// dane-policyctl query | stats | flush — ask a running dane-policyd over its socketmap socket.
//
//   query [--socket unix:PATH|inet:HOST:PORT] [--json] DESTINATION
//       prints the daemon's answer for DESTINATION exactly as Postfix gets it ("OK dane-only",
//       "NOTFOUND", "TEMP ..."); --json prints the daemon's full verdict (hosts, TLSA, DNSSEC,
//       reason, and whether it came from the cache) through a control request.
//   stats [--socket ...] [--json]             the daemon's counters
//   flush [--socket ...] DESTINATION | --all   forget cached verdicts (the next lookup re-evaluates)
//
// Control requests (query --json, stats, flush) use the reserved map name of the daemon's
// --stats-name (control.hpp); flush and query --json are served only over the unix socket to
// root or the daemon's own user. Exit codes (docs/design.md §5): 0 answered (NOTFOUND included),
// 3 the answer is TEMP, 2 bad usage, daemon unreachable, no answer within --timeout, or the
// request was refused.
#include <array>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <iostream>
#include <optional>

#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <boost/program_options.hpp>
#include <nlohmann/json.hpp>

#include "command_line.hpp"
#include "commands.hpp"
#include "dane/core/fd.hpp"
#include "dane/daemon/settings.hpp"
#include "dane/policy/codecs.hpp"
#include "dane/policy/control.hpp"
#include "dane/verifier/destination.hpp"

namespace po = boost::program_options;

namespace dane::ctl {
namespace {

// The map name of a plain query: anything but the reserved control name is a policy lookup.
constexpr const char* k_lookup_map = "dane-policyctl";

// Why connecting failed, with the likely remedy.
std::string connect_hint(int err, const policyd::Endpoint& endpoint) {
  switch (err) {
  case ENOENT:
    return " (no such socket: is dane-policyd running? does --socket name its --socketmap?)";
  case ECONNREFUSED:
    return endpoint.kind == policyd::Endpoint::Kind::Unix
               ? " (the socket file exists but nothing listens on it: is dane-policyd running?)"
               : " (nothing listens there: is dane-policyd running with this --socketmap?)";
  case EACCES:
  case EPERM:
    return " (run as root, or as a member of the socket's group, e.g. postfix)";
  case ETIMEDOUT:
  case EAGAIN:
    return " (no connection within --timeout)";
  default:
    return "";
  }
}

// One connection to the daemon: a request, a reply, each bounded by the timeout.
class DaemonConnection {
public:
  static Expected<DaemonConnection> open(const policyd::Endpoint& endpoint, std::chrono::seconds timeout) {
    DaemonConnection c(endpoint, timeout);
    auto failed = [&](int err) {
      return make_error("cannot reach dane-policyd at " + endpoint.text + ": " + std::strerror(err) +
                        connect_hint(err, endpoint));
    };
    timeval tv{};
    tv.tv_sec = static_cast<time_t>(timeout.count());
    if (endpoint.kind == policyd::Endpoint::Kind::Unix) {
      sockaddr_un address{};
      address.sun_family = AF_UNIX;
      if (endpoint.path.size() >= sizeof address.sun_path) {
        return make_error("--socket " + endpoint.text + ": path too long for a unix socket");
      }
      std::memcpy(address.sun_path, endpoint.path.c_str(), endpoint.path.size() + 1);
      c.m_fd.reset(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
      if (!c.m_fd) {
        return failed(errno);
      }
      ::setsockopt(c.m_fd.get(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
      if (::connect(c.m_fd.get(), reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
        return failed(errno);
      }
      return c;
    }
    addrinfo hints{};
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    addrinfo* found = nullptr;
    std::string port = std::to_string(endpoint.port);
    if (int rc = ::getaddrinfo(endpoint.host.c_str(), port.c_str(), &hints, &found); rc != 0) {
      return make_error("cannot reach dane-policyd at " + endpoint.text + ": " + ::gai_strerror(rc));
    }
    int err = EHOSTUNREACH;
    for (addrinfo* a = found; a != nullptr; a = a->ai_next) {
      c.m_fd.reset(::socket(a->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0));
      if (!c.m_fd) {
        err = errno;
        continue;
      }
      ::setsockopt(c.m_fd.get(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv); // bounds connect() too
      if (::connect(c.m_fd.get(), a->ai_addr, a->ai_addrlen) == 0) {
        ::freeaddrinfo(found);
        return c;
      }
      err = errno;
      c.m_fd.reset();
    }
    ::freeaddrinfo(found);
    return failed(err);
  }

  // Sends "NAME KEY" and waits for the reply (at most the timeout in all).
  Expected<policyd::SocketmapReply> ask(const std::string& name, const std::string& key) {
    auto request = policyd::encode_socketmap_request(name, key);
    if (!request) {
      return make_error(request.error());
    }
    const auto deadline = std::chrono::steady_clock::now() + m_timeout;
    std::string_view rest = *request;
    while (!rest.empty()) {
      ssize_t n = ::send(m_fd.get(), rest.data(), rest.size(), MSG_NOSIGNAL);
      if (n < 0) {
        if (errno == EINTR) {
          continue;
        }
        return make_error("cannot send to dane-policyd at " + m_endpoint.text + ": " + std::strerror(errno));
      }
      rest.remove_prefix(static_cast<std::size_t>(n));
    }
    policyd::NetstringDecoder decoder(policyd::k_socketmap_max_reply);
    std::vector<std::string> payloads;
    std::array<char, 16384> buffer{};
    while (payloads.empty()) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      pollfd p{m_fd.get(), POLLIN, 0};
      int ready = left.count() > 0 ? ::poll(&p, 1, static_cast<int>(left.count())) : 0;
      if (ready < 0 && errno == EINTR) {
        continue;
      }
      if (ready == 0) {
        return make_error("no answer from dane-policyd at " + m_endpoint.text + " within " +
                          std::to_string(m_timeout.count()) + " s (--timeout; is the daemon hung? see its log)");
      }
      ssize_t n = ::recv(m_fd.get(), buffer.data(), buffer.size(), 0);
      if (n < 0) {
        if (errno == EINTR) {
          continue;
        }
        return make_error("cannot read from dane-policyd at " + m_endpoint.text + ": " + std::strerror(errno));
      }
      if (n == 0) {
        return make_error("dane-policyd at " + m_endpoint.text +
                          " closed the connection without answering (see its log)");
      }
      if (!decoder.feed(std::string_view(buffer.data(), static_cast<std::size_t>(n)), payloads)) {
        return make_error("garbled reply from " + m_endpoint.text + ": " +
                          (decoder.error() ? decoder.error()->message : std::string("bad netstring")));
      }
    }
    auto reply = policyd::parse_socketmap_answer(payloads.front());
    if (!reply) {
      return make_error("unexpected reply from " + m_endpoint.text + ": " + reply.error() + ": " +
                        policyd::printable_excerpt(payloads.front(), 200));
    }
    return *reply;
  }

private:
  DaemonConnection(policyd::Endpoint endpoint, std::chrono::seconds timeout)
      : m_endpoint(std::move(endpoint)), m_timeout(timeout) {}
  policyd::Endpoint m_endpoint;
  std::chrono::seconds m_timeout;
  Fd m_fd;
};

// The options every command here shares.
void add_connection_options(po::options_description& options) {
  options.add_options()("socket",
                        po::value<std::string>()->default_value(policyd::k_default_socketmap)->value_name("ENDPOINT"),
                        "the daemon's socketmap listener: unix:PATH or inet:HOST:PORT")(
      "stats-name", po::value<std::string>()->default_value("stats")->value_name("NAME"),
      "the daemon's reserved control map name (its --stats-name)")(
      "timeout", po::value<unsigned>()->default_value(30)->value_name("SECONDS"),
      "give up when the daemon has not answered within this time");
}

struct Invocation {
  const char* name;
  po::variables_map values;
  std::vector<std::string> arguments;
};

// Parses argv; nullopt + the exit code (help printed, or a usage error reported).
std::optional<Invocation> parse(const char* name, int argc, char** argv, const po::options_description& visible,
                                int& exit_code) {
  auto parsed = parse_command_line(argc, argv, visible, "argument");
  if (!parsed) {
    std::cerr << "dane-policyctl " << name << ": " << parsed.error() << "\n";
    exit_code = k_exit_usage;
    return std::nullopt;
  }
  if (parsed->count("help") != 0) {
    std::cout << visible << "\n";
    exit_code = k_exit_ok;
    return std::nullopt;
  }
  Invocation inv{name, std::move(*parsed), {}};
  if (inv.values.count("argument") != 0) {
    inv.arguments = inv.values["argument"].as<std::vector<std::string>>();
  }
  return inv;
}

// Connects and asks; on failure prints why and returns nullopt (exit 2).
std::optional<policyd::SocketmapReply> ask(const Invocation& inv, const std::string& map, const std::string& key) {
  auto endpoint = policyd::parse_endpoint(inv.values["socket"].as<std::string>());
  if (!endpoint) {
    std::cerr << "dane-policyctl " << inv.name << ": --socket " << endpoint.error() << "\n";
    return std::nullopt;
  }
  unsigned timeout = inv.values["timeout"].as<unsigned>();
  if (timeout == 0) {
    std::cerr << "dane-policyctl " << inv.name << ": --timeout must be at least 1 second\n";
    return std::nullopt;
  }
  auto connection = DaemonConnection::open(*endpoint, std::chrono::seconds(timeout));
  if (!connection) {
    std::cerr << "dane-policyctl " << inv.name << ": " << connection.error() << "\n";
    return std::nullopt;
  }
  auto reply = connection->ask(map, key);
  if (!reply) {
    std::cerr << "dane-policyctl " << inv.name << ": " << reply.error() << "\n";
    return std::nullopt;
  }
  return *reply;
}

// A control request's reply: the JSON object of an OK reply, or nullopt after saying why not.
std::optional<nlohmann::json> control_reply(const Invocation& inv, const policyd::SocketmapReply& reply) {
  if (reply.status == policyd::SocketmapStatus::Perm) {
    std::cerr << "dane-policyctl " << inv.name << ": dane-policyd refused the request: " << reply.data << "\n";
    return std::nullopt;
  }
  if (reply.status == policyd::SocketmapStatus::Ok) {
    auto j = nlohmann::json::parse(reply.data, nullptr, false);
    if (j.is_object()) {
      return j;
    }
  }
  std::cerr << "dane-policyctl " << inv.name
            << ": unexpected reply to a control request: " << policyd::format_socketmap_answer(reply).substr(0, 200)
            << "\n"
            << "(the daemon treated it as a policy lookup: does it use another --stats-name? pass the same with "
               "--stats-name)\n";
  return std::nullopt;
}

// Exactly one DESTINATION, a valid policy lookup key.
std::optional<std::string> destination_argument(const Invocation& inv) {
  if (inv.arguments.size() != 1) {
    std::cerr << "dane-policyctl " << inv.name << ": exactly one DESTINATION is required (see --help)\n";
    return std::nullopt;
  }
  if (auto hop = parse_next_hop(inv.arguments.front()); !hop) {
    std::cerr << "dane-policyctl " << inv.name << ": " << hop.error() << "\n";
    return std::nullopt;
  }
  return inv.arguments.front();
}

bool is_temporary(std::string_view answer) {
  return answer.rfind("TEMP", 0) == 0 || answer.rfind("TIMEOUT", 0) == 0;
}

std::string plain(const nlohmann::json& value) {
  return value.is_string() ? value.get<std::string>() : value.dump();
}

} // namespace

int cmd_query(int argc, char** argv) {
  po::options_description visible(
      "dane-policyctl query [--socket unix:PATH|inet:HOST:PORT] [--json] DESTINATION\n\n"
      "Asks the running dane-policyd for DESTINATION (a Postfix TLS policy lookup key) and prints its\n"
      "answer exactly as Postfix gets it; --json prints its full verdict (root or the daemon's user).\n"
      "Exit: 0 answered (NOTFOUND included), 3 TEMP, 2 bad usage, daemon unreachable or request refused.\n\n"
      "Options");
  visible.add_options()("help,h", "show this help")(
      "json", "print the daemon's verdict as one JSON object: hosts, TLSA, DNSSEC, reason, cached");
  add_connection_options(visible);
  int code = k_exit_ok;
  auto inv = parse("query", argc, argv, visible, code);
  if (!inv) {
    return code;
  }
  auto destination = destination_argument(*inv);
  if (!destination) {
    return k_exit_usage;
  }
  if (inv->values.count("json") == 0) {
    auto reply = ask(*inv, k_lookup_map, *destination);
    if (!reply) {
      return k_exit_usage;
    }
    std::string answer = policyd::format_socketmap_answer(*reply);
    while (!answer.empty() && answer.back() == ' ') {
      answer.pop_back();
    }
    std::cout << answer << "\n";
    if (reply->status == policyd::SocketmapStatus::Perm) {
      return k_exit_usage;
    }
    return is_temporary(answer) ? k_exit_temp : k_exit_ok;
  }
  auto reply = ask(*inv, inv->values["stats-name"].as<std::string>(),
                   policyd::format_control_request({policyd::ControlVerb::Verdict, *destination}));
  if (!reply) {
    return k_exit_usage;
  }
  auto verdict = control_reply(*inv, *reply);
  if (!verdict || !verdict->contains("answer")) {
    if (verdict) {
      std::cerr << "dane-policyctl query: the daemon's reply has no 'answer': " << verdict->dump() << "\n";
    }
    return k_exit_usage;
  }
  std::cout << verdict->dump(2) << "\n";
  return is_temporary(plain((*verdict)["answer"])) ? k_exit_temp : k_exit_ok;
}

int cmd_stats(int argc, char** argv) {
  po::options_description visible("dane-policyctl stats [--socket unix:PATH|inet:HOST:PORT] [--json]\n\n"
                                  "Prints the running dane-policyd's counters: requests, answers, cache, evaluations,\n"
                                  "connections, latency, control requests.\n"
                                  "Exit: 0 printed, 2 bad usage or daemon unreachable.\n\nOptions");
  visible.add_options()("help,h", "show this help")("json", "print the counters as the daemon's JSON object");
  add_connection_options(visible);
  int code = k_exit_ok;
  auto inv = parse("stats", argc, argv, visible, code);
  if (!inv) {
    return code;
  }
  if (!inv->arguments.empty()) {
    std::cerr << "dane-policyctl stats: unexpected argument '" << inv->arguments.front() << "'\n";
    return k_exit_usage;
  }
  auto reply = ask(*inv, inv->values["stats-name"].as<std::string>(),
                   policyd::format_control_request({policyd::ControlVerb::Counters, {}}));
  if (!reply) {
    return k_exit_usage;
  }
  auto counters = control_reply(*inv, *reply);
  if (!counters) {
    return k_exit_usage;
  }
  if (inv->values.count("json") != 0) {
    std::cout << counters->dump(2) << "\n";
    return k_exit_ok;
  }
  // One line per group, "name value" pairs in the daemon's order (alphabetical).
  for (const auto& [group, value] : counters->items()) {
    std::string label = group + ":";
    std::cout << label << std::string(label.size() < 17 ? 17 - label.size() : 1, ' ');
    if (value.is_object()) {
      bool first = true;
      for (const auto& [name, count] : value.items()) {
        std::cout << (first ? "" : ", ") << name << " " << plain(count);
        first = false;
      }
    } else {
      std::cout << plain(value);
    }
    std::cout << "\n";
  }
  return k_exit_ok;
}

int cmd_flush(int argc, char** argv) {
  po::options_description visible("dane-policyctl flush [--socket unix:PATH|inet:HOST:PORT] DESTINATION | --all\n\n"
                                  "Makes the running dane-policyd forget its cached verdict for DESTINATION (or every\n"
                                  "cached verdict): the next lookup evaluates afresh, with full DNSSEC validation.\n"
                                  "Only root or the daemon's user, over the unix socket.\n"
                                  "Exit: 0 done (also when nothing was cached), 2 bad usage, daemon unreachable or\n"
                                  "request refused.\n\nOptions");
  visible.add_options()("help,h", "show this help")("all", "forget every cached verdict");
  add_connection_options(visible);
  int code = k_exit_ok;
  auto inv = parse("flush", argc, argv, visible, code);
  if (!inv) {
    return code;
  }
  const bool all = inv->values.count("all") != 0;
  policyd::ControlRequest request{policyd::ControlVerb::FlushAll, {}};
  if (all) {
    if (!inv->arguments.empty()) {
      std::cerr << "dane-policyctl flush: give either DESTINATION or --all, not both\n";
      return k_exit_usage;
    }
  } else {
    auto destination = destination_argument(*inv);
    if (!destination) {
      return k_exit_usage;
    }
    request = {policyd::ControlVerb::Flush, *destination};
  }
  auto reply = ask(*inv, inv->values["stats-name"].as<std::string>(), policyd::format_control_request(request));
  if (!reply) {
    return k_exit_usage;
  }
  auto result = control_reply(*inv, *reply);
  if (!result || !result->contains("flushed") || !(*result)["flushed"].is_number_unsigned()) {
    if (result) {
      std::cerr << "dane-policyctl flush: the daemon's reply has no 'flushed' count: " << result->dump() << "\n";
    }
    return k_exit_usage;
  }
  auto n = (*result)["flushed"].get<std::uint64_t>();
  if (all) {
    std::cout << "flushed " << n << " cached " << (n == 1 ? "destination" : "destinations") << "\n";
  } else if (n == 0) {
    std::cout << request.destination << " was not cached (nothing to flush)\n";
  } else {
    std::cout << "flushed " << request.destination << "\n";
  }
  return k_exit_ok;
}

} // namespace dane::ctl
