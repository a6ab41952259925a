// Opcode handlers of the unpickler (pickle_unpickler.h): text ints and strings, the memo,
// containers, BUILD / REDUCE, persistent ids (torch storages) and the allow-listed calls.
#include "io/pickle_unpickler.h"

namespace stgcn::io::pickle_detail {

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

}  // namespace stgcn::io::pickle_detail
