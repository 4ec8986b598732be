// Unit tests of the policy delegation codec (src/policy/codec_policy.cpp): name=value requests ended by
// an empty line, limits, action replies (SMTPD_POLICY_README, docs/design.md §4).
#include <gtest/gtest.h>

#include <random>

#include "dane/policy/codecs.hpp"

namespace dane::policyd {
namespace {

// What Postfix 3.7 smtpd sends at RCPT time (abridged).
const std::string k_postfix_request = "request=smtpd_access_policy\n"
                                      "protocol_state=RCPT\n"
                                      "protocol_name=ESMTP\n"
                                      "client_address=192.0.2.10\n"
                                      "client_name=client.example\n"
                                      "helo_name=client.example\n"
                                      "queue_id=8045F2AB23\n"
                                      "sender=alice@sender.example\n"
                                      "recipient=Bob@Mail.Example.COM.\n"
                                      "recipient_count=0\n"
                                      "size=12345\n"
                                      "ccert_subject=\n"
                                      "encryption_protocol=TLSv1.3\n"
                                      "\n";

CodecErrorKind error_kind_of(std::string_view bytes, PolicyLimits limits = {}) {
  PolicyDecoder decoder(limits);
  std::vector<PolicyRequest> out;
  EXPECT_FALSE(decoder.feed(bytes, out)) << bytes;
  EXPECT_TRUE(decoder.error().has_value());
  EXPECT_TRUE(out.empty());
  return decoder.error() ? decoder.error()->kind : CodecErrorKind::BadLength;
}

TEST(PolicyDecoder, DecodesAPostfixRequestAndExposesItsAttributes) {
  PolicyDecoder decoder;
  std::vector<PolicyRequest> out;
  ASSERT_TRUE(decoder.feed(k_postfix_request, out));
  ASSERT_EQ(out.size(), 1u);
  const PolicyRequest& r = out[0];
  EXPECT_EQ(r.attributes.size(), 13u);
  EXPECT_EQ(r.request(), "smtpd_access_policy");
  EXPECT_EQ(r.protocol_state(), "RCPT");
  EXPECT_EQ(r.client_address(), "192.0.2.10");
  EXPECT_EQ(r.client_name(), "client.example");
  EXPECT_EQ(r.queue_id(), "8045F2AB23");
  EXPECT_EQ(r.sender(), "alice@sender.example");
  EXPECT_EQ(r.recipient(), "Bob@Mail.Example.COM.");
  EXPECT_EQ(r.recipient_domain(), "mail.example.com");
  EXPECT_EQ(r.get("size"), "12345");
  ASSERT_TRUE(r.find("ccert_subject"));
  EXPECT_EQ(*r.find("ccert_subject"), ""); // present, empty
  EXPECT_FALSE(r.find("sasl_username"));
  EXPECT_EQ(r.get("sasl_username"), "");
  EXPECT_EQ(r.attributes.front().first, "request"); // arrival order kept
  EXPECT_FALSE(decoder.mid_request());
}

TEST(PolicyDecoder, ByteAtATimeAndSeveralRequestsPerBuffer) {
  std::string stream = k_postfix_request + "request=smtpd_access_policy\nrecipient=x@y\n\n" + k_postfix_request;
  PolicyDecoder decoder;
  std::vector<PolicyRequest> out;
  for (std::size_t i = 0; i < stream.size(); ++i) {
    ASSERT_TRUE(decoder.feed(stream.substr(i, 1), out)) << "at byte " << i;
  }
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[1].recipient_domain(), "y");
  EXPECT_EQ(out[2].recipient_domain(), "mail.example.com");
  EXPECT_FALSE(decoder.mid_request());

  PolicyDecoder whole;
  std::vector<PolicyRequest> all;
  ASSERT_TRUE(whole.feed(stream, all));
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[0].attributes, out[0].attributes);
}

TEST(PolicyDecoder, MidRequestWhileAttributesOrAPartialLineAreBuffered) {
  PolicyDecoder decoder;
  std::vector<PolicyRequest> out;
  EXPECT_FALSE(decoder.mid_request());
  ASSERT_TRUE(decoder.feed("request=smtpd_access_policy\n", out));
  EXPECT_TRUE(decoder.mid_request());
  ASSERT_TRUE(decoder.feed("\nrecip", out));
  EXPECT_EQ(out.size(), 1u);
  EXPECT_TRUE(decoder.mid_request());
}

TEST(PolicyDecoder, ValuesAreTakenVerbatim) {
  PolicyDecoder decoder;
  std::vector<PolicyRequest> out;
  ASSERT_TRUE(decoder.feed("request=smtpd_access_policy\nx=a=b c\t\xff\nsender=\ny=v\r\n\n", out));
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].get("x"), "a=b c\t\xff");
  EXPECT_EQ(out[0].get("y"), "v\r");
  EXPECT_EQ(out[0].sender(), "");
}

