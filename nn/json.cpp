// json.cpp: the JSON value type, a strict recursive-descent parser with
// line/column errors, and the compact / indented writer.
#include "nn/json.h"

#include <charconv>
#include <cmath>
#include <fstream>
#include <sstream>

#include "nn/read_file.h"
#include "nn/utf8.h"
#include "tensor/check.h"

namespace eng::json {

const char* kind_name(Kind k) {
    switch (k) {
        case Kind::Null: return "null";
        case Kind::Bool: return "bool";
        case Kind::Number: return "number";
        case Kind::String: return "string";
        case Kind::Array: return "array";
        case Kind::Object: return "object";
    }
    return "?";
}

// ---- Value ------------------------------------------------------------------

Value Value::object() {
    Value v;
    v.kind_ = Kind::Object;
    return v;
}
Value Value::array() {
    Value v;
    v.kind_ = Kind::Array;
    return v;
}

void Value::check_kind(Kind want) const {
    ENG_CHECK(kind_ == want, "json: expected a ", kind_name(want), ", got a ", kind_name(kind_));
}

bool Value::as_bool() const {
    check_kind(Kind::Bool);
    return bool_;
}
double Value::as_number() const {
    check_kind(Kind::Number);
    return is_int_ ? double(int_) : num_;
}
int64_t Value::as_int() const {
    check_kind(Kind::Number);
    if (is_int_) return int_;
    // 2^63 is exactly representable; anything >= it (or < -2^63) does not fit.
    ENG_CHECK(std::isfinite(num_) && num_ == std::floor(num_) && num_ >= -9223372036854775808.0 &&
                  num_ < 9223372036854775808.0,
              "json: expected an integer, got the number ", num_);
    return int64_t(num_);
}
const std::string& Value::as_string() const {
    check_kind(Kind::String);
    return str_;
}
const Value::Array& Value::as_array() const {
    check_kind(Kind::Array);
    return arr_;
}
const Value::Object& Value::as_object() const {
    check_kind(Kind::Object);
    return obj_;
}

const Value* Value::find(const std::string& key) const {
    if (kind_ != Kind::Object) return nullptr;
    auto it = index_.find(key);
    return it == index_.end() ? nullptr : &obj_[it->second].second;
}

const Value& Value::at(const std::string& key) const {
    ENG_CHECK(kind_ == Kind::Object, "json: cannot look up key '", key, "' in a ", kind_name(kind_),
              " (an object was expected)");
    const Value* v = find(key);
    if (!v) {
        std::string keys;
        for (size_t i = 0; i < obj_.size() && i < 8; ++i) keys += (i ? ", " : "") + obj_[i].first;
        if (obj_.size() > 8) keys += ", ...";
        ENG_FAIL("json: key '", key, "' not found (the object has ", obj_.size(), " keys: ", keys, ")");
    }
    return *v;
}

size_t Value::size() const {
    if (kind_ == Kind::Array) return arr_.size();
    if (kind_ == Kind::Object) return obj_.size();
    ENG_FAIL("json: size() needs an array or an object, got a ", kind_name(kind_));
}

const Value& Value::operator[](size_t i) const {
    check_kind(Kind::Array);
    ENG_CHECK(i < arr_.size(), "json: index ", i, " out of range for an array of ", arr_.size(), " elements");
    return arr_[i];
}

Value& Value::set(const std::string& key, Value v) {
    if (kind_ == Kind::Null) kind_ = Kind::Object;
    ENG_CHECK(kind_ == Kind::Object, "json: set('", key, "') needs an object, got a ", kind_name(kind_));
    auto it = index_.find(key);
    if (it != index_.end()) {
        obj_[it->second].second = std::move(v);
    } else {
        index_.emplace(key, obj_.size());
        obj_.emplace_back(key, std::move(v));
    }
    return *this;
}

Value& Value::push_back(Value v) {
    if (kind_ == Kind::Null) kind_ = Kind::Array;
    ENG_CHECK(kind_ == Kind::Array, "json: push_back needs an array, got a ", kind_name(kind_));
    arr_.push_back(std::move(v));
    return *this;
}

bool operator==(const Value& a, const Value& b) {
    if (a.kind_ != b.kind_) return false;
    switch (a.kind_) {
        case Kind::Null: return true;
        case Kind::Bool: return a.bool_ == b.bool_;
        case Kind::Number:
            if (a.is_int_ && b.is_int_) return a.int_ == b.int_;
            return a.as_number() == b.as_number();
        case Kind::String: return a.str_ == b.str_;
        case Kind::Array: return a.arr_ == b.arr_;
        case Kind::Object: return a.obj_ == b.obj_;  // order-sensitive: file order is kept
    }
    return false;
}

// ---- parser -----------------------------------------------------------------

class Parser {
public:
    Parser(std::string_view text, const std::string& source) : s_(text), source_(source) {}

