// libFuzzer target: the socketmap codec. Properties: decoding in arbitrary chunks gives exactly the
// requests and error of decoding all at once; every decoded request re-encodes to the bytes it came from;
// every reply encoder output stays within Postfix's 100000-byte limit and parses back; an OK that did
// not fit became TEMP, never a truncated OK.
#include <string>

#include "dane/policy/codecs.hpp"
#include "fuzz_check.hpp"

using namespace dane::policyd;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view whole;
  auto pieces = dane::fuzz::chunks(data, size, whole);

  SocketmapDecoder at_once(64); // a small limit reaches the TooLong paths quickly
  std::vector<SocketmapRequest> all;
  bool ok_all = at_once.feed(whole, all);
  FUZZ_CHECK(ok_all == !at_once.error().has_value());

  SocketmapDecoder chunked(64);
  std::vector<SocketmapRequest> parts;
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
    FUZZ_CHECK(!at_once.error()->message.empty());
  }

  // Re-encoding the decoded requests reproduces a prefix of the input.
  std::string reencoded;
  for (const SocketmapRequest& r : all) {
    FUZZ_CHECK(!r.name.empty() && r.name.find(' ') == std::string::npos);
    auto wire = encode_socketmap_request(r.name, r.key, 64);
    FUZZ_CHECK(wire.has_value());
    reencoded += *wire;
  }
  FUZZ_CHECK(whole.substr(0, reencoded.size()) == reencoded);

  // Replies: any input as an answer string and as OK data.
  std::string text(whole);
  for (std::size_t limit : {std::size_t{16}, k_socketmap_max_reply}) {
    for (const SocketmapReply& reply :
         {SocketmapReply{SocketmapStatus::Ok, text}, SocketmapReply{SocketmapStatus::Temp, text},
          SocketmapReply{SocketmapStatus::Perm, text}}) {
      std::string wire = encode_socketmap_reply(reply, limit);
      NetstringDecoder decoder(limit);
      std::vector<std::string> payloads;
      FUZZ_CHECK(decoder.feed(wire, payloads));
      FUZZ_CHECK(payloads.size() == 1 && !decoder.mid_message());
      FUZZ_CHECK(payloads[0].size() <= limit);
      auto parsed = parse_socketmap_answer(payloads[0]);
      if (limit >= 5) {
        FUZZ_CHECK(parsed.has_value());
        if (reply.status == SocketmapStatus::Ok) {
          FUZZ_CHECK(*parsed == reply || parsed->status == SocketmapStatus::Temp);
        } else {
          FUZZ_CHECK(parsed->status == reply.status);
          FUZZ_CHECK(reply.data.starts_with(parsed->data));
        }
      }
    }
  }
  std::string answer_wire = encode_socketmap_answer(text);
  NetstringDecoder answer_decoder(k_socketmap_max_reply);
  std::vector<std::string> answers;
  FUZZ_CHECK(answer_decoder.feed(answer_wire, answers) && answers.size() == 1);
  FUZZ_CHECK(parse_socketmap_answer(answers[0]).has_value());
  return 0;
}
