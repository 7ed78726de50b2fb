#!/usr/bin/python3
"""Makes the tiny policy bundles and the torch reference for tests/robot/policy_runtime_test.cc.

Writes, next to this script:
  tiny_mlp/   policy.json + weights.safetensors  (mlp, hidden [16, 16], D = 25, gripper sample)
  tiny_flow/  policy.json + weights.safetensors  (flow, hidden [16, 16], H = 4, E = 2, K = 3,
                                                  gripper sign)
  reference.json  {"tiny_mlp": [case, ...], "tiny_flow": [case, ...]}, 20 cases each:
      {"obs": {key: [raw values]}, "obs_normalized": [D], "noise": [7 H] (flow) or [],
       "predict": [7 H] normalized chunk, "denormalized": [7 H] (before clamping)}
computed with torch ops in float32, the arithmetic of policy/model.cc (LibTorch):
normalization in double then float, Linear + ReLU, the flow's Euler integration with
time features [t, sin(k pi t), cos(k pi t) for k = 1..4].

The robot section is the Franka Panda chain of robot/panda_chain.cc, so the bundles match
robot::PandaChain() as hardware. Deterministic (fixed seeds); rerun with
  /usr/bin/python3 tests/robot/data/make_reference.py
and commit the outputs. Needs Debian's python3-torch and python3-numpy.
"""

import hashlib
import json
import math
import os
import struct

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
OBS_KEYS = ["robot0_eef_pos", "robot0_gripper_qpos", "robot0_joint_pos", "object"]
WIDTHS = {"robot0_eef_pos": 3, "robot0_gripper_qpos": 2, "robot0_joint_pos": 7, "object": 13}
D = sum(WIDTHS[k] for k in OBS_KEYS)  # 25
CASES = 20


def rx(a):
    c, s = math.cos(a), math.sin(a)
    return [[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]]


def rz(a):
    c, s = math.cos(a), math.sin(a)
    return [[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]]


def panda_chain():
    """robot/panda_chain.cc as KinematicChain::ToJson() writes it."""
    pi = math.pi
    rows = [  # x, y, z, roll, lower, upper, velocity, effort
        (0, 0, 0.333, 0, -2.8973, 2.8973, 2.175, 87),
        (0, 0, 0, -pi / 2, -1.7628, 1.7628, 2.175, 87),
        (0, -0.316, 0, pi / 2, -2.8973, 2.8973, 2.175, 87),
        (0.0825, 0, 0, pi / 2, -3.0718, -0.0698, 2.175, 87),
        (-0.0825, 0.384, 0, -pi / 2, -2.8973, 2.8973, 2.61, 12),
        (0, 0, 0, pi / 2, -0.0175, 3.7525, 2.61, 12),
        (0.088, 0, 0, pi / 2, -2.8973, 2.8973, 2.61, 12),
    ]
    joints = []
    for i, (x, y, z, roll, lo, hi, vel, eff) in enumerate(rows):
        joints.append({"name": f"panda_joint{i + 1}", "type": "revolute",
                       "child_link": f"panda_link{i + 1}",
                       "origin": {"xyz": [x, y, z], "rotation": rx(roll)},
                       "axis": [0.0, 0.0, 1.0], "lower": lo, "upper": hi,
                       "velocity": vel, "effort": eff})
    fixed = dict(type="fixed", axis=[0.0, 0.0, 1.0], lower=0.0, upper=0.0, velocity=0.0,
                 effort=0.0)
    joints.append(dict(name="panda_joint8", child_link="panda_link8",
                       origin={"xyz": [0, 0, 0.107], "rotation": rx(0.0)}, **fixed))
    joints.append(dict(name="panda_hand_joint", child_link="panda_hand",
                       origin={"xyz": [0, 0, 0], "rotation": rz(-pi / 4)}, **fixed))
    tool = {"xyz": [0, 0, 0.1034], "rotation": rx(0.0)}
    return {"base_link": "panda_link0", "tool": tool, "joints": joints}


def stats(rng, width):
    mean = rng.uniform(-1, 1, width)
    std = rng.uniform(0.1, 1.5, width)
    return {"mean": mean.tolist(), "std": std.tolist(), "min": (mean - 3 * std).tolist(),
            "max": (mean + 3 * std).tolist()}


def action_stats(rng):
    lo = rng.uniform(-1.0, -0.1, 7)
    hi = rng.uniform(0.1, 1.0, 7)
    lo[5] = hi[5] = 0.02  # a constant dimension (range < 1e-4): y + min
    return {"mean": ((lo + hi) / 2).tolist(), "std": ((hi - lo) / 4 + 1e-3).tolist(),
            "min": lo.tolist(), "max": hi.tolist()}


