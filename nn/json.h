// json.h: a small JSON reader and writer (namespace eng::json).
//
// Used for safetensors headers, model configs, run configs and tokenizer files.
// Parsing is strict RFC 8259 JSON: no comments, no trailing commas, no NaN.
// Errors throw eng::Error as "<source>:<line>:<col>: <what>" (line and column
// are 1-based; the column counts bytes).
//
// Decisions worth knowing:
// - Duplicate keys in one object are an ERROR when parsing (safetensors forbids
//   them, and silently dropping one is never what a config author meant).
//   Value::set() on an existing key replaces its value in place.
// - Objects keep their keys in file order (as_object()); find()/at() use a hash
//   index, so look-ups stay O(1) for tokenizer vocabularies of 50,000+ keys.
// - Numbers written without '.', 'e' or 'E' that fit in int64 are kept exactly
//   as integers (as_int() returns them bit-exact, even above 2^53); all others
//   are doubles.  as_int() on a double succeeds only if it is integral.
// - Strings are UTF-8; \uXXXX escapes (surrogate pairs included) become UTF-8;
//   invalid UTF-8 and raw control characters inside strings are rejected.
// - Nesting deeper than kMaxDepth (512) arrays/objects is rejected, so a
//   malicious file cannot overflow the stack.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

namespace eng::json {

enum class Kind { Null, Bool, Number, String, Array, Object };
const char* kind_name(Kind k);  // "null", "bool", "number", "string", "array", "object"

constexpr int kMaxDepth = 512;

class Value {
public:
    using Array = std::vector<Value>;
    using Object = std::vector<std::pair<std::string, Value>>;

    Value() = default;  // null
    Value(std::nullptr_t) {}
    Value(bool b) : kind_(Kind::Bool), bool_(b) {}
    Value(double d) : kind_(Kind::Number), num_(d) {}
    Value(float f) : Value(double(f)) {}
    // Any integer type (int, int64_t, size_t, ...); bool has its own overload.
    template <typename T, typename std::enable_if<std::is_integral<T>::value &&
                                                      !std::is_same<T, bool>::value, int>::type = 0>
    Value(T v) : kind_(Kind::Number) {
        if (std::is_signed<T>::value || uint64_t(v) <= uint64_t(INT64_MAX)) {
            is_int_ = true;
            int_ = int64_t(v);
            num_ = double(v);
        } else {
            num_ = double(v);  // unsigned above int64: kept as a double
        }
    }
    Value(const char* s) : kind_(Kind::String), str_(s) {}
    Value(std::string s) : kind_(Kind::String), str_(std::move(s)) {}
    Value(std::string_view s) : kind_(Kind::String), str_(s) {}

    static Value object();
    static Value array();

    Kind kind() const { return kind_; }
    bool is_null() const { return kind_ == Kind::Null; }
    bool is_bool() const { return kind_ == Kind::Bool; }
    bool is_number() const { return kind_ == Kind::Number; }
    bool is_string() const { return kind_ == Kind::String; }
    bool is_array() const { return kind_ == Kind::Array; }
    bool is_object() const { return kind_ == Kind::Object; }
    // True for numbers held exactly as int64 (written without '.', 'e', 'E').
    bool is_int() const { return kind_ == Kind::Number && is_int_; }

    // Typed access; each throws eng::Error naming the expected and actual kind.
    bool as_bool() const;
    double as_number() const;
    int64_t as_int() const;  // throws unless the number is integral and fits int64
    const std::string& as_string() const;
    const Array& as_array() const;
    const Object& as_object() const;

    // Objects: find() returns nullptr when the key is absent (or this is not an
    // object); at() throws an error naming the key.
    const Value* find(const std::string& key) const;
    const Value& at(const std::string& key) const;
    bool contains(const std::string& key) const { return find(key) != nullptr; }

    // Arrays and objects: number of elements / keys.  operator[] indexes an
    // array (bounds checked).
    size_t size() const;
    const Value& operator[](size_t i) const;

    // Builders.  set() makes a null value an object first; push_back() makes a
    // null value an array first.  Both throw on other kinds.
    Value& set(const std::string& key, Value v);
    Value& push_back(Value v);

    friend bool operator==(const Value& a, const Value& b);
    friend bool operator!=(const Value& a, const Value& b) { return !(a == b); }

private:
    void check_kind(Kind want) const;
    Kind kind_ = Kind::Null;
    bool bool_ = false;
    bool is_int_ = false;
    int64_t int_ = 0;
    double num_ = 0.0;
    std::string str_;
    Array arr_;
    Object obj_;
    std::unordered_map<std::string, size_t> index_;  // key -> position in obj_
    friend class Parser;
};

// Parses one JSON document (surrounding whitespace allowed, nothing else).
// `source` names the text in error messages (a file name, "<string>", ...).
Value parse(std::string_view text, const std::string& source = "<string>");
// Reads and parses a file; errors name the file.
Value parse_file(const std::string& path);

// Serialises.  indent < 0: compact, no whitespace at all (serde's form, which
// the safetensors byte vectors rely on).  indent >= 0: one element per line,
// `indent` spaces per level, ": " after keys.  Integral numbers print without
// a decimal point; other doubles print in the shortest form that reads back
// bit-exact.  NaN and infinities cannot be written (JSON has no syntax for
// them) and throw.
std::string dump(const Value& v, int indent = -1);

}  // namespace eng::json
