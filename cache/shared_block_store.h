// The shared block tier: blocks kept on memcached nodes that many hosts
// read and fill (--shared-cache memcached://HOST:PORT[,HOST:PORT...]).
//
// Keys are spread over the nodes by consistent hashing (ketama), so losing
// or adding a node moves only its share. Every value is an envelope
// (cache/shared_envelope.h): a value that fails any check is a miss,
// counted as rejected and logged (at most once a minute); the read-through
// cache then fetches the block from the origin and puts it back, which
// overwrites the bad value. A node that errs or does not answer within
// `timeout_ms` is skipped for `retry_s` seconds by every connection (its
// share of blocks is a miss meanwhile, neither read nor written; the other
// nodes keep theirs), then tried again. Get waits at most about one timeout per part;
// GetMany asks each node for its share of a batch in one request (32 blocks
// at most), so a batch waits about one timeout per node rather than per block;
// Put only queues: a background writer stores the block. A Put that does
// not fit the bounded queue waits up to `put_wait_ms` for the writers to
// make room (they keep pace unless a node stalls them), and is dropped and
// counted if there is still none; while the writers have not finished a
// block since such a wait ran out, full-queue Puts are dropped at once.
//
// Thread-safety: safe for concurrent use (a pool of connections).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "base/status.h"
#include "base/units.h"
#include "cache/block_store.h"

namespace zm {

struct SharedCacheOptions {
  struct Node {
    std::string host;
    int port = 11211;
  };
  std::vector<Node> nodes;
  // Per operation on a node: connect, and each wait to send or receive.
  int timeout_ms = 50;
  // A node that failed is skipped this long, then tried again.
  int retry_s = 10;
  // The largest value a node stores (memcached -I, 1 MiB by default).
  // Blocks whose envelope would be larger are cut into parts.
  uint64_t item_bytes = 1_MiB;
  // Bytes of blocks queued for the writer before new Puts are dropped.
  uint64_t queue_bytes = 128_MiB;
  // The longest a Put waits for room in a full queue; 0: drop at once.
  int put_wait_ms = 500;
  // Background writers (each with its connection): at least this many, and
  // two per node.
  int writer_threads = 4;
  // Connections kept for readers and writers, at most.
  int connections = 64;
  // Seconds a value lives on the node; 0: until memcached evicts it.
  uint32_t expiry_s = 0;
  // The HMAC key; empty: values are not authenticated (only checksummed).
  std::string mac_key;
};

// Parses "memcached://HOST:PORT[,HOST:PORT...][?NAME=VALUE&...]" with names
// timeout_ms, retry_s, item_size (a size: "1M"), queue (a size),
// put_wait_ms, connections, expiry_s. Errors are one line naming `option`.
Result<SharedCacheOptions> ParseSharedCacheUrl(const std::string& url, const std::string& option);

// Reads the HMAC key from `path`: a regular file owned by this user with
// no permission for group or others (mode 0600 or stricter), holding at
// least 16 bytes (taken as they are). Errors are one line saying what to fix.
Result<std::string> ReadSharedCacheKey(const std::string& path);

struct SharedCacheStats {
  uint64_t hits = 0, hit_bytes = 0;
  uint64_t misses = 0;
  uint64_t errors = 0;    // node errors and timeouts
  uint64_t rejected = 0;  // values that failed their envelope checks
  uint64_t puts = 0, put_bytes = 0;
  uint64_t queue_drops = 0;  // Puts not stored: the queue was full, or their node down
  struct NodeState {
    std::string name;  // host:port
    bool up = true;    // false: skipped after a failure, until retried
    uint64_t errors = 0;
  };
  std::vector<NodeState> nodes;
};

class SharedBlockStore : public BlockStore {
 public:
  virtual SharedCacheStats stats() const = 0;
  virtual bool authenticated() const = 0;
  // One line for the log: the nodes and whether values are authenticated.
  virtual std::string Describe() const = 0;
};

// What a node says of itself (memcached's `stats`), for `zarrmount cache
// stats --shared-cache`.
struct SharedNodeReport {
  std::string name;   // host:port
  bool up = false;
  std::string error;  // why not, when down
  uint64_t items = 0;          // values held (blocks and their parts, and others' items)
  uint64_t bytes = 0;          // bytes they take
  uint64_t limit_bytes = 0;    // memcached -m
  uint64_t evictions = 0;      // values evicted for room since it started
  uint64_t get_hits = 0, get_misses = 0;
  uint64_t uptime_s = 0;
};

// Asks each node of `options` in turn, on a connection of its own, waiting
// at most max(timeout_ms, 1 s) per step: a node down or silent is reported
// down with why, and costs about that much.
std::vector<SharedNodeReport> ReportSharedNodes(const SharedCacheOptions& options);

// Connects lazily: nodes that are down cost misses, not an error here.
Result<std::unique_ptr<SharedBlockStore>> OpenMemcachedBlockStore(const SharedCacheOptions& options);

}  // namespace zm
