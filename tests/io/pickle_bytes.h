// Assembles pickle (and checkpoint) bytes by hand for the reader's tests:
// raw opcodes plus little-endian / length-prefixed operands.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace stgcn::testing {

class PickleBytes {
 public:
  PickleBytes& op(char c) { return op(static_cast<uint8_t>(c)); }
  PickleBytes& op(uint8_t c) {
    b_.push_back(c);
    return *this;
  }
  PickleBytes& raw(std::string_view s) {
    b_.insert(b_.end(), s.begin(), s.end());
    return *this;
  }
  PickleBytes& raw(const std::vector<uint8_t>& v) {
    b_.insert(b_.end(), v.begin(), v.end());
    return *this;
  }
  PickleBytes& le(uint64_t v, int n) {
    for (int i = 0; i < n; ++i) b_.push_back(static_cast<uint8_t>(v >> (8 * i)));
    return *this;
  }
  PickleBytes& proto(int p = 2) { return op(uint8_t{0x80}).le(static_cast<uint64_t>(p), 1); }
  PickleBytes& int1(int v) { return op('K').le(static_cast<uint64_t>(v), 1); }
  PickleBytes& integer(int64_t v) { return op('J').le(static_cast<uint64_t>(v), 4); }
  PickleBytes& str(std::string_view s) { return op('X').le(s.size(), 4).raw(s); }
  PickleBytes& global(std::string_view module, std::string_view name) {
    return op('c').raw(module).raw("\n").raw(name).raw("\n");
  }
  PickleBytes& tuple_of(const std::vector<int64_t>& v) {
    op('(');
    for (int64_t x : v) integer(x);
    return op('t');
  }
  PickleBytes& ordered_dict() { return global("collections", "OrderedDict").op(')').op('R'); }
  // _rebuild_tensor_v2(storage(key, numel), offset, sizes, strides, False, OrderedDict())
  PickleBytes& tensor(std::string_view key, std::string_view type, int64_t numel, int64_t offset,
                      const std::vector<int64_t>& sizes, const std::vector<int64_t>& strides) {
    global("torch._utils", "_rebuild_tensor_v2").op('(');
    op('(').str("storage").global("torch", type).str(key).str("cpu").integer(numel).op('t');
    op('Q').integer(offset).tuple_of(sizes).tuple_of(strides).op(uint8_t{0x89}).ordered_dict();
    return op('t').op('R');
  }
  PickleBytes& stop() { return op('.'); }
  const std::vector<uint8_t>& bytes() const { return b_; }

 private:
  std::vector<uint8_t> b_;
};

}  // namespace stgcn::testing
