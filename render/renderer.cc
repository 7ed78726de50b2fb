#include "render/renderer.h"

#include <EGL/egl.h>
#include <EGL/eglext.h>
#define GL_GLEXT_PROTOTYPES 1
#include <GL/gl.h>
#include <GL/glext.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <string>

#include "render/render_error.h"

namespace dreamforge::render {
namespace {

constexpr const char* kVertexShader = R"(#version 330 core
layout(location = 0) in vec3 a_pos;
layout(location = 1) in vec3 a_normal;
uniform mat4 u_model;
uniform mat3 u_normal;
uniform mat4 u_view;
uniform mat4 u_proj;
uniform vec3 u_scale;
out vec3 v_world;
out vec3 v_normal;
out vec3 v_tex;
out float v_depth;
void main() {
  vec4 w = u_model * vec4(a_pos, 1.0);
  v_world = w.xyz;
  v_normal = u_normal * a_normal;
  v_tex = a_pos * u_scale;
  vec4 e = u_view * w;
  v_depth = -e.z;
  gl_Position = u_proj * e;
}
)";

// Procedural textures from the surface's own coordinates (metres / scale), so a texture
// moves with its object: flat, checker, value noise, stripes, wood rings. One program per
// texture (TEXTURE is defined before this source): llvmpipe runs both sides of a branch on
// a uniform, so a single program paid for the noise on every pixel of every surface.
constexpr const char* kFragmentShader = R"(
in vec3 v_world;
in vec3 v_normal;
in vec3 v_tex;
in float v_depth;
uniform vec3 u_color;
uniform float u_tex_scale;
uniform vec3 u_light_dir;
uniform vec3 u_light_color;
uniform float u_intensity;
uniform float u_ambient;
uniform vec3 u_eye;
layout(location = 0) out vec4 o_color;
layout(location = 1) out float o_depth;

#if TEXTURE == 2 || TEXTURE == 4
float hash(vec3 p) {
  p = fract(p * 0.3183099 + vec3(0.71, 0.113, 0.419));
  p *= 17.0;
  return fract(p.x * p.y * p.z * (p.x + p.y + p.z));
}
float value_noise(vec3 x) {
  vec3 i = floor(x);
  vec3 f = fract(x);
  f = f * f * (3.0 - 2.0 * f);
  return mix(mix(mix(hash(i + vec3(0, 0, 0)), hash(i + vec3(1, 0, 0)), f.x),
                 mix(hash(i + vec3(0, 1, 0)), hash(i + vec3(1, 1, 0)), f.x), f.y),
             mix(mix(hash(i + vec3(0, 0, 1)), hash(i + vec3(1, 0, 1)), f.x),
                 mix(hash(i + vec3(0, 1, 1)), hash(i + vec3(1, 1, 1)), f.x), f.y), f.z);
}
#endif
float pattern(vec3 p) {
#if TEXTURE == 1
  float c = mod(floor(p.x) + floor(p.y) + floor(p.z), 2.0);
  return c < 0.5 ? 1.0 : 0.55;
#elif TEXTURE == 2
  return 0.55 + 0.45 * (0.65 * value_noise(p * 2.0) + 0.35 * value_noise(p * 6.0));
#elif TEXTURE == 3
  return fract(p.x + 0.5 * p.z) < 0.5 ? 1.0 : 0.65;
#elif TEXTURE == 4
  float r = length(p.xz) * 3.0 + 1.5 * value_noise(p * vec3(1.0, 6.0, 1.0));
  return 0.62 + 0.38 * smoothstep(0.0, 1.0, abs(2.0 * fract(r) - 1.0));
#else
  return 1.0;
#endif
}
void main() {
  vec3 n = normalize(v_normal);
  if (!gl_FrontFacing) n = -n;
  float diffuse = max(dot(n, u_light_dir), 0.0);
  vec3 v = normalize(u_eye - v_world);
  vec3 h = normalize(u_light_dir + v);
  float spec = 0.15 * pow(max(dot(n, h), 0.0), 32.0);
  vec3 base = u_color * pattern(v_tex / u_tex_scale);
  vec3 c = base * (u_ambient + u_intensity * diffuse * u_light_color) + spec * u_intensity * u_light_color;
  o_color = vec4(clamp(c, 0.0, 1.0), 1.0);
  o_depth = v_depth;
}
)";

