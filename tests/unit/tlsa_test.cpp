// Unit tests of the TLSA record model (src/verifier/tlsa.cpp).
#include <gtest/gtest.h>

#include "dane/verifier/tlsa.hpp"
// The verifier headers the policy and daemon libraries include: none may bring in an
// OpenSSL header (issue 12 item 2). Every OpenSSL header includes <openssl/e_os2.h>.
#include "dane/verifier/destination.hpp"
#include "dane/verifier/dns.hpp"
#include "dane/verifier/probe.hpp"
#if defined(OPENSSL_E_OS2_H) || defined(HEADER_E_OS2_H)
#error "a verifier header used by policy/daemon includes an OpenSSL header"
#endif

namespace dane {
namespace {

TEST(TlsaParse, Rfc6698_2_2_PresentationFormRoundTrips) {
  auto r = parse_tlsa("3 1 1 0C72AC70B745AC19998811B131D662C9AC69DBDBE7CB23E5B514B56664C5D3D6");
  ASSERT_TRUE(r) << r.error();
  EXPECT_EQ(r->usage, TlsaUsage::DaneEe);
  EXPECT_EQ(r->selector, TlsaSelector::Spki);
  EXPECT_EQ(r->mtype, TlsaMatchingType::Sha2_256);
  EXPECT_EQ(r->data.size(), 32u);
  EXPECT_EQ(r->to_string(), "3 1 1 0c72ac70b745ac19998811b131d662c9ac69dbdbe7cb23e5b514b56664c5d3d6");
  EXPECT_EQ(r->short_string(), "3 1 1 0c72ac70...64c5d3d6");
  EXPECT_EQ(smtp_usability(*r), TlsaUsability::Usable);
}

TEST(TlsaParse, HexMayContainWhiteSpaceAsInZoneFiles) {
  auto r = parse_tlsa("2 0 1 0c72ac70b745ac19998811b131d662c9 ac69dbdbe7cb23e5b514b56664c5d3d6");
  ASSERT_TRUE(r) << r.error();
  EXPECT_EQ(r->data.size(), 32u);
}

TEST(TlsaParse, RejectsTextThatIsNotATlsaRecord) {
  EXPECT_FALSE(parse_tlsa(""));
  EXPECT_FALSE(parse_tlsa("3 1 1"));
  EXPECT_FALSE(parse_tlsa("x 1 1 00"));
  EXPECT_FALSE(parse_tlsa("256 1 1 00"));
  auto bad_hex = parse_tlsa("3 1 1 zz");
  ASSERT_FALSE(bad_hex);
  EXPECT_NE(bad_hex.error().find("invalid hex character 'z'"), std::string::npos) << bad_hex.error();
  EXPECT_FALSE(parse_tlsa("3 1 1 abc"));
}

TEST(TlsaUsability, Rfc7672_3_1_3_PkixUsagesAreUnusable) {
  auto r = parse_tlsa("1 1 1 0c72ac70b745ac19998811b131d662c9ac69dbdbe7cb23e5b514b56664c5d3d6");
  ASSERT_TRUE(r);
  EXPECT_EQ(smtp_usability(*r), TlsaUsability::PkixUsage);
}

TEST(TlsaUsability, WrongDigestLengthIsUnusable) {
  auto r = parse_tlsa("3 1 2 0c72ac70b745ac19998811b131d662c9ac69dbdbe7cb23e5b514b56664c5d3d6");
  ASSERT_TRUE(r);
  EXPECT_EQ(smtp_usability(*r), TlsaUsability::BadDigestLength);
  EXPECT_EQ(describe(TlsaUsability::BadDigestLength, *r), "matching type 2 needs 64 octets of data, got 32");
}

TEST(TlsaUsability, UnknownFieldsSurviveParsingAndAreUnusable) {
  auto r = parse_tlsa("4 1 1 00");
  ASSERT_TRUE(r);
  EXPECT_EQ(smtp_usability(*r), TlsaUsability::UnknownUsage);
  EXPECT_EQ(smtp_usability(*parse_tlsa("3 2 1 00")), TlsaUsability::UnknownSelector);
  EXPECT_EQ(smtp_usability(*parse_tlsa("3 1 3 00")), TlsaUsability::UnknownMatchingType);
}

// The fields are typed enums, but any published octet survives: usage 7 (no
// RFC 7218 name) parses from text and from the wire, prints back as 7, and is
// reported unusable rather than being coerced into a known usage.
TEST(TlsaUsability, UsageSevenSurvivesAsItsOctetAndIsUnusable) {
  auto text = parse_tlsa("7 1 1 0c72ac70b745ac19998811b131d662c9ac69dbdbe7cb23e5b514b56664c5d3d6");
  ASSERT_TRUE(text) << text.error();
  EXPECT_EQ(octet(text->usage), 7);
  EXPECT_EQ(text->to_string(), "7 1 1 0c72ac70b745ac19998811b131d662c9ac69dbdbe7cb23e5b514b56664c5d3d6");
  EXPECT_EQ(usage_name(text->usage), "usage 7");
  EXPECT_EQ(smtp_usability(*text), TlsaUsability::UnknownUsage);
  EXPECT_EQ(describe(TlsaUsability::UnknownUsage, *text), "unknown usage 7");
  const std::vector<std::uint8_t> wire{7, 255, 9, 0xab};
  auto rdata = parse_tlsa_rdata(wire);
  ASSERT_TRUE(rdata) << rdata.error();
  EXPECT_EQ(octet(rdata->usage), 7);
  EXPECT_EQ(octet(rdata->selector), 255);
  EXPECT_EQ(octet(rdata->mtype), 9);
  EXPECT_EQ(to_rdata(*rdata), wire);
  EXPECT_EQ(smtp_usability(*rdata), TlsaUsability::UnknownUsage);
}

TEST(TlsaNames, Rfc7218UsageMnemonics) {
  EXPECT_EQ(usage_name(TlsaUsage::PkixTa), "PKIX-TA");
  EXPECT_EQ(usage_name(TlsaUsage::PkixEe), "PKIX-EE");
  EXPECT_EQ(usage_name(TlsaUsage::DaneTa), "DANE-TA");
  EXPECT_EQ(usage_name(TlsaUsage::DaneEe), "DANE-EE");
}

TEST(TlsaRdata, WireFormRoundTrips) {
  auto r = parse_tlsa("3 1 1 0c72ac70b745ac19998811b131d662c9ac69dbdbe7cb23e5b514b56664c5d3d6");
  ASSERT_TRUE(r);
  auto back = parse_tlsa_rdata(to_rdata(*r));
  ASSERT_TRUE(back);
  EXPECT_EQ(*back, *r);
  std::vector<std::uint8_t> too_short{3, 1, 1};
  EXPECT_FALSE(parse_tlsa_rdata(too_short));
}

} // namespace
} // namespace dane
