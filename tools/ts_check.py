#!/usr/bin/python3
"""Runs an exported policy.ts with Python torch.jit.load (Debian python3-torch):
   ts_check.py policy.ts in.json out.json   (same JSON layout as tools/onnx_check/run.js)"""
import json
import sys

import torch


def main():
    model, inp, out = sys.argv[1:4]
    m = torch.jit.load(model)
    data = json.load(open(inp))
    obs = torch.tensor(data["obs"], dtype=torch.float32)
    with torch.no_grad():
        if "noise" in data:
            y = m(obs, torch.tensor(data["noise"], dtype=torch.float32))
        else:
            y = m(obs)
    json.dump({"actions": y.reshape(y.shape[0], -1).tolist()}, open(out, "w"))


if __name__ == "__main__":
    main()
