#include "io/pickle.h"

#include <bit>
#include <charconv>
#include <limits>
#include <unordered_map>

namespace stgcn::io {

const char* pickle_kind_name(PickleKind kind) {
  switch (kind) {
    case PickleKind::kNone: return "None";
    case PickleKind::kBool: return "bool";
    case PickleKind::kInt: return "int";
    case PickleKind::kBigInt: return "int";
    case PickleKind::kFloat: return "float";
    case PickleKind::kString: return "string";
    case PickleKind::kBytes: return "bytes";
    case PickleKind::kList: return "list";
    case PickleKind::kTuple: return "tuple";
    case PickleKind::kSet: return "set";
    case PickleKind::kDict: return "dict";
    case PickleKind::kGlobal: return "global";
    case PickleKind::kObject: return "object";
    case PickleKind::kStorage: return "storage";
    case PickleKind::kTensor: return "tensor";
  }
  return "?";
}

PickleValue* PickleArena::make(PickleKind kind) {
  PickleValue& v = nodes_.emplace_back();
  v.kind = kind;
  return &v;
}

const PickleValue* PickleArena::find_storage(std::string_view key) const {
  auto it = storages_.find(key);
  return it == storages_.end() ? nullptr : it->second;
}

PickleValue* PickleArena::intern_storage(PickleValue* node) {
  auto [it, inserted] = storages_.emplace(node->storage->key, node);
  if (inserted) storage_order_.push_back(node);
  return it->second;
}

const PickleValue* dict_get(const PickleValue& dict, std::string_view key) {
  for (auto it = dict.entries.rbegin(); it != dict.entries.rend(); ++it)
    if (it->first->is(PickleKind::kString) && it->first->text == key) return it->second;
  return nullptr;
}

std::string describe(const PickleValue& v) {
  switch (v.kind) {
    case PickleKind::kList:
    case PickleKind::kTuple:
    case PickleKind::kSet:
      return std::string(pickle_kind_name(v.kind)) + " of " + std::to_string(v.items.size());
    case PickleKind::kDict: {
      if (v.entries.empty()) return "empty dict";
      std::string s = "dict with keys ";
      size_t shown = 0;
      for (const auto& [k, value] : v.entries) {
        if (shown == 5) {
          s += ", ...";
          break;
        }
        if (shown++) s += ", ";
        s += k->is(PickleKind::kString) ? "'" + k->text.substr(0, 64) + "'"
                                        : std::string("<") + pickle_kind_name(k->kind) + ">";
      }
      return s;
    }
    case PickleKind::kGlobal: return "reference to '" + v.qualified_name().substr(0, 200) + "'";
    case PickleKind::kObject:
      if (v.cls && v.cls->is(PickleKind::kGlobal))
        return "object of class '" + v.cls->qualified_name().substr(0, 200) + "'";
      return "object";
    default: return pickle_kind_name(v.kind);
  }
}

namespace {

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

std::string opcode_name(uint8_t op) {
  switch (op) {
#define STGCN_OPCODE_NAME(e, byte, name) \
  case e: return #name;
    STGCN_PICKLE_OPCODES(STGCN_OPCODE_NAME)
#undef STGCN_OPCODE_NAME
    default: {
      static const char* kHex = "0123456789abcdef";
      return std::string("0x") + kHex[op >> 4] + kHex[op & 15];
    }
  }
}

// Appends code point `cp` to `out` as UTF-8.
void append_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xc0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xe0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  } else {
    out += static_cast<char>(0xf0 | ((cp >> 18) & 0x07));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3f));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  }
}

// Decodes UTF-8 into code points <= 0xff (str.encode('latin1')); false otherwise.
bool utf8_to_latin1(std::string_view in, std::string& out) {
  for (size_t i = 0; i < in.size();) {
    auto c = static_cast<uint8_t>(in[i]);
    if (c < 0x80) {
      out += static_cast<char>(c);
      i += 1;
    } else if ((c & 0xe0) == 0xc0 && i + 1 < in.size()) {
      auto c1 = static_cast<uint8_t>(in[i + 1]);
      if ((c1 & 0xc0) != 0x80) return false;
      uint32_t cp = ((c & 0x1fu) << 6) | (c1 & 0x3fu);
      if (cp > 0xff) return false;
      out += static_cast<char>(cp);
      i += 2;
    } else {
      return false;
    }
  }
  return true;
}

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Sign-extends little-endian two's complement `bytes` into an int64 if it fits.
bool le_bytes_to_int64(std::string_view bytes, int64_t& out) {
  if (bytes.empty()) {
    out = 0;
    return true;
  }
  const bool negative = static_cast<uint8_t>(bytes.back()) & 0x80;
  const uint8_t fill = negative ? 0xff : 0x00;
  for (size_t i = 8; i < bytes.size(); ++i)
    if (static_cast<uint8_t>(bytes[i]) != fill) return false;
  uint64_t u = negative ? ~uint64_t{0} : 0;
  for (size_t i = 0; i < bytes.size() && i < 8; ++i) {
    u &= ~(uint64_t{0xff} << (8 * i));
    u |= uint64_t{static_cast<uint8_t>(bytes[i])} << (8 * i);
  }
  if (bytes.size() >= 8 && ((u >> 63) != 0) != negative) return false;
  out = static_cast<int64_t>(u);
  return true;
}

