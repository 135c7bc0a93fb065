#include "app/scan_worker.h"

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "cache/block_store.h"
#include "cache/read_through.h"
#include "tests/unit/fake_origin.h"

namespace zm {
namespace {

using testing::FakeOrigin;

// What a scan does with the read-ahead: before each input, Before; the
// input read whole (its size asked of the cache, as ScanOne does); then
// After. Every input's size is asked once and its bytes fetched once: the
// input being scanned is not prefetched, a prefetch planned before a drop
// does not fetch it again, and a demand read that just missed a finished
// prefetch does not fetch it twice. The fake answers at once, so those
// races happen often; eight rounds make them likelier still.
TEST(RemoteReadAhead, EveryInputSizedOnceAndFetchedOnce) {
  for (int round = 0; round < 8; ++round) {
    FakeOrigin origin;
    std::vector<std::string> inputs;
    for (int i = 0; i < 64; ++i) {
      inputs.push_back("http://h/f" + std::to_string(i) + ".nc");
      origin.Set(inputs.back(), std::string(10'000 + i, static_cast<char>('a' + i % 26)));
    }
    auto memory = NewMemoryBlockStore(2 * RemoteReadAhead::kWindowBytes);
    ReadThroughOptions ro;
    ro.prefetch_threads = 4;
    ro.validate = true;
    ReadThroughCache cache(&origin, memory.get(), nullptr, ro);
    {
      RemoteReadAhead ahead(inputs, &cache);
      for (size_t i = 0; i < inputs.size(); ++i) {
        ahead.Before(i);
        auto size = cache.Size(inputs[i]);
        ASSERT_TRUE(size.ok()) << size.status().ToString();
        auto bytes = cache.Read(inputs[i], ByteRange{0, *size}, 0, *size);
        ASSERT_TRUE(bytes.ok()) << bytes.status().ToString();
        EXPECT_EQ(*bytes, std::string(10'000 + i, static_cast<char>('a' + i % 26)));
        ahead.After(i);
      }
    }
    cache.WaitForPrefetches();
    EXPECT_EQ(origin.size_calls(), inputs.size()) << "round " << round;
    std::map<std::string, int> reads;
    for (const auto& r : origin.requests()) ++reads[r.url];
    for (const std::string& url : inputs) EXPECT_EQ(reads[url], 1) << url << ", round " << round;
  }
}

// Local inputs are neither sized nor fetched ahead.
TEST(RemoteReadAhead, LocalInputsAreLeftAlone) {
  FakeOrigin origin;
  ReadThroughCache cache(&origin, nullptr, nullptr, ReadThroughOptions{});
  const std::vector<std::string> inputs = {"/data/a.nc", "file:///data/b.nc"};
  RemoteReadAhead ahead(inputs, &cache);
  ahead.Before(0);
  ahead.After(0);
  ahead.Before(1);
  ahead.After(1);
  EXPECT_EQ(ahead.size(0), 0u);
  EXPECT_EQ(ahead.size(1), 0u);
  cache.WaitForPrefetches();
  EXPECT_EQ(origin.size_calls(), 0u);
  EXPECT_EQ(origin.request_count(), 0u);
}

}  // namespace
}  // namespace zm
