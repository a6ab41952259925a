// `stgcn run` and `stgcn bench --streams`: recorded streams from the dataset
// generator played at camera rate, malformed lines reported and skipped, bad
// inputs refused in one line without a partial events file.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "stgcn/npy.h"
#include "test_util.h"

namespace stgcn {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

const std::string kTrained =
    std::string(STGCN_SOURCE_DIR) + "/models/trained/stgcn_seed_actions.pt";
const std::string kDemo = std::string(STGCN_SOURCE_DIR) + "/models/demo/stgcn_demo.pt";

class RunCli : public testing::CliTest {
 protected:
  // Four 150-frame streams (walk, wave, squat, fall) with one malformed line each.
  json make_streams(int malformed = 1) {
    const std::string cmd = std::string("'") + STGCN_PYTHON + "' '" + STGCN_SOURCE_DIR +
                            "/python/make_streams.py' '" + path("s") + "' --malformed " +
                            std::to_string(malformed) + " > /dev/null";
    EXPECT_EQ(std::system(cmd.c_str()), 0);
    std::ifstream f(path("s/truth.json"));
    return json::parse(f);
  }
  std::string sources(const json& truth) {
    std::string s;
    for (const auto& st : truth["streams"])
      s += " --source '" + path("s/" + st["file"].get<std::string>()) + "'";
    return s;
  }
  std::vector<json> events(const std::string& file) {
    std::vector<json> out;
    std::ifstream f(file);
    std::string line;
    while (std::getline(f, line)) out.push_back(json::parse(line));
    return out;
  }
};

TEST_F(RunCli, FourStreamsAtCameraRateGetTheRightLabels) {
  json truth = make_streams(1);
  auto r = run("run '" + kTrained + "'" + sources(truth) +
               " --realtime 30 --hop 30 --out '" + path("events.jsonl") + "'");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // Camera rate: 150 frames at 30 fps take about 5 s.
  EXPECT_NE(r.err.find("paced at 30 fps"), std::string::npos) << r.err;
  // Each malformed line is reported with the stream and file:line, and skipped.
  for (const auto& st : truth["streams"])
    for (const auto& bad : st["malformed"]) {
      const std::string where = st["file"].get<std::string>() + ":" + std::to_string(bad["line"].get<int>());
      EXPECT_NE(r.err.find(where), std::string::npos) << where << "\n" << r.err;
    }
  auto ev = events(path("events.jsonl"));
  ASSERT_FALSE(ev.empty());
  std::map<std::string, std::string> last;
  for (const auto& e : ev) {
    EXPECT_TRUE(e.contains("latency_ms") && e.contains("top") && e.contains("t"));
    last[e["stream"]] = e["class"];
  }
  for (const auto& st : truth["streams"]) {
    const std::string want = st["segments"][0]["class"];
    EXPECT_EQ(last[st["stream"]], want) << st["stream"];
    EXPECT_NE(r.out.find(st["stream"].get<std::string>() + " track 1: " + want), std::string::npos)
        << r.out;
  }
  EXPECT_NE(r.err.find("dropped 0"), std::string::npos) << r.err;
}

// A built INT8 engine runs in continual mode (the backend lowers the engine's graph, with its
// calibration): each stream's final event is its true label.
TEST_F(RunCli, AnInt8EngineRunsInContinualMode) {
  json truth = make_streams(0);
  const std::string engine = path("m8.engine");
  auto b = run("build '" + kTrained + "' -o '" + engine + "' --precision int8 --calib '" +
               STGCN_SOURCE_DIR + "/models/trained/test_input.npy' --calib-size 32");
  ASSERT_EQ(b.exit_code, 0) << b.err;
  auto r = run("run '" + engine + "'" + sources(truth) + " --mode continual --out '" +
               path("c8.jsonl") + "' --quiet --labels '" + STGCN_SOURCE_DIR +
               "/models/trained/classes.json'");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::map<std::string, json> final_class;
  for (const auto& e : events(path("c8.jsonl")))
    if (e.value("final", false)) final_class[e["stream"]] = e["class"];
  ASSERT_EQ(final_class.size(), truth["streams"].size());
  for (const auto& st : truth["streams"])
    EXPECT_EQ(final_class[st["stream"]], st["segments"][0]["class"]) << st["stream"];
}

// The trained mmaction2-style ST-GCN++ (coco-17, NMTVC) reads a coco JSONL stream in both
// modes; each track's final answer is its sequence's label.
TEST_F(RunCli, TheTrainedStgcnPlusPlusRunsInBothModes) {
  const std::string dirp = std::string(STGCN_SOURCE_DIR) + "/models/trained/stgcnpp/";
  auto x = read_npy(dirp + "test_input.npy");  // (16, 1, 150, 17, 3)
  auto y = read_labels_npy(dirp + "test_labels.npy");
  ASSERT_TRUE(x.is_ok() && y.is_ok());
  const int64_t T = x->shape[2], V = x->shape[3], C = x->shape[4], n = 3;
  {
    std::ofstream f(path("coco.jsonl"));
    f << "{\"layout\": \"coco\"}\n";
    for (int64_t t = 0; t < T; ++t) {
      json persons = json::array();
      for (int64_t i = 0; i < n; ++i) {
        json kp = json::array();
        for (int64_t v = 0; v < V; ++v) {
          json row = json::array();
          for (int64_t c = 0; c < C; ++c) row.push_back(x->data[((i * T + t) * V + v) * C + c]);
          kp.push_back(row);
        }
        persons.push_back({{"id", i}, {"kp", kp}});
      }
      f << json{{"t", t / 30.0}, {"frame", t}, {"persons", persons}}.dump() << "\n";
    }
  }
  for (const char* mode : {"window", "continual"}) {
    const std::string out = path(std::string(mode) + ".jsonl");
    auto r = run("run '" + dirp + "stgcnpp_actions.pth' --source '" + path("coco.jsonl") +
                 "' --mode " + mode + " --out '" + out + "' --quiet");
    ASSERT_EQ(r.exit_code, 0) << r.err;
    std::map<int, int> last;
    for (const auto& e : events(out)) last[e["tracks"][0].get<int>()] = e["label"].get<int>();
    ASSERT_EQ(last.size(), static_cast<size_t>(n)) << mode;
    for (int i = 0; i < n; ++i) EXPECT_EQ(last[i], static_cast<int>(y->data[i])) << mode << " track " << i;
  }
}

TEST_F(RunCli, ContinualModeFromStdinAndItsFinalEventAgreesWithWindowMode) {
  json truth = make_streams(0);
  const std::string cam = path("s/" + truth["streams"][1]["file"].get<std::string>());
  auto w = run("run '" + kTrained + "' --source '" + cam + "' --out '" + path("w.jsonl") + "' --quiet");
  ASSERT_EQ(w.exit_code, 0) << w.err;
  std::ifstream in(cam);
  std::stringstream text;
  text << in.rdbuf();
  auto c = testing::run_cli("run '" + kTrained + "' --source - --mode continual --out '" +
                                path("c.jsonl") + "' --quiet",
                            dir_, text.str());
  ASSERT_EQ(c.exit_code, 0) << c.err;
  auto we = events(path("w.jsonl"));
  auto ce = events(path("c.jsonl"));
  ASSERT_FALSE(we.empty());
  ASSERT_FALSE(ce.empty());
  EXPECT_EQ(ce.front()["stream"], "stdin");
  EXPECT_TRUE(ce.back()["final"].get<bool>());
  // A 150-frame stream: the flushed continual answer is the window's.
  EXPECT_EQ(ce.back()["label"], we.back()["label"]);
  EXPECT_NEAR(ce.back()["score"].get<double>(), we.back()["score"].get<double>(), 1e-3);
}

TEST_F(RunCli, EventsCanGoToStdoutAsTheyCome) {
  json truth = make_streams(0);
  auto r = run("run '" + kTrained + "' --source '" + path("s/cam0.jsonl") +
               "' --hop 50 --out - --stats-interval 0");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::istringstream lines(r.out);
  std::string line;
  int n = 0;
  while (std::getline(lines, line)) {
    json e = json::parse(line);  // stdout holds only events
    EXPECT_EQ(e["stream"], "cam0");
    ++n;
  }
  EXPECT_EQ(n, 1);  // frame 149 (min_frames = T); no final event: the last frame had one
  EXPECT_NE(r.err.find("cam0 track 1: walk"), std::string::npos) << r.err;
}

TEST_F(RunCli, BadInputsFailInOneLineWithoutAnEventsFile) {
  json truth = make_streams(0);
  const std::string out = path("events.jsonl");
  expect_clean_failure(run("run '" + kTrained + "' --source '" + path("nope.jsonl") + "' --out '" +
                           out + "'"),
                       "nope.jsonl");
  EXPECT_FALSE(fs::exists(out));
  // An engine whose graph cannot stream (central-difference motion needs the next frame).
  const std::string engine = path("m.engine");
  ASSERT_EQ(run("build '" + kDemo + "' -o '" + engine + "' --T 30 --motion central_difference")
                .exit_code,
            0);
  expect_clean_failure(run("run '" + engine + "'" + sources(truth) + " --mode continual --out '" +
                           out + "'"),
                       "cannot run in continual mode");
  EXPECT_FALSE(fs::exists(out));
  expect_clean_failure(run("run '" + kTrained + "'" + sources(truth) + " --lookahead"),
                       "--lookahead is for --mode continual");
  // The same file twice would be one stream id twice.
  const std::string cam0 = path("s/cam0.jsonl");
  expect_clean_failure(run("run '" + kTrained + "' --source '" + cam0 + "' --source '" + cam0 + "'"),
                       "two sources are named 'cam0'");
  auto u = run("run '" + kTrained + "'");
  EXPECT_EQ(u.exit_code, 2) << u.err;  // --source is required
  auto h = run("run --help");
  EXPECT_EQ(h.exit_code, 0);
  EXPECT_NE(h.out.find("--realtime"), std::string::npos);
}

TEST_F(RunCli, OpenPoseBody25DirectoryIsMappedForAnOpenPoseModel) {
  // BODY_25 per-frame files, a random openpose-layout (18 joints) model: the
  // source maps 25 -> 18 joints and every frame is classified.
  fs::create_directories(path("op"));
  for (int t = 0; t < 12; ++t) {
    json person;
    person["person_id"] = {3};
    std::vector<double> kp;
    for (int j = 0; j < 25; ++j) {
      kp.push_back(100 + j + t);
      kp.push_back(200 + 2 * j);
      kp.push_back(0.9);
    }
    person["pose_keypoints_2d"] = kp;
    json doc = {{"version", 1.3}, {"people", {person}}};
    char name[64];
    std::snprintf(name, sizeof(name), "op/clip_%012d_keypoints.json", t);
    std::ofstream(path(name)) << doc.dump();
  }
  const std::string fixture = testing::fixture_path("cases/openpose_spatial/model.pt");
  if (!fs::exists(fixture)) GTEST_SKIP() << "no openpose fixture: " << fixture;
  auto r = run("run '" + fixture + "' --source '" + path("op") + "' --T 8 --hop 1 --out '" +
               path("e.jsonl") + "'");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto ev = events(path("e.jsonl"));
  EXPECT_EQ(ev.size(), 5u);  // frames 7..11
  EXPECT_EQ(ev.front()["stream"], "op");
  EXPECT_EQ(ev.front()["tracks"][0], 3);
}

TEST_F(RunCli, StreamBenchProbesAGivenTrackCount) {
  auto r = run("bench '" + kDemo + "' --streams --mode continual,window --hop 4 --tracks 2 "
               "--seconds 1 --warmup-seconds 1 --T 30 --json '" + path("b.json") + "'");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::ifstream f(path("b.json"));
  json j = json::parse(f);
  ASSERT_EQ(j["results"].size(), 2u);
  for (const auto& row : j["results"]) {
    EXPECT_EQ(row["hop"], 4);
    EXPECT_GT(row["macs_per_frame"].get<double>(), 0);
  }
  // Continual costs far less per frame than re-running the window.
  EXPECT_LT(j["results"][0]["macs_per_frame"].get<double>(),
            j["results"][1]["macs_per_frame"].get<double>());
}

}  // namespace
}  // namespace stgcn
