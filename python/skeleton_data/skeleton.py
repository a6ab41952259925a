"""33-joint MediaPipe/BlazePose skeleton: body proportions, forward kinematics, camera projection,
and joint mappings to the ``openpose`` (18), ``ntu-rgb+d`` (25) and ``coco`` (17) layouts.

Conventions (body frame, metres): x = the person's left, y = up, z = forward (the way the person
faces). World: the same axes after the facing yaw; the ground is y = 0. The camera looks at the
person from +z (a person with facing yaw 0 looks into the camera, so their left side appears on the
image's right, as in a non-mirrored MediaPipe image). Angles are degrees in every pose track.

Everything is vectorised over (n samples, T frames).
"""

from __future__ import annotations

from typing import Dict

import numpy as np

# MediaPipe Pose landmark names, index = position.
JOINT_NAMES = [
    "nose", "left_eye_inner", "left_eye", "left_eye_outer", "right_eye_inner", "right_eye",
    "right_eye_outer", "left_ear", "right_ear", "mouth_left", "mouth_right", "left_shoulder",
    "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_pinky",
    "right_pinky", "left_index", "right_index", "left_thumb", "right_thumb", "left_hip",
    "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle", "left_heel",
    "right_heel", "left_foot_index", "right_foot_index"]
V = len(JOINT_NAMES)  # 33
FACE = list(range(0, 11))
# Side of each joint: +1 left, -1 right, 0 centre (nose).
SIDE = np.array([0, 1, 1, 1, -1, -1, -1, 1, -1, 1, -1] + [1, -1] * 11, dtype=np.float64)

# Face points in the head frame (units of the head radius): x left, y up, z forward; the head
# centre is between the ears.
_FACE_OFFSETS = np.array([
    [0.00, -0.10, 1.00],   # nose
    [0.15, 0.25, 0.92],    # left eye inner
    [0.32, 0.27, 0.86],    # left eye
    [0.47, 0.25, 0.78],    # left eye outer
    [-0.15, 0.25, 0.92],   # right eye inner
    [-0.32, 0.27, 0.86],   # right eye
    [-0.47, 0.25, 0.78],   # right eye outer
    [0.95, 0.05, 0.00],    # left ear
    [-0.95, 0.05, 0.00],   # right ear
    [0.22, -0.45, 0.86],   # mouth left
    [-0.22, -0.45, 0.86],  # mouth right
])

# Segment lengths as fractions of the body height (adult averages, rounded).
PROPORTIONS = {
    "torso": 0.290,        # mid-hip (pelvis) to mid-shoulder
    "neck": 0.085,         # mid-shoulder to head centre
    "head_r": 0.062,       # head radius
    "shoulder_w": 0.215,   # shoulder landmark distance
    "hip_w": 0.125,        # hip landmark distance
    "upper_arm": 0.172,
    "forearm": 0.155,
    "hand": 0.080,
    "thigh": 0.245,
    "shin": 0.245,
    "ankle_h": 0.045,
    "foot": 0.120,
    "heel": 0.035,
}

POSE_KEYS = (
    "torso_lean", "torso_roll", "torso_twist", "head_pitch", "head_yaw",
    "sh_flex_L", "sh_abd_L", "sh_twist_L", "el_flex_L",
    "sh_flex_R", "sh_abd_R", "sh_twist_R", "el_flex_R",
    "hip_flex_L", "hip_abd_L", "knee_L", "ankle_L",
    "hip_flex_R", "hip_abd_R", "knee_R", "ankle_R",
)


def sample_bodies(rng: np.random.Generator, n: int, height=(1.50, 1.95), jitter=0.05) -> Dict:
    """Per-sample body: height (m) and segment lengths (m) with independent proportion jitter."""
    h = rng.uniform(height[0], height[1], n)
    body = {"height": h}
    for k, frac in PROPORTIONS.items():
        body[k] = h * frac * np.clip(rng.normal(1.0, jitter, n), 1 - 3 * jitter, 1 + 3 * jitter)
    # Keep left/right symmetric (one length per segment) but vary overall proportions.
    return body


