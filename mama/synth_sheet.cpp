// synth_sheet.cpp: the contact sheet of synthetic images, with a tiny bitmap
// font for the labels (side, view, density class, BI-RADS letter, codes).
#include "mama/synth_sheet.h"

#include <algorithm>
#include <cstdint>

namespace mama {
namespace synth {

namespace {

struct Glyph {
    char c;
    uint8_t rows[7];  // 5 bits per row, most significant bit on the left
};

const Glyph kFont[] = {
    {'A', {14, 17, 17, 31, 17, 17, 17}}, {'B', {30, 17, 17, 30, 17, 17, 30}}, {'C', {14, 17, 16, 16, 16, 17, 14}},
    {'D', {30, 17, 17, 17, 17, 17, 30}}, {'K', {17, 18, 20, 24, 20, 18, 17}}, {'L', {16, 16, 16, 16, 16, 16, 31}},
    {'M', {17, 27, 21, 21, 17, 17, 17}}, {'N', {17, 25, 21, 19, 17, 17, 17}}, {'O', {14, 17, 17, 17, 17, 17, 14}},
    {'P', {30, 17, 17, 30, 16, 16, 16}}, {'R', {30, 17, 17, 30, 20, 18, 17}}, {'S', {15, 16, 16, 14, 1, 1, 30}},
    {'E', {31, 16, 16, 30, 16, 16, 31}}, {'F', {31, 16, 16, 30, 16, 16, 16}}, {'G', {14, 17, 16, 23, 17, 17, 15}},
    {'H', {17, 17, 17, 31, 17, 17, 17}}, {'I', {14, 4, 4, 4, 4, 4, 14}},     {'J', {7, 2, 2, 2, 2, 18, 12}},
    {'Q', {14, 17, 17, 17, 21, 18, 13}}, {'T', {31, 4, 4, 4, 4, 4, 4}},       {'U', {17, 17, 17, 17, 17, 17, 14}},
    {'V', {17, 17, 17, 17, 17, 10, 4}},  {'X', {17, 17, 10, 4, 10, 17, 17}},  {'Y', {17, 17, 10, 4, 4, 4, 4}},
    {'0', {14, 17, 19, 21, 25, 17, 14}}, {'1', {4, 12, 4, 4, 4, 4, 14}},       {'2', {14, 17, 1, 2, 4, 8, 31}},
    {'3', {31, 2, 4, 2, 1, 17, 14}},     {'4', {2, 6, 10, 18, 31, 2, 2}},      {'5', {31, 16, 30, 1, 1, 17, 14}},
    {'6', {6, 8, 16, 30, 17, 17, 14}},   {'7', {31, 1, 2, 4, 8, 8, 8}},        {'8', {14, 17, 17, 14, 17, 17, 14}},
    {'9', {14, 17, 17, 15, 1, 2, 12}},
};

const Glyph* find_glyph(char c) {
    for (const Glyph& g : kFont)
        if (g.c == c) return &g;
    return nullptr;
}

}  // namespace

void draw_text(Image& img, int x, int y, const std::string& text, int scale, float value) {
    int pen = x;
    for (char c : text) {
        const Glyph* g = find_glyph(c);
        if (g)
            for (int r = 0; r < 7; ++r)
                for (int b = 0; b < 5; ++b)
                    if (g->rows[r] & (16 >> b))
                        for (int dy = 0; dy < scale; ++dy)
                            for (int dx = 0; dx < scale; ++dx) {
                                const int px = pen + b * scale + dx, py = y + r * scale + dy;
                                if (px >= 0 && py >= 0 && px < img.width && py < img.height) img.at(px, py) = value;
                            }
        pen += 6 * scale;
    }
}

void write_contact_sheet(const std::string& path, const std::vector<SheetTile>& tiles, int tile_height) {
    int rows = 0, cols = 0, tile_w = 1;
    for (const SheetTile& t : tiles) {
        rows = std::max(rows, t.row + 1);
        cols = std::max(cols, t.col + 1);
        if (t.image && !t.image->empty())
            tile_w = std::max(tile_w, int(double(t.image->width) * tile_height / t.image->height + 0.5));
    }
    const int gap = 4;
    Image sheet(cols * (tile_w + gap) + gap, rows * (tile_height + gap) + gap, 0.15f);
    for (const SheetTile& t : tiles) {
        if (!t.image || t.image->empty()) continue;
        const int w = std::max(1, int(double(t.image->width) * tile_height / t.image->height + 0.5));
        Image small = resize_area(*t.image, w, tile_height);
        const int ox = gap + t.col * (tile_w + gap), oy = gap + t.row * (tile_height + gap);
        for (int y = 0; y < small.height; ++y)
            for (int x = 0; x < small.width; ++x) sheet.at(ox + x, oy + y) = small.at(x, y);
        draw_text(sheet, ox + 3, oy + 3, t.label, 2, 1.0f);
    }
    save_png8(path, sheet);
}

}  // namespace synth
}  // namespace mama
