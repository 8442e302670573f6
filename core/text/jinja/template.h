#pragma once
// A parsed Jinja template, rendered in transformers' environment: trim_blocks, lstrip_blocks,
// loop controls, raise_exception, strftime_now and its tojson, within Limits.
#include <memory>
#include <string>

#include "core/text/jinja/context.h"
#include "core/text/jinja/limits.h"

namespace hqq::jinja {

struct Node;

class Template {
 public:
  // Throws TemplateError naming `source_name`, with line and column.
  Template(std::string source, std::string source_name, Limits limits = {});
  ~Template();
  Template(Template&&) noexcept;
  Template& operator=(Template&&) noexcept;

  // `globals` must be a dict (or undefined). `clock` gives strftime_now's time (local time when
  // empty).
  std::string render(const Value& globals, const Clock& clock = {}) const;

  const Source& source() const { return *src_; }

 private:
  std::unique_ptr<Source> src_;  // stable address: nodes' errors point into it
  Limits limits_;
  std::unique_ptr<std::vector<std::unique_ptr<Node>>> body_;
};

}  // namespace hqq::jinja