// Decimal text (optional sign) to little-endian two's complement bytes.
bool decimal_to_le_bytes(std::string_view digits, std::string& out) {
  bool negative = false;
  if (!digits.empty() && (digits[0] == '-' || digits[0] == '+')) {
    negative = digits[0] == '-';
    digits.remove_prefix(1);
  }
  if (digits.empty() || digits.size() > 256) return false;  // quadratic below: keep it short
  std::vector<uint8_t> mag;                                 // little-endian magnitude
  for (char c : digits) {
    if (c < '0' || c > '9') return false;
    unsigned carry = static_cast<unsigned>(c - '0');
    for (uint8_t& b : mag) {
      unsigned x = b * 10u + carry;
      b = static_cast<uint8_t>(x & 0xff);
      carry = x >> 8;
    }
    while (carry) {
      mag.push_back(static_cast<uint8_t>(carry & 0xff));
      carry >>= 8;
    }
  }
  mag.push_back(0);  // room for the sign bit
  if (negative) {
    unsigned carry = 1;
    for (uint8_t& b : mag) {
      unsigned x = static_cast<uint8_t>(~b) + carry;
      b = static_cast<uint8_t>(x & 0xff);
      carry = x >> 8;
    }
  }
  out.assign(mag.begin(), mag.end());
  return true;
}

}  // namespace

