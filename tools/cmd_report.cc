// dreamforge report RUN_DIR: one self-contained HTML page (inline CSS and SVG, no
// scripts, fonts or images) summarizing a run directory: dream starts, perturbations,
// dream failures, training curves, evaluation, controller timing and provenance.
#include <H5public.h>
#include <LinearMath/btScalar.h>
#include <torch/version.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <sstream>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "augment/dream.h"
#include "augment/evaluate.h"
#include "datasets/episode_store.h"
#include "render/camera.h"
#include "render/dataset_render.h"
#include "render/frames.h"
#include "render/render_error.h"
#include "robot/sha256.h"
#include "tools/cli_util.h"
#include "tools/commands.h"
#include "tools/report_svg.h"

namespace dreamforge::tools {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using svg::Escape;
using svg::Num;

struct ReportArgs {
  std::string run_dir;
  std::string out;
};

// A JSON file of the run, or nullopt when it does not exist. Bad JSON: UsageError naming it.
std::optional<json> ReadJson(const fs::path& p) {
  if (!fs::exists(p)) return std::nullopt;
  std::ifstream in(p);
  json j = json::parse(in, nullptr, false);
  if (j.is_discarded()) throw UsageError("report: " + p.string() + ": not valid JSON");
  return j;
}

std::optional<std::vector<json>> ReadJsonLines(const fs::path& p) {
  if (!fs::exists(p)) return std::nullopt;
  std::ifstream in(p);
  std::vector<json> out;
  int n = 0;
  for (std::string line; std::getline(in, line);) {
    ++n;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    json j = json::parse(line, nullptr, false);
    if (j.is_discarded() || !j.is_object()) {
      throw UsageError("report: " + p.string() + ": line " + std::to_string(n) +
                       ": not a JSON object");
    }
    out.push_back(std::move(j));
  }
  return out;
}

double Number(const json& j, const fs::path& file, const std::string& field) {
  if (!j.is_object() || !j.contains(field) || !j[field].is_number()) {
    throw UsageError("report: " + file.string() + ": " + field + ": missing or not a number");
  }
  return j[field].get<double>();
}

// A number or NaN when absent / null.
double Maybe(const json& j, const std::string& field) {
  return j.is_object() && j.contains(field) && j[field].is_number() ? j[field].get<double>()
                                                                    : std::nan("");
}

std::string NotRun(const std::string& what) {
  return "<p class=\"notrun\">not run (" + Escape(what) + " is missing)</p>";
}

std::string Section(const std::string& id, const std::string& title, const std::string& body) {
  return "<section id=\"" + id + "\"><h2>" + Escape(title) + "</h2>\n" + body + "</section>\n";
}

std::string Row(const std::vector<std::string>& cells, bool head = false) {
  std::string r = "<tr>";
  for (const auto& c : cells) r += (head ? "<th>" : "<td>") + c + (head ? "</th>" : "</td>");
  return r + "</tr>";
}

std::string Pct(double v) { return std::isfinite(v) ? Num(100 * v, 3) + "%" : "n/a"; }

// ---- dreams -------------------------------------------------------------------------

struct DreamData {
  bool present = false;
  std::string spec_note;
  json spec_json;
  uint64_t seed = 0;
  std::vector<double> kept_x, kept_y, failed_x, failed_y;
  std::vector<json> perturbations;         // kept dreams, as stored
  std::vector<json> failed_perturbations;  // failed attempts, recomputed from spec and seed
};

DreamData LoadDreams(const fs::path& run, const std::optional<json>& summary) {
  DreamData d;
  const fs::path file = run / "dreams.hdf5";
  if (!fs::exists(file)) return d;
  d.present = true;
  datasets::EpisodeReader reader(file);
  const json env = reader.env_args();
  const std::string task = env.value("env_name", "");
  if (task.empty())
    throw UsageError("report: " + file.string() + ": /data env_args.env_name: missing");
  auto model = std::make_shared<const sim::SceneModel>(task, sim::SceneModel::DefaultUrdf());
  augment::PerturbationSpec spec;
  const json df = env.value("dreamforge", json::object());
  if (df.contains("spec") && df["spec"].is_object()) {
    // The spec's JSON is valid YAML (flow style): parsed and validated like a spec file.
    spec = augment::ParseSpec(df["spec"].dump(), file.string() + " env_args.dreamforge.spec");
    d.spec_note = "recovered from " + file.filename().string() + " (env_args.dreamforge.spec)";
  } else if (summary && summary->contains("spec") && fs::exists(summary->value("spec", ""))) {
    spec = augment::LoadSpec(summary->value("spec", ""));
    d.spec_note = "read from " + summary->value("spec", "") + " (named in dreams.summary.json)";
  } else {
    spec = augment::LoadSpec(augment::DefaultSpecPath(task));
    d.spec_note = "not recoverable from the run: the task's default spec " +
                  augment::DefaultSpecPath(task).string() + " is assumed";
  }
  d.spec_json = spec.ToJson();
  if (df.contains("seed") && df["seed"].is_number_unsigned()) {
    d.seed = df["seed"].get<uint64_t>();
  } else if (summary && (*summary).contains("seed") && (*summary)["seed"].is_number_unsigned()) {
    d.seed = (*summary)["seed"].get<uint64_t>();
  }
  for (int e = 0; e < reader.num_episodes(); ++e) {
    const json p = reader.ReadPerturbation(e);
    const std::string where = file.string() + ": demo " + std::to_string(e) + " perturbation";
    if (!p.contains("object_start") || !p["object_start"].is_array() || p["object_start"].empty() ||
        p["object_start"][0].size() < 2) {
      throw UsageError("report: " + where + ".object_start: missing or malformed");
    }
    d.kept_x.push_back(p["object_start"][0][0].get<double>());
    d.kept_y.push_back(p["object_start"][0][1].get<double>());
    if (!p.contains("dream_index") || !p.contains("attempt")) {
      throw UsageError("report: " + where + ": dream_index/attempt: missing");
    }
    const uint64_t i = p["dream_index"].get<uint64_t>();
    const uint64_t a = p["attempt"].get<uint64_t>();
    for (uint64_t j = 0; j < a; ++j) {
      const sim::SceneParams s =
          augment::SampleScene(*model, spec, d.seed, augment::DreamKey(i, j));
      d.failed_x.push_back(s.object_start.at(0).x());
      d.failed_y.push_back(s.object_start.at(0).y());
      d.failed_perturbations.push_back(sim::ToJson(s));
    }
    d.perturbations.push_back(p);
  }
  return d;
}

std::string DreamStarts(const DreamData& d) {
  if (!d.present) return NotRun("dreams.hdf5");
  svg::Axes ax{"Object start positions (object 0)", "x (m)", "y (m)"};
  ax.width = 620;
  ax.height = 480;
  std::string body = svg::Scatter(
      ax, {{"kept (" + std::to_string(d.kept_x.size()) + ")", d.kept_x, d.kept_y, "#2ca02c", false},
           {"failed (" + std::to_string(d.failed_x.size()) + ")", d.failed_x, d.failed_y, "#d62728",
            true}});
  body +=
      "<p>Failed attempts are not stored; they are recomputed from the spec and the dream seed (" +
      std::to_string(d.seed) + "). Spec " + Escape(d.spec_note) + ".</p>";
  return body;
}

// Every numeric leaf of sampled scenes (attr `perturbation`): name -> values, in order.
std::map<std::string, std::vector<double>> Flatten(const std::vector<json>& scenes) {
  std::map<std::string, std::vector<double>> q;
  const std::vector<std::string> xyz = {"x", "y", "yaw"};
  for (const json& p : scenes) {
    for (const auto& [k, v] : p.items()) {
      if (k == "dream_index" || k == "attempt" || k == "run_seed" || k == "noise_seed") continue;
      if (v.is_number()) {
        q[k].push_back(v.get<double>());
      } else if (v.is_array()) {
        for (size_t i = 0; i < v.size(); ++i) {
          if (v[i].is_number()) {
            std::string name = k;
            if (k == "target" && v.size() == 3) {
              name += " " + xyz[i];
            } else if (v.size() > 1) {
              name += "[" + std::to_string(i) + "]";
            }
            q[name].push_back(v[i].get<double>());
          } else if (v[i].is_array()) {
            for (size_t c = 0; c < v[i].size(); ++c) {
              const std::string comp = v[i].size() == 3 ? xyz[c] : std::to_string(c);
              q[k + "[" + std::to_string(i) + "] " + comp].push_back(v[i][c].get<double>());
            }
          }
        }
      }
    }
  }
  return q;
}

std::string Perturbations(const DreamData& d) {
  if (!d.present) return NotRun("dreams.hdf5");
  if (d.perturbations.empty()) return "<p>No kept dreams.</p>";
  const std::map<std::string, std::vector<double>> q = Flatten(d.perturbations);
  std::string plots, constants;
  for (const auto& [name, values] : q) {
    bool constant = true;
    for (double v : values) constant = constant && v == values.front();
    if (constant) {
      constants += (constants.empty() ? "" : ", ") + Escape(name) + " = " + Num(values.front());
      continue;
    }
    svg::Axes ax{name, name, "kept dreams"};
    ax.width = 370;
    ax.height = 240;
    plots += svg::Histogram(ax, values, 12, "#1f77b4");
  }
  std::string body = "<p>Sampled values of the " + std::to_string(d.perturbations.size()) +
                     " kept dreams (attr <code>perturbation</code>).</p><div class=\"grid\">" +
                     plots + "</div>";
  if (!constants.empty())
    body += "<p>Constant across kept dreams (not plotted): " + constants + ".</p>";
  return body;
}

// Failure rate against each sampled quantity: every attempt (kept dreams and the failed
// attempts recomputed from spec and seed) binned over the quantity's range; the quantities
// whose rate varies most between bins come first.
std::string FailureFactors(const DreamData& d) {
  if (!d.present) return NotRun("dreams.hdf5");
  if (d.failed_perturbations.empty()) return "<p>No failed attempts: nothing to explain.</p>";
  const auto kept = Flatten(d.perturbations);
  const auto failed = Flatten(d.failed_perturbations);
  constexpr int kBins = 5;
  constexpr int kMinAttempts = 5;  // bins with fewer attempts do not count for the gap
  struct Factor {
    std::string name;
    double gap = 0;
    std::string chart;
    std::string row;
  };
  std::vector<Factor> factors;
  for (const auto& [name, fv] : failed) {
    const auto kt = kept.find(name);
    if (kt == kept.end() || kt->second.empty()) continue;
    double lo = fv.front(), hi = fv.front();
    for (const auto* v : {&fv, &kt->second}) {
      for (double x : *v) lo = std::min(lo, x), hi = std::max(hi, x);
    }
    if (!(hi > lo)) continue;  // constant: explains nothing
    std::vector<int64_t> n_kept(kBins, 0), n_failed(kBins, 0);
    auto bin = [&](double x) { return std::min(kBins - 1, static_cast<int>((x - lo) / (hi - lo) * kBins)); };
    for (double x : kt->second) ++n_kept[bin(x)];
    for (double x : fv) ++n_failed[bin(x)];
    std::vector<svg::Bar> bars;
    // How clearly the bins differ: the highest bin's lower 95% bound above the lowest bin's
    // upper bound (negative: the intervals overlap, no evidence).
    double max_low = 0, min_high = 1;
    std::string cells;
    for (int b = 0; b < kBins; ++b) {
      const int64_t n = n_kept[b] + n_failed[b];
      const double rate = n > 0 ? static_cast<double>(n_failed[b]) / n : 0.0;
      const augment::Interval ci = augment::WilsonInterval(n_failed[b], n);
      const double a = lo + (hi - lo) * b / kBins, z = lo + (hi - lo) * (b + 1) / kBins;
      bars.push_back({Num(a, 2) + "-" + Num(z, 2), 100 * rate, n > 0, 100 * ci.low, 100 * ci.high, "#d62728"});
      if (n >= kMinAttempts) max_low = std::max(max_low, ci.low), min_high = std::min(min_high, ci.high);
      cells += "<td>" + Pct(rate) + " of " + std::to_string(n) + "</td>";
    }
    svg::Axes ax{name, name, "failed attempts (%)"};
    ax.width = 370;
    ax.height = 240;
    ax.fixed_y = true;
    ax.y_min = 0;
    ax.y_max = 100;
    const double gap = max_low - min_high;
    factors.push_back({name, gap, svg::BarChart(ax, bars),
                       "<tr><td>" + Escape(name) + "</td><td>" + (gap > 0 ? Pct(gap) : "overlap") +
                           "</td>" + cells + "</tr>\n"});
  }
  std::stable_sort(factors.begin(), factors.end(),
                   [](const Factor& a, const Factor& b) { return a.gap > b.gap; });
  std::string charts, rows;
  for (size_t k = 0; k < factors.size(); ++k) {
    if (k < 8) charts += factors[k].chart;
    rows += factors[k].row;
  }
  return "<p>Every attempt, kept or failed (" + std::to_string(d.perturbations.size()) + " and " +
         std::to_string(d.failed_perturbations.size()) +
         "), binned in " + std::to_string(kBins) +
         " equal bins over each sampled quantity's range: the share that failed, with 95% Wilson "
         "intervals. First come the quantities whose bins differ most clearly: the gap between "
         "the highest lower bound and the lowest upper bound among bins of at least " +
         std::to_string(kMinAttempts) +
         " attempts (\"overlap\": no evidence that the quantity matters). A widened spec range "
         "that breaks generation shows here as a bin with a high rate.</p><div class=\"grid\">" +
         charts + "</div><table>" +
         Row({"quantity", "interval gap", "bin 1", "bin 2", "bin 3", "bin 4", "bin 5"}, true) + rows +
         "</table>";
}

std::string Failures(const fs::path& run, const std::optional<json>& summary) {
  if (!summary) return NotRun("dreams.summary.json");
  const fs::path file = run / "dreams.summary.json";
  const double attempts = Number(*summary, file, "attempts");
  const double kept = Number(*summary, file, "kept");
  std::vector<svg::Bar> bars;
  const json failures = summary->value("failures", json::object());
  if (!failures.is_object())
    throw UsageError("report: " + file.string() + ": failures: expected an object");
  std::string rows;
  for (const auto& [reason, n] : failures.items()) {
    if (!n.is_number())
      throw UsageError("report: " + file.string() + ": failures." + reason + ": not a number");
    bars.push_back({reason, n.get<double>(), false, 0, 0, "#d62728"});
    rows += Row({Escape(reason), Num(n.get<double>())});
  }
  svg::Axes ax{"Dream failure reasons", "reason", "failed attempts"};
  ax.width = 620;
  std::string body = "<p class=\"big\">kept " + Num(kept) + " / " + Num(attempts) + " attempts (" +
                     Pct(attempts > 0 ? kept / attempts : std::nan("")) + " success)</p>";
  if (bars.empty()) {
    body += "<p>No failed attempts: every dream succeeded on its first scene.</p>";
    bars.push_back({"none", 0, false, 0, 0, ""});
    ax.fixed_y = true;
  }
  body += svg::BarChart(ax, bars);
  if (!rows.empty()) body += "<table>" + Row({"reason", "attempts"}, true) + rows + "</table>";
  const json phases = summary->value("failures_by_phase", json::object());
  if (phases.is_object() && !phases.empty()) {
    std::string prow;
    for (const auto& [phase, n] : phases.items()) {
      if (!n.is_number())
        throw UsageError("report: " + file.string() + ": failures_by_phase." + phase + ": not a number");
      prow += Row({Escape(phase), Num(n.get<double>())});
    }
    body += "<p>Where they failed: <code>grasp</code> (never lifted), the phase in which the "
            "object left the closed hand (<code>grasp</code>, <code>carry</code>, <code>place</code>), "
            "<code>release</code> (let go where the script lets go, but not placed).</p><table>" +
            Row({"phase", "failed attempts"}, true) + prow + "</table>";
  }
  const double infeasible = summary->value("infeasible", 0.0);
  if (infeasible > 0) {
    body += "<p>" + Num(infeasible) +
            " attempts were infeasible: the fingers' friction (2 x finger force x friction) was "
            "below twice the object's weight, so no grasp could have held it. Of the feasible "
            "attempts " + Pct(Maybe(*summary, "feasible_success_rate")) + " succeeded.</p>";
  }
  return body;
}

// ---- training -----------------------------------------------------------------------

std::string Training(const fs::path& run) {
  const fs::path dir = run / "policy";
  const auto metrics = ReadJsonLines(dir / "metrics.jsonl");
  if (!metrics) return NotRun("policy/metrics.jsonl");
  svg::Series train{"train loss", {}, {}, "#1f77b4", false},
      valid{"validation loss", {}, {}, "#ff7f0e", false};
  svg::Series success{"rollout success rate", {}, {}, "#2ca02c", false};
  std::string rows;
  for (const json& m : *metrics) {
    const double epoch = Number(m, dir / "metrics.jsonl", "epoch");
    train.x.push_back(epoch);
    train.y.push_back(Maybe(m, "train_loss"));
    valid.x.push_back(epoch);
    valid.y.push_back(Maybe(m, "valid_loss"));
    if (std::isfinite(Maybe(m, "success_rate"))) {
      success.x.push_back(epoch);
      success.y.push_back(Maybe(m, "success_rate"));
    }
    rows +=
        Row({Num(epoch), Num(Maybe(m, "train_loss"), 4), Num(Maybe(m, "valid_loss"), 4),
             Pct(Maybe(m, "success_rate")), Num(Maybe(m, "lr")), Num(Maybe(m, "samples_per_s"))});
  }
  svg::Axes ax{"Loss per epoch (log scale)", "epoch", "loss"};
  ax.log_y = true;
  ax.width = 620;
  std::string body = "<div class=\"grid\">" + svg::LineChart(ax, {train, valid});
  if (!success.x.empty()) {
    svg::Axes sx{"Rollout success rate", "epoch", "success rate"};
    sx.width = 460;
    sx.fixed_y = true;
    sx.y_min = -0.02;
    sx.y_max = 1.02;
    body += svg::LineChart(sx, {success});
  }
  body += "</div>";
  if (success.x.empty()) body += "<p>No rollout success rate was measured during training.</p>";
  bool any_valid = false;
  for (double v : valid.y) any_valid = any_valid || std::isfinite(v);
  if (!any_valid)
    body += "<p>No validation loss was measured (no validation split in the data).</p>";
  body += "<table>" +
          Row({"epoch", "train loss", "valid loss", "success", "lr", "samples/s"}, true) + rows +
          "</table>";
  if (const auto best = ReadJson(dir / "best.json")) {
    body += "<p>best.json: <code>" + Escape(best->dump()) + "</code></p>";
  }
  return body;
}

// ---- evaluation ---------------------------------------------------------------------

std::string Evaluation(const fs::path& run, const std::optional<json>& control) {
  struct Entry {
    std::string name;
    fs::path file;
    json j;
  };
  std::vector<Entry> entries;
  for (const auto& [name, f] : std::vector<std::pair<std::string, std::string>>{
           {"policy", "eval_policy.json"}, {"replay baseline", "eval_replay.json"}}) {
    if (auto j = ReadJson(run / f)) entries.push_back({name, run / f, *j});
  }
  if (control && control->contains("successes") && control->contains("episodes")) {
    entries.push_back({"controller (sim)", run / "control.json", *control});
  }
  if (entries.empty())
    return NotRun("eval_policy.json, eval_replay.json and control.json success fields");
  std::string rows;
  std::vector<svg::Bar> bars;
  const char* colors[] = {"#1f77b4", "#7f7f7f", "#9467bd"};
  for (size_t i = 0; i < entries.size(); ++i) {
    const Entry& e = entries[i];
    const auto n = static_cast<int64_t>(Number(e.j, e.file, "episodes"));
    const auto k = static_cast<int64_t>(Number(e.j, e.file, "successes"));
    const augment::Interval ci = augment::WilsonInterval(k, n);
    const double rate = n > 0 ? static_cast<double>(k) / n : 0.0;
    std::string failures;
    const json fj = e.j.value("failures", json::object());
    for (const auto& [reason, c] : fj.items()) {
      failures += (failures.empty() ? "" : ", ") + Escape(reason) + "=" + c.dump();
    }
    rows += Row({Escape(e.name), std::to_string(n), std::to_string(k), Pct(rate),
                 Pct(ci.low) + " &ndash; " + Pct(ci.high), failures.empty() ? "none" : failures,
                 Escape(e.file.filename().string())});
    bars.push_back({e.name, rate, true, ci.low, ci.high, colors[i % 3]});
  }
  svg::Axes ax{"Success rate with 95% Wilson intervals", "", "success rate"};
  ax.width = 620;
  ax.fixed_y = true;
  ax.y_min = 0;
  ax.y_max = 1.08;
  return "<table>" +
         Row({"controller", "episodes", "successes", "success rate", "95% Wilson CI", "failures",
              "file"},
             true) +
         rows + "</table>" + svg::BarChart(ax, bars);
}

// ---- controller ---------------------------------------------------------------------

std::string Controller(const fs::path& run, const std::optional<json>& control) {
  if (!control) return NotRun("control.json");
  const fs::path file = run / "control.json";
  const json t = control->value("timing", json::object());
  const json times = t.value("step_time_us", json::object());
  std::string body =
      "<table>" +
      Row({"step p50", "step p99", "step max", "deadline misses", "holds", "steps", "hardware"},
          true) +
      Row({Num(Maybe(times, "p50")) + " &micro;s", Num(Maybe(times, "p99")) + " &micro;s",
           Num(Maybe(times, "max")) + " &micro;s", Num(Maybe(t, "deadline_misses")),
           Num(Maybe(t, "holds")), Num(Maybe(t, "steps")),
           Escape(control->value("hardware", std::string("?")))}) +
      "</table>";
  const json hist = t.value("step_time_histogram", json());
  if (hist.is_object()) {
    const json& e = hist.value("edges_us", json::array());
    const json& c = hist.value("counts", json::array());
    if (!e.is_array() || !c.is_array() || e.size() < 2 || c.size() != e.size() + 1) {
      throw UsageError("report: " + file.string() +
                       ": timing.step_time_histogram: expected edges_us (n) and counts (n + 1)");
    }
    std::vector<double> edges, counts;
    for (const auto& v : e) edges.push_back(v.get<double>());
    for (size_t k = 1; k + 1 < c.size(); ++k) counts.push_back(c[k].get<double>());
    // Zoom onto the occupied bins (one empty bin either side).
    size_t first = counts.size(), last = 0;
    for (size_t k = 0; k < counts.size(); ++k) {
      if (counts[k] > 0) first = std::min(first, k), last = k;
    }
    if (first <= last) {
      first = first > 0 ? first - 1 : 0;
      last = std::min(counts.size() - 1, last + 1);
      edges = std::vector<double>(edges.begin() + first, edges.begin() + last + 2);
      counts = std::vector<double>(counts.begin() + first, counts.begin() + last + 1);
    }
    svg::Axes ax{"Controller step time (all episodes)", "step time (\xC2\xB5s, log scale)",
                 "steps"};
    ax.log_x = true;
    ax.width = 620;
    body += svg::Histogram(ax, edges, counts, "#9467bd");
    body += "<p>Below " + Num(e.front().get<double>()) + " &micro;s: " + c.front().dump() +
            " steps; at or above " + Num(e.back().get<double>()) + " &micro;s: " + c.back().dump() +
            " steps.</p>";
  } else {
    body += "<p>control.json has no step_time_histogram (written by an older dreamforge).</p>";
  }
  std::string events;
  const json safety_events = t.value("safety_events", json::object());
  for (const auto& [k, v] : safety_events.items()) {
    events += Row({Escape(k), v.dump()});
  }
  if (!events.empty())
    body += "<h3>Safety events</h3><table>" + Row({"event", "count"}, true) + events + "</table>";
  std::string misc;
  for (const char* k : {"ik_failures", "clamped_steps", "overruns", "hardware_timeouts",
                        "hardware_errors", "write_errors", "sched_fifo", "memory_locked"}) {
    if (t.contains(k))
      misc += (misc.empty() ? "" : "; ") + std::string(k) + " " + Escape(t[k].dump());
  }
  if (!misc.empty()) body += "<p>" + misc + "</p>";
  return body;
}

// ---- provenance ---------------------------------------------------------------------

// ---- camera views ---------------------------------------------------------------

std::string Base64(const std::vector<uint8_t>& bytes) {
  static const char* kChars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  for (size_t i = 0; i < bytes.size(); i += 3) {
    const uint32_t b0 = bytes[i], b1 = i + 1 < bytes.size() ? bytes[i + 1] : 0, b2 = i + 2 < bytes.size() ? bytes[i + 2] : 0;
    const uint32_t v = (b0 << 16) | (b1 << 8) | b2;
    out += kChars[(v >> 18) & 63];
    out += kChars[(v >> 12) & 63];
    out += i + 1 < bytes.size() ? kChars[(v >> 6) & 63] : '=';
    out += i + 2 < bytes.size() ? kChars[v & 63] : '=';
  }
  return out;
}

// One rendered frame as an inline PNG <figure> with a caption.
std::string Frame(const render::Image& img, const std::string& caption, const std::string& css_class) {
  cv::Mat rgb(img.height, img.width, CV_8UC3, const_cast<uint8_t*>(img.rgb.data())), bgr;
  cv::cvtColor(rgb, bgr, cv::COLOR_RGB2BGR);
  std::vector<uint8_t> png;
  cv::imencode(".png", bgr, png);
  return "<figure class=\"" + css_class + "\"><img alt=\"" + Escape(caption) + "\" src=\"data:image/png;base64," +
         Base64(png) + "\"><figcaption>" + Escape(caption) + "</figcaption></figure>";
}

// The demo's first frame beside the first frames of kept dreams and of failed attempts,
// and frames along one dream, from both default cameras.
std::string CameraViews(const fs::path& run, const DreamData& d) {
  if (!d.present) return NotRun("dreams.hdf5");
  try {
    const fs::path dreams_file = run / "dreams.hdf5";
    const std::vector<render::CameraSpec> cams = render::DefaultCameras(84);
    render::EpisodeImages dreams(dreams_file, cams);
    std::ostringstream o;
    render::Image img;
    o << "<p>What the cameras see (rendered from the stored states and each dream's sampled appearance; "
         "84x84, shown at 2x). Visual perturbations of the spec: ";
    int visual = 0;
    for (const auto& [name, f] : d.spec_json.items()) {
      static const std::set<std::string> physical = {"object_x", "object_y", "object_yaw", "target_x", "target_y",
                                                     "target_yaw", "mass_scale", "friction", "restitution",
                                                     "size_scale", "table_height", "start_joints", "damping_scale",
                                                     "gain_scale", "latency_steps", "action_noise", "obs_noise"};
      if (!physical.count(name)) o << (visual++ ? ", " : "") << "<code>" << Escape(name) << "</code>";
    }
    if (!visual) o << "none (every dream looks like the demo)";
    o << ".</p>\n<h3>First frames: the demo, kept dreams and failed attempts (agentview)</h3>\n<div class=\"sheet\">";
    if (fs::exists(run / "demo.hdf5")) {
      render::EpisodeImages demo(run / "demo.hdf5", cams);
      demo.Render(0, 0, 0, &img);
      o << Frame(img, "demo", "demo");
    }
    const int kept = std::min(dreams.num_episodes(), 11);
    for (int e = 0; e < kept; ++e) {
      dreams.Render(e, 0, 0, &img);
      o << Frame(img, "dream " + std::to_string(e) + " (kept)", "kept");
    }
    // Failed attempts: their scenes re-sampled from (spec, seed, key) and rendered at rest.
    const std::string task = datasets::EpisodeReader(dreams_file).env_args().value("env_name", "");
    auto model = std::make_shared<const sim::SceneModel>(task, sim::SceneModel::DefaultUrdf());
    render::FrameRenderer frames(std::make_shared<const render::VisualModel>(model), cams);
    const augment::PerturbationSpec spec = augment::ParseSpec(d.spec_json.dump(), "the run's spec");
    int failed = 0;
    for (const json& p : d.perturbations) {
      const uint64_t i = p["dream_index"].get<uint64_t>(), a = p["attempt"].get<uint64_t>();
      for (uint64_t j = 0; j < a && failed < 5; ++j, ++failed) {
        const sim::SceneParams s = augment::SampleScene(*model, spec, d.seed, augment::DreamKey(i, j));
        sim::World world(model, s);
        frames.RenderState(s, world.GetState(), 0, 0, &img);
        o << Frame(img, "dream " + std::to_string(i) + " attempt " + std::to_string(j) + " (failed)", "failed");
      }
      if (failed >= 5) break;
    }
    o << "</div>\n";
    if (!failed) o << "<p>No failed attempts before the kept dreams shown.</p>\n";
    const int n = dreams.num_steps(0);
    o << "<h3>Along dream 0 (" << n << " steps): agentview above, robot0_eye_in_hand below</h3>\n";
    for (int k = 0; k < 2; ++k) {
      o << "<div class=\"sheet\">";
      for (int q = 0; q <= 5; ++q) {
        const int t = std::min(n - 1, q * (n - 1) / 5);
        dreams.Render(0, t, k, &img);
        o << Frame(img, cams[k].name + " t=" + std::to_string(t), "along");
      }
      o << "</div>\n";
    }
    return o.str();
  } catch (const render::RenderError& e) {
    return "<p class=\"notrun\">camera views not available: " + Escape(e.what()) + "</p>\n";
  }
}

std::string Hash(const fs::path& p) {
  std::string hex, error;
  uint64_t bytes = 0;
  if (!robot::Sha256File(p.string(), &hex, &bytes, &error)) return "unreadable: " + error;
  return hex;
}

std::string Provenance(const fs::path& run, const DreamData& dreams,
                       const std::optional<json>& summary, const std::optional<json>& control) {
  std::string rows;
  auto add = [&](const std::string& k, const std::string& v) { rows += Row({Escape(k), v}); };
  add("demo.hdf5 SHA-256", fs::exists(run / "demo.hdf5")
                               ? "<code>" + Escape(Hash(run / "demo.hdf5")) + "</code>"
                               : "not present");
  add("dream seed", dreams.present
                        ? std::to_string(dreams.seed)
                        : (summary ? Escape(summary->value("seed", json()).dump()) : "not run"));
  std::string train_seed = "not run";
  if (const auto r = ReadJson(run / "policy" / "run.json")) {
    train_seed = Escape(r->value("train", json::object()).value("seed", json()).dump());
  }
  add("training seed", train_seed);
  for (const auto& [name, f] : std::vector<std::pair<std::string, std::string>>{
           {"eval seed (policy)", "eval_policy.json"},
           {"eval seed (replay)", "eval_replay.json"}}) {
    const auto j = ReadJson(run / f);
    add(name, j ? Escape(j->value("seed", json()).dump()) : "not run");
  }
  add("controller seed", control ? Escape(control->value("seed", json()).dump()) : "not run");
  unsigned maj = 0, min = 0, rel = 0;
  H5get_libversion(&maj, &min, &rel);
  add("dreamforge", "0.1.0");
  add("LibTorch", TORCH_VERSION);
  add("Bullet",
      std::to_string(BT_BULLET_VERSION / 100) + "." + std::to_string(BT_BULLET_VERSION % 100));
  add("HDF5", std::to_string(maj) + "." + std::to_string(min) + "." + std::to_string(rel));
#if defined(__clang__)
  add("compiler", "Clang " + Escape(__VERSION__));
#else
  add("compiler", "GCC " + Escape(__VERSION__));
#endif
  const std::time_t now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  char date[64];
  std::strftime(date, sizeof date, "%Y-%m-%d %H:%M:%S UTC", std::gmtime(&now));
  add("report date", date);
  std::string body = "<table>" + rows + "</table>";

  body += "<h3>Bundle files</h3>";
  if (const auto b = ReadJson(run / "bundle" / "policy.json")) {
    const json files = b->value("files", json::object());
    std::string frows = Row({"file", "bytes", "SHA-256 (policy.json)", "on disk"}, true);
    for (const auto& [name, entry] : files.items()) {
      const std::string want = entry.value("sha256", std::string());
      const fs::path p = run / "bundle" / name;
      const std::string got = fs::exists(p) ? Hash(p) : "missing";
      frows +=
          Row({Escape(name), Escape(entry.value("bytes", json()).dump()),
               "<code>" + Escape(want) + "</code>",
               got == want ? "matches"
                           : "<b>" + Escape(got == "missing" ? got : "differs: " + got) + "</b>"});
    }
    frows +=
        Row({"policy.json", std::to_string(fs::file_size(run / "bundle" / "policy.json")),
             "<code>" + Escape(Hash(run / "bundle" / "policy.json")) + "</code>", "(this file)"});
    body += "<table>" + frows + "</table>";
  } else {
    body += NotRun("bundle/policy.json");
  }
  body += "<h3>Perturbation spec</h3>";
  if (dreams.present) {
    std::string srows = Row({"field", "dist", "parameters"}, true);
    for (const auto& [field, f] : dreams.spec_json.items()) {
      std::string params;
      for (const auto& [k, v] : f.items()) {
        if (k != "dist")
          params += (params.empty() ? "" : ", ") + k + " " +
                    (v.is_number() ? Num(v.get<double>()) : v.dump());
      }
      srows += Row({Escape(field), Escape(f.value("dist", std::string("?"))), Escape(params)});
    }
    body += "<p>Spec " + Escape(dreams.spec_note) + ".</p><table>" + srows + "</table>";
  } else {
    body += NotRun("dreams.hdf5");
  }
  return body;
}

constexpr const char* kCss = R"css(
body{font-family:sans-serif;margin:0 auto;max-width:1260px;padding:16px 24px;color:#222;background:#f3f4f6}
h1{margin:8px 0 4px} h2{margin:0 0 10px;border-bottom:2px solid #ddd;padding-bottom:4px} h3{margin:14px 0 6px}
section{background:#fff;border:1px solid #ddd;border-radius:6px;padding:14px 18px;margin:16px 0}
.grid{display:flex;flex-wrap:wrap;gap:10px} svg{border:1px solid #eee;max-width:100%;height:auto}
table{border-collapse:collapse;margin:8px 0;font-size:13px} th,td{border:1px solid #ccc;padding:3px 8px;text-align:left}
th{background:#eef} code,pre{font-size:12px;word-break:break-all} pre{background:#f7f7f7;padding:8px;white-space:pre-wrap;max-height:420px;overflow:auto}
.notrun{color:#a33;font-style:italic} .big{font-size:16px;font-weight:bold}
nav a{margin-right:12px}
.sheet{display:flex;flex-wrap:wrap;gap:6px} figure{margin:0;text-align:center;font-size:11px}
figure img{width:168px;height:168px;image-rendering:pixelated;border:2px solid #ccc}
figure.kept img{border-color:#4a4} figure.failed img{border-color:#c44} figure.demo img{border-color:#44c}
)css";

void RunReport(const ReportArgs& a) {
  const fs::path run(a.run_dir);
  if (!fs::is_directory(run))
    throw UsageError("report: RUN_DIR " + a.run_dir + ": no such directory");
  const fs::path out = a.out.empty() ? run / "report.html" : fs::path(a.out);
  // Every file the report reads stays as it is; an existing file is replaced only when it
  // is a page (an earlier report).
  RefuseOutputOverInput("report", "RUN_DIR", a.run_dir, "--out", out.string(), true);
  for (const char* input : {"demo.hdf5", "dreams.hdf5", "dreams.summary.json", "policy/metrics.jsonl",
                            "policy/run.json", "policy/best.json", "eval_policy.json", "eval_replay.json",
                            "control.json", "bundle/policy.json", "bundle/weights.safetensors",
                            "bundle/policy.ts", "bundle/policy.onnx"}) {
    RefuseOutputOverInput("report", "input", (run / input).string(), "--out", out.string());
  }
  if (fs::is_directory(out)) throw UsageError("report: --out " + out.string() + ": is a directory");
  CheckOutputWritable("report", "--out", out.string());
  if (fs::exists(out) && out.extension() != ".html" && out.extension() != ".htm") {
    throw UsageError("report: --out " + out.string() +
                     ": exists and is not an .html file (refusing to replace it)");
  }
  // The demo is only hashed for the provenance: an empty or unreadable one is refused
  // rather than vouched for.
  if (const fs::path demo = run / "demo.hdf5"; fs::exists(demo)) {
    if (fs::is_regular_file(demo) && fs::file_size(demo) == 0) {
      throw UsageError("report: " + demo.string() + ": empty file (0 bytes)");
    }
    datasets::EpisodeReader check(demo);  // DatasetError names the file and the problem
  }
  const auto summary = ReadJson(run / "dreams.summary.json");
  const auto control = ReadJson(run / "control.json");
  const DreamData dreams = LoadDreams(run, summary);

  std::ostringstream html;
  html << "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>dreamforge "
          "report: "
       << Escape(fs::absolute(run).filename().string()) << "</title><style>" << kCss
       << "</style></head><body>\n";
  html << "<h1>dreamforge run report</h1><p><code>" << Escape(fs::absolute(run).string())
       << "</code></p>\n";
  html << "<nav><a href=\"#dream-starts\">dream starts</a><a "
          "href=\"#perturbations\">perturbations</a>"
          "<a href=\"#failures\">failures</a><a href=\"#training\">training</a><a "
          "href=\"#evaluation\">"
          "evaluation</a><a href=\"#controller\">controller</a><a "
          "href=\"#provenance\">provenance</a><a href=\"#camera-views\">camera views</a></nav>\n";
  html << Section("dream-starts", "1. Dream start positions", DreamStarts(dreams));
  html << Section("perturbations", "2. Perturbations of kept dreams", Perturbations(dreams));
  html << Section("failures", "3. Dream failures", Failures(run, summary) + FailureFactors(dreams));
  html << Section("training", "4. Training", Training(run));
  html << Section("evaluation", "5. Evaluation", Evaluation(run, control));
  html << Section("controller", "6. Controller timing", Controller(run, control));
  html << Section("provenance", "7. Provenance", Provenance(run, dreams, summary, control));
  html << Section("camera-views", "8. Camera views of the dreams", CameraViews(run, dreams));
  html << "</body></html>\n";

  WriteFileAtomic(out.string(), html.str());
  std::printf("report: %s -> %s\n", a.run_dir.c_str(), out.string().c_str());
}

}  // namespace

void AddReportCommand(CLI::App& app) {
  auto a = std::make_shared<ReportArgs>();
  auto* cmd = app.add_subcommand(
      "report",
      "Write a self-contained HTML report of a run directory (inline CSS and SVG; views offline).\n"
      "Reads, each optional: demo.hdf5, dreams.hdf5, dreams.summary.json, policy/, "
      "eval_policy.json,\n"
      "eval_replay.json, bundle/policy.json, control.json; a missing one makes its section say "
      "'not run'.");
  cmd->add_option("RUN_DIR", a->run_dir, "Run directory (as tools/run.sh lays it out)")->required();
  cmd->add_option("--out", a->out, "Output HTML file (default: RUN_DIR/report.html)");
  cmd->callback([a] { RunReport(*a); });
}

}  // namespace dreamforge::tools