TEST(PolicyDecoder, MalformedAttributeLinesAreErrors) {
  EXPECT_EQ(error_kind_of("request=smtpd_access_policy\nnoequals\n\n"), CodecErrorKind::BadAttribute);
  EXPECT_EQ(error_kind_of("=value\n\n"), CodecErrorKind::BadAttribute);
  EXPECT_EQ(error_kind_of("na me=v\n\n"), CodecErrorKind::BadAttribute);
  EXPECT_EQ(error_kind_of("n\x01=v\n\n"), CodecErrorKind::BadAttribute);
  EXPECT_EQ(error_kind_of("request=smtpd_access_policy\r\n\r\n"), CodecErrorKind::BadAttribute);
  PolicyDecoder decoder;
  std::vector<PolicyRequest> out;
  EXPECT_FALSE(decoder.feed("request=smtpd_access_policy\nbad line\n", out));
  EXPECT_EQ(decoder.error()->message, "policy: line bad%20line is not name=value");
}

TEST(PolicyDecoder, DuplicateAttributeIsAnError) {
  EXPECT_EQ(error_kind_of("request=smtpd_access_policy\nrecipient=a@b\nrecipient=c@d\n\n"),
            CodecErrorKind::DuplicateAttribute);
}

TEST(PolicyDecoder, EmptyRequestIsAnError) {
  EXPECT_EQ(error_kind_of("\n"), CodecErrorKind::EmptyRequest);
  PolicyDecoder decoder;
  std::vector<PolicyRequest> out;
  EXPECT_FALSE(decoder.feed(k_postfix_request + "\n", out));
  EXPECT_EQ(out.size(), 1u); // the good one is delivered before the error
  EXPECT_EQ(decoder.error()->kind, CodecErrorKind::EmptyRequest);
  EXPECT_FALSE(decoder.feed(k_postfix_request, out)); // and the decoder stays broken
  EXPECT_EQ(out.size(), 1u);
}

TEST(PolicyDecoder, RequestTypeMustBeSmtpdAccessPolicy) {
  EXPECT_EQ(error_kind_of("recipient=a@b\n\n"), CodecErrorKind::BadRequestType);
  EXPECT_EQ(error_kind_of("request=other\nrecipient=a@b\n\n"), CodecErrorKind::BadRequestType);
  PolicyDecoder decoder;
  std::vector<PolicyRequest> out;
  EXPECT_FALSE(decoder.feed("request=junk\n\n", out));
  EXPECT_EQ(decoder.error()->message, "policy: unsupported request type junk (expected smtpd_access_policy)");
}

TEST(PolicyDecoder, AttributeCountExactlyAtTheLimitAndOneOver) {
  PolicyLimits limits;
  limits.max_attributes = 3;
  std::string at = "request=smtpd_access_policy\na=1\nb=2\n\n";
  PolicyDecoder decoder(limits);
  std::vector<PolicyRequest> out;
  ASSERT_TRUE(decoder.feed(at + at, out)); // the count restarts for each request
  EXPECT_EQ(out.size(), 2u);
  EXPECT_EQ(error_kind_of("request=smtpd_access_policy\na=1\nb=2\nc=3\n\n", limits), CodecErrorKind::TooManyAttributes);
  // Default limit: 256.
  std::string many = "request=smtpd_access_policy\n";
  for (int i = 1; i < 256; ++i) {
    many += "a" + std::to_string(i) + "=v\n";
  }
  PolicyDecoder def;
  ASSERT_TRUE(def.feed(many + "\n", out));
  EXPECT_EQ(out.back().attributes.size(), 256u);
  EXPECT_EQ(error_kind_of(many + "z=1\n\n"), CodecErrorKind::TooManyAttributes);
}

TEST(PolicyDecoder, LineLengthExactlyAtTheLimitAndOneOver) {
  // Default 8192 bytes including the newline.
  std::string value_at(8192 - 3, 'v'); // "x=" + value + "\n"
  PolicyDecoder decoder;
  std::vector<PolicyRequest> out;
  ASSERT_TRUE(decoder.feed("request=smtpd_access_policy\nx=" + value_at + "\n\n", out));
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].get("x").size(), 8189u);
  EXPECT_EQ(error_kind_of("request=smtpd_access_policy\nx=" + value_at + "v\n\n"), CodecErrorKind::TooLong);
  PolicyDecoder partial;
  EXPECT_TRUE(partial.feed("x=" + value_at, out));
  EXPECT_FALSE(partial.feed("v", out));
  EXPECT_EQ(partial.error()->message, "policy: line exceeds 8192 bytes (including the newline)");
}

