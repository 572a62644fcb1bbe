// synth_sheet.h: a contact sheet (grid of downscaled images with a small text
// label each) so a person can look at a synthetic dataset at a glance.
#pragma once
#include <string>
#include <vector>

#include "mama/image.h"

namespace mama {
namespace synth {

struct SheetTile {
    const Image* image = nullptr;
    int row = 0, col = 0;
    std::string label;  // drawn with a 5x7 font: A-Z (subset), 0-9, space
};

// Tiles are scaled to `tile_height` (area resize) and laid out on a grid with
// a 4 px gap; the label sits in the tile's top-left corner.
void write_contact_sheet(const std::string& path, const std::vector<SheetTile>& tiles, int tile_height);

// Draws `text` at (x, y) with the built-in 5x7 font, `scale` pixels per dot.
void draw_text(Image& img, int x, int y, const std::string& text, int scale, float value);

}  // namespace synth
}  // namespace mama
