// Unit tests of the tcp_table codec (src/policy/codec_tcp_table.cpp): "get KEY\n" requests,
// 200/400/500 replies, %XX encoding and the 4096-byte line limit (tcp_table(5), docs/design.md §4).
#include <gtest/gtest.h>

#include <random>

#include "dane/policy/codecs.hpp"

namespace dane::policyd {
namespace {

CodecErrorKind error_kind_of(std::string_view bytes) {
  TcpTableDecoder decoder;
  std::vector<TcpTableRequest> out;
  EXPECT_FALSE(decoder.feed(bytes, out)) << bytes;
  EXPECT_TRUE(decoder.error().has_value());
  return decoder.error() ? decoder.error()->kind : CodecErrorKind::BadLength;
}

TEST(TcpTableQuote, EncodesPercentWhiteSpaceAndNonPrintables) {
  EXPECT_EQ(tcp_table_quote("example.com"), "example.com");
  EXPECT_EQ(tcp_table_quote("a b"), "a%20b");
  EXPECT_EQ(tcp_table_quote("100%"), "100%25");
  EXPECT_EQ(tcp_table_quote("\t\n\r\v\f"), "%09%0A%0D%0B%0C");
  EXPECT_EQ(tcp_table_quote(std::string("\0\x1f\x7f\x80\xff", 5)), "%00%1F%7F%80%FF");
  EXPECT_EQ(tcp_table_quote("[mx]:25|~!"), "[mx]:25|~!");
  EXPECT_EQ(tcp_table_quote(""), "");
}

TEST(TcpTableQuote, EveryByteRoundTrips) {
  std::string all;
  for (int c = 0; c < 256; ++c) {
    all += static_cast<char>(c);
  }
  std::string quoted = tcp_table_quote(all);
  for (char c : quoted) {
    auto u = static_cast<unsigned char>(c);
    EXPECT_TRUE(u > 0x20 && u < 0x7f) << "raw byte " << int(u) << " left in quoted text";
  }
  auto back = tcp_table_unquote(quoted);
  ASSERT_TRUE(back) << back.error();
  EXPECT_EQ(*back, all);
}

TEST(TcpTableQuote, UnquoteAcceptsLowerCaseHexAndRejectsBadEscapes) {
  EXPECT_EQ(*tcp_table_unquote("a%2fb%2Fc"), "a/b/c");
  EXPECT_EQ(*tcp_table_unquote("%e2%82%ac"), "\xe2\x82\xac");
  EXPECT_FALSE(tcp_table_unquote("%"));
  EXPECT_FALSE(tcp_table_unquote("%4"));
  EXPECT_FALSE(tcp_table_unquote("abc%"));
  EXPECT_FALSE(tcp_table_unquote("%G0"));
  EXPECT_FALSE(tcp_table_unquote("%0g"));
  auto bad = tcp_table_unquote("ab%zz");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error(), "bad %XX escape %25zz at offset 2");
}

TEST(TcpTableDecoder, DecodesGetRequests) {
  TcpTableDecoder decoder;
  std::vector<TcpTableRequest> out;
  ASSERT_TRUE(decoder.feed("get example.com\nget %5Bmx.example%5D:25\nget a%20b%25\n", out));
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[0].key, "example.com");
  EXPECT_EQ(out[1].key, "[mx.example]:25");
  EXPECT_EQ(out[2].key, "a b%");
  EXPECT_FALSE(decoder.mid_request());
}

TEST(TcpTableDecoder, ByteAtATimeGivesTheSameRequests) {
  std::string stream = "get one.example\nget two.example\nget \n";
  TcpTableDecoder decoder;
  std::vector<TcpTableRequest> out;
  for (std::size_t i = 0; i < stream.size(); ++i) {
    ASSERT_TRUE(decoder.feed(stream.substr(i, 1), out)) << "at byte " << i;
    EXPECT_EQ(decoder.mid_request(), stream[i] != '\n') << "at byte " << i;
  }
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[0].key, "one.example");
  EXPECT_EQ(out[1].key, "two.example");
  EXPECT_EQ(out[2].key, ""); // an empty key is a request the server answers
}

