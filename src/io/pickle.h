// A safe interpreter for the pickles inside PyTorch checkpoints (protocols 0-5).
//
// Nothing is ever executed: the opcodes build an inert tree of PickleValue
// nodes. Calls (REDUCE, INST, OBJ) are honoured only for a whitelist of pure
// data constructors (OrderedDict, torch's tensor rebuild functions, set, numpy
// scalars, ...); any other callable is refused with ErrorCode::kUnsafe.
// Classes instantiated with NEWOBJ become inert objects (class + args + state),
// so whole pickled nn.Modules can be walked afterwards.
//
// torch's persistent ids ('storage', <XStorage>, key, location, numel[, view])
// become kStorage nodes (deduplicated by key in the arena); calls of
// torch._utils._rebuild_tensor_v2 become kTensor nodes that reference a
// storage with an offset, sizes and strides (validated, but not checked
// against the storage, whose data the pickle does not hold).
//
// Every count and length read from the input is checked against the bytes
// left and against PickleLimits before it is used.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "stgcn/status.h"
#include "stgcn/tensor.h"

namespace stgcn::io {

enum class PickleKind {
  kNone,
  kBool,
  kInt,     // fits in int64
  kBigInt,  // wider integer: `text` holds little-endian two's complement bytes
  kFloat,
  kString,  // UTF-8 text in `text`
  kBytes,   // raw bytes in `text`
  kList,
  kTuple,
  kSet,     // set or frozenset; `items`
  kDict,    // `entries` in insertion order (duplicates kept; the last one wins)
  kGlobal,  // a reference `module.name` that was never called
  kObject,  // inert instance: `cls`, `args`, `state` (+ `items`/`entries` it was filled with)
  kStorage,
  kTensor,
};

const char* pickle_kind_name(PickleKind kind);

struct PickleValue;

// A storage named by a persistent id. `numel` is the element count the pickle
// declares; the reader holding the data must check it.
struct PickleStorage {
  std::string key;
  DType dtype = DType::kF32;
  int64_t numel = 0;
  std::string location;
  // Legacy serializer views: this storage is elements [view_offset,
  // view_offset + numel) of the storage `view_of`.
  std::string view_of;
  int64_t view_offset = 0;
};

// A strided view of a storage (torch._utils._rebuild_tensor_v2).
struct PickleTensor {
  const PickleValue* storage = nullptr;  // kind kStorage
  int64_t offset = 0;                    // in elements
  std::vector<int64_t> sizes;
  std::vector<int64_t> strides;
  int64_t numel = 0;   // product of sizes
  int64_t needed = 0;  // storage elements the view reaches: offset + extent (0 when numel is 0)
};

struct PickleValue {
  PickleKind kind = PickleKind::kNone;
  bool boolean = false;
  int64_t integer = 0;
  double real = 0.0;
  std::string text;  // kString, kBytes, kBigInt; kGlobal: module
  std::string name;  // kGlobal: name
  std::vector<PickleValue*> items;
  std::vector<std::pair<PickleValue*, PickleValue*>> entries;
  PickleValue* cls = nullptr;              // kObject: the class (usually a kGlobal)
  PickleValue* args = nullptr;             // kObject: constructor arguments (a kTuple) or nullptr
  PickleValue* state = nullptr;            // kObject: BUILD state or nullptr
  std::unique_ptr<PickleStorage> storage;  // kStorage
  std::unique_ptr<PickleTensor> tensor;    // kTensor

  bool is(PickleKind k) const { return kind == k; }
  // "module.name" of a kGlobal.
  std::string qualified_name() const { return text + "." + name; }
};

struct PickleLimits {
  size_t max_nodes = size_t{1} << 21;           // values created (about 200 bytes each)
  size_t max_stack = size_t{1} << 20;           // values on the stack at once
  size_t max_mark_depth = 4096;                 // nested MARKs
  size_t max_memo = size_t{1} << 20;            // memo entries
  size_t max_text_bytes = size_t{1} << 30;      // bytes of all strings, copies included
  int64_t max_tensor_numel = int64_t{1} << 28;  // elements of one tensor
  size_t max_dims = 64;                         // rank of one tensor
};

// Owns every value of one or more pickles; values refer to each other by
// pointer and may be shared (memo) or even cyclic, so walkers must bound depth.
class PickleArena {
 public:
  PickleArena() = default;
  PickleArena(const PickleArena&) = delete;
  PickleArena& operator=(const PickleArena&) = delete;

  PickleValue* make(PickleKind kind);
  size_t size() const { return nodes_.size(); }

  // Storages in the order their persistent ids first appeared.
  const std::vector<const PickleValue*>& storages() const { return storage_order_; }
  const PickleValue* find_storage(std::string_view key) const;
  // Registers `node` (kind kStorage) under its key; returns the existing node
  // when the key was seen before.
  PickleValue* intern_storage(PickleValue* node);

 private:
  std::deque<PickleValue> nodes_;
  std::map<std::string, PickleValue*, std::less<>> storages_;
  std::vector<const PickleValue*> storage_order_;
};

struct Unpickled {
  const PickleValue* value = nullptr;
  size_t consumed = 0;  // bytes up to and including STOP
};

// Interprets the pickle at the start of `bytes`, up to its STOP opcode.
// `base_offset` is added to the offsets quoted in messages (the pickle's
// position in the file). Messages contain the word "pickle".
Result<Unpickled> unpickle(std::span<const uint8_t> bytes, PickleArena& arena,
                           const PickleLimits& limits = {}, size_t base_offset = 0);

// Helpers for walking the tree.
// The value of the last entry whose key is the string `key`, or nullptr.
const PickleValue* dict_get(const PickleValue& dict, std::string_view key);
// "dict with keys 'epoch', 'acc'", "tensor", "object of class 'a.B'", "list of 3", ...
std::string describe(const PickleValue& value);

}  // namespace stgcn::io
