// csv.h: a small RFC 4180 CSV reader and writer for the EMBED and RSNA tables.
//
// Reader: quoted fields (with embedded commas, doubled quotes, CR/LF newlines),
// a leading UTF-8 byte-order mark, CRLF / LF / lone-CR line ends and empty
// fields.  Blank lines are skipped (as pandas does).  Every row must have as
// many fields as the header.  Malformed input throws eng::Error naming the
// file, the line and the column (1-based; the column counts bytes).
//
// Missing values: the reader keeps every field as text.  is_na() tells whether
// a field is one of the strings pandas.read_csv turns into NaN by default
// ("", "NA", "NaN", "nan", "NULL", "None", "N/A", ...), which is how the
// reference sees missing cells.
//
// Writer: write_csv quotes a field only when it must (comma, quote, CR or LF;
// pandas' QUOTE_MINIMAL) and ends lines with "\n".
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace mama {

struct CsvTable {
    std::string source;                         // the file name used in messages
    std::vector<std::string> header;            // column names, verbatim
    std::vector<std::vector<std::string>> rows;  // rows[i][j]: row i, column j
    std::vector<int64_t> lines;                 // 1-based line where row i starts

    int64_t num_rows() const { return int64_t(rows.size()); }
    // Index of the first column with this exact name, or -1.
    int column(const std::string& name) const;
    bool has(const std::string& name) const { return column(name) >= 0; }
    // Index of a required column; throws eng::Error naming the column and file.
    int require(const std::string& name) const;
    // Field of row `row` in column `col` (checked).
    const std::string& cell(int64_t row, int col) const;
};

// Parses CSV text; `source` names the text in error messages.
CsvTable parse_csv(const std::string& text, const std::string& source);
// Reads and parses a file (errors name the path).
CsvTable read_csv(const std::string& path);

// Writes header + rows; every row must have header.size() fields.
void write_csv(const std::string& path, const std::vector<std::string>& header,
               const std::vector<std::vector<std::string>>& rows);
// The text of one field as write_csv writes it (quoted when needed).
std::string csv_field(const std::string& field);

// True for the strings pandas.read_csv reads as NaN by default.
bool is_na(const std::string& field);

}  // namespace mama