// One EGL display for the process, initialized once and kept (terminating it would end
// every renderer's context).
struct Display {
  EGLDisplay display = EGL_NO_DISPLAY;
  std::string error;
};

Display& GetDisplay() {
  static Display d;
  static std::once_flag once;
  std::call_once(once, [] {
    setenv("LP_NUM_THREADS", "0", 0);  // rasterize on the calling thread (see renderer.h)
    auto get_platform_display =
        reinterpret_cast<PFNEGLGETPLATFORMDISPLAYEXTPROC>(eglGetProcAddress("eglGetPlatformDisplayEXT"));
    if (!get_platform_display) {
      d.error = "EGL has no eglGetPlatformDisplayEXT (install libegl1 and libegl-mesa0)";
      return;
    }
    const char* which = std::getenv("DREAMFORGE_EGL");
    if (which && std::string(which) == "device") {
      auto query_devices = reinterpret_cast<PFNEGLQUERYDEVICESEXTPROC>(eglGetProcAddress("eglQueryDevicesEXT"));
      EGLDeviceEXT devices[8];
      EGLint n = 0;
      if (query_devices && query_devices(8, devices, &n) && n > 0) {
        d.display = get_platform_display(EGL_PLATFORM_DEVICE_EXT, devices[0], nullptr);
      }
      if (d.display == EGL_NO_DISPLAY) {
        d.error = "DREAMFORGE_EGL=device: no EGL device found (is the GPU's EGL driver installed?)";
        return;
      }
    } else {
      d.display = get_platform_display(EGL_PLATFORM_SURFACELESS_MESA, EGL_DEFAULT_DISPLAY, nullptr);
      if (d.display == EGL_NO_DISPLAY) {
        d.error = "no EGL display on Mesa's surfaceless platform (install libegl-mesa0)";
        return;
      }
    }
    EGLint major = 0, minor = 0;
    if (!eglInitialize(d.display, &major, &minor)) {
      d.display = EGL_NO_DISPLAY;
      d.error = "EGL could not be initialized (install libegl-mesa0 and libgl1-mesa-dri)";
    }
  });
  return d;
}

struct Target {
  GLuint fbo = 0, color = 0, depth_linear = 0, depth = 0;
};

struct MeshBuffers {
  GLuint vao = 0, vbo = 0, ebo = 0;
  GLsizei count = 0;
};

GLuint Compile(GLenum type, const char* source) {
  const GLuint s = glCreateShader(type);
  glShaderSource(s, 1, &source, nullptr);
  glCompileShader(s);
  GLint ok = 0;
  glGetShaderiv(s, GL_COMPILE_STATUS, &ok);
  if (!ok) {
    char log[2048];
    glGetShaderInfoLog(s, sizeof(log), nullptr, log);
    throw RenderError(std::string("shader compilation failed: ") + log);
  }
  return s;
}

Eigen::Matrix4f Projection(double fovy_deg, double aspect, double near, double far) {
  const double f = 1.0 / std::tan(0.5 * fovy_deg * M_PI / 180.0);
  Eigen::Matrix4d p = Eigen::Matrix4d::Zero();
  p(0, 0) = f / aspect;
  p(1, 1) = f;
  p(2, 2) = (far + near) / (near - far);
  p(2, 3) = 2.0 * far * near / (near - far);
  p(3, 2) = -1.0;
  return p.cast<float>();
}

