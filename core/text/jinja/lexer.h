#pragma once
// First pass over a template: cut it into text and tags, applying the whitespace control that
// transformers configures (trim_blocks, lstrip_blocks) and the tags' own '-' markers; then the
// tokens inside one tag.
#include <string>
#include <vector>

#include "core/text/jinja/error.h"

namespace hqq::jinja {

struct Piece {
  enum Kind { Text, Output, Statement } kind;
  std::string text;           // literal text (Text only)
  size_t begin = 0, end = 0;  // the tag's inner source range (Output, Statement)
};

std::vector<Piece> split_pieces(const Source& src);

enum class Tok { Name, String, Int, Float, Op, End };

struct Token {
  Tok type;
  std::string text;  // names, operators, string values (unescaped), number digits
  size_t pos;        // offset in the template source
};

// Tokens of src.text[begin, end), ending with a Tok::End.
std::vector<Token> lex_expression(const Source& src, size_t begin, size_t end);

}  // namespace hqq::jinja
