#include "policy/export.h"

#include <fcntl.h>
#include <torch/script.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

namespace dreamforge::policy {

namespace fs = std::filesystem;

namespace {

// ------------------------------------------------------------------ shared constants

struct Constants {
  torch::Tensor obs_mean, obs_std;       // [D]
  torch::Tensor act_scale, act_offset;   // [7]: raw = normalized * scale + offset
  torch::Tensor flow_tf;                 // [K, kTimeFeatures]: time features of step k
  torch::Tensor flow_c;                  // [K]: dt / (1 - t_k), as PolicyPredict computes it
  std::vector<std::pair<std::string, torch::Tensor>> weights;  // "fc0.weight", ... (CPU, contiguous)
  std::vector<torch::Tensor> image_pos;  // per image input: [S^2, 2] keypoint positions (x, y)
};

Constants MakeConstants(const Policy& p) {
  Constants c;
  std::vector<float> mean, stdv;
  for (const std::string& key : p.normalizer.obs_keys) {
    const FeatureStats& s = p.normalizer.obs.at(key);
    for (int i = 0; i < s.dim(); ++i) {
      mean.push_back(static_cast<float>(s.mean[i]));
      stdv.push_back(static_cast<float>(s.std[i]));
    }
  }
  c.obs_mean = torch::tensor(mean);
  c.obs_std = torch::tensor(stdv);
  std::vector<float> scale(7), offset(7);
  const FeatureStats& a = p.normalizer.action;
  for (int i = 0; i < 7; ++i) {
    const double range = a.max[i] - a.min[i];
    if (range < Normalizer::kConstantRange) {
      scale[i] = 1.0f;
      offset[i] = static_cast<float>(a.min[i]);
    } else {
      scale[i] = static_cast<float>(range / 2.0);
      offset[i] = static_cast<float>(a.min[i] + range / 2.0);
    }
  }
  c.act_scale = torch::tensor(scale);
  c.act_offset = torch::tensor(offset);
  const ModelConfig& m = p.model;
  if (m.type == PolicyType::kFlow) {
    const float dt = 1.0f / static_cast<float>(m.flow_steps);
    std::vector<float> times, coef;
    for (int k = 0; k < m.flow_steps; ++k) {
      times.push_back(k * dt);
      coef.push_back(dt / (1.0f - k * dt));
    }
    c.flow_tf = TimeFeatures(torch::tensor(times)).contiguous();
    c.flow_c = torch::tensor(coef);
  }
  // The head's layers, then each camera's encoder under robot/image_encoder.h's names
  // (its parameters and its temperature buffer).
  for (const auto& item : p.net->named_parameters()) {
    if (item.key().rfind("fc", 0) != 0) continue;
    c.weights.emplace_back(item.key(), item.value().detach().to(torch::kCPU).contiguous());
  }
  for (size_t k = 0; k < p.images.size(); ++k) {
    for (const auto& [name, t] : p.net->encoders()[k]->NamedTensors(p.images[k].key)) {
      c.weights.emplace_back(name, t.detach().to(torch::kCPU).contiguous());
    }
    // Position of map entry y * S + x: (lin[x], lin[y]), as the encoder's spatial softmax.
    const int side = p.images[k].encoder.TrunkSize();
    const torch::Tensor lin = torch::linspace(-1.0, 1.0, side, torch::kFloat);
    c.image_pos.push_back(torch::stack({lin.repeat({side}), lin.repeat_interleave(side)}, 1).contiguous());
  }
  return c;
}

int NumLayers(const Policy& p) { return static_cast<int>(p.model.hidden.size()) + 1; }

// Flushes a written file to disk (before it is renamed into place); false with errno set
// when that fails.
bool SyncFile(const fs::path& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  const bool ok = ::fsync(fd) == 0;
  const int err = errno;
  ::close(fd);
  errno = err;
  return ok;
}

// Renames `tmp` (written and closed) to `path` after syncing it; on failure removes `tmp`
// and throws naming the path and the reason.
void CommitFile(const fs::path& tmp, const fs::path& path) {
  if (!SyncFile(tmp) || ::rename(tmp.c_str(), path.c_str()) != 0) {
    const std::string reason = std::strerror(errno);
    std::error_code ec;
    fs::remove(tmp, ec);
    throw std::runtime_error(path.string() + ": cannot write (" + reason + ")");
  }
}

// Writes `bytes` to `path` through `path`.tmp, synced and renamed: never half-written.
void WriteAtomic(const fs::path& path, const std::string& bytes) {
  const fs::path tmp = path.string() + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    out.close();
    if (!out) {
      const std::string reason = std::strerror(errno);
      std::error_code ec;
      fs::remove(tmp, ec);
      throw std::runtime_error(path.string() + ": cannot write (" + reason + ")");
    }
  }
  CommitFile(tmp, path);
}

std::string FloatBytes(const torch::Tensor& t) {
  const torch::Tensor c = t.to(torch::kFloat32).contiguous();
  return std::string(reinterpret_cast<const char*>(c.data_ptr<float>()), c.numel() * sizeof(float));
}

// ---------------------------------------------------------------------- protobuf (ONNX)

// Minimal protobuf wire-format writer: varints and length-delimited fields.
class Proto {
 public:
  Proto& Varint(int field, uint64_t v) {
    Key(field, 0);
    Raw(v);
    return *this;
  }
  Proto& Bytes(int field, const std::string& s) {
    Key(field, 2);
    Raw(s.size());
    out_ += s;
    return *this;
  }
  Proto& Message(int field, const Proto& m) { return Bytes(field, m.out_); }
  Proto& Float(int field, float f) {
    Key(field, 5);
    char b[4];
    std::memcpy(b, &f, 4);
    out_.append(b, 4);
    return *this;
  }
  const std::string& str() const { return out_; }

