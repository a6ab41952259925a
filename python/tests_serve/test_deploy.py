"""Checks of the deployment files in deploy/ (docs/serving.md, "Deploying") against each other,
the `stgcn serve` CLI, the server's routes and metrics, and docs/serving.md.

    .venv/bin/python -m pytest -q python/tests_serve/test_deploy.py

The manifests are parsed with PyYAML (Debian's python3-yaml; the venv sees it). The CLI is
$STGCN_CLI or build/stgcn: checks that need it skip when it does not exist. The last tests
start the server with the exact flags of each manifest (ports and model path swapped for local
ones) and check the probe routes, /metrics and the SIGTERM drain.
"""
import json
import os
import re
import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.request

import pytest
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEPLOY = os.path.join(ROOT, "deploy")
DOCKERFILE = os.path.join(DEPLOY, "Dockerfile")
SERVING_MD = os.path.join(ROOT, "docs", "serving.md")
DEMO_PT = os.path.join(ROOT, "models", "demo", "stgcn_demo.pt")
CLI = os.environ.get("STGCN_CLI", os.path.join(ROOT, "build", "stgcn"))

# `stgcn serve` as specified (the CLI help is checked too when the binary exists).
DOCUMENTED_FLAGS = {
    "--model", "--model-repository", "--host", "--http-port", "--grpc-port", "--T", "--M",
    "--batch", "--precision", "--calib", "--max-batch", "--max-queue-delay-us",
    "--queue-capacity", "--max-sequences", "--sequence-timeout", "--workers", "--threads",
    "--http-threads", "--max-request-bytes", "--token-file", "--tls-cert", "--tls-key",
    "--drain-timeout", "--port-file",
}
DEFAULT_HTTP_PORT, DEFAULT_GRPC_PORT, DEFAULT_DRAIN_S = 8000, 8001, 30
READY, LIVE, METRICS = "/v2/health/ready", "/v2/health/live", "/metrics"
# The server's metric names as specified; used only while src/serve/*.cpp does not name them.
DOCUMENTED_METRICS = {
    "stgcn_queue_depth", "stgcn_live_sequences", "stgcn_requests_total",
    "stgcn_request_duration_seconds",
}

KINDS = {  # kind -> apiVersion
    "Deployment": "apps/v1",
    "Service": "v1",
    "ConfigMap": "v1",
    "HorizontalPodAutoscaler": "autoscaling/v2",
    "DestinationRule": "networking.istio.io/v1beta1",
    "Kustomization": "kustomize.config.k8s.io/v1beta1",
    "InferenceService": "serving.kserve.io/v1beta1",
}
EXPECTED_FILES = {  # file under deploy/ -> kinds in it, in order
    "k8s/deployment.yaml": ["Deployment"],
    "k8s/service.yaml": ["Service"],
    "k8s/hpa.yaml": ["HorizontalPodAutoscaler"],
    "k8s/destinationrule.yaml": ["DestinationRule"],
    "k8s/prometheus-adapter-rules.yaml": ["ConfigMap"],
    "k8s/kustomization.yaml": ["Kustomization"],
    "kserve/inferenceservice.yaml": ["InferenceService", "InferenceService"],
}
# Build dependencies cmake/ names that the CLI build does not need.
NOT_FOR_CLI = {"libgtest-dev", "libgmock-dev", "libomp-dev", "libclang-rt-14-dev"}
# What the server adds to the build (gRPC, protoc's gRPC plugin, cpp-httplib).
SERVER_BUILD_PACKAGES = {"libgrpc++-dev", "protobuf-compiler-grpc", "libcpp-httplib-dev"}


# ---- loading ---------------------------------------------------------------------------------

def yaml_files():
    out = []
    for d, _, files in os.walk(DEPLOY):
        for f in files:
            if f.endswith((".yaml", ".yml")):
                out.append(os.path.relpath(os.path.join(d, f), DEPLOY))
    return sorted(out)


def load(rel):
    with open(os.path.join(DEPLOY, rel)) as f:
        return [d for d in yaml.safe_load_all(f) if d is not None]


