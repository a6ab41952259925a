// Native reader of torch.save checkpoints; see include/stgcn/checkpoint.h.
//
// Zip format (torch >= 1.6): <prefix>/data.pkl is the pickle, <prefix>/data/<key>
// the raw little-endian bytes of storage <key>, <prefix>/byteorder (optional)
// "little". Legacy format (_use_new_zipfile_serialization=False): pickles of
// the magic number 0x1950a86a20f9469cfc6c, the protocol version 1001, a sys_info
// dict and the object, then a pickle of the list of storage keys, then for each
// key in that order an int64 little-endian element count and the raw bytes.
#include "stgcn/checkpoint.h"

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <map>
#include <optional>
#include <unordered_map>
#include <unordered_set>

#include "core/float16.h"
#include "io/files.h"
#include "io/pickle.h"
#include "io/zip_archive.h"

namespace stgcn {
namespace {

using io::PickleKind;
using io::PickleValue;

// Output limit: 1 GiB of float32 in all tensors together.
constexpr int64_t kMaxTotalElements = int64_t{1} << 28;
constexpr size_t kMaxTensors = size_t{1} << 20;
constexpr uint64_t kMaxPickleBytes = uint64_t{1} << 30;

// 0x1950a86a20f9469cfc6c as little-endian bytes.
constexpr uint8_t kLegacyMagic[] = {0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19};
constexpr int64_t kLegacyProtocolVersion = 1001;

struct NamedTensor {
  std::string name;
  const PickleValue* tensor;  // kind kTensor
};

// ---------------------------------------------------------------------------
// Finding the state dict in the unpickled object.

bool is_state_dict(const PickleValue& v) {
  if (!v.is(PickleKind::kDict) || v.entries.empty()) return false;
  for (const auto& [k, value] : v.entries)
    if (!k->is(PickleKind::kString) || !value->is(PickleKind::kTensor)) return false;
  return true;
}

const PickleValue* module_state(const PickleValue& v) {
  if (!v.is(PickleKind::kObject) || !v.state || !v.state->is(PickleKind::kDict)) return nullptr;
  if (!io::dict_get(*v.state, "_parameters") || !io::dict_get(*v.state, "_modules")) return nullptr;
  return v.state;
}

// Collects named tensors from state dicts and module trees. Values may be
// shared (memo), so the walk is budgeted: a small file must not make it explode.
class Collector {
 public:
  // Adds `prefix + key` for each (string key, tensor) entry of `dict`, with Python
  // dict semantics: a repeated key keeps its first position and its last value.
  Status add_entries(const PickleValue& dict, const std::string& prefix, std::string_view what,
                     const std::unordered_set<std::string>* skip) {
    if (dict.is(PickleKind::kNone)) return Status::ok();
    if (!dict.is(PickleKind::kDict))
      return corrupt(std::string(what) + " of module '" + prefix + "' is a " + io::describe(dict));
    STGCN_RETURN_IF_ERROR(spend(dict.entries.size()));
    std::unordered_map<std::string_view, size_t> seen;
    const size_t first = out_.size();
    for (const auto& [k, v] : dict.entries) {
      if (!k->is(PickleKind::kString))
        return corrupt(std::string(what) + " of module '" + prefix + "' has a non-string key");
      if (v->is(PickleKind::kNone) || (skip && skip->count(k->text))) continue;
      STGCN_ASSIGN_OR_RETURN(std::string name, join(prefix, k->text));
      if (!v->is(PickleKind::kTensor))
        return corrupt("'" + name + "' is a " + io::describe(*v) + ", not a tensor");
      if (auto it = seen.find(k->text); it != seen.end()) {
        out_[first + it->second].tensor = v;
        continue;
      }
      if (out_.size() >= kMaxTensors)
        return unsupported("more than " + std::to_string(kMaxTensors) + " tensors");
      name_bytes_ += name.size();
      if (name_bytes_ > kMaxNameBytes) return unsupported("tensor names too long in total");
      seen.emplace(k->text, out_.size() - first);
      out_.push_back({std::move(name), v});
    }
    return Status::ok();
  }

