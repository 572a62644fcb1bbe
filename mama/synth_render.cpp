// synth_render.cpp: renders one synthetic mammogram (data-and-weights.md §6.2):
// breast outline per view, skin roll-off, density-controlled power-law tissue,
// ligaments, vessels, pectoral muscle (MLO), findings, noise and a presentation LUT.
#include <algorithm>
#include <cmath>

#include "mama/synth.h"
#include "mama/synth_lesions.h"
#include "mama/synth_noise.h"
#include "tensor/check.h"
#include "tensor/random.h"

namespace mama {

namespace {

using synth::Field;
using synth::ViewGeometry;  // NOLINT

double uni(eng::Generator& g, double lo, double hi) { return lo + (hi - lo) * g.uniform_double(); }

inline float sigmoid(float x) { return 1.0f / (1.0f + std::exp(-x)); }

// Dense-area fraction range per BI-RADS composition class (tissueden 1..4).
const double kPhi[5][2] = {{0, 0}, {0.05, 0.20}, {0.22, 0.44}, {0.47, 0.68}, {0.72, 0.90}};
// Edge softness of the gland mask (in units of the texture's standard deviation).
const float kSoft[5] = {0, 0.40f, 0.32f, 0.24f, 0.18f};

// Per-breast anatomy, stable over a patient's exams; small per-exam jitter
// models a different compression.
ViewGeometry make_geometry(const SynthPatient& pt, const SynthExam& ex, const SynthView& vw, int W, int H) {
    const int s = vw.side == 'L' ? 0 : 1;
    eng::Generator g(pt.anatomy_seed[s]);
    eng::Generator ge(eng::random_word(pt.anatomy_seed[s], uint64_t(ex.acc_anon)));
    ViewGeometry v;
    v.W = W;
    v.H = H;
    v.mlo = vw.view == "MLO";
    const double a_frac = uni(g, 0.52, 0.78), p = uni(g, 1.8, 2.4);
    const double b_cc = uni(g, 0.36, 0.46), y0_cc = uni(g, 0.47, 0.53);
    const double mlo_y0 = uni(g, 0.50, 0.60), mlo_bup = uni(g, 0.56, 0.70), mlo_bdown = uni(g, 0.30, 0.40);
    const double tilt = uni(g, 0.05, 0.25), mlo_a = uni(g, 0.98, 1.1);
    const double pec_x = uni(g, 0.24, 0.42), pec_y = uni(g, 0.34, 0.55), pec_bulge = uni(g, -0.05, 0.05);
    for (int k = 0; k < 5; ++k) {
        v.edge_c[k] = float(uni(g, 0.0, 0.022) / (1 + k));
        v.edge_ph[k] = float(uni(g, 0.0, 2 * M_PI));
    }
    v.env_c = float(uni(g, 0.32, 0.52));
    v.env_su = float(uni(g, 0.28, 0.40));
    v.env_sv = float(uni(g, 0.45, 0.65));
    v.tex_ox = float(uni(g, 0, 512));
    v.tex_oy = float(uni(g, 0, 512));
    const double ja = uni(ge, 0.95, 1.05), jb = uni(ge, 0.97, 1.03), jy = uni(ge, -0.02, 0.02);
    v.p = float(p);
    if (!v.mlo) {
        v.a = float(a_frac * ja * W);
        v.b_up = v.b_down = float(b_cc * jb * H);
        v.y0 = float((y0_cc + jy) * H);
        v.tilt = 0;
    } else {
        v.a = float(std::min(a_frac * mlo_a * ja, 0.9) * W);
        v.b_up = float(mlo_bup * jb * H);
        v.b_down = float(mlo_bdown * jb * H);
        v.y0 = float((mlo_y0 + jy) * H);
        v.tilt = float(tilt + uni(ge, -0.03, 0.03));
        v.pec_xtop = float(pec_x * W * uni(ge, 0.93, 1.07));
        v.pec_ybot = float(pec_y * H * uni(ge, 0.93, 1.07));
        v.pec_bulge = float(pec_bulge * W);
    }
    v.pix_mm = 290.0f / float(H);
    return v;
}

// The presentation LUT: attenuation -> display value with a soft shoulder.
inline float present(float mu) {
    float x = mu;
    if (x <= 0) return 0;
    if (x > 0.85f) x = 0.85f + 0.15f * std::tanh((x - 0.85f) / 0.15f);
    return std::pow(x, 1.5f);
}

}  // namespace

Image render_synth_view(const SynthPatient& pt, const SynthExam& ex, const SynthView& vw, int size, uint64_t seed,
                        SynthRenderInfo* info, bool draw_findings) {
    ENG_CHECK(size >= 32 && size <= 8192, "synth: image size ", size, " must be within 32..8192");
    ENG_CHECK(pt.density >= 1 && pt.density <= 4, "synth: density class ", pt.density, " must be 1..4");
    const int H = size, W = int(0.77 * size + 0.5);
    const ViewGeometry geo = make_geometry(pt, ex, vw, W, H);
    const size_t np = size_t(W) * size_t(H);

    // 1. Masks and breast coordinates.
    std::vector<uint8_t> inside(np), pec(np);
    std::vector<float> U(np), V(np), E(np);
    for (int y = 0; y < H; ++y)
        for (int x = 0; x < W; ++x) {
            const size_t i = size_t(y) * size_t(W) + size_t(x);
            float u, v, rho;
            geo.to_breast(float(x), float(y), u, v, rho);
            U[i] = u;
            V[i] = v;
            const bool pm = geo.in_pectoral(float(x), float(y));
            pec[i] = pm;
            inside[i] = rho <= 1.0f || pm;
            const float b = v < 0 ? geo.b_up : geo.b_down;
            const float du = u / geo.a - geo.env_c, dv = v / b;
            E[i] = std::exp(-(du * du) / (2 * geo.env_su * geo.env_su) - (dv * dv) / (2 * geo.env_sv * geo.env_sv));
        }
    const std::vector<float> dist = synth::distance_inside(inside, W, H);

    // 2. Texture fields, sampled in breast coordinates so that the CC and MLO of
    //    a breast (and later exams) show the same tissue.
    int n = 64;
    while (n < std::max(W, H)) n *= 2;
    Field n1, n2, n3, n4;
    const int s = vw.side == 'L' ? 0 : 1;
    synth::powerlaw_noise_pair(n, 3.2, 2.0 / n, 0.4, eng::random_word(pt.anatomy_seed[s], 11), n1, n2);
    synth::powerlaw_noise_pair(n, 2.5, 4.0 / n, 0.45, eng::random_word(pt.anatomy_seed[s], 12), n3, n4);
    const float skin_w = 12.0f / geo.pix_mm;  // roll-off width in pixels (12 mm)
    std::vector<float> T(np, 0.f), F(np, 0.f), N3(np, 0.f), LIG(np, 0.f);
    std::vector<float> samples;
    samples.reserve(np);
    for (size_t i = 0; i < np; ++i) {
        if (!inside[i]) continue;
        const float d = dist[i];
        const float q = d < skin_w ? 1.0f - d / skin_w : 0.0f;
        T[i] = std::sqrt(std::max(0.0f, 1.0f - q * q));
        const float tx = U[i] + geo.tex_ox, ty = V[i] + geo.tex_oy;
        F[i] = n1.sample(tx, ty) + 2.2f * (E[i] * T[i] - 0.5f);
        N3[i] = n3.sample(tx * 1.3f, ty * 1.3f);
        // Cooper's ligaments: ridges (zero crossings) of a second field.
        const float r = n2.sample(tx * 0.5f, ty * 0.9f) / 0.07f;  // stretched along the ducts
        LIG[i] = std::exp(-r * r);
        if (!pec[i]) samples.push_back(F[i]);
    }
    // 3. Density: tau = the (1 - phi) quantile of F inside the breast.
    eng::Generator gp(eng::random_word(pt.anatomy_seed[0], 7));  // same phi for both breasts
    const double phi = uni(gp, kPhi[pt.density][0], kPhi[pt.density][1]);
    float tau = 0;
    if (!samples.empty()) {
        size_t k = std::min(samples.size() - 1, size_t((1.0 - phi) * double(samples.size())));
        std::nth_element(samples.begin(), samples.begin() + long(k), samples.end());
        tau = samples[k];
    }
    const float soft = kSoft[pt.density];
    std::vector<float> mu(np, 0.f);
    size_t n_breast = 0, n_dense = 0;
    const float mu_fat = 0.45f, mu_gland = 0.80f;
    for (size_t i = 0; i < np; ++i) {
        if (!inside[i]) continue;
        const float G = sigmoid((F[i] - tau) / soft);
        if (!pec[i]) {
            ++n_breast;
            n_dense += G > 0.5f;
        }
        const float G2 = std::clamp(G * (0.82f + 0.18f * std::tanh(N3[i])), 0.0f, 1.0f);
        const float fat = mu_fat * (1.0f + 0.035f * N3[i]);  // faint mottling of the fat
        float m = T[i] * ((1 - G2) * fat + G2 * mu_gland);
        m += T[i] * 0.05f * LIG[i] * (1 - G);
        mu[i] = m;
    }
    // 4. Pectoral muscle (MLO): high attenuation with striations along the muscle.
    if (geo.mlo) {
        const float ang = std::atan2(geo.pec_ybot, geo.pec_xtop);  // direction of the muscle edge
        const float ca = std::cos(ang), sa = std::sin(ang);
        for (int y = 0; y < H; ++y)
            for (int x = 0; x < W; ++x) {
                const size_t i = size_t(y) * size_t(W) + size_t(x);
                const float e = geo.pectoral_depth(float(x), float(y));  // pixels inside the edge (>0 inside)
                if (e <= -2.0f) continue;
                const float w = std::clamp((e + 2.0f) / 4.0f, 0.0f, 1.0f);
                const float along = x * sa - y * ca, across = x * ca + y * sa;
                // Fibres run along the muscle edge: slow variation along, fast across.
                const float stri = n4.sample(along * 0.12f + 37.0f, across * 1.2f + 11.0f);
                // Thicker (brighter) towards the chest-wall edge of the image.
                const float frac = std::clamp(float(x) / std::max(1.0f, float(x) + e), 0.0f, 1.0f);
                const float m = T[i] * (0.80f - 0.09f * frac + 0.025f * stri);
                mu[i] = (1 - w) * mu[i] + w * std::max(mu[i], m);
            }
    }
    // 5. Vessels, findings (added to mu before noise and blur).
    eng::Generator gv(eng::random_word(pt.anatomy_seed[s], 13));
    synth::draw_vessels(geo, gv, inside, T, mu);
    std::vector<std::vector<int>> rois;
    std::vector<synth::Clip> clips;
    if (draw_findings)
        for (const SynthFinding& f : ex.rows)
            if (f.drawn && f.side == vw.side) {
                synth::Box box = synth::draw_finding(geo, f, inside, T, N3, mu, clips);
                if (box.valid()) {
                    int x0 = box.x0, x1 = box.x1;
                    if (vw.side == 'R') {
                        x0 = W - 1 - box.x1;
                        x1 = W - 1 - box.x0;
                    }
                    rois.push_back({box.y0, x0, box.y1, x1});
                }
            }
    // Skin line: a thin brighter rim.
    for (size_t i = 0; i < np; ++i)
        if (inside[i] && dist[i] < 3.0f) mu[i] += 0.10f * std::exp(-dist[i] * dist[i] / 1.5f);

    // 6. Detector: quantum noise (larger where fewer photons arrive), slight blur.
    eng::Generator gn(eng::random_word(seed, uint64_t(vw.image_index)));
    for (size_t i = 0; i < np; ++i)
        if (inside[i]) mu[i] += float(0.006 * std::exp(mu[i] * 1.2) * gn.normal());
    synth::blur(mu, W, H, 0.6f * float(size) / 512.0f);
    Image out(W, H);
    for (size_t i = 0; i < np; ++i) out.pixels[i] = present(mu[i]);
    synth::draw_clips(clips, out);  // metal: after blur, saturated
    if (vw.side == 'R')
        for (int y = 0; y < H; ++y) std::reverse(out.pixels.begin() + long(y) * W, out.pixels.begin() + long(y + 1) * W);
    if (info) {
        info->breast_fraction = double(n_breast) / double(np);
        info->dense_fraction = n_breast ? double(n_dense) / double(n_breast) : 0.0;
        info->rois = rois;
    }
    return out;
}

}  // namespace mama
