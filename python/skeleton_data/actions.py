"""Procedural action classes: joint-angle tracks over time for the articulated skeleton.

Every ``gen_<class>(rng, n, T, fps)`` returns ``(pose, motion, window)``:

* ``pose``: dict of (n, T) joint angles in degrees (keys ``skeleton.POSE_KEYS``);
* ``motion``: ``yaw`` (n,T) turning offset (deg), ``root`` (n,T,2) displacement (m) in the initial
  facing frame (x = left, z = forward), ``lift`` (n,T) jump height (m), ``tilt`` (n,T) whole-body
  tilt (deg, falls), ``tilt_dir`` (n,) (deg), ``anchor`` (n,) foot anchoring code;
* ``window``: (n, 2) int frames [start, end) where the defining movement happens (the whole
  sequence for periodic actions). Training crops are taken to cover it.

Every sample draws its own speed, amplitudes, phases and style variant, on top of a randomised
resting posture with slow idle drift.
"""

from __future__ import annotations

from typing import Callable, Dict

import numpy as np

from .skeleton import POSE_KEYS

CLASSES = ["idle", "walk", "wave", "squat", "jump", "fall", "sit_down", "stand_up", "punch",
           "kick"]

TWO_PI = 2 * np.pi


def _u(rng, lo, hi, n):
    return rng.uniform(lo, hi, n)[:, None]


def smooth_noise(rng, n, T, fps, amp, fmin=0.08, fmax=0.5, k=3):
    """Sum of ``k`` random slow sinusoids, normalised to [-1, 1], times ``amp`` (deg)."""
    t = np.arange(T) / fps
    f = rng.uniform(fmin, fmax, (n, k, 1))
    ph = rng.uniform(0, TWO_PI, (n, k, 1))
    a = rng.uniform(0.3, 1.0, (n, k, 1))
    s = (a * np.sin(TWO_PI * f * t + ph)).sum(1) / a.sum(1)
    return np.asarray(amp).reshape(-1, 1) * s


def ramp(t, t0, dur):
    """Smoothstep from 0 (t <= t0) to 1 (t >= t0 + dur)."""
    x = np.clip((t - t0) / np.maximum(dur, 1e-6), 0.0, 1.0)
    return x * x * (3 - 2 * x)


def bump(t, t0, dur):
    """0 -> 1 -> 0 over [t0, t0 + dur] (sin^2)."""
    x = np.clip((t - t0) / np.maximum(dur, 1e-6), 0.0, 1.0)
    return np.sin(np.pi * x) ** 2


def _blend(a, target, w):
    return a + w * (target - a)


def base_pose(rng, n, T, fps, drift=1.0) -> Dict[str, np.ndarray]:
    """Relaxed standing posture with per-sample offsets and slow idle drift."""
    p = {}
    N = lambda amp: smooth_noise(rng, n, T, fps, amp * drift)  # noqa: E731
    for s in "LR":
        p["sh_abd_" + s] = _u(rng, 4, 14, n) + N(3)
        p["sh_flex_" + s] = _u(rng, -5, 10, n) + N(4)
        p["sh_twist_" + s] = _u(rng, -10, 30, n) + N(5)
        p["el_flex_" + s] = _u(rng, 5, 25, n) + N(5)
        p["hip_flex_" + s] = _u(rng, -3, 5, n) + N(2)
        p["hip_abd_" + s] = _u(rng, 0, 6, n) + N(1.5)
        p["knee_" + s] = _u(rng, 0, 8, n) + N(2)
        p["ankle_" + s] = np.zeros((n, T))
    p["torso_lean"] = _u(rng, -3, 6, n) + N(2)
    p["torso_roll"] = N(2)
    p["torso_twist"] = N(4)
    p["head_pitch"] = _u(rng, -10, 10, n) + N(4)
    p["head_yaw"] = N(10)
    for k in POSE_KEYS:
        p[k] = np.broadcast_to(p[k], (n, T)).copy()
    return p


def base_motion(n, T, anchor=1) -> Dict[str, np.ndarray]:
    return {"yaw": np.zeros((n, T)), "root": np.zeros((n, T, 2)), "lift": np.zeros((n, T)),
            "tilt": np.zeros((n, T)), "tilt_dir": np.zeros(n),
            "anchor": np.full(n, anchor, dtype=np.int64)}


