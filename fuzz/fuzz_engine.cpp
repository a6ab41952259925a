// libFuzzer target: the engine-file reader (src/engine/engine_file.h) must reject any byte string
// cleanly: no crash, leak, UB or unbounded allocation, and every error is one line naming the
// file. A file it accepts must be canonical: re-serializing what was read gives the input back.
//
// Random bytes never carry a valid SHA-256, so each input is also tried re-signed (checksum
// recomputed), which takes it to the structural checks; and the input is read as a recipe for
// EngineFileContents that go through the writer and back (writer and reader must agree). The
// custom mutator splices in freshly generated valid files and edits header / table fields of
// engine-like inputs (re-signed), so the fuzzer gets deep from an empty corpus; seed it with the
// fixtures' *.engine files when there are any.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <nlohmann/json.hpp>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "engine/engine_file.h"
#include "io/sha256.h"
#include "stgcn/engine.h"

extern "C" size_t LLVMFuzzerMutate(uint8_t* data, size_t size, size_t max_size);

namespace {

using stgcn::ErrorCode;
using stgcn::engine::EngineFileContents;
using stgcn::engine::FileDType;
using stgcn::engine::FileTensor;
using stgcn::engine::MappedEngineFile;
using Bytes = std::vector<uint8_t>;

constexpr char kName[] = "fuzz.engine";
constexpr uint8_t kMagic[8] = {'S', 'T', 'G', 'C', 'N', 'E', 'N', 'G'};

bool has_magic(const uint8_t* data, size_t size) {
  return size >= 48 && std::memcmp(data, kMagic, 8) == 0;
}

// The documented checksum: SHA-256 of bytes [48, end) stored at [16, 48).
void resign(uint8_t* data, size_t size) {
  if (size < 48) return;
  auto hex = stgcn::io::sha256_hex(
      std::string_view(reinterpret_cast<const char*>(data + 48), size - 48));
  if (!hex.is_ok() || hex->size() != 64) __builtin_trap();
  auto nibble = [](char c) { return c <= '9' ? c - '0' : c - 'a' + 10; };
  for (size_t i = 0; i < 32; ++i)
    data[16 + i] = static_cast<uint8_t>(nibble((*hex)[2 * i]) * 16 + nibble((*hex)[2 * i + 1]));
}

// Consumes the fuzz input from the front; zeros once it runs out.
class Source {
 public:
  Source(const uint8_t* p, size_t n) : p_(p), n_(n) {}
  uint8_t byte() { return n_ > 0 ? (--n_, *p_++) : 0; }
  size_t upto(size_t max) { return byte() % (max + 1); }

