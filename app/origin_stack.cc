// The origin and the memory tier of a stack (app/stack.h): how URLs are
// reached, for the daemon, the commands and the scan worker alike.

#include <sys/stat.h>

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "app/daemon.h"
#include "app/stack.h"
#include "io/cloud.h"

namespace zm {
namespace {

// Where local references may read, links resolved (the file origin
// compares resolved paths): the directory of a local reference file, the
// --local-root directories, and the local targets of --map rules (which the
// user named as explicitly as a --local-root).
Result<std::vector<std::string>> LocalRoots(const Options& opt) {
  std::vector<std::string> roots;
  char real[PATH_MAX];
  auto local = [](const std::string& s) -> std::optional<std::string> {
    if (s.starts_with("file://")) return s.substr(7);
    if (s.find("://") == std::string::npos) return s;
    return std::nullopt;
  };
  auto source = local(opt.source);
  if (source && !source->empty() && ::realpath(source->c_str(), real)) {
    std::string dir = real;
    dir.erase(dir.find_last_of('/'));
    roots.push_back(dir.empty() ? "/" : dir);
  }
  for (const std::string& root : opt.local_roots) {
    struct stat sb;
    if (!::realpath(root.c_str(), real) || ::stat(real, &sb) != 0)
      return InvalidArgument("option '--local-root': " + root + ": " + std::strerror(errno));
    if (!S_ISDIR(sb.st_mode))
      return InvalidArgument("option '--local-root': " + root + ": not a directory");
    roots.push_back(real);
  }
  for (const std::string& rule : opt.maps) {
    auto target = local(rule.substr(rule.find('=') + 1));
    if (!target || target->empty()) continue;
    // "=/mirror/" maps into that directory, "=/mirror/file_" next to it.
    std::string dir = target->substr(0, target->find_last_of('/') + 1);
    if (!dir.empty() && ::realpath(dir.c_str(), real)) roots.push_back(real);
  }
  return roots;
}

}  // namespace

Status BuildOriginAndMemory(const Options& opt, long receive_buffer_bytes, Stack* stack) {
  Stack& s = *stack;
  HttpOptions http;
  http.connect_timeout_ms = opt.connect_timeout_ms;
  http.request_timeout_ms = opt.request_timeout_ms;
  http.low_speed_bytes = static_cast<long>(opt.low_speed_limit);
  http.low_speed_time_s = opt.low_speed_time_s;
  http.deadline_ms = opt.read_timeout_ms;
  http.max_attempts = opt.retries + 1;
  http.max_connections = opt.max_connections;
  http.receive_buffer_bytes = receive_buffer_bytes;
  http.allow_link_local = opt.allow_link_local;
  // Remote origins: s3:// and gs:// resolve to https, headers and signing
  // per URL. Credentials are read once, here, from the environment and
  // ~/.aws: a daemon keeps what it started with.
  const EnvLookup env = ProcessEnv();
  S3Config s3 = LoadS3Config(
      S3Options{opt.s3_endpoint, opt.s3_region, opt.s3_profile, opt.s3_anonymous}, env);
  std::vector<HeaderRule> rules;
  for (const std::string& h : opt.headers) {
    ZM_ASSIGN_OR_RETURN(HeaderRule rule, ParseHeaderRule(h, "--header"));
    rules.push_back(std::move(rule));
  }
  for (const std::string& b : opt.bearer_envs) {
    ZM_ASSIGN_OR_RETURN(HeaderRule rule, BearerRuleFromEnv(b, env));
    rules.push_back(std::move(rule));
  }
  auto planner = std::make_shared<RequestPlanner>(std::move(s3), std::move(rules));
  s.planner = planner;
  s.origin_summary = planner->Describe();
  http.plan = [planner](const std::string& url) { return planner->Plan(url); };
  for (const std::string& m : opt.maps) ZM_RETURN_IF_ERROR(s.url_map.Add(m));
  ZM_ASSIGN_OR_RETURN(s.local_roots, LocalRoots(opt));
  // Offline, nothing reaches the network: every miss fails at once.
  s.origin = opt.offline ? NewOfflineOrigin()
                         : NewRoutingOrigin(NewHttpOrigin(http), NewFileOrigin(s.local_roots));
  // Mapping comes first, so a mapped URL may change scheme (s3:// to file://).
  if (!s.url_map.empty()) s.origin = NewMappingOrigin(s.url_map, std::move(s.origin));
  s.memory = NewMemoryBlockStore(ComputeSizes(opt).memory_cache_bytes);
  return Status::Ok();
}

Result<Stack> BuildMemoryStack(const Options& opt) {
  Stack s;
  // A scan reads each file once, a window ahead, with its peak memory
  // bounded: libcurl's small default buffer per connection keeps it so.
  ZM_RETURN_IF_ERROR(BuildOriginAndMemory(opt, /*receive_buffer_bytes=*/0, &s));
  ReadThroughOptions ro = ComputeSizes(opt).read_through;
  ro.validate = !opt.offline;
  s.cache = std::make_unique<ReadThroughCache>(s.origin.get(), s.memory.get(), nullptr, ro, nullptr);
  return s;
}

}  // namespace zm