def _full_window(n, T):
    return np.tile(np.array([0, T], dtype=np.int64), (n, 1))


def _window(t0, t1, fps, T):
    a = np.clip(np.floor(np.asarray(t0).ravel() * fps), 0, T - 1).astype(np.int64)
    b = np.clip(np.ceil(np.asarray(t1).ravel() * fps), 1, T).astype(np.int64)
    return np.stack([a, np.maximum(b, a + 1)], axis=1)


def _guard(p, rng, n, w=1.0):
    """Fighting guard for both arms (blend weight ``w``)."""
    for s in "LR":
        p["sh_flex_" + s] = _blend(p["sh_flex_" + s], _u(rng, 30, 60, n), w)
        p["sh_abd_" + s] = _blend(p["sh_abd_" + s], _u(rng, 5, 20, n), w)
        p["el_flex_" + s] = _blend(p["el_flex_" + s], _u(rng, 95, 135, n), w)
        p["sh_twist_" + s] = _blend(p["sh_twist_" + s], _u(rng, -70, -35, n), w)


# ------------------------------------------------------------------------------------------

def gen_idle(rng, n, T, fps, speed):
    p = base_pose(rng, n, T, fps, drift=1.6)
    m = base_motion(n, T)
    t = np.arange(T) / fps
    # Weight shifts: slow lateral sway of the torso and hips.
    sway = smooth_noise(rng, n, T, fps, rng.uniform(1, 4, n), 0.05, 0.3)
    p["torso_roll"] += sway
    p["hip_abd_L"] += 0.5 * sway
    p["hip_abd_R"] -= 0.5 * sway
    p["head_yaw"] += smooth_noise(rng, n, T, fps, rng.uniform(0, 30, n), 0.05, 0.25)
    # Arm style: 0 hanging, 1 crossed, 2 hands on hips, 3 hands clasped in front, 4 fidgeting.
    style = rng.choice(5, n, p=[0.35, 0.2, 0.15, 0.15, 0.15])
    for s in "LR":
        w = (style == 1)[:, None]
        p["sh_flex_" + s] = np.where(w, _u(rng, 25, 45, n) + 0 * t, p["sh_flex_" + s])
        p["el_flex_" + s] = np.where(w, _u(rng, 100, 125, n) + 0 * t, p["el_flex_" + s])
        p["sh_twist_" + s] = np.where(w, _u(rng, -85, -60, n) + 0 * t, p["sh_twist_" + s])
        w = (style == 2)[:, None]
        p["sh_abd_" + s] = np.where(w, _u(rng, 35, 50, n) + 0 * t, p["sh_abd_" + s])
        p["el_flex_" + s] = np.where(w, _u(rng, 90, 115, n) + 0 * t, p["el_flex_" + s])
        p["sh_twist_" + s] = np.where(w, _u(rng, -100, -70, n) + 0 * t, p["sh_twist_" + s])
        w = (style == 3)[:, None]
        p["sh_flex_" + s] = np.where(w, _u(rng, 10, 25, n) + 0 * t, p["sh_flex_" + s])
        p["el_flex_" + s] = np.where(w, _u(rng, 50, 80, n) + 0 * t, p["el_flex_" + s])
        p["sh_twist_" + s] = np.where(w, _u(rng, -75, -50, n) + 0 * t, p["sh_twist_" + s])
        w = (style == 4)[:, None]
        p["el_flex_" + s] = p["el_flex_" + s] + w * smooth_noise(rng, n, T, fps, 25, 0.2, 0.8)
        p["sh_flex_" + s] = p["sh_flex_" + s] + w * smooth_noise(rng, n, T, fps, 12, 0.2, 0.8)
    # Occasionally a slow turn on the spot.
    turn = rng.random(n) < 0.2
    m["yaw"] += turn[:, None] * ramp(t, _u(rng, 0, 3, n), _u(rng, 1, 2, n)) * _u(rng, -60, 60, n)
    return p, m, _full_window(n, T)


