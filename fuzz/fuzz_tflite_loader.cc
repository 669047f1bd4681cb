// libFuzzer target: any byte string given to the .tflite loader must give a model or an error,
// never a crash, a hang or an out-of-bounds access. A model that loads is also run once.
#include <cstddef>
#include <cstdint>

#include "speakup/engine.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto model = speakup::engine::Model::FromBytes({data, size}, "fuzz.tflite");
  if (!model.ok()) return 0;
  auto runner = speakup::engine::Runner::Create(*model);
  if (runner.ok()) (void)(*runner)->Run();
  return 0;
}