    Value document() {
        skip_ws();
        Value v = value(0);
        skip_ws();
        if (pos_ < s_.size()) error("unexpected text after the JSON value");
        return v;
    }

private:
    [[noreturn]] void error(const std::string& what) { error_at(pos_, what); }
    [[noreturn]] void error_at(size_t at, const std::string& what) {
        // Line and column are computed only when failing, so parsing stays fast.
        size_t line = 1, col = 1;
        for (size_t i = 0; i < at && i < s_.size(); ++i) {
            if (s_[i] == '\n') {
                ++line;
                col = 1;
            } else {
                ++col;
            }
        }
        ENG_FAIL(source_, ":", line, ":", col, ": ", what);
    }
    std::string describe_here() const {
        if (pos_ >= s_.size()) return "end of text";
        unsigned char c = s_[pos_];
        if (c >= 0x20 && c < 0x7f) return std::string("'") + char(c) + "'";
        std::ostringstream os;
        os << "byte 0x" << std::hex << int(c);
        return os.str();
    }

    void skip_ws() {
        while (pos_ < s_.size() && (s_[pos_] == ' ' || s_[pos_] == '\t' || s_[pos_] == '\n' || s_[pos_] == '\r'))
            ++pos_;
    }

    Value value(int depth) {
        if (pos_ >= s_.size()) error("unexpected end of text, expected a value");
        char c = s_[pos_];
        switch (c) {
            case '{': return object(depth + 1);
            case '[': return array(depth + 1);
            case '"': return Value(string());
            case 't': literal("true"); return Value(true);
            case 'f': literal("false"); return Value(false);
            case 'n': literal("null"); return Value();
            default:
                if (c == '-' || (c >= '0' && c <= '9')) return number();
                error("unexpected " + describe_here() + ", expected a value");
        }
    }

    void literal(const char* word) {
        size_t n = std::char_traits<char>::length(word);
        if (s_.substr(pos_, n) != word) error(std::string("invalid literal, expected '") + word + "'");
        pos_ += n;
    }

    void check_depth(int depth) {
        if (depth > kMaxDepth) error("nesting deeper than " + std::to_string(kMaxDepth) + " levels");
    }

    Value object(int depth) {
        check_depth(depth);
        Value v = Value::object();
        ++pos_;  // '{'
        skip_ws();
        if (pos_ < s_.size() && s_[pos_] == '}') {
            ++pos_;
            return v;
        }
        for (;;) {
            skip_ws();
            if (pos_ >= s_.size() || s_[pos_] != '"')
                error("unexpected " + describe_here() + ", expected a string key");
            size_t key_pos = pos_;
            std::string key = string();
            skip_ws();
            if (pos_ >= s_.size() || s_[pos_] != ':') error("unexpected " + describe_here() + ", expected ':'");
            ++pos_;
            skip_ws();
            Value item = value(depth);
            if (v.index_.count(key)) error_at(key_pos, "duplicate key '" + key + "'");
            v.index_.emplace(key, v.obj_.size());
            v.obj_.emplace_back(std::move(key), std::move(item));
            skip_ws();
            if (pos_ < s_.size() && s_[pos_] == ',') {
                ++pos_;
                continue;
            }
            if (pos_ < s_.size() && s_[pos_] == '}') {
                ++pos_;
                return v;
            }
            error("unexpected " + describe_here() + ", expected ',' or '}'");
        }
    }

    Value array(int depth) {
        check_depth(depth);
        Value v = Value::array();
        ++pos_;  // '['
        skip_ws();
        if (pos_ < s_.size() && s_[pos_] == ']') {
            ++pos_;
            return v;
        }
        for (;;) {
            skip_ws();
            v.arr_.push_back(value(depth));
            skip_ws();
            if (pos_ < s_.size() && s_[pos_] == ',') {
                ++pos_;
                continue;
            }
            if (pos_ < s_.size() && s_[pos_] == ']') {
                ++pos_;
                return v;
            }
            error("unexpected " + describe_here() + ", expected ',' or ']'");
        }
    }