def _rot(axis: str, deg: np.ndarray) -> np.ndarray:
    a = np.deg2rad(deg)
    c, s = np.cos(a), np.sin(a)
    R = np.zeros(a.shape + (3, 3))
    if axis == "x":
        R[..., 0, 0] = 1
        R[..., 1, 1], R[..., 1, 2], R[..., 2, 1], R[..., 2, 2] = c, -s, s, c
    elif axis == "y":
        R[..., 1, 1] = 1
        R[..., 0, 0], R[..., 0, 2], R[..., 2, 0], R[..., 2, 2] = c, s, -s, c
    else:
        R[..., 2, 2] = 1
        R[..., 0, 0], R[..., 0, 1], R[..., 1, 0], R[..., 1, 1] = c, -s, s, c
    return R


def _mv(R: np.ndarray, v: np.ndarray) -> np.ndarray:
    return np.einsum("...ij,...j->...i", R, v)


def _vec(x, y, z, shape) -> np.ndarray:
    out = np.empty(shape + (3,))
    out[..., 0], out[..., 1], out[..., 2] = x, y, z
    return out


def forward_kinematics(pose: Dict[str, np.ndarray], body: Dict[str, np.ndarray]) -> np.ndarray:
    """Joint positions (n, T, 33, 3) in the body frame, pelvis (mid-hip) at the origin."""
    n, T = pose["torso_lean"].shape
    sh = (n, T)
    L = {k: v[:, None] for k, v in body.items()}  # (n, 1), broadcast over T
    P = np.zeros((n, T, V, 3))
    ex = _vec(1.0, 0.0, 0.0, sh)
    ey = _vec(0.0, 1.0, 0.0, sh)

    Rt = _rot("y", pose["torso_twist"]) @ _rot("x", pose["torso_lean"]) @ _rot("z", pose["torso_roll"])
    neck = _mv(Rt, ey) * L["torso"][..., None]
    Rh = Rt @ _rot("y", pose["head_yaw"]) @ _rot("x", pose["head_pitch"])
    head = neck + _mv(Rh, ey) * L["neck"][..., None]
    face = head[:, :, None, :] + np.einsum("ntij,fj->ntfi", Rh, _FACE_OFFSETS) * L["head_r"][..., None, None]
    P[:, :, 0:11] = face

    for s, side, (ish, iel, iwr, ipi, iin, ith) in ((1.0, "L", (11, 13, 15, 17, 19, 21)),
                                                    (-1.0, "R", (12, 14, 16, 18, 20, 22))):
        shoulder = neck + _mv(Rt, ex) * (s * 0.5 * L["shoulder_w"])[..., None]
        Rs = Rt @ _rot("x", -pose["sh_flex_" + side]) @ _rot("z", s * pose["sh_abd_" + side])
        upper = _mv(Rs, -ey)
        tau = np.deg2rad(pose["sh_twist_" + side])
        psi = np.deg2rad(pose["el_flex_" + side])
        b = _vec(s * np.sin(tau), 0.0, np.cos(tau), sh)
        fore = _mv(Rs, np.cos(psi)[..., None] * (-ey) + np.sin(psi)[..., None] * b)
        g = _mv(Rs, np.sin(psi)[..., None] * ey + np.cos(psi)[..., None] * b)
        elbow = shoulder + upper * L["upper_arm"][..., None]
        wrist = elbow + fore * L["forearm"][..., None]
        hnd = L["hand"][..., None]
        P[:, :, ish], P[:, :, iel], P[:, :, iwr] = shoulder, elbow, wrist
        P[:, :, iin] = wrist + hnd * (1.00 * fore + 0.15 * g)
        P[:, :, ipi] = wrist + hnd * (0.85 * fore - 0.25 * g)
        P[:, :, ith] = wrist + hnd * (0.45 * fore + 0.45 * g)

    for s, side, (ihp, ikn, ian, ihe, ift) in ((1.0, "L", (23, 25, 27, 29, 31)),
                                               (-1.0, "R", (24, 26, 28, 30, 32))):
        hip = ex * (s * 0.5 * L["hip_w"])[..., None]
        hflex, knee_a = pose["hip_flex_" + side], pose["knee_" + side]
        Rl = _rot("x", -hflex) @ _rot("z", s * pose["hip_abd_" + side])
        thigh = _mv(Rl, -ey)
        k = np.deg2rad(knee_a)
        shin = _mv(Rl, _vec(0.0, -np.cos(k), -np.sin(k), sh))
        # Foot: flat on the ground in the body frame when ankle == 0 (beta = hip - knee).
        beta = np.deg2rad(knee_a + (hflex - knee_a) + pose["ankle_" + side])
        foot = _mv(Rl, _vec(0.0, -np.sin(beta), np.cos(beta), sh))
        knee = hip + thigh * L["thigh"][..., None]
        ankle = knee + shin * L["shin"][..., None]
        P[:, :, ihp], P[:, :, ikn], P[:, :, ian] = hip, knee, ankle
        P[:, :, ihe] = ankle + shin * (0.8 * L["ankle_h"])[..., None] - foot * L["heel"][..., None]
        P[:, :, ift] = ankle + shin * L["ankle_h"][..., None] + foot * L["foot"][..., None]
    return P


