// dane::sts::StsEngine over real components: the DNS rig (nsd, signed zones under stscore.test, the
// `_mta-sts` TXT records and `mta-sts.<domain>` A records), real HTTPS servers on 127.0.15.50-99:443
// (tests/support/https_server.hpp) with certificates made at test time and trusted through the fixture
// root CA, and a PolicyStore on a temporary directory. Cases of RFC 8461 §3 and §5: enforce, testing,
// none, a bad TXT record, fetch failures (content type, size, redirect, certificate, timeout), id change,
// a removed TXT record, a failed refresh, a restart with the server down, and a corrupt store file.
// Root is needed for port 443 (DANE_REQUIRE_OR_SKIP).
#include <atomic>
#include <chrono>
#include <filesystem>
#include <future>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>
#include <gtest/gtest.h>

#include "dane/sts/sts_engine.hpp"
#include "dns_rig.hpp"
#include "files.hpp"
#include "https_server.hpp"
#include "temp_dir.hpp"
#include "test_env.hpp"
#include "test_pki.hpp"

namespace dane::test {
namespace {

using dane::sts::PolicyStore;
using dane::sts::StsEngineOptions;
using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr const char* k_zone = "stscore.test";
constexpr const char* k_policy_path = "/.well-known/mta-sts.txt";

// One policy domain per case: <label>.stscore.test, its policy host on its own address.
struct Case {
  std::string label;
  std::string address;
  std::string txt; // TXT text of _mta-sts.<label>; empty: no record
};

const std::vector<Case>& base_cases() {
  static const std::vector<Case> cases = {
      {"enforce", "127.0.15.50", "v=STSv1; id=20261205;"},
      {"testing", "127.0.15.51", "v=STSv1; id=t1"},
      {"none", "127.0.15.52", "v=STSv1; id=n1"},
      {"badtxt", "127.0.15.53", "v=STSv1; id=not-valid;"},
      {"ctype", "127.0.15.54", "v=STSv1; id=c1"},
      {"large", "127.0.15.55", "v=STSv1; id=l1"},
      {"redirect", "127.0.15.56", "v=STSv1; id=r1"},
      {"badcert", "127.0.15.57", "v=STSv1; id=b1"},
      {"timeout", "127.0.15.58", "v=STSv1; id=s1"},
      {"idchange", "127.0.15.59", "v=STSv1; id=first"},
      {"removed", "127.0.15.60", "v=STSv1; id=kept"},
      {"failcached", "127.0.15.61", "v=STSv1; id=f1"},
      {"restart", "127.0.15.62", "v=STSv1; id=p1"},
      {"corrupt", "127.0.15.63", "v=STSv1; id=k1"},
      {"notxt", "127.0.15.64", ""},
      {"async", "127.0.15.65", "v=STSv1; id=a1"},
      {"notfound", "127.0.15.66", "v=STSv1; id=nf1"},
      {"plain", "127.0.15.67", "v=STSv1; id=u1"}, // in an unsigned zone (DNSSEC is not required)
      {"bogus", "127.0.15.68", "v=STSv1; id=g1"}, // in a signed zone whose A of mta-sts is bogus
  };
  return cases;
}

std::string domain_of(const std::string& label) {
  return label + "." + k_zone;
}
std::string policy_host(const std::string& label) {
  return "mta-sts." + domain_of(label);
}
std::string address_of(const std::string& label) {
  for (const Case& c : base_cases()) {
    if (c.label == label) {
      return c.address;
    }
  }
  throw std::runtime_error("no case " + label);
}

std::string policy_body(const std::string& mode, const std::string& label, unsigned max_age = 86400) {
  std::string body = "version: STSv1\nmode: " + mode + "\n";
  if (mode != "none") {
    body += "mx: mx1." + domain_of(label) + "\nmx: *." + domain_of(label) + "\n";
  }
  return body + "max_age: " + std::to_string(max_age) + "\n";
}

HttpsRoute policy_route(std::string body, std::string content_type = "text/plain; charset=utf-8") {
  HttpsRoute route;
  route.content_type = std::move(content_type);
  route.body = std::move(body);
  return route;
}

class StsEngineRig : public ::testing::Test {
protected:
  static void SetUpTestSuite() {
    if (!DnsRig::tools_available() || !is_root()) {
      return;
    }
    s_txt.clear();
    for (const Case& c : base_cases()) {
      s_txt[c.label] = c.txt;
    }
    s_pki = std::make_unique<TempDir>("sts-engine-pki");
    std::vector<std::string> names;
    for (const Case& c : base_cases()) {
      names.push_back(policy_host(c.label));
    }
    s_good = make_leaf(s_pki->path(), "good", LeafSpec{names});
    s_self = make_leaf(s_pki->path(), "self", LeafSpec{names, true});
    s_rig = std::make_unique<DnsRig>();
    s_rig->add_zone({k_zone, zone_records()});
    s_rig->add_zone({"plain." + std::string(k_zone),
                     "_mta-sts TXT \"" + s_txt["plain"] + "\"\nmta-sts A " + address_of("plain") + "\n",
                     ZoneSigning::Unsigned});
    s_rig->add_zone({"bogus." + std::string(k_zone),
                     "_mta-sts TXT \"" + s_txt["bogus"] + "\"\nmta-sts A " + address_of("bogus") + "\n",
                     ZoneSigning::BadSignature, "mta-sts.bogus." + std::string(k_zone) + ". A"});
    DnsRig::start_or_fail(s_rig);
  }
  static void TearDownTestSuite() {
    s_rig.reset();
    s_pki.reset();
  }

