// report_svg.h: the pieces the HTML report is built from: XML escaping,
// base64, colour maps and the inline SVG figures (ROC curves, confusion
// matrix, line charts, heat-map overlays).  Internal to report*.cpp, exposed
// for the tests.  Every SVG returned is a complete, well-formed <svg> element.
#pragma once
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "mama/metrics.h"

namespace mama::report_detail {

// Escapes & < > " ' for XML text and attribute values.
std::string xml_escape(const std::string& s);
// 100 * fraction with two decimals, or "-" for an undefined (non-finite) value.
std::string percent(double fraction);
// Standard base64 (RFC 4648, with '=' padding).
std::string base64(const std::string& bytes);
// A number for an SVG coordinate: fixed, at most 2 decimals, trailing zeros cut.
std::string coord(double x);
// A short human number for tick labels (4 significant digits).
std::string short_number(double x);
// "Nice" tick values (1, 2 or 5 times a power of ten) covering [lo, hi].
std::vector<double> nice_ticks(double lo, double hi, int target_count);

// Colour of t in [0, 1] on a viridis-like map, as "#rrggbb".
std::string heat_colour(double t);
// The i-th colour of a 10-colour categorical palette.
std::string palette_colour(size_t i);

// Writes a whole file (throws eng::Error naming the path).
void write_text_file(const std::string& path, const std::string& text);

// ROC curves with the chance diagonal and a legend "name (AUC xx.x)";
// curves holding NaN are left out and marked "undefined" in the legend.
std::string svg_roc(const std::vector<RocCurve>& curves, const std::vector<std::string>& names,
                    const std::vector<double>& aucs);
// Confusion matrix: one <rect> per cell coloured by the row-normalised
// fraction, with the count (and row %) written in it.
std::string svg_confusion(const std::vector<std::vector<int64_t>>& confusion, const std::vector<std::string>& names);
// One series against step, with axes and ticks.  More than max_points points
// are averaged in equal-count buckets (the plot stays small for long runs).
std::string svg_line_chart(const std::string& title, const std::vector<std::pair<double, double>>& points,
                           size_t max_points = 1000);
// An image (href: a data URI or a relative URL; "" draws a grey box) drawn width x height, with
// one semi-transparent <rect> per finite grid cell, coloured by the cell's
// value scaled to the grid's [min, max].
std::string svg_heatmap_overlay(const std::string& href, double width, double height, int grid_h, int grid_w,
                                const std::vector<float>& grid);
// A horizontal colour bar labelled with lo and hi.
std::string svg_colour_bar(double lo, double hi);

// Image size from a PNG's IHDR chunk; false if `bytes` is not a PNG.
bool png_size(const std::string& bytes, int* width, int* height);

}  // namespace mama::report_detail
