// Skeleton graphs and the adjacency tensor A (K, V, V) of ST-GCN, with the
// exact semantics of the upstream PyTorch code (see docs/model.md and
// ../shared/design/STGCN_REFERENCE.md): hop distance by powers of the 0/1
// adjacency up to max_hop (infinite beyond), column-normalised adjacency, and
// the uniform / distance / spatial partitions, including the quirk that two
// joints both at infinite distance from the centre count as "root".
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "stgcn/status.h"

namespace stgcn {

struct Layout {
  std::string name;
  int num_joints = 0;                      // V
  std::vector<std::pair<int, int>> edges;  // 0-based neighbour links (no self loops)
  int center = 0;
};

// kUniform, kDistance, kSpatial: the original ST-GCN partitions (mmaction2's 'stgcn_spatial'
// is kSpatial). kInwardOutward: mmaction2's 'spatial' mode (identity, normalised inward,
// normalised outward; max_hop and dilation do not apply). kBinary: its 'binary_adj' (one
// 0/1 matrix of both edge directions, no self links, not normalised).
enum class Strategy { kUniform, kDistance, kSpatial, kInwardOutward, kBinary };

const char* strategy_name(Strategy s);
Result<Strategy> parse_strategy(std::string_view name);

// Names accepted by named_layout(), in a stable order.
const std::vector<std::string>& layout_names();

// openpose, ntu-rgb+d, ntu_edge, mediapipe (the seed's list), blazepose, coco, and nturgb+d
// (mmaction2's NTU graph: the hand tips hang from the wrists).
Result<Layout> named_layout(std::string_view name);

// A custom layout from JSON: {"name": "...", "V": 5, "edges": [[0,1],...], "center": 1}.
Result<Layout> load_custom_layout(const std::string& path);
Result<Layout> parse_custom_layout(std::string_view json_text, const std::string& source);

struct GraphOptions {
  Strategy strategy = Strategy::kSpatial;
  int max_hop = 1;
  int dilation = 1;
};

// A as float64, row-major (K, V, V), indexed [k, source v, target w].
struct Adjacency {
  int K = 0;
  int V = 0;
  std::vector<double> values;
  double at(int k, int v, int w) const { return values[(static_cast<size_t>(k) * V + v) * V + w]; }
};

Result<Adjacency> build_adjacency(const Layout& layout, const GraphOptions& options);

}  // namespace stgcn
