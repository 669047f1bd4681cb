#include <fstream>
#include <iterator>

#include "graph.h"
#include "plan.h"
#include "speakup/engine.h"
#include "tflite_loader.h"

namespace speakup::engine {

Model::~Model() = default;

Expected<std::shared_ptr<const Model>> Model::Load(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) {
    return Error("cannot open model file '" + path + "'. Install the models with `make models` (scripts/fetch_models.sh).");
  }
  std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  if (file.bad()) return Error("cannot read model file '" + path + "'");
  auto model = FromBytes(bytes, path);
  if (!model) {
    return Error(model.error() + ". Re-install the models with `scripts/fetch_models.sh --force` if the file was altered.");
  }
  return model;
}

Expected<std::shared_ptr<const Model>> Model::FromBytes(std::span<const uint8_t> bytes, const std::string& name) {
  auto graph = LoadTfliteGraph(bytes);
  if (!graph) return Error("model '" + name + "': " + graph.error());
  return FromGraph(std::move(*graph), name);
}

Expected<std::shared_ptr<const Model>> Model::FromGraph(Graph graph, const std::string& name) {
  Status valid = Validate(graph);
  if (!valid.ok()) return Error("model '" + name + "': " + valid.message());
  std::shared_ptr<Model> model(new Model());
  model->name_ = name;
  model->graph_ = std::make_unique<Graph>(std::move(graph));
  model->plan_ = std::make_unique<Plan>(Plan::Make(*model->graph_));
  for (int t : model->graph_->inputs) {
    const Tensor& tensor = model->graph_->tensors[t];
    model->inputs_.push_back({tensor.name, tensor.shape, tensor.element_count()});
  }
  for (int t : model->graph_->outputs) {
    const Tensor& tensor = model->graph_->tensors[t];
    model->outputs_.push_back({tensor.name, tensor.shape, tensor.element_count()});
  }
  // Build the XNNPACK runtimes once now, so that anything XNNPACK refuses is a load-time error
  // rather than a failure of the first Runner.
  auto probe = Runner::Create(model, nullptr);
  if (!probe) return Error("model '" + name + "': " + probe.error());
  return std::shared_ptr<const Model>(std::move(model));
}

int Model::output_index(const std::string& name) const {
  for (size_t i = 0; i < outputs_.size(); ++i) {
    if (outputs_[i].name == name) return static_cast<int>(i);
  }
  return -1;
}

}  // namespace speakup::engine
