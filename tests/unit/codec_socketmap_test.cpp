// Unit tests of the socketmap codec (src/policy/codec_socketmap.cpp): netstring framing, "NAME KEY"
// requests, replies and their limits (socketmap_table(5), docs/design.md §4).
#include <gtest/gtest.h>

#include <random>

#include "dane/policy/codecs.hpp"

namespace dane::policyd {
namespace {

std::vector<SocketmapRequest> decode_all(std::string_view bytes, SocketmapDecoder& decoder, bool expect_ok = true) {
  std::vector<SocketmapRequest> out;
  EXPECT_EQ(decoder.feed(bytes, out), expect_ok);
  return out;
}

CodecErrorKind error_kind_of(std::string_view bytes) {
  SocketmapDecoder decoder;
  std::vector<SocketmapRequest> out;
  EXPECT_FALSE(decoder.feed(bytes, out)) << bytes;
  EXPECT_TRUE(decoder.error().has_value());
  return decoder.error() ? decoder.error()->kind : CodecErrorKind::BadLength;
}

TEST(SocketmapDecoder, DecodesOneRequest) {
  SocketmapDecoder decoder;
  auto out = decode_all("21:tlspolicy example.com,", decoder);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0], (SocketmapRequest{"tlspolicy", "example.com"}));
  EXPECT_FALSE(decoder.mid_request());
  EXPECT_FALSE(decoder.error());
}

TEST(SocketmapDecoder, ByteAtATimeGivesTheSameRequests) {
  std::string stream = "21:tlspolicy example.com,22:tlspolicy .example.com,"
                       "5:m [x],";
  SocketmapDecoder decoder;
  std::vector<SocketmapRequest> out;
  for (std::size_t i = 0; i < stream.size(); ++i) {
    ASSERT_TRUE(decoder.feed(stream.substr(i, 1), out)) << "at byte " << i;
    bool at_boundary = i + 1 == 25 || i + 1 == 51 || i + 1 == stream.size();
    EXPECT_EQ(decoder.mid_request(), !at_boundary) << "at byte " << i;
  }
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[0], (SocketmapRequest{"tlspolicy", "example.com"}));
  EXPECT_EQ(out[1], (SocketmapRequest{"tlspolicy", ".example.com"}));
  EXPECT_EQ(out[2], (SocketmapRequest{"m", "[x]"}));
}

TEST(SocketmapDecoder, ManyRequestsInOneBufferAndSplitAnywhere) {
  std::string stream;
  std::vector<SocketmapRequest> expected;
  for (int i = 0; i < 50; ++i) {
    std::string key = "host" + std::to_string(i) + ".example";
    stream += *encode_socketmap_request("tlspolicy", key);
    expected.push_back({"tlspolicy", key});
  }
  for (std::size_t split = 0; split <= stream.size(); split += 7) {
    SocketmapDecoder decoder;
    std::vector<SocketmapRequest> out;
    ASSERT_TRUE(decoder.feed(std::string_view(stream).substr(0, split), out));
    ASSERT_TRUE(decoder.feed(std::string_view(stream).substr(split), out));
    EXPECT_EQ(out, expected) << "split at " << split;
    EXPECT_FALSE(decoder.mid_request());
  }
}

TEST(SocketmapDecoder, KeyKeepsEverythingAfterTheFirstSpace) {
  SocketmapDecoder decoder;
  auto out = decode_all("9:m a b  c ,2:m ,", decoder);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0], (SocketmapRequest{"m", "a b  c "}));
  // An empty key is a valid request; the server answers it.
  EXPECT_EQ(out[1].key, "");
  EXPECT_EQ(out[1].name, "m");
}

TEST(SocketmapDecoder, BinaryPayloadBytesAreKeptVerbatim) {
  std::string key("a\0b\xff,:\n", 7);
  std::string wire = *encode_socketmap_request("m", key);
  SocketmapDecoder decoder;
  auto out = decode_all(wire, decoder);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].key, key);
}

TEST(SocketmapDecoder, GarbledLengthIsBadLength) {
  EXPECT_EQ(error_kind_of("x:m k,"), CodecErrorKind::BadLength);
  EXPECT_EQ(error_kind_of("1x:m k,"), CodecErrorKind::BadLength);
  EXPECT_EQ(error_kind_of(":m k,"), CodecErrorKind::BadLength);
  EXPECT_EQ(error_kind_of("-3:m k,"), CodecErrorKind::BadLength);
  EXPECT_EQ(error_kind_of(" 3:m k,"), CodecErrorKind::BadLength);
  EXPECT_EQ(error_kind_of("03:m k,"), CodecErrorKind::BadLength);
  EXPECT_EQ(error_kind_of("00:,"), CodecErrorKind::BadLength);
  EXPECT_EQ(error_kind_of("\xff"), CodecErrorKind::BadLength);
}

