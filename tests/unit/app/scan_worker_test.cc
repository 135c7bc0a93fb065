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

// What a scan does with the read-ahead: before each input, Before (which
// says its size); the input read whole; then After. Every input costs one
// request, which brings its size and its bytes (Origin::ReadHead): no
// size is asked on its own, the input being scanned is not prefetched, a
// prefetch planned before a drop does not fetch it again, and a demand
// read that just missed a finished prefetch does not fetch it twice. The
// fake answers at once, so those races happen often; eight rounds make
// them likelier still. Inputs whose sizes are given (a listing's) are not
// asked about at all.
TEST(RemoteReadAhead, EveryInputFetchedOnceWithItsSize) {
  for (bool sizes_given : {false, true}) {
    for (int round = 0; round < 8; ++round) {
      FakeOrigin origin;
      std::vector<std::string> inputs;
      std::vector<uint64_t> sizes;
      for (int i = 0; i < 64; ++i) {
        inputs.push_back("http://h/f" + std::to_string(i) + ".nc");
        origin.Set(inputs.back(), std::string(10'000 + i, static_cast<char>('a' + i % 26)));
        sizes.push_back(sizes_given ? 10'000 + i : 0);
      }
      auto memory = NewMemoryBlockStore(2 * RemoteReadAhead::kWindowBytes);
      ReadThroughOptions ro;
      ro.prefetch_threads = 4;
      ReadThroughCache cache(&origin, memory.get(), nullptr, ro);
      {
        RemoteReadAhead ahead(inputs, &cache, sizes);
        for (size_t i = 0; i < inputs.size(); ++i) {
          auto size = ahead.Before(i);
          ASSERT_TRUE(size.ok()) << size.status().ToString();
          ASSERT_EQ(*size, 10'000 + i);
          auto bytes = cache.Read(inputs[i], ByteRange{0, *size}, 0, *size);
          ASSERT_TRUE(bytes.ok()) << bytes.status().ToString();
          EXPECT_EQ(*bytes, std::string(10'000 + i, static_cast<char>('a' + i % 26)));
          ahead.After(i);
        }
      }
      cache.WaitForPrefetches();
      EXPECT_EQ(origin.size_calls(), 0u) << "round " << round;
      EXPECT_EQ(origin.head_calls(), sizes_given ? 0u : inputs.size()) << "round " << round;
      std::map<std::string, int> reads;
      for (const auto& r : origin.requests()) ++reads[r.url];
      for (const std::string& url : inputs) EXPECT_EQ(reads[url], 1) << url << ", round " << round;
    }
  }
}

// An input that cannot be read fails Before with the origin's error.
TEST(RemoteReadAhead, AMissingInputFailsBefore) {
  FakeOrigin origin;
  ReadThroughCache cache(&origin, nullptr, nullptr, ReadThroughOptions{});
  RemoteReadAhead ahead({"http://h/missing.nc"}, &cache);
  auto size = ahead.Before(0);
  ASSERT_FALSE(size.ok());
  EXPECT_EQ(size.status().code(), Code::kNotFound);
}

// Local inputs are neither sized nor fetched ahead.
TEST(RemoteReadAhead, LocalInputsAreLeftAlone) {
  FakeOrigin origin;
  ReadThroughCache cache(&origin, nullptr, nullptr, ReadThroughOptions{});
  const std::vector<std::string> inputs = {"/data/a.nc", "file:///data/b.nc"};
  RemoteReadAhead ahead(inputs, &cache);
  for (size_t i = 0; i < inputs.size(); ++i) {
    auto size = ahead.Before(i);
    ASSERT_TRUE(size.ok());
    EXPECT_EQ(*size, 0u);
    ahead.After(i);
  }
  cache.WaitForPrefetches();
  EXPECT_EQ(origin.size_calls(), 0u);
  EXPECT_EQ(origin.request_count(), 0u);
}

}  // namespace
}  // namespace zm