def one(rel, kind):
    docs = [d for d in load(rel) if d.get("kind") == kind]
    assert len(docs) == 1, f"{rel}: expected one {kind}, found {len(docs)}"
    return docs[0]


def dockerfile_instructions():
    """(INSTRUCTION, arguments) per instruction: continuations joined, comments dropped."""
    with open(DOCKERFILE) as f:
        lines = f.read().splitlines()
    out, cur = [], ""
    for line in lines:
        s = line.strip()
        if not cur and (not s or s.startswith("#")):
            continue
        if cur and s.startswith("#"):  # a comment line inside a continued instruction
            continue
        if s.endswith("\\"):
            cur += s[:-1] + " "
            continue
        cur += s
        word, _, rest = cur.partition(" ")
        out.append((word.upper(), rest.strip()))
        cur = ""
    assert not cur, "Dockerfile ends inside a continued line"
    return out


def dockerfile_stages():
    stages = []
    for ins, rest in dockerfile_instructions():
        if ins == "FROM":
            stages.append({"from": rest, "ins": []})
        elif stages:
            stages[-1]["ins"].append((ins, rest))
    return stages


def json_form(ins):
    """The JSON-array (exec) form of the last ENTRYPOINT / CMD of the final stage."""
    found = [rest for i, rest in dockerfile_stages()[-1]["ins"] if i == ins]
    assert found, f"the runtime stage has no {ins}"
    value = json.loads(found[-1])
    assert isinstance(value, list) and all(isinstance(x, str) for x in value), \
        f"{ins} must be a JSON array of strings"
    return value


def apt_installed(stage):
    """Packages passed to `apt-get install` in a stage."""
    pkgs = []
    for ins, rest in stage["ins"]:
        if ins != "RUN":
            continue
        for cmd in re.split(r"&&|;|\|\|", rest):
            words = cmd.split()
            if "apt-get" in words and "install" in words:
                after = words[words.index("install") + 1:]
                pkgs += [w for w in after if not w.startswith("-")]
    return pkgs


def containers(pod_spec):
    return pod_spec["containers"]


def deployment():
    return one("k8s/deployment.yaml", "Deployment")


def inference_services():
    return [d for d in load("kserve/inferenceservice.yaml") if d.get("kind") == "InferenceService"]


def isvc_container(isvc):
    cs = containers(isvc["spec"]["predictor"])
    named = [c for c in cs if c.get("name") == "kserve-container"]
    return named[0] if named else cs[0]


def serve_invocations():
    """(label, argv after `stgcn serve`) of every place that starts the server."""
    out = [("Dockerfile CMD", json_form("CMD"))]
    d = deployment()
    for c in containers(d["spec"]["template"]["spec"]):
        assert c.get("command") in (None, ["stgcn", "serve"]), \
            "the Deployment should use the image's ENTRYPOINT (stgcn serve)"
        out.append((f"Deployment {d['metadata']['name']}/{c['name']}",
                    [str(a) for a in c.get("args") or []]))
    for isvc in inference_services():
        c = isvc_container(isvc)
        assert c.get("command") in (None, ["stgcn", "serve"]), \
            "the InferenceService should use the image's ENTRYPOINT (stgcn serve)"
        out.append((f"InferenceService {isvc['metadata']['name']}",
                    [str(a) for a in c.get("args") or []]))
    return out


def invocation_labels():
    """For parametrize: a broken manifest fails the tests above, not the collection."""
    try:
        return [label for label, _ in serve_invocations()]
    except Exception:  # noqa: BLE001
        return ["(manifests do not parse)"]


def flag_names(argv):
    return [a.split("=", 1)[0] for a in argv if a.startswith("--")]


def flag_value(argv, flag, default=None):
    """The last value given for `flag` (`--f V` or `--f=V`)."""
    value = default
    for i, a in enumerate(argv):
        if a == flag and i + 1 < len(argv):
            value = argv[i + 1]
        elif a.startswith(flag + "="):
            value = a.split("=", 1)[1]
    return value


