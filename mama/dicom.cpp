// dicom.cpp: the little-endian DICOM reader declared in dicom.h.
//
// Layout of a DICOM Part 10 file (PS3.10 §7): an optional 128-byte preamble and
// "DICM", the file meta group (0002,xxxx) always in explicit VR little endian,
// then the data set in the transfer syntax named by (0002,0010).  A data element
// is tag (group, element: two little-endian uint16), then
//   explicit VR: 2 VR letters, and either a uint16 length, or (for OB, OW, SQ,
//                UN, UT ... see kLongVRs) 2 reserved bytes and a uint32 length;
//   implicit VR: a uint32 length (the VR comes from the dictionary).
// Length 0xFFFFFFFF means "undefined": a sequence of Items (FFFE,E000) closed by
// a Sequence Delimitation (FFFE,E0DD); an Item of undefined length is a nested
// data set closed by an Item Delimitation (FFFE,E00D).  Item and delimiter tags
// never carry a VR.  UN with undefined length is encoded as implicit VR inside
// (PS3.5 §6.2.2).
#include "mama/dicom.h"

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>

#include "nn/read_file.h"

namespace mama {
namespace {

constexpr uint32_t kUndefined = 0xFFFFFFFFu;
constexpr int kMaxDepth = 64;  // nesting limit so hostile files cannot exhaust the stack

constexpr uint32_t tag_of(uint16_t g, uint16_t e) { return (uint32_t(g) << 16) | e; }
constexpr uint32_t kItem = tag_of(0xFFFE, 0xE000);
constexpr uint32_t kItemDelim = tag_of(0xFFFE, 0xE00D);
constexpr uint32_t kSeqDelim = tag_of(0xFFFE, 0xE0DD);
constexpr uint32_t kTransferSyntax = tag_of(0x0002, 0x0010);
constexpr uint32_t kPixelData = tag_of(0x7FE0, 0x0010);

std::string tag_str(uint32_t t) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "(%04X,%04X)", unsigned(t >> 16), unsigned(t & 0xFFFF));
    return buf;
}