def place_in_world(P: np.ndarray, facing: np.ndarray, motion: Dict) -> np.ndarray:
    """Body frame -> world: whole-body tilt (falls) about the mid-ankle, facing yaw (+ turning),
    root displacement, foot anchoring, ground contact (lowest joint on y = 0) and jump lift.

    ``facing`` (n,) degrees; ``motion``: ``yaw`` (n,T) turning offset, ``root`` (n,T,2) (x, z)
    displacement in the initial facing frame, ``lift`` (n,T) metres, ``tilt`` (n,T) degrees,
    ``tilt_dir`` (n,) degrees, ``anchor`` (n,) int: 0 none, 1 mid-ankle, 2 left ankle, 3 right.
    """
    n, T = P.shape[:2]
    mid_ankle = 0.5 * (P[:, :, 27] + P[:, :, 28])
    d = motion["tilt_dir"][:, None] * np.ones((1, T))
    Rtilt = _rot("y", d) @ _rot("x", motion["tilt"]) @ _rot("y", -d)
    P = mid_ankle[:, :, None] + np.einsum("ntij,ntvj->ntvi", Rtilt, P - mid_ankle[:, :, None])
    Ryaw = _rot("y", facing[:, None] + motion["yaw"])
    P = np.einsum("ntij,ntvj->ntvi", Ryaw, P)
    root = np.zeros((n, T, 3))
    root[..., 0], root[..., 2] = motion["root"][..., 0], motion["root"][..., 1]
    root = _mv(_rot("y", facing[:, None] * np.ones((1, T))), root)
    P = P + root[:, :, None]
    # Anchor: keep the supporting foot where it was at frame 0 (horizontal only).
    anc = motion["anchor"]
    ref = np.zeros((n, T, 3))
    ref[anc == 1] = 0.5 * (P[anc == 1, :, 27] + P[anc == 1, :, 28])
    ref[anc == 2] = P[anc == 2, :, 27]
    ref[anc == 3] = P[anc == 3, :, 28]
    drift = ref - ref[:, :1]
    drift[..., 1] = 0.0
    P = P - drift[:, :, None]
    P[..., 1] -= P[..., 1].min(axis=2, keepdims=True)
    P[..., 1] += motion["lift"][:, :, None]
    return P


