// libFuzzer target: the tcp_table codec. Properties: chunked decoding equals decoding at once; decoded
// keys re-encode to the input lines; %XX quoting round-trips and leaves only printable ASCII; replies stay
// within 4096 bytes, parse back, and an over-long 200 becomes 400, never a truncated 200.
#include <string>

#include "dane/policy/answer.hpp"
#include "dane/policy/codecs.hpp"
#include "fuzz_check.hpp"

using namespace dane::policyd;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view whole;
  auto pieces = dane::fuzz::chunks(data, size, whole);

  TcpTableDecoder at_once(64);
  std::vector<TcpTableRequest> all;
  bool ok_all = at_once.feed(whole, all);
  FUZZ_CHECK(ok_all == !at_once.error().has_value());

  TcpTableDecoder chunked(64);
  std::vector<TcpTableRequest> parts;
  bool ok_parts = true;
  for (std::string_view piece : pieces) {
    ok_parts = chunked.feed(piece, parts);
    if (!ok_parts) {
      break;
    }
  }
  FUZZ_CHECK(ok_parts == ok_all);
  FUZZ_CHECK(parts == all);
  if (!ok_all) {
    FUZZ_CHECK(chunked.error()->kind == at_once.error()->kind);
  }
  for (const TcpTableRequest& r : all) {
    auto line = encode_tcp_table_request(r.key, 64);
    FUZZ_CHECK(line.has_value());
    auto back = parse_tcp_table_request(std::string_view(*line).substr(0, line->size() - 1));
    FUZZ_CHECK(back.has_value() && back->key == r.key);
  }

  std::string text(whole);
  std::string quoted = tcp_table_quote(text);
  for (char c : quoted) {
    auto u = static_cast<unsigned char>(c);
    FUZZ_CHECK(u > 0x20 && u < 0x7f);
  }
  auto unquoted = tcp_table_unquote(quoted);
  FUZZ_CHECK(unquoted.has_value() && *unquoted == text);
  (void)tcp_table_unquote(text); // arbitrary input: must not crash

  for (std::size_t limit : {std::size_t{12}, k_tcp_table_max_line}) {
    for (const TcpTableReply& reply :
         {TcpTableReply{TcpTableStatus::Ok, text}, TcpTableReply{TcpTableStatus::NotFound, text},
          TcpTableReply{TcpTableStatus::TryAgain, text}}) {
      std::string line = encode_tcp_table_reply(reply, limit);
      FUZZ_CHECK(line.size() <= limit && line.ends_with('\n'));
      FUZZ_CHECK(line.find('\n') == line.size() - 1);
      auto parsed = parse_tcp_table_reply(line);
      FUZZ_CHECK(parsed.has_value());
      if (reply.status == TcpTableStatus::Ok) {
        FUZZ_CHECK(*parsed == reply || parsed->status == TcpTableStatus::TryAgain);
      } else {
        FUZZ_CHECK(parsed->status == reply.status && text.starts_with(parsed->text));
      }
    }
  }
  for (PolicyKind kind : {PolicyKind::Secure, PolicyKind::NotFound, PolicyKind::TempFail}) {
    PolicyAnswer answer = kind == PolicyKind::TempFail ? temp_answer(text) : make_answer(kind, text, text);
    FUZZ_CHECK(parse_tcp_table_reply(encode_tcp_table(view_of(answer))).has_value());
  }
  (void)parse_tcp_table_reply(text);
  return 0;
}
