// Errors as values at library boundaries: Status (ok or a message) and Expected<T> (a value or a
// message). Messages are written for the user: what is wrong and, where possible, what to do.
#pragma once

#include <cassert>
#include <string>
#include <utility>
#include <variant>

namespace speakup {

struct Unexpected;

class Status {
 public:
  Status() = default;
  Status(const Unexpected& error);  // NOLINT: lets SPEAKUP_RETURN_IF_ERROR serve both return types
  static Status Ok() { return Status(); }
  static Status Error(std::string message) { return Status(std::move(message), true); }

  bool ok() const { return !failed_; }
  explicit operator bool() const { return ok(); }
  const std::string& message() const { return message_; }

 private:
  Status(std::string message, bool failed) : message_(std::move(message)), failed_(failed) {}
  std::string message_;
  bool failed_ = false;
};

// Marks a failed result; converts to any Expected<T>.
struct Unexpected {
  std::string message;
};
inline Unexpected Error(std::string message) { return Unexpected{std::move(message)}; }
inline Status::Status(const Unexpected& error) : message_(error.message), failed_(true) {}

template <typename T>
class Expected {
 public:
  Expected(T value) : state_(std::in_place_index<0>, std::move(value)) {}  // NOLINT: implicit by design
  Expected(Unexpected error) : state_(std::in_place_index<1>, std::move(error.message)) {}  // NOLINT
  Expected(const Status& status) : state_(std::in_place_index<1>, status.message()) {  // NOLINT
    assert(!status.ok());
  }

  bool ok() const { return state_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & { assert(ok()); return std::get<0>(state_); }
  const T& value() const& { assert(ok()); return std::get<0>(state_); }
  T&& value() && { assert(ok()); return std::get<0>(std::move(state_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

  const std::string& error() const { assert(!ok()); return std::get<1>(state_); }
  Status status() const { return ok() ? Status::Ok() : Status::Error(error()); }

 private:
  std::variant<T, std::string> state_;
};

}  // namespace speakup

// Returns early from a function returning Status or Expected<T> when `expr` (a Status) failed.
#define SPEAKUP_RETURN_IF_ERROR(expr)                                   \
  do {                                                                  \
    ::speakup::Status speakup_status_ = (expr);                         \
    if (!speakup_status_.ok()) return ::speakup::Error(speakup_status_.message()); \
  } while (0)
