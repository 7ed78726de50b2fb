// dreamforge report end to end: the run directory of `tools/run.sh --quick` (its stages
// and sizes: 50 dreams, 5 epochs, 20 episodes) made with the real binary (dream, train,
// eval, export, control), the report rendered in headless Chromium: no
// console errors, every section present, each plot an inline <svg>. The screenshot is
// kept in the build folder (report_screenshot.png) for a person to look at.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "tests/common/test_util.h"

namespace dreamforge {
namespace {

namespace fs = std::filesystem;
using test::CmdResult;
using test::Shell;
using ::testing::HasSubstr;

const std::string kBin = DF_DREAMFORGE_BIN;
const std::string kDemo = std::string(DF_SOURCE_DIR) + "/datasets/demos/bottle_place.hdf5";
const fs::path kScreenshot = fs::path(DF_REPORT_TEST_OUT) / "report_screenshot.png";

std::string Chromium() {
  for (const char* name : {"chromium", "chromium-browser"}) {
    const CmdResult r = Shell(std::string("command -v ") + name);
    if (r.status == 0) return name;
  }
  return "";
}

// The text of the element with this id, up to its closing </section>.
std::string SectionHtml(const std::string& dom, const std::string& id) {
  const size_t start = dom.find("id=\"" + id + "\"");
  if (start == std::string::npos) return "";
  const size_t end = dom.find("</section>", start);
  return dom.substr(start, end == std::string::npos ? std::string::npos : end - start);
}

class ReportTest : public test::TempDirTest {};

TEST_F(ReportTest, RealRunRendersInHeadlessChromiumWithoutErrors) {
  const std::string chromium = Chromium();
  ASSERT_FALSE(chromium.empty())
      << "chromium is not installed: run tools/setup.sh (Debian package chromium)";

  const fs::path run = dir_ / "run";
  fs::create_directories(run);
  fs::copy_file(kDemo, run / "demo.hdf5");
  const std::string r = run.string();
  for (const std::string& cmd : std::vector<std::string>{
           kBin + " dream --demo " + r + "/demo.hdf5 --count 50 --out " + r + "/dreams.hdf5",
           kBin + " train --data " + r + "/dreams.hdf5 --policy mlp --epochs 5 --out " +
               r + "/policy",
           // Shell appends 2>&1: the braces keep stderr (progress) out of the JSON file.
           "{ " + kBin + " eval --policy " + r + "/policy --episodes 20 --json > " + r +
               "/eval_policy.json 2>/dev/null; }",
           "{ " + kBin + " eval --baseline replay --demo " + r +
               "/demo.hdf5 --episodes 20 --json > " + r + "/eval_replay.json 2>/dev/null; }",
           kBin + " export --policy " + r + "/policy --out " + r + "/bundle",
           kBin + " control --bundle " + r + "/bundle --hardware sim --episodes 20 --stats " + r +
               "/control.json",
       }) {
    const CmdResult c = Shell(cmd);
    ASSERT_EQ(c.status, 0) << cmd << "\n" << c.output;
  }
  const CmdResult rep = Shell(kBin + " report " + r);
  ASSERT_EQ(rep.status, 0) << rep.output;
  const fs::path html = run / "report.html";
  ASSERT_TRUE(fs::exists(html));
  EXPECT_FALSE(fs::exists(run / "report.html.tmp"));
  const std::string page = test::ReadBytes(html);
  // Self-contained: nothing fetched, nothing scripted.
  EXPECT_THAT(page, ::testing::Not(HasSubstr("<script")));
  EXPECT_THAT(page, ::testing::Not(HasSubstr("src=\"http")));
  EXPECT_THAT(page, ::testing::Not(HasSubstr("@import")));

  const std::string flags =
      " --headless --no-sandbox --disable-gpu --hide-scrollbars --enable-logging=stderr --v=0 ";
  const std::string url = "file://" + fs::absolute(html).string();
  fs::create_directories(kScreenshot.parent_path());
  fs::remove(kScreenshot);
  const CmdResult shot =
      Shell(chromium + flags + "--window-size=1280,8200 --screenshot=" + kScreenshot.string() +
            " " + url);
  EXPECT_EQ(shot.status, 0) << shot.output;
  EXPECT_TRUE(fs::exists(kScreenshot)) << shot.output;
  const CmdResult dom = Shell(chromium + flags + "--dump-dom " + url);
  ASSERT_EQ(dom.status, 0) << dom.output;
  // The page has no scripts, so any console line (Chromium logs console.error, uncaught
  // exceptions and failed loads alike as "INFO:CONSOLE") is an error.
  for (const CmdResult* c : {&shot, &dom}) {
    EXPECT_THAT(c->output, ::testing::Not(HasSubstr("CONSOLE"))) << c->output;
    EXPECT_THAT(c->output, ::testing::Not(HasSubstr("Uncaught"))) << c->output;
    EXPECT_THAT(c->output, ::testing::Not(HasSubstr("ERR_FILE_NOT_FOUND"))) << c->output;
    EXPECT_THAT(c->output, ::testing::Not(HasSubstr("Failed to load"))) << c->output;
  }
  for (const char* id : {"dream-starts", "perturbations", "failures", "training", "evaluation",
                         "controller", "provenance"}) {
    const std::string s = SectionHtml(dom.output, id);
    ASSERT_FALSE(s.empty()) << "no section " << id;
    EXPECT_THAT(s, ::testing::Not(HasSubstr("not run"))) << id;
    if (std::string(id) != "provenance") {
      EXPECT_THAT(s, HasSubstr("<svg")) << id;
    }
  }
  const std::string prov = SectionHtml(dom.output, "provenance");
  EXPECT_THAT(prov, HasSubstr("0.1.0"));
  EXPECT_THAT(prov, HasSubstr("matches"));  // bundle hashes checked on disk
  EXPECT_THAT(prov, ::testing::Not(HasSubstr("differs")));
  EXPECT_THAT(SectionHtml(dom.output, "evaluation"), HasSubstr("replay baseline"));
  EXPECT_THAT(SectionHtml(dom.output, "evaluation"), HasSubstr("controller (sim)"));
  // Camera views: the demo, kept dreams and frames along one dream, as inline PNGs.
  const std::string views = SectionHtml(dom.output, "camera-views");
  ASSERT_FALSE(views.empty()) << "no section camera-views";
  EXPECT_THAT(views, HasSubstr("alt=\"demo\""));
  EXPECT_THAT(views, HasSubstr("(kept)"));
  EXPECT_THAT(views, HasSubstr("robot0_eye_in_hand t=0"));
  EXPECT_THAT(views, ::testing::Not(HasSubstr("not available")));
  size_t images = 0;
  for (size_t at = views.find("data:image/png;base64,"); at != std::string::npos;
       at = views.find("data:image/png;base64,", at + 1)) {
    ++images;
  }
  EXPECT_GE(images, 1u + 11u + 12u) << views.substr(0, 400);

  // --out elsewhere; a run directory with nothing in it says "not run" everywhere.
  const fs::path empty = dir_ / "empty";
  fs::create_directories(empty);
  const CmdResult e =
      Shell(kBin + " report " + empty.string() + " --out " + (dir_ / "e.html").string());
  ASSERT_EQ(e.status, 0) << e.output;
  const std::string ep = test::ReadBytes(dir_ / "e.html");
  for (const char* id : {"dream-starts", "failures", "training", "evaluation", "controller"}) {
    EXPECT_THAT(SectionHtml(ep, id), HasSubstr("not run")) << id;
  }
}

// A spec widened past what the fingers can hold: the failures section names the scenes
// no grasp could survive, where the attempts failed, and friction as the quantity whose
// failure rate differs most clearly between its bins.
TEST_F(ReportTest, FailuresShowWhichSampledQuantityBreaksGeneration) {
  const fs::path run = dir_ / "run";
  fs::create_directories(run);
  fs::copy_file(kDemo, run / "demo.hdf5");
  std::ofstream(run / "wide.yaml") << "friction:   {dist: uniform, min: 0.01, max: 1.2}\n"
                                       "mass_scale: {dist: uniform, min: 0.5, max: 6.0}\n";
  const std::string r = run.string();
  const CmdResult d = Shell(kBin + " dream --demo " + r + "/demo.hdf5 --perturb " + r +
                            "/wide.yaml --count 60 --seed 2 --workers 2 --out " + r + "/dreams.hdf5");
  ASSERT_EQ(d.status, 0) << d.output;
  EXPECT_THAT(d.output, HasSubstr("failed attempts by phase:"));
  EXPECT_THAT(d.output, HasSubstr("attempts were infeasible"));
  const CmdResult rep = Shell(kBin + " report " + r);
  ASSERT_EQ(rep.status, 0) << rep.output;
  const std::string failures = SectionHtml(test::ReadBytes(run / "report.html"), "failures");
  EXPECT_THAT(failures, HasSubstr("attempts were infeasible"));
  EXPECT_THAT(failures, HasSubstr("Where they failed"));
  EXPECT_THAT(failures, HasSubstr("interval gap"));
  const size_t table = failures.find("<th>interval gap</th>");
  ASSERT_NE(table, std::string::npos);
  const size_t first_row = failures.find("<tr><td>", table);
  ASSERT_NE(first_row, std::string::npos);
  const std::string friction = "<tr><td>friction</td><td>";
  EXPECT_EQ(failures.substr(first_row, friction.size()), friction);
  EXPECT_THAT(failures.substr(first_row + friction.size(), 12), ::testing::Not(HasSubstr("overlap")));
}

TEST_F(ReportTest, BadInputGetsOneLineNamingTheFileOrField) {
  CmdResult r = Shell(kBin + " report " + (dir_ / "nope").string());
  EXPECT_EQ(r.status, 2);
  EXPECT_THAT(r.output, HasSubstr("nope"));
  EXPECT_THAT(r.output, HasSubstr("RUN_DIR"));

  std::ofstream(dir_ / "eval_policy.json") << "{\"episodes\": 2}";
  r = Shell(kBin + " report " + dir_.string());
  EXPECT_EQ(r.status, 2) << r.output;
  EXPECT_THAT(r.output, HasSubstr("eval_policy.json: successes"));

  std::ofstream(dir_ / "eval_policy.json") << "{not json";
  r = Shell(kBin + " report " + dir_.string());
  EXPECT_EQ(r.status, 2) << r.output;
  EXPECT_THAT(r.output, HasSubstr("eval_policy.json: not valid JSON"));

  // A demo that is empty or not an episode file is refused, not hashed into the provenance.
  const fs::path z = dir_ / "z";
  fs::create_directories(z);
  std::ofstream(z / "demo.hdf5").close();
  r = Shell(kBin + " report " + z.string());
  EXPECT_EQ(r.status, 2) << r.output;
  EXPECT_THAT(r.output, HasSubstr((z / "demo.hdf5").string() + ": empty file (0 bytes)"));
  std::ofstream(z / "demo.hdf5") << "not hdf5";
  r = Shell(kBin + " report " + z.string());
  EXPECT_EQ(r.status, 2) << r.output;
  EXPECT_THAT(r.output, HasSubstr((z / "demo.hdf5").string()));
  EXPECT_FALSE(fs::exists(z / "report.html"));

  r = Shell(kBin + " report --help");
  EXPECT_EQ(r.status, 0);
  EXPECT_THAT(r.output, HasSubstr("RUN_DIR"));
  EXPECT_THAT(r.output, HasSubstr("--out"));
}

}  // namespace
}  // namespace dreamforge
