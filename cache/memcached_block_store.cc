// The shared tier over libmemcached (the only file that includes it).

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libmemcached/memcached.h>
#include <libmemcachedutil-1.0/pool.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <memory>
#include <mutex>
#include <string_view>
#include <thread>
#include <unordered_map>

#include "base/log.h"
#include "cache/shared_block_store.h"
#include "cache/shared_envelope.h"

namespace zm {
namespace {

using Clock = std::chrono::steady_clock;

// Blocks asked of one node in one request, at most (32 MiB of 1 MiB blocks).
constexpr size_t kManyBlocks = 32;

// Room left in an item for memcached's own header and the value's name.
constexpr uint64_t kItemOverheadBytes = 512;

// A node's value name for part `part` of the block under `key`. Every part
// is placed by the name of part 0 (its group), so one node holds all of a
// block: losing a node loses only its own share of blocks.
std::string ValueName(const BlockKey& key, uint32_t part) {
  char name[64];
  std::snprintf(name, sizeof name, "zm1:%016llx%016llx.%u", static_cast<unsigned long long>(key.hi),
                static_cast<unsigned long long>(key.lo), part);
  return name;
}

std::string KeyHex(const BlockKey& key) { return ValueName(key, 0).substr(4, 32); }

Status ApplyParameter(const std::string& name, const std::string& value, const std::string& where,
                      SharedCacheOptions* o) {
  auto integer = [&](long lo, long hi, auto* out) -> Status {
    char* end = nullptr;
    long v = std::strtol(value.c_str(), &end, 10);
    if (value.empty() || *end || v < lo || v > hi)
      return InvalidArgument(where + ": " + name + "='" + value + "' is not an integer in [" +
                             std::to_string(lo) + ", " + std::to_string(hi) + "]");
    *out = static_cast<std::remove_pointer_t<decltype(out)>>(v);
    return Status::Ok();
  };
  auto size = [&](uint64_t lo, uint64_t hi, uint64_t* out) -> Status {
    auto v = ParseSize(value);
    if (!v.ok() || *v < lo || *v > hi)
      return InvalidArgument(where + ": " + name + "='" + value + "' is not a size between " +
                             FormatSize(lo) + " and " + FormatSize(hi));
    *out = *v;
    return Status::Ok();
  };
  if (name == "timeout_ms") return integer(1, 60'000, &o->timeout_ms);
  if (name == "retry_s") return integer(1, 86'400, &o->retry_s);
  if (name == "connections") return integer(1, 1024, &o->connections);
  if (name == "expiry_s") return integer(0, 30 * 86'400, &o->expiry_s);
  if (name == "item_size") return size(4_KiB, 1_GiB, &o->item_bytes);
  if (name == "queue") return size(0, 64_GiB, &o->queue_bytes);
  if (name == "put_wait_ms") return integer(0, 60'000, &o->put_wait_ms);
  return InvalidArgument(where + ": unknown parameter '" + name +
                         "' (timeout_ms, retry_s, item_size, queue, put_wait_ms, connections, expiry_s)");
}

Status ParseNode(const std::string& text, const std::string& where, SharedCacheOptions::Node* node) {
  std::string host = text, port = "11211";
  if (text.starts_with("[")) {  // [v6]:port
    size_t close = text.find(']');
    if (close == std::string::npos) return InvalidArgument(where + ": '" + text + "' lacks its ']'");
    host = text.substr(1, close - 1);
    if (close + 1 < text.size()) {
      if (text[close + 1] != ':') return InvalidArgument(where + ": '" + text + "' is not HOST:PORT");
      port = text.substr(close + 2);
    }
  } else if (size_t colon = text.rfind(':'); colon != std::string::npos) {
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
  }
  char* end = nullptr;
  long p = std::strtol(port.c_str(), &end, 10);
  if (host.empty() || port.empty() || *end || p < 1 || p > 65535)
    return InvalidArgument(where + ": '" + text + "' is not HOST:PORT");
  node->host = host;
  node->port = static_cast<int>(p);
  return Status::Ok();
}

}  // namespace

Result<SharedCacheOptions> ParseSharedCacheUrl(const std::string& url, const std::string& option) {
  const std::string where = "option '" + option + "'";
  constexpr std::string_view kScheme = "memcached://";
  if (!url.starts_with(kScheme))
    return InvalidArgument(where + ": '" + url + "' is not memcached://HOST:PORT[,HOST:PORT...]");
  SharedCacheOptions o;
  std::string rest = url.substr(kScheme.size());
  std::string query;
  if (size_t q = rest.find('?'); q != std::string::npos) {
    query = rest.substr(q + 1);
    rest.resize(q);
  }
  if (!rest.empty() && rest.back() == '/') rest.pop_back();
  for (size_t at = 0; at <= rest.size();) {
    size_t comma = rest.find(',', at);
    if (comma == std::string::npos) comma = rest.size();
    SharedCacheOptions::Node node;
    ZM_RETURN_IF_ERROR(ParseNode(rest.substr(at, comma - at), where, &node));
    o.nodes.push_back(node);
    at = comma + 1;
  }
  for (size_t at = 0; at < query.size();) {
    size_t amp = query.find('&', at);
    if (amp == std::string::npos) amp = query.size();
    std::string pair = query.substr(at, amp - at);
    size_t eq = pair.find('=');
    if (eq == std::string::npos) return InvalidArgument(where + ": '" + pair + "' is not NAME=VALUE");
    ZM_RETURN_IF_ERROR(ApplyParameter(pair.substr(0, eq), pair.substr(eq + 1), where, &o));
    at = amp + 1;
  }
  if (o.item_bytes <= kEnvelopeHeaderBytes + kItemOverheadBytes)
    return InvalidArgument(where + ": item_size leaves no room for data");
  return o;
}

Result<std::string> ReadSharedCacheKey(const std::string& path) {
  const std::string where = "option '--shared-cache-key-file': " + path;
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return InvalidArgument(where + ": " + std::strerror(errno));
  struct stat sb;
  std::string key;
  Status st;
  if (::fstat(fd, &sb) != 0) {
    st = InvalidArgument(where + ": " + std::strerror(errno));
  } else if (!S_ISREG(sb.st_mode)) {
    st = InvalidArgument(where + ": not a regular file");
  } else if (sb.st_uid != ::geteuid()) {
    st = InvalidArgument(where + ": owned by uid " + std::to_string(sb.st_uid) +
                         ", not by this user; the key must be this user's own");
  } else if (sb.st_mode & 077) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(sb.st_mode & 07777));
    st = InvalidArgument(where + ": mode " + mode +
                         " lets others read the key; run chmod 600 on it");
  } else {
    char buf[4096];
    ssize_t n;
    while ((n = ::read(fd, buf, sizeof buf)) > 0 && key.size() < 1_MiB) key.append(buf, n);
    if (n < 0) st = InvalidArgument(where + ": " + std::strerror(errno));
    else if (key.size() < 16) st = InvalidArgument(where + ": holds " + std::to_string(key.size()) +
                                                   " bytes; a key needs at least 16 (e.g. head -c 32 /dev/urandom)");
  }
  ::close(fd);
  if (!st.ok()) return st;
  return key;
}

namespace {

// A value as libmemcached returns it (malloc'd), read in place.
struct Value {
  std::unique_ptr<char, decltype(&std::free)> data{nullptr, &std::free};
  size_t size = 0;
  std::string_view view() const { return {data.get(), size}; }
};

class MemcachedBlockStore final : public SharedBlockStore {
 public:
  explicit MemcachedBlockStore(const SharedCacheOptions& o)
      : options_(o),
        sealer_(o.mac_key),
        max_part_bytes_(o.item_bytes - kEnvelopeHeaderBytes - kItemOverheadBytes),
        writer_threads_(std::max(o.writer_threads, 2 * static_cast<int>(o.nodes.size()))) {
    for (const auto& n : o.nodes) nodes_.emplace_back(n.host + ":" + std::to_string(n.port));
  }

  ~MemcachedBlockStore() override {
    {
      std::lock_guard<std::mutex> lock(queue_mu_);
      stop_ = true;
    }
    queue_cv_.notify_all();
    for (auto& t : writers_) t.join();
    if (write_pool_) memcached_free(memcached_pool_destroy(write_pool_));
    if (read_pool_) memcached_free(memcached_pool_destroy(read_pool_));
  }

  // Readers and writers have pools of their own: a read waits at most
  // timeout_ms on a node, while a background write (a whole block) may
  // take longer on a busy node without the node being taken for dead.
  Status Start() {
    ZM_ASSIGN_OR_RETURN(read_pool_, MakePool(options_.timeout_ms, options_.connections));
    ZM_ASSIGN_OR_RETURN(write_pool_, MakePool(WriteTimeoutMs(), writer_threads_));
    for (int i = 0; i < writer_threads_; ++i) writers_.emplace_back([this] { WriterLoop(); });
    return Status::Ok();
  }

  Block Get(const BlockKey& key) override;
  std::vector<Block> GetMany(const std::vector<BlockKey>& keys) override;
  void Put(const BlockKey& key, Block data) override;
  void Flush() override;
  SharedCacheStats stats() const override;
  bool authenticated() const override { return sealer_.authenticated(); }
  std::string Describe() const override {
    std::string s = "shared cache: memcached";
    for (size_t i = 0; i < nodes_.size(); ++i) s += (i ? "," : " ") + nodes_[i].name;
    return s + (authenticated() ? " (values authenticated with HMAC-SHA256)"
                                : " (values NOT authenticated: --shared-cache-unauthenticated)");
  }

 private:
  // A node's health, shared by every connection: one failure anywhere
  // takes the node out for retry_s, for all (libmemcached's own failure
  // state is per connection, and its ejection would remap the node's keys
  // differently on each connection).
  struct Node {
    explicit Node(std::string n) : name(std::move(n)) {}
    std::string name;
    std::atomic<uint64_t> errors{0};
    std::atomic<int64_t> down_until_ms{0};  // steady clock; skipped before it
  };
  struct Pending {
    BlockKey key;
    Block data;
  };
  // A pooled connection, returned when it goes out of scope.
  class Conn {
   public:
    Conn(memcached_pool_st* pool, int wait_ms) : pool_(pool) {
      struct timespec wait = {wait_ms / 1000, (wait_ms % 1000) * 1'000'000L};
      memcached_return_t rc;
      mc_ = memcached_pool_fetch(pool, &wait, &rc);
    }
    ~Conn() {
      if (mc_) memcached_pool_release(pool_, mc_);
    }
    memcached_st* get() const { return mc_; }

   private:
    memcached_pool_st* pool_;
    memcached_st* mc_ = nullptr;
  };

  int WriteTimeoutMs() const { return std::max(10 * options_.timeout_ms, 1000); }

  Result<memcached_pool_st*> MakePool(int timeout_ms, int connections) const {
    memcached_st* master = memcached_create(nullptr);
    if (!master) return IoError("shared cache: cannot create a memcached client");
    for (const auto& n : options_.nodes)
      if (memcached_server_add(master, n.host.c_str(), static_cast<in_port_t>(n.port)) != MEMCACHED_SUCCESS) {
        memcached_free(master);
        return InvalidArgument("shared cache: cannot use node " + n.host + ":" + std::to_string(n.port));
      }
    Configure(master, timeout_ms);
    memcached_pool_st* pool = memcached_pool_create(master, 1, static_cast<uint32_t>(std::max(1, connections)));
    if (!pool) {
      memcached_free(master);
      return IoError("shared cache: cannot create a connection pool");
    }
    return pool;
  }

  // Ketama over the nodes, whose keys stay put when one is down (its share
  // is then a miss, not moved); short timeouts.
  static void Configure(memcached_st* mc, int timeout_ms) {
    const uint64_t ms = static_cast<uint64_t>(timeout_ms);
    memcached_behavior_set(mc, MEMCACHED_BEHAVIOR_KETAMA_WEIGHTED, 1);
    memcached_behavior_set(mc, MEMCACHED_BEHAVIOR_NO_BLOCK, 1);
    memcached_behavior_set(mc, MEMCACHED_BEHAVIOR_TCP_NODELAY, 1);
    memcached_behavior_set(mc, MEMCACHED_BEHAVIOR_CONNECT_TIMEOUT, ms);
    memcached_behavior_set(mc, MEMCACHED_BEHAVIOR_POLL_TIMEOUT, ms);
    memcached_behavior_set(mc, MEMCACHED_BEHAVIOR_SND_TIMEOUT, ms * 1000);  // microseconds
    memcached_behavior_set(mc, MEMCACHED_BEHAVIOR_RCV_TIMEOUT, ms * 1000);
    memcached_behavior_set(mc, MEMCACHED_BEHAVIOR_REMOVE_FAILED_SERVERS, 0);
    // Our node table decides when a node is tried again; the connection's
    // own back-off must not outlast it.
    memcached_behavior_set(mc, MEMCACHED_BEHAVIOR_RETRY_TIMEOUT, 1);
  }

  static int64_t NowMs() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now().time_since_epoch()).count();
  }

  // The node the values of `group` are held on, or null.
  Node* NodeOf(memcached_st* mc, const std::string& group) {
    memcached_return_t rc;
    const memcached_instance_st* inst = memcached_server_by_key(mc, group.data(), group.size(), &rc);
    if (!inst) return nullptr;
    std::string id = std::string(memcached_server_name(inst)) + ":" + std::to_string(memcached_server_port(inst));
    for (Node& n : nodes_)
      if (n.name == id) return &n;
    return nullptr;
  }

  static bool Skipped(const Node* node) { return node && node->down_until_ms.load() > NowMs(); }

  void NodeFailed(Node* node, memcached_st* mc, memcached_return_t rc) {
    errors_.fetch_add(1, std::memory_order_relaxed);
    if (!node) return;
    node->errors.fetch_add(1, std::memory_order_relaxed);
    // (libmemcached reports even a first failure to connect as "temporarily
    // disabled", so every failure counts.)
    int64_t was = node->down_until_ms.exchange(NowMs() + int64_t{options_.retry_s} * 1000);
    if (was < NowMs())
      LogWarning("shared cache: node " + node->name + ": " + memcached_strerror(mc, rc) +
                 "; skipped for " + std::to_string(options_.retry_s) + " s");
  }

  // Sends `node` (the one holding `group`) one request for `names`; the
  // answers wait on the connection for CollectValues. False on a node error.
  bool SendGets(memcached_st* mc, Node* node, const std::string& group, const std::vector<std::string>& names) {
    std::vector<const char*> name_ptrs;
    std::vector<size_t> name_lengths;
    for (const std::string& name : names) {
      name_ptrs.push_back(name.data());
      name_lengths.push_back(name.size());
    }
    memcached_return_t rc = memcached_mget_by_key(mc, group.data(), group.size(), name_ptrs.data(),
                                                  name_lengths.data(), names.size());
    if (rc == MEMCACHED_SUCCESS) return true;
    NodeFailed(node, mc, rc);
    return false;
  }

  // Reads the answers to SendGets' request for `names`: the value of
  // names[i], if the node holds it, lands in (*values)[i]. False on a node
  // error.
  bool CollectValues(memcached_st* mc, Node* node, const std::vector<std::string>& names,
                     std::vector<Value>* values) {
    std::unordered_map<std::string_view, size_t> index;
    for (size_t i = 0; i < names.size(); ++i) index.emplace(names[i], i);
    values->resize(names.size());
    char name[MEMCACHED_MAX_KEY];
    memcached_return_t rc;
    while (true) {
      size_t name_length = 0, size = 0;
      uint32_t flags = 0;
      char* v = memcached_fetch(mc, name, &name_length, &size, &flags, &rc);
      if (!v) break;
      Value value;
      value.data.reset(v);
      value.size = size;
      auto it = index.find(std::string_view(name, name_length));
      if (it != index.end()) (*values)[it->second] = std::move(value);
    }
    if (rc == MEMCACHED_END || rc == MEMCACHED_NOTFOUND || rc == MEMCACHED_SUCCESS) return true;
    NodeFailed(node, mc, rc);
    return false;
  }

  bool FetchValues(memcached_st* mc, Node* node, const std::string& group, const std::vector<std::string>& names,
                   std::vector<Value>* values) {
    return SendGets(mc, node, group, names) && CollectValues(mc, node, names, values);
  }

  // Parts [first, last] of the block under `key` into (*values)[part].
  bool FetchParts(memcached_st* mc, Node* node, const BlockKey& key, uint32_t first, uint32_t last,
                  std::vector<Value>* values) {
    std::vector<std::string> names;
    for (uint32_t i = first; i <= last; ++i) names.push_back(ValueName(key, i));
    std::vector<Value> got;
    if (!FetchValues(mc, node, ValueName(key, 0), names, &got)) return false;
    for (uint32_t i = first; i <= last; ++i) (*values)[i] = std::move(got[i - first]);
    return true;
  }

  Block Assemble(memcached_st* mc, Node* node, const BlockKey& key, std::vector<Value> values);

  // One multi-get of GetMany: parts 0 and 1 of the blocks keys[index[a..b)]
  // held by `node`.
  struct BatchRequest {
    Node* node;
    size_t a, b;
    std::vector<std::string> names;
  };
  // Sends each request of `round` on its connection, then reads the
  // answers one connection after the other; blocks found land in `out`.
  void AskRound(const std::vector<BatchRequest>& round, const std::vector<memcached_st*>& on,
                const std::vector<BlockKey>& keys, const std::vector<size_t>& index, std::vector<Block>* out);

  void Rejected(const BlockKey& key, uint32_t part, EnvelopeFault fault) {
    uint64_t n = rejected_.fetch_add(1, std::memory_order_relaxed) + 1;
    // Logged at most once a minute: a poisoned node would flood the log.
    int64_t now = NowMs(), last = last_reject_log_ms_.load();
    if (now - last >= 60'000 && last_reject_log_ms_.compare_exchange_strong(last, now))
      LogWarning("shared cache: refused the value of block " + KeyHex(key) + " part " +
                 std::to_string(part) + " (" + EnvelopeFaultName(fault) + "); " + std::to_string(n) +
                 " refused so far; it is fetched from the origin and stored again");
  }

  Block Miss() {
    misses_.fetch_add(1, std::memory_order_relaxed);
    return nullptr;
  }

  void WriterLoop();
  void Store(memcached_st* mc, const Pending& p);

  const SharedCacheOptions options_;
  const EnvelopeSealer sealer_;
  const uint64_t max_part_bytes_;
  const int writer_threads_;
  std::deque<Node> nodes_;  // fixed after construction
  memcached_pool_st* read_pool_ = nullptr;
  memcached_pool_st* write_pool_ = nullptr;

  std::atomic<uint64_t> hits_{0}, hit_bytes_{0}, misses_{0}, errors_{0}, rejected_{0};
  std::atomic<uint64_t> puts_{0}, put_bytes_{0}, queue_drops_{0};
  std::atomic<int64_t> last_reject_log_ms_{-60'000};

  std::mutex queue_mu_;  // guards the fields below
  std::condition_variable queue_cv_;  // the queue or `busy_` changed, or stop_
  std::deque<Pending> queue_;
  uint64_t queued_bytes_ = 0;
  int busy_ = 0;  // writers storing a block
  // A Put's wait for room ran out and no writer has finished a block since:
  // Puts do not wait again until one does.
  bool writers_stalled_ = false;
  bool stop_ = false;
  std::vector<std::thread> writers_;
};

Block MemcachedBlockStore::Get(const BlockKey& key) {
  Conn conn(read_pool_, options_.timeout_ms);
  if (!conn.get()) {
    errors_.fetch_add(1, std::memory_order_relaxed);
    return nullptr;
  }
  Node* node = NodeOf(conn.get(), ValueName(key, 0));
  if (Skipped(node)) return Miss();
  // Parts 0 and 1 in one request: with the default sizes a full block is
  // two values, and asking for an absent part 1 costs nothing more.
  std::vector<Value> values(2);
  if (!FetchParts(conn.get(), node, key, 0, 1, &values)) return nullptr;
  return Assemble(conn.get(), node, key, std::move(values));
}

// Parts 0 and 1 of every block a node holds in one request per node (at
// most kManyBlocks blocks each), so a batch costs a round trip per node,
// not one per block; blocks of more parts ask for the rest on their own.
// The nodes are asked at once, each on a pooled connection of its own,
// before any answer is read: a batch waits for the slowest node, not for
// the sum of them.
std::vector<Block> MemcachedBlockStore::GetMany(const std::vector<BlockKey>& keys) {
  std::vector<Block> out(keys.size());
  if (keys.size() == 1) out[0] = Get(keys[0]);
  if (keys.size() <= 1) return out;
  Conn conn(read_pool_, options_.timeout_ms);
  if (!conn.get()) {
    errors_.fetch_add(1, std::memory_order_relaxed);
    return out;
  }
  // The keys by node (stable: a node's keys keep their order), then cut
  // into requests of at most kManyBlocks blocks.
  std::vector<std::pair<Node*, size_t>> by_node;
  for (size_t i = 0; i < keys.size(); ++i) {
    Node* node = NodeOf(conn.get(), ValueName(keys[i], 0));
    if (Skipped(node)) Miss();
    else by_node.emplace_back(node, i);
  }
  std::stable_sort(by_node.begin(), by_node.end(),
                   [](const auto& a, const auto& b) { return std::less<Node*>()(a.first, b.first); });
  std::vector<size_t> index;
  for (const auto& [node, i] : by_node) index.push_back(i);
  std::vector<BatchRequest> pending;
  for (size_t a = 0; a < by_node.size();) {
    size_t b = a;
    while (b < by_node.size() && by_node[b].first == by_node[a].first && b - a < kManyBlocks) ++b;
    BatchRequest r{by_node[a].first, a, b, {}};
    for (size_t k = a; k < b; ++k) {
      r.names.push_back(ValueName(keys[index[k]], 0));
      r.names.push_back(ValueName(keys[index[k]], 1));
    }
    pending.push_back(std::move(r));
    a = b;
  }
  // Rounds of at most one request per node, each on its own connection (the
  // first on `conn`; a request that finds no free connection waits a round).
  while (!pending.empty()) {
    std::vector<BatchRequest> round, later;
    std::vector<std::unique_ptr<Conn>> extra;
    std::vector<memcached_st*> on;
    for (BatchRequest& r : pending) {
      const bool node_taken =
          std::any_of(round.begin(), round.end(), [&](const BatchRequest& q) { return q.node == r.node; });
      memcached_st* mc = nullptr;
      if (!node_taken && round.empty()) {
        mc = conn.get();
      } else if (!node_taken) {
        auto c = std::make_unique<Conn>(read_pool_, 0);
        if (c->get()) {
          mc = c->get();
          extra.push_back(std::move(c));
        }
      }
      if (!mc) {
        later.push_back(std::move(r));
        continue;
      }
      round.push_back(std::move(r));
      on.push_back(mc);
    }
    AskRound(round, on, keys, index, &out);
    pending = std::move(later);
  }
  return out;
}

void MemcachedBlockStore::AskRound(const std::vector<BatchRequest>& round, const std::vector<memcached_st*>& on,
                                   const std::vector<BlockKey>& keys, const std::vector<size_t>& index,
                                   std::vector<Block>* out) {
  std::vector<bool> sent(round.size(), false);
  for (size_t j = 0; j < round.size(); ++j) {
    const BatchRequest& r = round[j];
    if (Skipped(r.node)) {  // failed on an earlier request of this batch
      for (size_t k = r.a; k < r.b; ++k) Miss();
      continue;
    }
    sent[j] = SendGets(on[j], r.node, r.names[0], r.names);
  }
  for (size_t j = 0; j < round.size(); ++j) {
    const BatchRequest& r = round[j];
    std::vector<Value> values;
    if (!sent[j] || !CollectValues(on[j], r.node, r.names, &values)) continue;
    for (size_t k = r.a; k < r.b; ++k) {
      std::vector<Value> parts(2);
      parts[0] = std::move(values[2 * (k - r.a)]);
      parts[1] = std::move(values[2 * (k - r.a) + 1]);
      (*out)[index[k]] = Assemble(on[j], r.node, keys[index[k]], std::move(parts));
    }
  }
}

// Part 0 says how many parts there are; all are on the same node. Each is
// opened in place; only the joined block is a copy.
Block MemcachedBlockStore::Assemble(memcached_st* mc, Node* node, const BlockKey& key, std::vector<Value> values) {
  if (!values[0].data) return Miss();
  std::vector<EnvelopePart> parts(1);
  if (EnvelopeFault f = sealer_.Open(key, 0, values[0].view(), &parts[0]); f != EnvelopeFault::kNone) {
    Rejected(key, 0, f);
    return nullptr;
  }
  const uint32_t count = parts[0].parts;
  values.resize(std::max<uint32_t>(count, 2));
  parts.resize(count);
  if (count > 2 && !FetchParts(mc, node, key, 2, count - 1, &values)) return nullptr;
  for (uint32_t i = 1; i < count; ++i) {
    if (!values[i].data) return Miss();  // evicted apart from its siblings: the block is gone
    if (EnvelopeFault f = sealer_.Open(key, i, values[i].view(), &parts[i]); f != EnvelopeFault::kNone) {
      Rejected(key, i, f);
      return nullptr;
    }
  }
  std::string block;
  if (EnvelopeFault f = JoinParts(parts, &block); f != EnvelopeFault::kNone) {
    Rejected(key, 0, f);
    return nullptr;
  }
  hits_.fetch_add(1, std::memory_order_relaxed);
  hit_bytes_.fetch_add(block.size(), std::memory_order_relaxed);
  return std::make_shared<const std::string>(std::move(block));
}

// A reader that outruns the writers (many readers prefetching from a fast
// origin) would otherwise lose the blocks past the queue's bound: host B
// then fetches them from the origin again. A short wait lets the writers
// catch up; a stalled writer (a node slow to answer) costs one wait only.
void MemcachedBlockStore::Put(const BlockKey& key, Block data) {
  if (!data) return;
  {
    std::unique_lock<std::mutex> lock(queue_mu_);
    auto fits = [&] { return stop_ || queued_bytes_ + data->size() <= options_.queue_bytes; };
    if (!fits() && !writers_stalled_ && options_.put_wait_ms > 0 && data->size() <= options_.queue_bytes &&
        !queue_cv_.wait_for(lock, std::chrono::milliseconds(options_.put_wait_ms), fits))
      writers_stalled_ = true;
    if (stop_ || !fits()) {
      queue_drops_.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    queued_bytes_ += data->size();
    queue_.push_back(Pending{key, std::move(data)});
  }
  queue_cv_.notify_all();  // (Puts wait on it too: one wake-up could miss the writers)
}

void MemcachedBlockStore::Flush() {
  std::unique_lock<std::mutex> lock(queue_mu_);
  queue_cv_.wait(lock, [this] { return stop_ || (queue_.empty() && busy_ == 0); });
}

void MemcachedBlockStore::WriterLoop() {
  while (true) {
    Pending p;
    {
      std::unique_lock<std::mutex> lock(queue_mu_);
      queue_cv_.wait(lock, [this] { return stop_ || !queue_.empty(); });
      if (stop_) return;  // queued blocks are dropped: a cache may forget
      p = std::move(queue_.front());
      queue_.pop_front();
      queued_bytes_ -= p.data->size();
      ++busy_;
    }
    queue_cv_.notify_all();  // room for a waiting Put
    {
      Conn conn(write_pool_, WriteTimeoutMs());
      if (conn.get()) Store(conn.get(), p);
      else errors_.fetch_add(1, std::memory_order_relaxed);
    }
    {
      std::lock_guard<std::mutex> lock(queue_mu_);
      --busy_;
      writers_stalled_ = false;
    }
    queue_cv_.notify_all();
  }
}

// Later parts first, part 0 last: a reader finds part 0 only once the rest
// can be there too. A block for a node that is down is not stored: it is
// dropped, and counted as such (every queued block ends as a put, a drop or
// an error).
void MemcachedBlockStore::Store(memcached_st* mc, const Pending& p) {
  const std::string group = ValueName(p.key, 0);
  Node* node = NodeOf(mc, group);
  if (Skipped(node)) {
    queue_drops_.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  std::vector<std::string> values = sealer_.Seal(p.key, *p.data, max_part_bytes_);
  for (size_t i = values.size(); i-- > 0;) {
    const std::string name = ValueName(p.key, static_cast<uint32_t>(i));
    memcached_return_t rc =
        memcached_set_by_key(mc, group.data(), group.size(), name.data(), name.size(), values[i].data(),
                             values[i].size(), static_cast<time_t>(options_.expiry_s), 0);
    if (rc != MEMCACHED_SUCCESS) {
      NodeFailed(node, mc, rc);
      return;
    }
  }
  puts_.fetch_add(1, std::memory_order_relaxed);
  put_bytes_.fetch_add(p.data->size(), std::memory_order_relaxed);
}

SharedCacheStats MemcachedBlockStore::stats() const {
  SharedCacheStats s;
  s.hits = hits_.load();
  s.hit_bytes = hit_bytes_.load();
  s.misses = misses_.load();
  s.errors = errors_.load();
  s.rejected = rejected_.load();
  s.puts = puts_.load();
  s.put_bytes = put_bytes_.load();
  s.queue_drops = queue_drops_.load();
  const int64_t now = NowMs();
  for (const Node& n : nodes_) s.nodes.push_back({n.name, n.down_until_ms.load() <= now, n.errors.load()});
  return s;
}

}  // namespace

namespace {

// The words of libmemcached's server error ("(0x55..) CONNECTION
// FAILURE(Connection refused),  host: h:p -> ./src/...:145"), without the
// pointer, the host (named already) and the source line.
std::string ServerErrorText(std::string_view e) {
  if (e.starts_with("(0x")) {
    const size_t close = e.find(") ");
    if (close != std::string_view::npos) e.remove_prefix(close + 2);
  }
  for (std::string_view tail : {",  host:", ", host:", " -> "})
    if (const size_t at = e.find(tail); at != std::string_view::npos) e = e.substr(0, at);
  return std::string(e);
}

}  // namespace

std::vector<SharedNodeReport> ReportSharedNodes(const SharedCacheOptions& options) {
  const uint64_t wait_ms = static_cast<uint64_t>(std::max(options.timeout_ms, 1000));
  std::vector<SharedNodeReport> out;
  for (const auto& n : options.nodes) {
    SharedNodeReport r;
    r.name = n.host + ":" + std::to_string(n.port);
    // A client of its own per node: one node's failure says nothing of the
    // others.
    memcached_st* mc = memcached_create(nullptr);
    if (!mc) {
      r.error = "cannot create a memcached client";
      out.push_back(std::move(r));
      continue;
    }
    memcached_behavior_set(mc, MEMCACHED_BEHAVIOR_CONNECT_TIMEOUT, wait_ms);
    memcached_behavior_set(mc, MEMCACHED_BEHAVIOR_POLL_TIMEOUT, wait_ms);
    memcached_behavior_set(mc, MEMCACHED_BEHAVIOR_RCV_TIMEOUT, wait_ms * 1000);
    memcached_behavior_set(mc, MEMCACHED_BEHAVIOR_SND_TIMEOUT, wait_ms * 1000);
    memcached_return_t rc = memcached_server_add(mc, n.host.c_str(), static_cast<in_port_t>(n.port));
    memcached_stat_st* st = rc == MEMCACHED_SUCCESS ? memcached_stat(mc, nullptr, &rc) : nullptr;
    if (!st || rc != MEMCACHED_SUCCESS) {
      // The node's own error says more than the call's "SOME ERRORS WERE
      // REPORTED".
      const memcached_instance_st* inst = memcached_server_instance_by_position(mc, 0);
      const char* why = inst ? memcached_server_error(inst) : nullptr;
      r.error = why && *why ? ServerErrorText(why) : memcached_strerror(mc, rc);
    } else {
      r.up = true;
      auto value = [&](const char* name) -> uint64_t {
        memcached_return_t vrc;
        char* v = memcached_stat_get_value(mc, st, name, &vrc);
        if (!v) return 0;
        const uint64_t x = std::strtoull(v, nullptr, 10);
        std::free(v);
        return x;
      };
      r.items = value("curr_items");
      r.bytes = value("bytes");
      r.limit_bytes = value("limit_maxbytes");
      r.evictions = value("evictions");
      r.get_hits = value("get_hits");
      r.get_misses = value("get_misses");
      r.uptime_s = value("uptime");
    }
    if (st) memcached_stat_free(mc, st);
    memcached_free(mc);
    out.push_back(std::move(r));
  }
  return out;
}

Result<std::unique_ptr<SharedBlockStore>> OpenMemcachedBlockStore(const SharedCacheOptions& options) {
  if (options.nodes.empty()) return InvalidArgument("shared cache: no nodes");
  auto store = std::make_unique<MemcachedBlockStore>(options);
  ZM_RETURN_IF_ERROR(store->Start());
  return std::unique_ptr<SharedBlockStore>(std::move(store));
}

}  // namespace zm
