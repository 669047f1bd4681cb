// GLib signals connected to C++ callables: one trampoline for every signal instead of a hand-written
// C function per signal.
//
//   SignalConnection c = ConnectSignal<void(GstElement*, GstPad*)>(element, "pad-added",
//                                                                   [this](GstElement*, GstPad* pad) { Use(pad); });
//
// The signature names the signal's parameters without the trailing user-data pointer. The callable
// lives in a heap closure that GLib frees (destroy notify) when the handler is disconnected. No C++
// exception ever unwinds into GLib (C code; it would abort the process): what the callable throws
// is logged and dropped, and a non-void signal then returns a value-initialised result.
#pragma once

#include <glib-object.h>

#include <string>
#include <type_traits>
#include <utility>

namespace speakup::media {

// Logs the exception being handled, as thrown by `where`, and swallows it. Call only from a catch
// block: every C callback of the media layer ends in one.
void ReportEscapedException(const char* where) noexcept;

// One connected handler; disconnected by Disconnect() or on destruction. Holds a reference to the
// instance so the handler id stays valid until then.
class SignalConnection {
 public:
  SignalConnection() = default;
  SignalConnection(gpointer instance, gulong id);  // takes a new reference to `instance`
  ~SignalConnection() { Disconnect(); }
  SignalConnection(SignalConnection&& other) noexcept
      : instance_(std::exchange(other.instance_, nullptr)), id_(std::exchange(other.id_, 0)) {}
  SignalConnection& operator=(SignalConnection&& other) noexcept;
  SignalConnection(const SignalConnection&) = delete;
  SignalConnection& operator=(const SignalConnection&) = delete;

  void Disconnect();
  explicit operator bool() const { return id_ != 0; }

 private:
  GObject* instance_ = nullptr;
  gulong id_ = 0;
};

namespace gsignal_internal {

template <typename Signature, typename F>
struct Trampoline;

template <typename R, typename... Args, typename F>
struct Trampoline<R(Args...), F> {
  struct Closure {
    F callable;
    std::string where;  // for the log line when `callable` throws
  };

  static R Call(Args... args, gpointer data) {
    auto* closure = static_cast<Closure*>(data);
    try {
      return closure->callable(args...);
    } catch (...) {
      ReportEscapedException(closure->where.c_str());
    }
    if constexpr (!std::is_void_v<R>) return R{};
  }

  static void Destroy(gpointer data, GClosure*) { delete static_cast<Closure*>(data); }
};

}  // namespace gsignal_internal

// Connects `callable` to `signal` ("pad-added", "notify::ice-connection-state", ...) of `instance`.
// Returns an empty connection (GLib has logged a critical) when the instance has no such signal.
template <typename Signature, typename F>
[[nodiscard]] SignalConnection ConnectSignal(gpointer instance, const char* signal, F callable) {
  using Trampoline = gsignal_internal::Trampoline<Signature, F>;
  auto* closure = new typename Trampoline::Closure{std::move(callable), std::string("the handler of '") + signal + "'"};
  const gulong id = g_signal_connect_data(instance, signal, G_CALLBACK(&Trampoline::Call), closure,
                                          &Trampoline::Destroy, static_cast<GConnectFlags>(0));
  if (id == 0) {
    delete closure;  // GLib takes the closure only when it connects
    return {};
  }
  return SignalConnection(instance, id);
}

}  // namespace speakup::media
