#include "fs/chunk_walk.h"

#include <algorithm>

namespace zm {

ChunkWalk::ChunkWalk(std::vector<uint64_t> grid_shape, const ChunkWalkOptions& options)
    : grid_(std::move(grid_shape)), options_(options) {
  for (uint64_t g : grid_) count_ *= g;
}

ChunkWalk::Line ChunkWalk::NewLine(size_t axis, std::vector<uint64_t> fixed) {
  Line line;
  line.axis = axis;
  line.fixed = std::move(fixed);
  return line;
}

ChunkWalk::Line& ChunkWalk::FindLine(size_t axis, const std::vector<uint64_t>& fixed) {
  for (Line& l : lines_)
    if (l.axis == axis && l.fixed == fixed) return l;
  if (lines_.size() < options_.max_lines) {
    lines_.push_back(NewLine(axis, fixed));
    return lines_.back();
  }
  // Forget the line touched longest ago.
  Line& victim = *std::min_element(lines_.begin(), lines_.end(),
                                   [](const Line& a, const Line& b) { return a.last_use < b.last_use; });
  victim = NewLine(axis, fixed);
  return victim;
}

uint64_t ChunkWalk::LineLength(const Line& line) const {
  return line.axis == kOrder ? count_ : grid_[line.axis];
}

uint64_t ChunkWalk::Linear(const Line& line, uint64_t pos) const {
  if (line.axis == kOrder) return pos;
  uint64_t l = 0;
  for (size_t d = 0; d < grid_.size(); ++d) l = l * grid_[d] + (d == line.axis ? pos : line.fixed[d]);
  return l;
}

void ChunkWalk::Touch(Line& line, uint64_t from, uint64_t to, std::vector<uint64_t>* ahead) {
  line.last_use = ++clock_;
  if (line.touches > 0 && from == line.last_from && to == line.last_to) return;
  line.last_from = from;
  line.last_to = to;
  ++line.all_touches;
  // A touch far from the others starts the line afresh: a walk is a run of
  // nearby chunks, and a reader that jumps has started another one. So does
  // a touch far behind the line's leading edge: the walk was started over
  // (the same drill again, once its chunks have left the caches). Left as
  // it was, the line would count it as more of the old walk: one whose
  // chunks were all handed out, which fetches nothing for it, or, in C
  // order, the same chunks touched twice, which look like a dense walk.
  const uint64_t reach = std::max<uint64_t>(2 * options_.density, line.window);
  const bool started_over =
      line.touches > 0 && (line.trend < 0 ? from > line.lo + reach : to + reach < line.hi);
  if (started_over && line.window > 0) ForgetHandedOut();
  if (line.touches == 0 || to + reach < line.lo || from > line.hi + reach || started_over) {
    // The scattered-walk state outlives the jump: scattered walks jump.
    Line fresh = NewLine(line.axis, std::move(line.fixed));
    fresh.handed = std::move(line.handed);
    fresh.read = std::move(line.read);
    fresh.cursor = line.cursor;
    fresh.outstanding = line.outstanding;
    fresh.overlapped = line.overlapped;
    fresh.all_touches = line.all_touches;
    fresh.scatter_window = line.scatter_window;
    line = std::move(fresh);
    line.last_use = clock_;
    line.lo = line.fetched_lo = line.last_from = from;
    line.hi = line.fetched_hi = line.last_to = to;
    line.touches = 1;
    return;
  }
  if (to > line.hi) line.hi = to, line.trend = std::min(line.trend + 1, 3);
  if (from < line.lo) line.lo = from, line.trend = std::max(line.trend - 1, -3);
  ++line.touches;
  if (IsWalk(line)) FetchAhead(line, ahead);
}

bool ChunkWalk::IsWalk(const Line& line) const {
  // C order skips no chunk when a variable is read whole: ask for twice the
  // closeness of a line, so a drill's stride through it does not count.
  const uint64_t density =
      line.axis == kOrder ? std::max<uint64_t>(options_.density / 2, 1) : options_.density;
  return line.touches >= options_.min_touches && line.hi - line.lo + 1 <= line.touches * density;
}

void ChunkWalk::FetchAhead(Line& line, std::vector<uint64_t>* ahead) {
  const uint64_t length = LineLength(line);
  const uint64_t top = std::max(line.fetched_hi, line.hi), bottom = std::min(line.fetched_lo, line.lo);
  // Downwards if the walk lately grew that way, or has nothing left above.
  const bool down = bottom > 0 && (line.trend < 0 || top + 1 >= length);
  if (!down && top + 1 >= length) return;
  // Chunks already handed out beyond the walk's leading edge.
  const uint64_t in_flight = down ? line.lo - bottom : top - line.hi;
  if (line.window && in_flight * 4 > line.window * 3) return;
  line.window = line.window ? std::min(line.window * options_.window_growth, options_.max_window)
                            : options_.initial_window;
  if (down) {
    const uint64_t to = line.lo > line.window ? line.lo - line.window : 0;
    for (uint64_t p = bottom; p-- > to;) ahead->push_back(Linear(line, p));
    line.fetched_lo = std::min(bottom, to);
  } else {
    const uint64_t to = std::min(line.hi + line.window, length - 1);
    for (uint64_t p = top + 1; p <= to; ++p) ahead->push_back(Linear(line, p));
    line.fetched_hi = std::max(top, to);
  }
}

std::vector<std::vector<uint64_t>> ChunkWalk::OnTouch(uint64_t linear) { return OnRead({linear}); }

std::vector<std::vector<uint64_t>> ChunkWalk::OnRead(const std::vector<uint64_t>& chunks, bool overlapping) {
  std::vector<std::vector<uint64_t>> batches;
  // The lines through the chunks read, each with the span of positions the
  // read covers on it: one touch per line, however many chunks.
  struct Span {
    size_t axis;
    std::vector<uint64_t> fixed;
    uint64_t from, to;
  };
  std::vector<Span> spans;
  auto add = [&](size_t axis, std::vector<uint64_t> fixed, uint64_t pos) {
    for (Span& s : spans)
      if (s.axis == axis && s.fixed == fixed) {
        s.from = std::min(s.from, pos), s.to = std::max(s.to, pos);
        return;
      }
    spans.push_back(Span{axis, std::move(fixed), pos, pos});
  };
  size_t long_axes = 0;
  for (uint64_t g : grid_) long_axes += g > 1;
  std::vector<uint64_t> coord(grid_.size());
  for (uint64_t linear : chunks) {
    if (linear >= count_) continue;
    // The whole grid in C order first (unless the grid has one line only):
    // while that walk goes on it fetches what the lines through the chunk
    // would, in longer runs, so theirs only record the touch.
    if (long_axes > 1) add(kOrder, {}, linear);
    uint64_t rest = linear;
    for (size_t d = grid_.size(); d-- > 0;) {
      coord[d] = rest % grid_[d];
      rest /= grid_[d];
    }
    for (size_t d = 0; d < grid_.size(); ++d) {
      if (grid_[d] <= 1) continue;
      std::vector<uint64_t> fixed = coord;
      fixed[d] = 0;
      add(d, std::move(fixed), coord[d]);
    }
  }
  RememberRead(chunks);
  bool c_order_walk = false;
  std::vector<uint64_t> ahead;
  latest_walk_.reset();
  for (const Span& s : spans) {
    Line& line = FindLine(s.axis, s.fixed);
    line.overlapped |= overlapping;
    Touch(line, s.from, s.to, &ahead);
    if (s.axis != kOrder && line.window > 0 && IsWalk(line) && !latest_walk_) {
      const bool down = line.trend < 0;
      latest_walk_ = Walk{line.axis, line.fixed, down ? line.hi : line.lo, down};
    }
    // Only while C order is walked now: a stale window is no walk.
    if (s.axis == kOrder) c_order_walk = line.window > 0 && IsWalk(line);
    if (s.axis != kOrder) {
      TouchScattered(line, s.from, s.to);
      if (ahead.empty() && IsScatteredWalk(line, RecentShare(line))) FetchScattered(line, &ahead);
    }
    if (s.axis != kOrder && c_order_walk) ahead.clear();
    // Two lines may ask for the same chunk (a row and C order): it goes
    // out with the first.
    std::vector<uint64_t> fresh;
    for (uint64_t c : ahead)
      if (!HandedOut(c)) fresh.push_back(c);
    if (!fresh.empty()) batches.push_back(std::move(fresh));
    ahead.clear();
  }
  return JoinAdjacent(std::move(batches));
}

void ChunkWalk::Adopt(const Walk& walk) {
  if (walk.axis >= grid_.size() || walk.fixed.size() != grid_.size() || walk.start >= grid_[walk.axis]) return;
  for (const Line& l : lines_)
    if (l.axis == walk.axis && l.fixed == walk.fixed) return;  // in use: its own evidence counts
  Line& line = FindLine(walk.axis, walk.fixed);
  // As if the walk's first min_touches - 1 reads had been made here, all
  // at its start: one read close to it completes the evidence.
  line.lo = line.hi = line.fetched_lo = line.fetched_hi = walk.start;
  line.touches = options_.min_touches > 1 ? options_.min_touches - 1 : 1;
  line.last_from = line.last_to = ~uint64_t{0};  // matches no read
  line.trend = walk.down ? -3 : 3;
}

// Batches that continue one another (a row's end, then C order onwards) are
// one run of chunks: fetched as one batch, they are coalesced.
std::vector<std::vector<uint64_t>> ChunkWalk::JoinAdjacent(std::vector<std::vector<uint64_t>> batches) {
  auto lo = [](const std::vector<uint64_t>& b) { return *std::min_element(b.begin(), b.end()); };
  auto hi = [](const std::vector<uint64_t>& b) { return *std::max_element(b.begin(), b.end()); };
  std::vector<std::vector<uint64_t>> joined;
  for (auto& b : batches) {
    auto next = std::find_if(joined.begin(), joined.end(), [&](const std::vector<uint64_t>& j) {
      return hi(j) + 1 == lo(b) || hi(b) + 1 == lo(j);
    });
    if (next == joined.end()) joined.push_back(std::move(b));
    else next->insert(next->end(), b.begin(), b.end());
  }
  return joined;
}

void ChunkWalk::RememberRead(const std::vector<uint64_t>& chunks) {
  if (chunks.empty() || chunks.front() >= count_) return;
  std::vector<uint64_t> coord(grid_.size());
  uint64_t rest = chunks.front();
  for (size_t d = grid_.size(); d-- > 0;) {
    coord[d] = rest % grid_[d];
    rest /= grid_[d];
  }
  if (recent_reads_.size() < options_.recent_touches) {
    recent_reads_.push_back(std::move(coord));
  } else if (!recent_reads_.empty()) {
    recent_reads_[recent_reads_next_] = std::move(coord);
    recent_reads_next_ = (recent_reads_next_ + 1) % recent_reads_.size();
  }
}

size_t ChunkWalk::RecentShare(const Line& line) const {
  size_t n = 0;
  for (const auto& c : recent_reads_) {
    bool on = true;
    for (size_t d = 0; d < grid_.size() && on; ++d) on = d == line.axis || c[d] == line.fixed[d];
    n += on;
  }
  return n;
}

bool ChunkWalk::IsScatteredWalk(const Line& line, size_t share) const {
  return line.overlapped && line.all_touches >= options_.scattered_touches &&
         share >= options_.scattered_share && LineLength(line) <= options_.max_scattered_line;
}

void ChunkWalk::TouchScattered(Line& line, uint64_t from, uint64_t to) {
  if (line.read.empty()) return;  // not a scattered walk (yet)
  for (uint64_t p = from; p <= to && p < line.read.size(); ++p) {
    if (line.read[p]) continue;  // read again: no news
    line.read[p] = true;
    if (line.handed[p]) --line.outstanding;
  }
}

void ChunkWalk::FetchScattered(Line& line, std::vector<uint64_t>* ahead) {
  const uint64_t length = LineLength(line);
  if (line.read.empty()) {
    // Everything below the line's touched span, and the span itself, may
    // have been read before it was recognised: hand out from its bottom
    // (the cache skips what it holds).
    line.read.assign(length, false);
    line.handed.assign(length, false);
    line.cursor = 0;
    line.scatter_window = 0;
  }
  // Read in no order, what is handed out is consumed in no order either:
  // hand out a window per read while less than four of them wait.
  if (line.outstanding >= 4 * options_.max_window) return;
  line.scatter_window =
      line.scatter_window ? std::min(line.scatter_window * 2, options_.max_window) : options_.initial_window;
  for (uint64_t handed = 0; line.cursor < length && handed < line.scatter_window; ++line.cursor) {
    if (line.read[line.cursor] || line.handed[line.cursor]) continue;
    line.handed[line.cursor] = true;
    ahead->push_back(Linear(line, line.cursor));
    ++line.outstanding;
    ++handed;
  }
}

void ChunkWalk::ForgetHandedOut() {
  recent_.clear();
  recent_set_.clear();
  recent_next_ = 0;
}

bool ChunkWalk::HandedOut(uint64_t linear) {
  if (recent_set_.count(linear)) return true;
  const size_t capacity = 4 * std::max<uint64_t>(options_.max_window, 1);
  if (recent_.size() < capacity) {
    recent_.push_back(linear);
  } else {
    recent_set_.erase(recent_[recent_next_]);
    recent_[recent_next_] = linear;
    recent_next_ = (recent_next_ + 1) % capacity;
  }
  recent_set_.insert(linear);
  return false;
}

}  // namespace zm