// ---- transfer syntaxes -------------------------------------------------------
enum class TsKind { ExplicitLE, ImplicitLE, BigEndian, Deflated, Compressed, Video, Other };
struct TsInfo {
    const char* uid;
    const char* name;
    TsKind kind;
    const char* dcmtk;  // dcmtk tool that rewrites it uncompressed, or nullptr
};
const TsInfo kSyntaxes[] = {
    {"1.2.840.10008.1.2", "Implicit VR Little Endian", TsKind::ImplicitLE, nullptr},
    {"1.2.840.10008.1.2.1", "Explicit VR Little Endian", TsKind::ExplicitLE, nullptr},
    {"1.2.840.10008.1.2.1.98", "Encapsulated Uncompressed Explicit VR Little Endian", TsKind::Compressed, "dcmconv +te"},
    {"1.2.840.10008.1.2.1.99", "Deflated Explicit VR Little Endian", TsKind::Deflated, "dcmconv +te"},
    {"1.2.840.10008.1.2.2", "Explicit VR Big Endian (retired)", TsKind::BigEndian, "dcmconv +te"},
    {"1.2.840.10008.1.2.4.50", "JPEG Baseline (Process 1)", TsKind::Compressed, "dcmdjpeg"},
    {"1.2.840.10008.1.2.4.51", "JPEG Extended (Process 2 & 4)", TsKind::Compressed, "dcmdjpeg"},
    {"1.2.840.10008.1.2.4.57", "JPEG Lossless, Non-Hierarchical (Process 14)", TsKind::Compressed, "dcmdjpeg"},
    {"1.2.840.10008.1.2.4.70", "JPEG Lossless, Non-Hierarchical, First-Order Prediction (Process 14 [Selection Value 1])",
     TsKind::Compressed, "dcmdjpeg"},
    {"1.2.840.10008.1.2.4.80", "JPEG-LS Lossless Image Compression", TsKind::Compressed, "dcmdjpls"},
    {"1.2.840.10008.1.2.4.81", "JPEG-LS Lossy (Near-Lossless) Image Compression", TsKind::Compressed, "dcmdjpls"},
    {"1.2.840.10008.1.2.4.90", "JPEG 2000 Image Compression (Lossless Only)", TsKind::Compressed, nullptr},
    {"1.2.840.10008.1.2.4.91", "JPEG 2000 Image Compression", TsKind::Compressed, nullptr},
    {"1.2.840.10008.1.2.4.92", "JPEG 2000 Part 2 Multi-component Image Compression (Lossless Only)", TsKind::Compressed, nullptr},
    {"1.2.840.10008.1.2.4.93", "JPEG 2000 Part 2 Multi-component Image Compression", TsKind::Compressed, nullptr},
    {"1.2.840.10008.1.2.4.94", "JPIP Referenced", TsKind::Other, nullptr},
    {"1.2.840.10008.1.2.4.95", "JPIP Referenced Deflate", TsKind::Other, nullptr},
    {"1.2.840.10008.1.2.4.100", "MPEG2 Main Profile / Main Level", TsKind::Video, nullptr},
    {"1.2.840.10008.1.2.4.101", "MPEG2 Main Profile / High Level", TsKind::Video, nullptr},
    {"1.2.840.10008.1.2.4.102", "MPEG-4 AVC/H.264 High Profile / Level 4.1", TsKind::Video, nullptr},
    {"1.2.840.10008.1.2.4.103", "MPEG-4 AVC/H.264 BD-compatible High Profile / Level 4.1", TsKind::Video, nullptr},
    {"1.2.840.10008.1.2.4.104", "MPEG-4 AVC/H.264 High Profile / Level 4.2 For 2D Video", TsKind::Video, nullptr},
    {"1.2.840.10008.1.2.4.105", "MPEG-4 AVC/H.264 High Profile / Level 4.2 For 3D Video", TsKind::Video, nullptr},
    {"1.2.840.10008.1.2.4.106", "MPEG-4 AVC/H.264 Stereo High Profile / Level 4.2", TsKind::Video, nullptr},
    {"1.2.840.10008.1.2.4.107", "HEVC/H.265 Main Profile / Level 5.1", TsKind::Video, nullptr},
    {"1.2.840.10008.1.2.4.108", "HEVC/H.265 Main 10 Profile / Level 5.1", TsKind::Video, nullptr},
    {"1.2.840.10008.1.2.4.110", "JPEG XL Lossless", TsKind::Compressed, nullptr},
    {"1.2.840.10008.1.2.4.111", "JPEG XL JPEG Recompression", TsKind::Compressed, nullptr},
    {"1.2.840.10008.1.2.4.112", "JPEG XL", TsKind::Compressed, nullptr},
    {"1.2.840.10008.1.2.4.201", "High-Throughput JPEG 2000 Image Compression (Lossless Only)", TsKind::Compressed, nullptr},
    {"1.2.840.10008.1.2.4.202", "High-Throughput JPEG 2000 with RPCL Options Image Compression (Lossless Only)",
     TsKind::Compressed, nullptr},
    {"1.2.840.10008.1.2.4.203", "High-Throughput JPEG 2000 Image Compression", TsKind::Compressed, nullptr},
    {"1.2.840.10008.1.2.5", "RLE Lossless", TsKind::Compressed, "dcmdrle"},
};

const TsInfo* find_syntax(const std::string& uid) {
    for (const TsInfo& t : kSyntaxes)
        if (uid == t.uid) return &t;
    return nullptr;
}

// Throws DicomUnsupported for every syntax other than the two little-endian ones.
void reject_syntax(const std::string& name, const std::string& uid, const TsInfo* info) {
    const std::string q = "'" + name + "'";
    std::string label = info ? info->name : "unknown transfer syntax";
    std::string head = "DICOM file " + q + ": transfer syntax " + uid + " (" + label + ")";
    std::string hint = "HINT: rewrite it as uncompressed little endian first, e.g. ";
    if (info && info->dcmtk)
        hint += "`" + std::string(info->dcmtk) + " " + name + " out.dcm` (dcmtk) or ";
    hint += "`gdcmconv --raw " + name + " out.dcm` (GDCM), then convert out.dcm.";
    if (!info) {
        throw DicomUnsupported(head + " is not one this reader knows (it reads only the uncompressed "
                               "little-endian syntaxes 1.2.840.10008.1.2 and 1.2.840.10008.1.2.1). " + hint,
                               "unknown transfer syntax " + uid);
    }
    switch (info->kind) {
        case TsKind::Compressed:
            throw DicomUnsupported(head + " is compressed; this reader decodes only uncompressed pixel data. " + hint,
                                   std::string("compressed: ") + info->name);
        case TsKind::Deflated:
        case TsKind::BigEndian:
            throw DicomUnsupported(head + " is not supported (little-endian uncompressed only). " + hint,
                                   std::string("unsupported: ") + info->name);
        case TsKind::Video:
            throw DicomUnsupported(head + " is video, not a still image; it cannot be converted.",
                                   std::string("video: ") + info->name);
        default:
            throw DicomUnsupported(head + " carries no pixel data in the file; it cannot be converted.",
                                   std::string("unsupported: ") + info->name);
    }
}