def write_safetensors(path, tensors):
    header, blobs, offset = {}, [], 0
    for name, t in tensors:
        data = t.detach().numpy().astype("<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def time_features(t):
    # policy/model.cc TimeFeatures: tc * (k * M_PI) on a float32 tensor.
    parts = [t]
    for k in range(1, 5):
        parts += [torch.sin(t * (k * math.pi)), torch.cos(t * (k * math.pi))]
    return torch.cat(parts, 1)


def forward(layers, x):
    for i, (w, b) in enumerate(layers):
        x = torch.nn.functional.linear(x, w, b)
        if i + 1 < len(layers):
            x = torch.relu(x)
    return x


def predict(model, layers, obs_n, noise):
    if model["type"] == "mlp":
        return forward(layers, obs_n)
    x = noise
    k_steps = model["flow_steps"]
    dt = np.float32(1.0) / np.float32(k_steps)
    for k in range(k_steps):
        t = torch.full((1, 1), float(np.float32(k) * dt), dtype=torch.float32)
        a_hat = forward(layers, torch.cat([obs_n, x, time_features(t)], 1))
        step = float(dt / (np.float32(1.0) - np.float32(k) * dt))
        x = x + step * (a_hat - x)
    return x


def make(name, model, seed):
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    horizon = model["horizon"]
    in_dim = D if model["type"] == "mlp" else D + 7 * horizon + 9
    widths = model["hidden"] + [7 * horizon]
    layers, tensors = [], []
    for i, out in enumerate(widths):
        lin = torch.nn.Linear(in_dim, out)
        # Scaled up from the default init so that outputs are O(1), not O(0.1).
        w, b = 2.5 * lin.weight.detach(), 2.5 * lin.bias.detach()
        layers.append((w, b))
        tensors += [(f"fc{i}.weight", w), (f"fc{i}.bias", b)]
        in_dim = out
    norm_obs = {k: stats(rng, WIDTHS[k]) for k in OBS_KEYS}
    norm_action = action_stats(rng)

    out_dir = os.path.join(HERE, name)
    os.makedirs(out_dir, exist_ok=True)
    weights = os.path.join(out_dir, "weights.safetensors")
    write_safetensors(weights, tensors)
    blob = open(weights, "rb").read()
    policy = {
        "format": "dreamforge-bundle/1",
        "task": "bottle_place",
        "control_hz": 20,
        "model": model,
        "obs_keys": OBS_KEYS,
        "normalization": {"obs_mode": "z_score", "action_mode": "min_max",
                          "obs_keys": OBS_KEYS, "obs": norm_obs, "action": norm_action},
        "action_scale": {"position": 0.05, "rotation": 0.3},
        "robot": {
            "arm_joints": [f"panda_joint{i}" for i in range(1, 8)],
            "finger_joints": ["panda_finger_joint1", "panda_finger_joint2"],
            "chain": panda_chain(),
            "tool": [1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0.1034, 0, 0, 0, 1],
            "finger_open": 0.04,
        },
        "safety": {"workspace_min": [-0.2, -0.6, 0.0], "workspace_max": [0.9, 0.6, 1.0],
                   "max_eef_speed": 1.0,
                   "max_joint_velocity": [2.175] * 4 + [2.61] * 3,
                   "max_joint_acceleration": [15.0] * 7,
                   "joint_margin": 0.01},
        "files": {"weights.safetensors": {"sha256": hashlib.sha256(blob).hexdigest(),
                                          "bytes": len(blob)}},
    }
    with open(os.path.join(out_dir, "policy.json"), "w") as f:
        json.dump(policy, f, indent=1)
        f.write("\n")

    mean = np.concatenate([norm_obs[k]["mean"] for k in OBS_KEYS])
    std = np.concatenate([norm_obs[k]["std"] for k in OBS_KEYS])
    a_min = np.array(norm_action["min"])
    a_max = np.array(norm_action["max"])
    cases = []
    for _ in range(CASES):
        raw = (mean + std * rng.normal(size=D) * 1.5).astype(np.float32)
        obs_n = ((raw.astype(np.float64) - mean) / std).astype(np.float32)
        noise = rng.normal(size=7 * horizon).astype(np.float32)
        with torch.no_grad():
            y = predict(model, layers, torch.from_numpy(obs_n).reshape(1, -1),
                        torch.from_numpy(noise).reshape(1, -1)).reshape(-1).numpy()
        y64 = y.astype(np.float64).reshape(horizon, 7)
        r = a_max - a_min
        denorm = np.where(r < 1e-4, y64 + a_min, a_min + (y64 + 1.0) * 0.5 * r)
        obs, at = {}, 0
        for k in OBS_KEYS:
            obs[k] = [float(v) for v in raw[at:at + WIDTHS[k]]]
            at += WIDTHS[k]
        cases.append({"obs": obs,
                      "obs_normalized": [float(v) for v in obs_n],
                      "noise": [float(v) for v in noise] if model["type"] == "flow" else [],
                      "predict": [float(v) for v in y],
                      "denormalized": [float(v) for v in denorm.astype(np.float32).reshape(-1)]})
    return cases


def main():
    torch.set_num_threads(1)
    mlp = {"type": "mlp", "obs_dim": D, "action_dim": 7, "hidden": [16, 16], "horizon": 1,
           "execute": 1, "flow_steps": 0, "time_features": 0, "gripper": "sample"}
    flow = {"type": "flow", "obs_dim": D, "action_dim": 7, "hidden": [16, 16], "horizon": 4,
            "execute": 2, "flow_steps": 3, "time_features": 9, "gripper": "sign"}
    reference = {"tiny_mlp": make("tiny_mlp", mlp, 7), "tiny_flow": make("tiny_flow", flow, 11)}
    with open(os.path.join(HERE, "reference.json"), "w") as f:
        json.dump(reference, f)
        f.write("\n")


if __name__ == "__main__":
    main()