// A linked program and its uniform locations, looked up once.
struct Program {
  GLuint id = 0;
  GLint model = -1, normal = -1, view = -1, proj = -1, eye = -1, scale = -1, color = -1, tex_scale = -1,
        light_dir = -1, light_color = -1, intensity = -1, ambient = -1;
};

Program Link(int texture) {
  const std::string fragment = "#version 330 core\n#define TEXTURE " + std::to_string(texture) + "\n" + kFragmentShader;
  const GLuint vs = Compile(GL_VERTEX_SHADER, kVertexShader);
  const GLuint fs = Compile(GL_FRAGMENT_SHADER, fragment.c_str());
  Program p;
  p.id = glCreateProgram();
  glAttachShader(p.id, vs);
  glAttachShader(p.id, fs);
  glLinkProgram(p.id);
  glDeleteShader(vs);
  glDeleteShader(fs);
  GLint ok = 0;
  glGetProgramiv(p.id, GL_LINK_STATUS, &ok);
  if (!ok) throw RenderError("GL program link failed");
  auto at = [&](const char* name) { return glGetUniformLocation(p.id, name); };
  p.model = at("u_model");
  p.normal = at("u_normal");
  p.view = at("u_view");
  p.proj = at("u_proj");
  p.eye = at("u_eye");
  p.scale = at("u_scale");
  p.color = at("u_color");
  p.tex_scale = at("u_tex_scale");
  p.light_dir = at("u_light_dir");
  p.light_color = at("u_light_color");
  p.intensity = at("u_intensity");
  p.ambient = at("u_ambient");
  return p;
}

}  // namespace

struct Renderer::Impl {
  EGLDisplay display = EGL_NO_DISPLAY;
  EGLContext context = EGL_NO_CONTEXT;
  Program programs[sim::kNumTextures];
  std::vector<MeshBuffers> meshes;
  std::map<std::pair<int, int>, Target> targets;
  std::vector<uint8_t> raw_rgb;
  std::vector<float> raw_depth;

  void MakeCurrent() {
    if (eglGetCurrentContext() != context &&
        !eglMakeCurrent(display, EGL_NO_SURFACE, EGL_NO_SURFACE, context)) {
      throw RenderError("eglMakeCurrent failed (is the context in use by another thread?)");
    }
  }
  Target& TargetFor(int w, int h) {
    auto it = targets.find({w, h});
    if (it != targets.end()) return it->second;
    Target t;
    glGenFramebuffers(1, &t.fbo);
    glBindFramebuffer(GL_FRAMEBUFFER, t.fbo);
    glGenRenderbuffers(1, &t.color);
    glBindRenderbuffer(GL_RENDERBUFFER, t.color);
    glRenderbufferStorage(GL_RENDERBUFFER, GL_RGBA8, w, h);
    glFramebufferRenderbuffer(GL_FRAMEBUFFER, GL_COLOR_ATTACHMENT0, GL_RENDERBUFFER, t.color);
    glGenRenderbuffers(1, &t.depth_linear);
    glBindRenderbuffer(GL_RENDERBUFFER, t.depth_linear);
    glRenderbufferStorage(GL_RENDERBUFFER, GL_R32F, w, h);
    glFramebufferRenderbuffer(GL_FRAMEBUFFER, GL_COLOR_ATTACHMENT1, GL_RENDERBUFFER, t.depth_linear);
    glGenRenderbuffers(1, &t.depth);
    glBindRenderbuffer(GL_RENDERBUFFER, t.depth);
    glRenderbufferStorage(GL_RENDERBUFFER, GL_DEPTH_COMPONENT24, w, h);
    glFramebufferRenderbuffer(GL_FRAMEBUFFER, GL_DEPTH_ATTACHMENT, GL_RENDERBUFFER, t.depth);
    if (glCheckFramebufferStatus(GL_FRAMEBUFFER) != GL_FRAMEBUFFER_COMPLETE) {
      throw RenderError("GL framebuffer of " + std::to_string(w) + "x" + std::to_string(h) + " is incomplete");
    }
    return targets.emplace(std::make_pair(w, h), t).first->second;
  }
};

