// The unpickler of pickle.h, split over pickle.cpp (values, helpers, the opcode loop) and
// pickle_ops.cpp (opcode handlers, torch's rebuild calls). Internal to io/.
#pragma once

#include <bit>
#include <charconv>
#include <limits>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "io/pickle.h"

namespace stgcn::io::pickle_detail {

// Opcodes (Python's Lib/pickle.py): enum name, byte, name in messages.
// clang-format off
#define STGCN_PICKLE_OPCODES(X) \
  X(kMark, '(', MARK) X(kStop, '.', STOP) X(kPop, '0', POP) X(kPopMark, '1', POP_MARK) \
  X(kDup, '2', DUP) X(kFloat, 'F', FLOAT) X(kInt, 'I', INT) X(kBinInt, 'J', BININT) \
  X(kBinInt1, 'K', BININT1) X(kLong, 'L', LONG) X(kBinInt2, 'M', BININT2) X(kNone, 'N', NONE) \
  X(kPersId, 'P', PERSID) X(kBinPersId, 'Q', BINPERSID) X(kReduce, 'R', REDUCE) \
  X(kString, 'S', STRING) X(kBinString, 'T', BINSTRING) X(kShortBinString, 'U', SHORT_BINSTRING) \
  X(kUnicode, 'V', UNICODE) X(kBinUnicode, 'X', BINUNICODE) X(kAppend, 'a', APPEND) \
  X(kBuild, 'b', BUILD) X(kGlobal, 'c', GLOBAL) X(kDict, 'd', DICT) X(kEmptyDict, '}', EMPTY_DICT) \
  X(kAppends, 'e', APPENDS) X(kGet, 'g', GET) X(kBinGet, 'h', BINGET) X(kInst, 'i', INST) \
  X(kLongBinGet, 'j', LONG_BINGET) X(kList, 'l', LIST) X(kEmptyList, ']', EMPTY_LIST) \
  X(kObj, 'o', OBJ) X(kPut, 'p', PUT) X(kBinPut, 'q', BINPUT) X(kLongBinPut, 'r', LONG_BINPUT) \
  X(kSetItem, 's', SETITEM) X(kTuple, 't', TUPLE) X(kEmptyTuple, ')', EMPTY_TUPLE) \
  X(kSetItems, 'u', SETITEMS) X(kBinFloat, 'G', BINFLOAT) X(kProto, 0x80, PROTO) \
  X(kNewObj, 0x81, NEWOBJ) X(kExt1, 0x82, EXT1) X(kExt2, 0x83, EXT2) X(kExt4, 0x84, EXT4) \
  X(kTuple1, 0x85, TUPLE1) X(kTuple2, 0x86, TUPLE2) X(kTuple3, 0x87, TUPLE3) \
  X(kNewTrue, 0x88, NEWTRUE) X(kNewFalse, 0x89, NEWFALSE) X(kLong1, 0x8a, LONG1) \
  X(kLong4, 0x8b, LONG4) X(kBinBytes, 'B', BINBYTES) X(kShortBinBytes, 'C', SHORT_BINBYTES) \
  X(kShortBinUnicode, 0x8c, SHORT_BINUNICODE) X(kBinUnicode8, 0x8d, BINUNICODE8) \
  X(kBinBytes8, 0x8e, BINBYTES8) X(kEmptySet, 0x8f, EMPTY_SET) X(kAddItems, 0x90, ADDITEMS) \
  X(kFrozenSet, 0x91, FROZENSET) X(kNewObjEx, 0x92, NEWOBJ_EX) X(kStackGlobal, 0x93, STACK_GLOBAL) \
  X(kMemoize, 0x94, MEMOIZE) X(kFrame, 0x95, FRAME) X(kByteArray8, 0x96, BYTEARRAY8) \
  X(kNextBuffer, 0x97, NEXT_BUFFER) X(kReadonlyBuffer, 0x98, READONLY_BUFFER)
// clang-format on

enum Op : uint8_t {
#define STGCN_OPCODE_ENUM(e, byte, name) e = byte,
  STGCN_PICKLE_OPCODES(STGCN_OPCODE_ENUM)
#undef STGCN_OPCODE_ENUM
};

std::string opcode_name(uint8_t op);
// Appends code point `cp` to `out` as UTF-8.
void append_utf8(std::string& out, uint32_t cp);
// Decodes UTF-8 into code points <= 0xff (str.encode('latin1')); false otherwise.
bool utf8_to_latin1(std::string_view in, std::string& out);
int hex_digit(char c);
// Sign-extends little-endian two's complement `bytes` into an int64 if it fits.
bool le_bytes_to_int64(std::string_view bytes, int64_t& out);
// Decimal text (optional sign) to little-endian two's complement bytes.
bool decimal_to_le_bytes(std::string_view digits, std::string& out);

class Unpickler {
 public:
  Unpickler(std::span<const uint8_t> data, PickleArena& arena, const PickleLimits& limits,
            size_t base)
      : data_(data), arena_(arena), limits_(limits), base_(base) {}