  void SetUp() override {
    DANE_REQUIRE_OR_SKIP(is_root(), "HTTPS servers on port 443 need root");
    DANE_REQUIRE_OR_SKIP(s_rig != nullptr, DnsRig::missing_tools_message());
  }

  static std::string zone_records() {
    std::string records;
    for (const Case& c : base_cases()) {
      if (c.label == "plain" || c.label == "bogus") {
        continue; // its own zone
      }
      if (!s_txt[c.label].empty()) {
        records += "_mta-sts." + c.label + " TXT \"" + s_txt[c.label] + "\"\n";
      }
      records += "mta-sts." + c.label + " A " + c.address + "\n";
    }
    return records;
  }
  // Changes one case's TXT record (empty: removes it) and re-signs the zone.
  static void set_txt(const std::string& label, const std::string& txt) {
    s_txt[label] = txt;
    auto st = s_rig->replace_zone({k_zone, zone_records()});
    ASSERT_TRUE(st) << st.error();
  }

  static std::unique_ptr<HttpsServer> serve(const std::string& label, const HttpsRoute& route,
                                            const LeafFiles& leaf = s_good) {
    auto server = std::make_unique<HttpsServer>(address_of(label), 443, leaf.chain, leaf.key);
    server->set_route(k_policy_path, route);
    return server;
  }

  // One evaluation with a fresh resolver (nothing cached from earlier zone contents).
  static StsFacts evaluate(const std::string& label, PolicyStore& store, StsEngineOptions options = {},
                           milliseconds budget = seconds(10)) {
    auto resolver = make_unbound_resolver(s_rig->resolver_config());
    EXPECT_TRUE(resolver) << resolver.error();
    if (!resolver) {
      return {};
    }
    return dane::sts::evaluate_sts_blocking(**resolver, fixture_root_ca(), store, domain_of(label),
                                            std::chrono::steady_clock::now() + budget, options);
  }

  TempDir m_dir{"sts-engine"};
  std::string store_dir() const { return m_dir.file("mta-sts"); }

