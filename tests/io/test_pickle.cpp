// Unit tests of the safe unpickler on hand-assembled opcode streams.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "io/pickle.h"
#include "io/pickle_bytes.h"

namespace stgcn::io {
namespace {

using Bytes = ::stgcn::testing::PickleBytes;

constexpr uint8_t kTuple1 = 0x85, kTuple2 = 0x86, kTuple3 = 0x87, kNewTrue = 0x88, kNewFalse = 0x89,
                  kLong1 = 0x8a, kNewObj = 0x81, kStackGlobal = 0x93, kMemoize = 0x94,
                  kFrame = 0x95, kShortBinUnicode = 0x8c;

struct Loaded {
  PickleArena arena;
  Result<Unpickled> result = Status(ErrorCode::kInternal, "not run");
};

std::unique_ptr<Loaded> load(const Bytes& b, const PickleLimits& limits = {}) {
  auto l = std::make_unique<Loaded>();
  l->result = unpickle(b.bytes(), l->arena, limits);
  return l;
}

const PickleValue& value_of(const Loaded& l) {
  EXPECT_TRUE(l.result.is_ok()) << l.result.status().message();
  static const PickleValue kNone;
  return l.result.is_ok() ? *l.result->value : kNone;
}

// Appends ('storage', torch.FloatStorage, key, 'cpu', numel) BINPERSID.
Bytes& storage_pid(Bytes& b, std::string_view key, int numel,
                   std::string_view type = "FloatStorage") {
  return b.op('(')
      .str("storage")
      .global("torch", type)
      .str(key)
      .str("cpu")
      .int1(numel)
      .op('t')
      .op('Q');
}

TEST(Pickle, Scalars) {
  {
    auto l = load(Bytes().proto().int1(200).stop());
    EXPECT_EQ(value_of(*l).kind, PickleKind::kInt);
    EXPECT_EQ(value_of(*l).integer, 200);
  }
  {
    auto l = load(Bytes().proto().op('J').le(0xfffffffe, 4).stop());
    EXPECT_EQ(value_of(*l).integer, -2);
  }
  {
    auto l = load(Bytes().proto().op('M').le(65535, 2).stop());
    EXPECT_EQ(value_of(*l).integer, 65535);
  }
  {  // LONG1 of 2 bytes, negative.
    auto l = load(Bytes().proto().op(kLong1).le(2, 1).le(0xff00, 2).stop());
    EXPECT_EQ(value_of(*l).integer, -256);
  }
  {  // torch's legacy magic number does not fit in int64.
    auto l = load(Bytes()
                      .proto()
                      .op(kLong1)
                      .le(10, 1)
                      .raw("\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19")
                      .stop());
    EXPECT_EQ(value_of(*l).kind, PickleKind::kBigInt);
    EXPECT_EQ(value_of(*l).text.size(), 10u);
  }
  {
    auto l = load(Bytes().proto().op('G').raw(std::string("\x3f\xe0\0\0\0\0\0\0", 8)).stop());
    EXPECT_EQ(value_of(*l).kind, PickleKind::kFloat);
    EXPECT_EQ(value_of(*l).real, 0.5);
  }
  {
    auto l = load(Bytes().proto().op(kNewTrue).op(kNewFalse).op('N').op(kTuple3).stop());
    const PickleValue& t = value_of(*l);
    ASSERT_EQ(t.items.size(), 3u);
    EXPECT_TRUE(t.items[0]->boolean);
    EXPECT_FALSE(t.items[1]->boolean);
    EXPECT_EQ(t.items[2]->kind, PickleKind::kNone);
  }
  {
    auto l = load(Bytes()
                      .proto(4)
                      .op(kShortBinUnicode)
                      .le(3, 1)
                      .raw("h\xc3\xa9")
                      .op('C')
                      .le(2, 1)
                      .raw("ab")
                      .op(kTuple2)
                      .stop());
    const PickleValue& t = value_of(*l);
    ASSERT_EQ(t.items.size(), 2u);
    EXPECT_EQ(t.items[0]->kind, PickleKind::kString);
    EXPECT_EQ(t.items[0]->text, "h\xc3\xa9");
    EXPECT_EQ(t.items[1]->kind, PickleKind::kBytes);
    EXPECT_EQ(t.items[1]->text, "ab");
  }
}

TEST(Pickle, TextProtocolOpcodes) {
  auto l =
      load(Bytes()
               .raw("(I42\nI01\nF1.5\nL123456789012345678901234567890L\nS'a\\nb\\x41'\nVh\\u00e9\n")
               .op('t')
               .stop());
  const PickleValue& t = value_of(*l);
  ASSERT_EQ(t.items.size(), 6u);
  EXPECT_EQ(t.items[0]->integer, 42);
  EXPECT_EQ(t.items[1]->kind, PickleKind::kBool);
  EXPECT_TRUE(t.items[1]->boolean);
  EXPECT_EQ(t.items[2]->real, 1.5);
  EXPECT_EQ(t.items[3]->kind, PickleKind::kBigInt);
  EXPECT_EQ(t.items[4]->text, "a\nbA");
  EXPECT_EQ(t.items[5]->text, "h\xc3\xa9");
}

TEST(Pickle, NestedContainers) {
  // {'a': [1, 2, (3,)], 'b': {}} built with MARK / APPENDS / SETITEMS, in a FRAME.
  Bytes b;
  b.proto(4).op(kFrame).le(0, 8);
  b.op('}').op('(').str("a").op(']').op('(').int1(1).int1(2).int1(3).op(kTuple1).op('e');
  b.str("b").op('}').op('u').stop();
  auto l = load(b);
  const PickleValue& d = value_of(*l);
  ASSERT_EQ(d.kind, PickleKind::kDict);
  ASSERT_EQ(d.entries.size(), 2u);
  const PickleValue* a = dict_get(d, "a");
  ASSERT_NE(a, nullptr);
  ASSERT_EQ(a->kind, PickleKind::kList);
  ASSERT_EQ(a->items.size(), 3u);
  EXPECT_EQ(a->items[2]->kind, PickleKind::kTuple);
  EXPECT_EQ(a->items[2]->items[0]->integer, 3);
  EXPECT_EQ(dict_get(d, "b")->kind, PickleKind::kDict);
  EXPECT_EQ(dict_get(d, "c"), nullptr);
  EXPECT_EQ(describe(d), "dict with keys 'a', 'b'");
}

TEST(Pickle, ListDictTupleOpcodesWithMarks) {
  auto l = load(Bytes()
                    .proto()
                    .op('(')
                    .int1(1)
                    .op('l')
                    .op('(')
                    .str("k")
                    .int1(2)
                    .op('d')
                    .op(')')
                    .op(kTuple3)
                    .stop());
  const PickleValue& t = value_of(*l);
  ASSERT_EQ(t.items.size(), 3u);
  EXPECT_EQ(t.items[0]->kind, PickleKind::kList);
  EXPECT_EQ(t.items[1]->kind, PickleKind::kDict);
  EXPECT_EQ(dict_get(*t.items[1], "k")->integer, 2);
  EXPECT_EQ(t.items[2]->kind, PickleKind::kTuple);
}

TEST(Pickle, MemoSharesReferences) {
  // L = []; memo[0] = L; (L, L) after appending 7 through the second reference.
  auto l = load(
      Bytes().proto().op(']').op('q').le(0, 1).op('h').le(0, 1).int1(7).op('a').op(kTuple2).stop());
  const PickleValue& t = value_of(*l);
  ASSERT_EQ(t.items.size(), 2u);
  EXPECT_EQ(t.items[0], t.items[1]);
  ASSERT_EQ(t.items[0]->items.size(), 1u);
  EXPECT_EQ(t.items[0]->items[0]->integer, 7);
}

TEST(Pickle, MemoizeAndLongBinGet) {
  auto l = load(Bytes().proto(4).str("x").op(kMemoize).op('j').le(0, 4).op(kTuple2).stop());
  const PickleValue& t = value_of(*l);
  ASSERT_EQ(t.items.size(), 2u);
  EXPECT_EQ(t.items[1]->text, "x");
}

TEST(Pickle, MissingMemoKeyIsCorrupt) {
  auto l = load(Bytes().proto().op('h').le(5, 1).stop());
  ASSERT_FALSE(l->result.is_ok());
  EXPECT_EQ(l->result.status().code(), ErrorCode::kCorrupt);
  EXPECT_NE(l->result.status().message().find("memo key 5"), std::string::npos);
}

TEST(Pickle, RefusesPosixSystem) {
  // posix.system('echo pwned'): the classic malicious pickle.
  auto l =
      load(Bytes().proto().global("posix", "system").str("echo pwned").op(kTuple1).op('R').stop());
  ASSERT_FALSE(l->result.is_ok());
  EXPECT_EQ(l->result.status().code(), ErrorCode::kUnsafe);
  const std::string& m = l->result.status().message();
  EXPECT_NE(m.find("refusing to call 'posix.system' in pickle (offset 32)"), std::string::npos)
      << m;
  EXPECT_NE(m.find("unsafe"), std::string::npos) << m;
}

TEST(Pickle, RefusesOtherCallPaths) {
  // STACK_GLOBAL builtins.eval + REDUCE.
  auto a = load(Bytes()
                    .proto(4)
                    .str("builtins")
                    .str("eval")
                    .op(kStackGlobal)
                    .str("1")
                    .op(kTuple1)
                    .op('R')
                    .stop());
  EXPECT_EQ(a->result.status().code(), ErrorCode::kUnsafe);
  EXPECT_NE(a->result.status().message().find("'builtins.eval'"), std::string::npos);
  // INST os.system.
  auto b = load(Bytes().op('(').str("ls").raw("ios\nsystem\n").stop());
  EXPECT_EQ(b->result.status().code(), ErrorCode::kUnsafe);
  // OBJ subprocess.Popen.
  auto c = load(Bytes().proto().op('(').global("subprocess", "Popen").str("ls").op('o').stop());
  EXPECT_EQ(c->result.status().code(), ErrorCode::kUnsafe);
  // Calling something that is not a global at all.
  auto d = load(Bytes().proto().op(')').op(')').op('R').stop());
  EXPECT_EQ(d->result.status().code(), ErrorCode::kUnsafe);
  // A whitelisted name in the wrong module.
  auto e = load(Bytes().proto().global("evil", "OrderedDict").op(')').op('R').stop());
  EXPECT_EQ(e->result.status().code(), ErrorCode::kUnsafe);
}

TEST(Pickle, NewObjOfUnknownClassIsInert) {
  // torch.save(model): NEWOBJ of the class, then BUILD with its __dict__.
  auto l = load(Bytes()
                    .proto()
                    .global("my.models", "Net")
                    .op(')')
                    .op(kNewObj)
                    .op('}')
                    .str("training")
                    .op(kNewTrue)
                    .op('s')
                    .op('b')
                    .stop());
  const PickleValue& o = value_of(*l);
  ASSERT_EQ(o.kind, PickleKind::kObject);
  EXPECT_EQ(describe(o), "object of class 'my.models.Net'");
  ASSERT_NE(o.state, nullptr);
  EXPECT_TRUE(dict_get(*o.state, "training")->boolean);
}

TEST(Pickle, WhitelistedDataConstructors) {
  Bytes b;
  b.proto().op('(');
  b.global("collections", "OrderedDict").op(')').op('R');  // {}
  b.global("__builtin__", "set").op(']').op('(').int1(1).int1(2).op('e').op(kTuple1).op('R');
  b.global("torch", "Size").int1(2).int1(3).op(kTuple2).op(kTuple1).op('R');  // (2, 3)
  b.global("_codecs", "encode").str("\xc3\xa9\x01").str("latin1").op(kTuple2).op('R');
  b.global("torch", "device").str("cuda").int1(1).op(kTuple2).op('R');
  b.global("numpy", "dtype").str("f8").op(kNewFalse).op(kNewTrue).op(kTuple3).op('R');
  b.global("copy_reg", "_reconstructor")
      .global("a", "B")
      .global("__builtin__", "object")
      .op('N')
      .op(kTuple3)
      .op('R');
  b.op('t').stop();
  auto l = load(b);
  const PickleValue& t = value_of(*l);
  ASSERT_EQ(t.items.size(), 7u);
  EXPECT_EQ(t.items[0]->kind, PickleKind::kDict);
  EXPECT_EQ(t.items[1]->kind, PickleKind::kSet);
  EXPECT_EQ(t.items[1]->items.size(), 2u);
  EXPECT_EQ(t.items[2]->kind, PickleKind::kTuple);
  EXPECT_EQ(t.items[2]->items[1]->integer, 3);
  EXPECT_EQ(t.items[3]->kind, PickleKind::kBytes);
  EXPECT_EQ(t.items[3]->text, "\xe9\x01");
  EXPECT_EQ(t.items[4]->text, "cuda:1");
  EXPECT_EQ(describe(*t.items[5]), "object of class 'numpy.dtype'");
  EXPECT_EQ(describe(*t.items[6]), "object of class 'a.B'");
}

TEST(Pickle, RebuildsTensorViews) {
  // _rebuild_tensor_v2(storage('0', 12 floats), 2, (2, 3), (1, 2), False, OrderedDict())
  Bytes b;
  b.proto().global("torch._utils", "_rebuild_tensor_v2").op('(');
  storage_pid(b, "0", 12);
  b.int1(2).int1(2).int1(3).op(kTuple2).int1(1).int1(2).op(kTuple2).op(kNewFalse);
  b.global("collections", "OrderedDict").op(')').op('R').op('t').op('R').stop();
  auto l = load(b);
  const PickleValue& v = value_of(*l);
  ASSERT_EQ(v.kind, PickleKind::kTensor);
  const PickleTensor& t = *v.tensor;
  EXPECT_EQ(t.sizes, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(t.strides, (std::vector<int64_t>{1, 2}));
  EXPECT_EQ(t.numel, 6);
  EXPECT_EQ(t.needed, 2 + 1 + 4 + 1);
  EXPECT_EQ(t.storage->storage->key, "0");
  EXPECT_EQ(t.storage->storage->dtype, DType::kF32);
  EXPECT_EQ(t.storage->storage->numel, 12);
  ASSERT_EQ(l->arena.storages().size(), 1u);
}

TEST(Pickle, StoragesAreSharedByKey) {
  Bytes b;
  b.proto();
  storage_pid(b, "7", 4, "HalfStorage");
  storage_pid(b, "7", 4, "HalfStorage");
  b.op(kTuple2).stop();
  auto l = load(b);
  const PickleValue& t = value_of(*l);
  ASSERT_EQ(t.items.size(), 2u);
  EXPECT_EQ(t.items[0], t.items[1]);
  EXPECT_EQ(t.items[0]->storage->dtype, DType::kF16);
  EXPECT_NE(l->arena.find_storage("7"), nullptr);
}

TEST(Pickle, RejectsHugeOrOverflowingTensors) {
  auto tensor_with = [](uint64_t size, uint64_t stride) {
    Bytes b;
    b.proto().global("torch._utils", "_rebuild_tensor_v2").op('(');
    storage_pid(b, "0", 1);
    b.int1(0).op(kLong1).le(8, 1).le(size, 8).int1(3).op(kTuple2);
    b.op(kLong1)
        .le(8, 1)
        .le(stride, 8)
        .int1(1)
        .op(kTuple2)
        .op(kNewFalse)
        .op('N')
        .op('t')
        .op('R')
        .stop();
    return b;
  };
  auto huge = load(tensor_with(uint64_t{1} << 40, 3));
  EXPECT_EQ(huge->result.status().code(), ErrorCode::kCorrupt);
  EXPECT_NE(huge->result.status().message().find("elements"), std::string::npos);
  auto overflow = load(tensor_with(4, uint64_t{1} << 62));
  EXPECT_EQ(overflow->result.status().code(), ErrorCode::kCorrupt);
  auto fine = load(tensor_with(4, 3));
  EXPECT_TRUE(fine->result.is_ok()) << fine->result.status().message();
}

TEST(Pickle, UnknownStorageTypeIsUnsupported) {
  Bytes b;
  b.proto();
  storage_pid(b, "0", 1, "ComplexFloatStorage");
  auto l = load(b.stop());
  EXPECT_EQ(l->result.status().code(), ErrorCode::kUnsupported);
}

TEST(Pickle, LegacyModulePersistentIdGivesTheClass) {
  Bytes b;
  b.proto()
      .op('(')
      .str("module")
      .global("torch.nn.modules.linear", "Linear")
      .str("f.py")
      .str("src");
  b.op('t').op('Q').op(')').op(kNewObj).stop();
  auto l = load(b);
  EXPECT_EQ(describe(value_of(*l)), "object of class 'torch.nn.modules.linear.Linear'");
}

TEST(Pickle, TruncatedInput) {
  auto a = load(Bytes().proto().op('X').le(100, 4).raw("abc"));
  ASSERT_FALSE(a->result.is_ok());
  EXPECT_EQ(a->result.status().code(), ErrorCode::kCorrupt);
  EXPECT_NE(a->result.status().message().find("truncated pickle"), std::string::npos);
  EXPECT_NE(a->result.status().message().find("BINUNICODE"), std::string::npos);
  // A huge declared length must fail before any allocation.
  auto b = load(Bytes().proto().op(uint8_t{0x8d}).le(~uint64_t{0}, 8));
  EXPECT_NE(b->result.status().message().find("truncated"), std::string::npos);
  auto c = load(Bytes().proto().int1(1));  // no STOP
  EXPECT_NE(c->result.status().message().find("truncated"), std::string::npos);
  auto d = load(Bytes().raw("cposix\nsys"));  // GLOBAL without its newline
  EXPECT_NE(d->result.status().message().find("truncated"), std::string::npos);
  auto e = load(Bytes());
  EXPECT_NE(e->result.status().message().find("truncated"), std::string::npos);
}

TEST(Pickle, DeepNestingIsLimited) {
  Bytes b;
  b.proto();
  for (int i = 0; i < 100000; ++i) b.op('(');
  auto l = load(b.stop());
  ASSERT_FALSE(l->result.is_ok());
  EXPECT_NE(l->result.status().message().find("MARKs nested deeper than 4096"), std::string::npos);

  PickleLimits small;
  small.max_stack = 100;
  Bytes c;
  c.proto();
  for (int i = 0; i < 200; ++i) c.op(']');
  auto s = load(c.stop(), small);
  EXPECT_NE(s->result.status().message().find("stack deeper than 100"), std::string::npos);

  // Deeply nested values without MARKs are fine for the interpreter itself.
  Bytes d;
  d.proto().op(')');
  for (int i = 0; i < 100000; ++i) d.op(kTuple1);
  auto deep = load(d.stop());
  EXPECT_TRUE(deep->result.is_ok());
}

TEST(Pickle, NodeLimit) {
  PickleLimits small;
  small.max_nodes = 10;
  Bytes b;
  b.proto().op(']');
  for (int i = 0; i < 20; ++i) b.op(']').op('a');
  auto l = load(b.stop(), small);
  EXPECT_NE(l->result.status().message().find("more than 10 values"), std::string::npos);
}

TEST(Pickle, CopiedStringsAreBudgeted) {
  // One 1000-byte string, memoized, then used 100 times as a STACK_GLOBAL name.
  PickleLimits small;
  small.max_text_bytes = 50000;
  Bytes b;
  b.proto(4).str(std::string(1000, 'x')).op('q').le(0, 1).op('0').op(']');
  for (int i = 0; i < 100; ++i) b.op('h').le(0, 1).op('h').le(0, 1).op(kStackGlobal).op('a');
  auto l = load(b.stop(), small);
  ASSERT_FALSE(l->result.is_ok());
  EXPECT_NE(l->result.status().message().find("bytes of strings"), std::string::npos);
}

TEST(Pickle, MalformedStreams) {
  auto under = load(Bytes().proto().int1(1).op(kTuple2).stop());
  EXPECT_NE(under->result.status().message().find("stack underflow"), std::string::npos);
  // Items below a MARK are not reachable from above it.
  auto below = load(Bytes().proto().int1(1).op('(').op(kTuple1).stop());
  EXPECT_NE(below->result.status().message().find("stack underflow"), std::string::npos);
  auto unknown = load(Bytes().proto().op(uint8_t{0xff}));
  EXPECT_NE(unknown->result.status().message().find("unknown opcode"), std::string::npos);
  auto no_mark = load(Bytes().proto().op('t').stop());
  EXPECT_NE(no_mark->result.status().message().find("no MARK"), std::string::npos);
  auto odd = load(Bytes().proto().op('}').op('(').int1(1).op('u').stop());
  EXPECT_NE(odd->result.status().message().find("odd number"), std::string::npos);
  auto append_to_int = load(Bytes().proto().int1(1).int1(2).op('a').stop());
  EXPECT_EQ(append_to_int->result.status().code(), ErrorCode::kCorrupt);
  auto proto9 = load(Bytes().proto(9).op('N').stop());
  EXPECT_NE(proto9->result.status().message().find("protocol 9"), std::string::npos);
}

TEST(Pickle, ConsumedAndBaseOffset) {
  Bytes b;
  b.proto().int1(1).stop().proto().global("os", "system").op(')').op('R').stop();
  PickleArena arena;
  auto first = unpickle(b.bytes(), arena);
  ASSERT_TRUE(first.is_ok());
  EXPECT_EQ(first->consumed, 5u);
  auto second = unpickle(std::span(b.bytes()).subspan(5), arena, {}, 5);
  ASSERT_FALSE(second.is_ok());
  // REDUCE is at offset 2 + 11 + 1 of the second pickle.
  EXPECT_NE(second.status().message().find("(offset 19)"), std::string::npos)
      << second.status().message();
}

}  // namespace
}  // namespace stgcn::io
