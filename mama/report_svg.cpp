// report_svg.cpp: inline SVG figures and text helpers for the HTML report
// (see report_svg.h).  Plain string building: every figure is a fixed-size
// <svg> with a viewBox, so the browser scales it.
#include "mama/report_svg.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "tensor/check.h"

namespace mama::report_detail {

std::string xml_escape(const std::string& s) {
    std::string out;
    out.reserve(s.size());
    for (char c : s) {
        switch (c) {
            case '&': out += "&amp;"; break;
            case '<': out += "&lt;"; break;
            case '>': out += "&gt;"; break;
            case '"': out += "&quot;"; break;
            case '\'': out += "&#39;"; break;
            default: out += c;
        }
    }
    return out;
}

std::string percent(double fraction) {
    if (!std::isfinite(fraction)) return "-";
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.2f", 100.0 * fraction);
    return buf;
}

std::string base64(const std::string& bytes) {
    static const char* alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    out.reserve((bytes.size() + 2) / 3 * 4);
    size_t i = 0;
    // Each 3 bytes (24 bits) become 4 characters of 6 bits.
    for (; i + 3 <= bytes.size(); i += 3) {
        uint32_t v = uint32_t(uint8_t(bytes[i])) << 16 | uint32_t(uint8_t(bytes[i + 1])) << 8 | uint8_t(bytes[i + 2]);
        out += alphabet[v >> 18 & 63];
        out += alphabet[v >> 12 & 63];
        out += alphabet[v >> 6 & 63];
        out += alphabet[v & 63];
    }
    size_t rest = bytes.size() - i;
    if (rest) {
        uint32_t v = uint32_t(uint8_t(bytes[i])) << 16;
        if (rest == 2) v |= uint32_t(uint8_t(bytes[i + 1])) << 8;
        out += alphabet[v >> 18 & 63];
        out += alphabet[v >> 12 & 63];
        out += rest == 2 ? alphabet[v >> 6 & 63] : '=';
        out += '=';
    }
    return out;
}

std::string coord(double x) {
    if (!std::isfinite(x)) return "0";
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.2f", x);
    std::string s = buf;
    while (s.back() == '0') s.pop_back();
    if (s.back() == '.') s.pop_back();
    return s == "-0" ? "0" : s;
}

std::string short_number(double x) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.4g", x);
    return buf;
}

std::vector<double> nice_ticks(double lo, double hi, int target_count) {
    if (!(hi > lo) || !std::isfinite(lo) || !std::isfinite(hi)) return {lo};
    // The step among 1, 2, 5, 10 x 10^k nearest (in ratio) to the raw spacing.
    double raw = (hi - lo) / std::max(1, target_count);
    double mag = std::pow(10.0, std::floor(std::log10(raw)));
    double step = mag;
    for (double f : {2.0, 5.0, 10.0})
        if (std::fabs(std::log(f * mag / raw)) < std::fabs(std::log(step / raw))) step = f * mag;
    // Integer multiples of the step, so no rounding error accumulates.
    std::vector<double> t;
    for (double k = std::ceil(lo / step - 1e-9); k * step <= hi + step * 1e-9 && t.size() < 50; k += 1)
        t.push_back(k == 0 ? 0.0 : k * step);
    return t;
}

std::string heat_colour(double t) {
    // Five stops of the viridis map; linear interpolation between them.
    static const double stops[5][3] = {{68, 1, 84}, {59, 82, 139}, {33, 145, 140}, {94, 201, 98}, {253, 231, 37}};
    if (!std::isfinite(t)) t = 0;
    t = std::min(1.0, std::max(0.0, t)) * 4;
    int i = std::min(3, int(t));
    double f = t - i;
    char buf[8];
    int rgb[3];
    for (int c = 0; c < 3; ++c) rgb[c] = int(std::lround(stops[i][c] * (1 - f) + stops[i + 1][c] * f));
    std::snprintf(buf, sizeof buf, "#%02x%02x%02x", rgb[0], rgb[1], rgb[2]);
    return buf;
}

