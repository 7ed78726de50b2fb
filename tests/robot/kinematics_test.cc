#include "robot/kinematics.h"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <random>
#include <vector>

#include <gtest/gtest.h>

#include "robot/panda_chain.h"
#include "tests/robot/alloc_counter.h"

namespace dreamforge::robot {
namespace {

constexpr double kPi = 3.14159265358979323846;

Eigen::VectorXd RandomInLimits(const Kinematics& k, std::mt19937_64& rng) {
  Eigen::VectorXd q(k.dof());
  for (int i = 0; i < k.dof(); ++i) {
    q(i) = std::uniform_real_distribution<double>(k.lower()(i), k.upper()(i))(rng);
  }
  return q;
}

bool WithinLimits(const Kinematics& k, const Eigen::VectorXd& q) {
  return q.allFinite() && (q.array() >= k.lower().array()).all() &&
         (q.array() <= k.upper().array()).all();
}

// Craig (modified) DH transform: RotX(alpha) TransX(a) RotZ(theta) TransZ(d).
Eigen::Isometry3d Craig(double a, double d, double alpha, double theta) {
  Eigen::Isometry3d t = Eigen::Isometry3d::Identity();
  t.rotate(Eigen::AngleAxisd(alpha, Eigen::Vector3d::UnitX()));
  t.translate(Eigen::Vector3d(a, 0, 0));
  t.rotate(Eigen::AngleAxisd(theta, Eigen::Vector3d::UnitZ()));
  t.translate(Eigen::Vector3d(0, 0, d));
  return t;
}

// Flange (panda_link8) pose from Franka's published modified DH table: an independent
// formulation of the same arm.
Eigen::Isometry3d PandaFlangeDh(const Eigen::VectorXd& q) {
  const double a[7] = {0, 0, 0, 0.0825, -0.0825, 0, 0.088};
  const double d[7] = {0.333, 0, 0.316, 0, 0.384, 0, 0};
  const double alpha[7] = {0, -kPi / 2, kPi / 2, kPi / 2, -kPi / 2, kPi / 2, kPi / 2};
  Eigen::Isometry3d t = Eigen::Isometry3d::Identity();
  for (int i = 0; i < 7; ++i) t = t * Craig(a[i], d[i], alpha[i], q(i));
  return t * Craig(0, 0.107, 0, 0);
}

TEST(KinematicsTest, PandaToolAtZeroMatchesHandComputed) {
  const Kinematics k(PandaChain());
  // At q = 0 the arm stands upright with the flange pointing down: x = 0.0825 - 0.0825 +
  // 0.088, z = 0.333 + 0.316 + 0.384 - 0.107 (flange) - 0.1034 (TCP) = 0.8226.
  const Eigen::Isometry3d tool = k.ToolPose(Eigen::VectorXd::Zero(7));
  EXPECT_NEAR((tool.translation() - Eigen::Vector3d(0.088, 0, 0.8226)).norm(), 0, 1e-9);
  // Flange axes: x along base x, z down; the hand is turned by -pi/4 about z.
  const double c = std::sqrt(0.5);
  Eigen::Matrix3d expected;
  expected << c, c, 0, c, -c, 0, 0, 0, -1;
  EXPECT_NEAR((tool.linear() - expected).cwiseAbs().maxCoeff(), 0, 1e-9);

  std::vector<Eigen::Isometry3d> links;
  k.LinkPoses(Eigen::VectorXd::Zero(7), &links);
  ASSERT_EQ(links.size(), 9u);
  EXPECT_NEAR((links[0].translation() - Eigen::Vector3d(0, 0, 0.333)).norm(), 0, 1e-12);
  EXPECT_NEAR((links[7].translation() - Eigen::Vector3d(0.088, 0, 0.926)).norm(), 0, 1e-9);
}

TEST(KinematicsTest, PandaMatchesDenavitHartenberg) {
  const Kinematics k(PandaChain());
  std::mt19937_64 rng(1);
  std::vector<Eigen::Isometry3d> links;
  for (int trial = 0; trial < 101; ++trial) {
    const Eigen::VectorXd q = trial == 0 ? PandaHomeJoints() : RandomInLimits(k, rng);
    k.LinkPoses(q, &links);
    const Eigen::Isometry3d dh = PandaFlangeDh(q);
    EXPECT_NEAR((links[7].matrix() - dh.matrix()).cwiseAbs().maxCoeff(), 0, 1e-9) << trial;
    // The tool is the last link frame composed with the chain's tool transform.
    EXPECT_TRUE((links.back() * k.chain().tool).isApprox(k.ToolPose(q), 1e-14));
  }
  // Home: flange about 0.307 m in front of the base, 0.59 m up, pointing down.
  const Eigen::Isometry3d home = k.ToolPose(PandaHomeJoints());
  std::printf("Panda home tool pose: xyz %.6f %.6f %.6f\n", home.translation().x(),
              home.translation().y(), home.translation().z());
  EXPECT_NEAR(home.translation().x(), 0.307, 0.002);
  EXPECT_NEAR(home.translation().y(), 0.0, 1e-3);
  EXPECT_NEAR(home.translation().z(), 0.59 - 0.1034, 0.002);
  EXPECT_LT((home.linear() * Eigen::Vector3d::UnitZ() + Eigen::Vector3d::UnitZ()).norm(), 1e-3);
}

TEST(KinematicsTest, JacobianMatchesFiniteDifferences) {
  KinematicChain chain = PandaChain();
  JointSpec slide;  // a prismatic joint exercises the other column type
  slide.name = "slide";
  slide.type = JointType::kPrismatic;
  slide.origin = FromXyzRpy({0.01, 0.02, 0.03}, {0.3, -0.2, 0.1});
  slide.axis = Eigen::Vector3d(1, 2, 2) / 3.0;
  slide.lower = -0.1;
  slide.upper = 0.1;
  slide.child_link = "slider";
  chain.joints.insert(chain.joints.begin() + 4, slide);
  const Kinematics k(chain);
  ASSERT_EQ(k.dof(), 8);
  std::mt19937_64 rng(2);
  const double h = 1e-6;
  Jacobian6d jac;
  double worst = 0;
  for (int trial = 0; trial < 100; ++trial) {
    const Eigen::VectorXd q = RandomInLimits(k, rng);
    k.Jacobian(q, &jac);
    ASSERT_EQ(jac.cols(), 8);
    for (int i = 0; i < k.dof(); ++i) {
      Eigen::VectorXd qp = q, qm = q;
      qp(i) += h;
      qm(i) -= h;
      const Eigen::Isometry3d tp = k.ToolPose(qp), tm = k.ToolPose(qm);
      Eigen::Matrix<double, 6, 1> fd;
      fd.head<3>() = (tp.translation() - tm.translation()) / (2 * h);
      fd.tail<3>() = MatrixToAxisAngle(tp.linear() * tm.linear().transpose()) / (2 * h);
      const double err = (fd - jac.col(i)).cwiseAbs().maxCoeff();
      worst = std::max(worst, err);
      EXPECT_LT(err, 1e-6) << "trial " << trial << " joint " << i;
    }
  }
  std::printf("Jacobian vs central differences: worst %.2e\n", worst);
}

struct IkStats {
  int successes = 0;
  int total = 0;
  long iterations = 0;
  int max_iterations = 0;
  double seconds = 0;
};

// Solves IK for `trials` targets (FK of random in-limit configurations); the seed is
// home (perturbation 0) or the target configuration perturbed by up to `perturbation`.
IkStats RunIk(const char* label, std::uint64_t seed, int trials, double perturbation,
              const IkOptions& opt) {
  Kinematics k(PandaChain());
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> noise(-perturbation, perturbation);
  IkStats stats;
  Eigen::VectorXd q_out(7);
  for (int t = 0; t < trials; ++t) {
    const Eigen::VectorXd q_goal = RandomInLimits(k, rng);
    const Eigen::Isometry3d target = k.ToolPose(q_goal);
    Eigen::VectorXd q_seed = PandaHomeJoints();
    if (perturbation > 0) {
      for (int i = 0; i < 7; ++i) q_seed(i) = q_goal(i) + noise(rng);
    }
    const auto start = std::chrono::steady_clock::now();
    const IkResult r = k.SolveIk(target, q_seed, opt, &q_out);
    stats.seconds +=
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    EXPECT_TRUE(WithinLimits(k, q_out)) << q_out.transpose();
    // The reported errors belong to the returned q.
    const Eigen::Isometry3d reached = k.ToolPose(q_out);
    EXPECT_NEAR(r.position_error, (reached.translation() - target.translation()).norm(), 1e-12);
    EXPECT_NEAR(r.rotation_error, RotationError(target.linear(), reached.linear()).norm(), 1e-12);
    const bool ok = r.position_error <= 1e-3 && r.rotation_error <= 0.01;
    EXPECT_EQ(r.converged, r.position_error <= opt.position_tolerance &&
                               r.rotation_error <= opt.rotation_tolerance);
    stats.successes += ok ? 1 : 0;
    ++stats.total;
    stats.iterations += r.iterations;
    stats.max_iterations = std::max(stats.max_iterations, r.iterations);
  }
  std::printf("IK %s: %d/%d within 1 mm / 0.01 rad, mean %.1f iterations (max %d), %.1f us/solve\n",
              label, stats.successes, stats.total,
              static_cast<double>(stats.iterations) / stats.total, stats.max_iterations,
              1e6 * stats.seconds / stats.total);
  return stats;
}

TEST(KinematicsTest, IkFromNearbySeedAlwaysConverges) {
  const IkStats s = RunIk("nearby seed", 3, 100, 0.3, IkOptions());
  EXPECT_EQ(s.successes, s.total);
}

TEST(KinematicsTest, IkFromHomeConvergesWithRestarts) {
  IkOptions opt;
  opt.max_restarts = 20;
  opt.max_iterations = 200;
  const IkStats s = RunIk("home, 20 restarts", 4, 100, 0.0, opt);
  EXPECT_GE(s.successes, 95);
  // Without restarts a single descent from home ends in a local minimum (a joint limit,
  // mostly the wrist) for about one target in five.
  const IkStats single = RunIk("home, no restart", 4, 100, 0.0, IkOptions());
  EXPECT_GE(single.successes, 70);
}

TEST(KinematicsTest, IkWithFixedDampingFromNearbySeed) {
  IkOptions opt;
  opt.adaptive_damping = false;
  opt.damping = 0.01;
  const IkStats s = RunIk("nearby seed, fixed damping", 5, 50, 0.3, opt);
  EXPECT_GE(s.successes, 48);
}

TEST(KinematicsTest, IkWithNullspacePullFromNearbySeed) {
  IkOptions opt;
  opt.nullspace_gain = 0.1;
  const IkStats s = RunIk("nearby seed, pull to mid-range", 9, 50, 0.3, opt);
  EXPECT_EQ(s.successes, s.total);
  opt.rest = IkOptions::Rest::kSeed;
  const IkStats t = RunIk("nearby seed, pull to seed", 10, 50, 0.3, opt);
  EXPECT_EQ(t.successes, t.total);
}

TEST(KinematicsTest, IkIsDeterministic) {
  Kinematics a(PandaChain()), b(PandaChain());
  std::mt19937_64 rng(12);
  IkOptions opt;
  opt.max_restarts = 20;
  opt.max_iterations = 200;
  Eigen::VectorXd qa(7), qb(7);
  for (int t = 0; t < 20; ++t) {
    const Eigen::Isometry3d target = a.ToolPose(RandomInLimits(a, rng));
    const IkResult ra = a.SolveIk(target, PandaHomeJoints(), opt, &qa);
    const IkResult rb = b.SolveIk(target, PandaHomeJoints(), opt, &qb);
    EXPECT_EQ(ra.iterations, rb.iterations);
    EXPECT_TRUE(qa == qb) << t;
  }
}

TEST(KinematicsTest, IkUnreachableTargetFailsCleanly) {
  Kinematics k(PandaChain());
  Eigen::Isometry3d target = k.ToolPose(PandaHomeJoints());
  target.translation() += Eigen::Vector3d(3.0, 0.0, 0.0);
  Eigen::VectorXd q(7);
  const IkResult r = k.SolveIk(target, PandaHomeJoints(), IkOptions(), &q);
  EXPECT_FALSE(r.converged);
  EXPECT_GT(r.position_error, 2.0);  // reach is under 1 m
  EXPECT_TRUE(WithinLimits(k, q)) << q.transpose();
  EXPECT_GT(r.iterations, 0);
  // A seed outside the limits or with a NaN is clamped, never returned as is.
  Eigen::VectorXd bad_seed = PandaHomeJoints();
  bad_seed(0) = 10.0;
  bad_seed(3) = std::nan("");
  k.SolveIk(k.ToolPose(PandaHomeJoints()), bad_seed, IkOptions(), &q);
  EXPECT_TRUE(WithinLimits(k, q)) << q.transpose();
  // A non-finite target reports failure with the clamped seed.
  target.translation().x() = std::nan("");
  const IkResult nan = k.SolveIk(target, bad_seed, IkOptions(), &q);
  EXPECT_FALSE(nan.converged);
  EXPECT_TRUE(WithinLimits(k, q));
}

TEST(KinematicsTest, IkLocksTrailingJoints) {
  Kinematics k(PandaChain());
  std::mt19937_64 rng(6);
  std::uniform_real_distribution<double> noise(-0.2, 0.2);
  IkOptions opt;
  opt.num_active = 6;
  Eigen::VectorXd q_out(7);
  for (int t = 0; t < 20; ++t) {
    const Eigen::VectorXd q_goal = RandomInLimits(k, rng);
    Eigen::VectorXd q_seed = q_goal;
    for (int i = 0; i < 6; ++i)
      q_seed(i) = std::clamp(q_goal(i) + noise(rng), k.lower()(i), k.upper()(i));
    const IkResult r = k.SolveIk(k.ToolPose(q_goal), q_seed, opt, &q_out);
    EXPECT_TRUE(r.converged) << t;
    EXPECT_EQ(q_out(6), q_seed(6));
  }
}

TEST(KinematicsTest, HotPathsDoNotAllocate) {
  Kinematics k(PandaChain());
  std::mt19937_64 rng(8);
  const Eigen::VectorXd q = RandomInLimits(k, rng);
  Eigen::Isometry3d far = k.ToolPose(q);
  far.translation().x() += 3.0;
  const Eigen::Isometry3d near = k.ToolPose(RandomInLimits(k, rng));
  Jacobian6d jac(6, 7);
  std::vector<Eigen::Isometry3d> links(k.chain().joints.size());
  Eigen::VectorXd q_out(7);
  IkOptions fixed;
  fixed.adaptive_damping = false;
  IkOptions partial;
  partial.num_active = 5;
  partial.rest = IkOptions::Rest::kSeed;
  IkOptions restarts;
  restarts.max_restarts = 20;
  restarts.max_iterations = 200;
  restarts.nullspace_gain = 0.1;
  const Eigen::VectorXd home = PandaHomeJoints();
  double sink = 0;
  test::AllocCounter counter;
  sink += k.ToolPose(q).translation().x();
  k.Jacobian(q, &jac);
  k.LinkPoses(q, &links);
  sink += k.SolveIk(near, home, IkOptions(), &q_out).position_error;
  sink += k.SolveIk(near, home, restarts, &q_out).position_error;
  sink += k.SolveIk(far, q, IkOptions(), &q_out).position_error;
  sink += k.SolveIk(near, q, fixed, &q_out).position_error;
  sink += k.SolveIk(near, q, partial, &q_out).position_error;
  sink += k.SolveIk(far, home, restarts, &q_out).position_error;
  EXPECT_EQ(counter.new_calls(), 0);
  EXPECT_EQ(counter.malloc_calls(), 0);
  EXPECT_TRUE(std::isfinite(sink));
}

TEST(KinematicsTest, AllocCounterSeesEigenAndNew) {
  test::AllocCounter counter;
  auto* v = new Eigen::VectorXd(1000);
  v->setOnes();
  asm volatile("" : : "g"(v->data()) : "memory");
  const double sum = v->sum();
  delete v;
  EXPECT_EQ(sum, 1000.0);
  EXPECT_GE(counter.new_calls(), 1);
  if (test::AllocCounter::CountsMalloc()) {
    EXPECT_GE(counter.malloc_calls(), 2);  // the new above and Eigen's own std::malloc
  }
}

}  // namespace
}  // namespace dreamforge::robot