TEST(TcpTableDecoder, RequestsSplitAnywhereDecodeTheSame) {
  std::string stream;
  std::vector<TcpTableRequest> expected;
  for (int i = 0; i < 40; ++i) {
    std::string key = "k " + std::to_string(i) + "%\x01";
    stream += *encode_tcp_table_request(key);
    expected.push_back({key});
  }
  for (std::size_t split = 0; split <= stream.size(); split += 5) {
    TcpTableDecoder decoder;
    std::vector<TcpTableRequest> out;
    ASSERT_TRUE(decoder.feed(std::string_view(stream).substr(0, split), out));
    ASSERT_TRUE(decoder.feed(std::string_view(stream).substr(split), out));
    EXPECT_EQ(out, expected) << "split at " << split;
  }
}

TEST(TcpTableDecoder, UnsupportedCommandsAreBadCommand) {
  EXPECT_EQ(error_kind_of("put k v\n"), CodecErrorKind::BadCommand);
  EXPECT_EQ(error_kind_of("GET k\n"), CodecErrorKind::BadCommand);
  EXPECT_EQ(error_kind_of("get\n"), CodecErrorKind::BadCommand);
  EXPECT_EQ(error_kind_of("\n"), CodecErrorKind::BadCommand);
  EXPECT_EQ(error_kind_of(" get k\n"), CodecErrorKind::BadCommand);
  TcpTableDecoder decoder;
  std::vector<TcpTableRequest> out;
  EXPECT_FALSE(decoder.feed("put k v\n", out));
  EXPECT_EQ(decoder.error()->message, "tcp_table: unsupported command put (expected 'get KEY')");
}

TEST(TcpTableDecoder, RawWhiteSpaceOrControlBytesInTheKeyAreBadEncoding) {
  EXPECT_EQ(error_kind_of("get a b\n"), CodecErrorKind::BadEncoding);
  EXPECT_EQ(error_kind_of("get a\tb\n"), CodecErrorKind::BadEncoding);
  EXPECT_EQ(error_kind_of("get a\r\n"), CodecErrorKind::BadEncoding);
  EXPECT_EQ(error_kind_of(std::string("get a\0\n", 7)), CodecErrorKind::BadEncoding);
  EXPECT_EQ(error_kind_of("get caf\xc3\xa9\n"), CodecErrorKind::BadEncoding);
  EXPECT_EQ(error_kind_of("get a%2\n"), CodecErrorKind::BadEncoding);
  EXPECT_EQ(error_kind_of("get a%xy\n"), CodecErrorKind::BadEncoding);
  TcpTableDecoder decoder;
  std::vector<TcpTableRequest> out;
  EXPECT_FALSE(decoder.feed("get a b\n", out));
  EXPECT_EQ(decoder.error()->message, "tcp_table: key: unencoded byte %20 at offset 1");
}

TEST(TcpTableDecoder, LineOfExactly4096BytesIsAcceptedAnd4097IsTooLong) {
  std::string key_at(4096 - 5, 'k'); // "get " + key + "\n" == 4096
  TcpTableDecoder at;
  std::vector<TcpTableRequest> out;
  ASSERT_TRUE(at.feed("get " + key_at + "\n", out));
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].key.size(), 4091u);

  TcpTableDecoder over;
  EXPECT_FALSE(over.feed("get " + key_at + "k\n", out));
  EXPECT_EQ(over.error()->kind, CodecErrorKind::TooLong);
  EXPECT_EQ(over.error()->message, "tcp_table: line exceeds 4096 bytes (including the newline)");

  // Without a newline the error comes as soon as 4096 bytes are buffered (the newline would be one over).
  TcpTableDecoder partial;
  std::string prefix = "get " + std::string(4091, 'k');
  EXPECT_TRUE(partial.feed(prefix, out));
  EXPECT_TRUE(partial.mid_request());
  EXPECT_FALSE(partial.feed("k", out));
  EXPECT_EQ(partial.error()->kind, CodecErrorKind::TooLong);

  EXPECT_TRUE(encode_tcp_table_request(key_at));
  EXPECT_FALSE(encode_tcp_table_request(key_at + "k"));
  EXPECT_FALSE(encode_tcp_table_request(std::string(2000, ' '))); // 6000 bytes once quoted
}