 private:
  const uint8_t* p_;
  size_t n_;
};

// EngineFileContents from a recipe: mostly valid, sometimes breaking one writer rule. Tensor
// data lives in `storage`.
EngineFileContents generate(Source& src, std::vector<Bytes>& storage) {
  EngineFileContents c;
  const size_t meta_len = src.upto(24);
  for (size_t i = 0; i < meta_len; ++i) {
    const uint8_t b = src.byte();
    c.metadata_json += static_cast<char>(b % 8 == 0 ? b : 0x20 + b % 0x5f);
  }
  const size_t n = src.upto(5);
  storage.assign(n, Bytes());
  for (size_t i = 0; i < n; ++i) {
    FileTensor t;
    const uint8_t mode = src.byte();
    const size_t name_len = src.upto(6);
    for (size_t k = 0; k < name_len; ++k) {
      const uint8_t b = src.byte();
      t.name += static_cast<char>(mode % 16 == 0 ? b : 'a' + b % 4);  // small alphabet: clashes
    }
    t.dtype = static_cast<FileDType>(mode % 32 == 1 ? 7 : src.upto(6));
    const size_t rank = mode % 32 == 2 ? 9 : src.upto(4);
    uint64_t numel = 1;
    for (size_t k = 0; k < rank; ++k) {
      const int64_t d = mode % 32 == 3 ? -1 : static_cast<int64_t>(src.upto(5));
      t.dims.push_back(d);
      numel *= d > 0 ? static_cast<uint64_t>(d) : 0;
    }
    t.layout.resize(src.upto(8), src.byte());
    size_t len = static_cast<size_t>(numel) * stgcn::engine::file_dtype_size(t.dtype);
    if (t.dtype == FileDType::kBytes) len += src.upto(70);
    if (mode % 32 == 4) len += 1;
    storage[i].resize(len);
    for (uint8_t& b : storage[i]) b = src.byte();
    t.data = storage[i];
    c.tensors.push_back(std::move(t));
  }
  return c;
}

bool same_contents(const EngineFileContents& a, const MappedEngineFile& b) {
  if (a.metadata_json != b.metadata_json() || a.tensors.size() != b.tensors().size()) return false;
  for (size_t i = 0; i < a.tensors.size(); ++i) {
    const FileTensor &x = a.tensors[i], &y = b.tensors()[i];
    if (x.name != y.name || x.dtype != y.dtype || x.dims != y.dims || x.layout != y.layout ||
        x.data.size() != y.data.size() ||
        (!x.data.empty() && std::memcmp(x.data.data(), y.data.data(), x.data.size()) != 0))
      return false;
  }
  return true;
}

void check_message(const stgcn::Status& st, const std::string& prefix) {
  const std::string& msg = st.message();
  if (msg.rfind(prefix, 0) != 0) __builtin_trap();            // names the file
  if (msg.find('\n') != std::string::npos) __builtin_trap();  // one line
}

// Opens `in` and checks either the refusal or the invariants of an accepted file.
void check_open(const Bytes& in) {
  auto r = MappedEngineFile::from_bytes(in, kName);
  if (!r.is_ok()) {
    check_message(r.status(), std::string("cannot load '") + kName + "': ");
    const bool version = r.status().message().find("engine format version") != std::string::npos;
    if ((r.status().code() == ErrorCode::kUnsupported) != version) __builtin_trap();
    if (!version && r.status().code() != ErrorCode::kCorrupt) __builtin_trap();
    return;
  }
  const MappedEngineFile& f = **r;
  if (f.file_size() != in.size() || std::memcmp(f.bytes().data(), in.data(), in.size()) != 0)
    __builtin_trap();
  const uint8_t* begin = f.bytes().data();
  for (const FileTensor& t : f.tensors()) {
    if (t.data.data() < begin || t.data.data() + t.data.size() > begin + f.file_size())
      __builtin_trap();
    if (reinterpret_cast<uintptr_t>(t.data.data()) % stgcn::engine::kBlobAlignment != 0)
      __builtin_trap();
    if (f.find(t.name) != &t || t.name.empty() || t.dims.size() > 8 || t.layout.size() > 4096)
      __builtin_trap();
    uint64_t numel = 1;
    for (int64_t d : t.dims) {
      if (d < 0) __builtin_trap();
      numel *= static_cast<uint64_t>(d);  // bounded: the byte size fits the file
    }
    const uint64_t need = numel * stgcn::engine::file_dtype_size(t.dtype);
    if (t.dtype == FileDType::kBytes ? t.data.size() < need : t.data.size() != need)
      __builtin_trap();
  }
  // Canonical: the writer reproduces the file byte for byte.
  EngineFileContents again{f.metadata_json(), f.tensors()};
  auto out = stgcn::engine::serialize_engine_file(again);
  if (!out.is_ok() || *out != in) __builtin_trap();
  // The engine loader on a valid container: metadata JSON, model spec, graph,
  // verifier, ISA check, backend preparation. Any refusal is one clean line.
  auto engine = stgcn::Engine::from_bytes(in, kName);
  if (!engine.is_ok()) {
    check_message(engine.status(), std::string("cannot load '") + kName + "': ");
    return;
  }
  // An accepted engine must run without touching memory it does not own: every size the
  // runner trusts (T, M, V, C, classes, the arena) was checked against the graph at load.
  const stgcn::EngineInfo& info = (*engine)->info();
  if (info.arena_bytes > (int64_t{64} << 20)) return;
  auto ctx = (*engine)->create_context(1);
  if (!ctx.is_ok()) {
    if (ctx.status().message().find('\n') != std::string::npos) __builtin_trap();
    return;
  }
  std::vector<float> x(static_cast<size_t>(info.spec.C()) * info.T * info.spec.V() * info.M, 0.5f);
  std::vector<float> y(static_cast<size_t>(info.spec.num_class()), 0.f);
  (void)(*ctx)->run(x, 1, y);
}

// Sets one number of the metadata JSON (a shape, T, M, a class count, a scale, ...) to an
// interesting value and writes the file again (re-signed by the writer): the semantic
// checks behind the checksum are what must refuse it.
size_t mutate_metadata(uint8_t* data, size_t size, size_t max_size, std::minstd_rand& rng) {
  auto f = MappedEngineFile::from_bytes(Bytes(data, data + size), kName);
  if (!f.is_ok()) return 0;
  nlohmann::json meta = nlohmann::json::parse((*f)->metadata_json(), nullptr, false);
  if (meta.is_discarded()) return 0;
  std::vector<nlohmann::json*> numbers;
  auto collect = [&](auto& self, nlohmann::json& j) -> void {
    if (j.is_number()) numbers.push_back(&j);
    if (j.is_structured())
      for (auto& v : j) self(self, v);
  };
  collect(collect, meta);
  if (numbers.empty()) return 0;
  nlohmann::json& target = *numbers[rng() % numbers.size()];
  const int64_t old = target.is_number_integer() ? target.get<int64_t>() : 1;
  const int64_t values[] = {0, 1, -1, old + 1, old - 1, 2 * old, old / 2, 1 << 20, INT32_MAX};
  target = values[rng() % (sizeof values / sizeof values[0])];
  EngineFileContents c{meta.dump(), (*f)->tensors()};
  auto out = stgcn::engine::serialize_engine_file(c);
  if (!out.is_ok() || out->size() > max_size) return 0;
  std::memcpy(data, out->data(), out->size());
  return out->size();
}

}  // namespace