TEST(SocketmapDecoder, ErrorMessageNamesTheProblemWithoutRawBytes) {
  SocketmapDecoder decoder;
  std::vector<SocketmapRequest> out;
  EXPECT_FALSE(decoder.feed("1\n:", out));
  ASSERT_TRUE(decoder.error());
  EXPECT_EQ(decoder.error()->message, "netstring: length contains %0A (expected a digit or ':')");
  EXPECT_EQ(to_string(decoder.error()->kind), "bad-length");
}

TEST(SocketmapDecoder, MissingCommaIsAnError) {
  EXPECT_EQ(error_kind_of("3:m k;"), CodecErrorKind::MissingComma);
  EXPECT_EQ(error_kind_of("3:m kk,"), CodecErrorKind::MissingComma); // length one too small
  EXPECT_EQ(error_kind_of("0:x"), CodecErrorKind::MissingComma);
  SocketmapDecoder decoder;
  std::vector<SocketmapRequest> out;
  EXPECT_FALSE(decoder.feed("3:m k\n", out));
  EXPECT_EQ(decoder.error()->message, "netstring: expected ',' after 3 payload bytes, got %0A");
}

TEST(SocketmapDecoder, LengthTooBigForThePayloadWaitsForMoreBytes) {
  SocketmapDecoder decoder;
  std::vector<SocketmapRequest> out;
  EXPECT_TRUE(decoder.feed("5:m k,", out)); // "m k," is 4 bytes: the comma is payload
  EXPECT_TRUE(out.empty());
  EXPECT_TRUE(decoder.mid_request());
  EXPECT_TRUE(decoder.feed("x", out)); // the 5th payload byte
  EXPECT_TRUE(out.empty());
  EXPECT_FALSE(decoder.feed("y", out)); // must be the comma
  EXPECT_EQ(decoder.error()->kind, CodecErrorKind::MissingComma);
}

TEST(SocketmapDecoder, EmptyNameAndMissingKeyAreErrors) {
  EXPECT_EQ(error_kind_of("4: key,"), CodecErrorKind::EmptyName);
  EXPECT_EQ(error_kind_of("1: ,"), CodecErrorKind::EmptyName);
  EXPECT_EQ(error_kind_of("4:name,"), CodecErrorKind::MissingKey);
  EXPECT_EQ(error_kind_of("0:,"), CodecErrorKind::MissingKey);
}

TEST(SocketmapDecoder, QueryOfExactly10000BytesIsAccepted) {
  std::string key(10000 - 2, 'k');
  std::string wire = *encode_socketmap_request("m", key);
  EXPECT_TRUE(wire.starts_with("10000:m "));
  SocketmapDecoder decoder;
  auto out = decode_all(wire, decoder);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].key.size(), 9998u);
}

TEST(SocketmapDecoder, QueryOf10001BytesIsRefusedBeforeItsPayload) {
  SocketmapDecoder decoder;
  std::vector<SocketmapRequest> out;
  EXPECT_TRUE(decoder.feed("1000", out));
  EXPECT_FALSE(decoder.feed("1", out)); // refused as soon as the length says so
  ASSERT_TRUE(decoder.error());
  EXPECT_EQ(decoder.error()->kind, CodecErrorKind::TooLong);
  EXPECT_EQ(decoder.error()->message, "netstring: length exceeds the limit of 10000 bytes");
  EXPECT_EQ(error_kind_of("100000:"), CodecErrorKind::TooLong);
  EXPECT_EQ(error_kind_of("99999999999999999999999999999999:"), CodecErrorKind::TooLong);
  EXPECT_FALSE(encode_socketmap_request("m", std::string(9999, 'k')));
  EXPECT_TRUE(encode_socketmap_request("m", std::string(9998, 'k')));
}

TEST(SocketmapDecoder, ConfigurableLimitExactlyAtAndOneOver) {
  SocketmapDecoder at(5);
  std::vector<SocketmapRequest> out;
  EXPECT_TRUE(at.feed("5:m key,", out));
  EXPECT_EQ(out.size(), 1u);
  SocketmapDecoder over(5);
  EXPECT_FALSE(over.feed("6:", out));
  EXPECT_EQ(over.error()->kind, CodecErrorKind::TooLong);
}