def _walk_cycle(p, rng, n, t, speed, w_gate=None):
    """Adds a gait cycle to ``p``; returns the forward speed (n,1) in m/s per unit gate."""
    f = _u(rng, 0.8, 1.05, n) * speed
    w = TWO_PI * f * t + _u(rng, 0, TWO_PI, n)
    Ah, Ak = _u(rng, 15, 28, n), _u(rng, 35, 60, n)
    Aa = _u(rng, 8, 30, n) * (rng.random(n) > 0.15)[:, None]
    g = 1.0 if w_gate is None else w_gate
    for s, ph in (("L", 0.0), ("R", np.pi)):
        p["hip_flex_" + s] += g * Ah * np.sin(w + ph)
        p["knee_" + s] += g * Ak * np.maximum(0.0, np.cos(w + ph - 0.3)) ** 1.5
        p["ankle_" + s] += g * 10 * np.sin(w + ph - 1.0)
        p["sh_flex_" + s] += g * -Aa * np.sin(w + ph)
        p["el_flex_" + s] += g * 0.5 * Aa * (1 + np.sin(w + ph + np.pi))
    p["torso_twist"] += g * _u(rng, 2, 8, n) * np.sin(w)
    p["torso_lean"] += g * _u(rng, 2, 8, n)
    return 4 * 0.9 * np.sin(np.deg2rad(Ah)) * f


def gen_walk(rng, n, T, fps, speed):
    p = base_pose(rng, n, T, fps)
    m = base_motion(n, T, anchor=0)
    t = np.arange(T) / fps
    v = _walk_cycle(p, rng, n, t, speed)
    turn_rate = _u(rng, -20, 20, n) * (rng.random(n) < 0.4)[:, None]
    yaw = turn_rate * t
    m["yaw"] = yaw
    dt = 1.0 / fps
    yr = np.deg2rad(yaw)
    m["root"][..., 0] = np.cumsum(v * np.sin(yr) * dt, axis=1)
    m["root"][..., 1] = np.cumsum(v * np.cos(yr) * dt, axis=1)
    return p, m, _full_window(n, T)


def gen_wave(rng, n, T, fps, speed):
    p = base_pose(rng, n, T, fps)
    m = base_motion(n, T)
    t = np.arange(T) / fps
    dur_s = T / fps
    t_on = _u(rng, 0.0, 1.0, n)
    up = ramp(t, t_on, _u(rng, 0.3, 0.7, n) / speed)
    lower = rng.random(n) < 0.3
    t_off = np.where(lower[:, None], dur_s - _u(rng, 0.4, 0.9, n), 1e9)
    r = up * (1 - ramp(t, t_off, 0.4))
    side = rng.choice(3, n, p=[0.4, 0.4, 0.2])  # 0 left, 1 right, 2 both
    fw = _u(rng, 1.5, 3.0, n) * speed
    osc = np.sin(TWO_PI * fw * t + _u(rng, 0, TWO_PI, n))
    mode = rng.random(n)[:, None]
    for si, s in enumerate("LR"):
        act = ((side == si) | (side == 2))[:, None] * r
        el_osc = _u(rng, 15, 35, n) * (mode < 0.6)
        abd_osc = _u(rng, 10, 25, n) * (mode >= 0.4)
        p["sh_abd_" + s] = _blend(p["sh_abd_" + s], _u(rng, 100, 150, n) + abd_osc * osc, act)
        p["sh_flex_" + s] = _blend(p["sh_flex_" + s], _u(rng, 0, 35, n), act)
        p["sh_twist_" + s] = _blend(p["sh_twist_" + s], _u(rng, 70, 100, n), act)
        p["el_flex_" + s] = _blend(p["el_flex_" + s], _u(rng, 20, 70, n) + el_osc * osc, act)
    p["torso_roll"] += r * _u(rng, -5, 5, n)
    end = np.where(lower, dur_s - 0.2, dur_s)
    return p, m, _window(t_on.ravel(), end, fps, T)


