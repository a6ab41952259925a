"""The `stgcn` Python API: load / describe / build / run / save / export / validate / bench,
errors as exceptions with the core's one-line message, zero-copy input, and results bit-equal
to the CLI's for the same engine and input."""
import os

import numpy as np
import pytest

from conftest import CLI, DEMO, DEMO_X, DEMO_Y, STGCNPP, STGCNPP_X, cli, cli_error


def test_load_describe_and_spec(stgcn, demo):
    d = demo.describe()
    assert d["family"] == "ST-GCN" and d["two_stream"] is True
    assert d["V"] == 33 and d["C"] == 3 and d["num_class"] == 2
    assert d["input_layout"] == "nctvm" and d["parameters"] == 453932
    assert len(d["streams"]) == 2 and len(d["streams"][0]["blocks"]) == 10
    pp = stgcn.load(STGCNPP)
    assert pp.spec["family"] == "ST-GCN++" and pp.spec["input_layout"] == "nmtvc"
    assert "ST-GCN++" in repr(pp)


def test_fp32_engine_matches_pytorch_and_the_reference(demo, demo_engine, demo_x):
    want = np.load(DEMO_Y)
    y = demo_engine.run(demo_x)
    assert y.shape == (2, 2) and y.dtype == np.float32
    assert np.abs(y - want).max() <= 1e-4 * max(1.0, np.abs(want).max())
    ref = demo.run_reference(demo_x)
    assert np.abs(ref - want).max() <= 1e-4 * max(1.0, np.abs(want).max())


def test_results_are_bit_equal_to_the_cli(tmp_path, demo_engine, demo_x):
    eng = str(tmp_path / "demo.engine")
    demo_engine.save(eng)
    out = str(tmp_path / "cli.npy")
    cli("infer", eng, "-i", DEMO_X, "-o", out)
    loaded = __import__("stgcn").Engine.load(eng)
    assert np.array_equal(loaded.run(demo_x), np.load(out))
    assert loaded.info["precision"] == "fp32" and loaded.info["T"] == 150
    assert loaded.info["input_shape"] == [3, 150, 33, 1]


def test_int8_build_with_calibration_array_and_table(tmp_path, stgcn, demo, demo_x):
    table = str(tmp_path / "calib.txt")
    lines = []
    e = demo.build("int8", T=150, M=1, batch=2, calib=demo_x, calib_table=table,
                   progress=lines.append)
    assert e.info["precision"] == "int8" and os.path.exists(table)
    assert any("calibration" in line for line in lines)
    # the table alone rebuilds an identical engine
    e2 = demo.build("int8", T=150, M=1, batch=2, calib_table=table)
    assert np.array_equal(e.run(demo_x), e2.run(demo_x))
    kept = demo.build("int8", T=150, M=1, batch=2, calib_table=table, keep_fp32=["s0.b0.gcn"])
    assert kept.info["layer_precisions"]["s0.b0.gcn"] == "fp32"
    with pytest.raises(stgcn.InvalidArgumentError, match="no quantisable layer named 's0.b99.gcn'"):
        demo.build("int8", T=150, calib_table=table, keep_fp32=["s0.b99.gcn"])
    with pytest.raises(stgcn.InvalidArgumentError, match="int8 needs calibration"):
        demo.build("int8", T=150)
    with pytest.raises(ValueError, match="need precision='int8'"):
        demo.build("fp32", calib=demo_x)


def test_mmaction2_layout_in_and_out(stgcn):
    pp = stgcn.load(STGCNPP)
    x = np.ascontiguousarray(np.load(STGCNPP_X)[:3], dtype=np.float32)  # (N, M, T, V, C)
    e = pp.build("fp32", T=150, M=1, batch=4)
    assert e.info["input_shape"] == [1, 150, 17, 3]
    y = e.run(x)
    ref = pp.run_reference(x)
    assert np.abs(y - ref).max() <= 1e-4 * max(1.0, np.abs(ref).max())
    nctvm = np.ascontiguousarray(x.transpose(0, 4, 2, 3, 1))
    assert np.array_equal(ref, pp.run_reference(nctvm, input_layout="nctvm"))