    // JSON number grammar: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
    Value number() {
        size_t start = pos_;
        auto digits = [&]() {
            size_t d0 = pos_;
            while (pos_ < s_.size() && s_[pos_] >= '0' && s_[pos_] <= '9') ++pos_;
            return pos_ - d0;
        };
        if (s_[pos_] == '-') ++pos_;
        if (pos_ < s_.size() && s_[pos_] == '0') {
            ++pos_;
            if (pos_ < s_.size() && s_[pos_] >= '0' && s_[pos_] <= '9')
                error("invalid number: leading zeros are not allowed");
        } else if (digits() == 0) {
            error("invalid number: expected a digit");
        }
        bool integral = true;
        if (pos_ < s_.size() && s_[pos_] == '.') {
            integral = false;
            ++pos_;
            if (digits() == 0) error("invalid number: expected a digit after '.'");
        }
        if (pos_ < s_.size() && (s_[pos_] == 'e' || s_[pos_] == 'E')) {
            integral = false;
            ++pos_;
            if (pos_ < s_.size() && (s_[pos_] == '+' || s_[pos_] == '-')) ++pos_;
            if (digits() == 0) error("invalid number: expected a digit in the exponent");
        }
        const char* b = s_.data() + start;
        const char* e = s_.data() + pos_;
        if (integral) {
            int64_t i = 0;
            auto r = std::from_chars(b, e, i);
            if (r.ec == std::errc() && r.ptr == e) return Value(i);
            // Too large for int64: fall through to a double.
        }
        double d = 0;
        auto r = std::from_chars(b, e, d);
        if (r.ec == std::errc::result_out_of_range) {
            // Overflow is an error (JSON has no infinity); underflow reads as 0.
            bool huge = false;
            for (const char* p = b; p < e; ++p)
                if (*p == 'e' || *p == 'E') huge = p[1] != '-';
            if (huge || integral) error_at(start, "number out of range: " + std::string(b, e));
            d = 0.0;
        } else if (r.ec != std::errc() || r.ptr != e) {
            error_at(start, "invalid number: " + std::string(b, e));
        }
        return Value(d);
    }

    unsigned hex4() {
        if (pos_ + 4 > s_.size()) error("unexpected end of text in a \\u escape");
        unsigned v = 0;
        for (int k = 0; k < 4; ++k) {
            char c = s_[pos_++];
            v <<= 4;
            if (c >= '0' && c <= '9') v |= unsigned(c - '0');
            else if (c >= 'a' && c <= 'f') v |= unsigned(c - 'a' + 10);
            else if (c >= 'A' && c <= 'F') v |= unsigned(c - 'A' + 10);
            else { --pos_; error("invalid hex digit in a \\u escape"); }
        }
        return v;
    }

    // Copies one UTF-8 encoded character starting at pos_, rejecting stray
    // bytes, truncated and overlong forms, surrogates and code points above
    // U+10FFFF (nn/utf8.h, the rule json::dump escapes by).
    void copy_utf8(std::string& out) {
        const size_t len = utf8_valid_length(s_.data() + pos_, s_.size() - pos_);
        if (len == 0) error("invalid UTF-8 sequence in a string");
        out.append(s_.data() + pos_, len);
        pos_ += len;
    }

    std::string string() {
        size_t open = pos_;
        ++pos_;  // opening quote
        std::string out;
        for (;;) {
            if (pos_ >= s_.size()) error_at(open, "unterminated string");
            unsigned char c = s_[pos_];
            if (c == '"') {
                ++pos_;
                return out;
            }
            if (c < 0x20) error("raw control character in a string (write it as an escape)");
            if (c >= 0x80) {
                copy_utf8(out);
                continue;
            }
            if (c != '\\') {
                // Copy the run of plain ASCII characters in one go.
                size_t run = pos_;
                while (run < s_.size() && s_[run] != '"' && s_[run] != '\\' &&
                       (unsigned char)s_[run] >= 0x20 && (unsigned char)s_[run] < 0x80)
                    ++run;
                out.append(s_.data() + pos_, run - pos_);
                pos_ = run;
                continue;
            }
            ++pos_;
            if (pos_ >= s_.size()) error_at(open, "unterminated string");
            char e = s_[pos_++];
            switch (e) {
                case '"': out += '"'; break;
                case '\\': out += '\\'; break;
                case '/': out += '/'; break;
                case 'b': out += '\b'; break;
                case 'f': out += '\f'; break;
                case 'n': out += '\n'; break;
                case 'r': out += '\r'; break;
                case 't': out += '\t'; break;
                case 'u': {
                    size_t esc = pos_ - 2;
                    unsigned cp = hex4();
                    if (cp >= 0xDC00 && cp <= 0xDFFF) error_at(esc, "lone low surrogate in a \\u escape");
                    if (cp >= 0xD800 && cp <= 0xDBFF) {
                        // A high surrogate must be followed by \uDC00..\uDFFF.
                        if (pos_ + 2 > s_.size() || s_[pos_] != '\\' || s_[pos_ + 1] != 'u')
                            error_at(esc, "high surrogate not followed by a low surrogate");
                        pos_ += 2;
                        unsigned lo = hex4();
                        if (lo < 0xDC00 || lo > 0xDFFF)
                            error_at(esc, "high surrogate not followed by a low surrogate");
                        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                    }
                    utf8_append(out, char32_t(cp));
                    break;
                }
                default:
                    --pos_;
                    error("invalid escape '\\" + std::string(1, e) + "' in a string");
            }
        }
    }

