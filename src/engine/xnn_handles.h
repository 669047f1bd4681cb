// RAII owners for XNNPACK's C handles, all in one place.
#pragma once

#include <xnnpack.h>

#include <memory>

#include "speakup/status.h"

namespace speakup::engine {

struct XnnSubgraphDeleter {
  void operator()(xnn_subgraph_t subgraph) const { xnn_delete_subgraph(subgraph); }
};
struct XnnRuntimeDeleter {
  void operator()(xnn_runtime_t runtime) const { xnn_delete_runtime(runtime); }
};
using XnnSubgraph = std::unique_ptr<xnn_subgraph, XnnSubgraphDeleter>;
using XnnRuntime = std::unique_ptr<xnn_runtime, XnnRuntimeDeleter>;

// Initialises XNNPACK once per process (it fails every call until then).
Status EnsureXnnpackInitialized();

const char* XnnStatusName(xnn_status status);

}  // namespace speakup::engine