def ports_of(argv):
    return (int(flag_value(argv, "--http-port", DEFAULT_HTTP_PORT)),
            int(flag_value(argv, "--grpc-port", DEFAULT_GRPC_PORT)))


def serving_md():
    if not os.path.exists(SERVING_MD):
        pytest.fail("docs/serving.md is missing")
    with open(SERVING_MD) as f:
        return f.read()


def section(md, heading):
    """The text under a `#`-heading up to the next heading of the same or a higher level."""
    m = re.search(r"^(#+) " + re.escape(heading) + r"\s*$", md, re.M)
    assert m, f"docs/serving.md has no heading '{heading}'"
    level = len(m.group(1))
    nxt = re.search(r"^#{1,%d} " % level, md[m.end():], re.M)
    return md[m.end():m.end() + nxt.start()] if nxt else md[m.end():]


def cli_exists():
    return os.path.isfile(CLI) and os.access(CLI, os.X_OK)


def serve_help():
    if not cli_exists():
        pytest.skip(f"no stgcn CLI at {CLI} (build it, or set STGCN_CLI)")
    r = subprocess.run([CLI, "serve", "--help"], capture_output=True, text=True, timeout=60)
    text = r.stdout + r.stderr
    assert r.returncode == 0, f"`{CLI} serve --help` failed ({r.returncode}): {r.stderr.strip()}"
    # CLI11 prints the main help for an unknown subcommand followed by --help.
    assert re.search(r"^Usage:.*\bserve\b", text, re.M), \
        f"{CLI} has no `serve` subcommand (`serve --help` printed the main help)"
    return text


def server_metric_names():
    """Metric names quoted in src/serve/*.cpp; the documented list while the source lacks them."""
    d = os.path.join(ROOT, "src", "serve")
    names = set()
    if os.path.isdir(d):
        for f in sorted(os.listdir(d)):
            if f.endswith(".cpp"):
                with open(os.path.join(d, f), errors="replace") as fh:
                    names |= set(re.findall(r'"(stgcn_[a-z0-9_]+)', fh.read()))
    # Fallback (the server's source does not name its metrics yet): the list from the design.
    return names or set(DOCUMENTED_METRICS)


# ---- manifests -------------------------------------------------------------------------------

def test_every_yaml_parses_with_known_kinds():
    assert sorted(EXPECTED_FILES) == yaml_files(), "deploy/ YAML files changed: update the test"
    for rel, kinds in EXPECTED_FILES.items():
        docs = load(rel)
        assert [d.get("kind") for d in docs] == kinds, rel
        for d in docs:
            assert d.get("apiVersion") == KINDS[d["kind"]], f"{rel}: {d['kind']} apiVersion"
            if d["kind"] != "Kustomization":
                assert d.get("metadata", {}).get("name"), f"{rel}: {d['kind']} without a name"


def test_kustomization_lists_the_manifests():
    k = one("k8s/kustomization.yaml", "Kustomization")
    listed = k.get("resources") or []
    for r in listed:
        assert os.path.isfile(os.path.join(DEPLOY, "k8s", r)), f"kustomization lists missing {r}"
    # The adapter rule belongs to prometheus-adapter's installation, not to this app.
    expected = {f[len("k8s/"):] for f in EXPECTED_FILES if f.startswith("k8s/")} - {
        "kustomization.yaml", "prometheus-adapter-rules.yaml"}
    assert set(listed) == expected
    images = {c["image"].split(":")[0] for c in containers(deployment()["spec"]["template"]["spec"])}
    for img in k.get("images") or []:
        assert img["name"] in images, f"kustomization image {img['name']} is not used"


def test_serve_flags_are_documented():
    for label, argv in serve_invocations():
        assert argv, f"{label}: no arguments"
        unknown = sorted(set(flag_names(argv)) - DOCUMENTED_FLAGS)
        assert not unknown, f"{label}: flags not in the `stgcn serve` spec: {unknown}"
        assert flag_value(argv, "--host") == "0.0.0.0", f"{label}: must listen on 0.0.0.0"
        assert flag_value(argv, "--precision", "fp32") in {"fp32", "bf16", "fp16", "int8"}
        http, grpc = ports_of(argv)
        assert http > 0 or grpc > 0, f"{label}: both ports disabled"
        assert flag_value(argv, "--model-repository") or flag_value(argv, "--model"), \
            f"{label}: no model"


