#!/usr/bin/env python3
"""Check an exported ONNX graph against TensorRT's explicit-quantisation placement rules.

    check_qdq.py MODEL.onnx [MODEL.onnx ...]   one JSON summary per line; exit 1 on a violation
    check_qdq.py --self-test                     plants each violation in a small graph and
                                                 checks that it is found

Every graph: ``onnx.checker`` (full check) and strict shape inference pass; no ``Einsum``.
INT8 (a graph with Q/DQ nodes), for every ``Conv`` / ``MatMul``:

* it reads either only DequantizeLinear outputs (a quantised layer) or none (a layer kept FP32);
* its activation input comes from ``QuantizeLinear -> DequantizeLinear`` with a scalar float
  scale and a scalar int8 zero point 0 (per tensor, symmetric), Q and DQ sharing them;
* its weight input is ``DequantizeLinear`` of an int8 initializer with one scale per output
  channel (Conv: axis 0; MatMul: the last axis) and zero points 0;
* nothing is quantised between it and its activation: a ``Relu`` never reads a DequantizeLinear;
* an ``Add`` that reads a quantised Conv's output reads a DequantizeLinear (or a constant) as its
  other input, so the residual add fuses into the conv.

The summary counts the Conv / MatMul layers, the quantised ones, and the Q/DQ nodes.
"""
import json
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def _summary_and_violations(model):
    violations = []
    g = model.graph
    init = {t.name: t for t in g.initializer}
    producer = {o: n for n in g.node for o in n.output}
    consumers = {}
    for n in g.node:
        for i in n.input:
            consumers.setdefault(i, []).append(n)

    def arr(name):
        return numpy_helper.to_array(init[name]) if name in init else None

    def is_dq(name):
        p = producer.get(name)
        return p is not None and p.op_type == "DequantizeLinear"

    def zero_ok(dq, what):
        if len(dq.input) < 3:
            return True
        z = arr(dq.input[2])
        if z is None or z.dtype != np.int8 or np.any(z != 0):
            violations.append(f"{what}: zero point of '{dq.name}' is not int8 zeros")
            return False
        return True

    for n in g.node:
        if n.op_type == "Einsum":
            violations.append(f"'{n.name}': Einsum (TensorRT runs it only in FP32 / FP16)")
    layers = [n for n in g.node if n.op_type in ("Conv", "MatMul")]
    quantised = 0
    for n in layers:
        x, w = n.input[0], n.input[1]
        dq_in = [is_dq(x), is_dq(w)]
        if not any(dq_in):
            continue
        if not all(dq_in):
            violations.append(f"'{n.name}': only {'the weight' if dq_in[1] else 'the input'} "
                              "is quantised")
            continue
        quantised += 1
        # activation: Q -> DQ, scalar scale, zero point 0, shared with the Q
        dq = producer[x]
        q = producer.get(dq.input[0])
        if q is None or q.op_type != "QuantizeLinear":
            violations.append(f"'{n.name}': its input DequantizeLinear does not read a QuantizeLinear")
        else:
            if list(q.input[1:]) != list(dq.input[1:]):
                violations.append(f"'{n.name}': Q and DQ of its input do not share scale / zero point")
        s = arr(dq.input[1])
        if s is None or s.size != 1 or s.ndim != 0:
            violations.append(f"'{n.name}': activation scale is not a scalar constant (per tensor)")
        elif not s > 0:
            violations.append(f"'{n.name}': activation scale {s} is not positive")
        zero_ok(dq, f"'{n.name}' input")
        # weights: int8 initializer, per output channel
        wdq = producer[w]
        wq = arr(wdq.input[0])
        if wq is None or wq.dtype != np.int8:
            violations.append(f"'{n.name}': weights are not an int8 initializer")
            continue
        axis = next((a.i for a in wdq.attribute if a.name == "axis"), 1)
        want_axis = 0 if n.op_type == "Conv" else wq.ndim - 1
        ws = arr(wdq.input[1])
        if axis % wq.ndim != want_axis or ws is None or ws.ndim != 1 or ws.size != wq.shape[want_axis]:
            violations.append(f"'{n.name}': weight scales are not one per output channel "
                              f"(axis {axis}, {None if ws is None else ws.shape} scales, "
                              f"weights {wq.shape})")
        zero_ok(wdq, f"'{n.name}' weights")
        if n.op_type == "Conv":
            for c in consumers.get(n.output[0], []):
                if c.op_type == "Add":
                    other = [i for i in c.input if i != n.output[0]]
                    if other and other[0] not in init and not is_dq(other[0]):
                        violations.append(f"'{c.name}': adds '{other[0]}' to quantised conv "
                                          f"'{n.name}' without quantising it (no fusion)")
    for n in g.node:
        if n.op_type == "Relu" and is_dq(n.input[0]):
            violations.append(f"'{n.name}': a Q/DQ sits between a layer and its ReLU")
    counts = {op: sum(1 for n in g.node if n.op_type == op)
              for op in ("QuantizeLinear", "DequantizeLinear", "Cast")}
    types = sorted({TensorProto.DataType.Name(t.data_type) for t in g.initializer})
    summary = {
        "opset": next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0),
        "layers": len(layers), "quantised": quantised, "fp32_layers": len(layers) - quantised,
        "q": counts["QuantizeLinear"], "dq": counts["DequantizeLinear"], "casts": counts["Cast"],
        "initializer_types": types,
        "input_type": TensorProto.DataType.Name(g.input[0].type.tensor_type.elem_type),
        "output_type": TensorProto.DataType.Name(g.output[0].type.tensor_type.elem_type),
    }
    return summary, violations


