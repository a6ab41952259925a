"""`stgcn serve` against the unmodified PyPI tritonclient (HTTP and gRPC): metadata, config,
window inference (JSON and binary, async, concurrent), sequences streamed over gRPC and HTTP
that must equal `stgcn run --mode continual`, and metrics."""
import concurrent.futures
import json
import os
import queue
import re
import urllib.request

import numpy as np
import pytest
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient

from conftest import run_cli

TOL = 1e-4


def close(a, b):
    return np.max(np.abs(a - b)) <= TOL * max(1.0, float(np.max(np.abs(b))))


def http_infer(client, x, binary=True, model="demo"):
    inp = httpclient.InferInput("input", list(x.shape), "FP32")
    inp.set_data_from_numpy(x, binary_data=binary)
    out = httpclient.InferRequestedOutput("logits", binary_data=binary)
    return client.infer(model, [inp], outputs=[out]).as_numpy("logits")


def grpc_input(name, x):
    inp = grpcclient.InferInput(name, list(x.shape), "FP32")
    inp.set_data_from_numpy(x)
    return inp


def test_health_metadata_config_http(server):
    c = httpclient.InferenceServerClient(server.http_url)
    assert c.is_server_live() and c.is_server_ready() and c.is_model_ready("demo")
    md = c.get_server_metadata()
    assert md["name"] == "stgcn-rt" and "sequence" in md["extensions"]
    assert "binary_tensor_data" in md["extensions"]
    mm = c.get_model_metadata("demo")
    shapes = {t["name"]: t["shape"] for t in mm["inputs"]}
    assert shapes["input"] == [-1, 3, 150, 33, 1] and shapes["frames"] == [1, -1, 33, 3]
    outs = {t["name"]: (t["datatype"], t["shape"]) for t in mm["outputs"]}
    assert outs["logits"][0] == "FP32" and outs["logits"][1][0] == -1
    cfg = c.get_model_config("demo")
    assert cfg["max_batch_size"] == 8
    assert [i["dims"] for i in cfg["input"] if i["name"] == "input"] == [[3, 150, 33, 1]]
    assert cfg["dynamic_batching"]["max_queue_delay_microseconds"] == 3000
    assert cfg["sequence_batching"]["max_sequence_idle_microseconds"] == 60_000_000
    assert not c.is_model_ready("nope")


def test_health_metadata_config_grpc(server):
    c = grpcclient.InferenceServerClient(server.grpc_url)
    assert c.is_server_live() and c.is_server_ready() and c.is_model_ready("demo")
    md = c.get_server_metadata(as_json=True)
    assert md["name"] == "stgcn-rt" and "sequence" in md["extensions"]
    mm = c.get_model_metadata("demo", as_json=True)
    shapes = {t["name"]: [int(d) for d in t["shape"]] for t in mm["inputs"]}
    assert shapes["input"] == [-1, 3, 150, 33, 1]
    cfg = c.get_model_config("demo", as_json=True)["config"]
    assert cfg["name"] == "demo" and int(cfg["max_batch_size"]) == 8
    assert cfg["input"][0]["data_type"] == "TYPE_FP32"
    assert [int(d) for d in cfg["input"][0]["dims"]] == [3, 150, 33, 1]
    # Triton's ModelConfig holds one scheduler (a oneof): a sequence model reports
    # sequence_batching, whose "oldest" strategy carries the dynamic batching of its windows.
    oldest = cfg["sequence_batching"]["oldest"]
    assert int(oldest["max_queue_delay_microseconds"]) == 3000


def test_window_infer_json_and_binary_http(server, demo_x, expected_logits):
    c = httpclient.InferenceServerClient(server.http_url)
    assert close(http_infer(c, demo_x, binary=False), expected_logits)
    assert close(http_infer(c, demo_x, binary=True), expected_logits)
    assert close(http_infer(c, demo_x[1:2]), expected_logits[1:2])


def test_window_infer_grpc(server, demo_x, expected_logits):
    c = grpcclient.InferenceServerClient(server.grpc_url)
    r = c.infer("demo", [grpc_input("input", demo_x)],
                outputs=[grpcclient.InferRequestedOutput("logits")])
    assert close(r.as_numpy("logits"), expected_logits)


def test_async_and_concurrent(server, demo_x, expected_logits):
    n = 24
    xs = [demo_x[i % 2:i % 2 + 1] for i in range(n)]
    hc = httpclient.InferenceServerClient(server.http_url, concurrency=8)
    reqs = []
    for x in xs:
        inp = httpclient.InferInput("input", list(x.shape), "FP32")
        inp.set_data_from_numpy(x)
        reqs.append(hc.async_infer("demo", [inp]))
    for i, r in enumerate(reqs):
        assert close(r.get_result().as_numpy("logits"), expected_logits[i % 2:i % 2 + 1])

    gc = grpcclient.InferenceServerClient(server.grpc_url)
    done = queue.Queue()
    for i, x in enumerate(xs):
        gc.async_infer("demo", [grpc_input("input", x)],
                       callback=lambda result, error, i=i: done.put((i, result, error)))
    for _ in range(n):
        i, result, error = done.get(timeout=60)
        assert error is None, error
        assert close(result.as_numpy("logits"), expected_logits[i % 2:i % 2 + 1])

    def one(i):
        c = httpclient.InferenceServerClient(server.http_url)
        return i, http_infer(c, xs[i])
    with concurrent.futures.ThreadPoolExecutor(16) as ex:
        for i, y in ex.map(one, range(n)):
            assert close(y, expected_logits[i % 2:i % 2 + 1])
    # Concurrent single-sample requests were batched together at least once.
    text = urllib.request.urlopen(f"http://{server.http_url}/metrics").read().decode()
    count = float(re.search(r'stgcn_batch_size_count\{model="demo"\} (\S+)', text).group(1))
    total = float(re.search(r'stgcn_batch_size_sum\{model="demo"\} (\S+)', text).group(1))
    assert total / count > 1.0, text