  static std::unique_ptr<DnsRig> s_rig;
  static std::unique_ptr<TempDir> s_pki;
  static std::map<std::string, std::string> s_txt;
  static LeafFiles s_good;
  static LeafFiles s_self;
};

std::unique_ptr<DnsRig> StsEngineRig::s_rig;
std::unique_ptr<TempDir> StsEngineRig::s_pki;
std::map<std::string, std::string> StsEngineRig::s_txt;
LeafFiles StsEngineRig::s_good;
LeafFiles StsEngineRig::s_self;

void expect_no_policy(const StsFacts& facts) {
  EXPECT_EQ(facts.source, StsSource::None);
  EXPECT_FALSE(facts.policy.has_value());
  EXPECT_TRUE(facts.policy_id.empty()) << facts.policy_id;
  EXPECT_FALSE(facts.expires.has_value());
}

TEST_F(StsEngineRig, Rfc8461_3_EnforceFetchedStoredAndThenCached) {
  auto server = serve("enforce", policy_route(policy_body("enforce", "enforce")));
  PolicyStore store(store_dir());
  const auto before = std::chrono::system_clock::now() - seconds(1);
  const StsFacts facts = evaluate("enforce", store);
  EXPECT_EQ(facts.domain, "enforce.stscore.test");
  EXPECT_EQ(facts.txt_id, "20261205");
  EXPECT_EQ(facts.txt_error, "");
  EXPECT_EQ(facts.fetch_error, "");
  EXPECT_EQ(facts.store_error, "");
  ASSERT_EQ(facts.source, StsSource::Fetched);
  ASSERT_TRUE(facts.policy.has_value());
  EXPECT_EQ(facts.policy->mode, StsMode::Enforce);
  EXPECT_EQ(facts.policy->mx, (std::vector<std::string>{"mx1.enforce.stscore.test", "*.enforce.stscore.test"}));
  EXPECT_EQ(facts.policy->max_age, 86400U);
  EXPECT_EQ(facts.policy_id, "20261205");
  ASSERT_TRUE(facts.fetched && facts.expires);
  EXPECT_GE(*facts.fetched, before);
  EXPECT_EQ(*facts.expires, *facts.fetched + seconds(86400));
  ASSERT_EQ(server->request_count(k_policy_path), 1U);
  const auto received = server->received();
  EXPECT_EQ(received.at(0).headers.at("host").rfind("mta-sts.enforce.stscore.test", 0), 0U);
  EXPECT_TRUE(std::filesystem::exists(store_dir() + "/enforce.stscore.test.json"));

  // Same id, fresh: the cached policy, no request.
  const StsFacts again = evaluate("enforce", store);
  EXPECT_EQ(again.source, StsSource::Cached);
  EXPECT_EQ(again.policy_id, "20261205");
  EXPECT_EQ(again.fetched, facts.fetched);
  EXPECT_EQ(server->request_count(k_policy_path), 1U);
}

TEST_F(StsEngineRig, Rfc8461_3_2_TestingAndNoneAreFetchedWithTheirMode) {
  auto testing = serve("testing", policy_route(policy_body("testing", "testing", 600), "text/plain"));
  auto none = serve("none", policy_route(policy_body("none", "none"), "TEXT/PLAIN"));
  PolicyStore store(store_dir());
  const StsFacts t = evaluate("testing", store);
  ASSERT_EQ(t.source, StsSource::Fetched) << t.fetch_error << t.txt_error;
  EXPECT_EQ(t.policy->mode, StsMode::Testing);
  EXPECT_EQ(t.policy->max_age, 600U);
  EXPECT_EQ(t.policy_id, "t1");
  const StsFacts n = evaluate("none", store);
  ASSERT_EQ(n.source, StsSource::Fetched) << n.fetch_error << n.txt_error;
  EXPECT_EQ(n.policy->mode, StsMode::None);
  EXPECT_TRUE(n.policy->mx.empty());
}

TEST_F(StsEngineRig, Rfc8461_3_InsecureZoneServesAPolicy) {
  auto server = serve("plain", policy_route(policy_body("enforce", "plain")));
  PolicyStore store(store_dir());
  const StsFacts facts = evaluate("plain", store);
  ASSERT_EQ(facts.source, StsSource::Fetched) << facts.txt_error << facts.fetch_error;
  EXPECT_EQ(facts.policy_id, "u1");
}

TEST_F(StsEngineRig, BogusPolicyHostAddressIsAFetchErrorAndNoRequest) {
  auto server = serve("bogus", policy_route(policy_body("enforce", "bogus")));
  PolicyStore store(store_dir());
  const StsFacts facts = evaluate("bogus", store);
  expect_no_policy(facts);
  EXPECT_EQ(facts.txt_id, "g1");
  EXPECT_NE(facts.fetch_error.find("A of mta-sts.bogus.stscore.test is DNSSEC bogus"), std::string::npos)
      << facts.fetch_error;
  EXPECT_EQ(server->request_count(k_policy_path), 0U);
}

TEST_F(StsEngineRig, Rfc8461_3_1_BadTxtSyntaxIsNoPolicyAndNoFetch) {
  auto server = serve("badtxt", policy_route(policy_body("enforce", "badtxt")));
  PolicyStore store(store_dir());
  const StsFacts facts = evaluate("badtxt", store);
  expect_no_policy(facts);
  EXPECT_EQ(facts.txt_id, "");
  EXPECT_NE(facts.txt_error.find("not-valid"), std::string::npos) << facts.txt_error;
  EXPECT_EQ(facts.fetch_error, "");
  EXPECT_EQ(server->request_count(k_policy_path), 0U);
}

TEST_F(StsEngineRig, NoTxtRecordIsNoPolicy) {
  auto server = serve("notxt", policy_route(policy_body("enforce", "notxt")));
  PolicyStore store(store_dir());
  const StsFacts facts = evaluate("notxt", store);
  expect_no_policy(facts);
  EXPECT_EQ(facts.txt_error, "no _mta-sts TXT record");
  EXPECT_EQ(server->request_count(k_policy_path), 0U);
}

struct FetchFailure {
  std::string label;
  HttpsRoute route;
  bool self_signed;
  std::string expect; // a piece of fetch_error
};

TEST_F(StsEngineRig, Rfc8461_3_3_FetchFailuresGiveNoPolicy) {
  HttpsRoute redirect = policy_route("moved");
  redirect.status = 301;
  redirect.location = "https://elsewhere.stscore.test/.well-known/mta-sts.txt";
  HttpsRoute not_found = policy_route(policy_body("enforce", "notfound"));
  not_found.status = 404;
  HttpsRoute slow = policy_route(policy_body("enforce", "timeout"));
  slow.delay = seconds(4);
  const std::vector<FetchFailure> cases = {
      {"ctype", policy_route(policy_body("enforce", "ctype"), "text/html"), false, "is not text/plain"},
      {"large", policy_route(std::string(70 * 1024, '#')), false, "larger than 65536"},
      {"redirect", redirect, false, "elsewhere.stscore.test"},
      {"notfound", not_found, false, "HTTP status 404"},
      {"badcert", policy_route(policy_body("enforce", "badcert")), true, "certificate"},
  };
  PolicyStore store(store_dir());
  for (const FetchFailure& c : cases) {
    SCOPED_TRACE(c.label);
    auto server = serve(c.label, c.route, c.self_signed ? s_self : s_good);
    const StsFacts facts = evaluate(c.label, store);
    expect_no_policy(facts);
    EXPECT_FALSE(facts.txt_id.empty());
    EXPECT_EQ(facts.fetch_error.rfind(
                  "HTTPS fetch of https://mta-sts." + domain_of(c.label) + "/.well-known/mta-sts.txt: ", 0),
              0U)
        << facts.fetch_error;
    EXPECT_NE(facts.fetch_error.find(c.expect), std::string::npos) << facts.fetch_error;
    EXPECT_FALSE(std::filesystem::exists(store_dir() + "/" + domain_of(c.label) + ".json"));
  }
  // The deadline: the server answers after 4 s, the evaluation has 1.5 s.
  auto server = serve("timeout", slow);
  const StsFacts facts = evaluate("timeout", store, {}, milliseconds(1500));
  expect_no_policy(facts);
  EXPECT_NE(facts.fetch_error.find("HTTPS fetch of https://mta-sts.timeout.stscore.test/"), std::string::npos)
      << facts.fetch_error;
  EXPECT_NE(facts.fetch_error.find("timed out"), std::string::npos) << facts.fetch_error;
}

TEST_F(StsEngineRig, Rfc8461_5_1_IdChangeRefetchesSameIdDoesNot) {
  auto server = serve("idchange", policy_route(policy_body("testing", "idchange")));
  PolicyStore store(store_dir());
  const StsFacts first = evaluate("idchange", store);
  ASSERT_EQ(first.source, StsSource::Fetched) << first.fetch_error;
  EXPECT_EQ(first.policy_id, "first");
  EXPECT_EQ(evaluate("idchange", store).source, StsSource::Cached);
  EXPECT_EQ(server->request_count(k_policy_path), 1U);

  server->set_route(k_policy_path, policy_route(policy_body("enforce", "idchange")));
  set_txt("idchange", "v=STSv1; id=second");
  const StsFacts second = evaluate("idchange", store);
  ASSERT_EQ(second.source, StsSource::Fetched) << second.fetch_error;
  EXPECT_EQ(second.txt_id, "second");
  EXPECT_EQ(second.policy_id, "second");
  EXPECT_EQ(second.policy->mode, StsMode::Enforce);
  EXPECT_EQ(server->request_count(k_policy_path), 2U);
}

TEST_F(StsEngineRig, Rfc8461_5_RemovedTxtKeepsTheCachedPolicy) {
  auto server = serve("removed", policy_route(policy_body("enforce", "removed")));
  PolicyStore store(store_dir());
  ASSERT_EQ(evaluate("removed", store).source, StsSource::Fetched);
  set_txt("removed", "");
  const StsFacts facts = evaluate("removed", store);
  EXPECT_EQ(facts.txt_id, "");
  EXPECT_EQ(facts.txt_error, "no _mta-sts TXT record");
  ASSERT_EQ(facts.source, StsSource::Cached);
  EXPECT_EQ(facts.policy_id, "kept");
  EXPECT_EQ(facts.policy->mode, StsMode::Enforce);
  EXPECT_EQ(server->request_count(k_policy_path), 1U);
}

TEST_F(StsEngineRig, Rfc8461_5_1_FailedRefreshKeepsTheCachedPolicy) {
  auto server = serve("failcached", policy_route(policy_body("enforce", "failcached")));
  PolicyStore store(store_dir());
  StsEngineOptions refresh_always;
  refresh_always.refresh_after = seconds(0);
  const StsFacts first = evaluate("failcached", store, refresh_always);
  ASSERT_EQ(first.source, StsSource::Fetched) << first.fetch_error;
  server.reset(); // the policy server is gone: connections are refused
  const StsFacts facts = evaluate("failcached", store, refresh_always);
  ASSERT_EQ(facts.source, StsSource::Cached);
  EXPECT_EQ(facts.policy_id, "f1");
  EXPECT_EQ(facts.fetched, first.fetched);
  EXPECT_EQ(facts.fetch_error.rfind("HTTPS fetch of https://mta-sts.failcached.stscore.test/", 0), 0U)
      << facts.fetch_error;
}

TEST_F(StsEngineRig, Rfc8461_5_RestartReadsThePolicyFromDiskWithTheServerDown) {
  {
    auto server = serve("restart", policy_route(policy_body("enforce", "restart")));
    PolicyStore store(store_dir());
    ASSERT_EQ(evaluate("restart", store).source, StsSource::Fetched);
  }
  PolicyStore after_restart(store_dir());
  const StsFacts facts = evaluate("restart", after_restart);
  ASSERT_EQ(facts.source, StsSource::Cached) << facts.fetch_error << facts.store_error;
  EXPECT_EQ(facts.policy_id, "p1");
  EXPECT_EQ(facts.policy->mode, StsMode::Enforce);
  EXPECT_EQ(facts.fetch_error, "");
}

TEST_F(StsEngineRig, CorruptStoreFileIsReportedAndRefetched) {
  auto server = serve("corrupt", policy_route(policy_body("enforce", "corrupt")));
  {
    PolicyStore store(store_dir());
    ASSERT_EQ(evaluate("corrupt", store).source, StsSource::Fetched);
  }
  const std::string path = store_dir() + "/corrupt.stscore.test.json";
  ASSERT_TRUE(write_text_file(path, "{\"format\": 1, \"domain\": \"corrupt.stscore"));
  PolicyStore after_restart(store_dir());
  const StsFacts facts = evaluate("corrupt", after_restart);
  EXPECT_NE(facts.store_error.find(path), std::string::npos) << facts.store_error;
  ASSERT_EQ(facts.source, StsSource::Fetched) << facts.fetch_error;
  EXPECT_EQ(server->request_count(k_policy_path), 2U);
  PolicyStore repaired(store_dir());
  auto loaded = repaired.load("corrupt.stscore.test");
  ASSERT_TRUE(loaded && loaded->has_value()) << (loaded ? "" : loaded.error());
}

TEST_F(StsEngineRig, EvaluateAsyncOnTheDaemonsThreads) {
  auto server = serve("async", policy_route(policy_body("enforce", "async")));
  auto resolver = make_unbound_resolver(s_rig->resolver_config());
  ASSERT_TRUE(resolver) << resolver.error();
  boost::asio::io_context io;
  auto work = boost::asio::make_work_guard(io);
  std::thread io_thread([&io] { io.run(); });
  auto client = dane::sts::HttpsClient::create(io, fixture_root_ca());
  ASSERT_TRUE(client) << client.error();
  PolicyStore store(store_dir());
  // The daemon's way: the store's disk work on a thread of its own, never on the resolver's loop or io.
  boost::asio::thread_pool disk(1);
  std::atomic<int> disk_jobs{0};
  StsEngineOptions options;
  options.store_executor = [&disk, &disk_jobs](std::function<void()> job) {
    boost::asio::post(disk, [&disk_jobs, job = std::move(job)] {
      ++disk_jobs;
      job();
    });
  };
  dane::sts::StsEngine engine(**resolver, *client, store, options);
  std::promise<StsFacts> promise;
  engine.evaluate_async("ASYNC.stscore.test.", std::chrono::steady_clock::now() + seconds(10),
                        [&promise](StsFacts facts) { promise.set_value(std::move(facts)); });
  auto future = promise.get_future();
  const bool ready = future.wait_for(seconds(20)) == std::future_status::ready;
  work.reset();
  io.stop();
  io_thread.join();
  ASSERT_TRUE(ready);
  const StsFacts facts = future.get();
  EXPECT_EQ(facts.domain, "async.stscore.test");
  ASSERT_EQ(facts.source, StsSource::Fetched) << facts.fetch_error << facts.txt_error;
  EXPECT_EQ(facts.policy_id, "a1");
  EXPECT_EQ(disk_jobs.load(), 2); // the first load, and the save after the fetch
  disk.join();
  PolicyStore after(store_dir());
  auto saved = after.load("async.stscore.test");
  ASSERT_TRUE(saved && saved->has_value()) << (saved ? "" : saved.error());
}

} // namespace
} // namespace dane::test