def test_serve_flags_exist_in_cli_help():
    text = serve_help()
    known = set(re.findall(r"(?<![\w-])(--[A-Za-z0-9][A-Za-z0-9-]*)", text))
    for label, argv in serve_invocations():
        unknown = sorted(set(flag_names(argv)) - known)
        assert not unknown, f"{label}: `stgcn serve --help` does not list {unknown}"


def test_dockerfile():
    stages = dockerfile_stages()
    assert len(stages) >= 2, "the Dockerfile must be multi-stage"
    # FROM may name an ARG declared before the first FROM: resolve its default.
    with open(DOCKERFILE) as f:
        text = f.read()
    args = dict(re.findall(r"^ARG (\w+)=(\S+)", text[:text.index("\nFROM ")], re.M))
    for s in stages:
        image = re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: args.get(m.group(1) or m.group(2), ""),
                       s["from"].split()[0])
        assert re.fullmatch(r"debian:(12|bookworm)(-slim)?", image), f"FROM {image}: not Debian 12"
    runtime = stages[-1]
    users = [rest for ins, rest in runtime["ins"] if ins == "USER"]
    assert users, "the runtime stage sets no USER"
    user = users[-1].split(":")[0]
    assert user not in ("0", "root"), "the runtime stage runs as root"
    assert user.isdigit(), "a numeric USER lets Kubernetes' runAsNonRoot verify it"
    dev = [p for p in apt_installed(runtime) if p.endswith("-dev") or p.endswith("-dev:amd64")]
    assert not dev, f"the runtime stage installs development packages: {dev}"
    assert json_form("ENTRYPOINT") == ["stgcn", "serve"]
    exposed = {int(p.split("/")[0]) for ins, rest in runtime["ins"] if ins == "EXPOSE"
               for p in rest.split()}
    assert set(ports_of(json_form("CMD"))) - {-1} <= exposed


def test_dockerfile_build_stage_installs_the_build_dependencies():
    cmake = ""
    for name in ("StgcnDependencies.cmake", "StgcnServe.cmake"):  # what the CLI build includes
        path = os.path.join(ROOT, "cmake", name)
        if os.path.exists(path):
            with open(path) as f:
                cmake += f.read()
    required = set(re.findall(r"^\s*stgcn_require(?:_pkgconfig)?\((\S+)", cmake, re.M))
    required |= set(re.findall(r'stgcn_missing\("[^"]*" "([^"$]+)"\)', cmake))
    required = (required - NOT_FOR_CLI) | SERVER_BUILD_PACKAGES
    installed = set()
    for s in dockerfile_stages()[:-1]:
        installed |= set(apt_installed(s))
    missing = sorted(required - installed)
    assert not missing, f"the build stage does not install {missing}"


