// Unit tests of refs/aggregate: ordering, chunk renumbering, shapes, the
// inline coordinate, what comes from the first input, every error, and the
// version 1 writer, on hand-written reference sets.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "refs/aggregate.h"
#include "refs/reference_loader.h"
#include "zarr/metadata.h"

namespace zm {
namespace {

using ::testing::HasSubstr;

std::string B64(std::string_view in) {
  static const char* a = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 3 <= in.size(); i += 3) {
    uint32_t v = (uint32_t(uint8_t(in[i])) << 16) | (uint32_t(uint8_t(in[i + 1])) << 8) | uint8_t(in[i + 2]);
    for (int s = 18; s >= 0; s -= 6) out += a[(v >> s) & 63];
  }
  size_t rest = in.size() - i;
  if (rest) {
    uint32_t v = uint32_t(uint8_t(in[i])) << 16;
    if (rest == 2) v |= uint32_t(uint8_t(in[i + 1])) << 8;
    out += a[v >> 18];
    out += a[(v >> 12) & 63];
    out += rest == 2 ? a[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

std::string Doubles(const std::vector<double>& v) {
  std::string s(v.size() * 8, '\0');
  std::memcpy(s.data(), v.data(), s.size());
  return s;
}

std::string Zarray(const std::vector<int>& shape, const std::vector<int>& chunks,
                   const std::string& dtype = "<f8") {
  auto list = [](const std::vector<int>& v) {
    std::string s = "[";
    for (size_t i = 0; i < v.size(); ++i) s += (i ? "," : "") + std::to_string(v[i]);
    return s + "]";
  };
  return "{\"zarr_format\":2,\"shape\":" + list(shape) + ",\"chunks\":" + list(chunks) +
         ",\"dtype\":\"" + dtype +
         "\",\"compressor\":null,\"filters\":null,\"fill_value\":null,\"order\":\"C\"}";
}

// One input: `time` values (float64, one inline chunk), and `v` (time, x)
// with x = 4 in chunks of (tchunk, 2), referencing "/data/NAME.nc" at
// offsets that say which chunk of which input it is. `lat` (x) is inline.
struct Input {
  std::string name;
  std::vector<double> time;
  int tchunk = 2;
  std::string units = "days since 2000-01-01";
  std::vector<double> lat = {10, 20, 30, 40};
  bool with_v = true;
  bool extra = false;
  std::string v_dtype = "<f8";
  bool time_by_reference = false;  // time/0 as a range of "/data/NAME.time"
  bool consolidated = false;       // has a .zmetadata
};

std::string Json(const Input& in) {
  auto q = [](const std::string& s) {
    std::string o = "\"";
    for (char c : s) {
      if (c == '"' || c == '\\') o += '\\';
      o += c;
    }
    return o + "\"";
  };
  int n = static_cast<int>(in.time.size());
  std::string j = "{";
  j += q(".zgroup") + ":" + q("{\"zarr_format\":2}");
  j += "," + q(".zattrs") + ":" + q("{\"title\":\"" + in.name + "\"}");
  j += "," + q("time/.zarray") + ":" + q(Zarray({n}, {n}));
  j += "," + q("time/.zattrs") + ":" +
       q("{\"_ARRAY_DIMENSIONS\":[\"time\"],\"units\":\"" + in.units + "\"}");
  if (in.time_by_reference)
    j += "," + q("time/0") + ":[\"/data/" + in.name + ".time\",0," + std::to_string(n * 8) + "]";
  else
    j += "," + q("time/0") + ":" + q("base64:" + B64(Doubles(in.time)));
  j += "," + q("lat/.zarray") + ":" + q(Zarray({4}, {4}));
  j += "," + q("lat/.zattrs") + ":" + q("{\"_ARRAY_DIMENSIONS\":[\"x\"]}");
  j += "," + q("lat/0") + ":" + q("base64:" + B64(Doubles(in.lat)));
  if (in.with_v) {
    j += "," + q("v/.zarray") + ":" + q(Zarray({n, 4}, {in.tchunk, 2}, in.v_dtype));
    j += "," + q("v/.zattrs") + ":" + q("{\"_ARRAY_DIMENSIONS\":[\"time\",\"x\"]}");
    int tchunks = (n + in.tchunk - 1) / in.tchunk;
    for (int t = 0; t < tchunks; ++t)
      for (int x = 0; x < 2; ++x)
        j += "," + q("v/" + std::to_string(t) + "." + std::to_string(x)) + ":[\"/data/" +
             in.name + ".nc\"," + std::to_string(1000 * t + x) + ",100]";
  }
  if (in.extra) j += "," + q("w/.zarray") + ":" + q(Zarray({1}, {1}));
  if (in.consolidated) j += "," + q(".zmetadata") + ":" + q("{\"metadata\":{}}");
  return j + "}";
}

struct Combined {
  Status status;
  ReferenceIndex index;
};

Combined Combine(const std::vector<Input>& inputs, AggregateOptions opt = {},
                 std::map<std::string, std::string> objects = {}) {
  if (opt.concat_dims.empty()) opt.concat_dims = {"time"};
  int fetches = 0;
  Aggregator agg(opt, [&](const std::string& url, uint64_t off, uint64_t size) -> Result<std::string> {
    ++fetches;
    auto it = objects.find(url);
    if (it == objects.end()) return NotFound(url + ": no such object");
    return it->second.substr(off, size);
  });
  for (const Input& in : inputs) {
    auto idx = ParseReferences(Json(in), "/");
    if (!idx.ok()) return {idx.status(), {}};
    if (Status st = agg.Add(in.name + ".json", *idx); !st.ok()) return {st, {}};
  }
  auto out = agg.Finish();
  if (!out.ok()) return {out.status(), {}};
  return {Status::Ok(), std::move(out).value()};
}

std::string Text(const ReferenceIndex& idx, const std::string& key) {
  auto f = idx.FindKey(key);
  if (!f) return "<missing " + key + ">";
  return std::string(idx.inline_data(*f));
}

// "NAME.nc@OFFSET" of a range reference.
std::string Where(const ReferenceIndex& idx, const std::string& key) {
  auto f = idx.FindKey(key);
  if (!f) return "<missing>";
  auto t = idx.target(*f);
  if (t.is_inline()) return "<inline>";
  std::string url = idx.url(t.url_id);
  return url.substr(url.rfind('/') + 1) + "@" + std::to_string(t.offset);
}

TEST(Aggregate, SortsInputsAndRenumbersChunks) {
  // Added out of order; each holds two steps, one chunk along time.
  auto r = Combine({{"c", {4, 5}}, {"a", {0, 1}}, {"b", {2, 3}}});
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_EQ(Where(r.index, "v/0.0"), "a.nc@0");
  EXPECT_EQ(Where(r.index, "v/0.1"), "a.nc@1");
  EXPECT_EQ(Where(r.index, "v/1.0"), "b.nc@0");
  EXPECT_EQ(Where(r.index, "v/2.1"), "c.nc@1");
  EXPECT_FALSE(r.index.FindKey("v/3.0"));
  auto meta = ParseZarrArray(Text(r.index, "v/.zarray"));
  ASSERT_TRUE(meta.ok());
  EXPECT_EQ(meta->shape, (std::vector<uint64_t>{6, 4}));
  EXPECT_EQ(meta->chunks, (std::vector<uint64_t>{2, 2}));
  // The coordinate: one uncompressed inline chunk of all values, in order.
  auto tmeta = ParseZarrArray(Text(r.index, "time/.zarray"));
  ASSERT_TRUE(tmeta.ok());
  EXPECT_EQ(tmeta->shape, (std::vector<uint64_t>{6}));
  EXPECT_EQ(tmeta->chunks, (std::vector<uint64_t>{6}));
  EXPECT_TRUE(tmeta->chunk.codecs.empty());
  EXPECT_EQ(Text(r.index, "time/0"), Doubles({0, 1, 2, 3, 4, 5}));
  // Everything else from the first input in order, not the first added.
  EXPECT_EQ(Text(r.index, ".zattrs"), "{\"title\":\"a\"}");
  EXPECT_EQ(Text(r.index, "lat/0"), Doubles({10, 20, 30, 40}));
  EXPECT_EQ(r.index.file_count(), 2u + 3u + 3u + 2u + 3u * 2u);
}

TEST(Aggregate, ConsolidatedMetadataIsDropped) {
  // Its shapes would be those of one input.
  Input a{"a", {0, 1}}, b{"b", {2, 3}};
  a.consolidated = b.consolidated = true;
  auto r = Combine({a, b});
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_FALSE(r.index.FindKey(".zmetadata"));
  EXPECT_TRUE(r.index.FindKey(".zgroup"));
}

TEST(Aggregate, ShiftsByTheChunkCountOfEarlierInputs) {
  // Four steps per input in chunks of two: two chunks each; the last input
  // may end in a partial chunk.
  auto r = Combine({{"b", {4, 5, 6, 7}}, {"a", {0, 1, 2, 3}}, {"z", {8, 9, 10}}});
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_EQ(Where(r.index, "v/0.0"), "a.nc@0");
  EXPECT_EQ(Where(r.index, "v/1.0"), "a.nc@1000");
  EXPECT_EQ(Where(r.index, "v/2.1"), "b.nc@1");
  EXPECT_EQ(Where(r.index, "v/3.0"), "b.nc@1000");
  EXPECT_EQ(Where(r.index, "v/4.0"), "z.nc@0");
  EXPECT_EQ(Where(r.index, "v/5.1"), "z.nc@1001");
  EXPECT_EQ(ParseZarrArray(Text(r.index, "v/.zarray"))->shape, (std::vector<uint64_t>{11, 4}));
}

TEST(Aggregate, PartialChunkBeforeTheLastInputIsAnError) {
  auto r = Combine({{"a", {0, 1, 2}}, {"b", {3, 4}}});
  ASSERT_FALSE(r.status.ok());
  EXPECT_THAT(r.status.message(), HasSubstr("a.json: 'v' has 3 elements along 'time', not a whole number of its chunks (2)"));
  EXPECT_EQ(r.status.message().find('\n'), std::string::npos);
}

TEST(Aggregate, OverlapAndDuplicatesNameBothFiles) {
  auto r = Combine({{"a", {0, 1}}, {"b", {1, 2}}});
  ASSERT_FALSE(r.status.ok());
  EXPECT_THAT(r.status.message(), HasSubstr("a.json"));
  EXPECT_THAT(r.status.message(), HasSubstr("b.json"));
  EXPECT_THAT(r.status.message(), HasSubstr("overlap"));

  r = Combine({{"a", {0, 1}}, {"b", {2, 3}}, {"copy", {0, 1}}});
  ASSERT_FALSE(r.status.ok());
  EXPECT_THAT(r.status.message(), HasSubstr("a.json and copy.json hold the same coordinates"));

  // Same first value, different values.
  r = Combine({{"a", {0, 1}}, {"b", {0, 5}}});
  ASSERT_FALSE(r.status.ok());
  EXPECT_THAT(r.status.message(), HasSubstr("b.json: coordinate 'time' starts at 0 like in a.json"));

  r = Combine({{"a", {1, 0}}});
  ASSERT_FALSE(r.status.ok());
  EXPECT_THAT(r.status.message(), HasSubstr("not strictly increasing"));
}

TEST(Aggregate, MismatchedArraysAreErrors) {
  Input missing{"b", {2, 3}};
  missing.with_v = false;
  auto r = Combine({{"a", {0, 1}}, missing});
  ASSERT_FALSE(r.status.ok());
  EXPECT_EQ(r.status.message(), "b.json: has no array 'v', which a.json has");

  Input extra{"b", {2, 3}};
  extra.extra = true;
  r = Combine({{"a", {0, 1}}, extra});
  ASSERT_FALSE(r.status.ok());
  EXPECT_EQ(r.status.message(), "b.json: has array 'w', which a.json has not");

  Input other_dtype{"b", {2, 3}};
  other_dtype.v_dtype = "<f4";
  r = Combine({{"a", {0, 1}}, other_dtype});
  ASSERT_FALSE(r.status.ok());
  EXPECT_THAT(r.status.message(), HasSubstr("b.json: 'v/.zarray' differs from that of a.json"));

  Input other_units{"b", {2, 3}};
  other_units.units = "hours since 2000-01-01";
  r = Combine({{"a", {0, 1}}, other_units});
  ASSERT_FALSE(r.status.ok());
  EXPECT_THAT(r.status.message(), HasSubstr("units 'hours since 2000-01-01'"));

  AggregateOptions opt;
  opt.concat_dims = {"level"};
  r = Combine({{"a", {0, 1}}}, opt);
  ASSERT_FALSE(r.status.ok());
  EXPECT_THAT(r.status.message(), HasSubstr("a.json: no coordinate array 'level'"));
}

TEST(Aggregate, IdenticalArraysAreCompared) {
  AggregateOptions opt;
  opt.identical_arrays = {"lat"};
  Input b{"b", {2, 3}};
  auto r = Combine({{"a", {0, 1}}, b}, opt);
  EXPECT_TRUE(r.status.ok()) << r.status.message();
  b.lat = {10, 20, 30, 41};
  r = Combine({{"a", {0, 1}}, b}, opt);
  ASSERT_FALSE(r.status.ok());
  EXPECT_EQ(r.status.message(),
            "b.json: the values of 'lat' differ from those in a.json (--identical-dims)");
  // Without the option the first input's lat is taken as it is.
  r = Combine({{"a", {0, 1}}, b});
  EXPECT_TRUE(r.status.ok());
  opt.identical_arrays = {"nope"};
  r = Combine({{"a", {0, 1}}}, opt);
  EXPECT_THAT(r.status.message(), HasSubstr("has no array 'nope'"));
  opt.identical_arrays = {"v"};
  r = Combine({{"a", {0, 1}}}, opt);
  EXPECT_THAT(r.status.message(), HasSubstr("'v' has a --concat dimension"));
}

TEST(Aggregate, CoordinateChunksAreFetched) {
  Input a{"a", {0, 1}}, b{"b", {2, 3}};
  a.time_by_reference = b.time_by_reference = true;
  std::map<std::string, std::string> objects = {{"/data/a.time", Doubles({0, 1})},
                                                {"/data/b.time", Doubles({2, 3})}};
  auto r = Combine({b, a}, {}, objects);
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_EQ(Text(r.index, "time/0"), Doubles({0, 1, 2, 3}));
  objects.erase("/data/b.time");
  r = Combine({b, a}, {}, objects);
  ASSERT_FALSE(r.status.ok());
  EXPECT_EQ(r.status.message(), "b.json: 'time/0': /data/b.time: no such object");
}

TEST(Aggregate, NoInputsIsAnError) {
  Aggregator agg({{"time"}, {}}, nullptr);
  auto r = agg.Finish();
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("no reference sets"));
}

TEST(WriteReferencesV1, RoundTripsThroughTheLoader) {
  auto r = Combine({{"b", {2, 3}}, {"a", {0, 1}}});
  ASSERT_TRUE(r.status.ok());
  auto text = WriteReferencesV1(r.index);
  ASSERT_TRUE(text.ok());
  // Each URL once, as a template.
  EXPECT_EQ(std::count(text->begin(), text->end(), '\n') > 5, true);
  EXPECT_EQ(text->find("/data/a.nc"), text->rfind("/data/a.nc"));
  auto back = ParseReferences(*text, "");
  ASSERT_TRUE(back.ok()) << back.status().message();
  ASSERT_EQ(back->file_count(), r.index.file_count());
  for (ReferenceIndex::FileId f = 0; f < r.index.file_count(); ++f) {
    std::string key = r.index.FileKey(f);
    auto g = back->FindKey(key);
    ASSERT_TRUE(g) << key;
    auto t1 = r.index.target(f), t2 = back->target(*g);
    ASSERT_EQ(t1.is_inline(), t2.is_inline()) << key;
    if (t1.is_inline()) {
      EXPECT_EQ(r.index.inline_data(f), back->inline_data(*g)) << key;
    } else {
      EXPECT_EQ(r.index.url(t1.url_id), back->url(t2.url_id)) << key;
      EXPECT_EQ(t1.offset, t2.offset);
      EXPECT_EQ(t1.size, t2.size);
    }
  }
}

TEST(WriteReferencesV1, TextBinaryAndWholeObjects) {
  auto idx = ParseReferences(
      R"({"t": "tab\there \u00e9", "b": "base64:AP8A", "fake": "base64:YmFzZTY0Onh5eg==", "w": ["/x/y.bin"]})",
      "");
  ASSERT_TRUE(idx.ok());
  auto text = WriteReferencesV1(*idx);
  ASSERT_TRUE(text.ok());
  EXPECT_THAT(*text, HasSubstr("\"b\": \"base64:AP8A\""));
  EXPECT_THAT(*text, HasSubstr("\"w\": [\"{{u0}}\"]"));
  auto back = ParseReferences(*text, "");
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_EQ(back->inline_data(*back->FindKey("t")), "tab\there \xc3\xa9");
  EXPECT_EQ(back->inline_data(*back->FindKey("b")), std::string("\0\xff\0", 3));
  // Bytes that read "base64:..." must not be written as that text.
  EXPECT_EQ(back->inline_data(*back->FindKey("fake")), "base64:xyz");
}

TEST(Aggregate, TwoConcatDimensionsFormAGrid) {
  // Inputs over (time, member): member is a second coordinate per input.
  auto json = [](const std::string& name, std::vector<double> t, double m) {
    std::string j = "{\".zgroup\":\"{\\\"zarr_format\\\":2}\"";
    auto arr = [&](const std::string& n, const std::string& zarray, const std::string& dims) {
      std::string z = zarray, d = dims;
      auto esc = [](std::string s) {
        std::string o;
        for (char c : s) {
          if (c == '"') o += '\\';
          o += c;
        }
        return o;
      };
      j += ",\"" + n + "/.zarray\":\"" + esc(z) + "\"";
      j += ",\"" + n + "/.zattrs\":\"" + esc("{\"_ARRAY_DIMENSIONS\":" + d + "}") + "\"";
    };
    arr("time", Zarray({int(t.size())}, {int(t.size())}), "[\"time\"]");
    j += ",\"time/0\":\"base64:" + B64(Doubles(t)) + "\"";
    arr("member", Zarray({1}, {1}), "[\"member\"]");
    j += ",\"member/0\":\"base64:" + B64(Doubles({m})) + "\"";
    arr("v", Zarray({1, 2}, {1, 1}), "[\"member\",\"time\"]");
    j += ",\"v/0.0\":[\"/d/" + name + "\",0,1],\"v/0.1\":[\"/d/" + name + "\",1,1]}";
    return j;
  };
  AggregateOptions opt;
  opt.concat_dims = {"time", "member"};
  Aggregator agg(opt, nullptr);
  ASSERT_TRUE(agg.Add("t1m1", *ParseReferences(json("t1m1", {2, 3}, 1), "")).ok());
  ASSERT_TRUE(agg.Add("t0m1", *ParseReferences(json("t0m1", {0, 1}, 1), "")).ok());
  ASSERT_TRUE(agg.Add("t0m0", *ParseReferences(json("t0m0", {0, 1}, 0), "")).ok());
  ASSERT_TRUE(agg.Add("t1m0", *ParseReferences(json("t1m0", {2, 3}, 0), "")).ok());
  auto r = agg.Finish();
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(Where(*r, "v/0.0"), "t0m0@0");
  EXPECT_EQ(Where(*r, "v/0.3"), "t1m0@1");
  EXPECT_EQ(Where(*r, "v/1.2"), "t1m1@0");
  EXPECT_EQ(ParseZarrArray(Text(*r, "v/.zarray"))->shape, (std::vector<uint64_t>{2, 4}));
  EXPECT_EQ(Text(*r, "member/0"), Doubles({0, 1}));
  EXPECT_EQ(Text(*r, "time/0"), Doubles({0, 1, 2, 3}));
}

}  // namespace
}  // namespace zm

namespace zm {
namespace {

// Zarr v3 inputs: `time` (float64, dimension_names, one inline chunk "c/0")
// and `v` (time, x) sharded in shards of (2, 4) keyed "v/c/T/0", pointing
// at "/data/NAME.nc" offsets that say which shard of which input it is.
std::string V3Json(const std::string& name, const std::vector<double>& time,
                   const std::string& title) {
  auto q = [](const std::string& s) {
    std::string o = "\"";
    for (char c : s) {
      if (c == '"' || c == '\\') o += '\\';
      o += c;
    }
    return o + "\"";
  };
  const int n = static_cast<int>(time.size());
  auto array = [&](const std::string& shape, const std::string& chunks, const std::string& codecs,
                   const std::string& dims, const std::string& attrs) {
    return q(R"({"zarr_format": 3, "node_type": "array", "shape": )" + shape +
             R"(, "data_type": "float64", "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": )" +
             chunks + R"(}}, "chunk_key_encoding": {"name": "default"}, "fill_value": 0, "codecs": )" +
             codecs + R"(, "dimension_names": )" + dims + R"(, "attributes": )" + attrs + "}");
  };
  const std::string bytes = R"([{"name": "bytes", "configuration": {"endian": "little"}}])";
  const std::string sharded = R"([{"name": "sharding_indexed", "configuration": {"chunk_shape": [1, 2],
      "codecs": [{"name": "bytes"}], "index_codecs": [{"name": "bytes"}, {"name": "crc32c"}]}}])";
  std::string j = "{";
  j += q("zarr.json") + ":" + q(R"({"zarr_format": 3, "node_type": "group", "attributes": {"title": ")" + title + R"("}})");
  j += "," + q("time/zarr.json") + ":" +
       array("[" + std::to_string(n) + "]", "[" + std::to_string(n) + "]", bytes, R"(["/time"])",
             R"({"units": "days since 2000-01-01", "history": ")" + name + R"("})");
  j += "," + q("time/c/0") + ":" + q("base64:" + B64(Doubles(time)));
  std::string v_sharded = sharded;
  for (char& c : v_sharded)
    if (c == '\n') c = ' ';
  j += "," + q("v/zarr.json") + ":" +
       array("[" + std::to_string(n) + ", 4]", "[2, 4]", v_sharded, R"(["time", "x"])",
             R"({"note": ")" + name + R"("})");
  for (int t = 0; t < (n + 1) / 2; ++t)
    j += "," + q("v/c/" + std::to_string(t) + "/0") + ":[\"/data/" + name + ".nc\"," +
         std::to_string(1000 * t) + ",100]";
  return j + "}";
}

