#include "io/pickle.h"

#include "io/pickle_unpickler.h"

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


namespace pickle_detail {

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

}  // namespace pickle_detail

Result<Unpickled> unpickle(std::span<const uint8_t> bytes, PickleArena& arena,
                           const PickleLimits& limits, size_t base_offset) {
  pickle_detail::Unpickler u(bytes, arena, limits, base_offset);
  return u.run();
}

}  // namespace stgcn::io