def test_runtime_packages_provide_the_cli_libraries():
    """Every shared library the built CLI loads comes from a package the runtime stage installs,
    one they depend on, or one every Debian image has (Priority required)."""
    if not cli_exists():
        pytest.skip(f"no stgcn CLI at {CLI}")
    if not (shutil.which("ldd") and shutil.which("dpkg") and shutil.which("apt-cache")):
        pytest.skip("needs ldd, dpkg and apt-cache (a Debian host)")
    r = subprocess.run(["ldd", CLI], capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"ldd cannot read {CLI}: {r.stdout.strip() or r.stderr.strip()}")
    ldd = r.stdout
    # The sanitizer runtimes appear only in the ASan build of the CLI (scripts/test.sh), never
    # in the image's Release build.
    libs = [lib for lib in re.findall(r"=>\s+(/\S+)", ldd)
            if not re.search(r"/lib(asan|ubsan|lsan|tsan)\.so", lib)]
    runtime = apt_installed(dockerfile_stages()[-1])
    closure = set(runtime)
    deps = subprocess.run(
        ["apt-cache", "depends", "--recurse", "--no-recommends", "--no-suggests",
         "--no-conflicts", "--no-breaks", "--no-replaces", "--no-enhances"] + runtime,
        capture_output=True, text=True)
    for line in deps.stdout.splitlines():
        m = re.match(r"^\s*(?:\|)?(?:Pre)?Depends:\s+<?([^\s>:]+)", line) or \
            re.match(r"^([a-z0-9][a-z0-9.+-]+)(?::\w+)?$", line)
        if m:
            closure.add(m.group(1))
    problems = []
    for lib in libs:
        owner = None
        for path in (lib, os.path.realpath(lib)):
            r = subprocess.run(["dpkg", "-S", path], capture_output=True, text=True)
            if r.returncode == 0:
                owner = r.stdout.split(":")[0].strip()
                break
        if owner is None:
            problems.append(f"{lib}: no Debian package owns it")
            continue
        if owner in closure:
            continue
        prio = subprocess.run(["dpkg-query", "-W", "-f=${Priority}", owner],
                              capture_output=True, text=True).stdout.strip()
        if prio != "required":
            problems.append(f"{lib}: from {owner}, which the runtime stage does not install")
    assert not problems, "\n".join(problems)


def test_deployment_ports_probes_and_metrics():
    d = deployment()
    pod = d["spec"]["template"]
    assert d["spec"]["selector"]["matchLabels"].items() <= pod["metadata"]["labels"].items()
    (c,) = containers(pod["spec"])
    argv = dict(serve_invocations())[f"Deployment {d['metadata']['name']}/{c['name']}"]
    http, grpc = ports_of(argv)
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    assert ports == {"http": http, "grpc": grpc}

    def probe_port(probe):
        port = probe["httpGet"]["port"]
        return ports[port] if isinstance(port, str) else port

    assert c["readinessProbe"]["httpGet"]["path"] == READY
    assert c["livenessProbe"]["httpGet"]["path"] == LIVE
    assert probe_port(c["readinessProbe"]) == http
    assert probe_port(c["livenessProbe"]) == http
    ann = pod["metadata"].get("annotations", {})
    assert ann.get("prometheus.io/scrape") == "true"
    assert int(ann.get("prometheus.io/port")) == http
    assert ann.get("prometheus.io/path", METRICS) == METRICS


def test_deployment_drain_and_security():
    d = deployment()
    spec = d["spec"]["template"]["spec"]
    (c,) = containers(spec)
    argv = [str(a) for a in c["args"]]
    drain = float(flag_value(argv, "--drain-timeout", DEFAULT_DRAIN_S))
    pre_stop = 0.0
    cmd = c.get("lifecycle", {}).get("preStop", {}).get("exec", {}).get("command", [])
    if len(cmd) == 2 and cmd[0] == "sleep":
        pre_stop = float(cmd[1])
    grace = spec.get("terminationGracePeriodSeconds", 30)
    assert grace > drain + pre_stop, \
        f"terminationGracePeriodSeconds {grace} <= preStop {pre_stop} + --drain-timeout {drain}"
    pod_sc, c_sc = spec.get("securityContext", {}), c.get("securityContext", {})
    assert c_sc.get("runAsNonRoot", pod_sc.get("runAsNonRoot")) is True
    assert c_sc.get("runAsUser", pod_sc.get("runAsUser", 10001)) != 0
    assert c_sc.get("allowPrivilegeEscalation") is False


def test_service_ports():
    svc = one("k8s/service.yaml", "Service")
    assert svc["spec"].get("type", "ClusterIP") == "ClusterIP"
    pod = deployment()["spec"]["template"]
    assert svc["spec"]["selector"].items() <= pod["metadata"]["labels"].items()
    (c,) = containers(pod["spec"])
    container_ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    names = {p["name"] for p in svc["spec"]["ports"]}
    assert names == {"http", "grpc"}, "Istio picks HTTP/2 for gRPC from the port name `grpc`"
    for p in svc["spec"]["ports"]:
        target = p.get("targetPort", p["port"])
        target = container_ports[target] if isinstance(target, str) else target
        assert target == container_ports[p["name"]], f"Service port {p['name']}"