TEST(SocketmapDecoder, RequestsBeforeAnErrorAreDeliveredAndTheDecoderStaysBroken) {
  SocketmapDecoder decoder;
  std::vector<SocketmapRequest> out;
  EXPECT_FALSE(decoder.feed("3:m a,3:m b,junk", out));
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[1].key, "b");
  // Later valid input is ignored: the connection must be closed.
  EXPECT_FALSE(decoder.feed("3:m c,", out));
  EXPECT_EQ(out.size(), 2u);
  EXPECT_EQ(decoder.error()->kind, CodecErrorKind::BadLength);
}

TEST(SocketmapDecoder, RandomJunkNeverCrashesAndEndsInAnErrorOrWaits) {
  std::mt19937 rng(12345);
  for (int round = 0; round < 2000; ++round) {
    std::string junk(rng() % 64, '\0');
    for (char& c : junk) {
      c = static_cast<char>(rng());
    }
    SocketmapDecoder decoder;
    std::vector<SocketmapRequest> out;
    bool ok = decoder.feed(junk, out);
    EXPECT_EQ(ok, !decoder.error().has_value());
    for (const auto& r : out) {
      EXPECT_FALSE(r.name.empty());
      EXPECT_EQ(r.name.find(' '), std::string::npos);
    }
  }
}

TEST(SocketmapRequest, ParseSplitsAtTheFirstSpace) {
  auto r = parse_socketmap_request("tlspolicy [mx.example]:25");
  ASSERT_TRUE(r) << r.error();
  EXPECT_EQ(r->name, "tlspolicy");
  EXPECT_EQ(r->key, "[mx.example]:25");
  EXPECT_FALSE(parse_socketmap_request("nospace"));
  EXPECT_FALSE(parse_socketmap_request(" key"));
  EXPECT_FALSE(encode_socketmap_request("", "k"));
  EXPECT_FALSE(encode_socketmap_request("a b", "k"));
  EXPECT_EQ(*encode_socketmap_request("tlspolicy", "example.com"), "21:tlspolicy example.com,");
}

TEST(SocketmapReply, EncodesEveryStatus) {
  EXPECT_EQ(encode_socketmap_reply({SocketmapStatus::Ok, "dane-only"}), "12:OK dane-only,");
  EXPECT_EQ(encode_socketmap_reply({SocketmapStatus::NotFound, ""}), "9:NOTFOUND ,");
  EXPECT_EQ(encode_socketmap_reply({SocketmapStatus::NotFound, "ignored"}), "9:NOTFOUND ,");
  EXPECT_EQ(encode_socketmap_reply({SocketmapStatus::Temp, "MX lookup bogus"}), "20:TEMP MX lookup bogus,");
  EXPECT_EQ(encode_socketmap_reply({SocketmapStatus::Timeout, "dns"}), "11:TIMEOUT dns,");
  EXPECT_EQ(encode_socketmap_reply({SocketmapStatus::Perm, "bad key"}), "12:PERM bad key,");
  EXPECT_EQ(encode_socketmap_reply({SocketmapStatus::Ok, ""}), "3:OK ,");
}

TEST(SocketmapReply, AnswerStringsRoundTrip) {
  for (std::string answer : {"OK dane-only", "OK fingerprint match=ab:cd|ef", "NOTFOUND ", "TEMP 4.7.5 bogus",
                             "TIMEOUT x", "PERM y", "OK "}) {
    auto reply = parse_socketmap_answer(answer);
    ASSERT_TRUE(reply) << answer << ": " << reply.error();
    EXPECT_EQ(format_socketmap_answer(*reply), answer);
    EXPECT_EQ(encode_socketmap_answer(answer), encode_netstring(answer));
  }
  EXPECT_EQ(parse_socketmap_answer("NOTFOUND")->status, SocketmapStatus::NotFound);
  EXPECT_FALSE(parse_socketmap_answer("TEMP")); // the space is required
  EXPECT_EQ(parse_socketmap_answer("NOTFOUND whatever")->data, "");
  // Not canonical: re-formatted rather than framed as they are.
  EXPECT_EQ(encode_socketmap_answer("NOTFOUND whatever"), "9:NOTFOUND ,");
  EXPECT_EQ(encode_socketmap_answer("NOTFOUND"), "9:NOTFOUND ,");
  EXPECT_EQ(encode_socketmap_answer("OKAY x"), "37:TEMP internal error: malformed answer,");
}

TEST(SocketmapReply, MalformedAnswersAreRejectedAndNeverPassedThrough) {
  EXPECT_FALSE(parse_socketmap_answer("OK"));
  EXPECT_FALSE(parse_socketmap_answer("ok dane"));
  EXPECT_FALSE(parse_socketmap_answer("MAYBE x"));
  EXPECT_FALSE(parse_socketmap_answer(""));
  EXPECT_EQ(encode_socketmap_answer("garbage"), "37:TEMP internal error: malformed answer,");
}