def gen_squat(rng, n, T, fps, speed):
    p = base_pose(rng, n, T, fps)
    m = base_motion(n, T)
    t = np.arange(T) / fps
    P = _u(rng, 1.4, 2.2, n) / speed
    d = (0.5 - 0.5 * np.cos(TWO_PI * t / P + _u(rng, 0, TWO_PI, n))) ** _u(rng, 0.8, 1.5, n)
    Dh = _u(rng, 70, 110, n)
    for s in "LR":
        p["hip_flex_" + s] += d * Dh
        p["knee_" + s] += d * Dh * _u(rng, 1.15, 1.35, n)
        p["hip_abd_" + s] += d * _u(rng, 0, 12, n)
    p["torso_lean"] += d * _u(rng, 20, 45, n)
    style = rng.choice(3, n, p=[0.5, 0.3, 0.2])  # arms forward / clasped at chest / hanging
    for s in "LR":
        fwd = (style == 0)[:, None]
        p["sh_flex_" + s] = _blend(p["sh_flex_" + s], _u(rng, 60, 95, n), fwd * d)
        clasp = (style == 1)[:, None] * 1.0
        p["sh_flex_" + s] = _blend(p["sh_flex_" + s], _u(rng, 30, 50, n), clasp)
        p["el_flex_" + s] = _blend(p["el_flex_" + s], _u(rng, 100, 130, n), clasp)
        p["sh_twist_" + s] = _blend(p["sh_twist_" + s], _u(rng, -70, -50, n), clasp)
    p["head_pitch"] -= d * _u(rng, 0, 20, n)
    return p, m, _full_window(n, T)


def gen_jump(rng, n, T, fps, speed):
    p = base_pose(rng, n, T, fps)
    m = base_motion(n, T)
    t = np.arange(T) / fps
    jacks = rng.random(n) < 0.3
    tf = np.where(jacks[:, None], _u(rng, 0.22, 0.32, n), _u(rng, 0.32, 0.5, n))
    P = np.where(jacks[:, None], _u(rng, 0.7, 1.0, n), _u(rng, 1.0, 1.6, n)) / speed
    P = np.maximum(P, (tf + 0.25) / 0.6)
    h = t / P + _u(rng, 0, 1, n)
    u = np.mod(h, 1.0)
    hop = np.floor(h)
    a = 0.3 * np.ones((n, 1))
    fl = tf / P
    crouch = np.where(u < a, np.sin(np.pi * u / a), 0.0)
    w = np.clip((u - a) / fl, 0, 1)
    flight = ((u >= a) & (u < a + fl)) * 1.0
    land = np.where((u >= a + fl) & (u < a + fl + 0.2), np.sin(np.pi * (u - a - fl) / 0.2), 0.0)
    depth = np.where(jacks[:, None], 0.35, 1.0) * (crouch + 0.6 * land)
    g = 9.81
    m["lift"] = flight * 0.5 * g * (tf * w) * (tf * (1 - w))
    Dh = _u(rng, 50, 80, n)
    for s in "LR":
        p["hip_flex_" + s] += depth * Dh
        p["knee_" + s] += depth * Dh * _u(rng, 1.2, 1.4, n) + flight * _u(rng, 0, 25, n)
        p["ankle_" + s] += flight * _u(rng, 20, 40, n)
    p["torso_lean"] += depth * _u(rng, 15, 35, n)
    # Arms: swing back in the crouch, up in flight (vertical); out/in each hop (jacks).
    env = flight * np.sin(np.pi * w)
    # Jacks: arms/legs switch out <-> in during each flight (continuous).
    out = np.where(np.mod(hop, 2) == 0, w, 1 - w)
    for s in "LR":
        up = _u(rng, 90, 160, n)
        vert_flex = -_u(rng, 20, 45, n) * crouch + up * env
        p["sh_flex_" + s] = np.where(jacks[:, None], p["sh_flex_" + s], p["sh_flex_" + s] + vert_flex)
        jack_abd = _blend(p["sh_abd_" + s], _u(rng, 140, 170, n), out)
        p["sh_abd_" + s] = np.where(jacks[:, None], jack_abd, p["sh_abd_" + s])
        p["hip_abd_" + s] = np.where(jacks[:, None], p["hip_abd_" + s] + out * _u(rng, 10, 18, n),
                                     p["hip_abd_" + s])
        p["sh_twist_" + s] = np.where(jacks[:, None], p["sh_twist_" + s] + out * 80, p["sh_twist_" + s])
    return p, m, _full_window(n, T)