namespace {

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

Result<Unpickled> Unpickler::run() {
  while (pos_ < data_.size()) {
    op_pos_ = pos_;
    op_ = data_[pos_++];
    STGCN_RETURN_IF_ERROR(step(op_));
    if (result_) return Unpickled{result_, pos_};
  }
  return corrupt("truncated pickle: no STOP opcode in " + std::to_string(data_.size()) +
                 " bytes from offset " + std::to_string(base_));
}

Status Unpickler::step(uint8_t op) {
  switch (op) {
    case kProto: {
      STGCN_ASSIGN_OR_RETURN(uint64_t v, read_le(1));
      if (v > 5) return bad("unsupported pickle protocol " + std::to_string(v));
      return Status::ok();
    }
    case kFrame: {
      STGCN_ASSIGN_OR_RETURN(uint64_t n, read_le(8));
      if (n > data_.size() - pos_)
        return truncated(static_cast<size_t>(std::min<uint64_t>(n, SIZE_MAX)));
      return Status::ok();
    }
    case kStop: {
      STGCN_ASSIGN_OR_RETURN(result_, pop());
      return Status::ok();
    }
    case kNone: {
      STGCN_ASSIGN_OR_RETURN(PickleValue * v, make(PickleKind::kNone));
      return push(v);
    }
    case kNewTrue:
    case kNewFalse: {
      STGCN_ASSIGN_OR_RETURN(PickleValue * v, make(PickleKind::kBool));
      v->boolean = op == kNewTrue;
      return push(v);
    }
    case kBinInt:
    case kBinInt1:
    case kBinInt2: {
      const int n = op == kBinInt ? 4 : op == kBinInt1 ? 1 : 2;
      STGCN_ASSIGN_OR_RETURN(uint64_t u, read_le(n));
      int64_t v = op == kBinInt
                      ? static_cast<int64_t>(static_cast<int32_t>(static_cast<uint32_t>(u)))
                      : static_cast<int64_t>(u);
      STGCN_ASSIGN_OR_RETURN(PickleValue * node, make_int(v));
      return push(node);
    }
    case kLong1:
    case kLong4: {
      STGCN_ASSIGN_OR_RETURN(uint64_t n, read_le(op == kLong1 ? 1 : 4));
      STGCN_ASSIGN_OR_RETURN(std::string_view bytes, take(n));
      STGCN_ASSIGN_OR_RETURN(PickleValue * node, make_long(bytes));
      return push(node);
    }
    case kInt: return op_text_int(false);
    case kLong: return op_text_int(true);
    case kFloat: {
      STGCN_ASSIGN_OR_RETURN(std::string_view line, read_line());
      double d = 0;
      auto [end, ec] = std::from_chars(line.data(), line.data() + line.size(), d);
      if (ec != std::errc() || end != line.data() + line.size())
        return bad("bad float literal '" + std::string(line.substr(0, 32)) + "'");
      STGCN_ASSIGN_OR_RETURN(PickleValue * node, make(PickleKind::kFloat));
      node->real = d;
      return push(node);
    }
    case kBinFloat: {
      STGCN_ASSIGN_OR_RETURN(std::string_view s, take(8));
      uint64_t bits = 0;
      for (char c : s) bits = (bits << 8) | static_cast<uint8_t>(c);  // big-endian
      STGCN_ASSIGN_OR_RETURN(PickleValue * node, make(PickleKind::kFloat));
      node->real = std::bit_cast<double>(bits);
      return push(node);
    }
    case kString: return op_text_string(false);
    case kUnicode: return op_text_string(true);
    case kBinString:
    case kShortBinString:
    case kBinUnicode:
    case kShortBinUnicode:
    case kBinUnicode8:
    case kBinBytes:
    case kShortBinBytes:
    case kBinBytes8:
    case kByteArray8: {
      const int width = (op == kShortBinString || op == kShortBinUnicode || op == kShortBinBytes)
                            ? 1
                        : (op == kBinUnicode8 || op == kBinBytes8 || op == kByteArray8) ? 8
                                                                                        : 4;
      STGCN_ASSIGN_OR_RETURN(uint64_t n, read_le(width));
      STGCN_ASSIGN_OR_RETURN(std::string_view s, take(n));
      // Python 2 str (BINSTRING) is decoded as UTF-8 by torch.load; keep it as text.
      const bool is_bytes =
          op == kBinBytes || op == kShortBinBytes || op == kBinBytes8 || op == kByteArray8;
      STGCN_ASSIGN_OR_RETURN(
          PickleValue * node,
          make_text(is_bytes ? PickleKind::kBytes : PickleKind::kString, std::string(s)));
      return push(node);
    }
    case kEmptyTuple:
    case kEmptyList:
    case kEmptyDict:
    case kEmptySet: {
      const PickleKind kind = op == kEmptyTuple  ? PickleKind::kTuple
                              : op == kEmptyList ? PickleKind::kList
                              : op == kEmptyDict ? PickleKind::kDict
                                                 : PickleKind::kSet;
      STGCN_ASSIGN_OR_RETURN(PickleValue * node, make(kind));
      return push(node);
    }
    case kTuple1:
    case kTuple2:
    case kTuple3: {
      const size_t n = op - kTuple1 + 1u;
      STGCN_RETURN_IF_ERROR(need_items(n));
      std::vector<PickleValue*> items(stack_.end() - static_cast<std::ptrdiff_t>(n), stack_.end());
      stack_.resize(stack_.size() - n);
      STGCN_ASSIGN_OR_RETURN(PickleValue * node, make_seq(PickleKind::kTuple, std::move(items)));
      return push(node);
    }
    case kTuple:
    case kList:
    case kFrozenSet: {
      STGCN_ASSIGN_OR_RETURN(auto items, pop_mark());
      const PickleKind kind = op == kTuple  ? PickleKind::kTuple
                              : op == kList ? PickleKind::kList
                                            : PickleKind::kSet;
      STGCN_ASSIGN_OR_RETURN(PickleValue * node, make_seq(kind, std::move(items)));
      return push(node);
    }
    case kDict: {
      STGCN_ASSIGN_OR_RETURN(auto items, pop_mark());
      STGCN_ASSIGN_OR_RETURN(PickleValue * node, make(PickleKind::kDict));
      STGCN_RETURN_IF_ERROR(push(node));
      return op_setitems(std::move(items));
    }
    case kAppend: {
      STGCN_ASSIGN_OR_RETURN(PickleValue * v, pop());
      return op_append({v});
    }
    case kAppends:
    case kAddItems: {
      STGCN_ASSIGN_OR_RETURN(auto items, pop_mark());
      return op_append(std::move(items));
    }
    case kSetItem: {
      STGCN_RETURN_IF_ERROR(need_items(2));
      std::vector<PickleValue*> kv(stack_.end() - 2, stack_.end());
      stack_.resize(stack_.size() - 2);
      return op_setitems(std::move(kv));
    }
    case kSetItems: {
      STGCN_ASSIGN_OR_RETURN(auto items, pop_mark());
      return op_setitems(std::move(items));
    }
    case kMark: {
      if (marks_.size() >= limits_.max_mark_depth)
        return bad("MARKs nested deeper than " + std::to_string(limits_.max_mark_depth));
      marks_.push_back(stack_.size());
      return Status::ok();
    }
    case kPop: {
      if (available() > 0) {
        stack_.pop_back();
        return Status::ok();
      }
      return pop_mark().status();
    }
    case kPopMark: return pop_mark().status();
    case kDup: {
      STGCN_ASSIGN_OR_RETURN(PickleValue * v, top());
      return push(v);
    }
    case kPut:
    case kGet: {
      STGCN_ASSIGN_OR_RETURN(std::string_view line, read_line());
      uint64_t index = 0;
      auto [end, ec] = std::from_chars(line.data(), line.data() + line.size(), index);
      if (ec != std::errc() || end != line.data() + line.size())
        return bad("bad memo index '" + std::string(line.substr(0, 32)) + "'");
      return op == kPut ? op_memo_put(index) : op_memo_get(index);
    }
    case kBinPut:
    case kLongBinPut: {
      STGCN_ASSIGN_OR_RETURN(uint64_t index, read_le(op == kBinPut ? 1 : 4));
      return op_memo_put(index);
    }
    case kBinGet:
    case kLongBinGet: {
      STGCN_ASSIGN_OR_RETURN(uint64_t index, read_le(op == kBinGet ? 1 : 4));
      return op_memo_get(index);
    }
    case kMemoize: return op_memo_put(memo_.size());
    case kGlobal: {
      STGCN_ASSIGN_OR_RETURN(std::string_view module, read_line());
      STGCN_ASSIGN_OR_RETURN(std::string_view name, read_line());
      STGCN_ASSIGN_OR_RETURN(PickleValue * g, make_global(std::string(module), std::string(name)));
      return push(g);
    }
    case kStackGlobal: {
      STGCN_ASSIGN_OR_RETURN(PickleValue * name, pop());
      STGCN_ASSIGN_OR_RETURN(PickleValue * module, pop());
      if (!name->is(PickleKind::kString) || !module->is(PickleKind::kString))
        return bad("STACK_GLOBAL needs two strings");
      STGCN_ASSIGN_OR_RETURN(PickleValue * g, make_global(module->text, name->text));
      return push(g);
    }
    case kReduce: {
      STGCN_ASSIGN_OR_RETURN(PickleValue * args, pop());
      STGCN_ASSIGN_OR_RETURN(PickleValue * callable, pop());
      return op_call(callable, args);
    }
    case kInst: {
      STGCN_ASSIGN_OR_RETURN(std::string_view module, read_line());
      STGCN_ASSIGN_OR_RETURN(std::string_view name, read_line());
      STGCN_ASSIGN_OR_RETURN(auto items, pop_mark());
      STGCN_ASSIGN_OR_RETURN(PickleValue * g, make_global(std::string(module), std::string(name)));
      STGCN_ASSIGN_OR_RETURN(PickleValue * args, make_seq(PickleKind::kTuple, std::move(items)));
      return op_call(g, args);
    }
    case kObj: {
      STGCN_ASSIGN_OR_RETURN(auto items, pop_mark());
      if (items.empty()) return bad("OBJ without a class");
      PickleValue* cls = items.front();
      items.erase(items.begin());
      STGCN_ASSIGN_OR_RETURN(PickleValue * args, make_seq(PickleKind::kTuple, std::move(items)));
      return op_call(cls, args);
    }
    case kNewObj:
    case kNewObjEx: {
      if (op == kNewObjEx) STGCN_RETURN_IF_ERROR(pop().status());  // kwargs
      STGCN_ASSIGN_OR_RETURN(PickleValue * args, pop());
      STGCN_ASSIGN_OR_RETURN(PickleValue * cls, pop());
      if (!cls->is(PickleKind::kGlobal)) return bad("NEWOBJ of a " + describe(*cls));
      if (!args->is(PickleKind::kTuple)) return bad("NEWOBJ arguments are not a tuple");
      STGCN_ASSIGN_OR_RETURN(PickleValue * obj, make_object(cls, args));
      return push(obj);
    }
    case kBuild: return op_build();
    case kBinPersId: {
      STGCN_ASSIGN_OR_RETURN(PickleValue * pid, pop());
      return op_persistent(pid);
    }
    case kPersId: {
      STGCN_ASSIGN_OR_RETURN(std::string_view line, read_line());
      STGCN_ASSIGN_OR_RETURN(PickleValue * pid, make_text(PickleKind::kString, std::string(line)));
      return op_persistent(pid);
    }
    case kExt1:
    case kExt2:
    case kExt4:
    case kNextBuffer:
    case kReadonlyBuffer: return bad("unsupported opcode");
    default: return bad("unknown opcode");
  }
}

Status Unpickler::op_text_int(bool is_long) {
  STGCN_ASSIGN_OR_RETURN(std::string_view line, read_line());
  if (!is_long && (line == "00" || line == "01")) {  // protocol 0 False / True
    STGCN_ASSIGN_OR_RETURN(PickleValue * b, make(PickleKind::kBool));
    b->boolean = line == "01";
    return push(b);
  }
  if (is_long && !line.empty() && line.back() == 'L') line.remove_suffix(1);
  int64_t v = 0;
  std::string_view digits = line;
  if (!digits.empty() && digits[0] == '+') digits.remove_prefix(1);
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), v);
  if (ec == std::errc() && end == digits.data() + digits.size() && !digits.empty()) {
    STGCN_ASSIGN_OR_RETURN(PickleValue * n, make_int(v));
    return push(n);
  }
  std::string le;
  if (!decimal_to_le_bytes(line, le))
    return bad("bad integer literal '" + std::string(line.substr(0, 32)) + "'");
  STGCN_ASSIGN_OR_RETURN(PickleValue * n, make_long(le));
  return push(n);
}