// ---- value representations ---------------------------------------------------
bool is_upper(uint8_t c) { return c >= 'A' && c <= 'Z'; }

// The VRs whose explicit encoding has 2 reserved bytes and a 32-bit length (PS3.5 Table 7.1-1).
bool long_vr(const char* vr) {
    static const char* const kLong[] = {"OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR", "UT", "UV"};
    for (const char* v : kLong)
        if (vr[0] == v[0] && vr[1] == v[1]) return true;
    return false;
}
bool known_vr(const char* vr) {
    static const char* const kShort[] = {"AE", "AS", "AT", "CS", "DA", "DS", "DT", "FL", "FD", "IS", "LO", "LT",
                                         "PN", "SH", "SL", "SS", "ST", "TM", "UI", "UL", "US"};
    if (long_vr(vr)) return true;
    for (const char* v : kShort)
        if (vr[0] == v[0] && vr[1] == v[1]) return true;
    return false;
}

std::string trim(std::string s) {
    auto junk = [](char c) { return c == ' ' || c == '\0' || c == '\t' || c == '\r' || c == '\n'; };
    while (!s.empty() && junk(s.back())) s.pop_back();
    size_t i = 0;
    while (i < s.size() && junk(s[i])) ++i;
    return s.substr(i);
}

// DS/IS values: backslash-separated decimal strings. Unparsable or non-finite parts are dropped.
std::vector<double> numbers(const std::string& text) {
    std::vector<double> out;
    size_t start = 0;
    while (start <= text.size()) {
        size_t end = text.find('\\', start);
        if (end == std::string::npos) end = text.size();
        std::string part = trim(text.substr(start, end - start));
        if (!part.empty()) {
            char* stop = nullptr;
            double v = std::strtod(part.c_str(), &stop);
            if (stop && *stop == '\0' && std::isfinite(v)) out.push_back(v);
        }
        start = end + 1;
    }
    return out;
}

// ---- the parser --------------------------------------------------------------
struct Element {
    uint32_t tag = 0;
    char vr[3] = {0, 0, 0};  // "" for implicit VR and item/delimiter tags
    uint32_t length = 0;
    size_t header = 0;  // offset of the tag
    size_t value = 0;   // offset of the value
};

class Parser {
public:
    Parser(const uint8_t* data, size_t size, const std::string& name) : d_(data), n_(size), name_(name) {}

    [[noreturn]] void corrupt(size_t at, const std::string& what) const {
        ENG_FAIL("DICOM file '", name_, "' is corrupt or truncated: ", what, " (at byte ", at, " of ", n_,
                 "). HINT: check that the file was copied completely; `dcmdump ", name_,
                 "` (dcmtk) shows where it breaks.");
    }
    // The n bytes at pos must lie inside the file (written so that pos + n cannot overflow).
    void need(size_t pos, size_t n, const std::string& what) const {
        if (pos > n_ || n > n_ - pos)
            corrupt(pos, what + " needs " + std::to_string(n) + " bytes but only " +
                             std::to_string(pos > n_ ? 0 : n_ - pos) + " remain");
    }
    uint16_t u16(size_t p) const { return uint16_t(d_[p] | (d_[p + 1] << 8)); }
    uint32_t u32(size_t p) const { return uint32_t(u16(p)) | (uint32_t(u16(p + 2)) << 16); }
    size_t size() const { return n_; }
    const uint8_t* data() const { return d_; }

    // Reads one element header at pos and advances pos to its value.
    Element header(size_t& pos, bool explicit_vr) const {
        Element e;
        e.header = pos;
        need(pos, 8, "a data element header");
        e.tag = tag_of(u16(pos), u16(pos + 2));
        if (!explicit_vr || (e.tag >> 16) == 0xFFFE) {
            e.length = u32(pos + 4);
            pos += 8;
        } else {
            e.vr[0] = char(d_[pos + 4]);
            e.vr[1] = char(d_[pos + 5]);
            if (!is_upper(d_[pos + 4]) || !is_upper(d_[pos + 5]) || !known_vr(e.vr))
                corrupt(pos, "element " + tag_str(e.tag) + " has an invalid VR (bytes " +
                                 std::to_string(d_[pos + 4]) + ", " + std::to_string(d_[pos + 5]) + ")");
            if (long_vr(e.vr)) {
                need(pos, 12, "the header of element " + tag_str(e.tag));
                e.length = u32(pos + 8);
                pos += 12;
            } else {
                e.length = u16(pos + 6);
                pos += 8;
            }
        }
        e.value = pos;
        return e;
    }

