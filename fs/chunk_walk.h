// ChunkWalk: recognises a reader walking through the chunk grid of one
// array, whatever order its reads arrive in, and says which chunks to fetch
// ahead.
//
// A walk is a set of chunks on one line of the grid: all coordinates fixed
// but one (a pixel drill walks the time axis; a row of a map walks x), or
// the array in C order (a whole variable being loaded). Each read is filed
// under every line through its chunks, so several walks at once (4
// processes drilling 4 points, 2 variables read side by side) are told
// apart.
//
// Two kinds of walk are recognised:
//  - close: `min_touches` reads lie close together on a line (no more than
//    `density` positions per read between the lowest and the highest).
//    The line is fetched ahead of its highest read (of its lowest, if it
//    has lately grown downwards, or has nothing left above):
//    `initial_window` chunks at once, the window growing `window_growth`
//    times while the walk goes on, up to `max_window`, topped up once less
//    than three quarters of it is left ahead, so requests go out in batches
//    and the next batch is asked for while the reader still has most of a
//    window to read (a reader of cached chunks is far faster than an
//    origin's round trip).
//  - scattered: a pool reads the line in no order at all (dask runs a
//    drill's chunk reads on a thread pool in an order of its own). The
//    line holds at least `scattered_share` of the array's last
//    `recent_touches` reads, and reads of it overlap in time. The whole
//    line is fetched, lowest positions first, a window per read while
//    fewer than four windows wait to be read, skipping what was read or
//    handed out.
// A single reader jumping about fits neither (its reads scatter over the
// line and never overlap), and prefetches nothing. Nothing is fetched when
// reads stop. A read far behind where a line's walk has reached starts the
// line afresh: a drill run again is a walk of its own, fetched ahead again.
//
// Several arrays walked the same way (a drill through every variable of a
// group at one point) need not each be recognised anew: LatestWalk() tells
// the close walk the latest read went on with, and Adopt() takes another
// array's as begun here, so that the first read on its line, near where it
// started, fetches ahead at once (a read elsewhere ignores it).
//
// A read of the chunks read just before on the same line (a chunk read in
// several requests) is no new evidence and counts once. State is bounded:
// at most `max_lines` lines are remembered, the least recently used
// forgotten first.
//
// Thread-safety: none; the owner serialises calls (one ChunkWalk per array).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <unordered_set>
#include <vector>

namespace zm {

struct ChunkWalkOptions {
  uint64_t min_touches = 3;
  uint64_t density = 4;  // positions spanned per touch, at most (C order: half this)
  uint64_t initial_window = 16;
  uint64_t window_growth = 4;
  uint64_t max_window = 128;
  size_t max_lines = 64;
  // Scattered walks: of the array's last `recent_touches` reads, at least
  // `scattered_share` on the line, and `scattered_touches` in all.
  size_t recent_touches = 8;
  size_t scattered_share = 6;
  uint64_t scattered_touches = 6;
  uint64_t max_scattered_line = 1 << 20;  // longer lines are not tracked so
};

class ChunkWalk {
 public:
  // `grid_shape`: chunks along each dimension (zarr/chunk_grid.h).
  ChunkWalk(std::vector<uint64_t> grid_shape, const ChunkWalkOptions& options = {});

  // Records a read of the chunk at C-order position `linear` (below the
  // grid's chunk count). Returns the chunks to fetch ahead, as C-order
  // positions, one list per walk that wants more (nearest first), so that
  // each list can be fetched as one batch; a chunk is returned once.
  std::vector<std::vector<uint64_t>> OnTouch(uint64_t linear);
  // The same for one read that covers `chunks` (a page of a view may span
  // many chunks of a row): however many chunks it covers on one line, it
  // is one touch of that line, so a single read is never a walk.
  // `overlapping`: another read of the array was in flight when this one
  // started (see the file comment).
  std::vector<std::vector<uint64_t>> OnRead(const std::vector<uint64_t>& chunks,
                                            bool overlapping = false);

