#include "anchors.h"

#include <cmath>
#include <cstddef>

namespace speakup::face {
namespace {

// Linear interpolation of the scale between min and max over the layers; the mean with one layer.
float LayerScale(float min_scale, float max_scale, int layer, int num_layers) {
  if (num_layers == 1) return (min_scale + max_scale) * 0.5f;
  return min_scale +
         (max_scale - min_scale) * 1.0f * static_cast<float>(layer) / (static_cast<float>(num_layers) - 1.0f);
}

}  // namespace

AnchorOptions AnchorOptions::ShortRange() { return AnchorOptions{}; }

AnchorOptions AnchorOptions::FullRange() {
  AnchorOptions options;
  options.input_width = 192;
  options.input_height = 192;
  options.strides = {4};
  options.interpolated_scale_aspect_ratio = 0.0f;
  return options;
}

AnchorOptions AnchorOptions::For(DetectorKind kind) {
  return kind == DetectorKind::kFullRange ? FullRange() : ShortRange();
}

std::vector<Anchor> GenerateAnchors(const AnchorOptions& options) {
  std::vector<Anchor> anchors;
  const int num_layers = static_cast<int>(options.strides.size());
  int layer = 0;
  while (layer < num_layers) {
    // Consecutive layers with the same stride share one feature map: their anchors are merged
    // per cell, in layer order.
    std::vector<float> heights, widths;
    int last = layer;
    while (last < num_layers && options.strides[last] == options.strides[layer]) {
      const float scale = LayerScale(options.min_scale, options.max_scale, last, num_layers);
      std::vector<float> ratios, scales;
      if (last == 0 && options.reduce_boxes_in_lowest_layer) {
        ratios = {1.0f, 2.0f, 0.5f};
        scales = {0.1f, scale, scale};
      } else {
        for (float ratio : options.aspect_ratios) {
          ratios.push_back(ratio);
          scales.push_back(scale);
        }
        if (options.interpolated_scale_aspect_ratio > 0.0f) {
          const float next = last == num_layers - 1
                                 ? 1.0f
                                 : LayerScale(options.min_scale, options.max_scale, last + 1, num_layers);
          scales.push_back(std::sqrt(scale * next));
          ratios.push_back(options.interpolated_scale_aspect_ratio);
        }
      }
      for (size_t i = 0; i < ratios.size(); ++i) {
        const float root = std::sqrt(ratios[i]);
        heights.push_back(scales[i] / root);
        widths.push_back(scales[i] * root);
      }
      ++last;
    }

    const int stride = options.strides[layer];
    const int rows = static_cast<int>(std::ceil(1.0f * options.input_height / stride));
    const int cols = static_cast<int>(std::ceil(1.0f * options.input_width / stride));
    for (int y = 0; y < rows; ++y) {
      for (int x = 0; x < cols; ++x) {
        for (size_t k = 0; k < heights.size(); ++k) {
          Anchor anchor;
          anchor.x_center = (x + options.anchor_offset_x) * 1.0f / cols;
          anchor.y_center = (y + options.anchor_offset_y) * 1.0f / rows;
          if (!options.fixed_anchor_size) {
            anchor.width = widths[k];
            anchor.height = heights[k];
          }
          anchors.push_back(anchor);
        }
      }
    }
    layer = last;
  }
  return anchors;
}

}  // namespace speakup::face
