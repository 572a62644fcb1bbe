// embed.cpp: build/embed, normalised image and/or text embeddings of a trained
// MaMA run written to safetensors (mama/evaluate.h, run_embed).
//
//   build/embed --checkpoint RUN/last.safetensors --images a.png b.png --out E.safetensors
//   build/embed --checkpoint RUN/last.safetensors --images list.txt --texts texts.txt --out E.safetensors
#include <iostream>
#include <string>

#include "mama/evaluate.h"
#include "tools/cli_args.h"

// Help (msg null) goes to stdout with status 0; a usage error to stderr with 2.
static int usage(const char* msg) {
    if (msg) std::cerr << "error: " << msg << "\n";
    (msg ? std::cerr : std::cout) <<
        "usage: build/embed --checkpoint CKPT [--config C] [--images FILE_OR_LIST ...] [--texts FILE] --out E.safetensors\n"
        "  --images   image files, or .txt/.lst files with one image path per line (eval transform)\n"
        "  --texts    one text per line; '.' and ';' become separators and bos/eos are added unless --raw-text\n"
        "             or the line already starts with <|startoftext|>\n"
        "  [--pooling first_pad|mean] text pooling (first_pad: as zero-shot, the default; mean: as training)\n"
        "  [--batch 16] [--quiet] [--device cpu|cuda] [--precision auto|fp32|tf32|bf16|bf16-true]\n"
        "Writes image_embeddings [N, E] and text_embeddings [M, E] (rows of norm 1); the metadata keys images and\n"
        "texts list the inputs in row order.\n";
    return msg ? 2 : 0;
}

int main(int argc, char** argv) {
    mama::EmbedToolOptions o;
    bool in_images = false;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        auto value = [&]() -> std::string {
            if (i + 1 >= argc) throw std::runtime_error("missing value after " + a);
            return argv[++i];
        };
        try {
            if (a == "-h") return usage(nullptr);
            if (a.rfind("--", 0) != 0) {
                if (!in_images) return usage(("unexpected argument " + a).c_str());
                o.images.push_back(a);
                continue;
            }
            in_images = false;
            if (a == "--checkpoint") o.checkpoint = value();
            else if (a == "--config") o.config = value();
            else if (a == "--images") o.images.push_back(value()), in_images = true;
            else if (a == "--texts") o.texts_file = value();
            else if (a == "--out") o.out = value();
            else if (a == "--pooling") o.pooling = value();
            else if (a == "--raw-text") o.raw_text = true;
            else if (a == "--batch") o.batch = cli::parse_int(a, value(), 1, 65536);  // images per forward
            else if (a == "--device") o.device = value();
            else if (a == "--precision") o.precision = value();
            else if (a == "--quiet") o.progress = false;
            else if (a == "--help") return usage(nullptr);
            else return usage(("unknown argument " + a).c_str());
        } catch (const std::exception& e) {
            return usage(e.what());
        }
    }
    if (o.checkpoint.empty()) return usage("--checkpoint is required");
    if (o.out.empty()) return usage("--out is required");
    if (o.images.empty() && o.texts_file.empty()) return usage("give --images and/or --texts");
    try {
        mama::run_embed(o);
        return 0;
    } catch (const std::exception& e) {
        std::cerr << "\nerror: " << cli::exception_text(e) << "\n";
        return 1;
    }
}
