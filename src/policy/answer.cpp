// Typed answers, their builders and the per-protocol encoders (see dane/policy/answer.hpp).
#include "dane/policy/answer.hpp"

#include "dane/policy/codecs.hpp"

namespace dane::policyd {
namespace {

constexpr std::string_view k_notfound = "NOTFOUND ";

} // namespace

std::string_view AnswerView::text() const {
  if (policy == PolicyKind::NotFound) {
    return {};
  }
  std::size_t space = answer.find(' ');
  return space == std::string_view::npos ? std::string_view() : answer.substr(space + 1);
}

AnswerView view_of(const PolicyAnswer& answer) {
  return AnswerView{answer.policy, answer.answer, answer.reason};
}

PolicyAnswer make_answer(PolicyKind kind, std::string_view text, std::string reason) {
  PolicyAnswer a;
  a.policy = kind;
  if (kind == PolicyKind::NotFound) {
    a.answer = k_notfound;
  } else {
    a.answer = kind == PolicyKind::TempFail ? "TEMP " : "OK ";
    a.answer += text;
  }
  a.reason = std::move(reason);
  a.would_answer = a.answer;
  return a;
}

PolicyAnswer temp_answer(std::string reason) {
  std::string text = "4.7.5 " + reason;
  return make_answer(PolicyKind::TempFail, text, std::move(reason));
}

const PolicyAnswer& parent_key_answer() {
  static const PolicyAnswer answer =
      make_answer(PolicyKind::NotFound, {}, "parent-domain key: no policy for parent domains");
  return answer;
}

std::string encode_socketmap(const AnswerView& answer) {
  if (answer.answer.size() <= k_socketmap_max_reply) {
    return encode_netstring(answer.answer); // every cache hit: the payload is already there
  }
  SocketmapStatus status = is_ok(answer.policy)                    ? SocketmapStatus::Ok
                           : answer.policy == PolicyKind::NotFound ? SocketmapStatus::NotFound
                                                                   : SocketmapStatus::Temp;
  return encode_socketmap_reply(SocketmapReply{status, std::string(answer.text())});
}

std::string encode_tcp_table(const AnswerView& answer) {
  switch (answer.policy) {
  case PolicyKind::NotFound:
    return encode_tcp_table_reply(TcpTableReply{TcpTableStatus::NotFound, "not found"});
  case PolicyKind::TempFail:
    return encode_tcp_table_reply(TcpTableReply{TcpTableStatus::TryAgain, std::string(answer.text())});
  default:
    return encode_tcp_table_reply(TcpTableReply{TcpTableStatus::Ok, std::string(answer.text())});
  }
}

std::string policy_action(const AnswerView& answer, std::string_view destination,
                          const PolicyDelegationOptions& options, std::string* warning) {
  if (answer.policy != PolicyKind::TempFail) {
    return "DUNNO";
  }
  std::string why = "DANE policy for ";
  why.append(destination);
  why += " unavailable: ";
  why.append(answer.reason);
  switch (options.failure_action) {
  case PolicyFailureAction::Dunno:
    if (warning != nullptr) {
      *warning = "policy-tempfail destination=" + std::string(destination) + " action=DUNNO (" + why + ")";
    }
    return "DUNNO";
  case PolicyFailureAction::DeferIfPermit:
    return "DEFER_IF_PERMIT 4.7.5 " + why;
  case PolicyFailureAction::Warn:
    return "WARN " + why;
  case PolicyFailureAction::Prepend:
    return "PREPEND " + std::string(options.prepend_header) + ": tempfail " + std::string(destination) + " (" +
           std::string(answer.reason) + ")";
  }
  return "DUNNO";
}

std::string encode_policy_delegation(const AnswerView& answer, std::string_view destination,
                                     const PolicyDelegationOptions& options, std::string* warning) {
  return encode_policy_reply(policy_action(answer, destination, options, warning));
}

} // namespace dane::policyd
