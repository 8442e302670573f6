#pragma once
// UTF-8 and character-class helpers for the tokenizer.json tokenizer, with the semantics of the
// Rust library it must agree with: char::is_whitespace / is_alphanumeric / is_numeric (Unicode
// properties, read from ICU), String::from_utf8_lossy, and GPT-2's byte <-> unicode table.
#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace hqq::hf {

// Decodes the code point at s[i] (s must be valid UTF-8 there) and advances i past it.
char32_t next_code_point(std::string_view s, size_t& i);
// Length in bytes of the UTF-8 sequence that starts with lead byte b (1 for invalid leads).
inline size_t utf8_length(unsigned char b) {
  return b < 0x80 ? 1 : b < 0xE0 ? 2 : b < 0xF0 ? 3 : 4;
}
void append_utf8(std::string& out, char32_t c);

bool is_whitespace(char32_t c);    // Rust char::is_whitespace (White_Space)
bool is_alphanumeric(char32_t c);  // Rust char::is_alphanumeric (Alphabetic or N*)
bool is_numeric(char32_t c);       // Rust char::is_numeric (general category N*)

// Invalid sequences become U+FFFD, one per maximal invalid subpart (as Rust does).
std::string from_utf8_lossy(std::string_view bytes);
bool is_valid_utf8(std::string_view bytes);

// GPT-2's reversible map: every byte to a printable code point, stored as UTF-8.
struct ByteLevelAlphabet {
  std::array<std::string, 256> byte_to_char;
  // Inverse, indexed by code point (all of them are below 324); -1 where none.
  std::array<int16_t, 324> char_to_byte;
  ByteLevelAlphabet();
};
const ByteLevelAlphabet& byte_level_alphabet();

}  // namespace hqq::hf
