"""Shared fixtures of the `stgcn` package tests (run by ctest as PythonPackage.Pytest with
PYTHONPATH=build/python, or by hand: PYTHONPATH=build/python .venv/bin/python -m pytest
python/tests_pkg)."""
import os
import subprocess

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEMO = os.path.join(ROOT, "models", "demo", "stgcn_demo.pt")
DEMO_X = os.path.join(ROOT, "models", "demo", "sample_input.npy")
DEMO_Y = os.path.join(ROOT, "models", "demo", "sample_logits.npy")
STGCNPP = os.path.join(ROOT, "models", "trained", "stgcnpp", "stgcnpp_actions.pth")
STGCNPP_X = os.path.join(ROOT, "models", "trained", "stgcnpp", "test_input.npy")
CLI = os.environ.get("STGCN_CLI", os.path.join(ROOT, "build", "stgcn"))


@pytest.fixture(scope="session")
def stgcn():
    import stgcn as module
    return module


@pytest.fixture(scope="session")
def demo(stgcn):
    return stgcn.load(DEMO)


@pytest.fixture(scope="session")
def demo_x():
    return np.ascontiguousarray(np.load(DEMO_X), dtype=np.float32)


@pytest.fixture(scope="session")
def demo_engine(demo):
    return demo.build("fp32", T=150, M=1, batch=2)


def cli(*args, check=True):
    """Runs the stgcn CLI; returns (exit code, stdout, stderr)."""
    r = subprocess.run([CLI, *args], capture_output=True, text=True)
    if check and r.returncode != 0:
        raise AssertionError(f"stgcn {' '.join(args)} failed: {r.stderr}")
    return r.returncode, r.stdout, r.stderr


def cli_error(*args):
    """The one-line message the CLI prints for a failing command ("stgcn: error: ...")."""
    code, _, err = cli(*args, check=False)
    assert code != 0, args
    line = err.strip().splitlines()[-1]
    prefix = "stgcn: error: "
    assert line.startswith(prefix), err
    return line[len(prefix):]