 private:
  void Key(int field, int wire) { Raw((static_cast<uint64_t>(field) << 3) | wire); }
  void Raw(uint64_t v) {
    while (v >= 0x80) {
      out_.push_back(static_cast<char>((v & 0x7f) | 0x80));
      v >>= 7;
    }
    out_.push_back(static_cast<char>(v));
  }
  std::string out_;
};

constexpr int kOnnxFloat = 1, kOnnxUint8 = 2, kOnnxInt64 = 7;

Proto FloatTensorProto(const std::string& name, const torch::Tensor& t) {
  Proto p;
  for (int64_t d : t.sizes()) p.Varint(1, static_cast<uint64_t>(d));
  p.Varint(2, kOnnxFloat).Bytes(8, name).Bytes(9, FloatBytes(t));
  return p;
}

Proto Int64TensorProto(const std::string& name, const std::vector<int64_t>& values) {
  Proto p;
  p.Varint(1, values.size()).Varint(2, kOnnxInt64).Bytes(8, name);
  p.Bytes(9, std::string(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(int64_t)));
  return p;
}

// ValueInfo of a tensor (float unless `type` says otherwise); dims < 0 are the symbolic
// batch size.
Proto ValueInfo(const std::string& name, const std::vector<int64_t>& dims, int elem_type = kOnnxFloat) {
  Proto shape;
  for (int64_t d : dims) {
    Proto dim;
    if (d < 0) {
      dim.Bytes(2, "batch");
    } else {
      dim.Varint(1, static_cast<uint64_t>(d));
    }
    shape.Message(1, dim);
  }
  Proto tensor;
  tensor.Varint(1, static_cast<uint64_t>(elem_type)).Message(2, shape);
  Proto type;
  type.Message(1, tensor);
  Proto vi;
  vi.Bytes(1, name).Message(2, type);
  return vi;
}

class OnnxGraph {
 public:
  void Node(const std::string& op, const std::vector<std::string>& in, const std::string& out,
            const std::vector<Proto>& attributes = {}) {
    Proto n;
    for (const auto& i : in) n.Bytes(1, i);
    n.Bytes(2, out).Bytes(3, out + "_node").Bytes(4, op);
    for (const Proto& a : attributes) n.Message(5, a);
    graph_.Message(1, n);
  }
  void Initializer(const Proto& t) { initializers_.push_back(t); }
  static Proto IntAttribute(const std::string& name, int64_t v) {
    Proto a;
    a.Bytes(1, name).Varint(3, static_cast<uint64_t>(v)).Varint(20, 2);  // INT
    return a;
  }
  static Proto IntsAttribute(const std::string& name, const std::vector<int64_t>& v) {
    Proto a;
    a.Bytes(1, name);
    for (int64_t x : v) a.Varint(8, static_cast<uint64_t>(x));
    a.Varint(20, 7);  // INTS
    return a;
  }
  std::string Model(const std::vector<Proto>& inputs, const Proto& output) {
    graph_.Bytes(2, "dreamforge_policy");
    for (const Proto& t : initializers_) graph_.Message(5, t);
    for (const Proto& i : inputs) graph_.Message(11, i);
    graph_.Message(12, output);
    Proto opset;
    opset.Bytes(1, "").Varint(2, 13);
    Proto model;
    model.Varint(1, 7).Bytes(2, "dreamforge").Bytes(3, "0.1.0").Message(7, graph_).Message(8, opset);
    return model.str();
  }