// STRING: a quoted Python 2 repr; UNICODE: raw-unicode-escape (latin-1 bytes plus \uXXXX).
Status Unpickler::op_text_string(bool unicode) {
  STGCN_ASSIGN_OR_RETURN(std::string_view line, read_line());
  std::string out;
  if (unicode) {
    for (size_t i = 0; i < line.size(); ++i) {
      const auto c = static_cast<uint8_t>(line[i]);
      if (c == '\\' && i + 1 < line.size() && (line[i + 1] == 'u' || line[i + 1] == 'U')) {
        const size_t n = line[i + 1] == 'u' ? 4 : 8;
        if (i + 2 + n > line.size()) return bad("bad \\u escape");
        uint32_t cp = 0;
        for (size_t k = 0; k < n; ++k) {
          int d = hex_digit(line[i + 2 + k]);
          if (d < 0) return bad("bad \\u escape");
          cp = (cp << 4) | static_cast<uint32_t>(d);
        }
        if (cp > 0x10ffff) return bad("bad \\U escape");
        append_utf8(out, cp);
        i += 1 + n;
      } else {
        append_utf8(out, c);
      }
    }
    STGCN_ASSIGN_OR_RETURN(PickleValue * s, make_text(PickleKind::kString, std::move(out)));
    return push(s);
  }
  if (line.size() < 2 || line.front() != line.back() || (line[0] != '\'' && line[0] != '"'))
    return bad("STRING is not quoted");
  line = line.substr(1, line.size() - 2);
  for (size_t i = 0; i < line.size(); ++i) {
    if (line[i] != '\\' || i + 1 == line.size()) {
      out += line[i];
      continue;
    }
    const char e = line[++i];
    switch (e) {
      case 'n': out += '\n'; break;
      case 't': out += '\t'; break;
      case 'r': out += '\r'; break;
      case 'a': out += '\a'; break;
      case 'b': out += '\b'; break;
      case 'f': out += '\f'; break;
      case 'v': out += '\v'; break;
      case '\\':
      case '\'':
      case '"': out += e; break;
      case 'x': {
        int hi = i + 1 < line.size() ? hex_digit(line[i + 1]) : -1;
        int lo = i + 2 < line.size() ? hex_digit(line[i + 2]) : -1;
        if (hi < 0 || lo < 0) return bad("bad \\x escape");
        out += static_cast<char>(hi * 16 + lo);
        i += 2;
        break;
      }
      default:
        if (e >= '0' && e <= '7') {
          int v = e - '0';
          for (int k = 0; k < 2 && i + 1 < line.size() && line[i + 1] >= '0' && line[i + 1] <= '7';
               ++k)
            v = v * 8 + (line[++i] - '0');
          out += static_cast<char>(v & 0xff);
        } else {
          out += '\\';
          out += e;
        }
    }
  }
  STGCN_ASSIGN_OR_RETURN(PickleValue * s, make_text(PickleKind::kString, std::move(out)));
  return push(s);
}

