#!/usr/bin/env python3
"""The layering of docs/architecture.md, enforced: which area of src/ may include which,
where the third-party libraries may be included, which internal headers the CLI, the tests
and the fuzzers may use, and the 800-line budget of src/, include/, tools/ and python/bindings/.

Usage: check_layering.py [REPO_ROOT]   (exit 1 and one line per violation)
"""
import os
import re
import sys

# Internal areas each area of src/ may include ("area" = every header of it, "area/x.h" =
# that header only). Public headers (stgcn/*.h) are open to everyone.
ALLOWED = {
    "core": {"core"},
    "io": {"core", "io"},
    "model": {"core", "io", "model"},
    "ref": {"core", "model"},
    "onnx": {"core", "io", "model", "onnx"},
    "ir": {"core", "model", "ir"},
    "passes": {"core", "model", "ir", "passes"},
    "backends": {"core", "io", "model", "ir", "passes", "backends"},
    # The seam: only the backend interface and the registry, never a backend's own headers.
    "quant": {"core", "model", "ir", "passes", "quant", "backends/backend.h",
              "backends/registry.h"},
    "engine": {"core", "io", "model", "ir", "passes", "quant", "engine",
               "backends/backend.h", "backends/registry.h"},
    "frontend": {"core"},
    "runtime": {"core", "io", "model", "runtime", "backends/backend.h",
                "engine/engine_internal.h"},
    "sources": {"core", "io", "sources"},
    # The server: the public API (engines, StreamRuntime) under the KServe v2 frontends.
    "serve": {"core", "serve"},
}

# Third-party headers and the only areas that may include them.
LIBRARIES = {
    r"oneapi/dnnl": {"backends"},
    r"onnx/|google/protobuf": {"onnx", "serve"},
    r"^grpcpp/|^grpc/|^httplib\.h$": {"serve"},
    r"openssl/": {"io"},
    r"zip\.h$": {"io"},
}

# The documented internal header(s) of each area that the tests and fuzzers may use.
TEST_HEADERS = {
    "core/float16.h", "io/files.h", "io/pickle.h", "io/sha256.h", "ir/ir.h",
    "ir/from_model.h", "passes/passes.h", "passes/memory_plan.h", "quant/calibrate.h",
    "backends/backend.h", "backends/registry.h", "backends/cpu/cpu_backend.h",
    "backends/cpu/kernels.h", "engine/engine_file.h", "engine/engine_internal.h",
    "onnx/export_builder.h", "runtime/continual.h",
    "serve/types.h", "serve/core.h", "serve/metrics.h", "serve/server_core.h",
    "serve/http_codec.h", "serve/grpc_convert.h", "serve/window_batcher.h", "serve/sequences.h",
    "serve/http_server.h", "serve/grpc_server.h",
}
# The CLI, the Python bindings and the examples: the public API, plus the output-file helper.
TOOL_HEADERS = {"io/files.h", "serve/server_core.h", "serve/http_server.h",
                "serve/grpc_server.h"}

LINE_BUDGET = 800
INCLUDE = re.compile(r'^\s*#\s*include\s*([<"])([^>"]+)[>"]', re.M)


def area_of(rel):
    parts = rel.split("/")
    return parts[1] if len(parts) > 2 else None


def allowed(header, rules):
    return any(header == r or header.startswith(r + "/") for r in rules)


def main(root):
    bad = []
    areas = set(ALLOWED)
    for top in ("src", "include", "tools", "python/bindings", "tests", "fuzz", "bench",
                "examples"):
        for dirpath, _, files in os.walk(os.path.join(root, top)):
            for f in files:
                if not f.endswith((".cpp", ".h", ".inc")):
                    continue
                path = os.path.join(dirpath, f)
                rel = os.path.relpath(path, root).replace(os.sep, "/")
                text = open(path, encoding="utf-8", errors="replace").read()
                if top in ("src", "include", "tools", "python/bindings") and \
                        text.count("\n") > LINE_BUDGET:
                    bad.append(f"{rel}: {text.count(chr(10))} lines (budget {LINE_BUDGET})")
                for kind, header in INCLUDE.findall(text):
                    first = header.split("/")[0]
                    for lib, where in LIBRARIES.items():
                        if top in ("tests", "fuzz", "bench"):
                            continue  # tests may use any library to make or read their data
                        if re.search(lib, header) and (top != "src" or area_of(rel) not in where):
                            bad.append(f"{rel}: includes <{header}>, allowed only in "
                                       f"src/{'|'.join(sorted(where))}")
                    if kind != '"' or first not in areas or first == "stgcn":
                        continue
                    if top == "src":
                        a = area_of(rel)
                        if a and not allowed(header, ALLOWED.get(a, {a})):
                            bad.append(f"{rel}: area '{a}' includes \"{header}\"")
                    elif top in ("tests", "fuzz", "bench"):
                        if os.path.exists(os.path.join(root, "tests", header)):
                            continue  # the tests' own helpers
                        if header not in TEST_HEADERS:
                            bad.append(f"{rel}: includes the internal \"{header}\" (not a "
                                       "documented internal header)")
                    elif top in ("tools", "python/bindings", "examples", "include"):
                        if header not in TOOL_HEADERS:
                            bad.append(f"{rel}: includes the internal \"{header}\"")
    for line in bad:
        print(f"layering: {line}")
    print(f"layering: {'FAILED' if bad else 'ok'} ({len(bad)} violations)")
    return 1 if bad else 0


def self_test():
    """The checker finds what it must: a pass reaching into a backend, oneDNN outside
    backends/, a CLI using an internal header, an over-long file."""
    import tempfile
    with tempfile.TemporaryDirectory() as d:
        def put(rel, text):
            os.makedirs(os.path.dirname(os.path.join(d, rel)), exist_ok=True)
            open(os.path.join(d, rel), "w").write(text)
        put("src/passes/p.cpp", '#include "backends/cpu/cpu_backend.h"\n')
        put("src/engine/e.cpp", '#include "backends/backend.h"\n#include <oneapi/dnnl/dnnl.hpp>\n')
        put("src/ir/i.cpp", '#include "passes/passes.h"\n')
        put("tools/t.cpp", '#include "engine/engine_file.h"\n')
        put("src/core/long.cpp", "\n" * 801)
        put("src/backends/cpu/ok.cpp", '#include <oneapi/dnnl/dnnl.hpp>\n#include "ir/ir.h"\n')
        import io
        import contextlib
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            rc = main(d)
        found = out.getvalue()
        want = ["src/passes/p.cpp", "src/engine/e.cpp: includes <oneapi", "src/ir/i.cpp",
                "tools/t.cpp", "src/core/long.cpp", "(5 violations)"]
        missing = [w for w in want if w not in found]
        if rc != 1 or missing or "ok.cpp" in found:
            print(found + f"layering self-test: FAILED (missing {missing})")
            return 1
    print("layering self-test: ok")
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--self-test":
        sys.exit(self_test())
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else
                  os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")))
