"""Helpers for writing (good and deliberately bad) checkpoints for the stgcn-rt fixtures.

Nothing here ever unpickles a hostile payload: the malicious pickles are assembled from raw
opcodes and only inspected statically with :func:`pickletools.genops`.
"""

from __future__ import annotations

import collections
import io
import pickle
import pickletools
import struct
import zipfile
from typing import Dict, List, Tuple

import torch
import torch.nn as nn

# --------------------------------------------------------------------------------------------
# Deterministic random weights
# --------------------------------------------------------------------------------------------


def _uniform(shape, lo: float, hi: float, gen: torch.Generator) -> torch.Tensor:
    return torch.rand(shape, generator=gen, dtype=torch.float64) * (hi - lo) + lo


def randomize_(model: nn.Module, gen: torch.Generator, conv_gain: float = 1.0) -> None:
    """Fill every parameter / buffer of an ST-GCN model with nontrivial random values.

    * BatchNorm: weight U(0.5, 1.5), bias N(0, 0.1), running_mean N(0, 0.2),
      running_var U(0.5, 2.0), num_batches_tracked a random positive int.
    * Conv weights: N(0, 1) * conv_gain / sqrt(fan_in); conv biases N(0, 0.05).
    * edge_importance: U(0.5, 1.5).
    * ``A`` is left untouched (it is the graph).
    Values are drawn in float64 and rounded to the tensor's dtype.
    """
    with torch.no_grad():
        for name, mod in model.named_modules():
            if isinstance(mod, (nn.BatchNorm1d, nn.BatchNorm2d)):
                n = mod.num_features
                mod.weight.copy_(_uniform((n,), 0.5, 1.5, gen))
                mod.bias.copy_(torch.randn((n,), generator=gen, dtype=torch.float64) * 0.1)
                mod.running_mean.copy_(
                    torch.randn((n,), generator=gen, dtype=torch.float64) * 0.2)
                mod.running_var.copy_(_uniform((n,), 0.5, 2.0, gen))
                mod.num_batches_tracked.fill_(
                    int(torch.randint(1, 100000, (1,), generator=gen).item()))
            elif isinstance(mod, nn.Conv2d):
                w = mod.weight
                fan_in = w.shape[1] * w.shape[2] * w.shape[3]
                w.copy_(torch.randn(w.shape, generator=gen, dtype=torch.float64)
                        * (conv_gain / fan_in ** 0.5))
                if mod.bias is not None:
                    mod.bias.copy_(
                        torch.randn(mod.bias.shape, generator=gen, dtype=torch.float64) * 0.05)
        for name, p in model.named_parameters():
            if ".edge_importance." in "." + name:
                p.copy_(_uniform(p.shape, 0.5, 1.5, gen))


# --------------------------------------------------------------------------------------------
# State-dict transformations (storage layout variants)
# --------------------------------------------------------------------------------------------


def _copy_metadata(src, dst):
    meta = getattr(src, "_metadata", None)
    if meta is not None:
        dst._metadata = meta
    return dst


def map_float_tensors(sd, fn):
    """OrderedDict with ``fn`` applied to every floating-point tensor (metadata kept)."""
    out = collections.OrderedDict()
    for k, v in sd.items():
        out[k] = fn(v) if torch.is_tensor(v) and v.is_floating_point() else v
    return _copy_metadata(sd, out)


def strided_state_dict(sd):
    """Same values, but every float tensor of rank >= 2 saved as a non-contiguous view.

    Three flavours are cycled: transposed storage (``t.transpose(0,1).contiguous()
    .transpose(0,1)``), every other row of a storage twice as tall (stride doubled in dim 0),
    and a window ``big[1:, 2:2+d1]`` of a larger buffer (storage offset + padded dim 1). 1-D
    tensors get a storage offset (a slice of a larger 1-D storage). Requires dims 0 and 1 > 1
    for rank >= 2 tensors (true for every ST-GCN weight).
    """
    out = collections.OrderedDict()
    i = 0
    for k, v in sd.items():
        if not (torch.is_tensor(v) and v.is_floating_point()):
            out[k] = v
            continue
        if v.dim() >= 2:
            flavour = i % 3
            i += 1
            if flavour == 0:
                w = v.transpose(0, 1).contiguous().transpose(0, 1)
            elif flavour == 1:
                big = torch.zeros((v.shape[0] * 2,) + v.shape[1:], dtype=v.dtype)
                w = big[::2]
                w.copy_(v)
            else:
                big = torch.full((v.shape[0] + 1, v.shape[1] + 3) + v.shape[2:], -7.0,
                                 dtype=v.dtype)
                w = big[1:, 2:2 + v.shape[1]]
                w.copy_(v)
            assert not w.is_contiguous(), (k, tuple(v.shape))
        else:
            big = torch.full((v.numel() + 5,), 3.0, dtype=v.dtype)
            w = big[3:3 + v.numel()].view(v.shape)
            w.copy_(v)
        assert torch.equal(w, v), k
        out[k] = w
    return _copy_metadata(sd, out)