 private:
  Proto graph_;
  std::vector<Proto> initializers_;
};

// Gemm/Relu stack on `in`; returns the output name.
std::string OnnxNet(OnnxGraph& g, const Policy& p, const std::string& in, const std::string& tag) {
  std::string h = in;
  const int layers = NumLayers(p);
  for (int i = 0; i < layers; ++i) {
    const std::string fc = "fc" + std::to_string(i);
    const std::string pre = tag + "_" + fc;
    g.Node("Gemm", {h, fc + ".weight", fc + ".bias"}, pre, {OnnxGraph::IntAttribute("transB", 1)});
    h = pre;
    if (i + 1 < layers) {
      g.Node("Relu", {pre}, pre + "_relu");
      h = pre + "_relu";
    }
  }
  return h;
}

// Camera k's encoder on its uint8 input "<key>" (B, H, W, 3); returns the name of its
// features (B, F). The same arithmetic as EncoderSource; opset 13 has no GroupNormalization,
// so the group statistics are written out: mean and biased variance over each group's
// (C / G) x S x S values, (x - mean) / sqrt(var + eps), then the per-channel affine.
std::string OnnxEncoder(OnnxGraph& g, const Policy& p, const Constants& c, size_t k) {
  const ImageInput& in = p.images[k];
  const ImageEncoderConfig& e = in.encoder;
  const std::string& key = in.key;
  const auto t = [&](const std::string& name) { return key + "." + name; };
  const std::string q = key + "_";  // prefix of intermediate values
  const int64_t off = (e.image_size - e.crop_size) / 2;
  g.Initializer(Int64TensorProto(q + "crop_start", {off, off}));
  g.Initializer(Int64TensorProto(q + "crop_end", {off + e.crop_size, off + e.crop_size}));
  g.Initializer(Int64TensorProto(q + "crop_axes", {1, 2}));
  g.Node("Slice", {key, q + "crop_start", q + "crop_end", q + "crop_axes"}, q + "crop");
  g.Node("Transpose", {q + "crop"}, q + "nchw", {OnnxGraph::IntsAttribute("perm", {0, 3, 1, 2})});
  Proto to_float = OnnxGraph::IntAttribute("to", kOnnxFloat);
  g.Node("Cast", {q + "nchw"}, q + "float", {to_float});
  g.Node("Div", {q + "float", "pixel_scale"}, q + "x0");
  std::string x = q + "x0";
  int side = e.crop_size;
  for (int i = 0; i < robot::kTrunkLayers; ++i) {
    const std::string l = std::to_string(i);
    const int64_t ch = robot::kTrunkChannels[i];
    const int64_t stride = robot::kTrunkStrides[i];
    side = robot::TrunkOutputSize(side, robot::kTrunkStrides[i]);
    const std::string conv = q + "conv" + l;
    g.Node("Conv", {x, t("conv" + l + ".weight"), t("conv" + l + ".bias")}, conv,
           {OnnxGraph::IntsAttribute("strides", {stride, stride}),
            OnnxGraph::IntsAttribute("kernel_shape", {robot::kTrunkKernel, robot::kTrunkKernel})});
    x = conv;
    if (e.group_norm) {
      const std::string n = q + "norm" + l;
      g.Initializer(Int64TensorProto(n + "_groups", {0, robot::kGroupNormGroups, -1}));
      g.Initializer(Int64TensorProto(n + "_back", {0, ch, side, side}));
      for (const char* which : {"weight", "bias"}) {
        const auto it = std::find_if(c.weights.begin(), c.weights.end(),
                                     [&](const auto& w) { return w.first == t("norm" + l + "." + which); });
        g.Initializer(FloatTensorProto(n + "_" + which, it->second.reshape({ch, 1, 1})));
      }
      const Proto axes = OnnxGraph::IntsAttribute("axes", {2});
      const Proto keep = OnnxGraph::IntAttribute("keepdims", 1);
      g.Node("Reshape", {x, n + "_groups"}, n + "_g");
      g.Node("ReduceMean", {n + "_g"}, n + "_mean", {axes, keep});
      g.Node("Sub", {n + "_g", n + "_mean"}, n + "_d");
      g.Node("Mul", {n + "_d", n + "_d"}, n + "_d2");
      g.Node("ReduceMean", {n + "_d2"}, n + "_var", {axes, keep});
      g.Node("Add", {n + "_var", "group_norm_eps"}, n + "_var_eps");
      g.Node("Sqrt", {n + "_var_eps"}, n + "_sd");
      g.Node("Div", {n + "_d", n + "_sd"}, n + "_z");
      g.Node("Reshape", {n + "_z", n + "_back"}, n + "_z4");
      g.Node("Mul", {n + "_z4", n + "_weight"}, n + "_scaled");
      g.Node("Add", {n + "_scaled", n + "_bias"}, n);
      x = n;
    }
    g.Node("Relu", {x}, q + "relu" + l);
    x = q + "relu" + l;
  }
  g.Node("Conv", {x, t("keypoints.weight"), t("keypoints.bias")}, q + "kmaps",
         {OnnxGraph::IntsAttribute("kernel_shape", {1, 1})});
  g.Initializer(Int64TensorProto(q + "flat_shape", {0, e.keypoints, static_cast<int64_t>(side) * side}));
  g.Initializer(Int64TensorProto(q + "kp_shape", {0, 2 * static_cast<int64_t>(e.keypoints)}));
  g.Initializer(FloatTensorProto(q + "pos", c.image_pos[k]));
  g.Node("Reshape", {q + "kmaps", q + "flat_shape"}, q + "logits");
  g.Node("Div", {q + "logits", t("temperature")}, q + "scaled");
  g.Node("Softmax", {q + "scaled"}, q + "attention", {OnnxGraph::IntAttribute("axis", 2)});
  g.Node("MatMul", {q + "attention", q + "pos"}, q + "kp3");
  g.Node("Reshape", {q + "kp3", q + "kp_shape"}, q + "keypoints");
  g.Node("Gemm", {q + "keypoints", t("proj.weight"), t("proj.bias")}, q + "features",
         {OnnxGraph::IntAttribute("transB", 1)});
  return q + "features";
}

// ----------------------------------------------------------------- TorchScript source

std::string NetSource(const Policy& p) {
  std::ostringstream s;
  s << "def net(self, h):\n";
  const int layers = NumLayers(p);
  for (int i = 0; i < layers; ++i) {
    const std::string fc = "self.fc" + std::to_string(i);
    if (i + 1 < layers) {
      s << "    h = torch.relu(torch.addmm(" << fc << "_bias, h, " << fc << "_weight.t()))\n";
    } else {
      s << "    return torch.addmm(" << fc << "_bias, h, " << fc << "_weight.t())\n";
    }
  }
  return s.str();
}

// TorchScript attribute name of a weight: "agentview_image.conv0.weight" ->
// "agentview_image_conv0_weight".
std::string AttrName(std::string name) {
  std::replace(name.begin(), name.end(), '.', '_');
  return name;
}

// encode_<k>(self, img): camera k's raw uint8 frames (B, H, W, 3) -> features (B, F), the
// evaluation path of policy/image_encoder.h (centre crop, channels first, x / 255, trunk,
// spatial softmax, projection).
std::string EncoderSource(const Policy& p, size_t k) {
  const ImageInput& in = p.images[k];
  const ImageEncoderConfig& e = in.encoder;
  const std::string a = "self." + AttrName(in.key) + "_";
  const int off = (e.image_size - e.crop_size) / 2;
  std::ostringstream s;
  s << "def encode_" << k << "(self, img):\n"
    << "    x = img[:, " << off << ":" << off + e.crop_size << ", " << off << ":" << off + e.crop_size << ", :]\n"
    << "    x = x.permute([0, 3, 1, 2]).float() / 255.0\n";
  for (int i = 0; i < robot::kTrunkLayers; ++i) {
    const std::string l = std::to_string(i);
    s << "    x = torch.conv2d(x, " << a << "conv" << l << "_weight, " << a << "conv" << l << "_bias, ["
      << robot::kTrunkStrides[i] << ", " << robot::kTrunkStrides[i] << "])\n";
    if (e.group_norm) {
      s << "    x = torch.group_norm(x, " << robot::kGroupNormGroups << ", " << a << "norm" << l << "_weight, " << a
        << "norm" << l << "_bias, " << robot::kGroupNormEps << ")\n";
    }
    s << "    x = torch.relu(x)\n";
  }
  s << "    x = torch.conv2d(x, " << a << "keypoints_weight, " << a << "keypoints_bias)\n"
    << "    att = torch.softmax(torch.flatten(x, 2) / " << a << "temperature, -1)\n"
    << "    kp = torch.flatten(torch.matmul(att, " << a << "pos), 1)\n"
    << "    return torch.addmm(" << a << "proj_bias, kp, " << a << "proj_weight.t())\n";
  return s.str();
}

// The TorchScript lines that make `cond` from `z` and the frames ("img0", ...).
std::string ConditionSource(const Policy& p) {
  if (p.images.empty()) return "    cond = z\n";
  std::string s = "    cond = torch.cat([z";
  for (size_t k = 0; k < p.images.size(); ++k) {
    s += ", self.encode_" + std::to_string(k) + "(img" + std::to_string(k) + ")";
  }
  return s + "], 1)\n";
}


}  // namespace