def gen_fall(rng, n, T, fps, speed):
    p = base_pose(rng, n, T, fps)
    m = base_motion(n, T, anchor=0)
    t = np.arange(T) / fps
    dur_s = T / fps
    t_on = _u(rng, 0.2, 0.55, n) * dur_s
    dur = _u(rng, 0.5, 1.1, n) / speed
    x = np.clip((t - t_on) / dur, 0, 1)
    r = ramp(t, t_on, dur)
    kind = rng.choice(3, n, p=[0.4, 0.25, 0.35])  # forward, backward, sideways
    base_dir = np.where(kind == 0, 0.0, np.where(kind == 1, 180.0, rng.choice([-90.0, 90.0], n)))
    m["tilt_dir"] = base_dir + rng.uniform(-25, 25, n)
    m["tilt"] = x * x * _u(rng, 80, 92, n)
    for s in "LR":
        p["knee_" + s] += r * _u(rng, 20, 70, n)
        p["hip_flex_" + s] += r * _u(rng, 10, 60, n) * (kind != 1)[:, None]
        reach = (kind != 1)[:, None]
        p["sh_flex_" + s] = _blend(p["sh_flex_" + s], _u(rng, 60, 150, n), r * reach)
        p["sh_abd_" + s] = _blend(p["sh_abd_" + s], _u(rng, 40, 90, n), r * (1 - reach))
        p["el_flex_" + s] = _blend(p["el_flex_" + s], _u(rng, 10, 60, n), r)
    p["head_pitch"] += r * _u(rng, -30, 20, n)
    # Lying: small movements after the impact.
    after = ramp(t, t_on + dur, 0.5)
    for k in ("sh_flex_L", "sh_flex_R", "knee_L", "knee_R", "head_yaw"):
        p[k] += after * smooth_noise(rng, n, T, fps, 8, 0.1, 0.6)
    return p, m, _window(t_on.ravel(), (t_on + dur).ravel() + 0.4, fps, T)


def gen_sit_down(rng, n, T, fps, speed):
    p = base_pose(rng, n, T, fps)
    m = base_motion(n, T)
    t = np.arange(T) / fps
    dur_s = T / fps
    t_on = _u(rng, 0.2, 0.55, n) * dur_s
    dur = _u(rng, 0.8, 1.5, n) / speed
    r = ramp(t, t_on, dur)
    mid = bump(t, t_on, dur)
    for s in "LR":
        p["hip_flex_" + s] = _blend(p["hip_flex_" + s], _u(rng, 75, 100, n), r)
        p["knee_" + s] = _blend(p["knee_" + s], _u(rng, 75, 105, n), r)
        p["hip_abd_" + s] += r * _u(rng, 0, 10, n)
        p["sh_flex_" + s] = _blend(p["sh_flex_" + s], _u(rng, 20, 50, n), r) + mid * _u(rng, 0, 40, n)
        p["el_flex_" + s] = _blend(p["el_flex_" + s], _u(rng, 30, 70, n), r)
    p["torso_lean"] = _blend(p["torso_lean"], _u(rng, -5, 15, n), r) + mid * _u(rng, 20, 40, n)
    p["head_pitch"] += r * _u(rng, -5, 15, n)
    return p, m, _window(t_on.ravel(), (t_on + dur).ravel() + 0.3, fps, T)


def gen_stand_up(rng, n, T, fps, speed):
    """A sit-down, time reversed (independently drawn)."""
    p, m, win = gen_sit_down(rng, n, T, fps, speed)
    p = {k: v[:, ::-1].copy() for k, v in p.items()}
    for k in ("yaw", "root", "lift", "tilt"):
        m[k] = m[k][:, ::-1].copy()
    win = np.stack([T - win[:, 1], T - win[:, 0]], axis=1)
    return p, m, win


