#!/usr/bin/env python3
"""Continual vs window mode on the demo dataset's test sequences.

Plays recorded streams (python/make_streams.py) through `stgcn run` in both
modes and compares the events:

  A. every one of the 300 test sequences as its own 150-frame stream: the
     window event at the last frame (== `stgcn infer` on the sequence) against
     (a) the continual event at the same frame, as a live stream gives it, and
     (b) the continual final event (end of stream: the pipeline flushed);
  B. long streams of several test sequences back to back (one person, the action
     changes every 150 frames): window and continual events every `--hop`
     frames, at the same frame and with the continual event `--lag` frames
     later (the pipeline's delay).

For a causal model (models/trained/causal/, trained with --temporal-padding
causal) pass `--lag 0 --no-lookahead`: its continual pipeline has no delay and
a lookahead would equal the live answer.

Writes a JSON summary (--json) and prints a table. Needs the built CLI.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLASSES = "idle,walk,wave,squat,jump,fall,sit_down,stand_up,punch,kick"


def make_streams(out, streams, segments, one_track=False):
    subprocess.run([sys.executable, os.path.join(ROOT, "python", "make_streams.py"), out,
                    "--streams", str(streams), "--segments", str(segments), "--classes", CLASSES],
                   check=True, stdout=subprocess.DEVNULL)
    with open(os.path.join(out, "truth.json")) as f:
        truth = json.load(f)
    if one_track:  # one person doing the segments' actions in turn: one track id
        for s in truth["streams"]:
            path = os.path.join(out, s["file"])
            with open(path) as f:
                frames = [json.loads(line) for line in f]
            for fr in frames:
                for p in fr["persons"]:
                    p["id"] = 1
            with open(path, "w") as f:
                f.writelines(json.dumps(fr) + "\n" for fr in frames)
    return truth


def run(cli, model, truth, out_dir, mode, hop, events_path, extra=()):
    sources = []
    for s in truth["streams"]:
        sources += ["--source", os.path.join(out_dir, s["file"])]
    cmd = [cli, "run", model, *sources, "--mode", mode, "--hop", str(hop), "--out", events_path,
           "--max-tracks", str(len(truth["streams"]) + 8), "--quiet", *extra]
    t0 = time.time()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    secs = time.time() - t0
    events = []
    with open(events_path) as f:
        for line in f:
            events.append(json.loads(line))
    return events, secs


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--cli", default=os.path.join(ROOT, "build", "stgcn"))
    ap.add_argument("--model", default=os.path.join(ROOT, "models", "trained",
                                                    "stgcn_seed_actions.pt"))
    ap.add_argument("--long-streams", type=int, default=10)
    ap.add_argument("--segments", type=int, default=4)
    ap.add_argument("--hop", type=int, default=5)
    ap.add_argument("--lag", type=int, default=76,
                    help="continual pipeline delay in frames (seed model: 76; causal: 0)")
    ap.add_argument("--no-lookahead", action="store_true",
                    help="skip the --lookahead runs (pointless for a causal model)")
    ap.add_argument("--continual-model", default="",
                    help="model or engine for the continual runs (default: --model); e.g. an "
                         "INT8 engine against the FP32 window")
    ap.add_argument("--only-a", action="store_true",
                    help="only the 300 one-sequence streams (skip the long streams)")
    ap.add_argument("--json", default="")
    a = ap.parse_args()
    cmodel = a.continual_model or a.model
    result = {}
    with tempfile.TemporaryDirectory() as tmp:
        # A: 300 sequences, one stream each.
        da = os.path.join(tmp, "a")
        truth = make_streams(da, 300, 1)
        win, win_s = run(a.cli, a.model, truth, da, "window", 1, os.path.join(tmp, "wa.jsonl"))
        con, con_s = run(a.cli, cmodel, truth, da, "continual", 1, os.path.join(tmp, "ca.jsonl"),
                         ["--labels", os.path.join(os.path.dirname(a.model), "classes.json")])
        cla, cla_s = ([], 0.0) if a.no_lookahead else run(
            a.cli, cmodel, truth, da, "continual", 1, os.path.join(tmp, "cla.jsonl"),
            ["--lookahead"])
        label = {s["stream"]: s["segments"][0]["label"] for s in truth["streams"]}
        # The last event of each stream (frame 149, or the track's last
        # detection when the person is absent at the end).
        def last(events, final):
            out = {}
            for e in sorted(events, key=lambda e: (e["frame"], e["final"])):
                if final is None or e["final"] == final:
                    out[e["stream"]] = e["label"]
            return out
        w = last(win, None)
        c_live = last(con, False)
        c_final = last(con, True)
        c_la = last(cla, False)
        n = len(label)
        assert len(w) == n and len(c_final) == n, (len(w), len(c_final))
        # A person absent in the first frames has fewer than T frames at the
        # end: no live event (min_frames = T), only the final one.
        live = [s for s in label if s in c_live]
        agree_live = sum(w[s] == c_live[s] for s in live) / len(live)
        agree_final = sum(w[s] == c_final[s] for s in label) / n
        live_la = [s for s in label if s in c_la]
        agree_la = sum(w[s] == c_la[s] for s in live_la) / len(live_la) if live_la else None
        acc = lambda d: sum(d[s] == label[s] for s in d) / len(d)
        result["model"] = os.path.relpath(a.model, ROOT)
        result["continual_model"] = os.path.relpath(cmodel, ROOT)
        result["A"] = {"sequences": n, "live_events": len(live), "window_accuracy": acc(w),
                       "continual_live_accuracy": acc(c_live),
                       "continual_final_accuracy": acc(c_final),
                       "agreement_live": agree_live, "agreement_final": agree_final,
                       "agreement_live_lookahead": agree_la,
                       "continual_lookahead_seconds": cla_s,
                       "window_seconds": win_s, "continual_seconds": con_s}
        if a.only_a:
            ra = result["A"]
            print(f"A. {ra['sequences']} test sequences: window accuracy "
                  f"{100 * ra['window_accuracy']:.2f} %, continual live "
                  f"{100 * ra['continual_live_accuracy']:.2f} %; agreement at the last frame: "
                  f"live {100 * ra['agreement_live']:.2f} % (of {ra['live_events']}), final "
                  f"{100 * ra['agreement_final']:.2f} %")
            if a.json:
                with open(a.json, "w") as f:
                    json.dump(result, f, indent=2)
                    f.write("\n")
            return
        # B: long streams, events every hop frames once a full window exists.
        db = os.path.join(tmp, "b")
        truth = make_streams(db, a.long_streams, a.segments, one_track=True)
        win, win_s = run(a.cli, a.model, truth, db, "window", a.hop, os.path.join(tmp, "wb.jsonl"))
        con, con_s = run(a.cli, a.model, truth, db, "continual", a.hop,
                         os.path.join(tmp, "cb.jsonl"))
        cla, cla_s = ([], 0.0) if a.no_lookahead else run(
            a.cli, a.model, truth, db, "continual", a.hop, os.path.join(tmp, "clb.jsonl"),
            ["--lookahead"])
        w = {(e["stream"], e["frame"]): e["label"] for e in win if not e["final"]}
        c = {(e["stream"], e["frame"]): e["label"] for e in con if not e["final"]}
        both = sorted(set(w) & set(c))
        cl = {(e["stream"], e["frame"]): e["label"] for e in cla if not e["final"]}
        both_la = sorted(set(w) & set(cl))
        seg = {s["stream"]: s["segments"] for s in truth["streams"]}

        def truth_at(stream, frame):
            for g in seg[stream]:
                if g["start_frame"] <= frame < g["end_frame"]:
                    return g
            return None

        # Lag-aligned: the continual event at frame f against the window
        # event `lag` frames earlier (the pipeline's delay, rounded to the hop).
        lag = a.lag // a.hop * a.hop
        aligned = [k for k in c if (k[0], k[1] - lag) in w]
        # Events whose window [f - 149, f] lies in one sequence (the last frame of each) against
        # those that straddle a change of action (every other event: sequences last 150 frames).
        T = 150
        pure = [k for k in both if truth_at(k[0], k[1]) is not None
                and truth_at(k[0], k[1])["start_frame"] <= k[1] - T + 1]
        mixed = [k for k in both if k not in set(pure)]
        lab = lambda k: truth_at(k[0], k[1])["label"]
        result["B"] = {"streams": a.long_streams, "segments": a.segments, "hop": a.hop,
                       "compared_events": len(both),
                       "agreement": sum(w[k] == c[k] for k in both) / max(1, len(both)),
                       "lag_frames": lag, "aligned_events": len(aligned),
                       "lookahead_compared_events": len(both_la),
                       "agreement_lookahead":
                           sum(w[k] == cl[k] for k in both_la) / len(both_la) if both_la else None,
                       "continual_lookahead_seconds": cla_s,
                       "agreement_lag_aligned":
                           sum(c[k] == w[(k[0], k[1] - lag)] for k in aligned) / max(1, len(aligned)),
                       "window_seconds": win_s, "continual_seconds": con_s,
                       "single_sequence_windows": len(pure),
                       "agreement_single_sequence_windows":
                           sum(w[k] == c[k] for k in pure) / max(1, len(pure)),
                       "window_accuracy_single_sequence_windows":
                           sum(w[k] == lab(k) for k in pure) / max(1, len(pure)),
                       "continual_accuracy_single_sequence_windows":
                           sum(c[k] == lab(k) for k in pure) / max(1, len(pure)),
                       "agreement_straddling_windows":
                           sum(w[k] == c[k] for k in mixed) / max(1, len(mixed))}
    ra, rb = result["A"], result["B"]
    print(f"A. {ra['sequences']} test sequences, one 150-frame stream each:")
    print(f"   window accuracy {100 * ra['window_accuracy']:.2f} %, continual live "
          f"{100 * ra['continual_live_accuracy']:.2f} %, continual final "
          f"{100 * ra['continual_final_accuracy']:.2f} %")
    print(f"   agreement with window at the last frame: live {100 * ra['agreement_live']:.2f} % "
          f"(of {ra['live_events']}), "
          f"final (flushed) {100 * ra['agreement_final']:.2f} %")
    pct = lambda v: "-" if v is None else f"{100 * v:.2f} %"
    print(f"   with --lookahead (a flushed copy per event): {pct(ra['agreement_live_lookahead'])}")
    print(f"   time: window {ra['window_seconds']:.1f} s, continual {ra['continual_seconds']:.1f} s, "
          f"with lookahead {ra['continual_lookahead_seconds']:.1f} s")
    print(f"B. {rb['streams']} streams x {rb['segments']} sequences, events every {rb['hop']} frames:")
    print(f"   same frame: agreement {100 * rb['agreement']:.2f} % of {rb['compared_events']} events; "
          f"continual at f vs window at f - {rb['lag_frames']}: "
          f"{100 * rb['agreement_lag_aligned']:.2f} % of {rb['aligned_events']}; with --lookahead, "
          f"same frame: {pct(rb['agreement_lookahead'])} of {rb['lookahead_compared_events']}")
    print(f"   windows inside one sequence ({rb['single_sequence_windows']} events): agreement "
          f"{pct(rb['agreement_single_sequence_windows'])}, accuracy window "
          f"{pct(rb['window_accuracy_single_sequence_windows'])}, continual "
          f"{pct(rb['continual_accuracy_single_sequence_windows'])}; windows straddling a change "
          f"of action: agreement {pct(rb['agreement_straddling_windows'])}")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(result, f, indent=2)
            f.write("\n")


if __name__ == "__main__":
    main()
