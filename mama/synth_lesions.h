// synth_lesions.h: the view geometry of a synthetic breast (breast coordinates
// <-> pixels, pectoral muscle) and the drawing of vessels and findings (masses,
// asymmetries, architectural distortion, calcifications, biopsy clips).
#pragma once
#include <cstdint>
#include <vector>

#include "mama/image.h"
#include "mama/synth.h"
#include "tensor/random.h"

namespace mama {
namespace synth {

// Left-aligned geometry (chest wall on x = 0). Breast frame: u along the axis
// from the chest wall towards the nipple, v across it (negative = up), the
// outline is the superellipse (u/a)^p + (|v|/b)^p = m(theta)^p with a
// low-frequency perturbation m and a nipple bump; the MLO frame is tilted and
// has a longer upper half-width (the axillary tail).
struct ViewGeometry {
    int W = 0, H = 0;
    bool mlo = false;
    float a = 1, b_up = 1, b_down = 1, y0 = 0, p = 2, tilt = 0;
    float edge_c[5] = {0}, edge_ph[5] = {0};
    float env_c = 0.4f, env_su = 0.3f, env_sv = 0.5f;
    float tex_ox = 0, tex_oy = 0;
    float pec_xtop = 0, pec_ybot = 0, pec_bulge = 0;
    float pix_mm = 0.5f;

    // Pixel -> breast frame (u, v) and normalised radius rho (<= 1 inside).
    void to_breast(float x, float y, float& u, float& v, float& rho) const;
    // Normalised breast position (dn = u/a, vn = v/b) -> pixel.
    void to_pixel(float dn, float vn, float& x, float& y) const;
    // Pixels between (x, y) and the pectoral edge, positive inside the muscle.
    float pectoral_depth(float x, float y) const;
    bool in_pectoral(float x, float y) const { return mlo && pectoral_depth(x, y) > 0; }
};

struct Box {
    int x0 = 1 << 30, y0 = 1 << 30, x1 = -1, y1 = -1;
    bool valid() const { return x1 >= x0 && y1 >= y0; }
    void add(int x, int y) {
        x0 = x < x0 ? x : x0;
        y0 = y < y0 ? y : y0;
        x1 = x > x1 ? x : x1;
        y1 = y > y1 ? y : y1;
    }
};

// A metallic biopsy marker, drawn after blur as a saturated polyline.
struct Clip {
    std::vector<float> xs, ys;  // polyline in pixels
    float width = 1;
};

// 3-7 vessels from the chest wall towards the nipple (adds to mu).
void draw_vessels(const ViewGeometry& g, eng::Generator& gen, const std::vector<uint8_t>& inside,
                  const std::vector<float>& T, std::vector<float>& mu);

// Draws one finding into mu (attenuation, thickness-weighted); a clip, if any,
// is appended to `clips`. Returns the box of the pixels it changed.
Box draw_finding(const ViewGeometry& g, const SynthFinding& f, const std::vector<uint8_t>& inside,
                 const std::vector<float>& T, const std::vector<float>& tex, std::vector<float>& mu,
                 std::vector<Clip>& clips);

void draw_clips(const std::vector<Clip>& clips, Image& img);

}  // namespace synth
}  // namespace mama