Status Unpickler::op_memo_put(uint64_t index) {
  STGCN_ASSIGN_OR_RETURN(PickleValue * v, top());
  auto it = memo_.find(index);
  if (it != memo_.end()) {
    it->second = v;
    return Status::ok();
  }
  if (memo_.size() >= limits_.max_memo)
    return bad("memo larger than " + std::to_string(limits_.max_memo));
  memo_.emplace(index, v);
  return Status::ok();
}

Status Unpickler::op_memo_get(uint64_t index) {
  auto it = memo_.find(index);
  if (it == memo_.end()) return bad("memo key " + std::to_string(index) + " not found");
  return push(it->second);
}

Status Unpickler::op_append(std::vector<PickleValue*> values) {
  STGCN_ASSIGN_OR_RETURN(PickleValue * target, top());
  const bool is_set_op = op_ == kAddItems;
  const bool ok = is_set_op ? target->is(PickleKind::kSet) || target->is(PickleKind::kObject)
                            : target->is(PickleKind::kList) || target->is(PickleKind::kObject);
  if (!ok) return bad("cannot add items to a " + describe(*target));
  target->items.insert(target->items.end(), values.begin(), values.end());
  return Status::ok();
}

Status Unpickler::op_setitems(std::vector<PickleValue*> values) {
  STGCN_ASSIGN_OR_RETURN(PickleValue * target, top());
  if (values.size() % 2) return bad("odd number of items for a dict");
  if (!target->is(PickleKind::kDict) && !target->is(PickleKind::kObject))
    return bad("cannot set items on a " + describe(*target));
  for (size_t i = 0; i < values.size(); i += 2)
    target->entries.emplace_back(values[i], values[i + 1]);
  return Status::ok();
}

