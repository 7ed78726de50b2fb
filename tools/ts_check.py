#!/usr/bin/python3
"""Runs an exported policy.ts with Python torch.jit.load (Debian python3-torch):
   ts_check.py policy.ts in.json out.json   (same JSON layout as tools/onnx_check/run.js;
   an image policy's frames are raw uint8 files listed under "images", in argument order)"""
import json
import sys

import torch


def main():
    model, inp, out = sys.argv[1:4]
    m = torch.jit.load(model)
    data = json.load(open(inp))
    obs = torch.tensor(data["obs"], dtype=torch.float32)
    args = [obs]
    for image in data.get("images", []):
        with open(image["file"], "rb") as f:
            raw = bytearray(f.read())
        args.append(torch.frombuffer(raw, dtype=torch.uint8).reshape(image["shape"]))
    if "noise" in data:
        args.append(torch.tensor(data["noise"], dtype=torch.float32))
    with torch.no_grad():
        y = m(*args)
    json.dump({"actions": y.reshape(y.shape[0], -1).tolist()}, open(out, "w"))


if __name__ == "__main__":
    main()