  // A close walk: its line (`axis` varying, the other coordinates `fixed`,
  // as in Line below) and where it began.
  struct Walk {
    size_t axis = 0;
    std::vector<uint64_t> fixed;
    uint64_t start = 0;  // position of its first read
    bool down = false;   // going to lower positions
  };
  // The close walk the latest read went on with, if it went on with one.
  const std::optional<Walk>& LatestWalk() const { return latest_walk_; }
  // Takes `walk` (another array's, on a grid of this shape) as begun here
  // too, unless this array has its line in use already: a read on the line
  // within reach of its start then counts as the walk's `min_touches`-th.
  void Adopt(const Walk& walk);

 private:
  // A line of the grid: `axis` is the dimension that varies along it, or
  // kOrder for the whole grid in C order; `fixed` are the coordinates of
  // the other dimensions (the varying one set to 0).
  static constexpr size_t kOrder = ~size_t{0};
  struct Line {
    size_t axis = kOrder;
    std::vector<uint64_t> fixed;
    uint64_t lo = 0, hi = 0;       // positions touched along the line
    uint64_t touches = 0;          // close together, within [lo, hi]
    uint64_t last_from = 0, last_to = 0;  // positions of the latest touch
    int trend = 0;                 // +1 per touch raising hi, -1 lowering lo, in [-3, 3]
    uint64_t window = 0;           // 0: not (yet) a walk
    uint64_t fetched_hi = 0;       // highest position handed out to fetch
    uint64_t fetched_lo = 0;       // lowest position handed out to fetch
    uint64_t last_use = 0;
    // A scattered walk: the positions handed out and those read since it
    // was recognised; `outstanding` counts those handed out, not read.
    std::vector<bool> handed, read;
    uint64_t cursor = 0;         // no position below it is left to hand out
    uint64_t outstanding = 0;    // handed out, not read yet
    uint64_t scatter_window = 0;
    bool overlapped = false;     // some read of it overlapped another
    uint64_t all_touches = 0;    // near or far
  };

  static Line NewLine(size_t axis, std::vector<uint64_t> fixed);
  Line& FindLine(size_t axis, const std::vector<uint64_t>& fixed);
  // Files one read covering positions `from`..`to` under `line`; appends
  // the chunks of a close walk to fetch.
  void Touch(Line& line, uint64_t from, uint64_t to, std::vector<uint64_t>* ahead);
  // Whether the touches filed under `line` make it a walk.
  bool IsWalk(const Line& line) const;
  // Appends the chunks of `line`'s next window, if it needs one.
  void FetchAhead(Line& line, std::vector<uint64_t>* ahead);
  // The same for a line walked in no order.
  bool IsScatteredWalk(const Line& line, size_t share) const;
  void TouchScattered(Line& line, uint64_t from, uint64_t to);
  void FetchScattered(Line& line, std::vector<uint64_t>* ahead);
  // How many of the latest reads were on `line`.
  size_t RecentShare(const Line& line) const;
  uint64_t LineLength(const Line& line) const;
  uint64_t Linear(const Line& line, uint64_t pos) const;

  // Batches that continue one another, joined (see the .cc).
  static std::vector<std::vector<uint64_t>> JoinAdjacent(
      std::vector<std::vector<uint64_t>> batches);
  // Files the read starting at chunk chunks[0] among the latest reads.
  void RememberRead(const std::vector<uint64_t>& chunks);
  // Whether `linear` was handed out lately (by any line); records it if not.
  bool HandedOut(uint64_t linear);
  // Forgets what was handed out: a walk started over wants it all again.
  void ForgetHandedOut();

  const std::vector<uint64_t> grid_;
  const ChunkWalkOptions options_;
  uint64_t count_ = 1;  // chunks in the grid
  std::vector<Line> lines_;
  uint64_t clock_ = 0;
  // The chunks handed out lately, oldest first overwritten: two lines
  // through the same chunks (a row and C order) ask for them once.
  std::vector<uint64_t> recent_;
  std::unordered_set<uint64_t> recent_set_;
  size_t recent_next_ = 0;
  // The coordinates of the first chunk of each of the latest reads.
  std::vector<std::vector<uint64_t>> recent_reads_;
  size_t recent_reads_next_ = 0;
  std::optional<Walk> latest_walk_;
};

}  // namespace zm
