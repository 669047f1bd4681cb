#include "gsignal.h"

#include <cstdio>
#include <exception>

namespace speakup::media {

void ReportEscapedException(const char* where) noexcept {
  try {
    throw;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "speakup: %s threw: %s (ignored)\n", where, e.what());
  } catch (...) {
    std::fprintf(stderr, "speakup: %s threw an unknown exception (ignored)\n", where);
  }
}

SignalConnection::SignalConnection(gpointer instance, gulong id)
    : instance_(G_OBJECT(g_object_ref(instance))), id_(id) {}

SignalConnection& SignalConnection::operator=(SignalConnection&& other) noexcept {
  if (this != &other) {
    Disconnect();
    instance_ = std::exchange(other.instance_, nullptr);
    id_ = std::exchange(other.id_, 0);
  }
  return *this;
}

void SignalConnection::Disconnect() {
  if (instance_ && id_ != 0) g_signal_handler_disconnect(instance_, id_);
  if (instance_) g_object_unref(instance_);
  instance_ = nullptr;
  id_ = 0;
}

}  // namespace speakup::media
