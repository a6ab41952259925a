#include "stgcn/graph.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <sstream>

namespace stgcn {
namespace {

using Edges = std::vector<std::pair<int, int>>;

Edges one_based(const Edges& e) {
  Edges out;
  for (auto [a, b] : e) out.emplace_back(a - 1, b - 1);
  return out;
}

Layout make_openpose() {
  return {"openpose",
          18,
          {{4, 3},
           {3, 2},
           {7, 6},
           {6, 5},
           {13, 12},
           {12, 11},
           {10, 9},
           {9, 8},
           {11, 5},
           {8, 2},
           {5, 1},
           {2, 1},
           {0, 1},
           {15, 0},
           {14, 0},
           {17, 15},
           {16, 14}},
          1};
}

Layout make_ntu() {
  return {"ntu-rgb+d", 25, one_based({{1, 2},   {2, 21},  {3, 21},  {4, 3},   {5, 21},  {6, 5},
                                      {7, 6},   {8, 7},   {9, 21},  {10, 9},  {11, 10}, {12, 11},
                                      {13, 1},  {14, 13}, {15, 14}, {16, 15}, {17, 1},  {18, 17},
                                      {19, 18}, {20, 19}, {22, 23}, {23, 8},  {24, 25}, {25, 12}}),
          21 - 1};
}

// mmaction2 / pyskl 'nturgb+d': the same skeleton, but the hand tips hang from the wrists
// (22, 23 -> 8; 24, 25 -> 12) where the original ST-GCN chains them (22 -> 23 -> 8).
Layout make_mm_ntu() {
  Layout l = make_ntu();
  l.name = "nturgb+d";
  l.edges = one_based({{1, 2},   {2, 21},  {3, 21},  {4, 3},   {5, 21},  {6, 5},  {7, 6},  {8, 7},
                       {9, 21},  {10, 9},  {11, 10}, {12, 11}, {13, 1},  {14, 13}, {15, 14},
                       {16, 15}, {17, 1},  {18, 17}, {19, 18}, {20, 19}, {22, 8},  {23, 8},
                       {24, 12}, {25, 12}});
  return l;
}

Layout make_ntu_edge() {
  return {"ntu_edge", 24,
          one_based({{1, 2},   {3, 2},   {4, 3},   {5, 2},   {6, 5},   {7, 6},   {8, 7},   {9, 2},
                     {10, 9},  {11, 10}, {12, 11}, {13, 1},  {14, 13}, {15, 14}, {16, 15}, {17, 1},
                     {18, 17}, {19, 18}, {20, 19}, {21, 22}, {22, 8},  {23, 24}, {24, 12}}),
          2};
}

// The seed project's list: not the BlazePose topology (arms missing, 31/32
// isolated), but what its checkpoints were trained with.
Layout make_mediapipe() {
  return {"mediapipe",
          33,
          {{0, 1},   {1, 2},   {2, 3},   {3, 7},   {0, 4},   {4, 5},   {5, 6},   {6, 8},   {9, 10},
           {10, 11}, {11, 12}, {9, 13},  {13, 14}, {14, 15}, {0, 9},   {0, 17},  {0, 18},  {9, 16},
           {11, 23}, {12, 24}, {23, 25}, {24, 26}, {25, 27}, {26, 28}, {27, 29}, {28, 30}, {15, 19},
           {19, 21}, {15, 17}, {17, 19}, {16, 20}, {20, 22}, {16, 18}, {18, 20}},
          0};
}

// The real MediaPipe Pose topology (POSE_CONNECTIONS). Centre: joint 23, the
// left hip (MediaPipe has no mid-hip joint).
Layout make_blazepose() {
  return {"blazepose",
          33,
          {{0, 1},   {1, 2},   {2, 3},   {3, 7},   {0, 4},   {4, 5},   {5, 6},   {6, 8},   {9, 10},
           {11, 12}, {11, 13}, {13, 15}, {15, 17}, {15, 19}, {15, 21}, {17, 19}, {12, 14}, {14, 16},
           {16, 18}, {16, 20}, {16, 22}, {18, 20}, {11, 23}, {12, 24}, {23, 24}, {23, 25}, {24, 26},
           {25, 27}, {26, 28}, {27, 29}, {28, 30}, {29, 31}, {30, 32}, {27, 31}, {28, 32}},
          23};
}

// COCO-17 keypoints as mmaction2 / pyskl use them; centre 0 (nose).
Layout make_coco() {
  return {"coco",
          17,
          {{15, 13},
           {13, 11},
           {16, 14},
           {14, 12},
           {11, 5},
           {12, 6},
           {9, 7},
           {7, 5},
           {10, 8},
           {8, 6},
           {5, 0},
           {6, 0},
           {1, 0},
           {3, 1},
           {2, 0},
           {4, 2}},
          0};
}

Status validate_layout(const Layout& l, const std::string& source) {
  if (l.num_joints <= 0 || l.num_joints > 4096)
    return invalid_argument(source + ": V must be in 1..4096, got " + std::to_string(l.num_joints));
  if (l.center < 0 || l.center >= l.num_joints)
    return invalid_argument(source + ": center " + std::to_string(l.center) +
                            " is not a joint of V=" + std::to_string(l.num_joints));
  for (auto [a, b] : l.edges) {
    if (a < 0 || b < 0 || a >= l.num_joints || b >= l.num_joints)
      return invalid_argument(source + ": edge (" + std::to_string(a) + ", " + std::to_string(b) +
                              ") names a joint outside 0.." + std::to_string(l.num_joints - 1));
  }
  return Status::ok();
}

}  // namespace

const char* strategy_name(Strategy s) {
  switch (s) {
    case Strategy::kUniform: return "uniform";
    case Strategy::kDistance: return "distance";
    case Strategy::kSpatial: return "spatial";
    case Strategy::kInwardOutward: return "inward_outward";
    case Strategy::kBinary: return "binary_adj";
  }
  return "?";
}

Result<Strategy> parse_strategy(std::string_view name) {
  if (name == "uniform") return Strategy::kUniform;
  if (name == "distance") return Strategy::kDistance;
  if (name == "spatial") return Strategy::kSpatial;
  if (name == "inward_outward") return Strategy::kInwardOutward;
  if (name == "binary_adj") return Strategy::kBinary;
  return invalid_argument("unknown strategy '" + std::string(name) +
                          "' (expected uniform, distance, spatial, inward_outward or binary_adj)");
}

const std::vector<std::string>& layout_names() {
  static const std::vector<std::string> names = {"openpose",  "ntu-rgb+d", "ntu_edge",
                                                 "mediapipe", "blazepose", "coco", "nturgb+d"};
  return names;
}

Result<Layout> named_layout(std::string_view name) {
  if (name == "openpose") return make_openpose();
  if (name == "ntu-rgb+d") return make_ntu();
  if (name == "ntu_edge") return make_ntu_edge();
  if (name == "mediapipe") return make_mediapipe();
  if (name == "blazepose") return make_blazepose();
  if (name == "coco") return make_coco();
  if (name == "nturgb+d") return make_mm_ntu();
  return invalid_argument("unknown layout '" + std::string(name) +
                          "' (expected openpose, ntu-rgb+d, ntu_edge, mediapipe, blazepose, coco, nturgb+d, "
                          "or a custom layout JSON file)");
}

Result<Layout> parse_custom_layout(std::string_view json_text, const std::string& source) {
  nlohmann::json j = nlohmann::json::parse(json_text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return invalid_argument(source + ": not a JSON object");
  Layout l;
  l.name = j.value("name", std::string("custom"));
  if (!j.contains("V") || !j["V"].is_number_integer())
    return invalid_argument(source + ": missing integer field 'V'");
  if (!j.contains("center") || !j["center"].is_number_integer())
    return invalid_argument(source + ": missing integer field 'center'");
  if (!j.contains("edges") || !j["edges"].is_array())
    return invalid_argument(source + ": missing array field 'edges'");
  l.num_joints = j["V"].get<int>();
  l.center = j["center"].get<int>();
  for (const auto& e : j["edges"]) {
    if (!e.is_array() || e.size() != 2 || !e[0].is_number_integer() || !e[1].is_number_integer())
      return invalid_argument(source + ": each edge must be a pair of joint indices [a, b]");
    l.edges.emplace_back(e[0].get<int>(), e[1].get<int>());
  }
  STGCN_RETURN_IF_ERROR(validate_layout(l, source));
  return l;
}

Result<Layout> load_custom_layout(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return not_found("custom layout '" + path + "' not found");
  std::stringstream ss;
  ss << in.rdbuf();
  return parse_custom_layout(ss.str(), "custom layout '" + path + "'");
}

Result<Adjacency> build_adjacency(const Layout& layout, const GraphOptions& opt) {
  STGCN_RETURN_IF_ERROR(validate_layout(layout, "layout '" + layout.name + "'"));
  if (opt.max_hop < 0 || opt.max_hop > 16)
    return invalid_argument("max_hop must be in 0..16, got " + std::to_string(opt.max_hop));
  if (opt.dilation < 1) return invalid_argument("dilation must be >= 1");
  const int V = layout.num_joints;
  auto idx = [V](int a, int b) { return static_cast<size_t>(a) * V + b; };

  // Hop distance: reachability by powers of the symmetric 0/1 adjacency
  // (with self loops); infinity beyond max_hop.
  std::vector<int> adj(static_cast<size_t>(V) * V, 0);
  for (int i = 0; i < V; ++i) adj[idx(i, i)] = 1;
  for (auto [a, b] : layout.edges) adj[idx(a, b)] = adj[idx(b, a)] = 1;
  const double kInf = std::numeric_limits<double>::infinity();
  std::vector<double> hop(static_cast<size_t>(V) * V, kInf);
  std::vector<char> reach(static_cast<size_t>(V) * V, 0);  // A^d > 0
  for (int i = 0; i < V; ++i) reach[idx(i, i)] = 1;
  for (int d = 0; d <= opt.max_hop; ++d) {
    if (d > 0) {  // reach_d = reach_{d-1} * adj (boolean product)
      std::vector<char> next(reach.size(), 0);
      for (int i = 0; i < V; ++i)
        for (int k = 0; k < V; ++k)
          if (reach[idx(i, k)])
            for (int j = 0; j < V; ++j)
              if (adj[idx(k, j)]) next[idx(i, j)] = 1;
      reach.swap(next);
    }
    for (size_t p = 0; p < hop.size(); ++p)
      if (reach[p] && hop[p] == kInf) hop[p] = d;
  }

  std::vector<int> valid_hops;
  for (int h = 0; h <= opt.max_hop; h += opt.dilation) valid_hops.push_back(h);

  std::vector<double> adjacency(static_cast<size_t>(V) * V, 0.0);
  for (int h : valid_hops)
    for (size_t p = 0; p < hop.size(); ++p)
      if (hop[p] == h) adjacency[p] = 1.0;
  // normalize_digraph: divide column w by its sum.
  std::vector<double> norm(adjacency.size(), 0.0);
  for (int w = 0; w < V; ++w) {
    double sum = 0;
    for (int v = 0; v < V; ++v) sum += adjacency[idx(v, w)];
    if (sum > 0)
      for (int v = 0; v < V; ++v) norm[idx(v, w)] = adjacency[idx(v, w)] * (1.0 / sum);
  }

  Adjacency out;
  out.V = V;
  auto push_matrix = [&](const std::vector<double>& m) {
    out.values.insert(out.values.end(), m.begin(), m.end());
    ++out.K;
  };
  switch (opt.strategy) {
    case Strategy::kUniform: push_matrix(norm); break;
    case Strategy::kDistance:
      for (int h : valid_hops) {
        std::vector<double> m(norm.size(), 0.0);
        for (size_t p = 0; p < hop.size(); ++p)
          if (hop[p] == h) m[p] = norm[p];
        push_matrix(m);
      }
      break;
    case Strategy::kSpatial:
      for (int h : valid_hops) {
        std::vector<double> root(norm.size(), 0.0), close(norm.size(), 0.0),
            further(norm.size(), 0.0);
        for (int i = 0; i < V; ++i) {
          for (int j = 0; j < V; ++j) {
            if (hop[idx(j, i)] != h) continue;
            const double dj = hop[idx(j, layout.center)];
            const double di = hop[idx(i, layout.center)];
            if (dj == di) {  // inf == inf is true: the upstream quirk
              root[idx(j, i)] = norm[idx(j, i)];
            } else if (dj > di) {
              close[idx(j, i)] = norm[idx(j, i)];
            } else {
              further[idx(j, i)] = norm[idx(j, i)];
            }
          }
        }
        if (h == 0) {
          push_matrix(root);
        } else {
          for (size_t p = 0; p < root.size(); ++p) root[p] += close[p];
          push_matrix(root);
          push_matrix(further);
        }
      }
      break;
    case Strategy::kInwardOutward:
    case Strategy::kBinary: {
      // mmaction2's edge2mat(link): M[j, i] = 1 for each (i, j) of the link list; the stored
      // edges are its `inward` list (child, parent); `outward` swaps them.
      std::vector<double> identity(norm.size(), 0.0), in(norm.size(), 0.0),
          outw(norm.size(), 0.0);
      for (int i = 0; i < V; ++i) identity[idx(i, i)] = 1.0;
      for (auto [a, b] : layout.edges) {
        in[idx(b, a)] = 1.0;
        outw[idx(a, b)] = 1.0;
      }
      if (opt.strategy == Strategy::kBinary) {  // both directions, no self links
        std::vector<double> m(norm.size(), 0.0);
        for (size_t p = 0; p < m.size(); ++p) m[p] = std::min(1.0, in[p] + outw[p]);
        push_matrix(m);
        break;
      }
      // normalize_digraph: A @ diag(1 / column sums) (columns summing to zero stay zero).
      auto normalise = [&](std::vector<double> m) {
        for (int w = 0; w < V; ++w) {
          double sum = 0;
          for (int v = 0; v < V; ++v) sum += m[idx(v, w)];
          if (sum > 0)
            for (int v = 0; v < V; ++v) m[idx(v, w)] *= 1.0 / sum;
        }
        return m;
      };
      push_matrix(identity);
      push_matrix(normalise(in));
      push_matrix(normalise(outw));
      break;
    }
  }
  return out;
}

}  // namespace stgcn