  Result<Unpickled> run();

 private:
  // --- errors ---------------------------------------------------------------
  std::string where() const {
    return "opcode " + opcode_name(op_) + " at offset " + std::to_string(base_ + op_pos_);
  }
  Status bad(const std::string& what) const {
    return corrupt("corrupt pickle: " + what + " (" + where() + ")");
  }
  Status refuse(const std::string& callable) const {
    return unsafe("refusing to call " + callable + " in pickle (offset " +
                  std::to_string(base_ + op_pos_) +
                  "): unsafe, only tensor/collection constructors are allowed");
  }
  Status truncated(size_t n) const {
    return corrupt("truncated pickle: " + where() + " needs " + std::to_string(n) + " bytes, " +
                   std::to_string(data_.size() - pos_) + " left");
  }

  // --- input ----------------------------------------------------------------
  Result<std::string_view> take(uint64_t n) {
    if (n > data_.size() - pos_)
      return truncated(static_cast<size_t>(std::min<uint64_t>(n, SIZE_MAX)));
    std::string_view s(reinterpret_cast<const char*>(data_.data()) + pos_, static_cast<size_t>(n));
    pos_ += static_cast<size_t>(n);
    return s;
  }
  Result<uint64_t> read_le(int n) {
    STGCN_ASSIGN_OR_RETURN(std::string_view s, take(static_cast<uint64_t>(n)));
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(s[static_cast<size_t>(i)]);
    return v;
  }
  Result<std::string_view> read_line() {
    for (size_t i = pos_; i < data_.size(); ++i) {
      if (data_[i] == '\n') {
        std::string_view s(reinterpret_cast<const char*>(data_.data()) + pos_, i - pos_);
        pos_ = i + 1;
        return s;
      }
    }
    return corrupt("truncated pickle: " + where() + " has no end of line");
  }

  // --- values and stack ---------------------------------------------------
  Result<PickleValue*> make(PickleKind kind) {
    if (arena_.size() >= limits_.max_nodes)
      return bad("more than " + std::to_string(limits_.max_nodes) + " values");
    return arena_.make(kind);
  }
  Status charge(size_t copied) {
    copied_ += copied;
    if (copied_ > limits_.max_nodes * 4) return bad("too many values copied");
    return Status::ok();
  }
  // Strings may be copied from memoized values, so their bytes are budgeted too.
  Status charge_text(size_t bytes) {
    text_bytes_ += bytes;
    if (text_bytes_ > limits_.max_text_bytes)
      return bad("more than " + std::to_string(limits_.max_text_bytes) + " bytes of strings");
    return Status::ok();
  }
  size_t frame_base() const { return marks_.empty() ? 0 : marks_.back(); }
  size_t available() const { return stack_.size() - frame_base(); }
  Status push(PickleValue* v) {
    if (stack_.size() >= limits_.max_stack)
      return bad("stack deeper than " + std::to_string(limits_.max_stack));
    stack_.push_back(v);
    return Status::ok();
  }
  Status need_items(size_t n) const {
    if (available() < n) return bad("stack underflow");
    return Status::ok();
  }
  Result<PickleValue*> pop() {
    STGCN_RETURN_IF_ERROR(need_items(1));
    PickleValue* v = stack_.back();
    stack_.pop_back();
    return v;
  }
  Result<PickleValue*> top() {
    STGCN_RETURN_IF_ERROR(need_items(1));
    return stack_.back();
  }
  Result<std::vector<PickleValue*>> pop_mark() {
    if (marks_.empty()) return bad("no MARK on the stack");
    size_t base = marks_.back();
    marks_.pop_back();
    std::vector<PickleValue*> items(stack_.begin() + static_cast<std::ptrdiff_t>(base),
                                    stack_.end());
    stack_.resize(base);
    return items;
  }

