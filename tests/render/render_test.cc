// The renderer against physics: projected geometry, depth, the wrist camera, determinism,
// appearance changing pixels and never states, and the errors for bad cameras and no EGL.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <memory>

#include "augment/perturbation.h"
#include "render/camera.h"
#include "render/frames.h"
#include "render/render_error.h"
#include "render/renderer.h"
#include "render/scene.h"
#include "sim/world.h"

namespace dreamforge::render {
namespace {

std::shared_ptr<const sim::SceneModel> Scene(const std::string& task) {
  static std::map<std::string, std::shared_ptr<const sim::SceneModel>> cache;
  auto& m = cache[task];
  if (!m) m = std::make_shared<sim::SceneModel>(task, sim::SceneModel::DefaultUrdf());
  return m;
}

CameraSpec Camera(const std::string& name, int size) {
  return SelectCameras(name, DefaultCameras(), size).front();
}

Eigen::Vector3d Pixel(const Image& img, int u, int v) {
  const uint8_t* p = &img.rgb[(static_cast<size_t>(v) * img.width + u) * 3];
  return Eigen::Vector3d(p[0], p[1], p[2]);
}

// Distance along the camera's optical axis to the first hit of the ray through pixel
// centre (u + 0.5, v + 0.5) with a vertical cylinder (centre c, radius r, height h).
double CylinderDepth(const Eigen::Isometry3d& cam, const Intrinsics& k, int u, int v, const Eigen::Vector3d& c,
                     double r, double h) {
  const Eigen::Vector3d d_cam((u + 0.5 - k.cx) / k.fx, (v + 0.5 - k.cy) / k.fy, 1.0);
  const Eigen::Vector3d d = cam.linear() * d_cam;
  const Eigen::Vector3d o = cam.translation() - c;
  // side: |o.xy + t d.xy| = r
  const double a = d.head<2>().squaredNorm(), b = 2 * o.head<2>().dot(d.head<2>()),
               cc = o.head<2>().squaredNorm() - r * r;
  double best = INFINITY;
  const double disc = b * b - 4 * a * cc;
  if (disc >= 0) {
    const double t = (-b - std::sqrt(disc)) / (2 * a);
    if (t > 0 && std::abs(o.z() + t * d.z()) <= h / 2) best = t;
  }
  // top cap
  const double t_top = (h / 2 - o.z()) / d.z();
  if (t_top > 0 && (o.head<2>() + t_top * d.head<2>()).norm() <= r) best = std::min(best, t_top);
  return best;  // d_cam.z == 1, so t is the depth
}

TEST(Render, BottleCentreProjectsOntoBottlePixelsAtItsDepth) {
  auto scene = Scene("bottle_place");
  auto visual = std::make_shared<VisualModel>(scene);
  const sim::SceneParams params = scene->Nominal();
  sim::World world(scene, params);
  const CameraSpec cam = Camera("agentview", 128);
  FrameRenderer frames(visual, {cam});
  Image rgb;
  DepthImage depth;
  frames.RenderState(params, world.GetState(), 0, 0, &rgb, &depth);
  ASSERT_EQ(rgb.width, 128);
  ASSERT_EQ(rgb.rgb.size(), 128u * 128u * 3u);

  ScenePose pose;
  ComputePose(*visual, params, world.GetState(), &pose);
  const Eigen::Isometry3d cam_pose = CameraWorldPose(*visual, pose, cam, sim::AppearanceOf(params, scene->task()), nullptr);
  const Eigen::Vector3d centre = world.ObjectPose(0).translation();
  const Eigen::Vector3d p = cam_pose.inverse() * centre;
  const Intrinsics k = cam.intrinsics();
  const int u = static_cast<int>(std::floor(k.fx * p.x() / p.z() + k.cx));
  const int v = static_cast<int>(std::floor(k.fy * p.y() / p.z() + k.cy));
  ASSERT_GE(u, 0);
  ASSERT_LT(u, 128);
  ASSERT_GE(v, 0);
  ASSERT_LT(v, 128);
  // The bottle is blue: blue dominates red and green at its centre and around it.
  for (int du = -1; du <= 1; ++du) {
    for (int dv = -1; dv <= 1; ++dv) {
      const Eigen::Vector3d c = Pixel(rgb, u + du, v + dv);
      EXPECT_GT(c.z(), c.x() + 40) << "pixel " << u + du << "," << v + dv << " = " << c.transpose();
      EXPECT_GT(c.z(), c.y() + 10) << "pixel " << u + du << "," << v + dv << " = " << c.transpose();
    }
  }
  const double r = world.ObjectSize(0).x(), h = world.ObjectSize(0).y();
  const double expected = CylinderDepth(cam_pose, k, u, v, centre, r, h);
  ASSERT_TRUE(std::isfinite(expected));
  EXPECT_NEAR(depth.z[static_cast<size_t>(v) * 128 + u], expected, 0.003);
  // A table pixel far from every object reads table colour, and the depth there is the
  // distance to the table plane.
  const Eigen::Vector3d table_point(0.75, -0.25, params.table_height);
  const Eigen::Vector3d q = cam_pose.inverse() * table_point;
  const int tu = static_cast<int>(std::floor(k.fx * q.x() / q.z() + k.cx));
  const int tv = static_cast<int>(std::floor(k.fy * q.y() / q.z() + k.cy));
  const Eigen::Vector3d d_cam((tu + 0.5 - k.cx) / k.fx, (tv + 0.5 - k.cy) / k.fy, 1.0);
  const Eigen::Vector3d d = cam_pose.linear() * d_cam;
  const double t = (params.table_height - cam_pose.translation().z()) / d.z();
  EXPECT_NEAR(depth.z[static_cast<size_t>(tv) * 128 + tu], t, 0.003);
  const Eigen::Vector3d tc = Pixel(rgb, tu, tv);
  EXPECT_GT(tc.x(), tc.z()) << tc.transpose();  // brownish
}

TEST(Render, LinkFramesMatchBullet) {
  auto scene = Scene("bottle_place");
  sim::SceneParams params = scene->Nominal();
  params.start_joints << 0.3, -0.2, 0.1, -0.4, 0.2, 0.5, -0.3;
  sim::World world(scene, params);
  const Eigen::VectorXd state = world.GetState();
  auto visual = std::make_shared<VisualModel>(scene);
  ScenePose pose;
  ComputePose(*visual, params, state, &pose);
  const sim::RobotDesc& robot = scene->robot();
  btMultiBody* mb = world.robot_body().body;
  for (int i = 0; i < mb->getNumLinks(); ++i) {
    const btTransform& t = mb->getLink(i).m_cachedWorldTransform;
    Eigen::Isometry3d com = Eigen::Isometry3d::Identity();
    for (int r = 0; r < 3; ++r) {
      for (int c = 0; c < 3; ++c) com.linear()(r, c) = t.getBasis()[r][c];
      com.translation()[r] = t.getOrigin()[r];
    }
    const Eigen::Isometry3d link = com * robot.links[i + 1].inertial.inverse();
    EXPECT_LT((link.translation() - pose.links[i + 1].translation()).norm(), 1e-6) << robot.links[i + 1].name;
    EXPECT_LT((link.linear() - pose.links[i + 1].linear()).norm(), 1e-6) << robot.links[i + 1].name;
  }
}

TEST(Render, WristCameraMovesWithTheHand) {
  auto scene = Scene("bottle_place");
  auto visual = std::make_shared<VisualModel>(scene);
  const sim::SceneParams params = scene->Nominal();
  sim::World world(scene, params);
  FrameRenderer frames(visual, {Camera("robot0_eye_in_hand", 84), Camera("agentview", 84)});
  Image before, after, agent_before, agent_after;
  frames.RenderState(params, world.GetState(), 0, 0, &before);
  frames.RenderState(params, world.GetState(), 0, 1, &agent_before);
  sim::Action a = sim::Action::Zero();
  a << 0.6, 0.4, -0.6, 0.0, 0.0, 0.5, -1.0;
  for (int i = 0; i < 15; ++i) world.Step(a);
  frames.RenderState(params, world.GetState(), 0, 0, &after);
  frames.RenderState(params, world.GetState(), 0, 1, &agent_after);
  auto changed = [](const Image& x, const Image& y) {
    int n = 0;
    for (size_t i = 0; i < x.rgb.size(); i += 3) {
      if (std::abs(x.rgb[i] - y.rgb[i]) + std::abs(x.rgb[i + 1] - y.rgb[i + 1]) + std::abs(x.rgb[i + 2] - y.rgb[i + 2]) > 30) ++n;
    }
    return static_cast<double>(n) / (x.rgb.size() / 3);
  };
  EXPECT_GT(changed(before, after), 0.2);
  // The fixed camera sees the arm move, but most of its picture (table, floor) stays.
  EXPECT_GT(changed(agent_before, agent_after), 0.005);
  EXPECT_LT(changed(agent_before, agent_after), 0.5);
}

TEST(Render, SameStateSameBytes) {
  auto scene = Scene("cube_stack");
  auto visual = std::make_shared<VisualModel>(scene);
  const augment::PerturbationSpec spec = augment::ParseSpec(
      "table_texture: {dist: choice, values: [checker, wood]}\n"
      "object_hue: {dist: uniform, min: -40, max: 40}\n"
      "image_noise: {dist: uniform, min: 2, max: 4}\n"
      "image_blur: {dist: uniform, min: 0.3, max: 0.8}\n"
      "jpeg_quality: {dist: uniform_int, min: 70, max: 90}\n",
      "test.yaml");
  const sim::SceneParams params = augment::SampleScene(*scene, spec, 7, 3);
  ASSERT_TRUE(params.appearance.has_value());
  sim::World world(scene, params);
  const auto cams = DefaultCameras(84);
  FrameRenderer a(visual, cams);
  FrameRenderer b(visual, cams);
  Eigen::MatrixXd states(2, world.StateDim());
  states.row(0) = world.GetState().transpose();
  world.Step(sim::Action::Zero());
  states.row(1) = world.GetState().transpose();
  const auto fa = a.RenderStates(params, states, true);
  const auto fa2 = a.RenderStates(params, states, true);
  const auto fb = b.RenderStates(params, states, true);
  ASSERT_EQ(fa.size(), 2u);
  for (size_t k = 0; k < fa.size(); ++k) {
    EXPECT_EQ(fa[k].rgb, fa2[k].rgb);
    EXPECT_EQ(fa[k].rgb, fb[k].rgb);
    EXPECT_EQ(fa[k].depth, fb[k].depth);
  }
}

TEST(Render, AppearanceChangesPixelsNotStates) {
  auto scene = Scene("bottle_place");
  auto visual = std::make_shared<VisualModel>(scene);
  const augment::PerturbationSpec physical =
      augment::ParseSpec("object_x: {dist: uniform, min: -0.05, max: 0.05}\nfriction: {dist: uniform, min: 0.6, max: 1.0}\n",
                         "physical.yaml");
  const augment::PerturbationSpec visual_spec = augment::ParseSpec(
      "object_x: {dist: uniform, min: -0.05, max: 0.05}\nfriction: {dist: uniform, min: 0.6, max: 1.0}\n"
      "table_hue: {dist: uniform, min: -90, max: 90}\ntable_brightness: {dist: uniform, min: 0.6, max: 1.3}\n"
      "light_azimuth: {dist: uniform, min: -60, max: 60}\nlight_intensity: {dist: uniform, min: 0.6, max: 1.4}\n"
      "ambient: {dist: uniform, min: 0.1, max: 0.5}\ncamera_position: {dist: uniform, min: -2, max: 2}\n"
      "table_texture: {dist: choice, values: [checker, stripes, noise, wood]}\n",
      "visual.yaml");
  const sim::SceneParams p0 = augment::SampleScene(*scene, physical, 11, 5);
  const sim::SceneParams p1 = augment::SampleScene(*scene, visual_spec, 11, 5);
  EXPECT_FALSE(p0.appearance.has_value());
  ASSERT_TRUE(p1.appearance.has_value());
  sim::SceneParams p1_no_look = p1;
  p1_no_look.appearance.reset();
  EXPECT_EQ(sim::ToJson(p0).dump(), sim::ToJson(p1_no_look).dump());
  sim::World w0(scene, p0), w1(scene, p1);
  sim::Action a = sim::Action::Zero();
  a << 0.3, 0.0, -0.5, 0.0, 0.0, 0.0, 1.0;
  for (int i = 0; i < 10; ++i) {
    w0.Step(a);
    w1.Step(a);
  }
  EXPECT_EQ(w0.GetState(), w1.GetState());
  FrameRenderer frames(visual, {Camera("agentview", 84)});
  Image i0, i1;
  frames.RenderState(p0, w0.GetState(), 0, 0, &i0);
  frames.RenderState(p1, w1.GetState(), 0, 0, &i1);
  EXPECT_NE(i0.rgb, i1.rgb);
  // The appearance survives the JSON round trip the episode files use.
  const sim::SceneParams back = sim::SceneParamsFromJson(sim::ToJson(p1));
  Image i2;
  frames.RenderState(back, w1.GetState(), 0, 0, &i2);
  EXPECT_EQ(i1.rgb, i2.rgb);
}

TEST(Render, BadCamerasNameTheField) {
  CameraSpec c = DefaultCameras().front();
  c.width = 0;
  try {
    c.Validate();
    FAIL();
  } catch (const RenderError& e) {
    EXPECT_NE(std::string(e.what()).find("camera 'agentview': width"), std::string::npos) << e.what();
  }
  c = DefaultCameras().front();
  c.fovy_deg = 200;
  EXPECT_THROW(c.Validate(), RenderError);
  try {
    SelectCameras("agentview,frontview", DefaultCameras());
    FAIL();
  } catch (const RenderError& e) {
    EXPECT_NE(std::string(e.what()).find("unknown camera 'frontview'"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("robot0_eye_in_hand"), std::string::npos) << e.what();
  }
  nlohmann::json j = DefaultCameras().back().ToJson();
  const CameraSpec back = CameraSpec::FromJson(j);
  EXPECT_EQ(back.name, "robot0_eye_in_hand");
  EXPECT_EQ(back.mount, "panda_hand");
  EXPECT_LT((back.pose.matrix() - DefaultCameras().back().pose.matrix()).norm(), 1e-12);
  j["mount"] = "panda_elbow";
  auto scene = Scene("bottle_place");
  EXPECT_THROW(FrameRenderer(std::make_shared<VisualModel>(scene), {CameraSpec::FromJson(j)}), RenderError);
  j["height"] = -5;
  EXPECT_THROW(CameraSpec::FromJson(j), RenderError);
}

TEST(RenderDeathTest, NoEglIsOneClearError) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  auto scene = Scene("bottle_place");
  EXPECT_EXIT(
      {
        setenv("__EGL_VENDOR_LIBRARY_FILENAMES", "/nonexistent/vendor.json", 1);
        try {
          Renderer r(std::make_shared<VisualModel>(scene));
        } catch (const RenderError& e) {
          std::fprintf(stderr, "%s\n", e.what());
          std::exit(3);
        }
        std::exit(0);
      },
      testing::ExitedWithCode(3), "libegl-mesa0");
}

}  // namespace
}  // namespace dreamforge::render
