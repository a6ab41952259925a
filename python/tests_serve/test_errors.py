"""Every error path of `stgcn serve` answers a clear error (HTTP status / gRPC code and a
message), never a crash: bad requests, auth, limits, overload, sequences, drain."""
import concurrent.futures
import json
import os
import signal
import threading
import time
import urllib.error
import urllib.request

import numpy as np
import pytest
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException

from conftest import DEMO, Server


def post(url, body, headers=None):
    """(status, parsed JSON body or text) of a raw POST."""
    req = urllib.request.Request(url, data=body, headers=headers or {}, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def get(url, headers=None):
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def infer_body(shape, data=None, name="input", datatype="FP32", params=None):
    n = int(np.prod(shape)) if data is None else None
    return json.dumps({"inputs": [{"name": name, "shape": shape, "datatype": datatype,
                                   "data": data if data is not None else [0.0] * n}],
                       **({"parameters": params} if params else {})}).encode()


def error_of(status_body):
    status, body = status_body
    return status, json.loads(body)["error"]


def test_http_bad_requests(server):
    url = f"http://{server.http_url}/v2/models/demo/infer"
    cases = [
        (b"{", 400, "JSON"),
        (b"[]", 400, ""),
        (infer_body([1, 3, 150, 33, 2]), 400, "shape"),
        (infer_body([1, 3, 150, 33, 1], datatype="FP64"), 400, "FP32"),
        (infer_body([1, 2], name="nope"), 400, "input"),
        (infer_body([1, 3], data=[1.0, 2.0]), 400, ""),
        (infer_body([-1, 3]), 400, ""),
        (infer_body([1 << 40, 1 << 40], data=[]), 400, ""),
        (infer_body([1, 5, 33, 3], name="frames", params={"sequence_id": 99}), 400,
         "unknown sequence"),
        (infer_body([1, 1, 33, 3], name="frames", params={"sequence_start": True}), 400,
         "sequence_id"),
    ]
    for body, want, words in cases:
        status, msg = error_of(post(url, body))
        assert status == want, (body[:80], status, msg)
        assert words.lower() in msg.lower(), (body[:80], msg)
    # NaN in the input: refused before it reaches a batch.
    x = np.zeros((1, 3, 150, 33, 1), np.float32)
    x[0, 0, 0, 0, 0] = np.nan
    c = httpclient.InferenceServerClient(server.http_url)
    inp = httpclient.InferInput("input", list(x.shape), "FP32")
    inp.set_data_from_numpy(x)
    with pytest.raises(InferenceServerException, match="not finite"):
        c.infer("demo", [inp])
    # Binary extension: a header length past the body.
    status, msg = error_of(post(url, b'{"inputs":[]}', {"Inference-Header-Content-Length": "999"}))
    assert status == 400
    status, _ = get(f"http://{server.http_url}/v2/models/nope")
    assert status == 404
    status, msg = error_of(post(f"http://{server.http_url}/v2/models/nope/infer",
                                infer_body([1, 2])))
    assert status == 404 and "nope" in msg
    status, _ = get(f"http://{server.http_url}/v2/models/demo/versions/7")
    assert status == 404
    # The server is still serving.
    assert httpclient.InferenceServerClient(server.http_url).is_server_ready()


def test_grpc_bad_requests(server):
    c = grpcclient.InferenceServerClient(server.grpc_url)

    def code(model, inputs, **kw):
        with pytest.raises(InferenceServerException) as e:
            c.infer(model, inputs, **kw)
        return e.value.status(), e.value.message()

    x = np.zeros((1, 3, 150, 33, 2), np.float32)
    inp = grpcclient.InferInput("input", list(x.shape), "FP32")
    inp.set_data_from_numpy(x)
    assert code("demo", [inp])[0] == "StatusCode.INVALID_ARGUMENT"
    assert code("nope", [inp])[0] == "StatusCode.NOT_FOUND"
    f = np.zeros((1, 2, 33, 3), np.float32)
    fin = grpcclient.InferInput("frames", list(f.shape), "FP32")
    fin.set_data_from_numpy(f)
    st, msg = code("demo", [fin], sequence_id=77)
    assert st == "StatusCode.INVALID_ARGUMENT" and "unknown sequence" in msg
    with pytest.raises(InferenceServerException) as e:
        c.get_model_metadata("nope")
    assert e.value.status() == "StatusCode.NOT_FOUND"
    assert c.is_server_ready()


def test_auth_http_and_grpc(demo_engine, workdir):
    token_file = os.path.join(workdir, "token")
    with open(token_file, "w") as f:
        f.write("s3cret-token\n")
    s = Server("--model", f"demo={demo_engine}", "--token-file", token_file)
    try:
        base = f"http://{s.http_url}"
        assert get(f"{base}/v2/health/ready")[0] == 200  # probes stay open
        assert get(f"{base}/v2/models/demo")[0] == 401
        assert get(f"{base}/v2/models/demo", {"Authorization": "Bearer wrong"})[0] == 401
        assert get(f"{base}/v2/models/demo", {"Authorization": "Bearer s3cret-token"})[0] == 200
        c = grpcclient.InferenceServerClient(s.grpc_url)
        with pytest.raises(InferenceServerException) as e:
            c.get_model_metadata("demo")
        assert e.value.status() == "StatusCode.UNAUTHENTICATED"
        md = c.get_model_metadata("demo", headers={"authorization": "Bearer s3cret-token"})
        assert md.name == "demo"
    finally:
        assert s.stop() == 0, s.output()


def test_request_size_limit(demo_engine):
    s = Server("--model", f"demo={demo_engine}", "--max-request-bytes", "4096")
    try:
        status, _ = post(f"http://{s.http_url}/v2/models/demo/infer",
                         infer_body([1, 3, 150, 33, 1]))
        assert status == 413
        x = np.zeros((1, 3, 150, 33, 1), np.float32)
        c = grpcclient.InferenceServerClient(s.grpc_url)
        inp = grpcclient.InferInput("input", list(x.shape), "FP32")
        inp.set_data_from_numpy(x)
        with pytest.raises(InferenceServerException) as e:
            c.infer("demo", [inp])
        assert e.value.status() == "StatusCode.RESOURCE_EXHAUSTED"
    finally:
        assert s.stop() == 0, s.output()


def test_overload_answers_503_and_counts(demo_engine, demo_x):
    s = Server("--model", f"demo={demo_engine}", "--queue-capacity", "2",
               "--max-queue-delay-us", "200000", "--max-batch", "8")
    try:
        def one(_):
            c = httpclient.InferenceServerClient(s.http_url)
            inp = httpclient.InferInput("input", [1, 3, 150, 33, 1], "FP32")
            inp.set_data_from_numpy(demo_x[:1])
            try:
                c.infer("demo", [inp])
                return "ok"
            except InferenceServerException as e:
                return e.status()
        with concurrent.futures.ThreadPoolExecutor(24) as ex:
            outcomes = list(ex.map(one, range(48)))
        assert set(outcomes) <= {"ok", "503"}, outcomes
        assert outcomes.count("503") > 0 and outcomes.count("ok") > 0, outcomes
        text = get(f"http://{s.http_url}/metrics")[1].decode()
        assert f'code="resource_exhausted"}} {outcomes.count("503")}' in text
    finally:
        assert s.stop() == 0, s.output()


def test_sequence_cap_and_timeout(demo_engine):
    s = Server("--model", f"demo={demo_engine}", "--max-sequences", "2",
               "--sequence-timeout", "0.5")
    try:
        c = grpcclient.InferenceServerClient(s.grpc_url)
        f = np.zeros((1, 1, 33, 3), np.float32)

        def step(seq, start=False, end=False):
            inp = grpcclient.InferInput("frames", list(f.shape), "FP32")
            inp.set_data_from_numpy(f)
            return c.infer("demo", [inp], sequence_id=seq, sequence_start=start,
                           sequence_end=end)
        step(1, start=True)
        step(2, start=True)
        with pytest.raises(InferenceServerException) as e:
            step(3, start=True)
        assert e.value.status() == "StatusCode.RESOURCE_EXHAUSTED"
        step(1, end=True)
        step(3, start=True)  # a slot is free again
        time.sleep(2.5)      # idle past --sequence-timeout: dropped
        with pytest.raises(InferenceServerException) as e:
            step(2)
        assert "unknown sequence" in e.value.message()
        text = get(f"http://{s.http_url}/metrics")[1].decode()
        assert 'stgcn_live_sequences{model="demo"} 0' in text
    finally:
        assert s.stop() == 0, s.output()


def test_readiness_and_sigterm_drain(demo_x):
    # Built from the checkpoint at start: live at once, ready only once the model is built.
    s = Server("--model", f"a={DEMO}", "--model", f"b={DEMO}", "--model", f"c={DEMO}",
               "--max-queue-delay-us", "1000000", "--batch", "8", wait_ready=False)
    try:
        assert get(f"http://{s.http_url}/v2/health/live")[0] == 200
        first_ready = get(f"http://{s.http_url}/v2/health/ready")[0]
        s.wait_ready()
        assert first_ready == 503
        # A request waiting in the batch queue (1 s delay) when SIGTERM arrives is answered.
        result = {}

        def call():
            c = httpclient.InferenceServerClient(s.http_url, network_timeout=60)
            inp = httpclient.InferInput("input", [1, 3, 150, 33, 1], "FP32")
            inp.set_data_from_numpy(demo_x[:1])
            try:
                result["y"] = c.infer("a", [inp]).as_numpy("logits")
            except Exception as e:  # noqa: BLE001 - reported below
                result["error"] = e
        t = threading.Thread(target=call)
        t.start()
        time.sleep(0.3)
        s.proc.send_signal(signal.SIGTERM)
        t.join(60)
        assert "y" in result, result.get("error")
        assert s.proc.wait(60) == 0, s.output()
        assert "draining" in s.output()
    finally:
        s.stop()
