// mmaction2 / pyskl GenSkeFeat input features (joint, bone, joint motion, bone motion) computed
// from raw joints, so one keypoint stream feeds any model of a 4-stream ensemble
// (docs/model_families.md, "Features"). Semantics follow mmaction2's JointToBone / ToMotion.
#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "stgcn/model.h"

namespace stgcn {
namespace {

using Pairs = std::vector<std::pair<int, int>>;  // (joint, the joint its bone starts from)

// mmaction2's bone pairs: not the graph's edges (the root pairs with itself, bone 0).
const Pairs* bone_pairs(const std::string& layout) {
  static const Pairs kNtu = {{0, 1},   {1, 20},  {2, 20},  {3, 2},   {4, 20},  {5, 4},  {6, 5},
                             {7, 6},   {8, 20},  {9, 8},   {10, 9},  {11, 10}, {12, 0}, {13, 12},
                             {14, 13}, {15, 14}, {16, 0},  {17, 16}, {18, 17}, {19, 18},
                             {21, 22}, {20, 20}, {22, 7},  {23, 24}, {24, 11}};
  static const Pairs kOpenpose = {{0, 0},  {1, 0},   {2, 1},   {3, 2},   {4, 3},   {5, 1},
                                  {6, 5},  {7, 6},   {8, 2},   {9, 8},   {10, 9},  {11, 5},
                                  {12, 11}, {13, 12}, {14, 0}, {15, 0},  {16, 14}, {17, 15}};
  static const Pairs kCoco = {{0, 0}, {1, 0},  {2, 0},  {3, 1},   {4, 2},   {5, 0},
                              {6, 0}, {7, 5},  {8, 6},  {9, 7},   {10, 8},  {11, 0},
                              {12, 0}, {13, 11}, {14, 12}, {15, 13}, {16, 14}};
  if (layout == "nturgb+d" || layout == "ntu-rgb+d") return &kNtu;
  if (layout == "openpose") return &kOpenpose;
  if (layout == "coco") return &kCoco;
  return nullptr;
}

// 2-D layouts whose third channel is a keypoint score (averaged, not differenced).
bool has_score(const std::string& layout, int64_t C) {
  return C == 3 && (layout == "openpose" || layout == "coco");
}

// x (N, C, T, V, M): element index.
struct Idx {
  int64_t C, T, V, M;
  size_t operator()(int64_t n, int64_t c, int64_t t, int64_t v, int64_t m) const {
    return static_cast<size_t>((((n * C + c) * T + t) * V + v) * M + m);
  }
};

Tensor bones(const Tensor& x, const Pairs& pairs, bool score) {
  const Idx at{x.shape[1], x.shape[2], x.shape[3], x.shape[4]};
  Tensor b(x.shape);
  for (int64_t n = 0; n < x.shape[0]; ++n)
    for (int64_t c = 0; c < at.C; ++c)
      for (int64_t t = 0; t < at.T; ++t)
        for (auto [v, u] : pairs)
          for (int64_t m = 0; m < at.M; ++m) {
            const float xv = x.data[at(n, c, t, v, m)], xu = x.data[at(n, c, t, u, m)];
            b.data[at(n, c, t, v, m)] = score && c == 2 ? (xv + xu) / 2 : xv - xu;
          }
  return b;
}

Tensor motion(const Tensor& f, bool score) {
  const Idx at{f.shape[1], f.shape[2], f.shape[3], f.shape[4]};
  Tensor m(f.shape);  // the last frame stays 0
  for (int64_t n = 0; n < f.shape[0]; ++n)
    for (int64_t c = 0; c < at.C; ++c)
      for (int64_t t = 0; t + 1 < at.T; ++t)
        for (int64_t v = 0; v < at.V; ++v)
          for (int64_t p = 0; p < at.M; ++p) {
            const float a = f.data[at(n, c, t, v, p)], b = f.data[at(n, c, t + 1, v, p)];
            m.data[at(n, c, t, v, p)] = score && c == 2 ? (a + b) / 2 : b - a;
          }
  return m;
}

}  // namespace

const char* skeleton_feature_name(SkeletonFeature f) {
  switch (f) {
    case SkeletonFeature::kJoint: return "j";
    case SkeletonFeature::kBone: return "b";
    case SkeletonFeature::kJointMotion: return "jm";
    case SkeletonFeature::kBoneMotion: return "bm";
  }
  return "?";
}

Result<SkeletonFeature> parse_skeleton_feature(std::string_view name) {
  if (name == "j") return SkeletonFeature::kJoint;
  if (name == "b") return SkeletonFeature::kBone;
  if (name == "jm") return SkeletonFeature::kJointMotion;
  if (name == "bm") return SkeletonFeature::kBoneMotion;
  return invalid_argument("unknown feature '" + std::string(name) +
                          "' (expected j, b, jm or bm: joints, bones, joint motion, bone motion)");
}

Result<Tensor> skeleton_feature(const Tensor& x, const std::string& layout, SkeletonFeature f) {
  if (x.rank() != 5)
    return invalid_argument("feature input has shape " + shape_string(x.shape) +
                            "; expected (N, C, T, V, M)");
  if (f == SkeletonFeature::kJoint) return x;
  const int64_t C = x.shape[1];
  if (C < 2 || C > 3)
    return invalid_argument("bone / motion features need C = 2 or 3 channels, got " +
                            std::to_string(C));
  const bool score = has_score(layout, C);
  if (f == SkeletonFeature::kJointMotion) return motion(x, score);
  const Pairs* pairs = bone_pairs(layout);
  if (pairs == nullptr)
    return invalid_argument("no bone pairs for layout '" + layout +
                            "' (bones are defined for coco, openpose and nturgb+d)");
  int64_t V = 0;
  for (auto [v, u] : *pairs) V = std::max<int64_t>(V, std::max(v, u) + 1);
  if (x.shape[3] != V)
    return invalid_argument("layout '" + layout + "' has V=" + std::to_string(V) +
                            " joints but the input has V=" + std::to_string(x.shape[3]));
  Tensor b = bones(x, *pairs, score);
  return f == SkeletonFeature::kBone ? b : motion(b, score);
}

}  // namespace stgcn