extern "C" size_t LLVMFuzzerCustomMutator(uint8_t* data, size_t size, size_t max_size,
                                          unsigned int seed) {
  std::minstd_rand rng(seed);
  switch (rng() % 8) {
    case 6:
    case 7:  // structure-aware: a number inside the metadata, re-signed
      if (has_magic(data, size)) {
        const size_t n = mutate_metadata(data, size, max_size, rng);
        if (n > 0) return n;
      }
      break;
    case 0: {  // a valid file generated from the (mutated) bytes as a recipe
      size = LLVMFuzzerMutate(data, size, max_size);
      Source src(data, size);
      std::vector<Bytes> storage;
      auto out = stgcn::engine::serialize_engine_file(generate(src, storage));
      if (!out.is_ok() || out->size() > max_size) return size;
      std::memcpy(data, out->data(), out->size());
      return out->size();
    }
    case 1:
    case 2: {  // an 8-byte field of an engine-like file set to an interesting value, re-signed
      if (!has_magic(data, size) || size < 128) break;
      const size_t at = rng() % 2 ? 48 + 8 * (rng() % 8) : 48 + rng() % (size - 48);
      const size_t width = at + 8 <= size ? (rng() % 2 ? 8 : 1 + rng() % 4) : size - at;
      uint64_t old = 0;
      for (size_t i = 0; i < width; ++i) old |= uint64_t{data[at + i]} << (8 * i);
      const uint64_t values[] = {0,        1,    old + 1,  old - 1,    old + 64,
                                 old - 64, size, size - 1, UINT64_MAX, uint64_t{1} << 63,
                                 255,      256,  4096,     4097,       rng()};
      const uint64_t v = values[rng() % (sizeof values / sizeof values[0])];
      for (size_t i = 0; i < width; ++i) data[at + i] = static_cast<uint8_t>(v >> (8 * i));
      resign(data, size);
      return size;
    }
    default: break;
  }
  size = LLVMFuzzerMutate(data, size, max_size);
  if (has_magic(data, size) && rng() % 2) resign(data, size);
  return size;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const Bytes in(data, data + size);
  check_open(in);

  auto v = stgcn::engine::peek_engine_format_version(in, kName);
  const bool magic_ok = size >= 12 && std::memcmp(data, kMagic, 8) == 0;
  if (v.is_ok() != magic_ok) __builtin_trap();
  if (!v.is_ok()) check_message(v.status(), std::string("cannot load '") + kName + "': ");

  if (has_magic(data, size)) {  // past the checksum, to the structural checks
    Bytes signed_in = in;
    resign(signed_in.data(), signed_in.size());
    if (signed_in != in) check_open(signed_in);
  }

  // The writer: generated contents either serialize and read back equal, or are refused.
  Source src(data, size);
  std::vector<Bytes> storage;
  const EngineFileContents c = generate(src, storage);
  auto out = stgcn::engine::serialize_engine_file(c);
  if (!out.is_ok()) {
    check_message(out.status(), "cannot serialize engine file: ");
    if (out.status().code() != ErrorCode::kInvalidArgument) __builtin_trap();
    return 0;
  }
  auto back = MappedEngineFile::from_bytes(*out, kName);
  if (!back.is_ok() || !same_contents(c, **back)) __builtin_trap();
  check_open(*out);
  return 0;
}
