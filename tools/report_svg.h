// A small inline-SVG plotting helper for `dreamforge report`: scatter, histogram, line
// chart and bar chart with error whiskers. Each call returns one self-contained <svg>
// element (no scripts, no external fonts or images) with a title, axes with tick labels,
// axis labels and, for several series, a legend.
#pragma once

#include <string>
#include <vector>

namespace dreamforge::tools::svg {

// Escapes &, <, >, " and ' for HTML/SVG text and attributes.
std::string Escape(const std::string& text);

// Formats a number compactly for tick labels and tables (e.g. 0.05, 1.2e-05, 1500).
std::string Num(double v, int significant = 3);

struct Axes {
  std::string title;
  std::string x_label, y_label;
  bool log_x = false;  // log10 axes: only positive values are drawn
  bool log_y = false;
  int width = 560, height = 340;  // pixels
  bool fixed_y = false;           // y axis over [y_min, y_max] instead of the data's range
  double y_min = 0, y_max = 1;
};

struct Series {
  std::string name;          // legend entry (no legend when every name is empty)
  std::vector<double> x, y;  // same length; non-finite points are skipped
  std::string color;         // CSS colour; empty: the palette's next
  bool hollow = false;       // scatter: open circles
};

// Points of each series as circles.
std::string Scatter(const Axes& axes, const std::vector<Series>& series);

// Lines through each series' points (in order), with small point markers.
std::string LineChart(const Axes& axes, const std::vector<Series>& series);

// Bars over [edges[k], edges[k+1]) of height counts[k]; edges.size() == counts.size() + 1.
std::string Histogram(const Axes& axes, const std::vector<double>& edges,
                      const std::vector<double>& counts, const std::string& color = "");
// Equal-width histogram of values with `bins` bins over their range.
std::string Histogram(const Axes& axes, const std::vector<double>& values, int bins,
                      const std::string& color = "");

struct Bar {
  std::string label;
  double value = 0;
  bool has_whisker = false;
  double low = 0, high = 0;  // whisker (e.g. a 95% interval)
  std::string color;
};
// Vertical bars from zero, labelled below, value printed above, optional whiskers.
std::string BarChart(const Axes& axes, const std::vector<Bar>& bars);

}  // namespace dreamforge::tools::svg
