#include <gtest/gtest.h>

#include <cstring>
#include <set>

#include "stgcn/graph.h"
#include "stgcn/npy.h"
#include "test_util.h"

namespace stgcn {
namespace {

int nnz(const Adjacency& a, int k) {
  int n = 0;
  for (int v = 0; v < a.V; ++v)
    for (int w = 0; w < a.V; ++w) n += a.at(k, v, w) != 0.0;
  return n;
}

// The reference page's cheap self-check: nnz of A[0]/A[1]/A[2], spatial, max_hop 1.
TEST(Graph, SpatialNonZerosMatchReferencePage) {
  const struct {
    const char* layout;
    int n0, n1, n2;
  } cases[] = {{"openpose", 18, 25, 9},
               {"ntu-rgb+d", 25, 40, 8},
               {"ntu_edge", 24, 41, 5},
               {"mediapipe", 33, 54, 14}};
  for (const auto& c : cases) {
    auto layout = named_layout(c.layout);
    ASSERT_TRUE(layout.is_ok());
    auto a = build_adjacency(*layout, {Strategy::kSpatial, 1, 1});
    ASSERT_TRUE(a.is_ok()) << a.status().message();
    ASSERT_EQ(a->K, 3);
    EXPECT_EQ(nnz(*a, 0), c.n0) << c.layout;
    EXPECT_EQ(nnz(*a, 1), c.n1) << c.layout;
    EXPECT_EQ(nnz(*a, 2), c.n2) << c.layout;
  }
}

TEST(Graph, ColumnsOfUniformSumToOne) {
  for (const auto& name : layout_names()) {
    auto layout = named_layout(name);
    ASSERT_TRUE(layout.is_ok());
    auto a = build_adjacency(*layout, {Strategy::kUniform, 1, 1});
    ASSERT_TRUE(a.is_ok());
    for (int w = 0; w < a->V; ++w) {
      double s = 0;
      for (int v = 0; v < a->V; ++v) s += a->at(0, v, w);
      EXPECT_NEAR(s, 1.0, 1e-12) << name << " column " << w;
    }
  }
}

TEST(Graph, PartitionCounts) {
  auto layout = named_layout("openpose");
  ASSERT_TRUE(layout.is_ok());
  EXPECT_EQ(build_adjacency(*layout, {Strategy::kDistance, 2, 1})->K, 3);
  EXPECT_EQ(build_adjacency(*layout, {Strategy::kDistance, 2, 2})->K, 2);
  EXPECT_EQ(build_adjacency(*layout, {Strategy::kSpatial, 2, 1})->K, 5);
  EXPECT_EQ(build_adjacency(*layout, {Strategy::kSpatial, 3, 1})->K, 7);
}

TEST(Graph, BadLayoutsAreRejected) {
  EXPECT_FALSE(named_layout("kinect").is_ok());
  EXPECT_FALSE(parse_custom_layout("{\"V\": 3, \"edges\": [[0, 5]], \"center\": 0}", "t").is_ok());
  EXPECT_FALSE(parse_custom_layout("{\"V\": 3, \"edges\": [[0, 1]], \"center\": 3}", "t").is_ok());
  EXPECT_FALSE(parse_custom_layout("{\"edges\": []}", "t").is_ok());
  EXPECT_FALSE(parse_custom_layout("not json", "t").is_ok());
  auto ok = parse_custom_layout(
      "{\"name\": \"tri\", \"V\": 3, \"edges\": [[0, 1], [1, 2]], \"center\": 1}", "t");
  ASSERT_TRUE(ok.is_ok()) << ok.status().message();
  EXPECT_EQ(ok->num_joints, 3);
  EXPECT_FALSE(load_custom_layout("/nonexistent/layout.json").is_ok());
}

// Every layout x strategy (and a few max_hop / dilation variants) equals the
// PyTorch reference's A to 1e-7.
TEST(Graph, MatchesPythonReferenceForEveryLayoutAndStrategy) {
  STGCN_REQUIRE_FIXTURES();
  const auto& graphs = testing::manifest()["graphs"];
  ASSERT_GE(graphs.size(), 21u);
  std::set<std::string> layouts, strategies;
  for (const auto& g : graphs) {
    Result<Layout> layout = g["custom_layout"].is_null()
                                ? named_layout(g["layout"].get<std::string>())
                                : load_custom_layout(testing::fixture_path(g["custom_layout"]));
    ASSERT_TRUE(layout.is_ok()) << layout.status().message();
    auto strategy = parse_strategy(g["strategy"].get<std::string>());
    ASSERT_TRUE(strategy.is_ok());
    GraphOptions opt{*strategy, g["max_hop"].get<int>(), g["dilation"].get<int>()};
    auto a = build_adjacency(*layout, opt);
    ASSERT_TRUE(a.is_ok()) << a.status().message();
    // Read the float64 reference A directly (read_npy converts to float32).
    auto bytes = read_file(testing::fixture_path(g["file"]));
    ASSERT_TRUE(bytes.is_ok());
    const size_t n = a->values.size();
    ASSERT_GE(bytes->size(), n * 8);
    const char* data = bytes->data() + (bytes->size() - n * 8);
    auto want = read_npy(testing::fixture_path(g["file"]));
    ASSERT_TRUE(want.is_ok()) << want.status().message();
    ASSERT_EQ(want->shape, (std::vector<int64_t>{a->K, a->V, a->V})) << g["file"];
    double max_diff = 0;
    for (size_t i = 0; i < n; ++i) {
      double w;
      std::memcpy(&w, data + i * 8, 8);
      max_diff = std::max(max_diff, std::abs(w - a->values[i]));
    }
    EXPECT_LE(max_diff, 1e-7) << g["file"];
    layouts.insert(g["layout"].get<std::string>());
    strategies.insert(g["strategy"].get<std::string>());
  }
  EXPECT_GE(layouts.size(), 7u);
  EXPECT_EQ(strategies.size(), 3u);
}

}  // namespace
}  // namespace stgcn