std::string palette_colour(size_t i) {
    static const char* colours[10] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd",
                                      "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};
    return colours[i % 10];
}

void write_text_file(const std::string& path, const std::string& text) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    ENG_CHECK(out.is_open(), "cannot open ", path, " for writing. HINT: does its folder exist and is it writable?");
    out << text;
    out.close();
    ENG_CHECK(!out.fail(), "writing ", path, " failed (disk full?)");
}

namespace {

std::string svg_open(double w, double h, const std::string& cls) {
    return "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"" + cls + "\" width=\"" + coord(w) + "\" height=\"" +
           coord(h) + "\" viewBox=\"0 0 " + coord(w) + " " + coord(h) + "\">\n";
}

std::string text_el(double x, double y, const std::string& s, const std::string& attrs = "") {
    return "<text x=\"" + coord(x) + "\" y=\"" + coord(y) + "\"" + (attrs.empty() ? "" : " " + attrs) + ">" +
           xml_escape(s) + "</text>\n";
}

std::string line_el(double x1, double y1, double x2, double y2, const std::string& attrs) {
    return "<line x1=\"" + coord(x1) + "\" y1=\"" + coord(y1) + "\" x2=\"" + coord(x2) + "\" y2=\"" + coord(y2) +
           "\" " + attrs + "/>\n";
}

}  // namespace

std::string svg_roc(const std::vector<RocCurve>& curves, const std::vector<std::string>& names,
                    const std::vector<double>& aucs) {
    ENG_CHECK(names.size() == curves.size() && aucs.size() == curves.size(), "svg_roc: ", curves.size(),
              " curves, ", names.size(), " names, ", aucs.size(), " AUCs");
    const double W = 420, H = 400, L = 50, T = 20, S = 340;  // plot square S x S at (L, T)
    auto px = [&](double f) { return L + f * S; };
    auto py = [&](double t) { return T + (1 - t) * S; };
    std::string s = svg_open(W, H, "roc");
    s += "<rect x=\"" + coord(L) + "\" y=\"" + coord(T) + "\" width=\"" + coord(S) + "\" height=\"" + coord(S) +
         "\" fill=\"#ffffff\" stroke=\"#444444\"/>\n";
    for (int i = 0; i <= 5; ++i) {
        double v = i / 5.0;
        s += line_el(px(v), T, px(v), T + S, "stroke=\"#e5e5e5\"");
        s += line_el(L, py(v), L + S, py(v), "stroke=\"#e5e5e5\"");
        s += text_el(px(v), T + S + 16, short_number(v), "text-anchor=\"middle\" font-size=\"11\"");
        s += text_el(L - 6, py(v) + 4, short_number(v), "text-anchor=\"end\" font-size=\"11\"");
    }
    s += line_el(px(0), py(0), px(1), py(1), "stroke=\"#999999\" stroke-dasharray=\"4 4\"");
    s += text_el(L + S / 2, H - 6, "false positive rate (1 - specificity)", "text-anchor=\"middle\" font-size=\"12\"");
    s += text_el(14, T + S / 2, "true positive rate (sensitivity)",
                 "text-anchor=\"middle\" font-size=\"12\" transform=\"rotate(-90 14 " + coord(T + S / 2) + ")\"");
    for (size_t c = 0; c < curves.size(); ++c) {
        const RocCurve& r = curves[c];
        bool defined = !r.fpr.empty() && r.fpr.size() == r.tpr.size();
        for (size_t i = 0; defined && i < r.fpr.size(); ++i) defined = std::isfinite(r.fpr[i]) && std::isfinite(r.tpr[i]);
        if (!defined) continue;
        // Keep a point when it moved at least 0.002 from the last kept one (the
        // plot is 340 px wide), so long test sets stay small; the end is kept.
        std::string pts;
        double lx = -1, ly = -1;
        for (size_t i = 0; i < r.fpr.size(); ++i) {
            bool last = i + 1 == r.fpr.size();
            if (!last && std::fabs(r.fpr[i] - lx) < 0.002 && std::fabs(r.tpr[i] - ly) < 0.002) continue;
            lx = r.fpr[i];
            ly = r.tpr[i];
            pts += coord(px(lx)) + "," + coord(py(ly)) + " ";
        }
        if (!pts.empty()) pts.pop_back();
        s += "<polyline fill=\"none\" stroke=\"" + palette_colour(c) + "\" stroke-width=\"2\" points=\"" + pts + "\"/>\n";
    }
    // Legend in the lower right, where ROC curves rarely pass.
    double ly0 = T + S - 10 - 18.0 * double(curves.size());
    for (size_t c = 0; c < curves.size(); ++c) {
        double y = ly0 + 18.0 * double(c) + 12;
        char auc[32];
        if (std::isfinite(aucs[c])) std::snprintf(auc, sizeof auc, "AUC %.1f", 100 * aucs[c]);
        else std::snprintf(auc, sizeof auc, "undefined");
        s += line_el(L + S - 175, y - 4, L + S - 155, y - 4, "stroke=\"" + palette_colour(c) + "\" stroke-width=\"3\"");
        s += text_el(L + S - 150, y, names[c] + " (" + auc + ")", "font-size=\"12\"");
    }
    return s + "</svg>\n";
}

