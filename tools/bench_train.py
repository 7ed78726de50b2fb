#!/usr/bin/python3
"""Training throughput benchmark, Python PyTorch side (Debian python3-torch).

The model, batch, optimizer and step of tools/bench_train.cc (and policy/trainer.cc):
Linear/ReLU stacks as policy/model.cc builds them, index_select of a minibatch from
in-memory tensors, MSE, backward, global-norm clipping, Adam. Prints one JSON line.
Usage: bench_train.py [--policy mlp|flow] [--batch B] [--steps N] [--threads T] [--obs-dim D]
"""
import argparse
import json
import math
import os
import time

import torch


def build(policy, obs_dim):
    if policy == "mlp":
        widths, inp, out = [256, 256], obs_dim, 7
    else:
        widths, inp, out = [256, 256, 256], obs_dim + 16 * 7 + 9, 16 * 7
    layers = []
    for w in widths:
        layers += [torch.nn.Linear(inp, w), torch.nn.ReLU()]
        inp = w
    layers.append(torch.nn.Linear(inp, out))
    return torch.nn.Sequential(*layers), out


def time_features(t):
    t = t.reshape(-1, 1)
    parts = [t]
    for k in range(1, 5):
        parts += [torch.sin(t * (k * math.pi)), torch.cos(t * (k * math.pi))]
    return torch.cat(parts, 1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--policy", default="mlp", choices=["mlp", "flow"])
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--obs-dim", type=int, default=18)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    net, out = build(a.policy, a.obs_dim)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    n = 65536
    obs = torch.randn(n, a.obs_dim)
    target = torch.randn(n, out)

    def step():
        idx = torch.randint(n, (a.batch,))
        o, y = obs.index_select(0, idx), target.index_select(0, idx)
        if a.policy == "mlp":
            loss = torch.nn.functional.mse_loss(net(o), y)
        else:
            noise = torch.randn(a.batch, out)
            t = torch.rand(a.batch)
            tc = t.reshape(-1, 1)
            x_t = (1 - tc) * noise + tc * y
            loss = torch.nn.functional.mse_loss(net(torch.cat([o, x_t, time_features(t)], 1)), y)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        opt.step()
        return loss.item()

    for _ in range(20):
        step()
    t0 = time.perf_counter()
    for _ in range(a.steps):
        step()
    s = time.perf_counter() - t0
    print(json.dumps({"impl": "pytorch", "policy": a.policy, "batch": a.batch, "threads": a.threads,
                      "steps": a.steps, "samples_per_s": a.batch * a.steps / s}))


if __name__ == "__main__":
    main()