  // PyTorch's state_dict order: own parameters, own persistent buffers, then children.
  Status walk_module(const PickleValue& state, const std::string& prefix, int depth) {
    if (depth > kMaxModuleDepth)
      return corrupt("modules nested deeper than " + std::to_string(kMaxModuleDepth));
    if (++visits_ > kMaxModules)
      return unsupported("more than " + std::to_string(kMaxModules) + " modules");
    STGCN_RETURN_IF_ERROR(spend(state.entries.size()));
    STGCN_RETURN_IF_ERROR(
        add_entries(*io::dict_get(state, "_parameters"), prefix, "_parameters", nullptr));
    if (const PickleValue* buffers = io::dict_get(state, "_buffers")) {
      std::unordered_set<std::string> non_persistent;
      const PickleValue* np = io::dict_get(state, "_non_persistent_buffers_set");
      if (np && (np->is(PickleKind::kSet) || np->is(PickleKind::kList))) {
        STGCN_RETURN_IF_ERROR(spend(np->items.size()));
        for (const PickleValue* item : np->items)
          if (item->is(PickleKind::kString)) non_persistent.insert(item->text);
      }
      STGCN_RETURN_IF_ERROR(add_entries(*buffers, prefix, "_buffers", &non_persistent));
    }
    const PickleValue& children = *io::dict_get(state, "_modules");
    if (children.is(PickleKind::kNone)) return Status::ok();
    if (!children.is(PickleKind::kDict))
      return corrupt("_modules of module '" + prefix + "' is a " + io::describe(children));
    for (const auto& [k, child] : children.entries) {
      if (!k->is(PickleKind::kString))
        return corrupt("_modules of module '" + prefix + "' has a non-string key");
      if (child->is(PickleKind::kNone)) continue;
      STGCN_ASSIGN_OR_RETURN(std::string name, join(prefix, k->text));
      const PickleValue* child_state = module_state(*child);
      if (!child_state)
        return corrupt("submodule '" + name + "' is a " + io::describe(*child) + ", not a module");
      STGCN_RETURN_IF_ERROR(walk_module(*child_state, name + ".", depth + 1));
    }
    return Status::ok();
  }

  std::vector<NamedTensor> take() { return std::move(out_); }

 private:
  static constexpr size_t kMaxModules = size_t{1} << 17;
  static constexpr int kMaxModuleDepth = 128;
  static constexpr size_t kMaxWork = size_t{1} << 26;  // dict entries looked at
  static constexpr size_t kMaxNameLength = 4096;
  static constexpr size_t kMaxNameBytes = size_t{1} << 26;

  Status spend(size_t work) {
    work_ += work;
    if (work_ > kMaxWork) return unsupported("module tree too large to walk");
    return Status::ok();
  }
  static Result<std::string> join(const std::string& prefix, const std::string& key) {
    if (prefix.size() + key.size() > kMaxNameLength)
      return corrupt("tensor name longer than " + std::to_string(kMaxNameLength) +
                     " characters: '" + (prefix + key).substr(0, 80) + "...'");
    return prefix + key;
  }