std::string svg_confusion(const std::vector<std::vector<int64_t>>& confusion, const std::vector<std::string>& names) {
    const size_t K = confusion.size();
    ENG_CHECK(names.size() == K, "svg_confusion: ", K, " rows but ", names.size(), " names");
    size_t longest = 4;
    for (auto& n : names) longest = std::max(longest, n.size());
    const double cell = K <= 6 ? 64 : std::max(28.0, 384.0 / double(K));
    // Column names are written at 40 degrees, so the top margin grows with the longest name.
    const double name_px = 6.5 * double(std::min<size_t>(longest, 24));
    const double L = 30 + name_px, T = 40 + 0.65 * name_px;
    const double W = L + cell * double(K) + 20 + 0.77 * name_px, H = T + cell * double(K) + 20;
    std::string s = svg_open(W, H, "confusion");
    s += text_el(L + cell * double(K) / 2, 16, "predicted", "text-anchor=\"middle\" font-size=\"12\" font-weight=\"bold\"");
    s += text_el(12, T + cell * double(K) / 2, "true",
                 "text-anchor=\"middle\" font-size=\"12\" font-weight=\"bold\" transform=\"rotate(-90 12 " +
                     coord(T + cell * double(K) / 2) + ")\"");
    for (size_t c = 0; c < K; ++c) {
        double cx = L + cell * (double(c) + 0.5), cy = T - 6;
        s += text_el(cx, cy, names[c],
                     "font-size=\"11\" transform=\"rotate(-40 " + coord(cx) + " " + coord(cy) + ")\"");
        s += text_el(L - 6, T + cell * (double(c) + 0.5) + 4, names[c], "text-anchor=\"end\" font-size=\"11\"");
    }
    for (size_t a = 0; a < K; ++a) {
        ENG_CHECK(confusion[a].size() == K, "svg_confusion: row ", a, " has ", confusion[a].size(), " cells, expected ", K);
        int64_t row = 0;
        for (int64_t v : confusion[a]) row += v;
        for (size_t b = 0; b < K; ++b) {
            double f = row > 0 ? double(confusion[a][b]) / double(row) : 0.0;
            // White to dark blue by the fraction of the true class's samples.
            char fill[8];
            std::snprintf(fill, sizeof fill, "#%02x%02x%02x", int(std::lround(255 - f * (255 - 8))),
                          int(std::lround(255 - f * (255 - 81))), int(std::lround(255 - f * (255 - 156))));
            double x = L + cell * double(b), y = T + cell * double(a);
            s += "<rect class=\"cell\" x=\"" + coord(x) + "\" y=\"" + coord(y) + "\" width=\"" + coord(cell) +
                 "\" height=\"" + coord(cell) + "\" fill=\"" + fill + "\" stroke=\"#ffffff\"/>\n";
            std::string ink = f > 0.5 ? "fill=\"#ffffff\"" : "fill=\"#222222\"";
            s += text_el(x + cell / 2, y + cell / 2 + (cell >= 48 ? 0 : 4), std::to_string(confusion[a][b]),
                         "text-anchor=\"middle\" font-size=\"13\" font-weight=\"bold\" " + ink);
            if (cell >= 48 && row > 0) {
                char p[16];
                std::snprintf(p, sizeof p, "%.0f%%", 100 * f);
                s += text_el(x + cell / 2, y + cell / 2 + 15, p, "text-anchor=\"middle\" font-size=\"10\" " + ink);
            }
        }
    }
    return s + "</svg>\n";
}

