// Input adapters (src/sources/sources*.cpp, docs/sources.md): every format, the
// joint mappings, format detection, and malformed records reported with their
// line and skipped.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "stgcn/graph.h"
#include "stgcn/sources.h"

namespace stgcn {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

// A per-test directory under the system temp dir, removed afterwards.
class TempDir {
 public:
  TempDir() {
    static std::atomic<int> counter{0};
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    std::string name = std::string("stgcn_sources_") + (info ? info->name() : "x") + "_" +
                       std::to_string(::getpid()) + "_" + std::to_string(counter++);
    dir_ = fs::temp_directory_path() / name;
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  std::string path(const std::string& rel) const { return (dir_ / rel).string(); }
  std::string write(const std::string& rel, const std::string& text) const {
    const fs::path p = dir_ / rel;
    fs::create_directories(p.parent_path());
    std::ofstream(p, std::ios::binary) << text;
    return p.string();
  }

 private:
  fs::path dir_;
};

struct ReadAll {
  Status status;  // open() or next() failure
  std::vector<Frame> frames;
  std::vector<SourceError> errors;
  int64_t counted = 0;
  std::string layout;
  int joints = 0;
  std::string stream;
};

ReadAll read_all(const std::string& path, SourceOptions opt = {}) {
  ReadAll r;
  opt.on_error = [&r](const SourceError& e) { r.errors.push_back(e); };
  auto src = FrameSource::open(path, opt);
  if (!src.is_ok()) {
    r.status = src.status();
    return r;
  }
  r.layout = (*src)->layout();
  r.joints = (*src)->joints();
  r.stream = (*src)->stream();
  Frame f;
  while (true) {
    auto more = (*src)->next(f);
    if (!more.is_ok()) {
      r.status = more.status();
      break;
    }
    if (!*more) break;
    r.frames.push_back(f);
  }
  r.counted = (*src)->errors();
  return r;
}

std::string errors_text(const ReadAll& r) {
  std::string s;
  for (const auto& e : r.errors) s += e.where + ": " + e.message + "\n";
  return s;
}

std::string fmt_num(float v) { return fmt::format("{}", v); }
std::string fmt_num(double v) { return fmt::format("{}", v); }

// Distinct values per joint: x = 10 j + base, y = 100 + j + base, z = j / 10, c = 0.5 + j / 100.
float jx(int j, float base = 0) { return 10.0f * j + base; }
float jy(int j, float base = 0) { return 100.0f + j + base; }
float jz(int j) { return j / 10.0f; }
float jc(int j) { return 0.5f + j / 100.0f; }

// A JSONL person: V rows of `width` numbers.
json jsonl_person(int id, int V, int width, float base = 0) {
  json kp = json::array();
  for (int j = 0; j < V; ++j) {
    if (width == 2) kp.push_back({jx(j, base), jy(j, base)});
    if (width == 3) kp.push_back({jx(j, base), jy(j, base), jc(j)});
    if (width == 4) kp.push_back({jx(j, base), jy(j, base), jz(j), jc(j)});
  }
  return {{"id", id}, {"kp", kp}};
}

std::string jsonl_line(double t, std::vector<json> persons) {
  return json{{"t", t}, {"persons", persons}}.dump() + "\n";
}

// ---------------------------------------------------------------------------

TEST(Sources, FormatNamesRoundTrip) {
  for (SourceFormat f : {SourceFormat::kAuto, SourceFormat::kJsonl, SourceFormat::kMediaPipeJson,
                         SourceFormat::kMediaPipeCsv, SourceFormat::kOpenPoseJson,
                         SourceFormat::kNtuSkeleton, SourceFormat::kKineticsJson}) {
    auto p = parse_source_format(source_format_name(f));
    ASSERT_TRUE(p.is_ok()) << source_format_name(f);
    EXPECT_EQ(*p, f);
  }
  EXPECT_EQ(*parse_source_format("openpose"), SourceFormat::kOpenPoseJson);
  EXPECT_EQ(*parse_source_format("ntu"), SourceFormat::kNtuSkeleton);
  EXPECT_EQ(*parse_source_format("kinetics"), SourceFormat::kKineticsJson);
  EXPECT_FALSE(parse_source_format("bvh").is_ok());
}

TEST(Sources, JsonlReadsValuesTracksAndTimestamps) {
  TempDir tmp;
  std::string text = "# a comment\n\n";
  text += jsonl_line(0.0, {jsonl_person(3, 18, 3), jsonl_person(7, 18, 3, 1)});
  text += R"({"t": 0.5, "frame": 15, "stream": "ignored", "persons": []})"
          "\n";
  text += jsonl_line(1.0, {jsonl_person(7, 18, 3, 2)});
  const std::string path = tmp.write("cam1.jsonl", text);
  auto r = read_all(path);
  ASSERT_TRUE(r.status.is_ok()) << r.status.message();
  EXPECT_TRUE(r.errors.empty()) << errors_text(r);
  EXPECT_EQ(r.stream, "cam1");
  EXPECT_EQ(r.layout, "openpose");
  EXPECT_EQ(r.joints, 18);
  ASSERT_EQ(r.frames.size(), 3u);
  const Frame& f0 = r.frames[0];
  EXPECT_EQ(f0.stream, "cam1");
  EXPECT_DOUBLE_EQ(f0.timestamp, 0.0);
  ASSERT_EQ(f0.persons.size(), 2u);
  EXPECT_EQ(f0.persons[0].track, 3);
  EXPECT_EQ(f0.persons[1].track, 7);
  ASSERT_EQ(f0.persons[0].xyz.size(), 54u);
  ASSERT_EQ(f0.persons[0].confidence.size(), 18u);
  for (int j = 0; j < 18; ++j) {
    EXPECT_FLOAT_EQ(f0.persons[0].xyz[3 * j], jx(j));
    EXPECT_FLOAT_EQ(f0.persons[0].xyz[3 * j + 1], jy(j));
    EXPECT_FLOAT_EQ(f0.persons[0].xyz[3 * j + 2], 0.0f);
    EXPECT_FLOAT_EQ(f0.persons[0].confidence[j], jc(j));
    EXPECT_FLOAT_EQ(f0.persons[1].xyz[3 * j], jx(j, 1));
  }
  EXPECT_DOUBLE_EQ(r.frames[1].timestamp, 0.5);
  EXPECT_TRUE(r.frames[1].persons.empty());
  EXPECT_DOUBLE_EQ(r.frames[2].timestamp, 1.0);
  EXPECT_FLOAT_EQ(r.frames[2].persons[0].xyz[0], jx(0, 2));
}

TEST(Sources, JsonlRowWidthsAndTimestampFallbacks) {
  TempDir tmp;
  // [x, y, z, c] rows, no ids, no t: frame / fps, then the record's position / fps.
  json p4 = jsonl_person(0, 25, 4);
  p4.erase("id");
  json p2 = jsonl_person(0, 25, 2);
  p2.erase("id");
  std::string text;
  text += json{{"persons", json::array()}}.dump() + "\n";  // first record: 0 / fps
  text += "\n# comment lines do not count\n";
  text += json{{"frame", 3}, {"persons", json::array({p4})}}.dump() + "\n";
  text += json{{"frame", 4}, {"persons", json::array({p4, jsonl_person(9, 25, 4)})}}.dump() + "\n";
  const std::string path = tmp.write("w.jsonl", text);
  auto r = read_all(path, {.fps = 10});
  ASSERT_TRUE(r.status.is_ok()) << r.status.message();
  EXPECT_TRUE(r.errors.empty()) << errors_text(r);
  EXPECT_EQ(r.layout, "ntu-rgb+d");  // 25 joints with z
  ASSERT_EQ(r.frames.size(), 3u);
  EXPECT_DOUBLE_EQ(r.frames[0].timestamp, 0.0);
  EXPECT_TRUE(r.frames[0].persons.empty());
  EXPECT_DOUBLE_EQ(r.frames[1].timestamp, 0.3);
  EXPECT_DOUBLE_EQ(r.frames[2].timestamp, 0.4);
  EXPECT_EQ(r.frames[1].persons[0].track, 0);
  EXPECT_EQ(r.frames[2].persons[1].track, 9);
  EXPECT_FLOAT_EQ(r.frames[1].persons[0].xyz[3 * 7 + 2], jz(7));
  EXPECT_FLOAT_EQ(r.frames[1].persons[0].confidence[7], jc(7));

  // [x, y] rows: confidence 1, z 0; 25 joints without z: BODY_25.
  const std::string p2path =
      tmp.write("p2.jsonl", json{{"t", 1}, {"persons", json::array({p2})}}.dump());
  auto r2 = read_all(p2path);
  ASSERT_EQ(r2.frames.size(), 1u);
  EXPECT_EQ(r2.layout, "body_25");
  EXPECT_FLOAT_EQ(r2.frames[0].persons[0].confidence[24], 1.0f);
  EXPECT_FLOAT_EQ(r2.frames[0].persons[0].xyz[3 * 24 + 1], jy(24));
}

TEST(Sources, JsonlLayoutRecordAndSourceLayoutOption) {
  TempDir tmp;
  std::string text = R"({"layout": "blazepose"})"
                     "\n";
  text += jsonl_line(0.1, {jsonl_person(1, 33, 3)});
  text += R"({"t": 0.2, "layout": "coco", "persons": []})"
          "\n";  // contradicts the stream
  text += jsonl_line(0.3, {});
  const std::string path = tmp.write("h.jsonl", text);
  auto r = read_all(path);
  EXPECT_EQ(r.layout, "blazepose");
  ASSERT_EQ(r.frames.size(), 2u);
  ASSERT_EQ(r.errors.size(), 1u) << errors_text(r);
  EXPECT_EQ(r.errors[0].where, path + ":3");
  EXPECT_NE(r.errors[0].message.find("differs"), std::string::npos);

  // 25 2D joints that are really NTU joints: the option names them.
  const std::string p = tmp.write("n.jsonl", jsonl_line(0, {jsonl_person(1, 25, 3)}));
  EXPECT_EQ(read_all(p, {.source_layout = "ntu-rgb+d"}).layout, "ntu-rgb+d");
  // A V of no known layout: kept as is, mapping refused.
  const std::string odd = tmp.write("odd.jsonl", jsonl_line(0, {jsonl_person(1, 5, 3)}));
  auto r5 = read_all(odd);
  EXPECT_TRUE(r5.status.is_ok());
  EXPECT_EQ(r5.joints, 5);
  EXPECT_EQ(r5.layout, "");
  EXPECT_FALSE(read_all(odd, {.layout = "openpose"}).status.is_ok());
}

TEST(Sources, JsonlMalformedRecordsAreReportedWithTheirLineAndSkipped) {
  TempDir tmp;
  std::string text;
  text += jsonl_line(0.0, {jsonl_person(1, 18, 3)});  // line 1: ok
  text += R"({"t": 0.1, "persons": [{"id": 1, "kp": [[1, 2, 0.5], )"
          "\n";                                                               // 2: bad JSON
  text += jsonl_line(0.2, {jsonl_person(1, 18, 3), jsonl_person(2, 17, 3)});  // 3: 17 joints
  std::string nan_line = jsonl_line(0.3, {jsonl_person(1, 18, 3)});
  nan_line.replace(nan_line.find("10.0"), 4, "NaN");
  text += nan_line;                                                           // 4: NaN
  text += jsonl_line(0.35, {jsonl_person(1, 18, 3)});                         // 5: ok
  text += jsonl_line(0.25, {jsonl_person(1, 18, 3)});                         // 6: decreasing
  text += jsonl_line(0.35, {jsonl_person(1, 18, 3)});                         // 7: not increasing
  text += jsonl_line(0.4, {jsonl_person(1, 18, 3), jsonl_person(1, 18, 3)});  // 8: track twice
  text += "[1, 2]\n";                                                         // 9: not an object
  text += R"({"t": 0.45, "persons": [{"id": 4, "kp": [[1, 2, 3], [1, 2]]}]})"
          "\n";                                       // 10: widths
  text += jsonl_line(0.5, {jsonl_person(1, 18, 3)});  // 11: ok
  const std::string path = tmp.write("bad.jsonl", text);
  auto r = read_all(path);
  ASSERT_TRUE(r.status.is_ok()) << r.status.message();
  ASSERT_EQ(r.frames.size(), 3u) << errors_text(r);
  EXPECT_DOUBLE_EQ(r.frames[0].timestamp, 0.0);
  EXPECT_DOUBLE_EQ(r.frames[1].timestamp, 0.35);
  EXPECT_DOUBLE_EQ(r.frames[2].timestamp, 0.5);
  ASSERT_EQ(r.errors.size(), 8u) << errors_text(r);
  EXPECT_EQ(r.counted, 8);
  const struct {
    int line;
    const char* text;
  } expected[] = {{2, "bad JSON"},          {3, "person 1 (track 2) has 17 joints, expected 18"},
                  {4, "non-finite"},        {6, "is not after the previous frame's 0.35"},
                  {7, "is not after"},      {8, "track 1 appears twice"},
                  {9, "not a JSON object"}, {10, "person 0 joint 1: rows must all have 3 numbers"}};
  for (size_t i = 0; i < std::size(expected); ++i) {
    EXPECT_EQ(r.errors[i].where, path + ":" + std::to_string(expected[i].line)) << i;
    EXPECT_NE(r.errors[i].message.find(expected[i].text), std::string::npos) << r.errors[i].message;
    EXPECT_EQ(r.errors[i].message.find('\n'), std::string::npos);
    EXPECT_EQ(r.errors[i].stream, "bad");
  }
}

TEST(Sources, JsonlNonFiniteNumbersAndRowWidths) {
  TempDir tmp;
  std::string text;
  text += jsonl_line(0.0, {jsonl_person(1, 18, 3)});
  text += R"({"t": 0.1, "persons": [{"id": 4, "kp": [[1, 2, 3], [1, 2]]}]})"
          "\n";
  std::string inf_line = jsonl_line(0.2, {jsonl_person(1, 18, 3)});
  inf_line.replace(inf_line.find("10.0"), 4, "1e999");
  text += inf_line;
  text += jsonl_line(0.3, {jsonl_person(1, 18, 3)});
  const std::string path = tmp.write("nf.jsonl", text);
  auto r = read_all(path);
  ASSERT_EQ(r.frames.size(), 2u) << errors_text(r);
  ASSERT_EQ(r.errors.size(), 2u) << errors_text(r);
  EXPECT_EQ(r.errors[0].where, path + ":2");
  EXPECT_NE(r.errors[0].message.find("rows must all have 3 numbers"), std::string::npos);
  EXPECT_EQ(r.errors[1].where, path + ":3");
}

// ---------------------------------------------------------------------------
// OpenPose.

json openpose_person(int person_id, int V, float base) {
  json kp = json::array();
  for (int j = 0; j < V; ++j) {
    kp.push_back(jx(j, base));
    kp.push_back(jy(j, base));
    kp.push_back(jc(j));
  }
  return {{"person_id", json::array({person_id})},
          {"pose_keypoints_2d", kp},
          {"face_keypoints_2d", json::array()}};
}

std::string openpose_file(std::vector<json> people) {
  return json{{"version", 1.3}, {"people", people}}.dump();
}

TEST(Sources, OpenPoseDirectoryBody25) {
  TempDir tmp;
  tmp.write("op/video_000000000000_keypoints.json",
            openpose_file({openpose_person(-1, 25, 0), openpose_person(5, 25, 1)}));
  tmp.write("op/video_000000000002_keypoints.json", openpose_file({}));
  tmp.write("op/video_000000000003_keypoints.json", openpose_file({openpose_person(5, 25, 2)}));
  tmp.write("op/notes.txt", "not a frame");
  auto r = read_all(tmp.path("op"), {.fps = 25});
  ASSERT_TRUE(r.status.is_ok()) << r.status.message();
  EXPECT_TRUE(r.errors.empty()) << errors_text(r);
  EXPECT_EQ(r.stream, "op");
  EXPECT_EQ(r.layout, "body_25");
  EXPECT_EQ(r.joints, 25);
  ASSERT_EQ(r.frames.size(), 3u);
  EXPECT_DOUBLE_EQ(r.frames[0].timestamp, 0.0);
  EXPECT_DOUBLE_EQ(r.frames[1].timestamp, 2.0 / 25);
  EXPECT_DOUBLE_EQ(r.frames[2].timestamp, 3.0 / 25);
  ASSERT_EQ(r.frames[0].persons.size(), 2u);
  EXPECT_EQ(r.frames[0].persons[0].track, 0);  // person_id -1: index
  EXPECT_EQ(r.frames[0].persons[1].track, 5);
  EXPECT_FLOAT_EQ(r.frames[0].persons[1].xyz[3 * 24], jx(24, 1));
  EXPECT_FLOAT_EQ(r.frames[0].persons[1].confidence[24], jc(24));
  EXPECT_TRUE(r.frames[1].persons.empty());
}

TEST(Sources, OpenPoseBody25MapsToOpenposeAndCoco) {
  TempDir tmp;
  json person = openpose_person(-1, 25, 0);
  person["pose_keypoints_2d"][3 * 10 + 2] = 0.0;  // R knee missing
  tmp.write("op/f_0_keypoints.json", openpose_file({person}));
  auto r = read_all(tmp.path("op"), {.layout = "openpose", .width = 640, .height = 480});
  ASSERT_TRUE(r.status.is_ok()) << r.status.message();
  EXPECT_EQ(r.layout, "openpose");
  EXPECT_EQ(r.joints, 18);
  ASSERT_EQ(r.frames.size(), 1u);
  const PersonObs& p = r.frames[0].persons[0];
  ASSERT_EQ(p.xyz.size(), 54u);
  // openpose joint t <- BODY_25 joint src[t] (MidHip 8 and the feet dropped).
  const int src[18] = {0, 1, 2, 3, 4, 5, 6, 7, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18};
  for (int t = 0; t < 18; ++t) {
    if (src[t] == 10) {  // missing: (0, 0, 0), confidence 0
      EXPECT_FLOAT_EQ(p.confidence[t], 0.0f);
      EXPECT_FLOAT_EQ(p.xyz[3 * t], 0.0f);
      continue;
    }
    EXPECT_FLOAT_EQ(p.xyz[3 * t], jx(src[t]) / 640) << t;
    EXPECT_FLOAT_EQ(p.xyz[3 * t + 1], jy(src[t]) / 480) << t;
    EXPECT_FLOAT_EQ(p.confidence[t], jc(src[t])) << t;
  }
  auto c = read_all(tmp.path("op"), {.layout = "coco"});
  ASSERT_TRUE(c.status.is_ok()) << c.status.message();
  ASSERT_EQ(c.joints, 17);
  const PersonObs& q = c.frames[0].persons[0];
  EXPECT_FLOAT_EQ(q.xyz[3 * 1], jx(16));   // L eye
  EXPECT_FLOAT_EQ(q.xyz[3 * 6], jx(2));    // R shoulder
  EXPECT_FLOAT_EQ(q.xyz[3 * 11], jx(12));  // L hip
  EXPECT_FLOAT_EQ(q.xyz[3 * 16], jx(11));  // R ankle
}

// A Kinetics-skeleton clip (st-gcn / mmskeleton JSON): 18 OpenPose joints as (x, y) pairs
// plus scores; it used to be read as an empty MediaPipe file.
json kinetics_skeleton(float base, bool with_score = true) {
  json pose = json::array(), score = json::array();
  for (int j = 0; j < 18; ++j) {
    pose.push_back(jx(j, base));
    pose.push_back(jy(j, base));
    score.push_back(jc(j));
  }
  json s = {{"pose", pose}};
  if (with_score) s["score"] = score;
  return s;
}

TEST(Sources, KineticsSkeletonJsonIsDetectedAndRead) {
  TempDir tmp;
  json doc = {{"data", json::array()}, {"label", "abseiling"}, {"label_index", 0}};
  doc["data"].push_back({{"frame_index", 1}, {"skeleton", {kinetics_skeleton(0)}}});
  doc["data"].push_back(
      {{"frame_index", 2}, {"skeleton", {kinetics_skeleton(1), kinetics_skeleton(2, false)}}});
  json bad = kinetics_skeleton(3);
  bad["pose"].erase(0);  // 35 values: not (x, y) pairs
  doc["data"].push_back({{"frame_index", 3}, {"skeleton", {bad}}});
  doc["data"].push_back({{"frame_index", 5}, {"skeleton", json::array()}});
  const std::string path = tmp.write("clip.json", doc.dump());
  auto r = read_all(path);  // auto: .json with "data" and "label"
  ASSERT_TRUE(r.status.is_ok()) << r.status.message();
  EXPECT_EQ(r.layout, "openpose");
  EXPECT_EQ(r.joints, 18);
  ASSERT_EQ(r.frames.size(), 3u) << errors_text(r);
  EXPECT_DOUBLE_EQ(r.frames[0].timestamp, 0.0);
  EXPECT_DOUBLE_EQ(r.frames[1].timestamp, 1.0 / 30);
  EXPECT_DOUBLE_EQ(r.frames[2].timestamp, 4.0 / 30);
  ASSERT_EQ(r.frames[1].persons.size(), 2u);
  const PersonObs& p = r.frames[1].persons[0];
  EXPECT_EQ(p.track, 0);
  EXPECT_FLOAT_EQ(p.xyz[3 * 17 + 0], jx(17, 1));
  EXPECT_FLOAT_EQ(p.xyz[3 * 17 + 1], jy(17, 1));
  EXPECT_FLOAT_EQ(p.xyz[3 * 17 + 2], 0.f);
  EXPECT_FLOAT_EQ(p.confidence[5], jc(5));
  EXPECT_EQ(r.frames[1].persons[1].track, 1);
  EXPECT_FLOAT_EQ(r.frames[1].persons[1].confidence[5], 1.f);  // no score: confident
  EXPECT_TRUE(r.frames[2].persons.empty());
  ASSERT_EQ(r.errors.size(), 1u) << errors_text(r);
  EXPECT_NE(r.errors[0].where.find("data[2]"), std::string::npos) << r.errors[0].where;
  EXPECT_NE(r.errors[0].message.find("not (x, y) pairs"), std::string::npos);
  // Without a data list it is refused at open.
  const std::string no_data = tmp.write("x.kin", "{\"label\": \"a\", \"data\": 3}");
  auto n = read_all(no_data, {.format = SourceFormat::kKineticsJson});
  EXPECT_FALSE(n.status.is_ok());
  EXPECT_NE(n.status.message().find("\"data\" list"), std::string::npos) << n.status.message();
}

TEST(Sources, OpenPoseSingleCoco18FileAndBadFiles) {
  TempDir tmp;
  const std::string one =
      tmp.write("frame_000007_keypoints.json", openpose_file({openpose_person(2, 18, 0)}));
  auto r = read_all(one);  // auto: .json with "people"
  ASSERT_TRUE(r.status.is_ok()) << r.status.message();
  EXPECT_EQ(r.layout, "openpose");
  ASSERT_EQ(r.frames.size(), 1u);
  EXPECT_DOUBLE_EQ(r.frames[0].timestamp, 7.0 / 30);
  EXPECT_EQ(r.frames[0].persons[0].track, 2);

  // A directory with a bad file and a person with the wrong number of values.
  tmp.write("d/a_000_keypoints.json", openpose_file({openpose_person(-1, 18, 0)}));
  const std::string bad = tmp.write("d/a_001_keypoints.json", "{\"people\": [");
  json short_person = openpose_person(-1, 18, 0);
  short_person["pose_keypoints_2d"].erase(0);
  const std::string wrong = tmp.write("d/a_002_keypoints.json", openpose_file({short_person}));
  const std::string mixed =
      tmp.write("d/a_003_keypoints.json", openpose_file({openpose_person(-1, 25, 0)}));
  tmp.write("d/a_004_keypoints.json", openpose_file({openpose_person(-1, 18, 4)}));
  auto d = read_all(tmp.path("d"), {.format = SourceFormat::kOpenPoseJson});
  ASSERT_TRUE(d.status.is_ok()) << d.status.message();
  ASSERT_EQ(d.frames.size(), 2u) << errors_text(d);
  EXPECT_DOUBLE_EQ(d.frames[1].timestamp, 4.0 / 30);
  EXPECT_FLOAT_EQ(d.frames[1].persons[0].xyz[0], jx(0, 4));
  ASSERT_EQ(d.errors.size(), 3u) << errors_text(d);
  EXPECT_EQ(d.errors[0].where, bad);
  EXPECT_NE(d.errors[0].message.find("bad JSON"), std::string::npos);
  EXPECT_EQ(d.errors[1].where, wrong);
  EXPECT_NE(d.errors[1].message.find("53 keypoint values, expected 75"), std::string::npos);
  EXPECT_EQ(d.errors[2].where, mixed);
  EXPECT_NE(d.errors[2].message.find("has 25 joints, expected 18"), std::string::npos);
}

TEST(Sources, OpenPoseNaturalOrderWithoutPadding) {
  TempDir tmp;
  for (int i : {10, 2, 1})
    tmp.write("n/f" + std::to_string(i) + "_keypoints.json",
              openpose_file({openpose_person(-1, 18, static_cast<float>(i))}));
  auto r = read_all(tmp.path("n/"));
  ASSERT_EQ(r.frames.size(), 3u) << errors_text(r);
  EXPECT_EQ(r.stream, "n");
  EXPECT_DOUBLE_EQ(r.frames[0].timestamp, 1.0 / 30);
  EXPECT_DOUBLE_EQ(r.frames[2].timestamp, 10.0 / 30);
}

// ---------------------------------------------------------------------------
// MediaPipe JSON.

json mp_landmarks_objects(float base, int V = 33) {
  json l = json::array();
  for (int j = 0; j < V; ++j)
    l.push_back({{"x", jx(j, base)}, {"y", jy(j, base)}, {"z", jz(j)}, {"visibility", jc(j)}});
  return l;
}

json mp_landmarks_arrays(float base) {
  json l = json::array();
  for (int j = 0; j < 33; ++j) l.push_back({jx(j, base), jy(j, base), jz(j), jc(j)});
  return l;
}

TEST(Sources, MediaPipeJsonShapes) {
  TempDir tmp;
  // An array of frames, one person as landmark objects, timestamp_ms.
  json frames = json::array();
  frames.push_back({{"timestamp_ms", 0}, {"landmarks", mp_landmarks_objects(0)}});
  frames.push_back({{"timestamp_ms", 33}, {"landmarks", nullptr}});
  frames.push_back({{"timestamp_ms", 66}, {"landmarks", mp_landmarks_arrays(1)}});
  const std::string a = tmp.write("a.json", frames.dump(2));
  auto r = read_all(a);
  ASSERT_TRUE(r.status.is_ok()) << r.status.message();
  EXPECT_TRUE(r.errors.empty()) << errors_text(r);
  EXPECT_EQ(r.layout, "mediapipe");
  EXPECT_EQ(r.joints, 33);
  ASSERT_EQ(r.frames.size(), 3u);
  EXPECT_DOUBLE_EQ(r.frames[1].timestamp, 0.033);
  EXPECT_TRUE(r.frames[1].persons.empty());
  for (int f : {0, 2}) {
    const PersonObs& p = r.frames[f].persons.at(0);
    EXPECT_EQ(p.track, 0);
    for (int j = 0; j < 33; ++j) {
      EXPECT_FLOAT_EQ(p.xyz[3 * j], jx(j, f / 2.0f));
      EXPECT_FLOAT_EQ(p.xyz[3 * j + 2], jz(j));
      EXPECT_FLOAT_EQ(p.confidence[j], jc(j));
    }
  }

  // {"frames": [...]}: several persons, MessageToDict-style lists, track ids, seconds / frame.
  json doc = {{"fps", 30}, {"frames", json::array()}};
  json wrapped = json::object();
  wrapped["landmark"] = mp_landmarks_objects(0);  // protobuf MessageToDict
  json two = json::array();
  two.push_back(wrapped);
  two.push_back(mp_landmarks_objects(2));
  json f0 = json::object(), f1 = json::object();
  f0["timestamp"] = 1.5;
  f0["pose_landmarks"] = two;
  f0["track_ids"] = json::array({11, 12});
  f1["frame"] = 60;
  f1["poses"] = json::array();
  f1["poses"].push_back(mp_landmarks_arrays(3));
  doc["frames"].push_back(f0);
  doc["frames"].push_back(f1);
  const std::string b = tmp.write("b.json", doc.dump());
  auto rb = read_all(b, {.format = SourceFormat::kMediaPipeJson});
  ASSERT_TRUE(rb.status.is_ok()) << rb.status.message();
  EXPECT_TRUE(rb.errors.empty()) << errors_text(rb);
  ASSERT_EQ(rb.frames.size(), 2u);
  EXPECT_DOUBLE_EQ(rb.frames[0].timestamp, 1.5);
  ASSERT_EQ(rb.frames[0].persons.size(), 2u);
  EXPECT_EQ(rb.frames[0].persons[0].track, 11);
  EXPECT_EQ(rb.frames[0].persons[1].track, 12);
  EXPECT_FLOAT_EQ(rb.frames[0].persons[1].xyz[3 * 5], jx(5, 2));
  EXPECT_DOUBLE_EQ(rb.frames[1].timestamp, 2.0);
  EXPECT_FLOAT_EQ(rb.frames[1].persons[0].xyz[3 * 32 + 1], jy(32, 3));

  // A single frame object is a one-frame document.
  const std::string c = tmp.write("c.json", json{{"landmarks", mp_landmarks_objects(0)}}.dump());
  EXPECT_EQ(read_all(c).frames.size(), 1u);
}

TEST(Sources, MediaPipeMapsToOpenposeWithSynthesisedNeck) {
  TempDir tmp;
  json lm = mp_landmarks_objects(0);
  json lm_missing = mp_landmarks_objects(0);
  lm_missing[12]["visibility"] = 0.0;  // right shoulder missing
  json frames = {{{"timestamp_ms", 0}, {"landmarks", lm}},
                 {{"timestamp_ms", 40}, {"landmarks", lm_missing}}};
  const std::string path = tmp.write("m.json", frames.dump());
  auto r = read_all(path, {.layout = "openpose"});
  ASSERT_TRUE(r.status.is_ok()) << r.status.message();
  EXPECT_EQ(r.layout, "openpose");
  ASSERT_EQ(r.frames.size(), 2u);
  const PersonObs& p = r.frames[0].persons[0];
  ASSERT_EQ(p.xyz.size(), 54u);
  for (int k = 0; k < 3; ++k) {
    const float s11[3] = {jx(11), jy(11), jz(11)}, s12[3] = {jx(12), jy(12), jz(12)};
    EXPECT_FLOAT_EQ(p.xyz[3 * 1 + k], (s11[k] + s12[k]) / 2) << k;  // neck
  }
  EXPECT_FLOAT_EQ(p.confidence[1], std::min(jc(11), jc(12)));
  EXPECT_FLOAT_EQ(p.xyz[3 * 2], jx(12));   // R shoulder <- 12
  EXPECT_FLOAT_EQ(p.xyz[3 * 11], jx(23));  // L hip <- 23
  EXPECT_FLOAT_EQ(p.xyz[3 * 14], jx(5));   // R eye <- 5
  EXPECT_FLOAT_EQ(p.xyz[3 * 17], jx(7));   // L ear <- 7
  const PersonObs& q = r.frames[1].persons[0];
  EXPECT_FLOAT_EQ(q.confidence[1], 0.0f);  // neck missing with a shoulder
  EXPECT_FLOAT_EQ(q.xyz[3 * 1], 0.0f);
  EXPECT_FLOAT_EQ(q.confidence[2], 0.0f);
  EXPECT_FLOAT_EQ(q.confidence[5], jc(11));

  auto c = read_all(path, {.layout = "coco"});
  ASSERT_EQ(c.joints, 17);
  EXPECT_FLOAT_EQ(c.frames[0].persons[0].xyz[3 * 16], jx(28));  // R ankle
  auto n = read_all(path, {.layout = "ntu-rgb+d"});
  ASSERT_EQ(n.joints, 25);
  EXPECT_FLOAT_EQ(n.frames[0].persons[0].xyz[0], (jx(23) + jx(24)) / 2);  // spine base
  auto b = read_all(path, {.layout = "blazepose"});                       // the same 33 joints
  ASSERT_EQ(b.joints, 33);
  EXPECT_FLOAT_EQ(b.frames[1].persons[0].xyz[3 * 12], jx(12));  // identity keeps values
}

TEST(Sources, MediaPipeJsonMalformedFrames) {
  TempDir tmp;
  json f0 = {{"timestamp_ms", 0}, {"landmarks", mp_landmarks_objects(0)}};
  json f1 = {{"timestamp_ms", 10}, {"landmarks", mp_landmarks_objects(0, 31)}};
  json f3 = {{"timestamp_ms", 0}, {"landmarks", mp_landmarks_objects(0)}};
  json f4 = {{"timestamp_ms", 40}, {"landmarks", mp_landmarks_objects(0)}};
  // One frame per line: line n + 1 holds frame n.
  std::string text = "[\n" + f0.dump() + ",\n" + f1.dump() + ",\n";
  std::string nan_frame = f4.dump();
  nan_frame.replace(nan_frame.find("\"x\":10.0"), 8, "\"x\":NaN");
  text += nan_frame + ",\n" + f3.dump() + ",\n" + f4.dump() + "\n]\n";
  const std::string path = tmp.write("bad.json", text);
  auto r = read_all(path);
  ASSERT_TRUE(r.status.is_ok()) << r.status.message();
  ASSERT_EQ(r.frames.size(), 2u) << errors_text(r);
  EXPECT_DOUBLE_EQ(r.frames[1].timestamp, 0.04);
  ASSERT_EQ(r.errors.size(), 3u) << errors_text(r);
  EXPECT_EQ(r.errors[0].where, path + ":3");
  EXPECT_EQ(r.errors[0].message, "person 0 (track 0) has 31 joints, expected 33");
  EXPECT_EQ(r.errors[1].where, path + ":4");
  EXPECT_NE(r.errors[1].message.find("non-finite"), std::string::npos);
  EXPECT_EQ(r.errors[2].where, path + ":5");
  EXPECT_NE(r.errors[2].message.find("timestamp 0 is not after the previous frame's 0"),
            std::string::npos);

  // Not JSON at all: refused at open.
  const std::string junk = tmp.write("junk.json", "hello");
  EXPECT_EQ(read_all(junk).status.code(), ErrorCode::kCorrupt);
}

// ---------------------------------------------------------------------------
// MediaPipe CSV.

std::string wide_header(bool names) {
  std::string h = "frame,timestamp_ms,person";
  const char* const mp[33] = {
      "nose",        "left_eye_inner",  "left_eye",        "left_eye_outer", "right_eye_inner",
      "right_eye",   "right_eye_outer", "left_ear",        "right_ear",      "mouth_left",
      "mouth_right", "left_shoulder",   "right_shoulder",  "left_elbow",     "right_elbow",
      "left_wrist",  "right_wrist",     "left_pinky",      "right_pinky",    "left_index",
      "right_index", "left_thumb",      "right_thumb",     "left_hip",       "right_hip",
      "left_knee",   "right_knee",      "left_ankle",      "right_ankle",    "left_heel",
      "right_heel",  "left_foot_index", "right_foot_index"};
  for (int j = 0; j < 33; ++j) {
    if (names) {
      const std::string n = mp[j];
      h += "," + n + "_x," + n + "_y," + n + "_z," + n + "_visibility";
    } else {
      const std::string s = std::to_string(j);
      h += ",x" + s + ",y" + s + ",z" + s + ",v" + s;
    }
  }
  return h + "\n";
}

std::string wide_row(int frame, double ts_ms, int person, float base) {
  std::string r = fmt::format("{},{},{}", frame, fmt_num(ts_ms), person);
  for (int j = 0; j < 33; ++j)
    r += fmt::format(",{},{},{},{}", fmt_num(jx(j, base)), fmt_num(jy(j, base)), fmt_num(jz(j)),
                     fmt_num(jc(j)));
  return r + "\n";
}

TEST(Sources, MediaPipeCsvWide) {
  TempDir tmp;
  for (bool names : {false, true}) {
    std::string text = wide_header(names);
    text += wide_row(0, 0, 4, 0) + wide_row(0, 0, 9, 1);
    text += "1,33,";  // no detection in frame 1: empty landmark fields
    for (int j = 0; j < 33 * 4; ++j) text += ",";
    text += "\n";
    text += wide_row(2, 66.5, 4, 2);
    const std::string path = tmp.write(names ? "named.csv" : "wide.csv", text);
    auto r = read_all(path);
    ASSERT_TRUE(r.status.is_ok()) << r.status.message();
    EXPECT_TRUE(r.errors.empty()) << errors_text(r);
    EXPECT_EQ(r.layout, "mediapipe");
    ASSERT_EQ(r.frames.size(), 3u);
    ASSERT_EQ(r.frames[0].persons.size(), 2u);
    EXPECT_EQ(r.frames[0].persons[0].track, 4);
    EXPECT_EQ(r.frames[0].persons[1].track, 9);
    EXPECT_FLOAT_EQ(r.frames[0].persons[1].xyz[3 * 20], jx(20, 1));
    EXPECT_FLOAT_EQ(r.frames[0].persons[1].xyz[3 * 20 + 2], jz(20));
    EXPECT_FLOAT_EQ(r.frames[0].persons[1].confidence[20], jc(20));
    EXPECT_DOUBLE_EQ(r.frames[1].timestamp, 0.033);
    EXPECT_TRUE(r.frames[1].persons.empty());
    EXPECT_DOUBLE_EQ(r.frames[2].timestamp, 0.0665);
    EXPECT_FLOAT_EQ(r.frames[2].persons[0].xyz[3 * 32 + 1], jy(32, 2));
  }
}

TEST(Sources, MediaPipeCsvLong) {
  TempDir tmp;
  std::string text = "frame,person,landmark,x,y,z,visibility\n";
  for (int f = 0; f < 3; ++f)
    for (int person : {1, 2})
      for (int j = 0; j < 33; ++j) {
        if (f == 1 && person == 2 && j == 7) continue;  // 32 landmarks
        const float base = static_cast<float>(f * 10 + person);
        // Landmarks by index, or by name in frame 2.
        const std::string lm = f == 2 && j == 0 ? "NOSE" : std::to_string(j);
        text += std::to_string(f) + "," + std::to_string(person) + "," + lm + "," +
                fmt_num(jx(j, base)) + "," + fmt_num(jy(j, base)) + "," + fmt_num(jz(j)) + "," +
                fmt_num(jc(j)) + "\n";
      }
  const std::string path = tmp.write("long.csv", text);
  auto r = read_all(path, {.fps = 10});
  ASSERT_TRUE(r.status.is_ok()) << r.status.message();
  ASSERT_EQ(r.frames.size(), 2u) << errors_text(r);
  ASSERT_EQ(r.errors.size(), 1u) << errors_text(r);
  EXPECT_EQ(r.errors[0].where, path + ":" + std::to_string(2 + 66));  // frame 1's first row
  EXPECT_EQ(r.errors[0].message, "person 1 (track 2) has 32 joints, expected 33");
  EXPECT_DOUBLE_EQ(r.frames[1].timestamp, 0.2);
  ASSERT_EQ(r.frames[1].persons.size(), 2u);
  EXPECT_EQ(r.frames[1].persons[1].track, 2);
  EXPECT_FLOAT_EQ(r.frames[1].persons[1].xyz[0], jx(0, 22));
  EXPECT_FLOAT_EQ(r.frames[1].persons[0].confidence[30], jc(30));
}

TEST(Sources, MediaPipeCsvMalformedRows) {
  TempDir tmp;
  std::string text = wide_header(false);
  text += wide_row(0, 0, 1, 0);  // line 2
  std::string short_row = wide_row(1, 33, 1, 0);
  short_row.erase(short_row.rfind(','));  // one field fewer
  text += short_row + "\n";               // line 3
  std::string nan_row = wide_row(2, 66, 1, 0);
  nan_row.replace(nan_row.find(",0,100,"), 7, ",nan,100,");
  text += nan_row;  // line 4
  std::string word_row = wide_row(3, 99, 1, 0);
  word_row.replace(word_row.find(",0,100,"), 7, ",abc,100,");
  text += word_row;                // line 5
  text += wide_row(4, 90, 1, 0);   // line 6
  text += wide_row(5, 60, 1, 0);   // line 7: goes back in time
  text += wide_row(6, 132, 1, 0);  // line 8
  const std::string path = tmp.write("bad.csv", text);
  auto r = read_all(path);
  ASSERT_TRUE(r.status.is_ok()) << r.status.message();
  ASSERT_EQ(r.frames.size(), 3u) << errors_text(r);
  EXPECT_DOUBLE_EQ(r.frames[1].timestamp, 0.09);
  EXPECT_DOUBLE_EQ(r.frames[2].timestamp, 0.132);
  ASSERT_EQ(r.errors.size(), 4u) << errors_text(r);
  EXPECT_EQ(r.errors[0].where, path + ":3");
  EXPECT_NE(r.errors[0].message.find("fields"), std::string::npos);
  EXPECT_EQ(r.errors[1].where, path + ":4");
  EXPECT_NE(r.errors[1].message.find("non-finite"), std::string::npos);
  EXPECT_EQ(r.errors[2].where, path + ":5");
  EXPECT_NE(r.errors[2].message.find("column x0: 'abc' is not a number"), std::string::npos);
  EXPECT_EQ(r.errors[3].where, path + ":7");
  EXPECT_NE(r.errors[3].message.find("timestamp 0.06 is not after the previous frame's 0.09"),
            std::string::npos);

  // A header naming fewer than 33 landmarks, or nothing usable: refused at open.
  EXPECT_FALSE(read_all(tmp.write("h.csv", "frame,x0,y0\n0,1,2\n")).status.is_ok());
  EXPECT_FALSE(read_all(tmp.write("g.csv", "a,b,c\n1,2,3\n")).status.is_ok());
}

// ---------------------------------------------------------------------------
// NTU RGB+D.

std::string ntu_body(int64_t id, float base, int joints = 25, int state = 2) {
  std::string s = std::to_string(id) + " 0 1 2 1 2 0 0.1 0.2 2\n" + std::to_string(joints) + "\n";
  for (int j = 0; j < joints; ++j)
    s += fmt_num(jx(j, base)) + " " + fmt_num(jy(j, base)) + " " + fmt_num(jz(j)) +
         " 250.1 200.2 900.3 500.4 0.1 0.2 0.3 0.4 " + std::to_string(state) + "\n";
  return s;
}

TEST(Sources, NtuSkeletonReadsBodiesAndTimestamps) {
  TempDir tmp;
  std::string text = "3\n";
  text += "1\n" + ntu_body(72057594037931101, 0);
  text += "0\n";
  text += "2\n" + ntu_body(72057594037931101, 1) + ntu_body(72057594037931102, 2, 25, 1);
  const std::string path = tmp.write("S001C001P001R001A001.skeleton", text);
  auto r = read_all(path);
  ASSERT_TRUE(r.status.is_ok()) << r.status.message();
  EXPECT_TRUE(r.errors.empty()) << errors_text(r);
  EXPECT_EQ(r.stream, "S001C001P001R001A001");
  EXPECT_EQ(r.layout, "ntu-rgb+d");
  EXPECT_EQ(r.joints, 25);
  ASSERT_EQ(r.frames.size(), 3u);
  EXPECT_DOUBLE_EQ(r.frames[2].timestamp, 2.0 / 30);
  EXPECT_TRUE(r.frames[1].persons.empty());
  ASSERT_EQ(r.frames[2].persons.size(), 2u);
  EXPECT_EQ(r.frames[2].persons[0].track, 72057594037931101);
  EXPECT_EQ(r.frames[2].persons[1].track, 72057594037931102);
  for (int j = 0; j < 25; ++j) {
    EXPECT_FLOAT_EQ(r.frames[2].persons[1].xyz[3 * j], jx(j, 2));
    EXPECT_FLOAT_EQ(r.frames[2].persons[1].xyz[3 * j + 1], jy(j, 2));
    EXPECT_FLOAT_EQ(r.frames[2].persons[1].xyz[3 * j + 2], jz(j));
    EXPECT_FLOAT_EQ(r.frames[2].persons[0].confidence[j], 1.0f);  // tracked
    EXPECT_FLOAT_EQ(r.frames[2].persons[1].confidence[j], 0.5f);  // inferred
  }
}

TEST(Sources, NtuSkeletonMalformedAndTruncated) {
  TempDir tmp;
  std::string text = "5\n";
  text += "1\n" + ntu_body(100, 0);      // frame 0: lines 2-29
  text += "1\n" + ntu_body(100, 1, 24);  // frame 1: 24 joints, lines 30-56
  std::string nan_body = ntu_body(100, 0);
  nan_body.replace(nan_body.find("\n0 100 0 "), 9, "\nnan 100 0 ");
  text += "1\n" + nan_body;          // frame 2: NaN, lines 57-84
  text += "1\n" + ntu_body(100, 3);  // frame 3: ok, lines 85-112
  std::string cut = ntu_body(100, 4);
  cut.resize(cut.find("\n", cut.find("\n", cut.find("\n") + 1) + 1) + 1);  // info, count, 1 joint
  text += "1\n" + cut;  // frame 4: truncated, body at line 114
  const std::string path = tmp.write("cut.skeleton", text);
  auto r = read_all(path);
  ASSERT_TRUE(r.status.is_ok()) << r.status.message();
  ASSERT_EQ(r.frames.size(), 2u) << errors_text(r);
  EXPECT_DOUBLE_EQ(r.frames[1].timestamp, 3.0 / 30);
  EXPECT_FLOAT_EQ(r.frames[1].persons[0].xyz[0], jx(0, 3));
  ASSERT_EQ(r.errors.size(), 3u) << errors_text(r);
  EXPECT_EQ(r.errors[0].where, path + ":32");  // the body's joint count
  EXPECT_NE(r.errors[0].message.find("body 0 has 24 joints, expected 25"), std::string::npos);
  EXPECT_EQ(r.errors[1].where, path + ":57");  // the frame
  EXPECT_NE(r.errors[1].message.find("non-finite"), std::string::npos);
  EXPECT_EQ(r.errors[2].where, path + ":114");  // the truncated body
  EXPECT_NE(r.errors[2].message.find("truncated: frame 4 body 0 has 1 of 25 joint lines"),
            std::string::npos)
      << r.errors[2].message;

  // Fewer frames than declared.
  const std::string few = tmp.write("few.skeleton", "3\n1\n" + ntu_body(1, 0));
  auto f = read_all(few);
  ASSERT_EQ(f.frames.size(), 1u);
  ASSERT_EQ(f.errors.size(), 1u);
  EXPECT_EQ(f.errors[0].where, few + ":30");  // where frame 1 should start
  EXPECT_NE(f.errors[0].message.find("truncated: frame 1 of 3"), std::string::npos);
}

// ---------------------------------------------------------------------------
// Detection, open() errors and mappings.

TEST(Sources, AutoDetection) {
  TempDir tmp;
  const std::string op = openpose_file({openpose_person(-1, 18, 0)});
  json mp_frame = json::object();
  mp_frame["landmarks"] = mp_landmarks_objects(0);
  json mp_doc = json::array();
  mp_doc.push_back(mp_frame);
  const std::string mp = mp_doc.dump();
  struct Case {
    std::string file, text, layout;
  } cases[] = {
      {"a.jsonl", jsonl_line(0, {jsonl_person(1, 17, 3)}), "coco"},
      {"b.json", op, "openpose"},
      {"c.json", mp, "mediapipe"},
      {"d.csv", wide_header(false) + wide_row(0, 0, 0, 0), "mediapipe"},
      {"e.skeleton", "1\n1\n" + ntu_body(1, 0), "ntu-rgb+d"},
      // Other extensions: from the first bytes.
      {"f.txt", jsonl_line(0, {jsonl_person(1, 17, 3)}), "coco"},
      {"g.dat", op, "openpose"},
      {"h.out", "1\n1\n" + ntu_body(1, 0), "ntu-rgb+d"},
  };
  for (const auto& c : cases) {
    auto r = read_all(tmp.write(c.file, c.text));
    ASSERT_TRUE(r.status.is_ok()) << c.file << ": " << r.status.message();
    EXPECT_EQ(r.layout, c.layout) << c.file;
    EXPECT_EQ(r.frames.size(), 1u) << c.file << "\n" << errors_text(r);
  }
  tmp.write("dir/x_0_keypoints.json", op);
  EXPECT_EQ(read_all(tmp.path("dir")).layout, "openpose");
  EXPECT_FALSE(read_all(tmp.write("z.bin", "\x01\x02")).status.is_ok());
}

TEST(Sources, OpenErrors) {
  TempDir tmp;
  auto missing = read_all(tmp.path("nope.jsonl"));
  EXPECT_EQ(missing.status.code(), ErrorCode::kNotFound);
  EXPECT_NE(missing.status.message().find("nope.jsonl"), std::string::npos);
  const std::string ok = tmp.write("ok.jsonl", jsonl_line(0, {jsonl_person(1, 18, 3)}));
  EXPECT_EQ(read_all(ok, {.layout = "kinect"}).status.code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(read_all(ok, {.fps = 0}).status.code(), ErrorCode::kInvalidArgument);
  EXPECT_FALSE(read_all("-", {.format = SourceFormat::kNtuSkeleton}).status.is_ok());
  tmp.write("d/a.json", "{}");
  EXPECT_FALSE(read_all(tmp.path("d"), {.format = SourceFormat::kJsonl}).status.is_ok());
  fs::create_directories(tmp.path("empty"));
  EXPECT_EQ(read_all(tmp.path("empty")).status.code(), ErrorCode::kNotFound);
  // An NTU file with a MediaPipe source layout: wrong V.
  const std::string ntu = tmp.write("n.skeleton", "1\n0\n");
  EXPECT_FALSE(read_all(ntu, {.source_layout = "mediapipe"}).status.is_ok());
  EXPECT_EQ(read_all(ntu).frames.size(), 1u);
}

TEST(Sources, UndefinedMappingsAreRefusedAtOpen) {
  TempDir tmp;
  const std::string ntu = tmp.write("n.skeleton", "1\n1\n" + ntu_body(1, 0));
  auto r = read_all(ntu, {.layout = "openpose"});
  EXPECT_EQ(r.status.code(), ErrorCode::kUnsupported);
  EXPECT_NE(r.status.message().find("'ntu-rgb+d'"), std::string::npos) << r.status.message();
  EXPECT_NE(r.status.message().find("'openpose'"), std::string::npos) << r.status.message();
  EXPECT_EQ(r.status.message().find('\n'), std::string::npos);
  EXPECT_FALSE(read_all(ntu, {.layout = "ntu_edge"}).status.is_ok());
  const std::string op = tmp.write("o.jsonl", jsonl_line(0, {jsonl_person(1, 18, 3)}));
  EXPECT_EQ(read_all(op, {.layout = "mediapipe"}).status.code(), ErrorCode::kUnsupported);
  EXPECT_TRUE(read_all(op, {.layout = "coco"}).status.is_ok());
}

TEST(Sources, JointMappingTables) {
  // Identities, with the V of graph.h's layouts.
  for (const std::string& name : layout_names()) {
    auto m = joint_mapping(name, name);
    ASSERT_TRUE(m.is_ok()) << name;
    EXPECT_EQ(static_cast<int>(m->size()), named_layout(name)->num_joints) << name;
  }
  auto mb = joint_mapping("mediapipe", "blazepose");
  ASSERT_TRUE(mb.is_ok());
  ASSERT_EQ(mb->size(), 33u);
  for (int j = 0; j < 33; ++j) EXPECT_EQ((*mb)[j], std::vector<int>{j});
  auto b = joint_mapping("body_25", "openpose");
  ASSERT_TRUE(b.is_ok());
  ASSERT_EQ(b->size(), 18u);
  EXPECT_EQ((*b)[8], std::vector<int>{9});
  EXPECT_EQ((*b)[17], std::vector<int>{18});
  auto mo = joint_mapping("blazepose", "openpose");
  ASSERT_TRUE(mo.is_ok());
  EXPECT_EQ((*mo)[1], (std::vector<int>{11, 12}));
  auto co = joint_mapping("coco", "openpose");
  ASSERT_TRUE(co.is_ok());
  EXPECT_EQ((*co)[1], (std::vector<int>{5, 6}));
  // Every index in range, every table the target's V.
  for (const char* from : {"body_25", "openpose", "coco", "mediapipe", "blazepose", "ntu-rgb+d"})
    for (const char* to : {"openpose", "coco", "mediapipe", "ntu-rgb+d", "ntu_edge"}) {
      auto m = joint_mapping(from, to);
      if (!m.is_ok()) {
        EXPECT_EQ(m.status().code(), ErrorCode::kUnsupported) << from << " -> " << to;
        continue;
      }
      EXPECT_EQ(static_cast<int>(m->size()), named_layout(to)->num_joints) << from << to;
      const int V = std::string(from) == "body_25" ? 25 : named_layout(from)->num_joints;
      for (const auto& srcs : *m) {
        ASSERT_FALSE(srcs.empty());
        for (int s : srcs) EXPECT_TRUE(s >= 0 && s < V) << from << " -> " << to;
      }
    }
  EXPECT_FALSE(joint_mapping("ntu-rgb+d", "ntu_edge").is_ok());
  EXPECT_FALSE(joint_mapping("openpose", "body_25").is_ok());
  EXPECT_EQ(joint_mapping("kinect", "openpose").status().code(), ErrorCode::kInvalidArgument);
}

}  // namespace
}  // namespace stgcn
