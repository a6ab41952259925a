"""Fixtures of the `stgcn serve` tests (ctest Serve.Tritonclient): the server is started by the
tests themselves, on ephemeral ports, and stopped with SIGTERM (its exit code is checked)."""
import json
import os
import signal
import subprocess
import tempfile
import time
import urllib.request

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CLI = os.environ.get("STGCN_CLI", os.path.join(ROOT, "build", "stgcn"))
DEMO = os.path.join(ROOT, "models", "demo", "stgcn_demo.pt")
DEMO_X = os.path.join(ROOT, "models", "demo", "sample_input.npy")


def run_cli(*args, check=True, timeout=600):
    p = subprocess.run([CLI, *args], capture_output=True, text=True, timeout=timeout)
    if check and p.returncode != 0:
        raise AssertionError(f"stgcn {' '.join(args)} failed ({p.returncode}):\n{p.stderr}")
    return p


class Server:
    """`stgcn serve` on ephemeral ports; `stop()` sends SIGTERM and returns the exit code."""

    def __init__(self, *args, env=None, wait_ready=True):
        self.dir = tempfile.mkdtemp(prefix="stgcn-serve-")
        self.port_file = os.path.join(self.dir, "ports.json")
        self.log_path = os.path.join(self.dir, "server.log")
        self.log = open(self.log_path, "w")
        full_env = dict(os.environ)
        full_env.update(env or {})
        self.proc = subprocess.Popen(
            [CLI, "serve", "--http-port", "0", "--grpc-port", "0", "--port-file", self.port_file,
             *args], stdout=self.log, stderr=subprocess.STDOUT, env=full_env)
        deadline = time.time() + 300
        while not os.path.exists(self.port_file):
            if self.proc.poll() is not None:
                raise AssertionError(f"stgcn serve exited {self.proc.returncode}:\n{self.output()}")
            if time.time() > deadline:
                raise AssertionError("stgcn serve did not start listening:\n" + self.output())
            time.sleep(0.05)
        ports = json.load(open(self.port_file))
        self.http_port, self.grpc_port = ports["http"], ports["grpc"]
        self.http_url = f"127.0.0.1:{self.http_port}"
        self.grpc_url = f"127.0.0.1:{self.grpc_port}"
        if wait_ready:
            self.wait_ready()

    def wait_ready(self, timeout=300):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"stgcn serve exited {self.proc.returncode}:\n{self.output()}")
            try:
                with urllib.request.urlopen(f"http://{self.http_url}/v2/health/ready", timeout=2) as r:
                    if r.status == 200:
                        return
            except Exception:
                pass
            time.sleep(0.1)
        raise AssertionError("stgcn serve never became ready:\n" + self.output())

    def output(self):
        self.log.flush()
        return open(self.log_path).read()

    def stop(self, sig=signal.SIGTERM, timeout=60):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError("stgcn serve did not stop after SIGTERM:\n" + self.output())
        return self.proc.returncode


@pytest.fixture(scope="session")
def workdir():
    with tempfile.TemporaryDirectory(prefix="stgcn-serve-tests-") as d:
        yield d


@pytest.fixture(scope="session")
def demo_engine(workdir):
    """The demo model as an FP32 engine (T=150, M=1, batch 8)."""
    path = os.path.join(workdir, "demo.engine")
    run_cli("build", DEMO, "--T", "150", "--M", "1", "--batch", "8", "-o", path)
    return path


@pytest.fixture(scope="session")
def demo_x():
    return np.ascontiguousarray(np.load(DEMO_X), dtype=np.float32)


@pytest.fixture(scope="session")
def expected_logits(workdir, demo_engine, demo_x):
    """`stgcn infer` on the engine: what every window answer must equal."""
    x = os.path.join(workdir, "x.npy")
    y = os.path.join(workdir, "y.npy")
    np.save(x, demo_x)
    run_cli("infer", demo_engine, "-i", x, "-o", y)
    return np.load(y)


@pytest.fixture(scope="session")
def server(demo_engine):
    s = Server("--model", f"demo={demo_engine}", "--max-queue-delay-us", "3000")
    yield s
    assert s.stop() == 0, s.output()