Status Unpickler::op_build() {
  STGCN_ASSIGN_OR_RETURN(PickleValue * state, pop());
  STGCN_ASSIGN_OR_RETURN(PickleValue * target, top());
  // Objects keep their state; dicts (OrderedDict._metadata), tensors and the
  // rest ignore it, as they carry no behaviour that could use it.
  if (target->is(PickleKind::kObject)) {
    if (target->state && target->state->is(PickleKind::kDict) && state->is(PickleKind::kDict)) {
      STGCN_RETURN_IF_ERROR(charge(state->entries.size()));
      target->state->entries.insert(target->state->entries.end(), state->entries.begin(),
                                    state->entries.end());
    } else {
      target->state = state;
    }
  }
  return Status::ok();
}

Status Unpickler::op_call(PickleValue* callable, PickleValue* args) {
  if (!callable->is(PickleKind::kGlobal)) return refuse("a " + describe(*callable));
  if (!args->is(PickleKind::kTuple)) return bad("call arguments are not a tuple");
  STGCN_ASSIGN_OR_RETURN(PickleValue * result, call(*callable, args));
  return push(result);
}

// Maps the storage class of a persistent id to its dtype.
bool storage_dtype(const PickleValue& g, DType& out) {
  if (!g.is(PickleKind::kGlobal)) return false;
  if ((g.text == "torch" || g.text == "torch.storage") &&
      (g.name == "UntypedStorage" || g.name == "_UntypedStorage")) {
    out = DType::kU8;
    return true;
  }
  if (g.text != "torch" && g.text != "torch.cuda") return false;
  static const std::pair<const char*, DType> kTypes[] = {
      {"FloatStorage", DType::kF32}, {"DoubleStorage", DType::kF64},
      {"HalfStorage", DType::kF16},  {"BFloat16Storage", DType::kBF16},
      {"LongStorage", DType::kI64},  {"IntStorage", DType::kI32},
      {"ShortStorage", DType::kI16}, {"CharStorage", DType::kI8},
      {"ByteStorage", DType::kU8},   {"BoolStorage", DType::kBool},
  };
  for (const auto& [name, dtype] : kTypes) {
    if (g.name == name) {
      out = dtype;
      return true;
    }
  }
  return false;
}

Status Unpickler::op_persistent(PickleValue* pid) {
  if (!pid->is(PickleKind::kTuple) || pid->items.empty() || !pid->items[0]->is(PickleKind::kString))
    return bad("unsupported persistent id (a " + describe(*pid) + ")");
  const std::string& type = pid->items[0]->text;
  const auto& a = pid->items;
  if (type == "module") {  // legacy torch.save(model): ('module', class, file, source)
    if (a.size() < 2) return bad("bad 'module' persistent id");
    return push(a[1]);
  }
  if (type != "storage") return bad("unsupported persistent id '" + type.substr(0, 64) + "'");
  if (a.size() != 5 && a.size() != 6) return bad("storage persistent id needs 5 or 6 fields");
  DType dtype = DType::kF32;
  if (!storage_dtype(*a[1], dtype))
    return unsupported("unsupported storage type " + describe(*a[1]) + " in pickle (offset " +
                       std::to_string(base_ + op_pos_) + ")");
  std::string key;
  if (a[2]->is(PickleKind::kString)) {
    key = a[2]->text;
  } else if (a[2]->is(PickleKind::kInt)) {
    key = std::to_string(a[2]->integer);
  } else {
    return bad("storage key is a " + describe(*a[2]));
  }
  if (!a[4]->is(PickleKind::kInt) || a[4]->integer < 0) return bad("bad storage size");
  STGCN_RETURN_IF_ERROR(charge_text(key.size() + a[3]->text.size()));
  STGCN_ASSIGN_OR_RETURN(PickleValue * root, make(PickleKind::kStorage));
  root->storage = std::make_unique<PickleStorage>();
  root->storage->key = key;
  root->storage->dtype = dtype;
  root->storage->numel = a[4]->integer;
  if (a[3]->is(PickleKind::kString)) root->storage->location = a[3]->text;
  PickleValue* result = arena_.intern_storage(root);
  if (a.size() == 6 && !a[5]->is(PickleKind::kNone)) {
    // Legacy view: (view_key, offset, size) into the root storage, in elements.
    const PickleValue& view = *a[5];
    if (!view.is(PickleKind::kTuple) || view.items.size() != 3 ||
        !view.items[0]->is(PickleKind::kString) || !view.items[1]->is(PickleKind::kInt) ||
        !view.items[2]->is(PickleKind::kInt) || view.items[1]->integer < 0 ||
        view.items[2]->integer < 0)
      return bad("bad storage view metadata");
    STGCN_RETURN_IF_ERROR(charge_text(view.items[0]->text.size() + 2 * key.size()));
    STGCN_ASSIGN_OR_RETURN(PickleValue * v, make(PickleKind::kStorage));
    v->storage = std::make_unique<PickleStorage>();
    v->storage->key = view.items[0]->text;
    v->storage->dtype = result->storage->dtype;
    v->storage->numel = view.items[2]->integer;
    v->storage->location = result->storage->location;
    v->storage->view_of = result->storage->key;
    v->storage->view_offset = view.items[1]->integer;
    result = arena_.intern_storage(v);
  }
  return push(result);
}

