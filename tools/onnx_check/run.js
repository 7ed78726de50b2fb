// Runs an exported policy.onnx with ONNX Runtime (CPU) on inputs from a JSON file:
//   node tools/onnx_check/run.js policy.onnx in.json out.json
// in.json: {"obs": [[...D floats...], ...], "noise": [[...H*7...], ...] (flow only),
//           "images": [{"key": "agentview_image", "shape": [B, H, W, 3], "file": raw uint8
//                       bytes}, ...] (image policies only)}
// out.json: {"actions": [[...H*7 floats, row-major (H, 7)...], ...]}
'use strict';
const fs = require('fs');
const ort = require('onnxruntime-node');

async function main() {
  const [model, input, output] = process.argv.slice(2);
  if (!model || !input || !output) {
    console.error('usage: run.js policy.onnx in.json out.json');
    process.exit(2);
  }
  const session = await ort.InferenceSession.create(model);
  const data = JSON.parse(fs.readFileSync(input, 'utf8'));
  const rows = data.obs.length;
  const feeds = {obs: new ort.Tensor('float32', Float32Array.from(data.obs.flat()), [rows, data.obs[0].length])};
  if (session.inputNames.includes('noise')) {
    feeds.noise = new ort.Tensor('float32', Float32Array.from(data.noise.flat()), [rows, data.noise[0].length]);
  }
  for (const image of data.images || []) {
    const bytes = fs.readFileSync(image.file);
    feeds[image.key] = new ort.Tensor('uint8', new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length), image.shape);
  }
  const result = await session.run(feeds);
  const out = result.actions;
  const width = out.dims[1] * out.dims[2];
  const actions = [];
  for (let r = 0; r < rows; ++r) actions.push(Array.from(out.data.slice(r * width, (r + 1) * width)));
  fs.writeFileSync(output, JSON.stringify({actions, opset: 13, inputs: session.inputNames}));
}

main().catch((e) => {
  console.error('onnx_check: ' + e.message);
  process.exit(1);
});
