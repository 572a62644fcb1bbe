// report_log.cpp: reads the training log (JSONL, one object per line) into
// numeric series against "step" for the report's training curves.
#include <fstream>
#include <sstream>
#include <unordered_map>

#include "mama/report.h"
#include "tensor/check.h"

namespace mama {

TrainingLog parse_training_log(const std::string& text) {
    TrainingLog log;
    std::unordered_map<std::string, size_t> index;  // key -> position in log.keys
    size_t start = 0;
    int64_t line_no = 0;
    while (start < text.size()) {
        size_t end = text.find('\n', start);
        if (end == std::string::npos) end = text.size();
        std::string line = text.substr(start, end - start);
        start = end + 1;
        ++line_no;
        if (!line.empty() && line.back() == '\r') line.pop_back();
        if (line.find_first_not_of(" \t") == std::string::npos) continue;  // blank
        ++log.lines;
        auto bad = [&] {
            ++log.bad_lines;
            if (log.bad_line_numbers.size() < 20) log.bad_line_numbers.push_back(line_no);
        };
        eng::json::Value v;
        try {
            v = eng::json::parse(line, "log line " + std::to_string(line_no));
        } catch (const eng::Error&) {
            bad();  // e.g. a line cut short when the run was killed
            continue;
        }
        const eng::json::Value* step = v.is_object() ? v.find("step") : nullptr;
        if (!step || !step->is_number()) {
            bad();
            continue;
        }
        double s = step->as_number();
        for (const auto& kv : v.as_object()) {
            if (kv.first == "step" || !kv.second.is_number()) continue;
            auto it = index.find(kv.first);
            if (it == index.end()) {
                it = index.emplace(kv.first, log.keys.size()).first;
                log.keys.push_back(kv.first);
                log.series.emplace_back();
            }
            log.series[it->second].emplace_back(s, kv.second.as_number());
        }
    }
    return log;
}

TrainingLog read_training_log(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    ENG_CHECK(in.is_open(), "cannot open the training log ", path,
              ". HINT: pass the log.jsonl written by build/pretrain, or leave the log path empty");
    std::ostringstream os;
    os << in.rdbuf();
    return parse_training_log(os.str());
}

}  // namespace mama