def test_zero_copy_conversions_and_out(stgcn, demo_engine, demo_x):
    ctx = demo_engine.context(threads=1)
    y = ctx.run(demo_x)
    assert ctx.last_input_address == demo_x.ctypes.data  # read in place
    x64 = demo_x.astype(np.float64)
    assert np.array_equal(ctx.run(x64), y)  # converted once
    assert ctx.last_input_address != x64.ctypes.data
    fortran = np.asfortranarray(demo_x)
    assert np.array_equal(ctx.run(fortran), y)
    assert ctx.last_input_address != fortran.ctypes.data
    out = np.zeros((2, 2), np.float32)
    r = ctx.run(demo_x, out=out)
    assert np.array_equal(out, y) and np.shares_memory(r, out)
    with pytest.raises(stgcn.InvalidArgumentError, match=r"the engine takes \(N, 3, 150, 33, 1\)"):
        ctx.run(demo_x[:, :, :100])
    with pytest.raises(stgcn.InvalidArgumentError, match=r"out must be .* shape \(2, 2\)"):
        ctx.run(demo_x, out=np.zeros((3, 2), np.float32))
    assert np.array_equal(ctx.run(demo_x.astype(np.int32)), ctx.run(demo_x.astype(np.int32).astype(np.float32)))
    with pytest.raises(TypeError):
        ctx.run("not an array")
    with pytest.raises(stgcn.InvalidArgumentError, match=r"shape \[2, 3, 150, 33, 1, 1\]"):
        ctx.run(demo_x[..., None])
    assert ctx.threads == 1 and ctx.arena_bytes > 0
    # a batch above the engine's maximum runs in chunks
    x5 = np.concatenate([demo_x] * 3)[:5]
    assert np.array_equal(ctx.run(x5)[:2], y)


def test_errors_carry_the_cli_message(tmp_path, stgcn, demo):
    with pytest.raises(stgcn.NotFoundError) as e:
        stgcn.load("nope.pt")
    assert str(e.value) == cli_error("inspect", "nope.pt")
    assert isinstance(e.value, FileNotFoundError) and isinstance(e.value, stgcn.StgcnError)
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"garbage")
    with pytest.raises(stgcn.CorruptFileError) as e:
        stgcn.load(bad)
    assert str(e.value) == cli_error("inspect", str(bad))
    with pytest.raises(stgcn.StgcnError, match="cannot load"):
        stgcn.Engine.load(str(bad))
    with pytest.raises(stgcn.InvalidArgumentError, match="strategy"):
        stgcn.load(DEMO, strategy="nonsense")
    with pytest.raises(stgcn.UnsupportedError, match="precision 'fp64' is not available"):
        demo.build("fp64")


def test_export_onnx_fp32_fp16_int8(tmp_path, stgcn, demo, demo_x):
    import onnxruntime as ort
    want = np.load(DEMO_Y)
    for precision, extra, tol in (("fp32", {}, 1e-4), ("fp16", {}, 2e-2),
                                  ("int8", {"calib": demo_x}, None)):
        path = tmp_path / f"demo_{precision}.onnx"
        demo.export_onnx(path, T=150, M=1, dynamic_batch=True, precision=precision, **extra)
        s = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        y = s.run(None, {"input": demo_x})[0]
        assert y.shape == (2, 2)
        if tol is not None:
            assert np.abs(y - want).max() <= tol * max(1.0, np.abs(want).max()), precision
    with pytest.raises(stgcn.InvalidArgumentError, match="opset >= 13"):
        demo.export_onnx(tmp_path / "x.onnx", precision="int8", calib=demo_x, opset=12)
    assert not (tmp_path / "x.onnx").exists()


def test_validate_and_bench(stgcn, demo, demo_engine, demo_x):
    r = stgcn.validate(demo_engine, demo, demo_x, labels=np.array([0, 1]), tolerance=1e-3)
    assert r["pass"] and r["top1_agreement"] == 100.0 and r["max_abs_error"] < 1e-3
    assert "accuracy" in r and r["samples"] == 2
    saved = stgcn.validate(np.load(DEMO_Y), demo, demo_x, tolerance=1e-3)
    assert saved["pass"]
    bad = stgcn.validate(np.load(DEMO_Y)[::-1].copy(), demo, demo_x, tolerance=1e-3)
    assert not bad["pass"] and bad["failures"]
    b = stgcn.bench(demo_engine, batch=1, iterations=3, warmup=1, threads=1)
    assert b["iterations"] == 3 and 0 < b["min_ms"] <= b["median_ms"] <= b["p99_ms"]
    assert b["samples_per_s"] > 0


def test_machine_graph_and_paths(stgcn, demo, demo_engine):
    m = stgcn.machine()
    assert m["backend"] == "cpu" and m["library"].startswith("oneDNN") and m["isa"]
    assert demo.path == DEMO
    assert "aggregate" in demo_engine.graph_text() or "gcn" in demo_engine.graph_text()
    assert "fp32" in repr(demo_engine) and "T=150" in repr(demo_engine)


def test_help_and_stubs(stgcn):
    assert "precision" in stgcn.Model.build.__doc__
    assert "zero" in stgcn.Context.run.__doc__.lower() or "in place" in stgcn.Context.run.__doc__
    stub = os.path.join(os.path.dirname(stgcn.__file__), "_stgcn.pyi")
    text = open(stub, encoding="utf-8").read()
    for name in ("class Engine", "class Context", "class Model", "def load(", "class StreamRuntime"):
        assert name in text, name
    assert os.path.exists(CLI)