std::string svg_line_chart(const std::string& title, const std::vector<std::pair<double, double>>& points,
                           size_t max_points) {
    std::vector<std::pair<double, double>> pts;
    for (auto& p : points)
        if (std::isfinite(p.first) && std::isfinite(p.second)) pts.push_back(p);
    if (max_points > 0 && pts.size() > max_points) {
        // Equal-count buckets, each drawn at its mean step and mean value.
        std::vector<std::pair<double, double>> avg;
        for (size_t b = 0; b < max_points; ++b) {
            size_t lo = b * pts.size() / max_points, hi = (b + 1) * pts.size() / max_points;
            double sx = 0, sy = 0;
            for (size_t i = lo; i < hi; ++i) {
                sx += pts[i].first;
                sy += pts[i].second;
            }
            if (hi > lo) avg.push_back({sx / double(hi - lo), sy / double(hi - lo)});
        }
        pts.swap(avg);
    }
    const double W = 320, H = 210, L = 56, T = 26, PW = 250, PH = 150;
    std::string s = svg_open(W, H, "curve");
    s += text_el(W / 2, 16, title, "text-anchor=\"middle\" font-size=\"13\" font-weight=\"bold\"");
    s += "<rect x=\"" + coord(L) + "\" y=\"" + coord(T) + "\" width=\"" + coord(PW) + "\" height=\"" + coord(PH) +
         "\" fill=\"#ffffff\" stroke=\"#444444\"/>\n";
    if (pts.empty()) {
        s += text_el(L + PW / 2, T + PH / 2, "no finite values", "text-anchor=\"middle\" font-size=\"12\"");
        return s + "</svg>\n";
    }
    double x0 = pts.front().first, x1 = x0, y0 = pts.front().second, y1 = y0;
    for (auto& p : pts) {
        x0 = std::min(x0, p.first);
        x1 = std::max(x1, p.first);
        y0 = std::min(y0, p.second);
        y1 = std::max(y1, p.second);
    }
    if (x1 == x0) x1 = x0 + 1;
    if (y1 == y0) {
        double d = y0 == 0 ? 1 : std::fabs(y0) * 0.1;
        y0 -= d;
        y1 += d;
    }
    auto px = [&](double x) { return L + (x - x0) / (x1 - x0) * PW; };
    auto py = [&](double y) { return T + (1 - (y - y0) / (y1 - y0)) * PH; };
    for (double t : nice_ticks(y0, y1, 4)) {
        s += line_el(L, py(t), L + PW, py(t), "stroke=\"#eeeeee\"");
        s += text_el(L - 5, py(t) + 4, short_number(t), "text-anchor=\"end\" font-size=\"10\"");
    }
    for (double t : nice_ticks(x0, x1, 4))
        s += text_el(px(t), T + PH + 14, short_number(t), "text-anchor=\"middle\" font-size=\"10\"");
    s += text_el(L + PW / 2, H - 4, "step", "text-anchor=\"middle\" font-size=\"11\"");
    std::string poly;
    for (auto& p : pts) poly += coord(px(p.first)) + "," + coord(py(p.second)) + " ";
    poly.pop_back();
    if (pts.size() == 1)
        s += "<circle cx=\"" + coord(px(pts[0].first)) + "\" cy=\"" + coord(py(pts[0].second)) +
             "\" r=\"3\" fill=\"#1f77b4\"/>\n";
    else
        s += "<polyline fill=\"none\" stroke=\"#1f77b4\" stroke-width=\"1.5\" points=\"" + poly + "\"/>\n";
    return s + "</svg>\n";
}