  std::vector<NamedTensor> out_;
  size_t visits_ = 0;
  size_t work_ = 0;
  size_t name_bytes_ = 0;
};

Result<std::vector<NamedTensor>> tensors_of(const PickleValue& v) {
  Collector c;
  if (is_state_dict(v)) {
    STGCN_RETURN_IF_ERROR(c.add_entries(v, "", "state_dict", nullptr));
  } else if (const PickleValue* state = module_state(v)) {
    STGCN_RETURN_IF_ERROR(c.walk_module(*state, "", 0));
  }
  return c.take();
}

Result<std::vector<NamedTensor>> find_state_dict(const PickleValue& root) {
  STGCN_ASSIGN_OR_RETURN(auto found, tensors_of(root));
  if (found.empty() && root.is(PickleKind::kDict)) {
    for (const char* key : {"model", "state_dict", "model_state_dict", "net"}) {
      const PickleValue* inner = io::dict_get(root, key);
      if (!inner) continue;
      STGCN_ASSIGN_OR_RETURN(found, tensors_of(*inner));
      if (!found.empty()) break;
    }
  }
  if (found.empty()) {
    const std::string kind = io::describe(root);
    const bool vowel = std::string_view("aeiouAEIOU").find(kind[0]) != std::string_view::npos;
    return unsupported("no state_dict found (top-level object is " +
                       std::string(vowel ? "an " : "a ") + kind + ")");
  }
  // DataParallel: strip "module." when every key has it.
  constexpr std::string_view kPrefix = "module.";
  bool all_prefixed = true;
  for (const auto& t : found) all_prefixed &= t.name.starts_with(kPrefix);
  if (all_prefixed)
    for (auto& t : found) t.name.erase(0, kPrefix.size());
  std::unordered_set<std::string_view> names;
  for (const auto& t : found)
    if (!names.insert(t.name).second) return corrupt("duplicate tensor name '" + t.name + "'");
  return found;
}

// ---------------------------------------------------------------------------
// Materialising strided views of little-endian storages as row-major float32.

template <typename U>
U load_uint(const uint8_t* p) {
  U v = 0;
  for (size_t i = 0; i < sizeof(U); ++i) v |= static_cast<U>(static_cast<U>(p[i]) << (8 * i));
  return v;
}

template <DType D>
float load_element(const uint8_t* p) {
  if constexpr (D == DType::kF32) return std::bit_cast<float>(load_uint<uint32_t>(p));
  if constexpr (D == DType::kF64) {
    const double d = std::bit_cast<double>(load_uint<uint64_t>(p));
    constexpr double kMax = std::numeric_limits<float>::max();
    if (d > kMax) return std::numeric_limits<float>::infinity();  // out of range: UB to cast
    if (d < -kMax) return -std::numeric_limits<float>::infinity();
    return static_cast<float>(d);
  }
  if constexpr (D == DType::kF16) return half_to_float(load_uint<uint16_t>(p));
  if constexpr (D == DType::kBF16) return bfloat16_to_float(load_uint<uint16_t>(p));
  if constexpr (D == DType::kI64)
    return static_cast<float>(static_cast<int64_t>(load_uint<uint64_t>(p)));
  if constexpr (D == DType::kI32)
    return static_cast<float>(static_cast<int32_t>(load_uint<uint32_t>(p)));
  if constexpr (D == DType::kI16)
    return static_cast<float>(static_cast<int16_t>(load_uint<uint16_t>(p)));
  if constexpr (D == DType::kI8) return static_cast<float>(static_cast<int8_t>(p[0]));
  if constexpr (D == DType::kU8) return static_cast<float>(p[0]);
  if constexpr (D == DType::kBool) return p[0] ? 1.0f : 0.0f;
}

// Copies the view `t` of `data` (all indices already checked < storage numel).
template <DType D>
void gather(const io::PickleTensor& t, const uint8_t* data, float* out) {
  constexpr size_t kSize = dtype_size(D);
  const size_t rank = t.sizes.size();
  bool contiguous = true;
  int64_t expected = 1;
  for (size_t d = rank; d-- > 0;) {
    if (t.sizes[d] != 1 && t.strides[d] != expected) contiguous = false;
    expected *= t.sizes[d];
  }
  const uint8_t* base = data + static_cast<size_t>(t.offset) * kSize;
  if (contiguous) {
    for (int64_t i = 0; i < t.numel; ++i)
      out[i] = load_element<D>(base + static_cast<size_t>(i) * kSize);
    return;
  }
  std::vector<int64_t> index(rank, 0);
  int64_t pos = 0;  // relative to the offset
  for (int64_t i = 0; i < t.numel; ++i) {
    out[i] = load_element<D>(base + static_cast<size_t>(pos) * kSize);
    for (size_t d = rank; d-- > 0;) {
      if (index[d] + 1 < t.sizes[d]) {
        ++index[d];
        pos += t.strides[d];
        break;
      }
      pos -= t.strides[d] * (t.sizes[d] - 1);
      index[d] = 0;
    }
  }
}

// Raw bytes of one storage and the elements they hold.
struct StorageData {
  std::span<const uint8_t> bytes;
  int64_t numel = 0;
};

using StorageResolver = std::function<Result<StorageData>(const io::PickleStorage&)>;

Result<StateDict> materialise(const std::vector<NamedTensor>& found,
                              const StorageResolver& resolve) {
  StateDict sd;
  sd.reserve(found.size());
  int64_t total = 0;
  for (const auto& [name, node] : found) {
    const io::PickleTensor& t = *node->tensor;
    const io::PickleStorage& s = *t.storage->storage;
    if (t.numel > kMaxTotalElements - total)
      return unsupported("tensors hold more than " + std::to_string(kMaxTotalElements) +
                         " elements in total (at tensor '" + name + "')");
    total += t.numel;
    Tensor out(t.sizes);
    out.source_dtype = s.dtype;
    if (t.numel > 0) {
      STGCN_ASSIGN_OR_RETURN(StorageData data, resolve(s));
      if (t.needed > data.numel)
        return corrupt("tensor '" + name + "': shape " + shape_string(t.sizes) + " stride " +
                       shape_string(t.strides) + " offset " + std::to_string(t.offset) + " needs " +
                       std::to_string(t.needed) + " elements but storage '" + s.key + "' has " +
                       std::to_string(data.numel));
      const uint8_t* p = data.bytes.data();
      float* o = out.data.data();
      switch (s.dtype) {
        case DType::kF32: gather<DType::kF32>(t, p, o); break;
        case DType::kF64: gather<DType::kF64>(t, p, o); break;
        case DType::kF16: gather<DType::kF16>(t, p, o); break;
        case DType::kBF16: gather<DType::kBF16>(t, p, o); break;
        case DType::kI64: gather<DType::kI64>(t, p, o); break;
        case DType::kI32: gather<DType::kI32>(t, p, o); break;
        case DType::kI16: gather<DType::kI16>(t, p, o); break;
        case DType::kI8: gather<DType::kI8>(t, p, o); break;
        case DType::kU8: gather<DType::kU8>(t, p, o); break;
        case DType::kBool: gather<DType::kBool>(t, p, o); break;
      }
    }
    sd.emplace_back(name, std::move(out));
  }
  return sd;
}

// numel * element size, or an error when it cannot be a real storage.
Result<uint64_t> storage_bytes(const io::PickleStorage& s, int64_t numel) {
  const auto esize = static_cast<uint64_t>(dtype_size(s.dtype));
  if (numel < 0 || static_cast<uint64_t>(numel) > std::numeric_limits<uint64_t>::max() / esize)
    return corrupt("storage '" + s.key + "' size " + std::to_string(numel) + " is impossible");
  return static_cast<uint64_t>(numel) * esize;
}

// ---------------------------------------------------------------------------
// Zip archives.

Result<StateDict> load_zip(std::span<const uint8_t> bytes) {
  STGCN_ASSIGN_OR_RETURN(io::ZipArchive zip, io::ZipArchive::open(bytes));
  std::optional<size_t> pkl;
  std::string prefix;
  for (size_t i = 0; i < zip.names().size(); ++i) {
    const std::string& n = zip.names()[i];
    constexpr std::string_view kData = "data.pkl";
    if (!n.ends_with(kData) || (n.size() > kData.size() && n[n.size() - kData.size() - 1] != '/'))
      continue;
    std::string p = n.substr(0, n.size() - kData.size());
    // Prefer the top-level "<archive>/data.pkl" over deeper ones.
    if (!pkl ||
        std::count(p.begin(), p.end(), '/') < std::count(prefix.begin(), prefix.end(), '/')) {
      pkl = i;
      prefix = std::move(p);
    }
  }
  if (!pkl) return unsupported("zip archive without a data.pkl entry: not a PyTorch checkpoint");
  if (auto bo = zip.find(prefix + "byteorder")) {
    STGCN_ASSIGN_OR_RETURN(std::vector<uint8_t> order, zip.read(*bo, 64));
    std::string s(order.begin(), order.end());
    while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
    if (s != "little")
      return unsupported("byte order '" + s.substr(0, 16) + "' is not supported (only little)");
  }
  STGCN_ASSIGN_OR_RETURN(std::vector<uint8_t> pickle, zip.read(*pkl, kMaxPickleBytes));
  io::PickleArena arena;
  STGCN_ASSIGN_OR_RETURN(io::Unpickled root, io::unpickle(pickle, arena));
  STGCN_ASSIGN_OR_RETURN(auto found, find_state_dict(*root.value));

  std::map<std::string, std::vector<uint8_t>, std::less<>> cache;
  auto resolve = [&](const io::PickleStorage& s) -> Result<StorageData> {
    STGCN_ASSIGN_OR_RETURN(uint64_t need, storage_bytes(s, s.numel));
    auto it = cache.find(s.key);
    if (it == cache.end()) {
      const std::string entry = prefix + "data/" + s.key;
      auto index = zip.find(entry);
      if (!index)
        return corrupt("storage '" + s.key + "' is missing (no zip entry '" + entry + "')");
      if (zip.size(*index) != need)
        return corrupt("storage '" + s.key + "' is " +
                       (zip.size(*index) < need ? "truncated" : "larger than declared") + ": " +
                       std::to_string(s.numel) + " " + dtype_name(s.dtype) + " elements need " +
                       std::to_string(need) + " bytes, zip entry '" + entry + "' holds " +
                       std::to_string(zip.size(*index)));
      STGCN_ASSIGN_OR_RETURN(std::vector<uint8_t> data, zip.read(*index, need));
      it = cache.emplace(s.key, std::move(data)).first;
    }
    return StorageData{it->second, s.numel};
  };
  return materialise(found, resolve);
}

// ---------------------------------------------------------------------------
// Legacy format.

Result<StateDict> load_legacy(std::span<const uint8_t> bytes) {
  io::PickleArena arena;
  size_t pos = 0;
  auto next = [&]() -> Result<const PickleValue*> {
    STGCN_ASSIGN_OR_RETURN(io::Unpickled u, io::unpickle(bytes.subspan(pos), arena, {}, pos));
    pos += u.consumed;
    return u.value;
  };
  STGCN_ASSIGN_OR_RETURN(const PickleValue* magic, next());
  if (!magic->is(PickleKind::kBigInt) ||
      magic->text !=
          std::string_view(reinterpret_cast<const char*>(kLegacyMagic), sizeof kLegacyMagic))
    return unsupported(
        "a pickle, but not a PyTorch checkpoint (no torch magic number; not a zip archive either)");
  STGCN_ASSIGN_OR_RETURN(const PickleValue* protocol, next());
  if (!protocol->is(PickleKind::kInt) || protocol->integer != kLegacyProtocolVersion)
    return unsupported("legacy checkpoint protocol version is a " + io::describe(*protocol) +
                       ", expected 1001");
  STGCN_ASSIGN_OR_RETURN(const PickleValue* sys_info, next());
  if (sys_info->is(PickleKind::kDict)) {
    const PickleValue* little = io::dict_get(*sys_info, "little_endian");
    if (little && little->is(PickleKind::kBool) && !little->boolean)
      return unsupported("big-endian legacy checkpoint is not supported");
  }
  STGCN_ASSIGN_OR_RETURN(const PickleValue* root, next());
  STGCN_ASSIGN_OR_RETURN(const PickleValue* keys, next());
  if (!keys->is(PickleKind::kList))
    return corrupt("legacy storage key list is a " + io::describe(*keys));

  std::map<std::string, StorageData, std::less<>> data;
  for (const PickleValue* key : keys->items) {
    if (!key->is(PickleKind::kString)) return corrupt("legacy storage key is not a string");
    const PickleValue* node = arena.find_storage(key->text);
    if (!node) return corrupt("storage '" + key->text + "' has data but is never referenced");
    if (bytes.size() - pos < 8)
      return corrupt("truncated file: storage '" + key->text + "' size at offset " +
                     std::to_string(pos) + " is cut off");
    int64_t count = 0;
    for (int i = 7; i >= 0; --i)
      count = static_cast<int64_t>(static_cast<uint64_t>(count) << 8 |
                                   bytes[pos + static_cast<size_t>(i)]);
    pos += 8;
    STGCN_ASSIGN_OR_RETURN(uint64_t n, storage_bytes(*node->storage, count));
    if (n > bytes.size() - pos)
      return corrupt("truncated file: storage '" + key->text + "' needs " + std::to_string(n) +
                     " bytes at offset " + std::to_string(pos) + ", " +
                     std::to_string(bytes.size() - pos) + " left");
    data[key->text] = StorageData{bytes.subspan(pos, static_cast<size_t>(n)), count};
    pos += static_cast<size_t>(n);
  }

  STGCN_ASSIGN_OR_RETURN(auto found, find_state_dict(*root));
  auto resolve = [&](const io::PickleStorage& s) -> Result<StorageData> {
    const std::string& root_key = s.view_of.empty() ? s.key : s.view_of;
    auto it = data.find(root_key);
    if (it == data.end()) return corrupt("storage '" + root_key + "' has no data in the file");
    if (s.view_of.empty()) return it->second;
    const int64_t have = it->second.numel;
    if (s.view_offset > have || s.numel > have - s.view_offset)
      return corrupt("storage view '" + s.key + "' [" + std::to_string(s.view_offset) + ", +" +
                     std::to_string(s.numel) + ") reaches past storage '" + root_key + "' of " +
                     std::to_string(have) + " elements");
    const auto esize = static_cast<size_t>(dtype_size(s.dtype));
    return StorageData{it->second.bytes.subspan(static_cast<size_t>(s.view_offset) * esize,
                                                static_cast<size_t>(s.numel) * esize),
                       s.numel};
  };
  return materialise(found, resolve);
}

bool looks_like_pickle(std::span<const uint8_t> b) {
  // Protocol 2+ starts with PROTO; protocols 0/1 pickle the magic as LONG "L<digits>".
  return (!b.empty() && b[0] == 0x80) ||
         (b.size() >= 2 && b[0] == 'L' && b[1] >= '0' && b[1] <= '9');
}

std::string hex_prefix(std::span<const uint8_t> b) {
  static const char* kHex = "0123456789abcdef";
  std::string s;
  for (size_t i = 0; i < b.size() && i < 8; ++i) {
    if (i) s += ' ';
    s += kHex[b[i] >> 4];
    s += kHex[b[i] & 15];
  }
  return s;
}

Result<StateDict> load(std::span<const uint8_t> bytes) {
  if (bytes.empty())
    return corrupt("file is empty (truncated): neither a zip archive nor a pickle");
  if (io::looks_like_zip(bytes)) return load_zip(bytes);
  if (looks_like_pickle(bytes)) return load_legacy(bytes);
  return corrupt("not a PyTorch checkpoint: neither a zip archive nor a pickle (starts with " +
                 hex_prefix(bytes) + ")");
}

}  // namespace

Result<StateDict> read_checkpoint_bytes(std::span<const uint8_t> bytes, std::string_view name) {
  Result<StateDict> r = load(bytes);
  if (!r.is_ok()) return r.status().with_context("cannot load '" + std::string(name) + "': ");
  return r;
}

Result<StateDict> read_checkpoint(const std::string& path) {
  const std::string context = "cannot load '" + path + "': ";
  // A regular file that fits in memory (a device, FIFO or huge sparse file is refused before
  // anything is allocated).
  auto size = regular_file_size(path);
  if (!size.is_ok()) {
    std::string why = size.status().message();
    if (why.rfind("cannot read '" + path + "': ", 0) == 0)
      why = why.substr(("cannot read '" + path + "': ").size());
    else if (size.status().code() == ErrorCode::kNotFound)
      why = "file not found";
    return Status(size.status().code(), context + why);
  }
  STGCN_ASSIGN_OR_RETURN(std::string text, read_file_prefix(path, *size));
  return read_checkpoint_bytes(
      std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(text.data()), text.size()), path);
}

}  // namespace stgcn
