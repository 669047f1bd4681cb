// RAII owners for every GStreamer and GLib C handle the media layer touches, all in one place.
// Each alias owns exactly one reference (or one allocation) and releases it on destruction.
//
// Floating references: gst_element_factory_make() returns a floating reference. MakeElement()
// sinks it, so an ElementPtr always owns a real reference; gst_bin_add() then takes its own.
#pragma once

#include <glib.h>
#include <gst/gst.h>

#include <memory>
#include <string>

#include "speakup/status.h"

namespace speakup::media {

// Initialises GStreamer once per process (std::call_once). Later calls return the first result.
Status EnsureGstInitialized();

struct GstObjectUnref {
  void operator()(gpointer object) const {
    if (object) gst_object_unref(object);
  }
};
template <typename T>
using GstObjectPtr = std::unique_ptr<T, GstObjectUnref>;
using ElementPtr = GstObjectPtr<GstElement>;
using BusPtr = GstObjectPtr<GstBus>;
using PadPtr = GstObjectPtr<GstPad>;

// A top-level pipeline: brought down to the NULL state (stopping its streaming threads) before
// its reference is dropped, so no callback runs after the owner is gone.
struct PipelineDeleter {
  void operator()(GstElement* pipeline) const {
    if (!pipeline) return;
    gst_element_set_state(pipeline, GST_STATE_NULL);
    gst_object_unref(pipeline);
  }
};
using PipelinePtr = std::unique_ptr<GstElement, PipelineDeleter>;

struct GstSampleUnref {
  void operator()(GstSample* sample) const {
    if (sample) gst_sample_unref(sample);
  }
};
using SamplePtr = std::unique_ptr<GstSample, GstSampleUnref>;

struct GstCapsUnref {
  void operator()(GstCaps* caps) const {
    if (caps) gst_caps_unref(caps);
  }
};
using CapsPtr = std::unique_ptr<GstCaps, GstCapsUnref>;

struct GstMessageUnref {
  void operator()(GstMessage* message) const {
    if (message) gst_message_unref(message);
  }
};
using MessagePtr = std::unique_ptr<GstMessage, GstMessageUnref>;

struct GstBufferUnref {
  void operator()(GstBuffer* buffer) const {
    if (buffer) gst_buffer_unref(buffer);
  }
};
using BufferPtr = std::unique_ptr<GstBuffer, GstBufferUnref>;

struct GMainLoopUnref {
  void operator()(GMainLoop* loop) const {
    if (loop) g_main_loop_unref(loop);
  }
};
using MainLoopPtr = std::unique_ptr<GMainLoop, GMainLoopUnref>;

struct GErrorFree {
  void operator()(GError* error) const {
    if (error) g_error_free(error);
  }
};
using GErrorPtr = std::unique_ptr<GError, GErrorFree>;

struct GFree {
  void operator()(gpointer memory) const { g_free(memory); }
};
using GCharPtr = std::unique_ptr<gchar, GFree>;

// A main-loop source (timeout, idle, unix signal) attached to the default context, removed on
// destruction. Use only from the thread that runs that context.
class SourceId {
 public:
  SourceId() = default;
  explicit SourceId(guint id) : id_(id) {}
  ~SourceId() { reset(); }
  SourceId(SourceId&& other) noexcept : id_(other.id_) { other.id_ = 0; }
  SourceId& operator=(SourceId&& other) noexcept {
    if (this != &other) {
      reset();
      id_ = other.id_;
      other.id_ = 0;
    }
    return *this;
  }
  void reset(guint id = 0) {
    if (id_) g_source_remove(id_);
    id_ = id;
  }
  // The source removed itself (its callback returned G_SOURCE_REMOVE): forget the id.
  void forget() { id_ = 0; }
  explicit operator bool() const { return id_ != 0; }

 private:
  guint id_ = 0;
};

// Plain GObjects (not GstObjects): a webrtcbin data channel or transceiver, a SoupServer, a
// SoupWebsocketConnection, a GTlsCertificate, ...
struct GObjectUnref {
  void operator()(gpointer object) const {
    if (object) g_object_unref(object);
  }
};
template <typename T>
using GObjectPtr = std::unique_ptr<T, GObjectUnref>;

struct GBytesUnref {
  void operator()(GBytes* bytes) const {
    if (bytes) g_bytes_unref(bytes);
  }
};
using GBytesPtr = std::unique_ptr<GBytes, GBytesUnref>;

struct GstPromiseUnref {
  void operator()(GstPromise* promise) const {
    if (promise) gst_promise_unref(promise);
  }
};
using PromisePtr = std::unique_ptr<GstPromise, GstPromiseUnref>;

struct GMainContextUnref {
  void operator()(GMainContext* context) const {
    if (context) g_main_context_unref(context);
  }
};
using MainContextPtr = std::unique_ptr<GMainContext, GMainContextUnref>;

// A GSource attached to a context: destroyed (detached, its callback never runs again) and then
// unreferenced. Destroy it on the thread running the context, so no dispatch is in flight.
struct GSourceDestroy {
  void operator()(GSource* source) const {
    if (!source) return;
    g_source_destroy(source);
    g_source_unref(source);
  }
};
using SourcePtr = std::unique_ptr<GSource, GSourceDestroy>;

// Makes an element from `factory` and sinks its floating reference. When the plugin is not
// installed, the error names the factory and the Debian package that provides it.
Expected<ElementPtr> MakeElement(const char* factory, const char* name = nullptr);

// The Debian package that ships a GStreamer element factory ("x264enc" -> "gstreamer1.0-plugins-ugly"),
// or an empty string for factories this file does not know.
std::string DebianPackageForElement(const std::string& factory);

}  // namespace speakup::media