def test_hpa_scales_on_a_server_metric():
    hpa = one("k8s/hpa.yaml", "HorizontalPodAutoscaler")
    d = deployment()
    ref = hpa["spec"]["scaleTargetRef"]
    assert (ref["apiVersion"], ref["kind"], ref["name"]) == ("apps/v1", "Deployment",
                                                             d["metadata"]["name"])
    assert 1 <= hpa["spec"].get("minReplicas", 1) <= hpa["spec"]["maxReplicas"]
    (m,) = hpa["spec"]["metrics"]
    assert m["type"] == "Pods"
    name = m["pods"]["metric"]["name"]
    assert name == "stgcn_queue_depth"
    assert m["pods"]["target"]["type"] == "AverageValue"
    assert name in server_metric_names(), f"the server exports no metric {name}"
    # prometheus-adapter must expose it under the same name.
    cm = one("k8s/prometheus-adapter-rules.yaml", "ConfigMap")
    rules = yaml.safe_load(cm["data"]["config.yaml"])["rules"]
    exposed = [r for r in rules if r.get("name", {}).get("as") == name]
    assert len(exposed) == 1, f"no prometheus-adapter rule exposes {name}"
    rule = exposed[0]
    assert rule["seriesQuery"].startswith(name + "{")
    assert re.fullmatch(rule["name"]["matches"], name)
    assert {"namespace", "pod"} <= set(rule["resources"]["overrides"])
    assert "<<.Series>>" in rule["metricsQuery"] and "<<.GroupBy>>" in rule["metricsQuery"]


def test_destinationrule_header_is_the_documented_one():
    dr = one("k8s/destinationrule.yaml", "DestinationRule")
    svc = one("k8s/service.yaml", "Service")
    host = dr["spec"]["host"]
    assert host == svc["metadata"]["name"] or host.startswith(svc["metadata"]["name"] + ".")
    header = dr["spec"]["trafficPolicy"]["loadBalancer"]["consistentHash"]["httpHeaderName"]
    assert header == header.lower(), "gRPC metadata keys are lower case"
    text = section(serving_md(), "Sequence affinity")
    named = set(re.findall(r"`(x-[a-z0-9-]+)`", text)) | \
        set(re.findall(r"""["'](x-[a-z0-9-]+)["']""", text))
    assert named == {header}, f"docs/serving.md names {sorted(named)}, the DestinationRule {header}"


def test_inferenceservices():
    isvcs = inference_services()
    seen_ports = set()
    for isvc in isvcs:
        name = isvc["metadata"]["name"]
        pred = isvc["spec"]["predictor"]
        c = isvc_container(isvc)
        assert c["name"] == "kserve-container"
        env = {e["name"]: e.get("value") for e in c.get("env", [])}
        assert env.get("PROTOCOL") == "v2", f"{name}: custom predictors say v2 with PROTOCOL"
        argv = dict(serve_invocations())[f"InferenceService {name}"]
        http, grpc = ports_of(argv)
        # Knative serves the first container port; `h2c` marks it HTTP/2 (gRPC).
        (port,) = c["ports"]
        if port.get("name") == "h2c":
            assert port["containerPort"] == grpc > 0, f"{name}: h2c port != --grpc-port"
        else:
            assert port["containerPort"] == http > 0, f"{name}: first port != --http-port"
        seen_ports.add(port.get("name", "http"))
        for probe, path in (("readinessProbe", READY), ("livenessProbe", LIVE)):
            if probe in c:
                assert c[probe]["httpGet"]["path"] == path
                assert c[probe]["httpGet"].get("port", port["containerPort"]) == \
                    port["containerPort"], "Knative probes only the serving port"
                assert port.get("name") != "h2c", f"{name}: HTTP probe on the gRPC port"
        assert 1 <= pred["minReplicas"] <= pred["maxReplicas"]
        assert pred["scaleMetric"] in {"concurrency", "rps", "cpu", "memory"}
        assert pred["scaleTarget"] > 0
        ann = isvc["metadata"].get("annotations", {})
        if ann.get("serving.kserve.io/enable-prometheus-scraping") == "true":
            assert int(ann["prometheus.kserve.io/port"]) == http > 0
            assert ann.get("prometheus.kserve.io/path", METRICS) == METRICS
    assert seen_ports == {"http", "h2c"}, "one InferenceService per protocol"