def shared_storage_state_dict(sd):
    """Same values, but the float32 tensors of each stream are views into ONE big storage.

    Tensors are packed with gaps (so offsets are nontrivial); the non-float tensors
    (``num_batches_tracked``) stay separate.
    """
    groups: Dict[str, List[str]] = collections.OrderedDict()
    for k, v in sd.items():
        if torch.is_tensor(v) and v.dtype == torch.float32:
            groups.setdefault(k.split(".", 1)[0], []).append(k)
    out = collections.OrderedDict(sd)
    for _, keys in groups.items():
        total = sum(sd[k].numel() + 2 for k in keys) + 1
        big = torch.full((total,), -1.0, dtype=torch.float32)
        off = 1
        for k in keys:
            v = sd[k]
            w = big[off:off + v.numel()].view(v.shape)
            w.copy_(v)
            out[k] = w
            off += v.numel() + 2
    return _copy_metadata(sd, out)


def prefix_state_dict(sd, prefix: str = "module."):
    """Keys prefixed (DataParallel style); metadata keys prefixed too."""
    out = collections.OrderedDict((prefix + k, v) for k, v in sd.items())
    meta = getattr(sd, "_metadata", None)
    if meta is not None:
        m = collections.OrderedDict()
        m[""] = {"version": 1}
        for k, v in meta.items():
            m[(prefix + k) if k else prefix.rstrip(".")] = v
        out._metadata = m
    return out


def unwrap_state_dict(obj):
    """Return the flat {name: tensor} dict from any supported container, prefix stripped."""
    if isinstance(obj, nn.Module):
        obj = obj.state_dict()
    elif isinstance(obj, dict):
        for key in ("model", "state_dict", "model_state_dict", "net"):
            if key in obj and isinstance(obj[key], dict):
                obj = obj[key]
                break
    sd = collections.OrderedDict()
    for k, v in obj.items():
        sd[k[len("module."):] if k.startswith("module.") else k] = v
    return sd


# --------------------------------------------------------------------------------------------
# Zip helpers
# --------------------------------------------------------------------------------------------


def read_zip_entries(path: str) -> List[Tuple[str, bytes]]:
    """All (name, bytes) entries of a zip, in archive order."""
    with zipfile.ZipFile(path) as z:
        return [(i.filename, z.read(i.filename)) for i in z.infolist()]


def write_aligned_zip(path: str, entries: List[Tuple[str, bytes]]) -> None:
    """Write a STORED zip whose entry data start at 64-byte boundaries, like torch.save does
    (padding in an extra field with id ``FB``, filled with ``Z``). Timestamps fixed to 1980."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as z:
        for name, data in entries:
            zi = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            zi.compress_type = zipfile.ZIP_STORED
            start = z.fp.tell() + 30 + len(name.encode("utf-8")) + 4
            pad = (-start) % 64
            zi.extra = b"FB" + struct.pack("<H", pad) + b"Z" * pad
            z.writestr(zi, data)


def rename_zip_prefix(entries: List[Tuple[str, bytes]], new_prefix: str):
    """Replace the top-level archive folder of every entry name."""
    return [(new_prefix + "/" + n.split("/", 1)[1], d) for n, d in entries]


# --------------------------------------------------------------------------------------------
# Pickle surgery (static: never executes a pickle)
# --------------------------------------------------------------------------------------------


def _binunicode(s: str) -> bytes:
    b = s.encode("utf-8")
    return b"X" + struct.pack("<I", len(b)) + b


def evil_pair(key: str = "pwned", command: str = "echo pwned") -> bytes:
    """Protocol-2 opcodes pushing a key and the value ``posix.system(command)``:
    BINUNICODE key, GLOBAL 'posix system', BINUNICODE command, TUPLE1, REDUCE."""
    return (_binunicode(key) + b"cposix\nsystem\n" + _binunicode(command) + b"\x85" + b"R")


def _ops(data: bytes):
    return list(pickletools.genops(io.BytesIO(data)))


def inject_into_first_setitems(pkl: bytes, payload: bytes) -> bytes:
    """Insert ``payload`` (a key/value opcode pair) right after the MARK of the first SETITEMS
    to complete -- for a torch.save'd state dict, the state dict's own items (tensor records use
    TUPLEs; the ``_metadata`` dict comes after) -- so the evil value becomes one more entry of
    an otherwise valid state dict."""
    marks = []
    for op, _arg, pos in _ops(pkl):
        if op.name == "MARK":
            marks.append(pos)
        elif op.name in _MARK_CONSUMERS:
            mark_pos = marks.pop()
            if op.name == "SETITEMS":
                out = pkl[:mark_pos + 1] + payload + pkl[mark_pos + 1:]
                _ops(out)  # must still parse
                return out
    raise ValueError("no SETITEMS found in pickle")


_MARK_CONSUMERS = {"TUPLE", "LIST", "DICT", "SETITEMS", "APPENDS", "FROZENSET", "ADDITEMS",
                   "OBJ", "INST", "POP_MARK"}


def patch_first_storage_offset(pkl: bytes, new_offset: int) -> bytes:
    """Change the storage_offset argument of the first ``_rebuild_tensor_v2`` call (the
    BININT1 right after the first BINPERSID) to ``new_offset`` (< 256), same byte length."""
    assert 0 < new_offset < 256
    ops = _ops(pkl)
    for idx, (op, _arg, _pos) in enumerate(ops):
        if op.name == "BINPERSID":
            op2, arg2, pos2 = ops[idx + 1]
            assert op2.name == "BININT1" and arg2 == 0, (op2.name, arg2)
            out = pkl[:pos2 + 1] + bytes([new_offset]) + pkl[pos2 + 2:]
            _ops(out)
            return out
    raise ValueError("no BINPERSID in pickle")


def pickle_globals(pkl: bytes) -> List[str]:
    """GLOBAL opcode arguments ("module name") found in a pickle, statically."""
    return [arg for op, arg, _ in _ops(pkl) if op.name == "GLOBAL"]


def split_legacy(data: bytes) -> List[Tuple[int, int]]:
    """Byte ranges of the 5 leading pickles of a legacy torch.save file (magic number, protocol
    version, sys info, object, storage keys); raw storage data follows the last one."""
    ranges = []
    pos = 0
    for _ in range(5):
        end = None
        for op, _arg, p in pickletools.genops(io.BytesIO(data[pos:])):
            if op.name == "STOP":
                end = pos + p + 1
                break
        assert end is not None
        ranges.append((pos, end))
        pos = end
    return ranges


def inject_legacy(data: bytes, payload: bytes) -> bytes:
    """Legacy-format file with ``payload`` injected into the object pickle's state dict."""
    (_, _), (_, _), (_, _), (a, b), (_, _) = split_legacy(data)
    return data[:a] + inject_into_first_setitems(data[a:b], payload) + data[b:]