    // Skips the value of e (pos is at the value); handles undefined lengths.
    void skip(const Element& e, size_t& pos, bool explicit_vr, int depth) const {
        if (e.length != kUndefined) {
            need(pos, e.length, "the value of element " + tag_str(e.tag));
            pos += e.length;
            return;
        }
        // Undefined length: a sequence (SQ, or any tag in implicit VR), UN holding an
        // implicit-VR sequence, or encapsulated fragments (OB/OW), all made of Items.
        bool inner_explicit = explicit_vr && !(e.vr[0] == 'U' && e.vr[1] == 'N');
        skip_items(pos, inner_explicit, depth + 1, e);
    }

private:
    void skip_items(size_t& pos, bool explicit_vr, int depth, const Element& owner) const {
        if (depth > kMaxDepth) corrupt(owner.header, "sequences nested deeper than " + std::to_string(kMaxDepth));
        const std::string where = " inside the sequence " + tag_str(owner.tag) + " that starts at byte " +
                                  std::to_string(owner.header);
        for (;;) {
            need(pos, 8, "an item header" + where);
            uint32_t t = tag_of(u16(pos), u16(pos + 2));
            uint32_t len = u32(pos + 4);
            if (t == kSeqDelim) {
                pos += 8;
                return;
            }
            if (t != kItem)
                corrupt(pos, "expected an Item (FFFE,E000) or Sequence Delimitation (FFFE,E0DD)" + where +
                                 ", found " + tag_str(t));
            pos += 8;
            if (len != kUndefined) {
                need(pos, len, "an item" + where);
                pos += len;
                continue;
            }
            // Item of undefined length: a nested data set up to the Item Delimitation.
            for (;;) {
                need(pos, 8, "an element header" + where);
                if (tag_of(u16(pos), u16(pos + 2)) == kItemDelim) {
                    pos += 8;
                    break;
                }
                Element inner = header(pos, explicit_vr);
                if (inner.tag == kItem || inner.tag == kSeqDelim)
                    corrupt(inner.header, "unexpected " + tag_str(inner.tag) + where);
                skip(inner, pos, explicit_vr, depth);
            }
        }
    }

    const uint8_t* d_;
    size_t n_;
    std::string name_;
};

std::string value_string(const Parser& p, const Element& e) {
    return trim(std::string(reinterpret_cast<const char*>(p.data() + e.value), e.length));
}

int value_us(const Parser& p, const Element& e) {
    if (e.length < 2) p.corrupt(e.header, "element " + tag_str(e.tag) + " (US) has length " + std::to_string(e.length));
    return p.u16(e.value);
}

// Stores the attributes this reader cares about (top level only).
void record(const Parser& p, const Element& e, DicomImage& img) {
    switch (e.tag) {
        case tag_of(0x0028, 0x0010): img.rows = value_us(p, e); break;
        case tag_of(0x0028, 0x0011): img.columns = value_us(p, e); break;
        case tag_of(0x0028, 0x0100): img.bits_allocated = value_us(p, e); break;
        case tag_of(0x0028, 0x0101): img.bits_stored = value_us(p, e); break;
        case tag_of(0x0028, 0x0102): img.high_bit = value_us(p, e); break;
        case tag_of(0x0028, 0x0103): img.pixel_representation = value_us(p, e); break;
        case tag_of(0x0028, 0x0002): img.samples_per_pixel = value_us(p, e); break;
        case tag_of(0x0028, 0x0004): img.photometric = value_string(p, e); break;
        case tag_of(0x0028, 0x0008): {
            auto v = numbers(value_string(p, e));
            if (!v.empty()) img.number_of_frames = v[0] < 0 ? 0 : v[0] > 1e9 ? 1000000000 : int(v[0]);
            break;
        }
        case tag_of(0x0028, 0x1052): {
            auto v = numbers(value_string(p, e));
            if (!v.empty()) img.rescale_intercept = v[0], img.has_rescale = true;
            break;
        }
        case tag_of(0x0028, 0x1053): {
            auto v = numbers(value_string(p, e));
            if (!v.empty()) img.rescale_slope = v[0], img.has_rescale = true;
            break;
        }
        case tag_of(0x0028, 0x1050): img.window_center = numbers(value_string(p, e)); break;
        case tag_of(0x0028, 0x1051): img.window_width = numbers(value_string(p, e)); break;
        case tag_of(0x0020, 0x0062): img.image_laterality = value_string(p, e); break;
        case tag_of(0x0018, 0x5101): img.view_position = value_string(p, e); break;
        case tag_of(0x0008, 0x0060): img.modality = value_string(p, e); break;
        default: break;
    }
}

