"""Concurrency (the GIL released while C++ runs; threads on one engine agree with sequential
calls) and the stream runtime / sources from Python."""
import json
import threading

import numpy as np
import pytest


def test_four_threads_on_one_engine_match_sequential_calls(demo, demo_x):
    engine = demo.build("fp32", T=150, M=1, batch=4)
    rng = np.random.default_rng(7)
    batches = [np.ascontiguousarray(demo_x[rng.integers(0, 2, size=3)] *
                                    rng.uniform(0.5, 1.5), dtype=np.float32) for _ in range(8)]
    want = [engine.run(b) for b in batches]
    got = {}

    def worker(k):
        ctx = engine.context(threads=1)
        for i in range(k, len(batches), 4):
            got[("ctx", i)] = ctx.run(batches[i])
            got[("shared", i)] = engine.run(batches[i])  # the engine's own, serialised context

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i, w in enumerate(want):
        assert np.array_equal(got[("ctx", i)], w)
        assert np.array_equal(got[("shared", i)], w)


def test_the_gil_is_released_while_the_engine_runs(demo_engine, demo_x):
    # A Python thread counts while the main thread is inside Context.run: with the GIL held
    # for the call the count could not move.
    ctx = demo_engine.context(threads=1)
    x = np.ascontiguousarray(np.concatenate([demo_x] * 4)[:8])  # several engine calls
    state = {"n": 0, "done": False}

    def count():
        while not state["done"]:
            state["n"] += 1

    t = threading.Thread(target=count)
    t.start()
    try:
        before = state["n"]
        ctx.run(x)
        during = state["n"] - before
    finally:
        state["done"] = True
        t.join()
    assert during > 100, during


def _frames(x):
    """(C, T, V, M=1) sample -> per-frame (1, V, 2) xy and (1, V) confidence."""
    for t in range(x.shape[1]):
        yield x[0:2, t, :, 0].T[None], x[2, t, :, 0][None]


def test_window_stream_events_match_the_engine(stgcn, demo, demo_engine, demo_x):
    # channels "xyz": the third input channel travels as z, so the runtime's window is the
    # sample itself and its event must be the engine's answer on it.
    x = demo_x[0]
    rt = stgcn.StreamRuntime(demo_engine, mode="window", hop=150, channels="xyz")
    for t in range(x.shape[1]):
        rt.push("cam0", t / 30.0, x[:, t, :, 0].T[None], [7])
    rt.drain()
    events = rt.poll()
    assert len(events) == 1
    e = events[0]
    assert e["stream"] == "cam0" and e["tracks"] == [7] and e["frame"] == 149
    assert len(e["logits"]) == 2 and 0 <= e["label"] < 2 and len(e["top"]) == 2
    want = demo_engine.run(demo_x[0:1])[0]
    assert np.allclose(e["logits"], want, rtol=0, atol=1e-5 * max(1.0, np.abs(want).max()))
    assert rt.stats["frames"] == 150 and rt.stats["events"] == 1
    assert rt.T == 150 and rt.M == 1 and rt.V == 33 and rt.mode == "window"


def test_continual_stream_with_a_callback(stgcn, demo, demo_x):
    got = []
    rt = stgcn.StreamRuntime(demo, mode="continual", T=150, M=1, workers=1,
                             on_event=got.append)
    for i, (xy, conf) in enumerate(_frames(demo_x[0])):
        if i == 40:
            break
        rt.push("cam1", i / 30.0, xy, [1], conf)
    rt.end_stream("cam1")
    rt.drain()
    assert got, "no events"
    assert all(np.all(np.isfinite(e["logits"])) for e in got)
    assert any(e["final"] for e in got)
    assert rt.poll() == []  # with a callback nothing waits for poll()
    assert rt.mode == "continual"


def test_bad_frames_raise_and_the_stream_goes_on(stgcn, demo_engine, demo_x):
    rt = stgcn.StreamRuntime(demo_engine, hop=1)
    xy, conf = next(_frames(demo_x[0]))
    with pytest.raises(stgcn.InvalidArgumentError, match=r"expected \(P, V, 2\) or \(P, V, 3\)"):
        rt.push("a", 0.0, np.zeros((1, 33, 4)), [1])
    with pytest.raises(stgcn.InvalidArgumentError, match="track ids"):
        rt.push("a", 0.0, xy, [1, 2])
    rt.push("a", 1.0, xy, [1], conf)
    with pytest.raises(stgcn.InvalidArgumentError):
        rt.push("a", 0.5, xy, [1], conf)  # out of order
    rt.push("a", 2.0, xy, [1], conf)
    assert rt.stats["frames"] == 2 and rt.stats["rejected"] >= 1
    with pytest.raises(stgcn.InvalidArgumentError, match="mode must be one of"):
        stgcn.StreamRuntime(demo_engine, mode="batch")
    with pytest.raises(stgcn.InvalidArgumentError, match="Engine or an stgcn.Model"):
        stgcn.StreamRuntime(42)


def test_a_source_file_plays_into_the_runtime(tmp_path, stgcn, demo_engine, demo_x):
    path = tmp_path / "cam2.jsonl"
    x = demo_x[0]
    with open(path, "w", encoding="utf-8") as f:
        f.write(json.dumps({"layout": "mediapipe"}) + "\n")
        for t in range(40):
            kp = [[float(x[0, t, v, 0]), float(x[1, t, v, 0]), float(min(1.0, max(0.01, x[2, t, v, 0])))]
                  for v in range(33)]
            f.write(json.dumps({"t": t / 30.0, "persons": [{"id": 5, "kp": kp}]}) + "\n")
        f.write("{not json\n")
    src = stgcn.sources.open(path)
    assert src.stream == "cam2" and src.joints == 33 and src.layout == "mediapipe"
    frames = list(src)
    assert len(frames) == 40 and src.errors == 1
    assert frames[0]["persons"].shape == (1, 33, 3) and frames[0]["tracks"] == [5]
    rt = stgcn.StreamRuntime(demo_engine, hop=10, min_frames=10)
    for fr in frames:
        rt.push_frame(fr)
    assert [e["frame"] for e in rt.events()] == [9, 19, 29, 39]
    assert list(rt.events()) == []
    with pytest.raises(stgcn.NotFoundError):
        stgcn.open_source(tmp_path / "missing.jsonl")


def test_the_live_example_prints_per_person_actions(tmp_path, demo_x):
    import os
    import subprocess
    import sys

    from conftest import DEMO, ROOT
    path = tmp_path / "poses.jsonl"
    with open(path, "w", encoding="utf-8") as f:
        f.write(json.dumps({"layout": "mediapipe"}) + "\n")
        for t in range(60):
            persons = [{"id": i + 1, "kp": [[float(demo_x[i, 0, t, v, 0]), float(demo_x[i, 1, t, v, 0]),
                                             1.0] for v in range(33)]} for i in range(2)]
            f.write(json.dumps({"t": t / 30.0, "persons": persons}) + "\n")
    env = dict(os.environ)
    r = subprocess.run([sys.executable, os.path.join(ROOT, "examples", "python", "live_actions.py"),
                        str(path), "--model", DEMO, "--hop", "30"],
                       capture_output=True, text=True, env=env, timeout=600)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.strip().splitlines()
    assert any("track 1:" in line for line in lines) and any("track 2:" in line for line in lines)
    assert "60 frames" in r.stderr
