// Reads a TensorFlow Lite flatbuffer into an engine Graph. Every byte of the file is treated as
// untrusted: the flatbuffers Verifier runs first, then every index, shape and buffer size is checked,
// and an operator or option the engine does not support is an error naming it.
#pragma once

#include <cstdint>
#include <span>

#include "graph.h"
#include "speakup/status.h"

namespace speakup::engine {

Expected<Graph> LoadTfliteGraph(std::span<const uint8_t> bytes);

}  // namespace speakup::engine