    std::string_view s_;
    const std::string& source_;
    size_t pos_ = 0;
};

Value parse(std::string_view text, const std::string& source) {
    return Parser(text, source).document();
}

Value parse_file(const std::string& path) { return parse(nn::read_whole_file(path, "json"), path); }

// ---- writer -----------------------------------------------------------------

namespace {

// Always valid JSON: a byte that is not part of valid UTF-8 (a Latin-1 file
// name, say) is written as the escape of the code point of that value,
// \u00XX, rather than copied, so the text reads back instead of failing to
// parse where it is read.  It reads back as another text (that character in
// UTF-8), so where the exact bytes matter they are refused earlier (config
// overrides, mama/config.cpp); metadata naming files keeps this readable form.
void dump_string(std::string& out, const std::string& s) {
    static const char* hex = "0123456789abcdef";
    out += '"';
    for (size_t i = 0; i < s.size(); ++i) {
        const unsigned char c = static_cast<unsigned char>(s[i]);
        if (c >= 0x80) {
            const size_t len = utf8_valid_length(s.data() + i, s.size() - i);
            if (len > 0) {
                out.append(s, i, len);  // valid UTF-8 passes through unchanged
                i += len - 1;
            } else {
                out += "\\u00";
                out += hex[c >> 4];
                out += hex[c & 15];
            }
            continue;
        }
        switch (c) {
            case '"': out += "\\\""; break;
            case '\\': out += "\\\\"; break;
            case '\b': out += "\\b"; break;
            case '\f': out += "\\f"; break;
            case '\n': out += "\\n"; break;
            case '\r': out += "\\r"; break;
            case '\t': out += "\\t"; break;
            default:
                if (c < 0x20) {
                    out += "\\u00";
                    out += hex[c >> 4];
                    out += hex[c & 15];
                } else {
                    out += char(c);
                }
        }
    }
    out += '"';
}

void dump_number(std::string& out, const Value& v) {
    char buf[64];
    std::to_chars_result r;
    if (v.is_int()) {
        r = std::to_chars(buf, buf + sizeof buf, v.as_int());
    } else {
        double d = v.as_number();
        ENG_CHECK(std::isfinite(d), "json: cannot write ", d, " (JSON has no NaN or infinity)");
        // Shortest form that reads back bit-exact; integral values come out
        // without a decimal point ("3", "1e+20").
        r = std::to_chars(buf, buf + sizeof buf, d);
    }
    out.append(buf, r.ptr);
}

void newline(std::string& out, int indent, int level) {
    if (indent < 0) return;
    out += '\n';
    out.append(size_t(indent) * size_t(level), ' ');
}

void dump_value(std::string& out, const Value& v, int indent, int level) {
    switch (v.kind()) {
        case Kind::Null: out += "null"; break;
        case Kind::Bool: out += v.as_bool() ? "true" : "false"; break;
        case Kind::Number: dump_number(out, v); break;
        case Kind::String: dump_string(out, v.as_string()); break;
        case Kind::Array: {
            const auto& a = v.as_array();
            out += '[';
            for (size_t i = 0; i < a.size(); ++i) {
                if (i) out += ',';
                newline(out, indent, level + 1);
                dump_value(out, a[i], indent, level + 1);
            }
            if (!a.empty()) newline(out, indent, level);
            out += ']';
            break;
        }
        case Kind::Object: {
            const auto& o = v.as_object();
            out += '{';
            for (size_t i = 0; i < o.size(); ++i) {
                if (i) out += ',';
                newline(out, indent, level + 1);
                dump_string(out, o[i].first);
                out += indent < 0 ? ":" : ": ";
                dump_value(out, o[i].second, indent, level + 1);
            }
            if (!o.empty()) newline(out, indent, level);
            out += '}';
            break;
        }
    }
}

}  // namespace

std::string dump(const Value& v, int indent) {
    std::string out;
    dump_value(out, v, indent, 0);
    return out;
}

}  // namespace eng::json
