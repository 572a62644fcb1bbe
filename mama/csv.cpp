// csv.cpp: the RFC 4180 CSV reader and writer (see csv.h).
#include "mama/csv.h"

#include <fstream>
#include <sstream>

#include "nn/read_file.h"
#include "tensor/check.h"

namespace mama {

// ---------------------------------------------------------------------------
// table access

int CsvTable::column(const std::string& name) const {
    for (size_t j = 0; j < header.size(); ++j)
        if (header[j] == name) return int(j);
    return -1;
}

int CsvTable::require(const std::string& name) const {
    int j = column(name);
    if (j < 0) {
        std::string have;
        for (size_t k = 0; k < header.size() && k < 12; ++k) have += (k ? ", " : "") + header[k];
        if (header.size() > 12) have += ", ...";
        ENG_FAIL(source, ": required column '", name, "' is missing (the header has: ", have,
                 "). HINT: check that this is the right table and that its header line is intact");
    }
    return j;
}

const std::string& CsvTable::cell(int64_t row, int col) const {
    ENG_CHECK(row >= 0 && row < num_rows() && col >= 0 && size_t(col) < header.size(), source,
              ": cell (", row, ", ", col, ") is outside the table of ", num_rows(), " rows x ",
              header.size(), " columns");
    return rows[size_t(row)][size_t(col)];
}

// ---------------------------------------------------------------------------
// reader: a byte-level state machine.  `line` and `col` always describe the
// position of text[i]; they advance through consume().

namespace {

struct Parser {
    const std::string& text;
    const std::string& source;
    size_t i = 0;
    int64_t line = 1, col = 1;

    Parser(const std::string& t, const std::string& s) : text(t), source(s) {}

    bool at_end() const { return i >= text.size(); }
    char peek() const { return text[i]; }
    // Advances over one byte, or over a whole CRLF pair, keeping line/col right.
    void consume() {
        char c = text[i++];
        if (c == '\r' && i < text.size() && text[i] == '\n') ++i;
        if (c == '\r' || c == '\n') {
            ++line;
            col = 1;
        } else {
            ++col;
        }
    }
    static std::string show(char c) {
        if (c == '"') return "'\"'";
        if (static_cast<unsigned char>(c) < 32 || static_cast<unsigned char>(c) >= 127) {
            std::ostringstream os;
            os << "byte 0x" << std::hex << int(static_cast<unsigned char>(c));
            return os.str();
        }
        return std::string("'") + c + "'";
    }