def project(P: np.ndarray, cam: Dict[str, np.ndarray]) -> np.ndarray:
    """Pinhole projection to image-normalised coordinates (n, T, V, 2): x = u / width,
    y = v / height, origin top-left, y down (MediaPipe's normalised landmarks).

    ``cam``: ``vfov`` (deg), ``elev`` (deg, >0 looks down), ``dist`` (m), ``look_h`` (m), ``aspect``
    (width / height), all (n,). The camera looks at the horizontal mean of the pelvis track.
    """
    n, T = P.shape[:2]
    centre = 0.5 * (P[:, :, 23] + P[:, :, 24]).mean(axis=1)  # (n, 3)
    look = np.stack([centre[:, 0], cam["look_h"], centre[:, 2]], axis=1)
    e = np.deg2rad(cam["elev"])
    cpos = look + cam["dist"][:, None] * np.stack([np.zeros(n), np.sin(e), np.cos(e)], axis=1)
    d = P - cpos[:, None, None, :]
    Rc = _rot("x", cam["elev"])  # (n, 3, 3)
    Pc = np.einsum("nij,ntvj->ntvi", Rc, d)
    depth = np.maximum(-Pc[..., 2], 0.05)
    f = 0.5 / np.tan(np.deg2rad(cam["vfov"]) / 2)
    u = f[:, None, None] * Pc[..., 0] / depth
    v = -f[:, None, None] * Pc[..., 1] / depth
    return np.stack([0.5 + u / cam["aspect"][:, None, None], 0.5 + v], axis=-1)


# ------------------------------------------------------------------------------------------
# Joint mappings MediaPipe(33) -> other layouts. Each target joint is the mean of its sources
# (one source = a copy, several = synthesised). A synthesised joint is missing (0, 0, 0) when
# any of its sources is missing; its confidence is the minimum of its sources'.
# ------------------------------------------------------------------------------------------

MAPPINGS = {
    # OpenPose COCO-18 order: nose, neck, r-sho, r-elb, r-wri, l-sho, l-elb, l-wri, r-hip,
    # r-knee, r-ank, l-hip, l-knee, l-ank, r-eye, l-eye, r-ear, l-ear.
    "openpose": [
        [0], [11, 12], [12], [14], [16], [11], [13], [15], [24], [26], [28], [23], [25], [27],
        [5], [2], [8], [7]],
    # NTU RGB+D 25 (0-based here; 1-based names in docs/dataset.md).
    "ntu-rgb+d": [
        [23, 24],                      # 1 spine base = mid-hip
        [11, 12, 23, 24],              # 2 spine mid = mean of hips and shoulders
        [11, 12, 11, 12, 7, 8],        # 3 neck = 2/3 mid-shoulder + 1/3 mid-ear
        [7, 8],                        # 4 head = mid-ear
        [11], [13], [15], [17, 19],    # 5-8 left shoulder, elbow, wrist, hand (mid pinky/index)
        [12], [14], [16], [18, 20],    # 9-12 right
        [23], [25], [27], [31],        # 13-16 left hip, knee, ankle, foot (foot index)
        [24], [26], [28], [32],        # 17-20 right
        [11, 12],                      # 21 spine shoulder = mid-shoulder
        [19], [21],                    # 22 left hand tip (index), 23 left thumb
        [20], [22],                    # 24 right hand tip, 25 right thumb
    ],
    # COCO-17 keypoints (mmaction2 / pyskl 'coco' layout), all copies: nose, l-eye, r-eye,
    # l-ear, r-ear, l-sho, r-sho, l-elb, r-elb, l-wri, r-wri, l-hip, r-hip, l-knee, r-knee,
    # l-ank, r-ank.
    "coco": [
        [0], [2], [5], [7], [8], [11], [12], [13], [14], [15], [16], [23], [24], [25], [26],
        [27], [28]],
}


def remap(data: np.ndarray, layout: str) -> np.ndarray:
    """Map (N, 3, T, 33, M) MediaPipe data (x, y, confidence) to ``layout``."""
    if layout in ("mediapipe", "blazepose"):
        return data
    if layout not in MAPPINGS:
        raise ValueError(f"no mapping to {layout!r}; known: mediapipe, blazepose, {sorted(MAPPINGS)}")
    src = MAPPINGS[layout]
    N, C, T, _, M = data.shape
    out = np.zeros((N, C, T, len(src), M), dtype=data.dtype)
    for j, idx in enumerate(src):
        sel = data[:, :, :, idx, :]                         # N, C, T, k, M
        present = (sel[:, 2] > 0).all(axis=2)               # N, T, M
        xy = sel[:, :2].mean(axis=3)
        conf = sel[:, 2].min(axis=2)
        out[:, :2, :, j] = np.where(present[:, None], xy, 0)
        out[:, 2, :, j] = np.where(present, conf, 0)
    return out