TEST(TcpTableDecoder, RequestsBeforeAnErrorAreDeliveredThenTheDecoderStaysBroken) {
  TcpTableDecoder decoder;
  std::vector<TcpTableRequest> out;
  EXPECT_FALSE(decoder.feed("get a\nget b\nbogus\nget c\n", out));
  ASSERT_EQ(out.size(), 2u);
  EXPECT_FALSE(decoder.feed("get d\n", out));
  EXPECT_EQ(out.size(), 2u);
}

TEST(TcpTableDecoder, RandomJunkNeverCrashes) {
  std::mt19937 rng(777);
  for (int round = 0; round < 2000; ++round) {
    std::string junk(rng() % 80, '\0');
    for (char& c : junk) {
      c = static_cast<char>(rng() % 4 == 0 ? '\n' : rng());
    }
    TcpTableDecoder decoder(32);
    std::vector<TcpTableRequest> out;
    bool ok = decoder.feed(junk, out);
    EXPECT_EQ(ok, !decoder.error().has_value());
  }
}

TEST(TcpTableReply, EncodesEveryStatusWithQuotedText) {
  EXPECT_EQ(encode_tcp_table_reply({TcpTableStatus::Ok, "dane-only"}), "200 dane-only\n");
  EXPECT_EQ(encode_tcp_table_reply({TcpTableStatus::Ok, "fingerprint match=ab|cd"}), "200 fingerprint%20match=ab|cd\n");
  EXPECT_EQ(encode_tcp_table_reply({TcpTableStatus::NotFound, "not found"}), "500 not%20found\n");
  EXPECT_EQ(encode_tcp_table_reply({TcpTableStatus::TryAgain, "MX bogus: 100%"}), "400 MX%20bogus:%20100%25\n");
  EXPECT_EQ(encode_tcp_table_reply({TcpTableStatus::Ok, ""}), "200 \n");
}

TEST(TcpTableReply, RepliesRoundTripThroughTheClientParser) {
  for (const TcpTableReply& reply : {TcpTableReply{TcpTableStatus::Ok, "secure tafile=/x y match=a:b"},
                                     TcpTableReply{TcpTableStatus::NotFound, "not found"},
                                     TcpTableReply{TcpTableStatus::TryAgain, std::string("\0\n\r%", 4)}}) {
    auto parsed = parse_tcp_table_reply(encode_tcp_table_reply(reply));
    ASSERT_TRUE(parsed) << parsed.error();
    EXPECT_EQ(*parsed, reply);
  }
  EXPECT_FALSE(parse_tcp_table_reply("200"));
  EXPECT_FALSE(parse_tcp_table_reply("300 x"));
  EXPECT_FALSE(parse_tcp_table_reply("200x"));
  EXPECT_FALSE(parse_tcp_table_reply("200 a b"));
  EXPECT_FALSE(parse_tcp_table_reply("200 %4"));
}

TEST(TcpTableReply, OkOfExactly4096BytesIsSentAndOneMoreIsRefusedAs400) {
  std::string data(4096 - 5, 'd');
  std::string at = encode_tcp_table_reply({TcpTableStatus::Ok, data});
  EXPECT_EQ(at.size(), 4096u);
  EXPECT_TRUE(at.starts_with("200 ddd"));
  std::string over = encode_tcp_table_reply({TcpTableStatus::Ok, data + "d"});
  EXPECT_EQ(over, "400 reply%20too%20long%20(4092%20bytes)\n");
  // Quoting counts: 1400 spaces are 4200 bytes on the wire.
  EXPECT_TRUE(encode_tcp_table_reply({TcpTableStatus::Ok, std::string(1400, ' ')}).starts_with("400 reply"));
}

TEST(TcpTableReply, OverlongTextIsTruncatedNeverInsideAnEscape) {
  for (std::size_t pad = 0; pad < 3; ++pad) {
    std::string text = std::string(pad, 'x') + std::string(3000, ' ');
    std::string line = encode_tcp_table_reply({TcpTableStatus::TryAgain, text});
    EXPECT_LE(line.size(), 4096u);
    EXPECT_GE(line.size(), 4094u);
    EXPECT_TRUE(line.ends_with("%20\n")) << line.substr(line.size() - 8);
    auto parsed = parse_tcp_table_reply(line);
    ASSERT_TRUE(parsed) << parsed.error();
    EXPECT_EQ(parsed->status, TcpTableStatus::TryAgain);
    EXPECT_TRUE(text.starts_with(parsed->text));
  }
}

} // namespace
} // namespace dane::policyd