TEST(PolicyDecoder, TotalSizeExactlyAtTheLimitAndOneOver) {
  PolicyLimits limits;
  limits.max_request = 40;
  std::string head = "request=smtpd_access_policy\n"; // 28 bytes
  ASSERT_EQ(head.size(), 28u);
  std::string body = "a=" + std::string(40 - 28 - 1 - 3, 'v') + "\n"; // 28 + 11 + 1 == 40
  PolicyDecoder decoder(limits);
  std::vector<PolicyRequest> out;
  ASSERT_TRUE(decoder.feed(head + body + "\n" + head + body + "\n", out));
  EXPECT_EQ(out.size(), 2u);
  std::string body_over = "a=" + std::string(40 - 28 - 1 - 3 + 1, 'v') + "\n";
  EXPECT_EQ(error_kind_of(head + body_over + "\n", limits), CodecErrorKind::TooLong);
  PolicyDecoder over(limits);
  EXPECT_FALSE(over.feed(head + body_over + "\n", out));
  EXPECT_EQ(over.error()->message, "policy: request exceeds 40 bytes (including newlines)");
}

TEST(PolicyDecoder, RandomJunkNeverCrashes) {
  std::mt19937 rng(4242);
  const char alphabet[] = "request=smtpd_access_policy\n\n=ab \x01\xff";
  for (int round = 0; round < 2000; ++round) {
    std::string junk(rng() % 100, '\0');
    for (char& c : junk) {
      c = alphabet[rng() % (sizeof alphabet - 1)];
    }
    PolicyLimits limits;
    limits.max_attributes = 4;
    limits.max_line = 24;
    limits.max_request = 64;
    PolicyDecoder decoder(limits);
    std::vector<PolicyRequest> out;
    bool ok = decoder.feed(junk, out);
    EXPECT_EQ(ok, !decoder.error().has_value());
    for (const auto& r : out) {
      EXPECT_EQ(r.request(), "smtpd_access_policy");
      EXPECT_LE(r.attributes.size(), 4u);
    }
  }
}

TEST(PolicyRequest, RecipientDomain) {
  auto domain_of = [](std::string rcpt) {
    PolicyRequest r;
    r.attributes.emplace_back("recipient", std::move(rcpt));
    return r.recipient_domain();
  };
  EXPECT_EQ(domain_of("user@example.com"), "example.com");
  EXPECT_EQ(domain_of("\"a@b\"@Example.ORG"), "example.org");
  EXPECT_EQ(domain_of("user@example.com."), "example.com");
  EXPECT_EQ(domain_of("user@[192.0.2.1]"), "[192.0.2.1]");
  EXPECT_EQ(domain_of("postmaster"), std::nullopt);
  EXPECT_EQ(domain_of("user@"), std::nullopt);
  EXPECT_EQ(domain_of("user@."), std::nullopt);
  EXPECT_EQ(domain_of(""), std::nullopt);
  EXPECT_EQ(PolicyRequest{}.recipient_domain(), std::nullopt);
}

TEST(PolicyReply, EncodesActionWithTheEmptyLine) {
  EXPECT_EQ(encode_policy_reply("DUNNO"), "action=DUNNO\n\n");
  EXPECT_EQ(encode_policy_reply("DEFER_IF_PERMIT 4.7.5 x"), "action=DEFER_IF_PERMIT 4.7.5 x\n\n");
  // A newline in the text must not inject attributes or end the reply early.
  EXPECT_EQ(encode_policy_reply("DUNNO\n\naction=OK"), "action=DUNNO  action=OK\n\n");
  EXPECT_EQ(encode_policy_reply(std::string("a\0b\x7f", 4)), std::string("action=a b \n\n"));
  std::string long_action(5000, 'x');
  std::string reply = encode_policy_reply(long_action);
  EXPECT_EQ(reply.size(), 7u + k_policy_max_action + 2u);
  EXPECT_EQ(*parse_policy_reply(reply), std::string(k_policy_max_action, 'x'));
}

TEST(PolicyReply, ClientSideRoundTrips) {
  auto req = encode_policy_request({{"request", "smtpd_access_policy"}, {"recipient", "a@b.example"}});
  ASSERT_TRUE(req) << req.error();
  EXPECT_EQ(*req, "request=smtpd_access_policy\nrecipient=a@b.example\n\n");
  EXPECT_FALSE(encode_policy_request({{"", "x"}}));
  EXPECT_FALSE(encode_policy_request({{"a=b", "x"}}));
  EXPECT_FALSE(encode_policy_request({{"a", "x\ny"}}));
  EXPECT_EQ(*parse_policy_reply("action=DUNNO\n\n"), "DUNNO");
  EXPECT_EQ(*parse_policy_reply("action=DUNNO"), "DUNNO");
  EXPECT_FALSE(parse_policy_reply("DUNNO\n\n"));
  EXPECT_FALSE(parse_policy_reply("action=a\nb=c\n\n"));
}

} // namespace
} // namespace dane::policyd