Eigen::Isometry3d CameraWorldPose(const VisualModel& model, const ScenePose& pose, const CameraSpec& camera,
                                  const sim::Appearance& look, double* fovy_deg) {
  Eigen::Isometry3d mount = Eigen::Isometry3d::Identity();
  if (camera.mount != "world") {
    const int link = model.scene().robot().LinkIndex(camera.mount);
    if (link < 0) {
      throw RenderError("camera '" + camera.name + "': mount: no robot link named '" + camera.mount + "'");
    }
    mount = pose.links.at(link);
  }
  Eigen::Isometry3d jitter = Eigen::Isometry3d::Identity();
  jitter.linear() = (Eigen::AngleAxisd(look.camera_rotation.x(), Eigen::Vector3d::UnitX()) *
                     Eigen::AngleAxisd(look.camera_rotation.y(), Eigen::Vector3d::UnitY()) *
                     Eigen::AngleAxisd(look.camera_rotation.z(), Eigen::Vector3d::UnitZ()))
                        .toRotationMatrix();
  jitter.translation() = look.camera_offset;
  if (fovy_deg) *fovy_deg = std::clamp(camera.fovy_deg + look.camera_fov_offset, 5.0, 160.0);
  return mount * camera.pose * jitter;
}

Renderer::Renderer(std::shared_ptr<const VisualModel> model) : impl_(std::make_unique<Impl>()), model_(std::move(model)) {
  Display& d = GetDisplay();
  if (d.display == EGL_NO_DISPLAY) throw RenderError("rendering unavailable: " + d.error);
  impl_->display = d.display;
  if (!eglBindAPI(EGL_OPENGL_API)) throw RenderError("EGL has no desktop OpenGL API (install libgl1-mesa-dri)");
  const EGLint config_attribs[] = {EGL_SURFACE_TYPE, EGL_PBUFFER_BIT, EGL_RENDERABLE_TYPE, EGL_OPENGL_BIT,
                                   EGL_RED_SIZE, 8, EGL_GREEN_SIZE, 8, EGL_BLUE_SIZE, 8, EGL_NONE};
  EGLConfig config = nullptr;
  EGLint n = 0;
  if (!eglChooseConfig(d.display, config_attribs, &config, 1, &n) || n < 1) config = nullptr;
  const EGLint context_attribs[] = {EGL_CONTEXT_MAJOR_VERSION, 3, EGL_CONTEXT_MINOR_VERSION, 3,
                                    EGL_CONTEXT_OPENGL_PROFILE_MASK, EGL_CONTEXT_OPENGL_CORE_PROFILE_BIT,
                                    EGL_NONE};
  impl_->context = eglCreateContext(d.display, config, EGL_NO_CONTEXT, context_attribs);
  if (impl_->context == EGL_NO_CONTEXT) {
    throw RenderError("no OpenGL 3.3 core context (install libgl1-mesa-dri for Mesa's llvmpipe)");
  }
  impl_->MakeCurrent();
  const char* renderer = reinterpret_cast<const char*>(glGetString(GL_RENDERER));
  gl_renderer_ = renderer ? renderer : "?";

  for (int t = 0; t < sim::kNumTextures; ++t) impl_->programs[t] = Link(t);

  for (const Mesh& m : model_->meshes()) {
    MeshBuffers b;
    glGenVertexArrays(1, &b.vao);
    glBindVertexArray(b.vao);
    glGenBuffers(1, &b.vbo);
    glBindBuffer(GL_ARRAY_BUFFER, b.vbo);
    glBufferData(GL_ARRAY_BUFFER, static_cast<GLsizeiptr>(m.vertices.size() * sizeof(float)), m.vertices.data(),
                 GL_STATIC_DRAW);
    glGenBuffers(1, &b.ebo);
    glBindBuffer(GL_ELEMENT_ARRAY_BUFFER, b.ebo);
    glBufferData(GL_ELEMENT_ARRAY_BUFFER, static_cast<GLsizeiptr>(m.indices.size() * sizeof(uint32_t)),
                 m.indices.data(), GL_STATIC_DRAW);
    glEnableVertexAttribArray(0);
    glVertexAttribPointer(0, 3, GL_FLOAT, GL_FALSE, 6 * sizeof(float), nullptr);
    glEnableVertexAttribArray(1);
    glVertexAttribPointer(1, 3, GL_FLOAT, GL_FALSE, 6 * sizeof(float), reinterpret_cast<void*>(3 * sizeof(float)));
    b.count = static_cast<GLsizei>(m.indices.size());
    impl_->meshes.push_back(b);
  }
  glBindVertexArray(0);
  if (glGetError() != GL_NO_ERROR) throw RenderError("GL error while uploading the scene's meshes");
}

