#include "core/text/jinja/lexer.h"

#include <cctype>
#include <cstdint>
#include <cstring>

namespace hqq::jinja {

namespace {

const char* kSpaces = " \t\n\r\f\v";

std::string rstrip(const std::string& v, const char* chars) {
  size_t e = v.find_last_not_of(chars);
  return e == std::string::npos ? std::string() : v.substr(0, e + 1);
}

// Where the tag opened at `inner` closes: the first `close` outside string literals (a template
// may well print "}}" or "%}" inside a string).
size_t find_close(const std::string& s, size_t inner, const char* close, bool skip_strings) {
  for (size_t i = inner; i + 1 < s.size(); ++i) {
    char c = s[i];
    if (skip_strings && (c == '\'' || c == '"')) {
      for (++i; i < s.size() && s[i] != c; ++i)
        if (s[i] == '\\') ++i;
      continue;
    }
    if (c == close[0] && s[i + 1] == close[1]) return i;
  }
  return std::string::npos;
}

int hex_value(char ch) {
  if (ch >= '0' && ch <= '9') return ch - '0';
  if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
  if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
  return -1;
}

void append_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

}  // namespace

std::vector<Piece> split_pieces(const Source& src) {
  const std::string& s = src.text;
  std::vector<Piece> out;
  std::string text;
  bool strip_next = false, trim_next = false;
  size_t i = 0;
  auto flush_text = [&]() {
    if (!text.empty()) out.push_back({Piece::Text, std::move(text)});
    text.clear();
  };
  while (i < s.size()) {
    size_t open = s.find('{', i);
    while (open != std::string::npos && open + 1 < s.size() && s[open + 1] != '{' &&
           s[open + 1] != '%' && s[open + 1] != '#')
      open = s.find('{', open + 1);
    if (open != std::string::npos && open + 1 >= s.size()) open = std::string::npos;
    size_t chunk_end = open == std::string::npos ? s.size() : open;
    size_t b = i;
    if (strip_next) {
      while (b < chunk_end && std::strchr(kSpaces, s[b])) ++b;
    } else if (trim_next && b < chunk_end && s[b] == '\n') {
      ++b;  // trim_blocks: the newline after a block tag goes
    } else if (trim_next && b + 1 < chunk_end && s[b] == '\r' && s[b + 1] == '\n') {
      b += 2;
    }
    strip_next = trim_next = false;
    text.append(s, b, chunk_end - b);
    if (open == std::string::npos) break;
    char kind = s[open + 1];
    const char* close = kind == '{' ? "}}" : kind == '%' ? "%}" : "#}";
    size_t inner = open + 2;
    bool strip_before = inner < s.size() && s[inner] == '-';
    bool keep_lstrip = inner < s.size() && s[inner] == '+';
    if (strip_before || keep_lstrip) ++inner;
    size_t close_at = find_close(s, inner, close, kind != '#');
    if (close_at == std::string::npos)
      src.fail(open, std::string("unclosed tag, expected '") + close + "'");
    size_t inner_end = close_at;
    bool strip_after = inner_end > inner && s[inner_end - 1] == '-';
    bool keep_trim = inner_end > inner && s[inner_end - 1] == '+' && kind != '{';
    if (strip_after || keep_trim) --inner_end;
    if (strip_before) {
      text = rstrip(text, kSpaces);
    } else if (kind != '{' && !keep_lstrip) {
      // lstrip_blocks: a block tag preceded on its line by blanks only loses them.
      size_t k = open;
      while (k > 0 && (s[k - 1] == ' ' || s[k - 1] == '\t')) --k;
      if (k == 0 || s[k - 1] == '\n') text = rstrip(text, " \t");
    }
    flush_text();
    if (kind == '{') out.push_back({Piece::Output, {}, inner, inner_end});
    if (kind == '%') out.push_back({Piece::Statement, {}, inner, inner_end});
    strip_next = strip_after;
    trim_next = kind != '{' && !keep_trim;
    i = close_at + 2;
  }
  flush_text();
  return out;
}

std::vector<Token> lex_expression(const Source& src, size_t begin, size_t end) {
  static const char* kOps[] = {"==", "!=", "<=", ">=", "//", "**", "+", "-", "*",
                               "/",  "%",  "~",  "<",  ">",  "(",  ")", "[", "]",
                               "{",  "}",  ".",  ",",  ":",  "|",  "="};
  const std::string& s = src.text;
  std::vector<Token> out;
  size_t i = begin;
  auto is_digit = [&](size_t k) {
    return k < end && std::isdigit(static_cast<unsigned char>(s[k]));
  };
  while (i < end) {
    char c = s[i];
    if (std::isspace(static_cast<unsigned char>(c))) {
      ++i;
    } else if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
      size_t j = i;
      while (j < end && (std::isalnum(static_cast<unsigned char>(s[j])) || s[j] == '_')) ++j;
      out.push_back({Tok::Name, s.substr(i, j - i), i});
      i = j;
    } else if (is_digit(i)) {
      size_t j = i;
      bool is_float = false;
      while (is_digit(j) || (j < end && s[j] == '_')) ++j;
      if (j < end && s[j] == '.' && is_digit(j + 1)) {
        is_float = true;
        for (++j; is_digit(j) || (j < end && s[j] == '_');) ++j;
      }
      if (j < end && (s[j] == 'e' || s[j] == 'E')) {
        size_t k = j + 1;
        if (k < end && (s[k] == '+' || s[k] == '-')) ++k;
        if (is_digit(k)) {
          is_float = true;
          for (j = k; is_digit(j);) ++j;
        }
      }
      std::string digits;
      for (size_t k = i; k < j; ++k)
        if (s[k] != '_') digits += s[k];
      out.push_back({is_float ? Tok::Float : Tok::Int, digits, i});
      i = j;
    } else if (c == '\'' || c == '"') {
      std::string v;
      size_t j = i + 1;
      for (; j < end && s[j] != c; ++j) {
        if (s[j] != '\\' || j + 1 >= end) {
          v += s[j];
          continue;
        }
        char e = s[++j];
        size_t hex_digits = e == 'x' ? 2 : e == 'u' ? 4 : e == 'U' ? 8 : 0;
        if (hex_digits) {  // \xNN, \uNNNN, \UNNNNNNNN as Python reads them
          uint32_t cp = 0;
          for (size_t k = 1; k <= hex_digits; ++k) {
            int d = j + k < end ? hex_value(s[j + k]) : -1;
            if (d < 0) src.fail(j - 1, std::string("bad \\") + e + " escape");
            cp = cp * 16 + static_cast<uint32_t>(d);
          }
          if (cp > 0x10FFFF) src.fail(j - 1, "escape beyond Unicode");
          append_utf8(v, cp);
          j += hex_digits;
          continue;
        }
        switch (e) {
          case 'n':
            v += '\n';
            break;
          case 't':
            v += '\t';
            break;
          case 'r':
            v += '\r';
            break;
          case 'b':
            v += '\b';
            break;
          case 'f':
            v += '\f';
            break;
          case 'v':
            v += '\v';
            break;
          case 'a':
            v += '\a';
            break;
          case '0':
            v += '\0';
            break;
          case '\n':
            break;  // backslash-newline continues the string
          case '\\':
          case '\'':
          case '"':
            v += e;
            break;
          default:
            v += '\\', v += e;  // Python keeps unknown escapes as written
        }
      }
      if (j >= end) src.fail(i, "unterminated string literal");
      out.push_back({Tok::String, std::move(v), i});
      i = j + 1;
    } else {
      bool matched = false;
      for (const char* op : kOps) {
        size_t n = std::strlen(op);
        if (i + n <= end && s.compare(i, n, op) == 0) {
          out.push_back({Tok::Op, op, i});
          i += n;
          matched = true;
          break;
        }
      }
      if (!matched) src.fail(i, std::string("unexpected character '") + c + "'");
    }
  }
  out.push_back({Tok::End, "", end});
  return out;
}

}  // namespace hqq::jinja
