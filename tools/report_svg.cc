#include "tools/report_svg.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <sstream>

namespace dreamforge::tools::svg {
namespace {

const char* const kPalette[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b"};

constexpr int kLeft = 70, kRight = 20, kTop = 34, kBottom = 50;

std::string F(double v) {  // coordinates
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", v);
  return buf;
}

// One axis: data range -> pixel range, linear or log10, and its tick values.
struct Scale {
  double lo = 0, hi = 1;
  bool log = false;
  bool integer = false;   // linear ticks at integers only (e.g. epochs)
  double p0 = 0, p1 = 1;  // pixel of lo, pixel of hi

  double T(double v) const { return log ? std::log10(v) : v; }
  double operator()(double v) const {
    const double a = T(lo), b = T(hi);
    return p0 + (T(v) - a) / (b - a) * (p1 - p0);
  }
  bool Ok(double v) const { return std::isfinite(v) && (!log || v > 0); }

  std::vector<double> Ticks() const {
    std::vector<double> t;
    if (log) {
      const int a = static_cast<int>(std::floor(std::log10(lo) + 1e-9));
      const int b = static_cast<int>(std::ceil(std::log10(hi) - 1e-9));
      const bool few = b - a <= 2;
      for (int e = a; e <= b; ++e) {
        for (double m : few ? std::vector<double>{1, 2, 5} : std::vector<double>{1}) {
          const double v = m * std::pow(10.0, e);
          if (v >= lo * (1 - 1e-9) && v <= hi * (1 + 1e-9)) t.push_back(v);
        }
      }
      return t;
    }
    const double raw = (hi - lo) / 5;
    const double mag = std::pow(10.0, std::floor(std::log10(raw)));
    double step = mag;
    if (integer && raw < 1) return IntegerTicks();
    for (double m : {1.0, 2.0, 2.5, 5.0, 10.0}) {
      if (integer && m * mag != std::floor(m * mag)) continue;
      if (m * mag >= raw) {
        step = m * mag;
        break;
      }
    }
    for (double v = std::ceil(lo / step - 1e-9) * step; v <= hi + step * 1e-9; v += step) {
      t.push_back(std::abs(v) < step * 1e-9 ? 0.0 : v);
    }
    return t;
  }

  std::vector<double> IntegerTicks() const {
    std::vector<double> t;
    for (double v = std::ceil(lo); v <= hi; v += 1) t.push_back(v);
    return t;
  }
};

// Range of values for an axis, padded; for a linear axis optionally including zero.
Scale MakeScale(std::vector<double> values, bool log, bool include_zero, double pad = 0.05) {
  Scale s;
  s.log = log;
  double lo = std::numeric_limits<double>::infinity(), hi = -lo;
  for (double v : values) {
    if (!std::isfinite(v) || (log && v <= 0)) continue;
    lo = std::min(lo, v);
    hi = std::max(hi, v);
  }
  if (!std::isfinite(lo)) {
    lo = log ? 1 : 0;
    hi = log ? 10 : 1;
  }
  if (log) {
    if (hi <= lo * 1.0001) {
      lo /= 2;
      hi *= 2;
    }
    const double span = std::log10(hi) - std::log10(lo);
    s.lo = std::pow(10.0, std::log10(lo) - pad * span);
    s.hi = std::pow(10.0, std::log10(hi) + pad * span);
    return s;
  }
  if (include_zero) {
    lo = std::min(lo, 0.0);
    hi = std::max(hi, 0.0);
  }
  if (hi - lo < 1e-12 * std::max(1.0, std::abs(hi))) {
    const double d = std::abs(hi) > 0 ? std::abs(hi) * 0.1 : 1.0;
    lo -= d;
    hi += d;
  }
  const double span = hi - lo;
  s.lo = (include_zero && lo == 0) ? 0 : lo - pad * span;
  s.hi = hi + pad * span;
  return s;
}

// The frame: background, grid, ticks, labels, title. Returns the opening of the <svg>.
std::string Frame(const Axes& a, Scale* x, Scale* y, bool x_ticks = true) {
  const int w = a.width, h = a.height;
  if (a.fixed_y) {
    y->lo = a.y_min;
    y->hi = a.y_max;
  }
  x->p0 = kLeft;
  x->p1 = w - kRight;
  y->p0 = h - kBottom;
  y->p1 = kTop;
  std::ostringstream o;
  o << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << w << "\" height=\"" << h
    << "\" viewBox=\"0 0 " << w << " " << h << "\" role=\"img\" aria-label=\"" << Escape(a.title)
    << "\" font-family=\"sans-serif\" font-size=\"12\">";
  o << "<rect x=\"0\" y=\"0\" width=\"" << w << "\" height=\"" << h << "\" fill=\"#fff\"/>";
  o << "<text x=\"" << w / 2
    << "\" y=\"20\" text-anchor=\"middle\" font-size=\"14\" font-weight=\"bold\">"
    << Escape(a.title) << "</text>";
  o << "<rect x=\"" << kLeft << "\" y=\"" << kTop << "\" width=\"" << w - kLeft - kRight
    << "\" height=\"" << h - kTop - kBottom << "\" fill=\"#fafafa\" stroke=\"#888\"/>";
  if (x_ticks) {
    for (double t : x->Ticks()) {
      const double px = (*x)(t);
      o << "<line x1=\"" << F(px) << "\" y1=\"" << kTop << "\" x2=\"" << F(px) << "\" y2=\""
        << h - kBottom << "\" stroke=\"#e3e3e3\"/>";
      o << "<line x1=\"" << F(px) << "\" y1=\"" << h - kBottom << "\" x2=\"" << F(px) << "\" y2=\""
        << h - kBottom + 5 << "\" stroke=\"#444\"/>";
      o << "<text x=\"" << F(px) << "\" y=\"" << h - kBottom + 18 << "\" text-anchor=\"middle\">"
        << Num(t) << "</text>";
    }
  }
  for (double t : y->Ticks()) {
    const double py = (*y)(t);
    o << "<line x1=\"" << kLeft << "\" y1=\"" << F(py) << "\" x2=\"" << w - kRight << "\" y2=\""
      << F(py) << "\" stroke=\"#e3e3e3\"/>";
    o << "<line x1=\"" << kLeft - 5 << "\" y1=\"" << F(py) << "\" x2=\"" << kLeft << "\" y2=\""
      << F(py) << "\" stroke=\"#444\"/>";
    o << "<text x=\"" << kLeft - 8 << "\" y=\"" << F(py + 4) << "\" text-anchor=\"end\">" << Num(t)
      << "</text>";
  }
  o << "<text x=\"" << (kLeft + w - kRight) / 2 << "\" y=\"" << h - 10
    << "\" text-anchor=\"middle\">" << Escape(a.x_label) << "</text>";
  const int cy = (kTop + h - kBottom) / 2;
  o << "<text x=\"16\" y=\"" << cy << "\" text-anchor=\"middle\" transform=\"rotate(-90 16 " << cy
    << ")\">" << Escape(a.y_label) << "</text>";
  return o.str();
}

std::string Color(const std::string& c, size_t i) {
  return c.empty() ? kPalette[i % (sizeof kPalette / sizeof kPalette[0])] : c;
}

std::string Legend(const Axes& a, const std::vector<Series>& series) {
  bool any = false;
  size_t longest = 0;
  for (const auto& s : series) {
    any = any || !s.name.empty();
    longest = std::max(longest, s.name.size());
  }
  if (!any) return "";
  const int bw = 30 + static_cast<int>(longest) * 7, bh = 8 + 18 * static_cast<int>(series.size());
  const int x0 = a.width - kRight - bw - 6, y0 = kTop + 6;
  std::ostringstream o;
  o << "<g class=\"legend\"><rect x=\"" << x0 << "\" y=\"" << y0 << "\" width=\"" << bw
    << "\" height=\"" << bh << "\" fill=\"#fff\" fill-opacity=\"0.9\" stroke=\"#bbb\"/>";
  for (size_t i = 0; i < series.size(); ++i) {
    const int yy = y0 + 14 + 18 * static_cast<int>(i);
    const std::string c = Color(series[i].color, i);
    o << "<rect x=\"" << x0 + 8 << "\" y=\"" << yy - 8 << "\" width=\"12\" height=\"10\" fill=\""
      << (series[i].hollow ? "#fff" : c) << "\" stroke=\"" << c << "\" stroke-width=\"2\"/>";
    o << "<text x=\"" << x0 + 26 << "\" y=\"" << yy + 1 << "\">" << Escape(series[i].name)
      << "</text>";
  }
  o << "</g>";
  return o.str();
}

std::vector<double> All(const std::vector<Series>& series, bool want_x) {
  std::vector<double> v;
  for (const auto& s : series)
    v.insert(v.end(), (want_x ? s.x : s.y).begin(), (want_x ? s.x : s.y).end());
  return v;
}

}  // namespace

std::string Escape(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string Num(double v, int significant) {
  if (!std::isfinite(v)) return std::isnan(v) ? "n/a" : (v > 0 ? "inf" : "-inf");
  if (v == 0) return "0";
  char buf[48];
  const double a = std::abs(v);
  if (a >= 1e6 || a < 1e-3) {
    std::snprintf(buf, sizeof buf, "%.*g", significant, v);
  } else {
    std::snprintf(buf, sizeof buf, "%.*g",
                  std::max(significant, static_cast<int>(std::floor(std::log10(a))) + 1), v);
  }
  return buf;
}

std::string Scatter(const Axes& a, const std::vector<Series>& series) {
  Scale x = MakeScale(All(series, true), a.log_x, false);
  Scale y = MakeScale(All(series, false), a.log_y, false);
  std::string out = Frame(a, &x, &y);
  std::ostringstream o;
  for (size_t i = 0; i < series.size(); ++i) {
    const auto& s = series[i];
    const std::string c = Color(s.color, i);
    o << "<g class=\"series\" data-name=\"" << Escape(s.name) << "\">";
    for (size_t k = 0; k < s.x.size() && k < s.y.size(); ++k) {
      if (!x.Ok(s.x[k]) || !y.Ok(s.y[k])) continue;
      o << "<circle cx=\"" << F(x(s.x[k])) << "\" cy=\"" << F(y(s.y[k])) << "\" r=\"4\" fill=\""
        << (s.hollow ? "none" : c) << "\" fill-opacity=\"0.8\" stroke=\"" << c
        << "\" stroke-width=\"1.5\"/>";
    }
    o << "</g>";
  }
  return out + o.str() + Legend(a, series) + "</svg>";
}

std::string LineChart(const Axes& a, const std::vector<Series>& series) {
  Scale x = MakeScale(All(series, true), a.log_x, false, 0.03);
  x.integer = true;
  for (double v : All(series, true)) x.integer = x.integer && v == std::floor(v);
  Scale y = MakeScale(All(series, false), a.log_y, false);
  std::string out = Frame(a, &x, &y);
  std::ostringstream o;
  for (size_t i = 0; i < series.size(); ++i) {
    const auto& s = series[i];
    const std::string c = Color(s.color, i);
    std::string path;
    std::ostringstream dots;
    for (size_t k = 0; k < s.x.size() && k < s.y.size(); ++k) {
      if (!x.Ok(s.x[k]) || !y.Ok(s.y[k])) continue;
      path += (path.empty() ? "M" : " L") + F(x(s.x[k])) + " " + F(y(s.y[k]));
      dots << "<circle cx=\"" << F(x(s.x[k])) << "\" cy=\"" << F(y(s.y[k])) << "\" r=\"3\" fill=\""
           << c << "\"/>";
    }
    o << "<g class=\"series\" data-name=\"" << Escape(s.name) << "\">";
    if (!path.empty())
      o << "<path d=\"" << path << "\" fill=\"none\" stroke=\"" << c << "\" stroke-width=\"2\"/>";
    o << dots.str() << "</g>";
  }
  return out + o.str() + Legend(a, series) + "</svg>";
}

std::string Histogram(const Axes& a, const std::vector<double>& edges,
                      const std::vector<double>& counts, const std::string& color) {
  Scale x = MakeScale(edges, a.log_x, false, 0.0);
  std::vector<double> ys = counts;
  Scale y = MakeScale(ys, a.log_y, !a.log_y, 0.08);
  y.integer = true;
  for (double v : counts) y.integer = y.integer && v == std::floor(v);
  std::string out = Frame(a, &x, &y);
  std::ostringstream o;
  const std::string c = Color(color, 0);
  o << "<g class=\"bars\">";
  for (size_t k = 0; k + 1 < edges.size() && k < counts.size(); ++k) {
    if (!x.Ok(edges[k]) || !x.Ok(edges[k + 1]) || !(counts[k] > 0)) continue;
    const double x0 = x(edges[k]), x1 = x(edges[k + 1]);
    const double base = a.log_y ? y.p0 : y(0.0), top = y.Ok(counts[k]) ? y(counts[k]) : base;
    o << "<rect x=\"" << F(x0 + 0.5) << "\" y=\"" << F(top) << "\" width=\""
      << F(std::max(1.0, x1 - x0 - 1)) << "\" height=\"" << F(std::max(0.0, base - top))
      << "\" fill=\"" << c << "\" fill-opacity=\"0.85\"><title>[" << Num(edges[k]) << ", "
      << Num(edges[k + 1]) << "): " << Num(counts[k]) << "</title></rect>";
  }
  o << "</g>";
  return out + o.str() + "</svg>";
}

std::string Histogram(const Axes& a, const std::vector<double>& values, int bins,
                      const std::string& color) {
  double lo = std::numeric_limits<double>::infinity(), hi = -lo;
  for (double v : values) {
    if (!std::isfinite(v)) continue;
    lo = std::min(lo, v);
    hi = std::max(hi, v);
  }
  if (!std::isfinite(lo)) lo = 0, hi = 1;
  if (hi - lo < 1e-12) {
    lo -= 0.5 * std::max(1e-3, std::abs(lo) * 0.1);
    hi = lo + std::max(1e-3, std::abs(lo) * 0.1);
  }
  bins = std::max(1, bins);
  std::vector<double> edges(bins + 1), counts(bins, 0.0);
  for (int k = 0; k <= bins; ++k) edges[k] = lo + (hi - lo) * k / bins;
  for (double v : values) {
    if (!std::isfinite(v)) continue;
    const int k = std::min(bins - 1, static_cast<int>((v - lo) / (hi - lo) * bins));
    counts[std::max(0, k)] += 1;
  }
  return Histogram(a, edges, counts, color);
}

std::string BarChart(const Axes& a, const std::vector<Bar>& bars) {
  std::vector<double> ys = {0.0};
  for (const auto& b : bars) {
    ys.push_back(b.value);
    if (b.has_whisker) {
      ys.push_back(b.low);
      ys.push_back(b.high);
    }
  }
  Scale x;
  x.lo = 0;
  x.hi = std::max<double>(1, bars.size());
  Scale y = MakeScale(ys, false, true, 0.1);
  std::string out = Frame(a, &x, &y, false);
  std::ostringstream o;
  const double slot = (x.p1 - x.p0) / x.hi;
  for (size_t i = 0; i < bars.size(); ++i) {
    const auto& b = bars[i];
    const double cx = x.p0 + slot * (i + 0.5), bw = std::min(80.0, slot * 0.6);
    const double base = y(0.0), top = y(b.value);
    o << "<g class=\"bar\" data-label=\"" << Escape(b.label) << "\">";
    o << "<rect x=\"" << F(cx - bw / 2) << "\" y=\"" << F(std::min(base, top)) << "\" width=\""
      << F(bw) << "\" height=\"" << F(std::abs(base - top)) << "\" fill=\"" << Color(b.color, i)
      << "\" fill-opacity=\"0.85\"/>";
    double label_y = top;
    if (b.has_whisker) {
      const double lo = y(b.low), hi = y(b.high);
      o << "<line x1=\"" << F(cx) << "\" y1=\"" << F(lo) << "\" x2=\"" << F(cx) << "\" y2=\""
        << F(hi) << "\" stroke=\"#222\" stroke-width=\"1.5\"/>";
      for (double yy : {lo, hi}) {
        o << "<line x1=\"" << F(cx - 8) << "\" y1=\"" << F(yy) << "\" x2=\"" << F(cx + 8)
          << "\" y2=\"" << F(yy) << "\" stroke=\"#222\" stroke-width=\"1.5\"/>";
      }
      label_y = std::min(label_y, hi);
    }
    o << "<text x=\"" << F(cx + (b.has_whisker ? 12 : 0)) << "\" y=\"" << F(label_y - 5)
      << "\" text-anchor=\"" << (b.has_whisker ? "start" : "middle") << "\">" << Num(b.value)
      << "</text>";
    o << "<text x=\"" << F(cx) << "\" y=\"" << a.height - kBottom + 18
      << "\" text-anchor=\"middle\">" << Escape(b.label) << "</text></g>";
  }
  return out + o.str() + "</svg>";
}

}  // namespace dreamforge::tools::svg