Renderer::~Renderer() {
  if (impl_->context != EGL_NO_CONTEXT) {
    if (eglMakeCurrent(impl_->display, EGL_NO_SURFACE, EGL_NO_SURFACE, impl_->context)) {
      for (auto& [size, t] : impl_->targets) {
        glDeleteFramebuffers(1, &t.fbo);
        GLuint rbs[3] = {t.color, t.depth_linear, t.depth};
        glDeleteRenderbuffers(3, rbs);
      }
      for (MeshBuffers& b : impl_->meshes) {
        glDeleteVertexArrays(1, &b.vao);
        glDeleteBuffers(1, &b.vbo);
        glDeleteBuffers(1, &b.ebo);
      }
      for (const Program& p : impl_->programs) {
        if (p.id) glDeleteProgram(p.id);
      }
      eglMakeCurrent(impl_->display, EGL_NO_SURFACE, EGL_NO_SURFACE, EGL_NO_CONTEXT);
    }
    eglDestroyContext(impl_->display, impl_->context);
  }
}

void Renderer::Release() {
  if (eglGetCurrentContext() == impl_->context) {
    eglMakeCurrent(impl_->display, EGL_NO_SURFACE, EGL_NO_SURFACE, EGL_NO_CONTEXT);
  }
}

void Renderer::Render(const ScenePose& pose, const CameraSpec& camera, const sim::Appearance& look, Image* rgb,
                      DepthImage* depth) {
  Impl& m = *impl_;
  m.MakeCurrent();
  const int w = camera.width, h = camera.height;
  Target& target = m.TargetFor(w, h);
  glBindFramebuffer(GL_FRAMEBUFFER, target.fbo);
  const GLenum buffers[2] = {GL_COLOR_ATTACHMENT0, GL_COLOR_ATTACHMENT1};
  glDrawBuffers(depth ? 2 : 1, buffers);  // linear depth is written only when asked for
  glViewport(0, 0, w, h);
  glEnable(GL_DEPTH_TEST);
  glDisable(GL_CULL_FACE);
  const Eigen::Vector3f sky = look.look(sim::Surface::kBackground).color * 0.8f;
  const GLfloat clear_color[4] = {sky.x(), sky.y(), sky.z(), 1.0f};
  const GLfloat clear_depth[4] = {0.0f, 0.0f, 0.0f, 0.0f};
  glClearBufferfv(GL_COLOR, 0, clear_color);
  if (depth) glClearBufferfv(GL_COLOR, 1, clear_depth);
  glClear(GL_DEPTH_BUFFER_BIT);

  double fovy = camera.fovy_deg;
  const Eigen::Isometry3d cam = CameraWorldPose(*model_, pose, camera, look, &fovy);
  Eigen::Matrix4d flip = Eigen::Matrix4d::Identity();  // OpenCV axes -> GL eye axes
  flip(1, 1) = -1;
  flip(2, 2) = -1;
  const Eigen::Matrix4f view = (flip * cam.inverse().matrix()).cast<float>();
  const Eigen::Matrix4f proj = Projection(fovy, static_cast<double>(w) / h, camera.near, camera.far);
  const Eigen::Vector3f eye = cam.translation().cast<float>();
  const Eigen::Vector3f light = look.light_dir.normalized();

  // Parts are drawn grouped by texture, one program each, in the model's order within a
  // group (the depth test makes the order irrelevant except for exact ties, which repeat).
  const std::vector<Part>& parts = model_->parts();
  for (int t = 0; t < sim::kNumTextures; ++t) {
    const Program& p = m.programs[t];
    bool used = false;
    for (size_t k = 0; k < parts.size(); ++k) {
      const Part& part = parts[k];
      const sim::SurfaceLook& surface = look.look(part.surface);
      if (static_cast<int>(surface.texture) != t) continue;
      if (!used) {
        used = true;
        glUseProgram(p.id);
        glUniformMatrix4fv(p.view, 1, GL_FALSE, view.data());
        glUniformMatrix4fv(p.proj, 1, GL_FALSE, proj.data());
        glUniform3fv(p.eye, 1, eye.data());
        glUniform3fv(p.light_dir, 1, light.data());
        glUniform3fv(p.light_color, 1, look.light_color.data());
        glUniform1f(p.intensity, look.light_intensity);
        glUniform1f(p.ambient, look.ambient);
      }
      const Eigen::Vector3d& s = pose.part_scale[k];
      Eigen::Matrix4d model = pose.parts[k].matrix();
      model.block<3, 3>(0, 0) = model.block<3, 3>(0, 0) * s.asDiagonal();
      const Eigen::Matrix3f normal = model.block<3, 3>(0, 0).inverse().transpose().cast<float>();
      const Eigen::Matrix4f model_f = model.cast<float>();
      const Eigen::Vector3f scale_f = s.cast<float>();
      glUniformMatrix4fv(p.model, 1, GL_FALSE, model_f.data());
      glUniformMatrix3fv(p.normal, 1, GL_FALSE, normal.data());
      glUniform3fv(p.scale, 1, scale_f.data());
      glUniform3fv(p.color, 1, surface.color.data());
      glUniform1f(p.tex_scale, surface.texture_scale);
      const MeshBuffers& b = m.meshes[part.mesh];
      glBindVertexArray(b.vao);
      glDrawElements(GL_TRIANGLES, b.count, GL_UNSIGNED_INT, nullptr);
    }
  }
  glBindVertexArray(0);

  glPixelStorei(GL_PACK_ALIGNMENT, 1);
  const size_t row = static_cast<size_t>(w) * 3;
  m.raw_rgb.resize(row * h);
  glReadBuffer(GL_COLOR_ATTACHMENT0);
  glReadPixels(0, 0, w, h, GL_RGB, GL_UNSIGNED_BYTE, m.raw_rgb.data());
  rgb->width = w;
  rgb->height = h;
  rgb->rgb.resize(m.raw_rgb.size());
  for (int y = 0; y < h; ++y) std::memcpy(&rgb->rgb[y * row], &m.raw_rgb[(h - 1 - y) * row], row);
  if (depth) {
    m.raw_depth.resize(static_cast<size_t>(w) * h);
    glReadBuffer(GL_COLOR_ATTACHMENT1);
    glReadPixels(0, 0, w, h, GL_RED, GL_FLOAT, m.raw_depth.data());
    depth->width = w;
    depth->height = h;
    depth->z.resize(m.raw_depth.size());
    for (int y = 0; y < h; ++y) std::memcpy(&depth->z[y * w], &m.raw_depth[(h - 1 - y) * w], w * sizeof(float));
  }
  if (glGetError() != GL_NO_ERROR) throw RenderError("GL error while rendering camera '" + camera.name + "'");
}

}  // namespace dreamforge::render