TEST(Aggregate, ZarrV3InputsIncludingShardedArrays) {
  AggregateOptions opt;
  opt.concat_dims = {"time"};
  Aggregator agg(opt, [](const std::string& url, uint64_t, uint64_t) -> Result<std::string> {
    return NotFound(url);
  });
  // Added out of order; attributes may differ (the first input's are kept).
  for (const auto& [name, time] : std::vector<std::pair<std::string, std::vector<double>>>{
           {"b", {4, 5, 6, 7}}, {"a", {0, 1, 2, 3}}}) {
    auto idx = ParseReferences(V3Json(name, time, "t-" + name), "/");
    ASSERT_TRUE(idx.ok()) << idx.status().ToString();
    ASSERT_TRUE(agg.Add(name + ".json", *idx).ok());
  }
  auto out = agg.Finish();
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  // Shards renumbered along time: b's first shard follows a's two.
  EXPECT_EQ(Where(*out, "v/c/0/0"), "a.nc@0");
  EXPECT_EQ(Where(*out, "v/c/1/0"), "a.nc@1000");
  EXPECT_EQ(Where(*out, "v/c/2/0"), "b.nc@0");
  EXPECT_EQ(Where(*out, "v/c/3/0"), "b.nc@1000");
  auto v = ParseZarrV3Array(Text(*out, "v/zarr.json"));
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_EQ(v->shape, (std::vector<uint64_t>{8, 4}));
  ASSERT_TRUE(v->sharding.has_value());
  EXPECT_EQ(v->sharding->unsupported, "");
  EXPECT_THAT(Text(*out, "v/zarr.json"), ::testing::HasSubstr("\"note\":\"a\""));
  // The coordinate: one little-endian chunk "c/0" of all values.
  auto t = ParseZarrV3Array(Text(*out, "time/zarr.json"));
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  EXPECT_EQ(t->shape, (std::vector<uint64_t>{8}));
  EXPECT_EQ(t->chunks, (std::vector<uint64_t>{8}));
  EXPECT_EQ(Text(*out, "time/c/0"), Doubles({0, 1, 2, 3, 4, 5, 6, 7}));
  EXPECT_THAT(Text(*out, "zarr.json"), ::testing::HasSubstr("t-a"));
}

}  // namespace
}  // namespace zm