Result<std::vector<int64_t>> Unpickler::int_tuple(const PickleValue* v, const char* what) {
  if (!v->is(PickleKind::kTuple) && !v->is(PickleKind::kList))
    return bad(std::string("tensor ") + what + " is a " + describe(*v));
  if (v->items.size() > limits_.max_dims)
    return bad(std::string("tensor has more than ") + std::to_string(limits_.max_dims) + " dims");
  std::vector<int64_t> out;
  for (const PickleValue* item : v->items) {
    if (!item->is(PickleKind::kInt) || item->integer < 0)
      return bad(std::string("tensor ") + what + " holds a negative or non-integer value");
    out.push_back(item->integer);
  }
  return out;
}

Result<PickleValue*> Unpickler::rebuild_tensor(const std::vector<PickleValue*>& a,
                                               const std::string& fn) {
  if (a.size() < 4) return bad(fn + " needs at least 4 arguments");
  if (!a[0]->is(PickleKind::kStorage)) return bad(fn + " of a " + describe(*a[0]));
  if (!a[1]->is(PickleKind::kInt) || a[1]->integer < 0) return bad("bad tensor storage offset");
  auto t = std::make_unique<PickleTensor>();
  t->storage = a[0];
  t->offset = a[1]->integer;
  STGCN_ASSIGN_OR_RETURN(t->sizes, int_tuple(a[2], "size"));
  STGCN_ASSIGN_OR_RETURN(t->strides, int_tuple(a[3], "stride"));
  if (t->sizes.size() != t->strides.size()) return bad("tensor size and stride differ in rank");
  STGCN_RETURN_IF_ERROR(charge(2 * t->sizes.size()));
  int64_t numel = 1;
  int64_t extent = 0;  // largest element index reached, relative to the offset
  bool overflow = false;
  for (size_t i = 0; i < t->sizes.size(); ++i) {
    overflow |= __builtin_mul_overflow(numel, t->sizes[i], &numel);
    if (t->sizes[i] > 0) {
      int64_t reach = 0;
      overflow |= __builtin_mul_overflow(t->sizes[i] - 1, t->strides[i], &reach);
      overflow |= __builtin_add_overflow(extent, reach, &extent);
    }
  }
  if (!overflow && numel > limits_.max_tensor_numel) overflow = true;
  int64_t needed = 0;
  if (numel > 0) {
    overflow |= __builtin_add_overflow(extent, int64_t{1}, &needed);
    overflow |= __builtin_add_overflow(needed, t->offset, &needed);
  }
  if (overflow)
    return bad("tensor of more than " + std::to_string(limits_.max_tensor_numel) +
               " elements or whose view overflows");
  t->numel = numel;
  t->needed = needed;
  STGCN_ASSIGN_OR_RETURN(PickleValue * node, make(PickleKind::kTensor));
  node->tensor = std::move(t);
  return node;
}