def check(path_or_model):
    model = onnx.load(path_or_model) if isinstance(path_or_model, str) else path_or_model
    violations = []
    try:
        onnx.checker.check_model(model, full_check=True)
        onnx.shape_inference.infer_shapes(model, check_type=True, strict_mode=True)
    except Exception as e:  # noqa: BLE001 - any checker failure is a violation
        violations.append(f"onnx checker / shape inference: {str(e).splitlines()[0]}")
    summary, v = _summary_and_violations(model)
    return summary, violations + v


def _tiny(bad):
    """A Conv -> Relu -> Add graph, quantised by the rules, with one planted violation."""
    c = 4
    w = np.ones((c, c, 1, 1), np.int8)
    inits = [
        numpy_helper.from_array(np.array(0.1, np.float32), "s"),
        numpy_helper.from_array(np.array(0 if bad != "zero_point" else 3, np.int8), "z"),
        numpy_helper.from_array(w, "w"),
        numpy_helper.from_array(np.full((c if bad != "per_tensor" else 1,), 0.02, np.float32), "ws"),
        numpy_helper.from_array(np.zeros((c if bad != "per_tensor" else 1,), np.int8), "wz"),
        numpy_helper.from_array(np.ones((2, 2), np.float32), "eye"),
    ]
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, c, 2, 2])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, c, 2, 2])
    nodes = [
        helper.make_node("QuantizeLinear", ["x", "s", "z"], ["xq"], name="q"),
        helper.make_node("DequantizeLinear", ["xq", "s", "z"], ["xd"], name="dq"),
        helper.make_node("DequantizeLinear", ["w", "ws", "wz"], ["wd"], name="wdq", axis=0),
        helper.make_node("Conv", ["xd" if bad != "float_input" else "x", "wd"], ["c"], name="conv"),
    ]
    if bad == "relu_after_qdq":
        nodes += [helper.make_node("QuantizeLinear", ["c", "s", "z"], ["cq"], name="q2"),
                  helper.make_node("DequantizeLinear", ["cq", "s", "z"], ["cd"], name="dq2"),
                  helper.make_node("Relu", ["cd"], ["r"], name="relu")]
    else:
        nodes.append(helper.make_node("Relu", ["c"], ["r"], name="relu"))
    nodes.append(helper.make_node("Add", ["c", "x" if bad == "unfused_add" else "xd"], ["a"],
                                  name="add"))
    if bad == "einsum":
        nodes.append(helper.make_node("Einsum", ["a", "eye"], ["y"], name="einsum",
                                      equation="nctv,vw->nctw"))
    else:
        nodes.append(helper.make_node("Add", ["a", "r"], ["y"], name="out"))
    graph = helper.make_graph(nodes, "t", [x], [y], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=7)


def self_test():
    summary, v = check(_tiny(None))
    assert not v, v
    assert summary["quantised"] == 1 and summary["layers"] == 1, summary
    for bad, needle in [("zero_point", "zero point"), ("per_tensor", "per output channel"),
                        ("float_input", "only the weight"), ("relu_after_qdq", "ReLU"),
                        ("unfused_add", "no fusion"), ("einsum", "Einsum")]:
        _, v = check(_tiny(bad))
        assert any(needle in m for m in v), (bad, v)
    print("check_qdq self-test: the clean graph passes, 6 of 6 planted violations found")


def main():
    if sys.argv[1:] == ["--self-test"]:
        self_test()
        return 0
    if len(sys.argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    failed = False
    for path in sys.argv[1:]:
        summary, violations = check(path)
        summary["model"] = path
        summary["violations"] = violations
        print(json.dumps(summary))
        failed |= bool(violations)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