# ---- sequences -----------------------------------------------------------------------------

def track(demo_x):
    """A 300-frame track: the two demo samples one after the other, (300, V, C)."""
    return np.ascontiguousarray(
        np.concatenate([demo_x[0, :, :, :, 0], demo_x[1, :, :, :, 0]], axis=1).transpose(1, 2, 0))


@pytest.fixture(scope="session")
def run_probabilities(workdir, demo_engine, demo_x):
    """`stgcn run --mode continual` on the same frames: per-frame class probabilities."""
    frames = track(demo_x)
    src = os.path.join(workdir, "track.jsonl")
    with open(src, "w") as f:
        for t, fr in enumerate(frames):
            kp = [[float(v[0]), float(v[1]), float(v[2]), 1.0] for v in fr]
            f.write(json.dumps({"t": t / 30, "persons": [{"id": 0, "kp": kp}]}) + "\n")
    out = os.path.join(workdir, "events.jsonl")
    run_cli("run", demo_engine, "--source", src, "--mode", "continual", "--min-frames", "1",
            "--channels", "xyz", "--top-k", "1000", "--out", out, "--quiet")
    probs = {}
    for line in open(out):
        e = json.loads(line)
        if e["final"]:
            continue
        p = np.zeros(len(e["top"]), np.float64)
        for t in e["top"]:
            p[t["label"]] = t["p"]
        probs[e["frame"]] = p
    # The demo model looks ahead (centred temporal padding): no answer for its first frames,
    # one for every later frame.
    first = min(probs)
    assert 0 < first < 150 and sorted(probs) == list(range(first, len(frames)))
    return probs


def softmax(z):
    z = z.astype(np.float64) - np.max(z)
    e = np.exp(z)
    return e / e.sum()


def check_track(logits, frame_index, run_probabilities):
    assert list(frame_index) == sorted(run_probabilities)
    worst = max(np.max(np.abs(softmax(l) - run_probabilities[f]))
                for f, l in zip(frame_index, logits))
    labels_equal = all(int(np.argmax(l)) == int(np.argmax(run_probabilities[f]))
                       for f, l in zip(frame_index, logits))
    assert worst <= TOL and labels_equal, f"max |p - p_run| = {worst}"


def test_sequence_grpc_stream_equals_stgcn_run(server, demo_x, run_probabilities):
    frames = track(demo_x)
    c = grpcclient.InferenceServerClient(server.grpc_url)
    results = queue.Queue()
    c.start_stream(callback=lambda result, error: results.put((result, error)))
    for t in range(len(frames)):
        c.async_stream_infer("demo", [grpc_input("frames", frames[t:t + 1][None])],
                             sequence_id=4242, sequence_start=(t == 0),
                             sequence_end=(t == len(frames) - 1))
    logits, index = [], []
    for _ in range(len(frames)):  # one response per request, in order
        result, error = results.get(timeout=120)
        assert error is None, error
        logits.extend(result.as_numpy("logits")[0])
        index.extend(int(i) for i in result.as_numpy("frame_index")[0])
    c.stop_stream()
    check_track(logits, index, run_probabilities)


def test_sequence_http_chunks_equal_stgcn_run(server, demo_x, run_probabilities):
    frames = track(demo_x)
    c = httpclient.InferenceServerClient(server.http_url)
    logits, index = [], []
    chunk = 10
    for t in range(0, len(frames), chunk):
        x = frames[t:t + chunk][None]
        inp = httpclient.InferInput("frames", list(x.shape), "FP32")
        inp.set_data_from_numpy(x)
        r = c.infer("demo", [inp], sequence_id="walker-7", sequence_start=(t == 0),
                    sequence_end=(t + chunk >= len(frames)))
        logits.extend(r.as_numpy("logits")[0])
        index.extend(int(i) for i in r.as_numpy("frame_index")[0])
    check_track(logits, index, run_probabilities)


def test_metrics_exposition(server, demo_x):
    c = httpclient.InferenceServerClient(server.http_url)
    http_infer(c, demo_x[:1])
    text = urllib.request.urlopen(f"http://{server.http_url}/metrics").read().decode()
    ok = re.search(r'stgcn_requests_total\{protocol="http",model="demo",code="ok"\} (\d+)', text)
    assert ok and int(ok.group(1)) >= 1, text
    for name in ("stgcn_request_duration_seconds_bucket", "stgcn_queue_depth{model=\"demo\"}",
                 "stgcn_live_sequences{model=\"demo\"}", "# TYPE stgcn_batch_size histogram"):
        assert name in text, name
