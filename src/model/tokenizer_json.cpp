// Field access for tokenizer.json with errors that say which file and field is wrong.
#include <nlohmann/json.hpp>

#include "common/error.h"
#include "model/tokenizer_pipeline.h"

namespace eco::model::tok {

namespace {

std::string kind(const json& j) {
  return j.type_name();
}

}  // namespace

void expect_object(const json& j, const std::string& where) {
  if (!j.is_object()) {
    fail("{}: expected a JSON object, found {}; the tokenizer file is malformed", where, kind(j));
  }
}

const json& field(const json& obj, std::string_view key, const std::string& where) {
  expect_object(obj, where);
  const auto it = obj.find(key);
  if (it == obj.end()) {
    fail(
        "{}: missing field \"{}\"; the tokenizer file is incomplete or not a Hugging Face "
        "tokenizer.json",
        where, key);
  }
  return *it;
}

std::string string_field(const json& obj, std::string_view key, const std::string& where) {
  const json& v = field(obj, key, where);
  if (!v.is_string()) {
    fail("{}.{}: expected a string, found {}", where, key, kind(v));
  }
  return v.get<std::string>();
}

std::string optional_string(const json& obj, std::string_view key, const std::string& where) {
  expect_object(obj, where);
  const auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return {};
  if (!it->is_string()) fail("{}.{}: expected a string or null, found {}", where, key, kind(*it));
  return it->get<std::string>();
}

bool bool_field(const json& obj, std::string_view key, bool fallback, const std::string& where) {
  expect_object(obj, where);
  const auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return fallback;
  if (!it->is_boolean()) fail("{}.{}: expected true or false, found {}", where, key, kind(*it));
  return it->get<bool>();
}

int64_t int_field(const json& obj, std::string_view key, const std::string& where) {
  const json& v = field(obj, key, where);
  if (!v.is_number_integer()) fail("{}.{}: expected an integer, found {}", where, key, kind(v));
  return v.get<int64_t>();
}

void unsupported(const std::string& where, const std::string& what, const std::string& type,
                 std::string_view supported) {
  fail(
      "{}: {} type \"{}\" is not supported by ecocompute (supported: {}); use a model whose "
      "tokenizer.json uses only those, or pass token ids instead of text",
      where, what, type, supported);
}

}  // namespace eco::model::tok
