// Unit tests of the TLSA record model (src/verifier/tlsa.cpp).
#include <gtest/gtest.h>

#include "dane/verifier/tlsa.hpp"

namespace dane {
namespace {

TEST(TlsaParse, Rfc6698_2_2_PresentationFormRoundTrips) {
  auto r = parse_tlsa("3 1 1 0C72AC70B745AC19998811B131D662C9AC69DBDBE7CB23E5B514B56664C5D3D6");
  ASSERT_TRUE(r) << r.error();
  EXPECT_EQ(r->usage, 3);
  EXPECT_EQ(r->selector, 1);
  EXPECT_EQ(r->mtype, 1);
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