TEST(SocketmapReply, OverlongOkIsRefusedAsTempNeverTruncated) {
  std::string data(100000 - 3, 'x'); // "OK " + data == exactly 100000 bytes
  std::string at = encode_socketmap_reply({SocketmapStatus::Ok, data});
  EXPECT_TRUE(at.starts_with("100000:OK xxx"));
  EXPECT_EQ(at.size(), 6u + 1u + 100000u + 1u);
  std::string over = encode_socketmap_reply({SocketmapStatus::Ok, data + "y"});
  EXPECT_EQ(over, encode_netstring("TEMP reply too long (100001 bytes)"));
}

TEST(SocketmapReply, OverlongReasonIsTruncatedToTheLimit) {
  std::string reason(200000, 'r');
  std::string wire = encode_socketmap_reply({SocketmapStatus::Temp, reason});
  NetstringDecoder replies(k_socketmap_max_reply);
  std::vector<std::string> out;
  ASSERT_TRUE(replies.feed(wire, out));
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].size(), 100000u);
  EXPECT_TRUE(out[0].starts_with("TEMP rrr"));
  // A small custom limit works the same way.
  EXPECT_EQ(encode_socketmap_reply({SocketmapStatus::Perm, "abcdef"}, 8), "8:PERM abc,");
  EXPECT_EQ(encode_socketmap_reply({SocketmapStatus::Ok, "abcdef"}, 8), "8:TEMP rep,");
}

TEST(NetstringDecoder, ClientSideReadsRepliesUpToTheReplyLimit) {
  NetstringDecoder decoder(k_socketmap_max_reply);
  std::vector<std::string> out;
  std::string big = encode_netstring(std::string(100000, 'z'));
  ASSERT_TRUE(decoder.feed(big + "12:OK dane-only,", out));
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[1], "OK dane-only");
  NetstringDecoder small(k_socketmap_max_reply);
  EXPECT_FALSE(small.feed("100001:", out));
  EXPECT_EQ(small.error()->kind, CodecErrorKind::TooLong);
}

TEST(NetstringDecoder, EmptyPayloadIsAValidNetstring) {
  NetstringDecoder decoder(10);
  std::vector<std::string> out;
  ASSERT_TRUE(decoder.feed("0:,0:,", out));
  EXPECT_EQ(out, (std::vector<std::string>{"", ""}));
}

TEST(CodecError, EveryKindHasAStableName) {
  EXPECT_EQ(to_string(CodecErrorKind::MissingComma), "missing-comma");
  EXPECT_EQ(to_string(CodecErrorKind::TooLong), "too-long");
  EXPECT_EQ(to_string(CodecErrorKind::EmptyName), "empty-name");
  EXPECT_EQ(to_string(CodecErrorKind::MissingKey), "missing-key");
  EXPECT_EQ(to_string(CodecErrorKind::BadCommand), "bad-command");
  EXPECT_EQ(to_string(CodecErrorKind::BadEncoding), "bad-encoding");
  EXPECT_EQ(to_string(CodecErrorKind::BadAttribute), "bad-attribute");
  EXPECT_EQ(to_string(CodecErrorKind::DuplicateAttribute), "duplicate-attribute");
  EXPECT_EQ(to_string(CodecErrorKind::TooManyAttributes), "too-many-attributes");
  EXPECT_EQ(to_string(CodecErrorKind::EmptyRequest), "empty-request");
  EXPECT_EQ(to_string(CodecErrorKind::BadRequestType), "bad-request-type");
}

TEST(PrintableExcerpt, QuotesAndShortensWithoutSplittingAnEscape) {
  EXPECT_EQ(printable_excerpt("abc"), "abc");
  EXPECT_EQ(printable_excerpt("a b\n"), "a%20b%0A");
  EXPECT_EQ(printable_excerpt("abcdefgh", 4), "abcd...");
  EXPECT_EQ(printable_excerpt("abc def", 4), "abc..."); // "abc%20def": cut before the %
  EXPECT_EQ(printable_excerpt("ab  ", 5), "ab%20...");
  EXPECT_EQ(printable_excerpt("ab  ", 4), "ab...");
  // The same coding as tcp_table's, byte for byte, over every byte value.
  std::string all;
  for (int c = 0; c < 256; ++c) {
    all += static_cast<char>(c);
  }
  EXPECT_EQ(printable_excerpt(all, 10000), tcp_table_quote(all));
}

} // namespace
} // namespace dane::policyd
