// synth_lesions.cpp: view geometry and the drawing of vessels and findings for
// the synthetic mammograms. Sizes are in millimetres and converted with the
// pixel pitch, so the findings scale with --size.
#include "mama/synth_lesions.h"

#include <algorithm>
#include <cmath>

namespace mama {
namespace synth {

namespace {

double uni(eng::Generator& g, double lo, double hi) { return lo + (hi - lo) * g.uniform_double(); }

// A W x H float layer with max-compositing Gaussian splats.
struct Layer {
    int W, H;
    std::vector<float> v;
    Layer(int w, int h) : W(w), H(h), v(size_t(w) * size_t(h), 0.f) {}
    void splat_max(float cx, float cy, float sigma, float amp) {
        const int r = int(std::ceil(2.5f * sigma)) + 1;
        const int x0 = std::max(0, int(cx) - r), x1 = std::min(W - 1, int(cx) + r);
        const int y0 = std::max(0, int(cy) - r), y1 = std::min(H - 1, int(cy) + r);
        const float k = -0.5f / (sigma * sigma);
        for (int y = y0; y <= y1; ++y)
            for (int x = x0; x <= x1; ++x) {
                const float dx = x - cx, dy = y - cy;
                const float val = amp * std::exp((dx * dx + dy * dy) * k);
                float& o = v[size_t(y) * size_t(W) + size_t(x)];
                if (amp >= 0 ? val > o : val < o) o = val;
            }
    }
    // A line of splats from (ax, ay) to (bx, by), width and amplitude interpolated.
    void line(float ax, float ay, float bx, float by, float wa, float wb, float aa, float ab) {
        const float len = std::hypot(bx - ax, by - ay);
        const int steps = std::max(1, int(len / 0.4f));
        for (int i = 0; i <= steps; ++i) {
            const float t = float(i) / steps;
            splat_max(ax + t * (bx - ax), ay + t * (by - ay), wa + t * (wb - wa), aa + t * (ab - aa));
        }
    }
};

// Contrast of a mass by EMBED massdens code.
float mass_contrast(const std::string& dens) {
    if (dens == "+") return 0.20f;
    if (dens == "=") return 0.14f;
    if (dens == "-") return 0.07f;
    if (dens == "0") return 0.10f;
    return 0.12f;
}

bool is_mass_shape(const std::string& s) { return s == "R" || s == "O" || s == "X" || s == "N" || s == "G"; }
bool is_asymmetry(const std::string& s) { return s == "F" || s == "V" || s == "S" || s == "B"; }

}  // namespace

void ViewGeometry::to_breast(float x, float y, float& u, float& v, float& rho) const {
    const float c = std::cos(tilt), s = std::sin(tilt);
    const float dy = y - y0;
    u = x * c + dy * s;
    v = -x * s + dy * c;
    const float b = v < 0 ? b_up : b_down;
    const float uu = std::max(u, 0.0f) / a, vv = std::fabs(v) / b;
    const float q = std::pow(std::pow(uu, p) + std::pow(vv, p), 1.0f / p);
    const float th = std::atan2(v / b, std::max(u, 0.0f) / a);
    float m = 1.0f + 0.03f * std::exp(-th * th / (2 * 0.05f * 0.05f));  // nipple bump
    for (int k = 0; k < 5; ++k) m += edge_c[k] * std::cos(float(k + 1) * th + edge_ph[k]);
    rho = q / m;
}

void ViewGeometry::to_pixel(float dn, float vn, float& x, float& y) const {
    const float c = std::cos(tilt), s = std::sin(tilt);
    const float u = dn * a, v = vn * (vn < 0 ? b_up : b_down);
    x = u * c - v * s;
    y = y0 + u * s + v * c;
}

float ViewGeometry::pectoral_depth(float x, float y) const {
    if (!mlo || y >= pec_ybot) return -1e6f;
    const float t = std::max(0.0f, y) / pec_ybot;
    const float xb = pec_xtop * (1 - t) + pec_bulge * 4 * t * (1 - t);
    return xb - x;
}

void draw_vessels(const ViewGeometry& g, eng::Generator& gen, const std::vector<uint8_t>& inside,
                  const std::vector<float>& T, std::vector<float>& mu) {
    Layer L(g.W, g.H);
    const int nv = int(gen.randint(2, 6));
    for (int k = 0; k < nv; ++k) {
        float dn = 0.0f, vn = float(uni(gen, -0.7, 0.6));
        float slope = float(uni(gen, -0.3, 0.3));
        const float end = float(uni(gen, 0.45, 0.95));
        const float w = float(uni(gen, 0.3, 0.6)) / g.pix_mm;
        float px, py;
        g.to_pixel(dn, vn, px, py);
        while (dn < end) {
            dn += 0.01f;
            slope += float(uni(gen, -0.25, 0.25));
            slope *= 0.9f;
            vn += slope * 0.01f - vn * 0.004f;  // drift gently towards the axis
            float qx, qy;
            g.to_pixel(dn, vn, qx, qy);
            L.line(px, py, qx, qy, std::max(w, 0.5f), std::max(w * 0.9f, 0.5f), 1.0f, 1.0f);
            px = qx;
            py = qy;
        }
    }
    for (size_t i = 0; i < mu.size(); ++i)
        if (inside[i]) mu[i] += 0.035f * L.v[i] * T[i];
}

Box draw_finding(const ViewGeometry& g, const SynthFinding& f, const std::vector<uint8_t>& inside,
                 const std::vector<float>& T, const std::vector<float>& tex, std::vector<float>& mu,
                 std::vector<Clip>& clips) {
    const int W = g.W, H = g.H;
    eng::Generator gs(f.shape_seed);                                          // shared by CC and MLO
    eng::Generator gv(eng::random_word(f.shape_seed, g.mlo ? 2 : 1));         // per-view perturbation
    // Centre: the same breast position in both views (MLO: kept out of the muscle).
    float dn = f.depth, cx = 0, cy = 0;
    const float coord = g.mlo ? f.si : f.ml;
    for (int tries = 0; tries < 12; ++tries) {
        const float vn = coord * std::pow(std::max(0.0f, 1 - std::pow(dn, g.p)), 1 / g.p) * 0.85f;
        g.to_pixel(dn, vn, cx, cy);
        const int ix = std::clamp(int(cx), 0, W - 1), iy = std::clamp(int(cy), 0, H - 1);
        if (!g.in_pectoral(cx, cy) && inside[size_t(iy) * size_t(W) + size_t(ix)]) break;
        dn = std::min(0.85f, dn + 0.05f);
    }
    const float R = f.size_mm / g.pix_mm;
    Layer core(W, H);    // additive (mass body, asymmetry)
    Layer lines(W, H);   // max-composited (spicules, calcifications)
    float reach = R * 1.8f;

    if (is_mass_shape(f.massshape) || is_asymmetry(f.massshape)) {
        const bool asym = is_asymmetry(f.massshape);
        float elong = 1.0f;
        if (f.massshape == "O") elong = float(uni(gs, 0.6, 0.8));
        if (f.massshape == "N") elong = float(uni(gs, 0.5, 0.65));
        if (f.massshape == "X" || f.massshape == "R") elong = float(uni(gs, 0.8, 1.0));
        if (asym) elong = float(uni(gs, 0.5, 0.9));
        const float ang = float(uni(gs, 0, M_PI) + uni(gv, -0.25, 0.25));
        float amp[16], ph[16];
        for (int k = 0; k < 16; ++k) {
            float a = 0.02f / (1 + k);
            if (f.massshape == "X") a = 0.24f / std::pow(1.0f + k, 0.8f);
            if (k >= 9 && f.massmargin == "M") a = 0.05f;
            if (k >= 9 && f.massmargin != "M") a = 0;
            amp[k] = float(uni(gs, 0.5, 1.0)) * a;
            ph[k] = float(uni(gs, 0, 2 * M_PI));
        }
        const float c = mass_contrast(f.massdens);
        float soft = 0.06f;  // edge width as a fraction of R
        if (f.massmargin == "I" || f.massmargin == "U") soft = 0.2f;
        if (f.massmargin == "S") soft = 0.12f;
        const float Ra = asym ? R * (f.massshape == "B" ? 2.2f : 1.2f) : R;
        const float ca = f.massshape == "F" ? 0.11f : f.massshape == "V" ? 0.12f : f.massshape == "S" ? 0.09f : 0.07f;
        reach = std::max(reach, Ra * 2.2f);
        const int r = int(Ra * 2.2f) + 2;
        const float ce = std::cos(ang), se = std::sin(ang);
        for (int y = std::max(0, int(cy) - r); y <= std::min(H - 1, int(cy) + r); ++y)
            for (int x = std::max(0, int(cx) - r); x <= std::min(W - 1, int(cx) + r); ++x) {
                const float dx = x - cx, dy = y - cy;
                const float xr = dx * ce + dy * se, yr = (-dx * se + dy * ce) / elong;
                const float rr = std::hypot(xr, yr);
                float val;
                if (asym) {
                    // Low-contrast density without convex borders: a Gaussian
                    // island modulated by the tissue texture.
                    const float e = std::exp(-rr * rr / (2 * Ra * Ra * 0.45f));
                    val = ca * e * (0.55f + 0.45f * std::tanh(1.5f * tex[size_t(y) * size_t(W) + size_t(x)] + 0.5f));
                } else {
                    const float th = std::atan2(yr, xr);
                    float m = 1;
                    for (int k = 0; k < 16; ++k) m += amp[k] * std::cos(float(k + 2) * th + ph[k]);
                    const float u = rr / (R * m);
                    const float edge = 1.0f / (1.0f + std::exp((u - 1.0f) / soft));
                    const float body = std::pow(std::max(0.0f, 1.0f - 0.55f * u * u), 0.8f);
                    val = c * edge * body;
                    if (f.massdens == "0") {
                        // Fat-containing (lymph node, oil cyst): a bright rim and a
                        // fatty, darker centre (with a hilum notch for nodes).
                        const float inner = 1.0f / (1.0f + std::exp((u - 0.65f) / 0.08f));
                        const float hilum = f.massshape == "N" ? std::exp(-((xr - R * 0.55f) * (xr - R * 0.55f) + yr * yr) /
                                                                          (2 * 0.1f * R * R))
                                                              : 0.0f;
                        val = c * edge - (c + 0.07f) * std::max(inner, hilum);
                    }
                }
                core.v[size_t(y) * size_t(W) + size_t(x)] += val;
            }
    }
    // Spicules: spiculated margins, architectural distortion, biopsy scar.
    int n_spic = 0;
    float spic_amp = 0.0f, r_start = 0.7f;
    if (f.massmargin == "S") n_spic = int(gs.randint(8, 19)), spic_amp = 0.075f;
    if (f.massshape == "A") n_spic = int(gs.randint(10, 18)), spic_amp = 0.10f, r_start = 0.1f;
    if (f.massshape == "Q") n_spic = int(gs.randint(6, 11)), spic_amp = 0.07f, r_start = 0.1f;
    for (int k = 0; k < n_spic; ++k) {
        const float th = float(2 * M_PI * (k + uni(gs, -0.45, 0.45)) / n_spic + uni(gv, -0.1, 0.1));
        const float len = R * float(uni(gs, 0.6, 2.6));
        const float bend = float(uni(gs, -0.5, 0.5));
        const float w0 = std::max(0.5f, 0.07f * R), amp = spic_amp * float(uni(gs, 0.6, 1.0));
        float px = cx + std::cos(th) * R * r_start, py = cy + std::sin(th) * R * r_start;
        const int seg = 6;
        for (int sgm = 1; sgm <= seg; ++sgm) {
            const float t = float(sgm) / seg, t0 = float(sgm - 1) / seg;
            const float a2 = th + bend * t;
            const float rr = R * r_start + len * t;
            const float qx = cx + std::cos(a2) * rr, qy = cy + std::sin(a2) * rr;
            lines.line(px, py, qx, qy, w0 * (1 - 0.8f * t0) + 0.3f, w0 * (1 - 0.8f * t) + 0.3f, amp * (1 - 0.6f * t0),
                       amp * (1 - 0.6f * t));
            px = qx;
            py = qy;
        }
        reach = std::max(reach, R * r_start + len + 2);
    }
    // Calcifications.
    if (!f.calcfind.empty()) {
        const std::string& cf = f.calcfind;
        const std::string& cd = f.calcdistri;
        const float mm = 1.0f / g.pix_mm;
        const float spread = f.size_mm * mm;
        int n = 8;
        float r0 = 0.3f, r1 = 0.45f, a0 = 0.35f, a1 = 0.5f;
        if (cf == "P") n = int(gs.randint(5, 16)), r0 = 0.22f, r1 = 0.35f;
        if (cf == "R" || cf == "9" || cf == "M") n = int(gs.randint(4, 12)), r0 = 0.35f, r1 = 0.6f, a0 = 0.45f;
        if (cf == "A") n = int(gs.randint(12, 31)), r0 = 0.18f, r1 = 0.28f, a0 = 0.14f, a1 = 0.22f;
        if (cf == "I") n = int(gs.randint(8, 26)), r0 = 0.18f, r1 = 0.5f, a0 = 0.3f, a1 = 0.55f;
        if (cf == "K") n = int(gs.randint(8, 21)), r0 = 0.3f, r1 = 0.7f, a0 = 0.35f, a1 = 0.6f;
        if (cf == "F" || cf == "B") n = int(gs.randint(8, 21));
        if (cf == "C") n = int(gs.randint(1, 5));
        if (cf == "L") n = int(gs.randint(3, 9));
        if (cf == "E") n = int(gs.randint(1, 4));
        if (cf == "S") n = int(gs.randint(3, 9)), r0 = 0.4f, r1 = 0.7f;
        const float ca = std::cos(g.tilt), sa = std::sin(g.tilt);  // breast axis direction in pixels
        const float view_rot = float(uni(gv, -0.3, 0.3)), view_sq = float(uni(gv, 0.85, 1.15));
        const float cr = std::cos(view_rot), sr = std::sin(view_rot);
        auto place = [&](float ox, float oy, float& x, float& y) {  // offset (pixels, breast frame) -> pixel
            const float rx = (ox * cr - oy * sr), ry = (ox * sr + oy * cr) * view_sq;
            x = cx + rx * ca - ry * sa;
            y = cy + rx * sa + ry * ca;
        };
        if (cf == "V") {
            // Vascular: a tram-track of dots along a gently curved vessel.
            const float len = float(uni(gs, 10, 25)) * mm, sep = 0.6f * mm, th = float(uni(gs, -0.5, 0.5));
            const int dots = std::max(4, int(len / (0.8f * mm)));
            for (int i = 0; i < dots; ++i) {
                const float t = float(i) / dots - 0.5f;
                const float ox = t * len * std::cos(th), oy = t * len * std::sin(th) + 0.1f * len * t * t * 4;
                for (int side = -1; side <= 1; side += 2) {
                    if (gs.bernoulli(0.25)) continue;
                    float x, y;
                    place(ox - side * sep * std::sin(th), oy + side * sep * std::cos(th), x, y);
                    lines.splat_max(x, y, std::max(0.45f, 0.3f * mm), 0.35f);
                }
            }
            reach = std::max(reach, len);
        }
        for (int i = 0; i < n && cf != "V"; ++i) {
            // Position by distribution.
            float ox = 0, oy = 0;
            bool absolute = false;
            float ax = 0, ay = 0;
            if (cd == "G" || cd == "C") {
                ox = float(gs.normal()) * 0.45f * spread;
                oy = float(gs.normal()) * 0.45f * spread;
            } else if (cd == "L") {
                const float t = float(uni(gs, -1, 1));
                ox = t * 1.6f * spread;
                oy = float(gs.normal()) * 0.08f * spread + 0.15f * t * t * spread;
            } else if (cd == "S") {
                const float t = float(uni(gs, 0, 1));
                ox = (t - 0.5f) * 2.5f * spread;
                oy = float(uni(gs, -1, 1)) * (0.15f + 0.6f * (1 - t)) * spread;
            } else if (cd == "R") {
                const float rr = 2.2f * spread * std::sqrt(float(gs.uniform_double()));
                const float th = float(uni(gs, 0, 2 * M_PI));
                ox = rr * std::cos(th);
                oy = rr * std::sin(th);
            } else {  // D diffuse: anywhere in the breast, same breast position in both views
                const float dn2 = float(uni(gs, 0.1, 0.85)), c2 = float(uni(gs, -0.8, 0.8));
                const float vn2 = c2 * std::pow(std::max(0.0f, 1 - std::pow(dn2, g.p)), 1 / g.p) * 0.85f;
                g.to_pixel(dn2, vn2, ax, ay);
                absolute = true;
            }
            if (cf == "S" && !absolute) {  // skin calcifications sit near the skin line
                const float th = float(uni(gs, -1.2, 1.2));
                g.to_pixel(0.96f * std::cos(th) * 0.9f + 0.05f, 0.93f * std::sin(th), ax, ay);
                absolute = true;
            }
            float x = ax, y = ay;
            if (!absolute) place(ox, oy, x, y);
            const float rad = std::max(0.45f, float(uni(gs, r0, r1)) * mm);
            const float amp = float(uni(gs, a0, a1));
            if (cf == "F" || cf == "B") {
                // Fine linear (casting): short thin segments roughly along the duct
                // direction; branching adds a side branch.
                const float th = float(uni(gs, -0.5, 0.5)) + (cd == "L" || cd == "S" ? 0.0f : float(uni(gs, 0, M_PI)));
                const float len = float(uni(gs, 1.0, 3.0)) * mm;
                float x2, y2;
                place(ox + len * std::cos(th), oy + len * std::sin(th), x2, y2);
                lines.line(x, y, x2, y2, std::max(0.45f, 0.15f * mm), std::max(0.45f, 0.12f * mm), 0.45f, 0.4f);
                if (cf == "B" && gs.bernoulli(0.6)) {
                    const float th2 = th + float(uni(gs, 0.5, 1.1)) * (gs.bernoulli(0.5) ? 1 : -1);
                    float x3, y3;
                    place(ox + len * 0.5f * std::cos(th) + len * 0.7f * std::cos(th2),
                          oy + len * 0.5f * std::sin(th) + len * 0.7f * std::sin(th2), x3, y3);
                    lines.line(0.5f * (x + x2), 0.5f * (y + y2), x3, y3, std::max(0.45f, 0.12f * mm), 0.45f, 0.4f, 0.35f);
                }
            } else if (cf == "C") {  // popcorn: large lobulated blob
                const float big = float(uni(gs, 1.2, 2.5)) * mm;
                for (int l = 0; l < 4; ++l)
                    lines.splat_max(x + float(gs.normal()) * big * 0.4f, y + float(gs.normal()) * big * 0.4f,
                                    big * 0.55f, 0.6f);
            } else if (cf == "L") {  // large rod-like, oriented along the ducts
                const float len = float(uni(gs, 3, 8)) * mm, th = float(uni(gs, -0.3, 0.3));
                float x2, y2;
                place(ox + len * std::cos(th), oy + len * std::sin(th), x2, y2);
                lines.line(x, y, x2, y2, 0.35f * mm + 0.3f, 0.3f * mm + 0.3f, 0.55f, 0.55f);
            } else if (cf == "E") {  // rim: a ring
                const float rr = float(uni(gs, 1.5, 3.0)) * mm;
                for (int a = 0; a < 24; ++a)
                    lines.splat_max(x + rr * std::cos(a * M_PI / 12), y + rr * std::sin(a * M_PI / 12),
                                    std::max(0.45f, 0.25f * mm), 0.5f);
            } else {
                lines.splat_max(x, y, rad, amp);
                if (cf == "I" || cf == "K")  // pleomorphic: irregular double dots
                    lines.splat_max(x + float(gs.normal()) * rad, y + float(gs.normal()) * rad, rad * 0.7f, amp * 0.8f);
            }
        }
        reach = std::max(reach, 3.5f * spread + 6);
    }
    // Biopsy clip (K): a small metallic ribbon near the centre.
    if (f.clip) {
        Clip c;
        const float len = float(uni(gs, 2.0, 3.2)) / g.pix_mm, th = float(uni(gs, 0, M_PI) + uni(gv, -0.4, 0.4));
        const float ox = float(uni(gs, -0.3, 0.3)) * R, oy = float(uni(gs, -0.3, 0.3)) * R;
        const float ux = std::cos(th), uy = std::sin(th), nx = -uy, ny = ux;
        const float bx = cx + ox, by = cy + oy;
        // A "U" / coil shape: three segments.
        const float pts[4][2] = {{0, 0}, {len, 0}, {len, 0.45f * len}, {0.15f * len, 0.45f * len}};
        for (auto& pnt : pts) {
            c.xs.push_back(bx + pnt[0] * ux + pnt[1] * nx);
            c.ys.push_back(by + pnt[0] * uy + pnt[1] * ny);
        }
        c.width = std::max(0.6f, 0.35f / g.pix_mm);
        clips.push_back(c);
    }
    // Apply (thickness weighted) and measure the changed box.
    Box box;
    const int r = int(reach) + 3;
    for (int y = std::max(0, int(cy) - r); y <= std::min(H - 1, int(cy) + r); ++y)
        for (int x = std::max(0, int(cx) - r); x <= std::min(W - 1, int(cx) + r); ++x) {
            const size_t i = size_t(y) * size_t(W) + size_t(x);
            if (!inside[i]) continue;
            const float d = core.v[i] + lines.v[i];
            if (std::fabs(d) < 1e-4f) continue;
            mu[i] += T[i] * d;
            if (std::fabs(d) > 0.02f) box.add(x, y);
        }
    // Diffuse calcifications reach everywhere: scan the rest of the image too.
    if (f.calcdistri == "D" || f.calcfind == "S")
        for (int y = 0; y < H; ++y)
            for (int x = 0; x < W; ++x) {
                if (std::abs(y - int(cy)) <= r && std::abs(x - int(cx)) <= r) continue;
                const size_t i = size_t(y) * size_t(W) + size_t(x);
                if (!inside[i] || lines.v[i] < 1e-4f) continue;
                mu[i] += T[i] * lines.v[i];
                if (lines.v[i] > 0.02f) box.add(x, y);
            }
    if (f.clip)
        for (size_t k = 0; k < clips.back().xs.size(); ++k)
            box.add(std::clamp(int(clips.back().xs[k]), 0, W - 1), std::clamp(int(clips.back().ys[k]), 0, H - 1));
    return box;
}

void draw_clips(const std::vector<Clip>& clips, Image& img) {
    for (const Clip& c : clips) {
        Layer L(img.width, img.height);
        for (size_t k = 1; k < c.xs.size(); ++k)
            L.line(c.xs[k - 1], c.ys[k - 1], c.xs[k], c.ys[k], c.width, c.width, 1.0f, 1.0f);
        for (size_t i = 0; i < L.v.size(); ++i) {
            const float a = std::min(1.0f, L.v[i] * 1.6f);
            img.pixels[i] = img.pixels[i] * (1 - a) + 0.98f * a;
        }
    }
}

}  // namespace synth
}  // namespace mama