    // Reads one record into `fields`.  Returns false at the end of the text.
    // `start_line` receives the line where the record begins.
    bool record(std::vector<std::string>& fields, int64_t& start_line, std::vector<int64_t>& starts) {
        fields.clear();
        starts.clear();
        if (at_end()) return false;
        start_line = line;
        while (true) {
            std::string field;
            starts.push_back(col);
            if (!at_end() && peek() == '"') {
                int64_t qline = line, qcol = col;
                consume();
                while (true) {
                    ENG_CHECK(!at_end(), source, ":", qline, ":", qcol,
                              ": quoted field is never closed (end of file inside quotes), line ", qline,
                              " column ", qcol, ". HINT: a field that starts with '\"' must end with '\"'; "
                              "a quote inside it is written as two quotes");
                    char c = peek();
                    if (c == '"') {
                        if (i + 1 < text.size() && text[i + 1] == '"') {
                            field += '"';
                            consume();
                            consume();
                            continue;
                        }
                        consume();  // closing quote
                        break;
                    }
                    // Newlines inside quotes are kept verbatim (CRLF stays CRLF).
                    if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') field += '\r', field += '\n';
                    else field += c;
                    consume();
                }
                if (!at_end()) {
                    char c = peek();
                    ENG_CHECK(c == ',' || c == '\n' || c == '\r', source, ":", line, ":", col,
                              ": unexpected ", show(c), " after the closing quote of a quoted field, line ",
                              line, " column ", col,
                              ". HINT: a quote inside a quoted field must be doubled (\"\")");
                }
            } else {
                while (!at_end()) {
                    char c = peek();
                    if (c == ',' || c == '\n' || c == '\r') break;
                    ENG_CHECK(c != '"', source, ":", line, ":", col,
                              ": unexpected '\"' inside an unquoted field, line ", line, " column ", col,
                              ". HINT: a field containing quotes must be enclosed in quotes, with each "
                              "quote doubled");
                    field += c;
                    consume();
                }
            }
            fields.push_back(std::move(field));
            if (at_end()) return true;
            char c = peek();
            consume();
            if (c == ',') continue;
            return true;  // '\n', '\r' or CRLF
        }
    }
};

}  // namespace

CsvTable parse_csv(const std::string& text, const std::string& source) {
    CsvTable table;
    table.source = source;
    Parser p(text, source);
    // A UTF-8 byte-order mark (EF BB BF) before the header is not part of the first name.
    if (text.size() >= 3 && (unsigned char)text[0] == 0xEF && (unsigned char)text[1] == 0xBB &&
        (unsigned char)text[2] == 0xBF)
        p.i = 3;

    std::vector<std::string> fields;
    std::vector<int64_t> starts;
    int64_t start_line = 0;
    // Header: the first non-blank record.
    bool got = false;
    while ((got = p.record(fields, start_line, starts))) {
        if (!(fields.size() == 1 && fields[0].empty())) break;
    }
    ENG_CHECK(got, source, ": the table is empty (no header line). HINT: the file must start with a "
                           "header line of column names");
    table.header = fields;
    const size_t width = table.header.size();

    while (true) {
        size_t record_begin = p.i;
        if (!p.record(fields, start_line, starts)) break;
        // A blank line reads as one empty unquoted field: skip it (pandas skip_blank_lines).
        if (fields.size() == 1 && fields[0].empty() && text[record_begin] != '"') continue;
        if (fields.size() != width) {
            int64_t bad_col = fields.size() > width ? starts[width] : starts.back() + int64_t(fields.back().size());
            ENG_FAIL(source, ":", start_line, ":", bad_col, ": row has ", fields.size(),
                     " fields but the header has ", width, " (line ", start_line, " column ", bad_col,
                     "). HINT: quote fields that contain commas or newlines");
        }
        table.rows.push_back(fields);
        table.lines.push_back(start_line);
    }
    return table;
}

CsvTable read_csv(const std::string& path) { return parse_csv(eng::nn::read_whole_file(path, "read_csv"), path); }

// ---------------------------------------------------------------------------
// writer

std::string csv_field(const std::string& field) {
    if (field.find_first_of(",\"\r\n") == std::string::npos) return field;
    std::string out = "\"";
    for (char c : field) {
        if (c == '"') out += '"';
        out += c;
    }
    out += '"';
    return out;
}

void write_csv(const std::string& path, const std::vector<std::string>& header,
               const std::vector<std::vector<std::string>>& rows) {
    ENG_CHECK(!header.empty(), "write_csv: '", path, "': the header is empty");
    for (size_t r = 0; r < rows.size(); ++r)
        ENG_CHECK(rows[r].size() == header.size(), "write_csv: '", path, "': row ", r, " has ",
                  rows[r].size(), " fields but the header has ", header.size());
    std::ofstream out(path, std::ios::binary);
    ENG_CHECK(out.good(), "write_csv: cannot create '", path,
              "'. HINT: check that the folder exists and is writable");
    auto put = [&](const std::vector<std::string>& fields) {
        // A single empty field would read back as a blank line: quote it.
        if (fields.size() == 1 && fields[0].empty()) {
            out << "\"\"\n";
            return;
        }
        for (size_t j = 0; j < fields.size(); ++j) out << (j ? "," : "") << csv_field(fields[j]);
        out << '\n';
    };
    put(header);
    for (const auto& row : rows) put(row);
    out.flush();
    ENG_CHECK(out.good(), "write_csv: error while writing '", path, "' (disk full?)");
}

// ---------------------------------------------------------------------------

bool is_na(const std::string& f) {
    // pandas' default na_values (pandas 2.x, io/parsers: STR_NA_VALUES).
    static const char* const kNa[] = {"",     "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN",
                                      "-nan", "1.#IND", "1.#QNAN", "<NA>", "N/A",   "NA",       "NULL",
                                      "NaN",  "None", "n/a",    "nan",  "null"};
    if (f.size() > 8) return false;
    for (const char* s : kNa)
        if (f == s) return true;
    return false;
}

}  // namespace mama