def gen_punch(rng, n, T, fps, speed):
    p = base_pose(rng, n, T, fps)
    m = base_motion(n, T)
    t = np.arange(T) / fps
    _guard(p, rng, n)
    lead = rng.choice([0, 1], n)  # 0: left leg forward
    for si, s in enumerate("LR"):
        fwd = (lead == si)[:, None]
        p["hip_flex_" + s] += np.where(fwd, _u(rng, 8, 20, n), -_u(rng, 3, 12, n))
        p["knee_" + s] += _u(rng, 8, 25, n)
    p["torso_twist"] += np.where(lead[:, None] == 0, -1, 1) * _u(rng, 0, 20, n)
    K = int(np.ceil(T / fps / 0.45)) + 1
    gaps = rng.uniform(0.45, 1.1, (n, K)) / speed
    times = rng.uniform(0, 0.5, (n, 1)) + np.concatenate([np.zeros((n, 1)), np.cumsum(gaps[:, 1:], 1)], 1)
    alt = rng.random(n) < 0.6
    first = rng.choice([0, 1], n)
    arm = np.where(alt[:, None], (first[:, None] + np.arange(K)) % 2, rng.choice([0, 1], (n, K)))
    tr = rng.uniform(0.1, 0.2, (n, K)) / speed
    th = rng.uniform(0.0, 0.08, (n, K))
    tb = rng.uniform(0.15, 0.3, (n, K)) / speed
    env = np.zeros((2, n, T))
    for k in range(K):
        tk = times[:, k:k + 1]
        e = ramp(t, tk, tr[:, k:k + 1]) * (1 - ramp(t, tk + tr[:, k:k + 1] + th[:, k:k + 1], tb[:, k:k + 1]))
        for si in (0, 1):
            env[si] = np.maximum(env[si], e * (arm[:, k:k + 1] == si))
    for si, s in enumerate("LR"):
        e = env[si]
        p["sh_flex_" + s] = _blend(p["sh_flex_" + s], _u(rng, 80, 100, n), e)
        p["sh_abd_" + s] = _blend(p["sh_abd_" + s], _u(rng, 0, 15, n), e)
        p["el_flex_" + s] = _blend(p["el_flex_" + s], _u(rng, 0, 15, n), e)
        p["torso_twist"] += (1 if s == "L" else -1) * e * _u(rng, -25, -10, n)
    p["torso_lean"] += (env[0] + env[1]) * 5
    return p, m, _window(times[:, 0], np.full(n, T / fps), fps, T)


def gen_kick(rng, n, T, fps, speed):
    p = base_pose(rng, n, T, fps)
    m = base_motion(n, T)
    t = np.arange(T) / fps
    _guard(p, rng, n, w=rng.uniform(0.3, 1.0, n)[:, None])
    kleg = rng.choice([0, 1], n)
    altern = rng.random(n) < 0.25
    side_kick = (rng.random(n) < 0.3)[:, None]
    P = _u(rng, 1.1, 1.7, n) / speed
    D = np.minimum(_u(rng, 0.5, 0.8, n) / speed, 0.9 * P)
    t0 = _u(rng, 0, 0.6, n)
    kidx = np.floor((t - t0) / P)
    u = np.clip(((t - t0) - kidx * P) / D, 0, 1) * (t >= t0)
    s_ = np.sin(np.pi * u)
    Hmax, Kc = _u(rng, 60, 100, n), _u(rng, 80, 110, n)
    leg_now = np.where(altern[:, None], (kleg[:, None] + kidx.astype(np.int64)) % 2, kleg[:, None])
    for si, s in enumerate("LR"):
        on = (leg_now == si) * 1.0
        p["hip_flex_" + s] += on * s_ * Hmax * np.where(side_kick, 0.3, 1.0)
        p["hip_abd_" + s] += on * s_ * Hmax * np.where(side_kick, 0.8, 0.0)
        p["knee_" + s] += on * Kc * s_ * (1 - 0.9 * s_ ** 6)
        p["ankle_" + s] += on * s_ * _u(rng, 10, 40, n)
        p["knee_" + s] += (1 - on) * (_u(rng, 5, 20, n) + 10 * s_)
    p["torso_lean"] -= s_ * _u(rng, 5, 20, n) * (1 - side_kick)
    sign = np.where(leg_now == 0, -1.0, 1.0)
    p["torso_roll"] += side_kick * s_ * _u(rng, 15, 30, n) * sign
    # Anchor on the standing foot (fixed leg; alternating kicks: both feet, mid-ankle).
    m["anchor"] = np.where(altern, 1, np.where(kleg == 0, 3, 2))
    return p, m, _full_window(n, T)


GENERATORS: Dict[str, Callable] = {
    "idle": gen_idle, "walk": gen_walk, "wave": gen_wave, "squat": gen_squat, "jump": gen_jump,
    "fall": gen_fall, "sit_down": gen_sit_down, "stand_up": gen_stand_up, "punch": gen_punch,
    "kick": gen_kick,
}
assert list(GENERATORS) == CLASSES
