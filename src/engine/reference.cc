// Float64 reference interpreter. Each operator is a direct transcription of its definition
// (TFLite's reference kernels) as nested loops, with shapes checked against what the operator
// implies, so a wrong shape in a hand-built or loaded graph is an error rather than silently
// garbage.
#include "reference.h"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>
#include <sstream>
#include <string>
#include <variant>

#include "host_ops.h"

namespace speakup::engine {
namespace {

using Shape = std::vector<int32_t>;
using Values = std::vector<double>;

std::string ShapeString(const Shape& shape) {
  std::ostringstream out;
  out << '[';
  for (size_t i = 0; i < shape.size(); ++i) out << (i ? "," : "") << shape[i];
  out << ']';
  return out.str();
}

size_t Count(const Shape& shape) {
  size_t count = 1;
  for (int32_t d : shape) count *= static_cast<size_t>(d);
  return count;
}

// Row-major strides of a shape.
std::vector<size_t> Strides(const Shape& shape) {
  std::vector<size_t> strides(shape.size(), 1);
  for (size_t i = shape.size(); i-- > 1;)
    strides[i - 1] = strides[i] * static_cast<size_t>(shape[i]);
  return strides;
}

// Advances a row-major multi-index over `shape`; returns false after the last element.
bool Next(std::vector<int32_t>& index, const Shape& shape) {
  for (size_t d = shape.size(); d-- > 0;) {
    if (++index[d] < shape[d]) return true;
    index[d] = 0;
  }
  return false;
}

// The fused activation's clamp, written out here rather than taken from graph.cc so the reference
// does not share code with the engine.
double Activate(double v, Activation activation) {
  switch (activation) {
    case Activation::kNone:
      return v;
    case Activation::kRelu:
      return v < 0.0 ? 0.0 : v;
    case Activation::kRelu6:
      return v < 0.0 ? 0.0 : (v > 6.0 ? 6.0 : v);
    case Activation::kReluN1To1:
      return v < -1.0 ? -1.0 : (v > 1.0 ? 1.0 : v);
  }
  return v;
}

// One operator's view of its tensors.
struct Io {
  std::vector<const Shape*> in_shape;
  std::vector<const Values*> in;
  std::vector<const Shape*> out_shape;
  std::vector<Values*> out;
};

Status ExpectCounts(const Io& io, size_t min_inputs, size_t max_inputs, size_t outputs) {
  if (io.in.size() < min_inputs || io.in.size() > max_inputs) {
    std::ostringstream msg;
    msg << "has " << io.in.size() << " inputs, expected ";
    if (min_inputs == max_inputs)
      msg << min_inputs;
    else
      msg << min_inputs << ".." << max_inputs;
    return Status::Error(msg.str());
  }
  if (io.out.size() != outputs) {
    return Status::Error("has " + std::to_string(io.out.size()) + " outputs, expected " +
                         std::to_string(outputs));
  }
  return Status::Ok();
}

Status ExpectOutputShape(const Shape& declared, const Shape& computed) {
  if (declared != computed) {
    return Status::Error("output shape " + ShapeString(declared) + " does not match the computed " +
                         ShapeString(computed));
  }
  return Status::Ok();
}

Status ExpectRank(const Shape& shape, size_t rank, const char* what) {
  if (shape.size() != rank) {
    return Status::Error(std::string(what) + " has shape " + ShapeString(shape) +
                         ", expected rank " + std::to_string(rank));
  }
  return Status::Ok();
}

// ---- broadcasting elementwise ops ----

// numpy broadcasting: shapes aligned on the right, a dimension of 1 stretches.
Status BroadcastShape(const Shape& a, const Shape& b, Shape* out) {
  size_t rank = std::max(a.size(), b.size());
  out->assign(rank, 1);
  for (size_t i = 0; i < rank; ++i) {
    int32_t da = i < a.size() ? a[a.size() - 1 - i] : 1;
    int32_t db = i < b.size() ? b[b.size() - 1 - i] : 1;
    if (da != db && da != 1 && db != 1) {
      return Status::Error("shapes " + ShapeString(a) + " and " + ShapeString(b) +
                           " do not broadcast");
    }
    (*out)[rank - 1 - i] = std::max(da, db);
  }
  return Status::Ok();
}

// Flat offset into a tensor of shape `in` (broadcast to `out`) for the multi-index `index` of
// `out`.
size_t BroadcastOffset(const std::vector<int32_t>& index, const Shape& in, const Shape& out) {
  size_t offset = 0;
  size_t lead = out.size() - in.size();
  for (size_t d = 0; d < in.size(); ++d) {
    int32_t i = in[d] == 1 ? 0 : index[lead + d];
    offset = offset * static_cast<size_t>(in[d]) + static_cast<size_t>(i);
  }
  return offset;
}

template <typename F>
Status Broadcast2(const Io& io, F f) {
  SPEAKUP_RETURN_IF_ERROR(ExpectCounts(io, 2, 2, 1));
  const Shape& a = *io.in_shape[0];
  const Shape& b = *io.in_shape[1];
  Shape shape;
  SPEAKUP_RETURN_IF_ERROR(BroadcastShape(a, b, &shape));
  SPEAKUP_RETURN_IF_ERROR(ExpectOutputShape(*io.out_shape[0], shape));
  Values& out = *io.out[0];
  std::vector<int32_t> index(shape.size(), 0);
  size_t flat = 0;
  do {
    double x = (*io.in[0])[BroadcastOffset(index, a, shape)];
    double y = (*io.in[1])[BroadcastOffset(index, b, shape)];
    out[flat++] = f(x, y);
  } while (Next(index, shape));
  return Status::Ok();
}

Status Add(const Io& io, const ElementwiseOptions& o) {
  return Broadcast2(io, [&](double x, double y) { return Activate(x + y, o.activation); });
}

Status Mul(const Io& io, const ElementwiseOptions& o) {
  return Broadcast2(io, [&](double x, double y) { return Activate(x * y, o.activation); });
}

Status Sub(const Io& io, const ElementwiseOptions& o) {
  return Broadcast2(io, [&](double x, double y) { return Activate(x - y, o.activation); });
}

Status Div(const Io& io, const ElementwiseOptions& o) {
  return Broadcast2(io, [&](double x, double y) { return Activate(x / y, o.activation); });
}

Status SquaredDifference(const Io& io) {
  return Broadcast2(io, [](double x, double y) { return (x - y) * (x - y); });
}

template <typename F>
Status Unary(const Io& io, F f) {
  SPEAKUP_RETURN_IF_ERROR(ExpectCounts(io, 1, 1, 1));
  SPEAKUP_RETURN_IF_ERROR(ExpectOutputShape(*io.out_shape[0], *io.in_shape[0]));
  const Values& in = *io.in[0];
  Values& out = *io.out[0];
  for (size_t i = 0; i < in.size(); ++i) out[i] = f(in[i]);
  return Status::Ok();
}

Status Prelu(const Io& io) {
  return Broadcast2(io, [](double x, double alpha) { return x >= 0.0 ? x : x * alpha; });
}

Status Relu(const Io& io) {
  SPEAKUP_RETURN_IF_ERROR(ExpectCounts(io, 1, 1, 1));
  SPEAKUP_RETURN_IF_ERROR(ExpectOutputShape(*io.out_shape[0], *io.in_shape[0]));
  const Values& in = *io.in[0];
  Values& out = *io.out[0];
  for (size_t i = 0; i < in.size(); ++i) out[i] = in[i] < 0.0 ? 0.0 : in[i];
  return Status::Ok();
}

// ---- windowed ops (NHWC) ----

// TFLite's output size and leading padding for one spatial dimension.
struct Window {
  int out = 0;
  int pad_before = 0;
};

Window ComputeWindow(Padding padding, int in, int kernel, int stride, int dilation) {
  int effective = (kernel - 1) * dilation + 1;
  Window w;
  if (padding == Padding::kSame) {
    w.out = (in + stride - 1) / stride;
    int total = (w.out - 1) * stride + effective - in;
    w.pad_before = std::max(total, 0) / 2;
  } else {
    w.out = (in - effective + stride) / stride;
    if (in < effective) w.out = 0;
    w.pad_before = 0;
  }
  return w;
}

Status CheckWindowParams(int stride_h, int stride_w, int dilation_h, int dilation_w) {
  if (stride_h < 1 || stride_w < 1 || dilation_h < 1 || dilation_w < 1) {
    return Status::Error("strides and dilations must be >= 1 (got stride " +
                         std::to_string(stride_h) + "x" + std::to_string(stride_w) + ", dilation " +
                         std::to_string(dilation_h) + "x" + std::to_string(dilation_w) + ")");
  }
  return Status::Ok();
}

Status Conv2D(const Io& io, const ConvOptions& o) {
  SPEAKUP_RETURN_IF_ERROR(ExpectCounts(io, 2, 3, 1));
  const Shape& is = *io.in_shape[0];
  const Shape& fs = *io.in_shape[1];
  SPEAKUP_RETURN_IF_ERROR(ExpectRank(is, 4, "input"));
  SPEAKUP_RETURN_IF_ERROR(ExpectRank(fs, 4, "filter"));
  SPEAKUP_RETURN_IF_ERROR(CheckWindowParams(o.stride_h, o.stride_w, o.dilation_h, o.dilation_w));
  const int batches = is[0], in_h = is[1], in_w = is[2], in_c = is[3];
  const int out_c = fs[0], k_h = fs[1], k_w = fs[2];
  if (fs[3] != in_c) {
    return Status::Error("filter " + ShapeString(fs) + " does not match input channels " +
                         std::to_string(in_c));
  }
  const bool has_bias = io.in.size() == 3;
  if (has_bias && Count(*io.in_shape[2]) != static_cast<size_t>(out_c)) {
    return Status::Error("bias " + ShapeString(*io.in_shape[2]) + " does not have " +
                         std::to_string(out_c) + " elements");
  }
  Window wy = ComputeWindow(o.padding, in_h, k_h, o.stride_h, o.dilation_h);
  Window wx = ComputeWindow(o.padding, in_w, k_w, o.stride_w, o.dilation_w);
  if (wy.out < 1 || wx.out < 1) return Status::Error("the filter is larger than the input");
  SPEAKUP_RETURN_IF_ERROR(ExpectOutputShape(*io.out_shape[0], {batches, wy.out, wx.out, out_c}));

  const Values& in = *io.in[0];
  const Values& filter = *io.in[1];
  Values& out = *io.out[0];
  for (int n = 0; n < batches; ++n) {
    for (int oy = 0; oy < wy.out; ++oy) {
      for (int ox = 0; ox < wx.out; ++ox) {
        for (int oc = 0; oc < out_c; ++oc) {
          double sum = has_bias ? (*io.in[2])[oc] : 0.0;
          for (int ky = 0; ky < k_h; ++ky) {
            int iy = oy * o.stride_h - wy.pad_before + ky * o.dilation_h;
            if (iy < 0 || iy >= in_h) continue;
            for (int kx = 0; kx < k_w; ++kx) {
              int ix = ox * o.stride_w - wx.pad_before + kx * o.dilation_w;
              if (ix < 0 || ix >= in_w) continue;
              for (int ic = 0; ic < in_c; ++ic) {
                double x = in[((static_cast<size_t>(n) * in_h + iy) * in_w + ix) * in_c + ic];
                double w = filter[((static_cast<size_t>(oc) * k_h + ky) * k_w + kx) * in_c + ic];
                sum += x * w;
              }
            }
          }
          out[((static_cast<size_t>(n) * wy.out + oy) * wx.out + ox) * out_c + oc] =
              Activate(sum, o.activation);
        }
      }
    }
  }
  return Status::Ok();
}

Status DepthwiseConv2D(const Io& io, const ConvOptions& o) {
  SPEAKUP_RETURN_IF_ERROR(ExpectCounts(io, 2, 3, 1));
  const Shape& is = *io.in_shape[0];
  const Shape& fs = *io.in_shape[1];
  SPEAKUP_RETURN_IF_ERROR(ExpectRank(is, 4, "input"));
  SPEAKUP_RETURN_IF_ERROR(ExpectRank(fs, 4, "filter"));
  SPEAKUP_RETURN_IF_ERROR(CheckWindowParams(o.stride_h, o.stride_w, o.dilation_h, o.dilation_w));
  const int batches = is[0], in_h = is[1], in_w = is[2], in_c = is[3];
  const int k_h = fs[1], k_w = fs[2], out_c = fs[3];
  // Like TFLite, the multiplier follows from the shapes (filter channels / input channels); the
  // option, when set, must agree.
  if (fs[0] != 1 || out_c % in_c != 0) {
    return Status::Error("filter " + ShapeString(fs) + " does not fit input channels " +
                         std::to_string(in_c));
  }
  const int mult = out_c / in_c;
  if (o.depth_multiplier > 0 && o.depth_multiplier != mult) {
    return Status::Error("depth_multiplier " + std::to_string(o.depth_multiplier) +
                         " disagrees with filter " + ShapeString(fs) + " and input channels " +
                         std::to_string(in_c));
  }
  const bool has_bias = io.in.size() == 3;
  if (has_bias && Count(*io.in_shape[2]) != static_cast<size_t>(out_c)) {
    return Status::Error("bias " + ShapeString(*io.in_shape[2]) + " does not have " +
                         std::to_string(out_c) + " elements");
  }
  Window wy = ComputeWindow(o.padding, in_h, k_h, o.stride_h, o.dilation_h);
  Window wx = ComputeWindow(o.padding, in_w, k_w, o.stride_w, o.dilation_w);
  if (wy.out < 1 || wx.out < 1) return Status::Error("the filter is larger than the input");
  SPEAKUP_RETURN_IF_ERROR(ExpectOutputShape(*io.out_shape[0], {batches, wy.out, wx.out, out_c}));

  const Values& in = *io.in[0];
  const Values& filter = *io.in[1];
  Values& out = *io.out[0];
  for (int n = 0; n < batches; ++n) {
    for (int oy = 0; oy < wy.out; ++oy) {
      for (int ox = 0; ox < wx.out; ++ox) {
        for (int ic = 0; ic < in_c; ++ic) {
          for (int m = 0; m < mult; ++m) {
            const int oc = ic * mult + m;
            double sum = has_bias ? (*io.in[2])[oc] : 0.0;
            for (int ky = 0; ky < k_h; ++ky) {
              int iy = oy * o.stride_h - wy.pad_before + ky * o.dilation_h;
              if (iy < 0 || iy >= in_h) continue;
              for (int kx = 0; kx < k_w; ++kx) {
                int ix = ox * o.stride_w - wx.pad_before + kx * o.dilation_w;
                if (ix < 0 || ix >= in_w) continue;
                double x = in[((static_cast<size_t>(n) * in_h + iy) * in_w + ix) * in_c + ic];
                double w = filter[(static_cast<size_t>(ky) * k_w + kx) * out_c + oc];
                sum += x * w;
              }
            }
            out[((static_cast<size_t>(n) * wy.out + oy) * wx.out + ox) * out_c + oc] =
                Activate(sum, o.activation);
          }
        }
      }
    }
  }
  return Status::Ok();
}

Status MaxPool2D(const Io& io, const PoolOptions& o) {
  SPEAKUP_RETURN_IF_ERROR(ExpectCounts(io, 1, 1, 1));
  const Shape& is = *io.in_shape[0];
  SPEAKUP_RETURN_IF_ERROR(ExpectRank(is, 4, "input"));
  SPEAKUP_RETURN_IF_ERROR(CheckWindowParams(o.stride_h, o.stride_w, 1, 1));
  if (o.filter_h < 1 || o.filter_w < 1) return Status::Error("the pooling window is empty");
  const int batches = is[0], in_h = is[1], in_w = is[2], channels = is[3];
  Window wy = ComputeWindow(o.padding, in_h, o.filter_h, o.stride_h, 1);
  Window wx = ComputeWindow(o.padding, in_w, o.filter_w, o.stride_w, 1);
  if (wy.out < 1 || wx.out < 1) return Status::Error("the pooling window is larger than the input");
  SPEAKUP_RETURN_IF_ERROR(ExpectOutputShape(*io.out_shape[0], {batches, wy.out, wx.out, channels}));

  const Values& in = *io.in[0];
  Values& out = *io.out[0];
  for (int n = 0; n < batches; ++n) {
    for (int oy = 0; oy < wy.out; ++oy) {
      for (int ox = 0; ox < wx.out; ++ox) {
        for (int c = 0; c < channels; ++c) {
          // Padded positions do not take part: the maximum is over the window's real pixels.
          double best = -std::numeric_limits<double>::infinity();
          for (int ky = 0; ky < o.filter_h; ++ky) {
            int iy = oy * o.stride_h - wy.pad_before + ky;
            if (iy < 0 || iy >= in_h) continue;
            for (int kx = 0; kx < o.filter_w; ++kx) {
              int ix = ox * o.stride_w - wx.pad_before + kx;
              if (ix < 0 || ix >= in_w) continue;
              best = std::max(
                  best, in[((static_cast<size_t>(n) * in_h + iy) * in_w + ix) * channels + c]);
            }
          }
          out[((static_cast<size_t>(n) * wy.out + oy) * wx.out + ox) * channels + c] =
              Activate(best, o.activation);
        }
      }
    }
  }
  return Status::Ok();
}

// ---- data movement ----

Status Pad(const Io& io, const PadOptions& o) {
  // A second input (the paddings tensor of the .tflite op) may be present; the resolved paddings
  // are in the options.
  SPEAKUP_RETURN_IF_ERROR(ExpectCounts(io, 1, 2, 1));
  const Shape& is = *io.in_shape[0];
  if (o.paddings.size() != is.size()) {
    return Status::Error("has " + std::to_string(o.paddings.size()) + " padding pairs for input " +
                         ShapeString(is));
  }
  Shape shape(is.size());
  for (size_t d = 0; d < is.size(); ++d) {
    if (o.paddings[d][0] < 0 || o.paddings[d][1] < 0) {
      return Status::Error("negative padding on dimension " + std::to_string(d));
    }
    shape[d] = is[d] + o.paddings[d][0] + o.paddings[d][1];
  }
  SPEAKUP_RETURN_IF_ERROR(ExpectOutputShape(*io.out_shape[0], shape));
  const Values& in = *io.in[0];
  Values& out = *io.out[0];
  std::vector<size_t> out_strides = Strides(shape);
  std::fill(out.begin(), out.end(), 0.0);
  std::vector<int32_t> index(is.size(), 0);
  size_t flat = 0;
  do {
    size_t offset = 0;
    for (size_t d = 0; d < is.size(); ++d) {
      offset += static_cast<size_t>(index[d] + o.paddings[d][0]) * out_strides[d];
    }
    out[offset] = in[flat++];
  } while (Next(index, is));
  return Status::Ok();
}

Status Reshape(const Io& io) {
  // The .tflite op may carry its new shape as a second input; the output tensor's shape rules.
  SPEAKUP_RETURN_IF_ERROR(ExpectCounts(io, 1, 2, 1));
  if (Count(*io.in_shape[0]) != Count(*io.out_shape[0])) {
    return Status::Error("cannot reshape " + ShapeString(*io.in_shape[0]) + " to " +
                         ShapeString(*io.out_shape[0]));
  }
  *io.out[0] = *io.in[0];
  return Status::Ok();
}

Status Concatenation(const Io& io, const ConcatenationOptions& o) {
  if (io.in.empty() || io.out.size() != 1) {
    return Status::Error("needs at least one input and exactly one output");
  }
  const Shape& first = *io.in_shape[0];
  const int rank = static_cast<int>(first.size());
  if (o.axis < 0 || o.axis >= rank) {
    return Status::Error("axis " + std::to_string(o.axis) + " is out of range for rank " +
                         std::to_string(rank));
  }
  Shape shape = first;
  shape[o.axis] = 0;
  for (const Shape* s : io.in_shape) {
    bool fits = static_cast<int>(s->size()) == rank;
    for (int d = 0; fits && d < rank; ++d) fits = d == o.axis || (*s)[d] == first[d];
    if (!fits) {
      return Status::Error("input " + ShapeString(*s) + " does not fit " + ShapeString(first) +
                           " on axis " + std::to_string(o.axis));
    }
    shape[o.axis] += (*s)[o.axis];
  }
  SPEAKUP_RETURN_IF_ERROR(ExpectOutputShape(*io.out_shape[0], shape));
  size_t outer = 1, inner = 1;
  for (int d = 0; d < o.axis; ++d) outer *= static_cast<size_t>(first[d]);
  for (int d = o.axis + 1; d < rank; ++d) inner *= static_cast<size_t>(first[d]);
  Values& out = *io.out[0];
  size_t flat = 0;
  for (size_t i = 0; i < outer; ++i) {
    for (size_t k = 0; k < io.in.size(); ++k) {
      size_t block = static_cast<size_t>((*io.in_shape[k])[o.axis]) * inner;
      for (size_t j = 0; j < block; ++j)
        out[flat++] = Activate((*io.in[k])[i * block + j], o.activation);
    }
  }
  return Status::Ok();
}

// TFLite's source coordinate for one output coordinate, with its two neighbours.
struct Sample {
  double pos;
  int lo, hi;
};

Sample SourceCoordinate(int out_index, double scale, bool half_pixel_centers, int in_size) {
  Sample s;
  s.pos = half_pixel_centers ? (out_index + 0.5) * scale - 0.5 : out_index * scale;
  s.lo = std::max(static_cast<int>(std::floor(s.pos)), 0);
  s.hi = std::min(static_cast<int>(std::ceil(s.pos)), in_size - 1);
  return s;
}

Status ResizeBilinear(const Io& io, const ResizeBilinearOptions& o) {
  // The .tflite op's size tensor may be present as a second input; the output shape rules.
  SPEAKUP_RETURN_IF_ERROR(ExpectCounts(io, 1, 2, 1));
  const Shape& is = *io.in_shape[0];
  const Shape& os = *io.out_shape[0];
  SPEAKUP_RETURN_IF_ERROR(ExpectRank(is, 4, "input"));
  SPEAKUP_RETURN_IF_ERROR(ExpectRank(os, 4, "output"));
  if (o.align_corners && o.half_pixel_centers) {
    return Status::Error("align_corners and half_pixel_centers are both set");
  }
  const int batches = is[0], in_h = is[1], in_w = is[2], channels = is[3];
  const int out_h = os[1], out_w = os[2];
  SPEAKUP_RETURN_IF_ERROR(ExpectOutputShape(os, {batches, out_h, out_w, channels}));
  double scale_h = static_cast<double>(in_h) / out_h;
  double scale_w = static_cast<double>(in_w) / out_w;
  if (o.align_corners && out_h > 1) scale_h = static_cast<double>(in_h - 1) / (out_h - 1);
  if (o.align_corners && out_w > 1) scale_w = static_cast<double>(in_w - 1) / (out_w - 1);

  const Values& in = *io.in[0];
  Values& out = *io.out[0];
  auto at = [&](int n, int y, int x, int c) {
    return in[((static_cast<size_t>(n) * in_h + y) * in_w + x) * channels + c];
  };
  for (int n = 0; n < batches; ++n) {
    for (int oy = 0; oy < out_h; ++oy) {
      Sample sy = SourceCoordinate(oy, scale_h, o.half_pixel_centers, in_h);
      double fy = sy.pos - sy.lo;
      for (int ox = 0; ox < out_w; ++ox) {
        Sample sx = SourceCoordinate(ox, scale_w, o.half_pixel_centers, in_w);
        double fx = sx.pos - sx.lo;
        for (int c = 0; c < channels; ++c) {
          double v = at(n, sy.lo, sx.lo, c) * (1 - fy) * (1 - fx) +
                     at(n, sy.hi, sx.lo, c) * fy * (1 - fx) +
                     at(n, sy.lo, sx.hi, c) * (1 - fy) * fx + at(n, sy.hi, sx.hi, c) * fy * fx;
          out[((static_cast<size_t>(n) * out_h + oy) * out_w + ox) * channels + c] = v;
        }
      }
    }
  }
  return Status::Ok();
}

Status StridedSlice(const Io& io, const StridedSliceOptions& o) {
  // begin/end/strides tensors of the .tflite op may still be inputs; the options are resolved.
  SPEAKUP_RETURN_IF_ERROR(ExpectCounts(io, 1, 4, 1));
  const Shape& is = *io.in_shape[0];
  const size_t rank = is.size();
  if (o.begin.size() != rank || o.end.size() != rank || o.strides.size() != rank) {
    return Status::Error("begin/end/strides do not have one entry per dimension of " +
                         ShapeString(is));
  }
  // The input indices taken along each dimension.
  std::vector<std::vector<int32_t>> taken(rank);
  Shape shape;
  for (size_t d = 0; d < rank; ++d) {
    const int32_t b = o.begin[d], e = o.end[d], s = o.strides[d];
    if (s == 0) return Status::Error("stride 0 on dimension " + std::to_string(d));
    for (int32_t i = b; s > 0 ? i < e : i > e; i += s) {
      if (i < 0 || i >= is[d]) {
        return Status::Error("index " + std::to_string(i) + " on dimension " + std::to_string(d) +
                             " is outside " + ShapeString(is));
      }
      taken[d].push_back(i);
    }
    if (taken[d].empty()) return Status::Error("empty slice on dimension " + std::to_string(d));
    const bool shrink = (o.shrink_axis_mask >> d) & 1;
    if (shrink && taken[d].size() != 1) {
      return Status::Error("shrink_axis on dimension " + std::to_string(d) + " takes " +
                           std::to_string(taken[d].size()) + " elements, expected 1");
    }
    if (!shrink) shape.push_back(static_cast<int32_t>(taken[d].size()));
  }
  SPEAKUP_RETURN_IF_ERROR(ExpectOutputShape(*io.out_shape[0], shape));
  Shape counts(rank);
  for (size_t d = 0; d < rank; ++d) counts[d] = static_cast<int32_t>(taken[d].size());
  std::vector<size_t> in_strides = Strides(is);
  const Values& in = *io.in[0];
  Values& out = *io.out[0];
  std::vector<int32_t> index(rank, 0);
  size_t flat = 0;
  do {
    size_t offset = 0;
    for (size_t d = 0; d < rank; ++d)
      offset += static_cast<size_t>(taken[d][index[d]]) * in_strides[d];
    out[flat++] = in[offset];
  } while (Next(index, counts));
  return Status::Ok();
}

// MEAN / SUM: for each output element, loops over the sub-space of the reduced axes.
Status Reduce(const Io& io, const ReduceOptions& o, bool mean) {
  // The .tflite op's axes tensor may still be an input; the options are resolved.
  SPEAKUP_RETURN_IF_ERROR(ExpectCounts(io, 1, 2, 1));
  const Shape& is = *io.in_shape[0];
  const size_t rank = is.size();
  std::vector<bool> reduced(rank, false);
  for (int32_t axis : o.axes) {
    if (axis < 0 || static_cast<size_t>(axis) >= rank) {
      return Status::Error("axis " + std::to_string(axis) + " is outside " + ShapeString(is));
    }
    reduced[static_cast<size_t>(axis)] = true;
  }
  Shape kept(rank), inner(rank, 1), declared;
  for (size_t d = 0; d < rank; ++d) {
    kept[d] = reduced[d] ? 1 : is[d];
    inner[d] = reduced[d] ? is[d] : 1;
    if (!reduced[d] || o.keep_dims) declared.push_back(kept[d]);
  }
  SPEAKUP_RETURN_IF_ERROR(ExpectOutputShape(*io.out_shape[0], declared));
  const std::vector<size_t> in_strides = Strides(is);
  const size_t inner_count = Count(inner);
  const Values& in = *io.in[0];
  Values& out = *io.out[0];
  std::vector<int32_t> outer_index(rank, 0);
  size_t flat = 0;
  do {
    double sum = 0.0;
    std::vector<int32_t> inner_index(rank, 0);
    do {
      size_t offset = 0;
      for (size_t d = 0; d < rank; ++d) {
        offset += static_cast<size_t>(outer_index[d] + inner_index[d]) * in_strides[d];
      }
      sum += in[offset];
    } while (Next(inner_index, inner));
    out[flat++] = mean ? sum / static_cast<double>(inner_count) : sum;
  } while (Next(outer_index, kept));
  return Status::Ok();
}

// TRANSPOSE: scatters each input element to its permuted place.
Status Transpose(const Io& io, const TransposeOptions& o) {
  SPEAKUP_RETURN_IF_ERROR(ExpectCounts(io, 1, 2, 1));
  const Shape& is = *io.in_shape[0];
  const size_t rank = is.size();
  if (o.perm.size() != rank) {
    return Status::Error("perm has " + std::to_string(o.perm.size()) + " entries for " + ShapeString(is));
  }
  Shape shape(rank);
  std::vector<bool> used(rank, false);
  for (size_t i = 0; i < rank; ++i) {
    const int32_t p = o.perm[i];
    if (p < 0 || static_cast<size_t>(p) >= rank || used[static_cast<size_t>(p)]) {
      return Status::Error("perm " + ShapeString(o.perm) + " is not a permutation");
    }
    used[static_cast<size_t>(p)] = true;
    shape[i] = is[static_cast<size_t>(p)];
  }
  SPEAKUP_RETURN_IF_ERROR(ExpectOutputShape(*io.out_shape[0], shape));
  const std::vector<size_t> out_strides = Strides(shape);
  const Values& in = *io.in[0];
  Values& out = *io.out[0];
  std::vector<int32_t> index(rank, 0);
  size_t flat = 0;
  do {
    size_t offset = 0;
    for (size_t i = 0; i < rank; ++i) {
      offset += static_cast<size_t>(index[static_cast<size_t>(o.perm[i])]) * out_strides[i];
    }
    out[offset] = in[flat++];
  } while (Next(index, is));
  return Status::Ok();
}

// ---- MediaPipe custom ops, through host_ops.h with T = double ----

Status Landmarks2TransformMatrixOp(const Io& io, const Landmarks2TransformMatrixOptions& o) {
  SPEAKUP_RETURN_IF_ERROR(ExpectCounts(io, 1, 1, 1));
  const Shape& ls = *io.in_shape[0];
  if (ls.empty()) return Status::Error("landmarks must have at least one dimension");
  const int dims = ls.back();
  const int num = static_cast<int>(Count(ls) / static_cast<size_t>(dims));
  if (Count(*io.out_shape[0]) != 16) {
    return Status::Error("output " + ShapeString(*io.out_shape[0]) + " is not a 4x4 matrix");
  }
  std::vector<int32_t> indices = o.subset_idxs;
  indices.push_back(o.left_rotation_idx);
  indices.push_back(o.right_rotation_idx);
  if (o.subset_idxs.empty()) return Status::Error("subset_idxs is empty");
  if (dims < 2)
    return Status::Error("landmarks " + ShapeString(ls) + " have fewer than 2 dimensions");
  for (int32_t idx : indices) {
    if (idx < 0 || idx >= num) {
      return Status::Error("landmark index " + std::to_string(idx) + " is outside " +
                           std::to_string(num) + " landmarks");
    }
  }
  Landmarks2TransformMatrix<double>(o, io.in[0]->data(), num, dims, io.out[0]->data());
  return Status::Ok();
}

Status TransformTensorBilinearOp(const Io& io, const TransformTensorBilinearOptions& o) {
  SPEAKUP_RETURN_IF_ERROR(ExpectCounts(io, 2, 2, 1));
  const Shape& is = *io.in_shape[0];
  SPEAKUP_RETURN_IF_ERROR(ExpectRank(is, 4, "input"));
  if (is[0] != 1) return Status::Error("input " + ShapeString(is) + " must have batch 1");
  if (Count(*io.in_shape[1]) != 16) {
    return Status::Error("matrix " + ShapeString(*io.in_shape[1]) + " is not 4x4");
  }
  const Shape expected = {1, o.output_height, o.output_width, is[3]};
  SPEAKUP_RETURN_IF_ERROR(ExpectOutputShape(*io.out_shape[0], expected));
  TransformTensorBilinear<double>(io.in[0]->data(), is[1], is[2], is[3], io.in[1]->data(),
                                  o.output_height, o.output_width, io.out[0]->data());
  return Status::Ok();
}

Status TransformLandmarksOp(const Io& io) {
  SPEAKUP_RETURN_IF_ERROR(ExpectCounts(io, 2, 2, 1));
  const Shape& ls = *io.in_shape[0];
  if (ls.empty()) return Status::Error("landmarks must have at least one dimension");
  if (Count(*io.in_shape[1]) != 16) {
    return Status::Error("matrix " + ShapeString(*io.in_shape[1]) + " is not 4x4");
  }
  SPEAKUP_RETURN_IF_ERROR(ExpectOutputShape(*io.out_shape[0], ls));
  const int dims = ls.back();
  if (dims < 2)
    return Status::Error("landmarks " + ShapeString(ls) + " have fewer than 2 dimensions");
  const int num = static_cast<int>(Count(ls) / static_cast<size_t>(dims));
  TransformLandmarks<double>(io.in[0]->data(), num, dims, io.in[1]->data(), io.out[0]->data());
  return Status::Ok();
}

template <typename T>
Status WithOptions(const Op& op, const char* wanted, const T** options) {
  *options = std::get_if<T>(&op.options);
  if (*options == nullptr) return Status::Error(std::string("does not carry ") + wanted);
  return Status::Ok();
}

Status RunOp(const Op& op, const Io& io) {
  switch (op.type) {
    case OpType::kAdd:
    case OpType::kMul: {
      const ElementwiseOptions* o;
      SPEAKUP_RETURN_IF_ERROR(WithOptions(op, "ElementwiseOptions", &o));
      return op.type == OpType::kAdd ? Add(io, *o) : Mul(io, *o);
    }
    case OpType::kConv2D:
    case OpType::kDepthwiseConv2D: {
      const ConvOptions* o;
      SPEAKUP_RETURN_IF_ERROR(WithOptions(op, "ConvOptions", &o));
      return op.type == OpType::kConv2D ? Conv2D(io, *o) : DepthwiseConv2D(io, *o);
    }
    case OpType::kMaxPool2D: {
      const PoolOptions* o;
      SPEAKUP_RETURN_IF_ERROR(WithOptions(op, "PoolOptions", &o));
      return MaxPool2D(io, *o);
    }
    case OpType::kPrelu:
      return Prelu(io);
    case OpType::kRelu:
      return Relu(io);
    case OpType::kPad: {
      const PadOptions* o;
      SPEAKUP_RETURN_IF_ERROR(WithOptions(op, "PadOptions", &o));
      return Pad(io, *o);
    }
    case OpType::kReshape:
      return Reshape(io);
    case OpType::kConcatenation: {
      const ConcatenationOptions* o;
      SPEAKUP_RETURN_IF_ERROR(WithOptions(op, "ConcatenationOptions", &o));
      return Concatenation(io, *o);
    }
    case OpType::kResizeBilinear: {
      const ResizeBilinearOptions* o;
      SPEAKUP_RETURN_IF_ERROR(WithOptions(op, "ResizeBilinearOptions", &o));
      return ResizeBilinear(io, *o);
    }
    case OpType::kStridedSlice: {
      const StridedSliceOptions* o;
      SPEAKUP_RETURN_IF_ERROR(WithOptions(op, "StridedSliceOptions", &o));
      return StridedSlice(io, *o);
    }
    case OpType::kSub:
    case OpType::kDiv: {
      const ElementwiseOptions* o;
      SPEAKUP_RETURN_IF_ERROR(WithOptions(op, "ElementwiseOptions", &o));
      return op.type == OpType::kSub ? Sub(io, *o) : Div(io, *o);
    }
    case OpType::kSquaredDifference:
      return SquaredDifference(io);
    case OpType::kLogistic:
      return Unary(io, [](double x) { return 1.0 / (1.0 + std::exp(-x)); });
    case OpType::kNeg:
      return Unary(io, [](double x) { return -x; });
    case OpType::kSqrt:
      return Unary(io, [](double x) { return std::sqrt(x); });
    case OpType::kRsqrt:
      return Unary(io, [](double x) { return 1.0 / std::sqrt(x); });
    case OpType::kMean:
    case OpType::kSum: {
      const ReduceOptions* o;
      SPEAKUP_RETURN_IF_ERROR(WithOptions(op, "ReduceOptions", &o));
      return Reduce(io, *o, op.type == OpType::kMean);
    }
    case OpType::kTranspose: {
      const TransposeOptions* o;
      SPEAKUP_RETURN_IF_ERROR(WithOptions(op, "TransposeOptions", &o));
      return Transpose(io, *o);
    }
    case OpType::kLandmarks2TransformMatrix: {
      const Landmarks2TransformMatrixOptions* o;
      SPEAKUP_RETURN_IF_ERROR(WithOptions(op, "Landmarks2TransformMatrixOptions", &o));
      return Landmarks2TransformMatrixOp(io, *o);
    }
    case OpType::kTransformTensorBilinear: {
      const TransformTensorBilinearOptions* o;
      SPEAKUP_RETURN_IF_ERROR(WithOptions(op, "TransformTensorBilinearOptions", &o));
      return TransformTensorBilinearOp(io, *o);
    }
    case OpType::kTransformLandmarks:
      return TransformLandmarksOp(io);
  }
  return Status::Error("has an unknown operator type");
}

}  // namespace

Expected<std::vector<std::vector<double>>> RunReference(
    const Graph& graph, const std::vector<std::vector<double>>& inputs) {
  const size_t num_tensors = graph.tensors.size();
  std::vector<Values> values(num_tensors);
  std::vector<bool> ready(num_tensors, false);

  auto tensor_name = [&](int t) {
    return "tensor " + std::to_string(t) + " '" + graph.tensors[static_cast<size_t>(t)].name + "'";
  };
  auto in_range = [&](int t) { return t >= 0 && static_cast<size_t>(t) < num_tensors; };

  if (inputs.size() != graph.inputs.size()) {
    return Error("reference: the graph has " + std::to_string(graph.inputs.size()) +
                 " inputs but " + std::to_string(inputs.size()) + " were given");
  }
  for (size_t i = 0; i < inputs.size(); ++i) {
    const int t = graph.inputs[i];
    if (!in_range(t)) return Error("reference: graph input " + std::to_string(i) + " is no tensor");
    const Tensor& tensor = graph.tensors[static_cast<size_t>(t)];
    if (inputs[i].size() != Count(tensor.shape)) {
      return Error("reference: input " + std::to_string(i) + " (" + tensor_name(t) + ", shape " +
                   ShapeString(tensor.shape) + ") needs " + std::to_string(Count(tensor.shape)) +
                   " values, got " + std::to_string(inputs[i].size()));
    }
    values[static_cast<size_t>(t)] = inputs[i];
    ready[static_cast<size_t>(t)] = true;
  }

  // Makes tensor t's value available (constants are widened on first use).
  auto fetch = [&](int t) -> Status {
    if (!in_range(t))
      return Status::Error("refers to tensor " + std::to_string(t) + ", out of range");
    const size_t ut = static_cast<size_t>(t);
    if (ready[ut]) return Status::Ok();
    const Tensor& tensor = graph.tensors[ut];
    if (!tensor.is_constant())
      return Status::Error("reads " + tensor_name(t) + " before it is written");
    if (static_cast<size_t>(tensor.constant) >= graph.constants.size()) {
      return Status::Error(tensor_name(t) + " refers to a missing constant");
    }
    const std::vector<float>& data = graph.constants[static_cast<size_t>(tensor.constant)];
    if (data.size() != Count(tensor.shape)) {
      return Status::Error(tensor_name(t) + " has " + std::to_string(data.size()) +
                           " constant values for shape " + ShapeString(tensor.shape));
    }
    values[ut].assign(data.begin(), data.end());
    ready[ut] = true;
    return Status::Ok();
  };

  for (size_t k = 0; k < graph.ops.size(); ++k) {
    const Op& op = graph.ops[k];
    const std::string where =
        std::string("reference: op ") + std::to_string(k) + " (" + OpTypeName(op.type) + "): ";
    Io io;
    for (int t : op.inputs) {
      Status s = fetch(t);
      if (!s.ok()) return Error(where + s.message());
      io.in_shape.push_back(&graph.tensors[static_cast<size_t>(t)].shape);
      io.in.push_back(&values[static_cast<size_t>(t)]);
    }
    for (int t : op.outputs) {
      if (!in_range(t))
        return Error(where + "writes tensor " + std::to_string(t) + ", out of range");
      const size_t ut = static_cast<size_t>(t);
      if (ready[ut] || graph.tensors[ut].is_constant()) {
        return Error(where + "writes " + tensor_name(t) + ", which already has a value");
      }
      values[ut].assign(Count(graph.tensors[ut].shape), std::numeric_limits<double>::quiet_NaN());
      io.out_shape.push_back(&graph.tensors[ut].shape);
      io.out.push_back(&values[ut]);
    }
    Status s = RunOp(op, io);
    if (!s.ok()) return Error(where + s.message());
    for (int t : op.outputs) ready[static_cast<size_t>(t)] = true;
  }

  std::vector<std::vector<double>> outputs;
  outputs.reserve(graph.outputs.size());
  for (size_t i = 0; i < graph.outputs.size(); ++i) {
    Status s = fetch(graph.outputs[i]);
    if (!s.ok()) return Error("reference: graph output " + std::to_string(i) + ": " + s.message());
    outputs.push_back(values[static_cast<size_t>(graph.outputs[i])]);
  }
  return outputs;
}

}  // namespace speakup::engine
