#include "guarded_stream.h"

#include <cstdio>
#include <algorithm>
#include <exception>
#include <span>

namespace speakup::server {
namespace {

// GObject boilerplate: an instance holds a pointer to its C++ part.
struct GuardedInputPrivate {
  GInputStream* base = nullptr;    // owned reference
  GIOStream* socket = nullptr;     // owned reference
  std::shared_ptr<GuardedInputState> state;
  bool closed = false;
};

struct SpeakupGuardedInput {
  GInputStream parent;
  GuardedInputPrivate* p;
};
struct SpeakupGuardedInputClass {
  GInputStreamClass parent_class;
};

GType speakup_guarded_input_get_type();
void speakup_guarded_input_pollable_init(GPollableInputStreamInterface* iface);

G_DEFINE_TYPE_WITH_CODE(SpeakupGuardedInput, speakup_guarded_input, G_TYPE_INPUT_STREAM,
                        G_IMPLEMENT_INTERFACE(G_TYPE_POLLABLE_INPUT_STREAM, speakup_guarded_input_pollable_init))

GuardedInputPrivate& Private(gpointer stream) { return *reinterpret_cast<SpeakupGuardedInput*>(stream)->p; }

void WouldBlock(GError** error) { g_set_error_literal(error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK, "no data passed the limits yet"); }

// Reads from the base and keeps only what the filter passes. `blocking`: the GInputStream read;
// otherwise the pollable one. Returns bytes, 0 at the end, -1 with `error` (WOULD_BLOCK included).
gssize Read(gpointer stream, void* buffer, gsize count, bool blocking, GCancellable* cancellable, GError** error) {
  GuardedInputPrivate& p = Private(stream);
  GuardedInputState& state = *p.state;
  // Dropping is bounded per call so that one fast sender cannot hold the main loop.
  for (size_t dropped = 0; dropped < 256 * 1024 || blocking;) {
    const GuardedInputMode mode = state.Effective();
    if (mode == GuardedInputMode::kEnd) return 0;
    if (mode == GuardedInputMode::kPause) break;
    const bool dropping = mode == GuardedInputMode::kDrop;
    uint8_t scratch[16 * 1024];
    void* into = dropping ? scratch : buffer;
    const gsize size = dropping ? sizeof(scratch) : count;
    const gssize read = blocking ? g_input_stream_read(p.base, into, size, cancellable, error)
                                 : g_pollable_input_stream_read_nonblocking(G_POLLABLE_INPUT_STREAM(p.base), into, size,
                                                                            cancellable, error);
    if (read <= 0) return read;  // the end, or an error (WOULD_BLOCK: libsoup polls again)
    if (dropping) {
      dropped += static_cast<size_t>(read);
      continue;  // until the client stops sending (WOULD_BLOCK) or goes
    }
    const ConnectionFilter::Phase before = state.filter.phase();
    const size_t passed = state.filter.Feed(std::span(static_cast<const uint8_t*>(buffer), static_cast<size_t>(read)));
    if (state.filter.phase() != before && state.on_phase) {
      try {
        state.on_phase(state.filter.phase());
      } catch (const std::exception& e) {
        std::fprintf(stderr, "speakup serve: connection guard: %s\n", e.what());
      }
    }
    if (passed > 0) return static_cast<gssize>(passed);
    dropped += static_cast<size_t>(read);  // nothing of this read may go on
  }
  WouldBlock(error);
  return -1;
}

// The source libsoup waits on while the stream reads nothing (paused): it fires only once the
// front door ends the connection, so that libsoup reads the end and closes.
struct EndSource {
  GSource source;
  std::shared_ptr<GuardedInputState>* state;
};

gboolean EndSourceReady(GSource* source, gint* timeout) {
  if (timeout) *timeout = -1;
  return (*reinterpret_cast<EndSource*>(source)->state)->Effective() == GuardedInputMode::kEnd;
}
gboolean EndSourceCheck(GSource* source) { return EndSourceReady(source, nullptr); }
gboolean EndSourceDispatch(GSource*, GSourceFunc, gpointer) { return G_SOURCE_CONTINUE; }
void EndSourceFinalize(GSource* source) { delete reinterpret_cast<EndSource*>(source)->state; }
GSourceFuncs end_source_funcs = {EndSourceReady, EndSourceCheck, EndSourceDispatch, EndSourceFinalize, nullptr, nullptr};

gssize ReadFn(GInputStream* stream, void* buffer, gsize count, GCancellable* cancellable, GError** error) {
  return Read(stream, buffer, count, true, cancellable, error);
}

gssize ReadNonblocking(GPollableInputStream* stream, void* buffer, gsize count, GError** error) {
  const gssize read = Read(stream, buffer, count, false, nullptr, error);
  if (read < 0 && error && !*error) WouldBlock(error);
  return read;
}

gboolean CanPoll(GPollableInputStream* stream) {
  return g_pollable_input_stream_can_poll(G_POLLABLE_INPUT_STREAM(Private(stream).base));
}

gboolean IsReadable(GPollableInputStream* stream) {
  switch (Private(stream).state->Effective()) {
    case GuardedInputMode::kEnd: return TRUE;
    case GuardedInputMode::kPause: return FALSE;
    default: return g_pollable_input_stream_is_readable(G_POLLABLE_INPUT_STREAM(Private(stream).base));
  }
}

GSource* CreateSource(GPollableInputStream* stream, GCancellable* cancellable) {
  GuardedInputPrivate& p = Private(stream);
  const GuardedInputMode mode = p.state->Effective();
  if (mode != GuardedInputMode::kPause && mode != GuardedInputMode::kEnd) {
    GSource* base = g_pollable_input_stream_create_source(G_POLLABLE_INPUT_STREAM(p.base), nullptr);
    GSource* source = g_pollable_source_new_full(stream, base, cancellable);
    g_source_unref(base);
    return source;
  }
  // g_pollable_source_new_full would give the child a dummy callback, which a plain GSource
  // cannot take; the end source needs none.
  GSource* source = g_pollable_source_new_full(stream, nullptr, cancellable);
  GSource* end = g_source_new(&end_source_funcs, sizeof(EndSource));
  reinterpret_cast<EndSource*>(end)->state = new std::shared_ptr<GuardedInputState>(p.state);
  g_source_add_child_source(source, end);
  g_source_unref(end);
  return source;
}

// Closes the TCP connection (never a TLS close_notify, which could wait on a client that does
// not read) and tells the front door, once.
gboolean CloseFn(GInputStream* stream, GCancellable*, GError**) {
  GuardedInputPrivate& p = Private(stream);
  if (p.closed) return TRUE;
  p.closed = true;
  g_io_stream_close(p.socket, nullptr, nullptr);
  if (p.state->on_closed) {
    try {
      p.state->on_closed();
    } catch (const std::exception& e) {
      std::fprintf(stderr, "speakup serve: connection guard: %s\n", e.what());
    }
  }
  return TRUE;
}

// libsoup closes asynchronously; GInputStream's default would run CloseFn on another thread,
// and the front door lives on the main loop. Closing a socket does not block: do it here.
void CloseAsync(GInputStream* stream, int, GCancellable* cancellable, GAsyncReadyCallback callback, gpointer data) {
  GTask* task = g_task_new(stream, cancellable, callback, data);
  CloseFn(stream, cancellable, nullptr);
  g_task_return_boolean(task, TRUE);
  g_object_unref(task);
}

gboolean CloseFinish(GInputStream*, GAsyncResult* result, GError** error) {
  return g_task_propagate_boolean(G_TASK(result), error);
}

void Finalize(GObject* object) {
  GuardedInputPrivate* p = reinterpret_cast<SpeakupGuardedInput*>(object)->p;
  g_clear_object(&p->base);
  g_clear_object(&p->socket);
  delete p;
  G_OBJECT_CLASS(speakup_guarded_input_parent_class)->finalize(object);
}

void speakup_guarded_input_class_init(SpeakupGuardedInputClass* klass) {
  G_OBJECT_CLASS(klass)->finalize = Finalize;
  GInputStreamClass* input = G_INPUT_STREAM_CLASS(klass);
  input->read_fn = ReadFn;
  input->close_fn = CloseFn;
  input->close_async = CloseAsync;
  input->close_finish = CloseFinish;
}

void speakup_guarded_input_pollable_init(GPollableInputStreamInterface* iface) {
  iface->can_poll = CanPoll;
  iface->is_readable = IsReadable;
  iface->create_source = CreateSource;
  iface->read_nonblocking = ReadNonblocking;
}

void speakup_guarded_input_init(SpeakupGuardedInput* self) { self->p = new GuardedInputPrivate; }

}  // namespace

GuardedInputMode GuardedInputState::Effective() const {
  GuardedInputMode verdict = GuardedInputMode::kFilter;
  switch (filter.phase()) {
    case ConnectionFilter::Phase::kRequest:
    case ConnectionFilter::Phase::kWebSocket:
      break;
    case ConnectionFilter::Phase::kResponse:
      verdict = GuardedInputMode::kPause;
      break;
    case ConnectionFilter::Phase::kRefused:
      verdict = filter.refusal().http_status ? GuardedInputMode::kDrop : GuardedInputMode::kPause;
      break;
  }
  return std::max(mode, verdict);
}

GInputStream* NewGuardedInput(GInputStream* base_input, GIOStream* socket_connection,
                              std::shared_ptr<GuardedInputState> state) {
  auto* stream = static_cast<SpeakupGuardedInput*>(g_object_new(speakup_guarded_input_get_type(), nullptr));
  stream->p->base = G_INPUT_STREAM(g_object_ref(base_input));
  stream->p->socket = G_IO_STREAM(g_object_ref(socket_connection));
  stream->p->state = std::move(state);
  return G_INPUT_STREAM(stream);
}

}  // namespace speakup::server