  Result<PickleValue*> make_int(int64_t v) {
    STGCN_ASSIGN_OR_RETURN(PickleValue * n, make(PickleKind::kInt));
    n->integer = v;
    return n;
  }
  Result<PickleValue*> make_text(PickleKind kind, std::string text) {
    STGCN_RETURN_IF_ERROR(charge_text(text.size()));
    STGCN_ASSIGN_OR_RETURN(PickleValue * n, make(kind));
    n->text = std::move(text);
    return n;
  }
  Result<PickleValue*> make_long(std::string_view le_bytes) {
    int64_t v = 0;
    if (le_bytes_to_int64(le_bytes, v)) return make_int(v);
    // Minimal two's complement, as Python writes it, so equal values compare equal.
    while (le_bytes.size() > 1) {
      const auto last = static_cast<uint8_t>(le_bytes.back());
      const auto prev = static_cast<uint8_t>(le_bytes[le_bytes.size() - 2]);
      if (!((last == 0x00 && !(prev & 0x80)) || (last == 0xff && (prev & 0x80)))) break;
      le_bytes.remove_suffix(1);
    }
    return make_text(PickleKind::kBigInt, std::string(le_bytes));
  }
  Result<PickleValue*> make_seq(PickleKind kind, std::vector<PickleValue*> items) {
    STGCN_ASSIGN_OR_RETURN(PickleValue * n, make(kind));
    n->items = std::move(items);
    return n;
  }
  Result<PickleValue*> make_global(std::string module, std::string name) {
    STGCN_RETURN_IF_ERROR(charge_text(module.size() + name.size()));
    STGCN_ASSIGN_OR_RETURN(PickleValue * n, make(PickleKind::kGlobal));
    n->text = std::move(module);
    n->name = std::move(name);
    return n;
  }
  Result<PickleValue*> make_object(PickleValue* cls, PickleValue* args) {
    if (cls->is(PickleKind::kGlobal) && cls->text == "collections" && cls->name == "OrderedDict")
      return make(PickleKind::kDict);
    STGCN_ASSIGN_OR_RETURN(PickleValue * n, make(PickleKind::kObject));
    n->cls = cls;
    n->args = args;
    return n;
  }

  // --- opcode groups --------------------------------------------------------
  Status step(uint8_t op);
  Status op_text_int(bool is_long);
  Status op_text_string(bool unicode);
  Status op_memo_put(uint64_t index);
  Status op_memo_get(uint64_t index);
  Status op_append(std::vector<PickleValue*> values);
  Status op_setitems(std::vector<PickleValue*> values);
  Status op_build();
  Status op_call(PickleValue* callable, PickleValue* args);
  Status op_persistent(PickleValue* pid);

  // Whitelisted callables.
  Result<PickleValue*> call(const PickleValue& fn, PickleValue* args);
  Result<PickleValue*> rebuild_tensor(const std::vector<PickleValue*>& a, const std::string& fn);
  Result<std::vector<int64_t>> int_tuple(const PickleValue* v, const char* what);

  std::span<const uint8_t> data_;
  PickleArena& arena_;
  const PickleLimits& limits_;
  size_t base_;
  size_t pos_ = 0;
  size_t op_pos_ = 0;
  uint8_t op_ = 0;
  size_t copied_ = 0;
  size_t text_bytes_ = 0;
  PickleValue* result_ = nullptr;
  std::vector<PickleValue*> stack_;
  std::vector<size_t> marks_;
  std::unordered_map<uint64_t, PickleValue*> memo_;
};

}  // namespace stgcn::io::pickle_detail