torch::Tensor ExportedForward(const Policy& policy, const torch::Tensor& obs,
                              const std::vector<torch::Tensor>& images, const torch::Tensor& noise) {
  torch::NoGradGuard no_grad;
  const Constants c = MakeConstants(policy);
  Net& net = const_cast<Net&>(policy.net);
  net->eval();
  const torch::Tensor z = (obs - c.obs_mean) / c.obs_std;
  const torch::Tensor cond = net->Condition(z, net->CropImages(images));
  const torch::Tensor y = PolicyPredict(net, cond, noise);
  return y.reshape({-1, policy.model.horizon, 7}) * c.act_scale + c.act_offset;
}

void WriteSafetensors(const Policy& policy, const fs::path& path) {
  const Constants c = MakeConstants(policy);
  nlohmann::json header = nlohmann::json::object();
  std::string data;
  for (const auto& [name, t] : c.weights) {
    const std::string bytes = FloatBytes(t);
    header[name] = {{"dtype", "F32"}, {"shape", t.sizes().vec()}, {"data_offsets", {data.size(), data.size() + bytes.size()}}};
    data += bytes;
  }
  header["__metadata__"] = {{"format", "dreamforge"}, {"policy", ToString(policy.model.type)}};
  std::string h = header.dump();
  h.append((8 - h.size() % 8) % 8, ' ');  // aligns the data to 8 bytes, as the format allows
  std::string out(8, '\0');
  uint64_t n = h.size();
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((n >> (8 * i)) & 0xff);
  WriteAtomic(path, out + h + data);
}