def test_serving_md_deploying_section():
    md = serving_md()
    assert re.search(r"^## Deploying\s*$", md, re.M)
    deploying = section(md, "Deploying")
    for heading in ("Docker", "Kubernetes", "KServe", "Sequence affinity", "When a replica dies"):
        section(deploying, heading)
    assert "docker build -f deploy/Dockerfile -t stgcn-serve ." in deploying
    dies = section(deploying, "When a replica dies")
    for word in ("sequence_start", "400", "INVALID_ARGUMENT"):
        assert word in dies, f"'When a replica dies' does not mention {word}"


# ---- the server started with each manifest's flags -------------------------------------------

def http_get(port, path, timeout=5):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=timeout) as r:
            return r.status, r.read().decode(errors="replace")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(errors="replace")


def local_argv(argv, repo, port_file):
    """The manifest's flags with local ports (0: any free one), host and model repository."""
    out = list(argv)
    for i, a in enumerate(out[:-1]):
        if a == "--host":
            out[i + 1] = "127.0.0.1"
        elif a in ("--http-port", "--grpc-port") and out[i + 1] != "-1":
            out[i + 1] = "0"
        elif a == "--model-repository":
            out[i + 1] = repo
    return out + ["--port-file", port_file]


@pytest.mark.parametrize("label", invocation_labels())
def test_server_starts_with_the_manifest_flags(label, tmp_path):
    serve_help()  # skips without the CLI
    argv = dict(serve_invocations())[label]
    if flag_value(argv, "--model-repository") != "/models":
        pytest.skip(f"{label}: serves something other than the image's /models")
    repo = tmp_path / "models"
    repo.mkdir()
    shutil.copyfile(DEMO_PT, repo / "demo.pt")  # what the image's /models holds by default
    port_file = tmp_path / "ports.json"
    drain = float(flag_value(argv, "--drain-timeout", DEFAULT_DRAIN_S))
    proc = subprocess.Popen([CLI, "serve"] + local_argv(argv, str(repo), str(port_file)),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 300  # building the engine on a small CI machine
        ports = None
        while ports is None:
            assert proc.poll() is None, f"server exited {proc.returncode}: {proc.stdout.read()}"
            assert time.monotonic() < deadline, "no port file"
            try:
                ports = json.loads(port_file.read_text())
            except (FileNotFoundError, json.JSONDecodeError):
                time.sleep(0.2)
        http = int(ports["http"])
        assert http > 0
        while http_get(http, READY)[0] != 200:
            assert proc.poll() is None, f"server exited {proc.returncode}: {proc.stdout.read()}"
            assert time.monotonic() < deadline, "never ready"
            time.sleep(0.5)
        assert http_get(http, LIVE)[0] == 200
        status, body = http_get(http, METRICS)
        assert status == 200
        for name in ("stgcn_queue_depth", "stgcn_live_sequences"):
            assert re.search(r'^%s\{[^}]*model="demo"' % name, body, re.M), f"/metrics: {name}"
        if label == "Dockerfile CMD":
            # The image's HEALTHCHECK command, pointed at this server.
            hc = [rest for ins, rest in dockerfile_stages()[-1]["ins"] if ins == "HEALTHCHECK"]
            if hc:
                cmd = json.loads(hc[-1][hc[-1].index("CMD") + 3:].strip())
                cmd = [a.replace("/8000", f"/{http}") for a in cmd]
                assert subprocess.run(cmd, timeout=10).returncode == 0, "HEALTHCHECK fails"
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=drain + 15)
        assert proc.returncode == 0, f"exit {proc.returncode} after SIGTERM: {proc.stdout.read()}"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
