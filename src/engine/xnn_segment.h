// Translates one XNNPACK step of a Plan into an XNNPACK subgraph and runtime.
#pragma once

#include <pthreadpool.h>

#include "graph.h"
#include "plan.h"
#include "xnn_handles.h"

namespace speakup::engine {

// Builds the runtime for `step`. Constant data is referenced, not copied: `graph` must outlive the
// runtime. Any XNNPACK refusal is an error naming the operator.
Expected<XnnRuntime> BuildXnnRuntime(const Graph& graph, const Step& step, pthreadpool_t pool);

}  // namespace speakup::engine