void WriteTorchScript(const Policy& policy, const fs::path& path) {
  const Constants c = MakeConstants(policy);
  const ModelConfig& m = policy.model;
  torch::jit::Module module("DreamforgePolicy");
  for (const auto& [name, t] : c.weights) module.register_parameter(AttrName(name), t.clone(), false);
  module.register_buffer("obs_mean", c.obs_mean);
  module.register_buffer("obs_std", c.obs_std);
  module.register_buffer("act_scale", c.act_scale);
  module.register_buffer("act_offset", c.act_offset);
  std::ostringstream s;
  s << NetSource(policy);
  for (size_t k = 0; k < policy.images.size(); ++k) {
    module.register_buffer(AttrName(policy.images[k].key) + "_pos", c.image_pos[k]);
    s << EncoderSource(policy, k);
  }
  // The frames' argument names are their keys (the Python signature users see).
  std::string args;
  for (const ImageInput& in : policy.images) args += ", " + in.key;
  std::string rename;
  for (size_t k = 0; k < policy.images.size(); ++k) {
    rename += "    img" + std::to_string(k) + " = " + policy.images[k].key + "\n";
  }
  if (m.type == PolicyType::kMlp) {
    s << "def forward(self, obs" << args << "):\n" << rename
      << "    z = (obs - self.obs_mean) / self.obs_std\n"
      << ConditionSource(policy)
      << "    y = self.net(cond)\n"
         "    return torch.reshape(y, [-1, 1, 7]) * self.act_scale + self.act_offset\n";
  } else {
    module.register_buffer("flow_tf", c.flow_tf);
    module.register_buffer("flow_c", c.flow_c);
    s << "def forward(self, obs" << args << ", noise):\n" << rename
      << "    z = (obs - self.obs_mean) / self.obs_std\n"
      << ConditionSource(policy)
      << "    x = noise\n"
         "    b = z.size(0)\n"
         "    for k in range(" << m.flow_steps << "):\n"
         "        tf = self.flow_tf[k].unsqueeze(0).expand([b, " << kTimeFeatures << "])\n"
         "        a_hat = self.net(torch.cat([cond, x, tf], 1))\n"
         "        x = x + self.flow_c[k] * (a_hat - x)\n"
         "    return torch.reshape(x, [-1, " << m.horizon << ", 7]) * self.act_scale + self.act_offset\n";
  }
  module.define(s.str());
  // Serialized in memory: LibTorch's own file writer aborts the process (an exception from
  // a destructor) when a write fails, e.g. on a full disk.
  std::ostringstream bytes;
  module.save(bytes);
  WriteAtomic(path, bytes.str());
}