[[noreturn]] void unsupported(const std::string& name, const std::string& what, const std::string& kind) {
    throw DicomUnsupported("DICOM file '" + name + "': " + what, kind);
}

// Checks the image attributes against the Pixel Data element and decodes frame 0.
void decode_pixels(const Parser& p, const Element& e, const DicomReadOptions& opt, DicomImage& img) {
    const std::string& name = img.path;
    if (e.length == kUndefined)
        p.corrupt(e.header, "Pixel Data is encapsulated (compressed fragments) although the transfer syntax is "
                            "uncompressed");
    p.need(e.value, e.length, "Pixel Data " + tag_str(e.tag));
    ENG_CHECK(img.rows > 0 && img.columns > 0, "DICOM file '", name, "': Rows (0028,0010) = ", img.rows,
              " and Columns (0028,0011) = ", img.columns, " must both be present and positive");
    if (img.bits_allocated != 8 && img.bits_allocated != 16)
        unsupported(name, "BitsAllocated " + std::to_string(img.bits_allocated) +
                              " is not supported (8 or 16 bits per sample only)",
                    "BitsAllocated " + std::to_string(img.bits_allocated));
    if (img.samples_per_pixel != 1 || (img.photometric != "MONOCHROME1" && img.photometric != "MONOCHROME2"))
        unsupported(name, "only grayscale images are supported (SamplesPerPixel 1, MONOCHROME1/2); this one has "
                          "SamplesPerPixel " + std::to_string(img.samples_per_pixel) +
                              " and PhotometricInterpretation '" + img.photometric + "'",
                    "not grayscale: '" + img.photometric + "'");
    if (img.bits_stored <= 0) img.bits_stored = img.bits_allocated;  // absent: the whole word
    if (img.high_bit < 0) img.high_bit = img.bits_stored - 1;
    ENG_CHECK(img.bits_stored <= img.bits_allocated, "DICOM file '", name, "': BitsStored ", img.bits_stored,
              " exceeds BitsAllocated ", img.bits_allocated);
    ENG_CHECK(img.pixel_representation == 0 || img.pixel_representation == 1, "DICOM file '", name,
              "': PixelRepresentation ", img.pixel_representation, " must be 0 (unsigned) or 1 (signed)");
    ENG_CHECK(img.number_of_frames >= 1, "DICOM file '", name, "': NumberOfFrames ", img.number_of_frames,
              " must be at least 1");

    const size_t count = size_t(img.rows) * size_t(img.columns);
    const size_t bytes = size_t(img.bits_allocated / 8);
    const size_t frame_bytes = count * bytes;
    ENG_CHECK(e.length / frame_bytes >= size_t(img.number_of_frames), "DICOM file '", name, "': Pixel Data holds ",
              e.length, " bytes but ", img.number_of_frames, " frame(s) of ", img.rows, "x", img.columns, "x",
              bytes, " bytes need ", frame_bytes * size_t(img.number_of_frames),
              ". HINT: the file is truncated or its Rows/Columns/BitsAllocated are wrong.");
    if (!opt.read_pixels) return;

    int low = 0;
    uint32_t mask = 0xFFFFFFFFu;
    if (opt.apply_bits_stored) {
        low = img.high_bit + 1 - img.bits_stored;
        ENG_CHECK(low >= 0 && img.high_bit < img.bits_allocated, "DICOM file '", name, "': HighBit ", img.high_bit,
                  " does not fit BitsStored ", img.bits_stored, " and BitsAllocated ", img.bits_allocated);
        mask = (1u << img.bits_stored) - 1u;
    }
    const bool is_signed = img.pixel_representation == 1;
    const int width = opt.apply_bits_stored ? img.bits_stored : img.bits_allocated;
    const uint8_t* src = p.data() + e.value;
    img.pixels.resize(count);
    for (size_t i = 0; i < count; ++i) {
        uint32_t raw = bytes == 1 ? src[i] : uint32_t(src[2 * i] | (src[2 * i + 1] << 8));
        raw = (raw >> low) & mask;
        int32_t v = int32_t(raw);
        if (is_signed && (raw >> (width - 1)) & 1u) v -= int32_t(1) << width;  // two's complement
        img.pixels[i] = float(v);
    }
}

}  // namespace

