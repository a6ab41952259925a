#!/usr/bin/env python3
"""Generates the test fixtures into OUT_DIR unless they are already up to date.

The fixtures depend only on the generator's sources; a stamp file holds their
hash. Generation goes to a temporary directory that is renamed into place, so
an interrupted run never leaves half a fixture set behind.
"""
import hashlib
import pathlib
import shutil
import subprocess
import sys
import time

HERE = pathlib.Path(__file__).resolve().parent


def sources_hash() -> str:
    h = hashlib.sha256()
    for p in sorted([HERE / "gen_fixtures.py", HERE / "gen_mm_fixtures.py",
                     *sorted((HERE / "stgcn_ref").glob("*.py"))]):
        h.update(p.name.encode())
        h.update(p.read_bytes())
    return h.hexdigest()


# What the generator imports, and the Debian package (or PyPI requirement) that provides it.
NEEDS = [("numpy", "python3-numpy"), ("torch", "python3-torch"), ("onnx", "python3-onnx"),
         ("onnxruntime", "onnxruntime from python/requirements.txt")]


def check_imports() -> bool:
    """One line per missing module, naming what provides it (scripts/setup.sh installs all)."""
    ok = True
    for module, provider in NEEDS:
        try:
            __import__(module)
        except ImportError as e:
            print(f"stgcn-rt: missing Python module {module} ({e}): install {provider} "
                  "(bash scripts/setup.sh installs everything)", file=sys.stderr)
            ok = False
    return ok


def main() -> int:
    if len(sys.argv) != 2:
        print("usage: ensure_fixtures.py OUT_DIR", file=sys.stderr)
        return 2
    out = pathlib.Path(sys.argv[1])
    stamp = out / ".stamp"
    digest = sources_hash()
    if stamp.exists() and stamp.read_text().strip() == digest and (out / "manifest.json").exists():
        print(f"fixtures up to date in {out}")
        return 0
    if not check_imports():
        return 1
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    start = time.time()
    subprocess.run([sys.executable, str(HERE / "gen_fixtures.py"), str(tmp)], check=True)
    (tmp / ".stamp").write_text(digest + "\n")
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    print(f"fixtures generated in {out} in {time.time() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