void WriteOnnx(const Policy& policy, const fs::path& path) {
  const Constants c = MakeConstants(policy);
  const ModelConfig& m = policy.model;
  const int out_dim = m.OutputDim();
  OnnxGraph g;
  for (const auto& [name, t] : c.weights) g.Initializer(FloatTensorProto(name, t));
  g.Initializer(FloatTensorProto("obs_mean", c.obs_mean));
  g.Initializer(FloatTensorProto("obs_std", c.obs_std));
  g.Initializer(FloatTensorProto("act_scale", c.act_scale));
  g.Initializer(FloatTensorProto("act_offset", c.act_offset));
  g.Initializer(Int64TensorProto("chunk_shape", {-1, m.horizon, 7}));
  g.Node("Sub", {"obs", "obs_mean"}, "obs_centered");
  g.Node("Div", {"obs_centered", "obs_std"}, "z");
  std::vector<Proto> inputs = {ValueInfo("obs", {-1, m.obs_dim})};
  std::string cond = "z";
  if (!policy.images.empty()) {
    g.Initializer(FloatTensorProto("pixel_scale", torch::full({1}, 255.0f)));
    g.Initializer(FloatTensorProto("group_norm_eps", torch::full({1}, static_cast<float>(robot::kGroupNormEps))));
    std::vector<std::string> parts = {"z"};
    for (size_t k = 0; k < policy.images.size(); ++k) {
      const int n = policy.images[k].encoder.image_size;
      inputs.push_back(ValueInfo(policy.images[k].key, {-1, n, n, robot::kImageChannels}, kOnnxUint8));
      parts.push_back(OnnxEncoder(g, policy, c, k));
    }
    g.Node("Concat", parts, "cond", {OnnxGraph::IntAttribute("axis", 1)});
    cond = "cond";
  }
  std::string y;
  if (m.type == PolicyType::kMlp) {
    y = OnnxNet(g, policy, cond, "net");
  } else {
    inputs.push_back(ValueInfo("noise", {-1, out_dim}));
    // Batch-sized time features: Expand each step's [1, 9] row to [B, 9].
    g.Initializer(Int64TensorProto("zero", {0}));
    g.Initializer(Int64TensorProto("tf_width", {kTimeFeatures}));
    g.Node("Shape", {"noise"}, "noise_shape");
    g.Node("Gather", {"noise_shape", "zero"}, "batch", {OnnxGraph::IntAttribute("axis", 0)});
    g.Node("Concat", {"batch", "tf_width"}, "tf_shape", {OnnxGraph::IntAttribute("axis", 0)});
    std::string x = "noise";
    for (int k = 0; k < m.flow_steps; ++k) {
      const std::string s = "step" + std::to_string(k);
      g.Initializer(FloatTensorProto(s + "_tf", c.flow_tf[k].unsqueeze(0)));
      g.Initializer(FloatTensorProto(s + "_c", c.flow_c[k].reshape({1})));
      g.Node("Expand", {s + "_tf", "tf_shape"}, s + "_tfb");
      g.Node("Concat", {cond, x, s + "_tfb"}, s + "_in", {OnnxGraph::IntAttribute("axis", 1)});
      const std::string a_hat = OnnxNet(g, policy, s + "_in", s);
      g.Node("Sub", {a_hat, x}, s + "_d");
      g.Node("Mul", {s + "_d", s + "_c"}, s + "_v");
      g.Node("Add", {x, s + "_v"}, s + "_x");
      x = s + "_x";
    }
    y = x;
  }
  g.Node("Reshape", {y, "chunk_shape"}, "chunk");
  g.Node("Mul", {"chunk", "act_scale"}, "chunk_scaled");
  g.Node("Add", {"chunk_scaled", "act_offset"}, "actions");
  WriteAtomic(path, g.Model(inputs, ValueInfo("actions", {-1, m.horizon, 7})));
}

}  // namespace dreamforge::policy