Result<PickleValue*> Unpickler::call(const PickleValue& fn, PickleValue* args_tuple) {
  std::string module = fn.text;
  if (module == "__builtin__") module = "builtins";
  if (module == "copy_reg") module = "copyreg";
  const std::string& name = fn.name;
  const std::vector<PickleValue*>& a = args_tuple->items;
  auto is = [&](std::string_view m, std::string_view n) { return module == m && name == n; };
  auto seq = [](const PickleValue* v) {
    return v->is(PickleKind::kList) || v->is(PickleKind::kTuple) || v->is(PickleKind::kSet);
  };

  if (is("torch._utils", "_rebuild_tensor_v2") || is("torch._utils", "_rebuild_tensor"))
    return rebuild_tensor(a, name);
  if (is("torch._utils", "_rebuild_parameter") ||
      is("torch._utils", "_rebuild_parameter_with_state")) {
    if (a.empty() || !a[0]->is(PickleKind::kTensor)) return bad(name + " of a non-tensor");
    return a[0];
  }
  if (is("collections", "OrderedDict")) {
    STGCN_ASSIGN_OR_RETURN(PickleValue * d, make(PickleKind::kDict));
    if (a.empty()) return d;
    if (a[0]->is(PickleKind::kDict)) {
      STGCN_RETURN_IF_ERROR(charge(a[0]->entries.size()));
      d->entries = a[0]->entries;
      return d;
    }
    if (!seq(a[0])) return bad("OrderedDict of a " + describe(*a[0]));
    STGCN_RETURN_IF_ERROR(charge(a[0]->items.size()));
    for (const PickleValue* pair : a[0]->items) {
      if (!seq(pair) || pair->items.size() != 2) return bad("OrderedDict item is not a pair");
      d->entries.emplace_back(pair->items[0], pair->items[1]);
    }
    return d;
  }
  if (is("builtins", "set") || is("builtins", "frozenset")) {
    STGCN_ASSIGN_OR_RETURN(PickleValue * s, make(PickleKind::kSet));
    if (a.empty()) return s;
    if (!seq(a[0])) return bad(name + " of a " + describe(*a[0]));
    STGCN_RETURN_IF_ERROR(charge(a[0]->items.size()));
    s->items = a[0]->items;
    return s;
  }
  if (is("torch", "Size")) {
    if (a.empty()) return make(PickleKind::kTuple);
    if (!seq(a[0])) return bad("torch.Size of a " + describe(*a[0]));
    STGCN_RETURN_IF_ERROR(charge(a[0]->items.size()));
    return make_seq(PickleKind::kTuple, a[0]->items);
  }
  if (is("torch", "device")) {
    if (a.empty() || !a[0]->is(PickleKind::kString)) return bad("bad torch.device arguments");
    std::string device = a[0]->text;
    if (a.size() > 1 && a[1]->is(PickleKind::kInt)) device += ":" + std::to_string(a[1]->integer);
    return make_text(PickleKind::kString, std::move(device));
  }
  if (is("_codecs", "encode")) {  // how protocol 2 spells bytes: encode(str, 'latin1')
    if (a.size() != 2 || !a[0]->is(PickleKind::kString) || !a[1]->is(PickleKind::kString))
      return bad("bad _codecs.encode arguments");
    const std::string& enc = a[1]->text;
    std::string out;
    if (enc == "latin1" || enc == "latin-1" || enc == "iso-8859-1" || enc == "iso8859-1") {
      if (!utf8_to_latin1(a[0]->text, out)) return bad("string is not latin-1");
    } else if (enc == "utf-8" || enc == "utf8" || enc == "ascii") {
      out = a[0]->text;
    } else {
      return bad("unsupported encoding '" + enc.substr(0, 32) + "'");
    }
    return make_text(PickleKind::kBytes, std::move(out));
  }
  if (is("copyreg", "_reconstructor") || is("copyreg", "__newobj__")) {
    // _reconstructor(cls, base, state) / __newobj__(cls, *args): an instance of cls, inert.
    if (a.empty() || !a[0]->is(PickleKind::kGlobal)) return bad(name + " of a non-class");
    return make_object(a[0], args_tuple);
  }
  const bool numpy_multiarray =
      module == "numpy.core.multiarray" || module == "numpy._core.multiarray";
  if (is("builtins", "slice") || is("builtins", "complex") || is("numpy", "dtype") ||
      is("argparse", "Namespace") ||
      (numpy_multiarray && (name == "scalar" || name == "_reconstruct"))) {
    STGCN_ASSIGN_OR_RETURN(PickleValue * cls, make_global(fn.text, fn.name));
    return make_object(cls, args_tuple);
  }
  return refuse("'" + fn.qualified_name().substr(0, 200) + "'");
}

}  // namespace

Result<Unpickled> unpickle(std::span<const uint8_t> bytes, PickleArena& arena,
                           const PickleLimits& limits, size_t base_offset) {
  Unpickler u(bytes, arena, limits, base_offset);
  return u.run();
}

}  // namespace stgcn::io