_STORAGE_ITEMSIZE = {"torch FloatStorage": 4, "torch DoubleStorage": 8, "torch HalfStorage": 2,
                     "torch LongStorage": 8, "torch IntStorage": 4, "torch BFloat16Storage": 2,
                     "torch ShortStorage": 2, "torch CharStorage": 1, "torch ByteStorage": 1,
                     "torch BoolStorage": 1}


def canonicalize_legacy(data: bytes) -> bytes:
    """Make a legacy torch.save file byte-deterministic.

    The legacy serializer names storages by their memory address (``str(storage._cdata)``)
    and writes the storage-key list -- and the raw storage records -- sorted by that name, so
    both names and record order change from run to run. Rename the storages "0", "1", ... in
    order of first appearance in the object pickle, rewrite the key list in that order and
    reorder the raw records (int64 element count + data) to match. Static: nothing is
    unpickled.
    """
    ranges = split_legacy(data)
    (oa, ob), (ka, kb) = ranges[3], ranges[4]
    old_keys = [arg for op, arg, _ in _ops(data[ka:kb]) if op.name == "BINUNICODE"]
    old_set = set(old_keys)

    # key -> element size, in order of first appearance in the persistent ids.
    ops = _ops(data[oa:ob])
    memo: Dict[int, Tuple[str, str]] = {}
    vals: List[Tuple[str, str]] = []  # per op: ("g", global) / ("s", str) / ("", "")
    for n, (op, arg, _pos) in enumerate(ops):
        if op.name == "GLOBAL":
            v = ("g", arg)
        elif op.name == "BINUNICODE":
            v = ("s", arg)
        elif op.name in ("BINGET", "LONG_BINGET"):
            v = memo.get(arg, ("", ""))
        elif op.name in ("BINPUT", "LONG_BINPUT"):
            memo[arg] = vals[-1]
            v = ("", "")
        else:
            v = ("", "")
        vals.append(v)
    order: List[str] = []
    itemsize: Dict[str, int] = {}
    for n, v in enumerate(vals):
        if v == ("s", "storage"):
            nxt = [w for w in vals[n + 1:n + 8] if w[0]]
            (kt, typ), (kk, key) = nxt[0], nxt[1]
            assert kt == "g" and kk == "s" and key in old_set, (typ, key)
            if key not in itemsize:
                itemsize[key] = _STORAGE_ITEMSIZE[typ]
                order.append(key)
    assert set(order) == old_set

    records: Dict[str, bytes] = {}
    pos = kb
    for key in old_keys:
        (numel,) = struct.unpack("<q", data[pos:pos + 8])
        end = pos + 8 + numel * itemsize[key]
        records[key] = data[pos:end]
        pos = end
    assert pos == len(data), "unexpected trailing bytes in legacy file"
    mapping = {k: str(i) for i, k in enumerate(order)}

    obj = bytearray()
    for n, (op, arg, p) in enumerate(ops):
        end = ops[n + 1][2] if n + 1 < len(ops) else ob - oa
        if op.name == "BINUNICODE" and arg in mapping:
            obj += _binunicode(mapping[arg])
        else:
            obj += data[oa + p:oa + end]
    keys_pkl = pickle.dumps([mapping[k] for k in order], protocol=2)
    return (data[:oa] + bytes(obj) + keys_pkl + b"".join(records[k] for k in order))