std::string transfer_syntax_name(const std::string& uid) {
    const TsInfo* t = find_syntax(uid);
    return t ? t->name : "";
}

DicomImage parse_dicom(const uint8_t* data, size_t size, const std::string& name, const DicomReadOptions& opt) {
    Parser p(data, size, name);
    DicomImage img;
    img.path = name;

    size_t pos = 0;
    if (size >= 132 && std::memcmp(data + 128, "DICM", 4) == 0) {
        img.has_preamble = true;
        pos = 132;
    }

    // File meta group: explicit VR little endian by definition.
    while (size - pos >= 8 && p.u16(pos) == 0x0002) {
        Element e = p.header(pos, true);
        ENG_CHECK(e.length != kUndefined, "DICOM file '", name, "': meta element ", tag_str(e.tag),
                  " has an undefined length (at byte ", e.header, ")");
        p.need(pos, e.length, "the value of meta element " + tag_str(e.tag));
        if (e.tag == kTransferSyntax) img.transfer_syntax = value_string(p, e);
        pos += e.length;
    }

    if (img.transfer_syntax.empty()) {
        // No meta group (or no (0002,0010)): guess little-endian explicit or implicit
        // from the first data element, as most readers do.
        if (size - pos < 8)
            ENG_FAIL("'", name, "' is not a DICOM file: ", size, " bytes, too short for a data set");
        uint16_t group = p.u16(pos);
        if (!img.has_preamble && group != 0x0008 && group != 0x0002) {
            if (group == 0x0800)
                unsupported(name, "it looks like big-endian DICOM without a meta header, which is not supported. "
                                  "HINT: `dcmconv +te " + name + " out.dcm` (dcmtk) rewrites it little endian.",
                            "unsupported: big endian without meta header");
            ENG_FAIL("'", name, "' is not a DICOM file: no 'DICM' marker at byte 128 and no DICOM data element "
                     "at byte 0. HINT: pass DICOM (.dcm) files only.");
        }
        const uint8_t* vr = data + pos + 4;
        char v[3] = {char(vr[0]), char(vr[1]), 0};
        img.explicit_vr = is_upper(vr[0]) && is_upper(vr[1]) && known_vr(v);
    } else {
        const TsInfo* ts = find_syntax(img.transfer_syntax);
        if (!ts || (ts->kind != TsKind::ExplicitLE && ts->kind != TsKind::ImplicitLE))
            reject_syntax(name, img.transfer_syntax, ts);
        img.explicit_vr = ts->kind == TsKind::ExplicitLE;
    }

    // Top-level data set up to Pixel Data.
    while (pos < size) {
        Element e = p.header(pos, img.explicit_vr);
        if (e.tag == kPixelData) {
            decode_pixels(p, e, opt, img);
            return img;
        }
        if ((e.tag >> 16) == 0xFFFE)
            p.corrupt(e.header, "unexpected " + tag_str(e.tag) + " outside a sequence");
        if (e.length != kUndefined) {
            p.need(pos, e.length, "the value of element " + tag_str(e.tag));
            record(p, e, img);
        }
        p.skip(e, pos, img.explicit_vr, 0);
    }
    unsupported(name, "it has no Pixel Data element (7FE0,0010), so it is not an image (a report, DICOMDIR "
                      "or presentation state?)",
                "no pixel data");
}

DicomImage read_dicom(const std::string& path, const DicomReadOptions& options) {
    const std::string file = eng::nn::read_whole_file(path, "DICOM");
    std::vector<uint8_t> bytes(file.begin(), file.end());
    return parse_dicom(bytes.data(), bytes.size(), path, options);
}

bool looks_like_dicom(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    char buf[132];
    if (!in.read(buf, sizeof buf)) return false;
    return std::memcmp(buf + 128, "DICM", 4) == 0;
}

}  // namespace mama