std::string svg_heatmap_overlay(const std::string& href, double width, double height, int grid_h, int grid_w,
                                const std::vector<float>& grid) {
    ENG_CHECK(grid_h > 0 && grid_w > 0 && grid.size() == size_t(grid_h) * size_t(grid_w), "heat map: grid ", grid_h,
              " x ", grid_w, " needs ", int64_t(grid_h) * grid_w, " values, got ", grid.size());
    double lo = INFINITY, hi = -INFINITY;
    for (float v : grid)
        if (std::isfinite(v)) {
            lo = std::min(lo, double(v));
            hi = std::max(hi, double(v));
        }
    std::string s = svg_open(width, height, "overlay");
    if (href.empty())
        s += "<rect x=\"0\" y=\"0\" width=\"" + coord(width) + "\" height=\"" + coord(height) + "\" fill=\"#cccccc\"/>\n";
    else
        s += "<image href=\"" + xml_escape(href) + "\" x=\"0\" y=\"0\" width=\"" + coord(width) + "\" height=\"" +
             coord(height) + "\" preserveAspectRatio=\"none\"/>\n";
    s += "<g shape-rendering=\"crispEdges\">\n";
    const double cw = width / grid_w, ch = height / grid_h;
    for (int i = 0; i < grid_h; ++i)
        for (int j = 0; j < grid_w; ++j) {
            float v = grid[size_t(i) * grid_w + j];
            if (!std::isfinite(v)) continue;
            double t = hi > lo ? (v - lo) / (hi - lo) : 0.5;
            // Stronger cells are also more opaque, so low-similarity tissue stays visible.
            s += "<rect x=\"" + coord(j * cw) + "\" y=\"" + coord(i * ch) + "\" width=\"" + coord(cw) + "\" height=\"" +
                 coord(ch) + "\" fill=\"" + heat_colour(t) + "\" fill-opacity=\"" + coord(0.15 + 0.45 * t) + "\"/>\n";
        }
    return s + "</g>\n</svg>\n";
}

std::string svg_colour_bar(double lo, double hi) {
    const double W = 300, H = 36, n = 32, L = 20, BW = 260;
    std::string s = svg_open(W, H, "colourbar");
    for (int i = 0; i < int(n); ++i)
        s += "<rect x=\"" + coord(L + i * BW / n) + "\" y=\"2\" width=\"" + coord(BW / n + 0.5) +
             "\" height=\"12\" fill=\"" + heat_colour(i / (n - 1)) + "\"/>\n";
    s += text_el(L, 28, std::isfinite(lo) ? short_number(lo) : "-", "font-size=\"10\"");
    s += text_el(L + BW, 28, std::isfinite(hi) ? short_number(hi) : "-", "text-anchor=\"end\" font-size=\"10\"");
    s += text_el(L + BW / 2, 28, "similarity", "text-anchor=\"middle\" font-size=\"10\"");
    return s + "</svg>\n";
}

bool png_size(const std::string& bytes, int* width, int* height) {
    static const unsigned char sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    if (bytes.size() < 24 || bytes.compare(0, 8, std::string(reinterpret_cast<const char*>(sig), 8)) != 0 ||
        bytes.compare(12, 4, "IHDR") != 0)
        return false;
    auto be32 = [&](size_t o) {
        return uint32_t(uint8_t(bytes[o])) << 24 | uint32_t(uint8_t(bytes[o + 1])) << 16 |
               uint32_t(uint8_t(bytes[o + 2])) << 8 | uint32_t(uint8_t(bytes[o + 3]));
    };
    uint32_t w = be32(16), h = be32(20);
    if (w == 0 || h == 0 || w > (1u << 24) || h > (1u << 24)) return false;
    *width = int(w);
    *height = int(h);
    return true;
}

}  // namespace mama::report_detail
