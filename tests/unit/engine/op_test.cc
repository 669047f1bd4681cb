// Every builtin operator of the engine, one (or a few) at a time, against the float64 reference
// interpreter: random odd shapes from a fixed-seed generator, random weights in [-1, 1], the engine
// run on the calling thread and on a 2-thread pool. The first tests pin the reference itself to
// numbers computed by hand, so the comparison is not against an unchecked oracle.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "graph.h"
#include "reference.h"
#include "speakup/engine.h"

namespace speakup::engine {
namespace {

using Shape = std::vector<int32_t>;

constexpr int kShapesPerCase = 5;
constexpr double kRelTolerance = 1e-5;
constexpr Activation kActivations[] = {Activation::kNone, Activation::kRelu, Activation::kReluN1To1,
                                       Activation::kRelu6};

const char* ActivationLabel(Activation a) {
  switch (a) {
    case Activation::kNone:
      return "none";
    case Activation::kRelu:
      return "relu";
    case Activation::kReluN1To1:
      return "relu_n1_to_1";
    case Activation::kRelu6:
      return "relu6";
  }
  return "?";
}

std::string ShapeLabel(const Shape& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i > 0) s += ',';
    s += std::to_string(shape[i]);
  }
  s += ']';
  return s;
}

int RandInt(std::mt19937& rng, int lo, int hi) {  // inclusive
  return std::uniform_int_distribution<int>(lo, hi)(rng);
}

template <typename T>
T Pick(std::mt19937& rng, std::initializer_list<T> choices) {
  auto it = choices.begin();
  std::advance(it, RandInt(rng, 0, static_cast<int>(choices.size()) - 1));
  return *it;
}

std::vector<float> RandomFloats(std::mt19937& rng, size_t n, float lo = -1.0f, float hi = 1.0f) {
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

size_t Count(const Shape& shape) {
  size_t n = 1;
  for (int32_t d : shape) n *= static_cast<size_t>(d);
  return n;
}

// ---- comparison ----

struct Errors {
  double rel_l2 = 0;     // ||a - b|| / ||b||
  double max_abs = 0;    // max |a - b|
  double abs_scale = 1;  // max(1, max |b|)
};

Errors Measure(std::span<const float> got, const std::vector<double>& want) {
  double diff2 = 0, want2 = 0, max_abs = 0, max_want = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    const double d = static_cast<double>(got[i]) - want[i];
    diff2 += d * d;
    want2 += want[i] * want[i];
    max_abs = std::max(max_abs, std::abs(d));
    max_want = std::max(max_want, std::abs(want[i]));
  }
  Errors e;
  e.rel_l2 = diff2 == 0 ? 0.0 : (want2 == 0 ? INFINITY : std::sqrt(diff2 / want2));
  if (std::isnan(diff2)) e.rel_l2 = NAN;
  e.max_abs = max_abs;
  e.abs_scale = std::max(1.0, max_want);
  return e;
}

// Worst errors seen per test, printed once at the end of the run (for the record, not a check).
std::map<std::string, Errors>& WorstErrors() {
  static std::map<std::string, Errors> worst;
  return worst;
}

class PrintWorstErrors : public ::testing::Environment {
 public:
  void TearDown() override {
    if (WorstErrors().empty()) return;
    std::printf(
        "Worst engine-vs-reference errors per test (relative L2, max abs / max(1, max|ref|)):\n");
    for (const auto& [name, e] : WorstErrors()) {
      std::printf("  %-38s rel_l2 %.3g  max_abs %.3g\n", name.c_str(), e.rel_l2,
                  e.max_abs / e.abs_scale);
    }
  }
};
const auto* const kPrintWorstErrors = ::testing::AddGlobalTestEnvironment(new PrintWorstErrors);

void Record(const Errors& e) {
  const ::testing::TestInfo* info = ::testing::UnitTest::GetInstance()->current_test_info();
  if (info == nullptr) return;
  Errors& w = WorstErrors()[info->name()];
  w.rel_l2 = std::max(w.rel_l2, e.rel_l2);
  if (e.max_abs / e.abs_scale > w.max_abs / w.abs_scale) {
    w.max_abs = e.max_abs;
    w.abs_scale = e.abs_scale;
  }
}

::testing::AssertionResult Close(std::span<const float> got, const std::vector<double>& want,
                                 double rel_tolerance = kRelTolerance) {
  if (got.size() != want.size()) {
    return ::testing::AssertionFailure()
           << "engine output has " << got.size() << " values, reference " << want.size();
  }
  const Errors e = Measure(got, want);
  Record(e);
  if (!(e.rel_l2 <= rel_tolerance) || !(e.max_abs <= rel_tolerance * e.abs_scale)) {
    size_t worst = 0;
    double worst_diff = -1;
    for (size_t i = 0; i < want.size(); ++i) {
      const double d = std::abs(static_cast<double>(got[i]) - want[i]);
      if (!(d <= worst_diff)) {
        worst = i;
        worst_diff = d;
      }
    }
    return ::testing::AssertionFailure()
           << "relative L2 error " << e.rel_l2 << ", max |a-b| " << e.max_abs << " (limit "
           << rel_tolerance << " * " << e.abs_scale << "); worst at flat index " << worst
           << ": engine " << got[worst] << " vs reference " << want[worst];
  }
  return ::testing::AssertionSuccess();
}

::testing::AssertionResult Exactly(const std::vector<double>& got,
                                   const std::vector<double>& want) {
  if (got.size() != want.size()) {
    return ::testing::AssertionFailure() << got.size() << " values, expected " << want.size();
  }
  for (size_t i = 0; i < got.size(); ++i) {
    if (std::abs(got[i] - want[i]) > 1e-12 * std::max(1.0, std::abs(want[i]))) {
      return ::testing::AssertionFailure()
             << "value " << i << " is " << got[i] << ", expected " << want[i];
    }
  }
  return ::testing::AssertionSuccess();
}

// ---- graph building ----

std::string Name(const char* prefix, size_t index) {
  std::string name = prefix;
  name += std::to_string(index);
  return name;
}

class Builder {
 public:
  explicit Builder(std::mt19937& rng) : rng_(rng) {}

  int Input(Shape shape) {
    const int t = graph_.AddTensor(Name("input", graph_.inputs.size()), std::move(shape));
    graph_.inputs.push_back(t);
    return t;
  }
  int Constant(Shape shape, std::vector<float> data) {
    return graph_.AddConstant(Name("const", graph_.tensors.size()), std::move(shape),
                              std::move(data));
  }
  int Weights(Shape shape) {
    std::vector<float> data = RandomFloats(rng_, Count(shape));
    return Constant(std::move(shape), std::move(data));
  }
  // Adds an operator with one output of `shape` and returns that output.
  int Add(OpType type, std::vector<int> inputs, Shape shape, OpOptions options = NoOptions{}) {
    const int out = graph_.AddTensor(Name("t", graph_.tensors.size()), std::move(shape));
    graph_.ops.push_back(Op{type, std::move(inputs), {out}, std::move(options)});
    return out;
  }
  void Output(int tensor) { graph_.outputs.push_back(tensor); }
  const Shape& shape(int tensor) const { return graph_.tensors[static_cast<size_t>(tensor)].shape; }
  const Graph& graph() const { return graph_; }

 private:
  std::mt19937& rng_;
  Graph graph_;
};

// Runs `graph` on the engine (calling thread, then a 2-thread pool) and on the reference with the
// same random inputs in [lo, hi], and compares every output.
void CheckAgainstReference(const Graph& graph, std::mt19937& rng, const std::string& label,
                           float lo = -1.0f, float hi = 1.0f) {
  SCOPED_TRACE(label);
  std::vector<std::vector<float>> inputs;
  std::vector<std::vector<double>> inputs64;
  for (int t : graph.inputs) {
    inputs.push_back(RandomFloats(rng, Count(graph.tensors[static_cast<size_t>(t)].shape), lo, hi));
    inputs64.emplace_back(inputs.back().begin(), inputs.back().end());
  }
  auto want = RunReference(graph, inputs64);
  ASSERT_TRUE(want.ok()) << want.error();
  ASSERT_EQ(want->size(), graph.outputs.size());

  auto model = Model::FromGraph(graph, label);
  ASSERT_TRUE(model.ok()) << model.error();
  ThreadPool pool(2);
  for (ThreadPool* p : {static_cast<ThreadPool*>(nullptr), &pool}) {
    SCOPED_TRACE(p ? "2-thread pool" : "no pool");
    auto runner = Runner::Create(*model, p);
    ASSERT_TRUE(runner.ok()) << runner.error();
    for (size_t i = 0; i < inputs.size(); ++i) {
      std::span<float> in = (*runner)->input(i);
      ASSERT_EQ(in.size(), inputs[i].size()) << "input " << i;
      std::copy(inputs[i].begin(), inputs[i].end(), in.begin());
    }
    Status run = (*runner)->Run();
    ASSERT_TRUE(run.ok()) << run.message();
    for (size_t o = 0; o < want->size(); ++o) {
      EXPECT_TRUE(Close((*runner)->output(o), (*want)[o])) << "output " << o;
    }
  }
}

int SameOut(int in, int stride) { return (in + stride - 1) / stride; }
int ValidOut(int in, int kernel, int stride, int dilation) {
  return (in - (kernel - 1) * dilation - 1) / stride + 1;
}
int OutSize(Padding p, int in, int kernel, int stride, int dilation) {
  return p == Padding::kSame ? SameOut(in, stride) : ValidOut(in, kernel, stride, dilation);
}

// ---- the reference against hand-computed numbers ----

std::vector<double> Iota(size_t n, double start = 1.0) {
  std::vector<double> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = start + static_cast<double>(i);
  return v;
}

std::vector<double> RunSingle(const Graph& graph, std::vector<double> input) {
  auto out = RunReference(graph, {std::move(input)});
  EXPECT_TRUE(out.ok()) << out.error();
  if (!out.ok() || out->empty()) return {};
  return (*out)[0];
}

// 3x3 conv, SAME, stride 2 on a 4x4 input (values 1..16, row-major): out = 2x2, total padding
// max((2-1)*2 + 3 - 4, 0) = 1 per dimension, all of it *after* (before = 1/2 = 0). So output (0,0)
// sums rows 0..2 x cols 0..2, (0,1) rows 0..2 x cols 2..3, (1,0) rows 2..3 x cols 0..2, (1,1)
// rows 2..3 x cols 2..3. Channel 0: all-ones filter + bias 0.5. Channel 1: a single tap at
// (ky=0, kx=2), which reads input (2*oy, 2*ox + 2): 3, padding (0), 11, padding (0).
TEST(ReferenceTest, Conv3x3SameStride2PadsAfter) {
  std::mt19937 rng(0);
  Builder b(rng);
  const int in = b.Input({1, 4, 4, 1});
  std::vector<float> filter(2 * 9, 0.0f);
  for (int i = 0; i < 9; ++i) filter[i] = 1.0f;
  filter[9 + 0 * 3 + 2] = 1.0f;
  const int w = b.Constant({2, 3, 3, 1}, filter);
  const int bias = b.Constant({2}, {0.5f, 0.0f});
  ConvOptions o;
  o.padding = Padding::kSame;
  o.stride_h = o.stride_w = 2;
  b.Output(b.Add(OpType::kConv2D, {in, w, bias}, {1, 2, 2, 2}, o));
  // (1+2+3)+(5+6+7)+(9+10+11) = 54; (3+4)+(7+8)+(11+12) = 45; (9+10+11)+(13+14+15) = 72;
  // 11+12+15+16 = 54.
  EXPECT_TRUE(Exactly(RunSingle(b.graph(), Iota(16)), {54.5, 3, 45.5, 0, 72.5, 11, 54.5, 0}));
}

// Filter layout OHWI and a dilated VALID conv: 1x5x5x1 input 1..25, 2x2 kernel with dilation 2
// (effective 3x3), stride 1, VALID -> 3x3; tap weights w(ky,kx) = 1, 10, 100, 1000.
TEST(ReferenceTest, DilatedValidConvHandComputed) {
  std::mt19937 rng(0);
  Builder b(rng);
  const int in = b.Input({1, 5, 5, 1});
  const int w = b.Constant({1, 2, 2, 1}, {1, 10, 100, 1000});
  const int bias = b.Constant({1}, {0});
  ConvOptions o;
  o.padding = Padding::kValid;
  o.dilation_h = o.dilation_w = 2;
  b.Output(b.Add(OpType::kConv2D, {in, w, bias}, {1, 3, 3, 1}, o));
  std::vector<double> want;
  for (int y = 0; y < 3; ++y) {
    for (int x = 0; x < 3; ++x) {
      auto v = [&](int yy, int xx) { return static_cast<double>(yy * 5 + xx + 1); };
      want.push_back(v(y, x) + 10 * v(y, x + 2) + 100 * v(y + 2, x) + 1000 * v(y + 2, x + 2));
    }
  }
  EXPECT_TRUE(Exactly(RunSingle(b.graph(), Iota(25)), want));
}

// Depthwise with multiplier 2: output channel c*2 + m uses filter channel c*2 + m on input channel
// c.
TEST(ReferenceTest, DepthwiseMultiplierChannelOrder) {
  std::mt19937 rng(0);
  Builder b(rng);
  const int in = b.Input({1, 1, 1, 2});
  const int w = b.Constant({1, 1, 1, 4}, {1, 10, 100, 1000});
  const int bias = b.Constant({4}, {0, 0, 0, 0.5f});
  ConvOptions o;
  o.depth_multiplier = 2;
  b.Output(b.Add(OpType::kDepthwiseConv2D, {in, w, bias}, {1, 1, 1, 4}, o));
  EXPECT_TRUE(Exactly(RunSingle(b.graph(), {2, 3}), {2, 20, 300, 3000.5}));
}

// 3x3/2 SAME max pool on a 4x4 input of -1..-16: padding (after only) must not count as zeros.
TEST(ReferenceTest, MaxPoolSameIgnoresPadding) {
  std::mt19937 rng(0);
  Builder b(rng);
  const int in = b.Input({1, 4, 4, 1});
  PoolOptions o;
  o.padding = Padding::kSame;
  o.stride_h = o.stride_w = 2;
  o.filter_h = o.filter_w = 3;
  b.Output(b.Add(OpType::kMaxPool2D, {in}, {1, 2, 2, 1}, o));
  std::vector<double> input = Iota(16);
  for (double& v : input) v = -v;
  EXPECT_TRUE(Exactly(RunSingle(b.graph(), input), {-1, -3, -9, -11}));
}

// 2x2 -> 4x4 bilinear, input [[1,2],[3,4]]. half_pixel_centers: source = (o + 0.5) / 2 - 0.5 =
// -0.25, 0.25, 0.75, 1.25, clamped to the edge pixels -> per axis weights (1,0) (.75,.25) (.25,.75)
// (0,1). align_corners (2x2 -> 3x3): source = o * 1/2. Neither: source = o / 2 = 0, .5, 1, 1.5
// (upper neighbour clamped).
TEST(ReferenceTest, ResizeBilinearHandComputed) {
  auto resize = [](ResizeBilinearOptions o, int out) {
    std::mt19937 rng(0);
    Builder b(rng);
    const int in = b.Input({1, 2, 2, 1});
    b.Output(b.Add(OpType::kResizeBilinear, {in}, {1, out, out, 1}, o));
    return RunSingle(b.graph(), {1, 2, 3, 4});
  };
  ResizeBilinearOptions half;
  half.half_pixel_centers = true;
  EXPECT_TRUE(Exactly(resize(half, 4), {1, 1.25, 1.75, 2, 1.5, 1.75, 2.25, 2.5,  //
                                        2.5, 2.75, 3.25, 3.5, 3, 3.25, 3.75, 4}));
  ResizeBilinearOptions corners;
  corners.align_corners = true;
  EXPECT_TRUE(Exactly(resize(corners, 3), {1, 1.5, 2, 2, 2.5, 3, 3, 3.5, 4}));
  EXPECT_TRUE(Exactly(resize(ResizeBilinearOptions{}, 4), {1, 1.5, 2, 2, 2, 2.5, 3, 3,  //
                                                           3, 3.5, 4, 4, 3, 3.5, 4, 4}));
}

// [1,4,5,2] holding 0..39; begin {0,1,0,1}, end {1,4,5,2}, strides {1,2,2,1}, shrink dims 0 and 3:
// rows 1 and 3, columns 0, 2, 4, channel 1 -> [2,3] = y*10 + x*2 + 1.
TEST(ReferenceTest, StridedSliceHandComputed) {
  std::mt19937 rng(0);
  Builder b(rng);
  const int in = b.Input({1, 4, 5, 2});
  StridedSliceOptions o;
  o.begin = {0, 1, 0, 1};
  o.end = {1, 4, 5, 2};
  o.strides = {1, 2, 2, 1};
  o.shrink_axis_mask = 1 | 8;
  b.Output(b.Add(OpType::kStridedSlice, {in}, {2, 3}, o));
  EXPECT_TRUE(Exactly(RunSingle(b.graph(), Iota(40, 0)), {11, 15, 19, 31, 35, 39}));
}

// Pad {1,0} rows and {0,2} columns of a [1,2,2,1] input; broadcasting [1,2,1,2] + [1,1,3,1].
TEST(ReferenceTest, PadAndBroadcastHandComputed) {
  std::mt19937 rng(0);
  {
    Builder b(rng);
    const int in = b.Input({1, 2, 2, 1});
    PadOptions o;
    o.paddings = {{0, 0}, {1, 0}, {0, 2}, {0, 0}};
    b.Output(b.Add(OpType::kPad, {in}, {1, 3, 4, 1}, o));
    EXPECT_TRUE(Exactly(RunSingle(b.graph(), {1, 2, 3, 4}), {0, 0, 0, 0, 1, 2, 0, 0, 3, 4, 0, 0}));
  }
  {
    Builder b(rng);
    const int x = b.Input({1, 2, 1, 2});
    const int y = b.Constant({1, 1, 3, 1}, {10, 20, 30});
    ElementwiseOptions o;
    o.activation = Activation::kNone;
    b.Output(b.Add(OpType::kAdd, {x, y}, {1, 2, 3, 2}, o));
    // out[0, h, w, c] = x[h, c] + y[w]; x = {{1, 2}, {3, 4}}.
    EXPECT_TRUE(Exactly(RunSingle(b.graph(), {1, 2, 3, 4}),
                        {11, 12, 21, 22, 31, 32, 13, 14, 23, 24, 33, 34}));
  }
  {
    Builder b(rng);
    const int x = b.Input({1, 1, 2, 3});
    const int alpha = b.Constant({1, 1, 3}, {0.5f, 2, -1});
    b.Output(b.Add(OpType::kPrelu, {x, alpha}, {1, 1, 2, 3}));
    EXPECT_TRUE(Exactly(RunSingle(b.graph(), {-2, -2, -2, 3, 0, 4}), {-1, -4, 2, 3, 0, 4}));
  }
  {
    Builder b(rng);
    const int x = b.Input({1, 5});
    const int y = b.Constant({1}, {3});
    ElementwiseOptions o;
    o.activation = Activation::kReluN1To1;
    b.Output(b.Add(OpType::kMul, {x, y}, {1, 5}, o));
    EXPECT_TRUE(Exactly(RunSingle(b.graph(), {-1, -0.25, 0, 0.25, 1}), {-1, -0.75, 0, 0.75, 1}));
  }
  {
    Builder b(rng);
    const int x = b.Input({1, 2, 2});
    const int y = b.Input({1, 1, 2});
    ConcatenationOptions o;
    o.axis = 1;
    b.Output(b.Add(OpType::kConcatenation, {x, y}, {1, 3, 2}, o));
    auto out = RunReference(b.graph(), {{1, 2, 3, 4}, {5, 6}});
    ASSERT_TRUE(out.ok()) << out.error();
    EXPECT_TRUE(Exactly((*out)[0], {1, 2, 3, 4, 5, 6}));
  }
}

// MEAN/SUM over axes with and without keep_dims, TRANSPOSE, and the new elementwise operators on
// numbers small enough to check by eye.
TEST(ReferenceTest, ReductionsTransposeAndNewElementwiseHandComputed) {
  std::mt19937 rng(0);
  const std::vector<double> x = {1, 2, 3, 4, 5, 6};  // [2,3]: {{1,2,3},{4,5,6}}
  {
    Builder b(rng);
    const int in = b.Input({2, 3});
    b.Output(b.Add(OpType::kMean, {in}, {2, 1}, ReduceOptions{{1}, true}));
    EXPECT_TRUE(Exactly(RunSingle(b.graph(), x), {2, 5}));
  }
  {
    Builder b(rng);
    const int in = b.Input({2, 3});
    b.Output(b.Add(OpType::kSum, {in}, {3}, ReduceOptions{{0}, false}));
    EXPECT_TRUE(Exactly(RunSingle(b.graph(), x), {5, 7, 9}));
  }
  {
    Builder b(rng);
    const int in = b.Input({2, 3});
    b.Output(b.Add(OpType::kMean, {in}, {}, ReduceOptions{{0, 1}, false}));
    EXPECT_TRUE(Exactly(RunSingle(b.graph(), x), {3.5}));
  }
  {
    Builder b(rng);
    const int in = b.Input({2, 3});
    b.Output(b.Add(OpType::kTranspose, {in}, {3, 2}, TransposeOptions{{1, 0}}));
    EXPECT_TRUE(Exactly(RunSingle(b.graph(), x), {1, 4, 2, 5, 3, 6}));
  }
  {
    Builder b(rng);
    const int in = b.Input({1, 2, 3});  // perm {2,0,1}: out[c][0][h] = in[0][h][c]
    b.Output(b.Add(OpType::kTranspose, {in}, {3, 1, 2}, TransposeOptions{{2, 0, 1}}));
    EXPECT_TRUE(Exactly(RunSingle(b.graph(), x), {1, 4, 2, 5, 3, 6}));
  }
  {
    Builder b(rng);
    const int in = b.Input({2, 3});
    const int y = b.Constant({3}, {1, 4, 2});
    b.Output(b.Add(OpType::kSub, {in, y}, {2, 3}, ElementwiseOptions{Activation::kRelu}));
    b.Output(b.Add(OpType::kDiv, {in, y}, {2, 3}, ElementwiseOptions{Activation::kNone}));
    b.Output(b.Add(OpType::kSquaredDifference, {in, y}, {2, 3}, ElementwiseOptions{Activation::kNone}));
    auto out = RunReference(b.graph(), {x});
    ASSERT_TRUE(out.ok()) << out.error();
    EXPECT_TRUE(Exactly((*out)[0], {0, 0, 1, 3, 1, 4}));
    EXPECT_TRUE(Exactly((*out)[1], {1, 0.5, 1.5, 4, 1.25, 3}));
    EXPECT_TRUE(Exactly((*out)[2], {0, 4, 1, 9, 1, 16}));
  }
  {
    Builder b(rng);
    const int in = b.Input({4});
    b.Output(b.Add(OpType::kLogistic, {in}, {4}));
    b.Output(b.Add(OpType::kNeg, {in}, {4}));
    b.Output(b.Add(OpType::kSqrt, {in}, {4}));
    b.Output(b.Add(OpType::kRsqrt, {in}, {4}));
    auto out = RunReference(b.graph(), {{0, 1, 4, 16}});
    ASSERT_TRUE(out.ok()) << out.error();
    auto sigmoid = [](double v) { return 1 / (1 + std::exp(-v)); };
    EXPECT_TRUE(Exactly((*out)[0], {0.5, sigmoid(1), sigmoid(4), sigmoid(16)}));
    EXPECT_TRUE(Exactly((*out)[1], {0, -1, -4, -16}));
    EXPECT_TRUE(Exactly((*out)[2], {0, 1, 2, 4}));
    EXPECT_TRUE(Exactly((*out)[3], {INFINITY, 1, 0.5, 0.25}));
  }
}

TEST(ReferenceTest, ReportsBadInputsAsErrors) {
  std::mt19937 rng(0);
  Builder b(rng);
  const int in = b.Input({1, 2, 2, 1});
  b.Output(b.Add(OpType::kRelu, {in}, {1, 2, 2, 1}));
  auto no_inputs = RunReference(b.graph(), {});
  ASSERT_FALSE(no_inputs.ok());
  EXPECT_NE(no_inputs.error().find("inputs"), std::string::npos) << no_inputs.error();
  auto short_input = RunReference(b.graph(), {{1, 2, 3}});
  ASSERT_FALSE(short_input.ok());
  EXPECT_NE(short_input.error().find("needs 4 values"), std::string::npos) << short_input.error();

  Builder bad(rng);
  const int x = bad.Input({1, 4, 4, 1});
  PoolOptions o;
  o.filter_h = o.filter_w = 2;
  o.stride_h = o.stride_w = 2;
  bad.Output(bad.Add(OpType::kMaxPool2D, {x}, {1, 3, 3, 1}, o));  // should be [1,2,2,1]
  auto wrong_shape = RunReference(bad.graph(), {Iota(16)});
  ASSERT_FALSE(wrong_shape.ok());
  EXPECT_NE(wrong_shape.error().find("MAX_POOL_2D"), std::string::npos) << wrong_shape.error();
}

// ---- the engine against the reference ----

ElementwiseOptions Elementwise(Activation a) {
  ElementwiseOptions o;
  o.activation = a;
  return o;
}

// One binary op case: shapes of both operands, whether the second is a constant.
struct BinaryCase {
  Shape a, b;
  bool b_constant = false;
};

// Operands of DIV's denominator stay in [0.5, 2.5] in magnitude, away from 0.
bool IsDivision(OpType type) { return type == OpType::kDiv; }

void CheckBinaryOp(OpType type, const char* name, uint32_t seed) {
  std::mt19937 rng(seed);
  int counter = 0;
  // SQUARED_DIFFERENCE has no fused activation in TFLite.
  const bool fused = type != OpType::kSquaredDifference;
  for (int rep = 0; rep < kShapesPerCase; ++rep) {
    const int h = RandInt(rng, 5, 23), w = RandInt(rng, 5, 23);
    const int c = Pick(rng, {1, 3, 7, 13, 16});
    const int n = RandInt(rng, 3, 17);
    const std::vector<BinaryCase> cases = {
        {{1, h, w, c}, {1, h, w, c}, false},  // same shape, two activations
        {{1, h, w, c}, {1, h, w, c}, true},   // same shape, constant
        {{1, h, w, c}, {1}, true},            // scalar-like [1]
        {{1, h, w, c}, {1}, false},
        {{1, h, w, c}, {c}, true},  // per channel, lower rank
        {{1, h, w, c}, {1, 1, 1, c}, true},
        {{1, 4, 4}, {1, 4, 4}, false},
        {{1, n, 4}, {1, n, 4}, true},
        {{1}, {1, h, w, c}, false},           // the first operand broadcasts
        {{1, h, 1, c}, {1, 1, w, c}, false},  // both broadcast
        {{1, h, w, 1}, {1, h, w, c}, false},  // channel broadcast
        // The blendshape model's: a rank-0 constant, [1,1,N,1] x [C] (both stretch, ranks differ),
        // a per-row statistic [1,1,N,1] against [1,1,N,C], a mean [1,1,2] against [1,N,2].
        {{1, h, w, c}, {}, true},
        {{1, 1, n, 1}, {c}, true},
        {{1, 1, n, 1}, {1, 1, n, c}, false},
        {{1, 1, n, c}, {1, 1, n, 1}, false},
        {{1, n, 2}, {1, 1, 2}, false},
    };
    for (const BinaryCase& bc : cases) {
      const Activation act = fused ? kActivations[counter++ % 4] : Activation::kNone;
      Builder b(rng);
      const int x = b.Input(bc.a);
      int y;
      if (bc.b_constant && IsDivision(type)) {
        std::vector<float> denominators = RandomFloats(rng, Count(bc.b), 0.5f, 2.5f);
        for (float& d : denominators) d = RandInt(rng, 0, 1) ? d : -d;
        y = b.Constant(bc.b, std::move(denominators));
      } else {
        y = bc.b_constant ? b.Weights(bc.b) : b.Input(bc.b);
      }
      // numpy broadcasting: align on the right, 1 stretches.
      Shape out(std::max(bc.a.size(), bc.b.size()), 1);
      for (size_t i = 0; i < out.size(); ++i) {
        const size_t from_right = out.size() - 1 - i;
        const int32_t da = from_right < bc.a.size() ? bc.a[bc.a.size() - 1 - from_right] : 1;
        const int32_t db = from_right < bc.b.size() ? bc.b[bc.b.size() - 1 - from_right] : 1;
        out[i] = std::max(da, db);
      }
      b.Output(b.Add(type, {x, y}, out, Elementwise(act)));
      const std::string label = std::string(name) + " " + ShapeLabel(bc.a) + (bc.b_constant ? " const " : " ") +
                                ShapeLabel(bc.b) + " act " + ActivationLabel(act);
      // Every input of a division shares one range: positive, so no denominator comes near 0.
      if (IsDivision(type)) {
        CheckAgainstReference(b.graph(), rng, label, 0.5f, 2.5f);
      } else {
        CheckAgainstReference(b.graph(), rng, label, -2.5f, 2.5f);
      }
      if (::testing::Test::HasFatalFailure()) return;
    }
  }
}

TEST(OpTest, Add) { CheckBinaryOp(OpType::kAdd, "ADD", 101); }
TEST(OpTest, Mul) { CheckBinaryOp(OpType::kMul, "MUL", 102); }
TEST(OpTest, Sub) { CheckBinaryOp(OpType::kSub, "SUB", 103); }
TEST(OpTest, Div) { CheckBinaryOp(OpType::kDiv, "DIV", 104); }
TEST(OpTest, SquaredDifference) { CheckBinaryOp(OpType::kSquaredDifference, "SQUARED_DIFFERENCE", 105); }

// LOGISTIC, NEG, SQRT, RSQRT on their valid domains (roots of positive numbers only).
void CheckUnaryOp(OpType type, const char* name, uint32_t seed, float lo, float hi) {
  std::mt19937 rng(seed);
  for (int rep = 0; rep < kShapesPerCase; ++rep) {
    const int h = RandInt(rng, 5, 23), w = RandInt(rng, 5, 23);
    const int c = Pick(rng, {1, 3, 7, 13, 16});
    const int n = RandInt(rng, 3, 101);
    for (const Shape& shape : {Shape{1, h, w, c}, Shape{1, n, c}, Shape{n}, Shape{1, 1, n, 1}, Shape{}}) {
      Builder b(rng);
      const int x = b.Input(shape);
      b.Output(b.Add(type, {x}, shape));
      CheckAgainstReference(b.graph(), rng, std::string(name) + " " + ShapeLabel(shape), lo, hi);
      if (::testing::Test::HasFatalFailure()) return;
    }
  }
}

TEST(OpTest, Logistic) { CheckUnaryOp(OpType::kLogistic, "LOGISTIC", 111, -9.0f, 9.0f); }
TEST(OpTest, Neg) { CheckUnaryOp(OpType::kNeg, "NEG", 112, -2.5f, 2.5f); }
TEST(OpTest, Sqrt) { CheckUnaryOp(OpType::kSqrt, "SQRT", 113, 0.0f, 9.0f); }
TEST(OpTest, Rsqrt) { CheckUnaryOp(OpType::kRsqrt, "RSQRT", 114, 0.01f, 9.0f); }

// Every subset of axes of random odd shapes of rank 1 to 4, with and without keep_dims.
void CheckReduceOp(OpType type, const char* name, uint32_t seed) {
  std::mt19937 rng(seed);
  for (int rep = 0; rep < kShapesPerCase; ++rep) {
    for (size_t rank = 1; rank <= 4; ++rank) {
      Shape in(rank);
      for (int32_t& d : in) d = Pick(rng, {1, 3, 5, 7, 9, 13, 17});
      if (rank == 4) in[0] = 1;
      for (uint32_t mask = 0; mask < (1u << rank); ++mask) {
        for (bool keep_dims : {false, true}) {
          ReduceOptions options;
          options.keep_dims = keep_dims;
          Shape out;
          for (size_t d = 0; d < rank; ++d) {
            const bool reduced = (mask >> d) & 1;
            if (reduced) options.axes.push_back(static_cast<int32_t>(d));
            if (!reduced) out.push_back(in[d]);
            else if (keep_dims) out.push_back(1);
          }
          Builder b(rng);
          const int x = b.Input(in);
          b.Output(b.Add(type, {x}, out, options));
          CheckAgainstReference(b.graph(), rng,
                                std::string(name) + " " + ShapeLabel(in) + " axes " + ShapeLabel(options.axes) +
                                    (keep_dims ? " keep_dims" : ""),
                                -2.5f, 2.5f);
          if (::testing::Test::HasFatalFailure()) return;
        }
      }
    }
  }
}

TEST(OpTest, Mean) { CheckReduceOp(OpType::kMean, "MEAN", 121); }
TEST(OpTest, Sum) { CheckReduceOp(OpType::kSum, "SUM", 122); }

// Every permutation of rank 2 and 3, random ones of rank 4 to 6 (with the blendshape model's {0,1,3,2}).
TEST(OpTest, Transpose) {
  std::mt19937 rng(131);
  for (int rep = 0; rep < kShapesPerCase; ++rep) {
    for (size_t rank = 2; rank <= 6; ++rank) {
      Shape in(rank);
      for (int32_t& d : in) d = rank <= 4 ? Pick(rng, {1, 3, 5, 7, 11, 13}) : Pick(rng, {1, 2, 3, 5});
      std::vector<std::vector<int32_t>> perms;
      std::vector<int32_t> perm(rank);
      for (size_t i = 0; i < rank; ++i) perm[i] = static_cast<int32_t>(i);
      if (rank <= 3) {
        do perms.push_back(perm);
        while (std::next_permutation(perm.begin(), perm.end()));
      } else {
        for (int k = 0; k < 4; ++k) {
          std::shuffle(perm.begin(), perm.end(), rng);
          perms.push_back(perm);
        }
        if (rank == 4) perms.push_back({0, 1, 3, 2});
      }
      for (const auto& p : perms) {
        Shape out(rank);
        for (size_t i = 0; i < rank; ++i) out[i] = in[static_cast<size_t>(p[i])];
        Builder b(rng);
        const int x = b.Input(in);
        b.Output(b.Add(OpType::kTranspose, {x}, out, TransposeOptions{p}));
        CheckAgainstReference(b.graph(), rng, "TRANSPOSE " + ShapeLabel(in) + " perm " + ShapeLabel(p));
        if (HasFatalFailure()) return;
      }
    }
  }
}

// One MLP-Mixer block as in face_blendshapes.tflite: layer normalisation over channels (MEAN,
// SQUARED_DIFFERENCE, RSQRT of variance + epsilon, NEG of the mean, scale), a token-mixing MLP on the
// transposed tensor (1x1 CONV_2D, RELU fused), the residual ADD, then LOGISTIC scores. Host and
// XNNPACK steps alternate many times.
TEST(OpTest, MixerBlock) {
  std::mt19937 rng(141);
  for (int rep = 0; rep < kShapesPerCase; ++rep) {
    const int tokens = RandInt(rng, 3, 41), channels = Pick(rng, {3, 8, 13, 16}), hidden = Pick(rng, {5, 16, 24});
    const Shape x_shape = {1, 1, tokens, channels}, row = {1, 1, tokens, 1};
    const Shape t_shape = {1, 1, channels, tokens};
    Builder b(rng);
    const int x = b.Input(x_shape);
    const ReduceOptions over_channels{{3}, true};
    const int mean = b.Add(OpType::kMean, {x}, row, over_channels);
    const int negated = b.Add(OpType::kNeg, {mean}, row);
    const int squares = b.Add(OpType::kSquaredDifference, {x, mean}, x_shape, Elementwise(Activation::kNone));
    const int variance = b.Add(OpType::kMean, {squares}, row, over_channels);
    const int eps = b.Constant({}, {1e-6f});
    const int shifted = b.Add(OpType::kAdd, {variance, eps}, row, Elementwise(Activation::kNone));
    const int inv = b.Add(OpType::kRsqrt, {shifted}, row);
    const int scale = b.Add(OpType::kMul, {inv, b.Weights({channels})}, x_shape, Elementwise(Activation::kNone));
    const int scaled = b.Add(OpType::kMul, {x, scale}, x_shape, Elementwise(Activation::kNone));
    const int centre = b.Add(OpType::kMul, {negated, scale}, x_shape, Elementwise(Activation::kNone));
    const int normed = b.Add(OpType::kAdd, {scaled, centre}, x_shape, Elementwise(Activation::kNone));
    const int swapped = b.Add(OpType::kTranspose, {normed}, t_shape, TransposeOptions{{0, 1, 3, 2}});
    ConvOptions pointwise;
    pointwise.padding = Padding::kValid;
    pointwise.activation = Activation::kRelu;
    const int up = b.Add(OpType::kConv2D, {swapped, b.Weights({hidden, 1, 1, tokens}), b.Weights({hidden})},
                         {1, 1, channels, hidden}, pointwise);
    pointwise.activation = Activation::kNone;
    const int down = b.Add(OpType::kConv2D, {up, b.Weights({tokens, 1, 1, hidden}), b.Weights({tokens})}, t_shape,
                           pointwise);
    const int back = b.Add(OpType::kTranspose, {down}, x_shape, TransposeOptions{{0, 1, 3, 2}});
    const int residual = b.Add(OpType::kAdd, {back, x}, x_shape, Elementwise(Activation::kNone));
    const int pooled = b.Add(OpType::kSum, {residual}, {1, channels}, ReduceOptions{{1, 2}, false});
    const int spread = b.Add(OpType::kSqrt, {b.Add(OpType::kMul, {pooled, pooled}, {1, channels},
                                                   Elementwise(Activation::kNone))},
                             {1, channels});
    const int ratio = b.Add(OpType::kDiv, {pooled, b.Add(OpType::kAdd, {spread, b.Constant({1}, {1.0f})}, {1, channels},
                                                         Elementwise(Activation::kNone))},
                            {1, channels}, Elementwise(Activation::kNone));
    const int diff = b.Add(OpType::kSub, {ratio, pooled}, {1, channels}, Elementwise(Activation::kNone));
    b.Output(b.Add(OpType::kLogistic, {diff}, {1, channels}));
    b.Output(residual);
    CheckAgainstReference(b.graph(), rng,
                          "mixer block tokens " + std::to_string(tokens) + " channels " + std::to_string(channels) +
                              " hidden " + std::to_string(hidden));
    if (HasFatalFailure()) return;
  }
}

struct ConvCase {
  int kh = 3, kw = 3;
  int stride_h = 1, stride_w = 1;
  int dilation_h = 1, dilation_w = 1;
  Padding padding = Padding::kSame;
  Activation activation = Activation::kNone;
  int depth_multiplier = 1;  // depthwise only
};

std::string ConvLabel(const char* op, const ConvCase& c, const Shape& in, int out_c) {
  return std::string(op) + " in " + ShapeLabel(in) + " out_c " + std::to_string(out_c) + " k " +
         std::to_string(c.kh) + "x" + std::to_string(c.kw) + " s " + std::to_string(c.stride_h) +
         "x" + std::to_string(c.stride_w) + " d " + std::to_string(c.dilation_h) + "x" +
         std::to_string(c.dilation_w) + (c.padding == Padding::kSame ? " SAME" : " VALID") +
         " act " + ActivationLabel(c.activation) + " mult " + std::to_string(c.depth_multiplier);
}

ConvOptions ToOptions(const ConvCase& c) {
  ConvOptions o;
  o.padding = c.padding;
  o.stride_h = c.stride_h;
  o.stride_w = c.stride_w;
  o.dilation_h = c.dilation_h;
  o.dilation_w = c.dilation_w;
  o.depth_multiplier = c.depth_multiplier;
  o.activation = c.activation;
  return o;
}

// Random spatial size in 5..23 but at least the effective kernel.
int SpatialSize(std::mt19937& rng, int kernel, int dilation) {
  return std::max(RandInt(rng, 5, 23), (kernel - 1) * dilation + 1);
}

void CheckConv(std::mt19937& rng, const ConvCase& c) {
  const int h = SpatialSize(rng, c.kh, c.dilation_h), w = SpatialSize(rng, c.kw, c.dilation_w);
  const int in_c = Pick(rng, {1, 3, 7, 13, 16});
  const int out_c = Pick(rng, {1, 5, 8, 13, 24});
  Builder b(rng);
  const int x = b.Input({1, h, w, in_c});
  const int filter = b.Weights({out_c, c.kh, c.kw, in_c});
  const int bias = b.Weights({out_c});
  const Shape out = {1, OutSize(c.padding, h, c.kh, c.stride_h, c.dilation_h),
                     OutSize(c.padding, w, c.kw, c.stride_w, c.dilation_w), out_c};
  b.Output(b.Add(OpType::kConv2D, {x, filter, bias}, out, ToOptions(c)));
  CheckAgainstReference(b.graph(), rng, ConvLabel("CONV_2D", c, {1, h, w, in_c}, out_c));
}

TEST(OpTest, Conv2DKernelsStridesPaddings) {
  std::mt19937 rng(201);
  int counter = 0;
  for (int k : {1, 3, 5}) {
    for (int stride : {1, 2, 3}) {
      for (Padding padding : {Padding::kSame, Padding::kValid}) {
        for (int rep = 0; rep < kShapesPerCase; ++rep) {
          ConvCase c;
          c.kh = c.kw = k;
          c.stride_h = c.stride_w = stride;
          c.padding = padding;
          c.activation = kActivations[counter++ % 4];
          CheckConv(rng, c);
          if (HasFatalFailure()) return;
        }
      }
    }
  }
}

TEST(OpTest, Conv2DDilationAndRectangular) {
  std::mt19937 rng(202);
  struct Geometry {
    int kh, kw, sh, sw, dh, dw;
  };
  const Geometry geometries[] = {
      {3, 3, 1, 1, 2, 2}, {3, 3, 1, 1, 3, 3}, {3, 3, 2, 2, 2, 2}, {3, 3, 1, 1, 2, 1},
      {3, 1, 1, 1, 1, 1}, {1, 5, 1, 1, 1, 1}, {3, 3, 2, 1, 1, 1}, {5, 3, 1, 3, 1, 2},
  };
  int counter = 0;
  for (const Geometry& g : geometries) {
    for (Padding padding : {Padding::kSame, Padding::kValid}) {
      for (int rep = 0; rep < kShapesPerCase; ++rep) {
        ConvCase c;
        c.kh = g.kh;
        c.kw = g.kw;
        c.stride_h = g.sh;
        c.stride_w = g.sw;
        c.dilation_h = g.dh;
        c.dilation_w = g.dw;
        c.padding = padding;
        c.activation = kActivations[counter++ % 4];
        CheckConv(rng, c);
        if (HasFatalFailure()) return;
      }
    }
  }
}

// Every fused activation on a 3x3 conv whose outputs spread well past [-6, 6].
TEST(OpTest, Conv2DEveryActivation) {
  std::mt19937 rng(203);
  for (Activation act : kActivations) {
    for (int rep = 0; rep < kShapesPerCase; ++rep) {
      ConvCase c;
      c.activation = act;
      c.stride_h = c.stride_w = 1 + rep % 2;
      const int h = RandInt(rng, 5, 23), w = RandInt(rng, 5, 23);
      const int in_c = Pick(rng, {7, 13, 16});
      const int out_c = Pick(rng, {3, 13});
      Builder b(rng);
      const int x = b.Input({1, h, w, in_c});
      const int filter = b.Weights({out_c, 3, 3, in_c});
      const int bias = b.Weights({out_c});
      b.Output(b.Add(OpType::kConv2D, {x, filter, bias},
                     {1, SameOut(h, c.stride_h), SameOut(w, c.stride_w), out_c}, ToOptions(c)));
      CheckAgainstReference(b.graph(), rng, ConvLabel("CONV_2D", c, {1, h, w, in_c}, out_c), -3.0f,
                            3.0f);
      if (HasFatalFailure()) return;
    }
  }
}

void CheckDepthwise(std::mt19937& rng, const ConvCase& c) {
  const int h = SpatialSize(rng, c.kh, c.dilation_h), w = SpatialSize(rng, c.kw, c.dilation_w);
  const int in_c = Pick(rng, {1, 3, 7, 13, 16});
  const int out_c = in_c * c.depth_multiplier;
  Builder b(rng);
  const int x = b.Input({1, h, w, in_c});
  const int filter = b.Weights({1, c.kh, c.kw, out_c});
  const int bias = b.Weights({out_c});
  const Shape out = {1, OutSize(c.padding, h, c.kh, c.stride_h, c.dilation_h),
                     OutSize(c.padding, w, c.kw, c.stride_w, c.dilation_w), out_c};
  b.Output(b.Add(OpType::kDepthwiseConv2D, {x, filter, bias}, out, ToOptions(c)));
  CheckAgainstReference(b.graph(), rng, ConvLabel("DEPTHWISE_CONV_2D", c, {1, h, w, in_c}, out_c),
                        -2.0f, 2.0f);
}

TEST(OpTest, DepthwiseConv2D) {
  std::mt19937 rng(301);
  int counter = 0;
  for (int mult : {1, 2}) {
    for (int k : {3, 5}) {
      for (int stride : {1, 2}) {
        for (Padding padding : {Padding::kSame, Padding::kValid}) {
          for (int rep = 0; rep < kShapesPerCase; ++rep) {
            ConvCase c;
            c.kh = c.kw = k;
            c.stride_h = c.stride_w = stride;
            c.padding = padding;
            c.depth_multiplier = mult;
            c.activation = kActivations[counter++ % 4];
            CheckDepthwise(rng, c);
            if (HasFatalFailure()) return;
          }
        }
      }
    }
  }
}

TEST(OpTest, DepthwiseConv2DDilationAndRectangular) {
  std::mt19937 rng(302);
  int counter = 0;
  for (int mult : {1, 2}) {
    for (Padding padding : {Padding::kSame, Padding::kValid}) {
      for (int rep = 0; rep < kShapesPerCase; ++rep) {
        ConvCase c;
        c.kh = 3;
        c.kw = rep % 2 ? 5 : 3;
        c.dilation_h = 2;
        c.dilation_w = 1 + rep % 3;
        c.stride_h = 1 + rep % 2;
        c.stride_w = 1;
        c.padding = padding;
        c.depth_multiplier = mult;
        c.activation = kActivations[counter++ % 4];
        CheckDepthwise(rng, c);
        if (HasFatalFailure()) return;
      }
    }
  }
}

TEST(OpTest, MaxPool2D) {
  std::mt19937 rng(401);
  int counter = 0;
  for (int filter : {2, 3}) {
    for (Padding padding : {Padding::kSame, Padding::kValid}) {
      for (int rep = 0; rep < kShapesPerCase; ++rep) {
        PoolOptions o;
        o.filter_h = o.filter_w = filter;
        o.stride_h = o.stride_w = 2;
        o.padding = padding;
        o.activation = kActivations[counter++ % 4];
        const int h = RandInt(rng, 5, 23), w = RandInt(rng, 5, 23);
        const int c = Pick(rng, {1, 3, 7, 13, 16});
        Builder b(rng);
        const int x = b.Input({1, h, w, c});
        b.Output(b.Add(OpType::kMaxPool2D, {x},
                       {1, OutSize(padding, h, filter, 2, 1), OutSize(padding, w, filter, 2, 1), c},
                       o));
        // Inputs mostly negative so that a padded zero taking part in the max would show.
        CheckAgainstReference(b.graph(), rng,
                              "MAX_POOL_2D " + ShapeLabel({1, h, w, c}) + " " +
                                  std::to_string(filter) + "x" + std::to_string(filter) + "/2 " +
                                  (padding == Padding::kSame ? "SAME" : "VALID") + " act " +
                                  ActivationLabel(o.activation),
                              -2.0f, 0.5f);
        if (HasFatalFailure()) return;
      }
    }
  }
}

TEST(OpTest, Prelu) {
  std::mt19937 rng(501);
  for (int rep = 0; rep < kShapesPerCase; ++rep) {
    const int h = RandInt(rng, 5, 23), w = RandInt(rng, 5, 23);
    const int c = Pick(rng, {1, 3, 7, 13, 16});
    for (const Shape& alpha_shape : {Shape{1, 1, c}, Shape{c}}) {
      Builder b(rng);
      const int x = b.Input({1, h, w, c});
      const int alpha = b.Weights(alpha_shape);
      b.Output(b.Add(OpType::kPrelu, {x, alpha}, {1, h, w, c}));
      CheckAgainstReference(
          b.graph(), rng,
          "PRELU " + ShapeLabel({1, h, w, c}) + " alpha " + ShapeLabel(alpha_shape));
      if (HasFatalFailure()) return;
    }
  }
}

TEST(OpTest, Relu) {
  std::mt19937 rng(601);
  for (int rep = 0; rep < kShapesPerCase; ++rep) {
    const int h = RandInt(rng, 5, 23), w = RandInt(rng, 5, 23);
    const int c = Pick(rng, {1, 3, 7, 13, 16});
    for (const Shape& shape : {Shape{1, h, w, c}, Shape{1, h * w, c}}) {
      Builder b(rng);
      const int x = b.Input(shape);
      b.Output(b.Add(OpType::kRelu, {x}, shape));
      CheckAgainstReference(b.graph(), rng, "RELU " + ShapeLabel(shape));
      if (HasFatalFailure()) return;
    }
  }
}

TEST(OpTest, Pad) {
  std::mt19937 rng(701);
  for (int rep = 0; rep < kShapesPerCase; ++rep) {
    const int h = RandInt(rng, 5, 23), w = RandInt(rng, 5, 23);
    const int c = Pick(rng, {1, 3, 7, 13});
    const Shape in = {1, h, w, c};
    std::vector<PadOptions> cases(4);
    // Asymmetric spatial padding, as TFLite emits for SAME stride 2 on even sizes.
    cases[0].paddings = {{0, 0}, {0, 1}, {0, 1}, {0, 0}};
    // Random asymmetric padding on H and W.
    cases[1].paddings = {{0, 0},
                         {RandInt(rng, 0, 3), RandInt(rng, 0, 3)},
                         {RandInt(rng, 0, 3), RandInt(rng, 0, 3)},
                         {0, 0}};
    // Channel padding only (BlazeFace's residual channel growth).
    cases[2].paddings = {{0, 0}, {0, 0}, {0, 0}, {0, RandInt(rng, 1, 13)}};
    // Everything at once, batch included.
    cases[3].paddings = {{RandInt(rng, 0, 1), RandInt(rng, 0, 1)},
                         {RandInt(rng, 0, 2), 0},
                         {0, RandInt(rng, 0, 2)},
                         {RandInt(rng, 1, 3), RandInt(rng, 0, 3)}};
    for (const PadOptions& o : cases) {
      Shape out = in;
      std::string label = "PAD " + ShapeLabel(in) + " by";
      for (size_t d = 0; d < 4; ++d) {
        out[d] += o.paddings[d][0] + o.paddings[d][1];
        label +=
            " {" + std::to_string(o.paddings[d][0]) + "," + std::to_string(o.paddings[d][1]) + "}";
      }
      Builder b(rng);
      const int x = b.Input(in);
      b.Output(b.Add(OpType::kPad, {x}, out, o));
      CheckAgainstReference(b.graph(), rng, label);
      if (HasFatalFailure()) return;
    }
    {  // rank 3
      PadOptions o;
      o.paddings = {{0, 0}, {RandInt(rng, 0, 3), RandInt(rng, 0, 3)}, {0, RandInt(rng, 1, 4)}};
      const Shape in3 = {1, h, c};
      const Shape out3 = {1, h + o.paddings[1][0] + o.paddings[1][1], c + o.paddings[2][1]};
      Builder b(rng);
      const int x = b.Input(in3);
      b.Output(b.Add(OpType::kPad, {x}, out3, o));
      CheckAgainstReference(b.graph(), rng, "PAD " + ShapeLabel(in3) + " -> " + ShapeLabel(out3));
      if (HasFatalFailure()) return;
    }
  }
}

TEST(OpTest, Reshape) {
  std::mt19937 rng(801);
  for (int rep = 0; rep < kShapesPerCase; ++rep) {
    const int h = RandInt(rng, 5, 23), w = RandInt(rng, 5, 23);
    const int c = Pick(rng, {1, 3, 7, 13, 16});
    const Shape in = {1, h, w, c};
    for (const Shape& out : {Shape{1, h * w, c}, Shape{1, h * w * c}, Shape{h, w * c}}) {
      {  // alone
        Builder b(rng);
        const int x = b.Input(in);
        b.Output(b.Add(OpType::kReshape, {x}, out));
        CheckAgainstReference(b.graph(), rng,
                              "RESHAPE " + ShapeLabel(in) + " -> " + ShapeLabel(out));
        if (HasFatalFailure()) return;
      }
      {  // between two computing ops
        Builder b(rng);
        const int x = b.Input(in);
        const int r = b.Add(OpType::kRelu, {x}, in);
        const int s = b.Add(OpType::kReshape, {r}, out);
        const int bias = b.Weights({out.back()});
        b.Output(b.Add(OpType::kAdd, {s, bias}, out, Elementwise(Activation::kNone)));
        CheckAgainstReference(b.graph(), rng,
                              "RELU-RESHAPE-ADD " + ShapeLabel(in) + " -> " + ShapeLabel(out));
        if (HasFatalFailure()) return;
      }
    }
  }
}

void CheckConcat(std::mt19937& rng, std::vector<Shape> shapes, int axis) {
  Builder b(rng);
  std::vector<int> inputs;
  Shape out = shapes[0];
  out[axis] = 0;
  std::string label = "CONCATENATION axis " + std::to_string(axis);
  for (const Shape& s : shapes) {
    inputs.push_back(b.Input(s));
    out[axis] += s[axis];
    label += ' ';
    label += ShapeLabel(s);
  }
  ConcatenationOptions o;
  o.axis = axis;
  b.Output(b.Add(OpType::kConcatenation, inputs, out, o));
  CheckAgainstReference(b.graph(), rng, label);
}

TEST(OpTest, Concatenation) {
  std::mt19937 rng(901);
  for (int rep = 0; rep < kShapesPerCase; ++rep) {
    const int h = RandInt(rng, 5, 23), w = RandInt(rng, 5, 23);
    const int k = Pick(rng, {1, 3, 16});
    for (int n : {2, 3}) {
      std::vector<Shape> rank3_axis1, rank3_last, rank4_axis1, rank4_last;
      for (int i = 0; i < n; ++i) {
        const int var = Pick(rng, {1, 3, 7, 13, 16});
        rank3_axis1.push_back({1, RandInt(rng, 3, 200), k});  // detector box/score heads
        rank3_last.push_back({1, h, var});
        rank4_axis1.push_back({1, RandInt(rng, 1, 9), w, k});
        rank4_last.push_back({1, h, w, var});
      }
      CheckConcat(rng, rank3_axis1, 1);
      if (HasFatalFailure()) return;
      CheckConcat(rng, rank3_last, 2);
      if (HasFatalFailure()) return;
      CheckConcat(rng, rank4_axis1, 1);
      if (HasFatalFailure()) return;
      CheckConcat(rng, rank4_last, 3);
      if (HasFatalFailure()) return;
    }
  }
}

TEST(OpTest, ResizeBilinear) {
  std::mt19937 rng(1001);
  struct Mode {
    bool align_corners, half_pixel_centers;
  };
  for (Mode mode : {Mode{false, false}, Mode{true, false}, Mode{false, true}}) {
    for (int rep = 0; rep < kShapesPerCase; ++rep) {
      const int h = RandInt(rng, 5, 23), w = RandInt(rng, 5, 23);
      const int c = Pick(rng, {1, 3, 7, 13});
      const std::pair<int, int> sizes[] = {
          {2 * h, 2 * w},                                      // exact 2x upscale
          {RandInt(rng, h + 1, 40), RandInt(rng, w + 1, 40)},  // arbitrary upscale
          {RandInt(rng, 2, h - 1), RandInt(rng, 2, w - 1)},    // downscale
          {RandInt(rng, 2, h - 1), RandInt(rng, w + 1, 40)},   // mixed
      };
      for (auto [oh, ow] : sizes) {
        ResizeBilinearOptions o;
        o.align_corners = mode.align_corners;
        o.half_pixel_centers = mode.half_pixel_centers;
        Builder b(rng);
        const int x = b.Input({1, h, w, c});
        b.Output(b.Add(OpType::kResizeBilinear, {x}, {1, oh, ow, c}, o));
        CheckAgainstReference(b.graph(), rng,
                              "RESIZE_BILINEAR " + ShapeLabel({1, h, w, c}) + " -> " +
                                  std::to_string(oh) + "x" + std::to_string(ow) +
                                  (mode.align_corners ? " align_corners" : "") +
                                  (mode.half_pixel_centers ? " half_pixel_centers" : ""));
        if (HasFatalFailure()) return;
      }
    }
  }
}

TEST(OpTest, StridedSlice) {
  std::mt19937 rng(1101);
  for (int rep = 0; rep < kShapesPerCase; ++rep) {
    const int h = RandInt(rng, 5, 23), w = RandInt(rng, 5, 23);
    const int c = Pick(rng, {3, 7, 13, 16});
    for (int variant = 0; variant < 5; ++variant) {
      Shape in = variant < 3 ? Shape{1, h, w, c} : Shape{1, h * w, c};
      StridedSliceOptions o;
      Shape out;
      for (size_t d = 0; d < in.size(); ++d) {
        int begin = 0, end = in[d], stride = 1;
        const bool shrink = (variant == 1 && d == 0) || (variant == 2 && (d == 0 || d == 3)) ||
                            (variant == 4 && d == 2);
        if (shrink) {
          begin = RandInt(rng, 0, in[d] - 1);
          end = begin + 1;
          o.shrink_axis_mask |= 1 << d;
        } else if (d > 0 && variant != 0) {
          begin = RandInt(rng, 0, in[d] / 2);
          end = RandInt(rng, begin + 1, in[d]);
          stride = RandInt(rng, 1, 3);
        } else if (d > 0) {  // variant 0: plain crops, stride 1
          begin = RandInt(rng, 0, in[d] - 1);
          end = RandInt(rng, begin + 1, in[d]);
        }
        o.begin.push_back(begin);
        o.end.push_back(end);
        o.strides.push_back(stride);
        if (!shrink) out.push_back((end - begin + stride - 1) / stride);
      }
      std::string label = "STRIDED_SLICE " + ShapeLabel(in) + " begin " + ShapeLabel(o.begin) +
                          " end " + ShapeLabel(o.end) + " strides " + ShapeLabel(o.strides) +
                          " shrink " + std::to_string(o.shrink_axis_mask);
      Builder b(rng);
      const int x = b.Input(in);
      b.Output(b.Add(OpType::kStridedSlice, {x}, out, o));
      CheckAgainstReference(b.graph(), rng, label);
      if (HasFatalFailure()) return;
    }
  }
}

// An operator whose result nothing reads (a damaged or pruned file) is skipped: the outputs are the
// reference's, whichever operator kind is dead and wherever it sits (XNNPACK asserted on a dead max
// pooling that the fuzzer made).
TEST(OpTest, OperatorsWhoseResultsNobodyReadsAreSkipped) {
  std::mt19937 rng(1301);
  for (int rep = 0; rep < kShapesPerCase; ++rep) {
    const int h = 2 * RandInt(rng, 3, 9), w = 2 * RandInt(rng, 3, 9);
    const int c = Pick(rng, {3, 5, 8});
    Builder b(rng);
    const int x = b.Input({1, h, w, c});
    const int r = b.Add(OpType::kRelu, {x}, {1, h, w, c});
    // Dead branches off the live chain, one per operator kind, some chained to each other.
    PoolOptions pool;
    pool.filter_h = pool.filter_w = pool.stride_h = pool.stride_w = 2;
    const int dead_pool = b.Add(OpType::kMaxPool2D, {r}, {1, h / 2, w / 2, c}, pool);
    PadOptions pad;
    pad.paddings = {{0, 0}, {0, 0}, {0, 0}, {0, 2}};
    b.Add(OpType::kPad, {dead_pool}, {1, h / 2, w / 2, c + 2}, pad);
    b.Add(OpType::kConv2D, {r, b.Weights({4, 3, 3, c}), b.Weights({4})}, {1, h, w, 4}, ConvOptions{});
    b.Add(OpType::kDepthwiseConv2D, {x, b.Weights({1, 3, 3, c}), b.Weights({c})}, {1, h, w, c}, ConvOptions{});
    b.Add(OpType::kPrelu, {r, b.Weights({1, 1, c})}, {1, h, w, c});
    b.Add(OpType::kMul, {r, x}, {1, h, w, c}, Elementwise(Activation::kNone));
    const int dead_flat = b.Add(OpType::kReshape, {r}, {1, h * w, c});
    StridedSliceOptions slice;
    slice.begin = {0, 0, 0};
    slice.end = {1, h * w, 1};
    slice.strides = {1, 1, 1};
    b.Add(OpType::kStridedSlice, {dead_flat}, {1, h * w, 1}, slice);
    ConcatenationOptions cat;
    cat.axis = 3;
    b.Add(OpType::kConcatenation, {r, x}, {1, h, w, 2 * c}, cat);
    ResizeBilinearOptions resize;
    b.Add(OpType::kResizeBilinear, {r}, {1, 2 * h, 2 * w, c}, resize);
    const int dead_logistic = b.Add(OpType::kLogistic, {r}, {1, h, w, c});
    b.Add(OpType::kSqrt, {dead_logistic}, {1, h, w, c});
    b.Add(OpType::kRsqrt, {dead_logistic}, {1, h, w, c});
    b.Add(OpType::kNeg, {x}, {1, h, w, c});
    b.Add(OpType::kSub, {r, x}, {1, h, w, c}, Elementwise(Activation::kNone));
    b.Add(OpType::kDiv, {dead_logistic, dead_logistic}, {1, h, w, c}, Elementwise(Activation::kNone));
    b.Add(OpType::kSquaredDifference, {r, x}, {1, h, w, c}, Elementwise(Activation::kNone));
    const int dead_mean = b.Add(OpType::kMean, {r}, {1, h, w}, ReduceOptions{{3}, false});
    b.Add(OpType::kSum, {dead_mean}, {1, 1, 1}, ReduceOptions{{1, 2}, true});
    b.Add(OpType::kTranspose, {r}, {c, h, w, 1}, TransposeOptions{{3, 1, 2, 0}});
    // The live chain goes on after the dead operators.
    const int s = b.Add(OpType::kAdd, {r, x}, {1, h, w, c}, Elementwise(Activation::kNone));
    b.Output(b.Add(OpType::kMaxPool2D, {s}, {1, h / 2, w / 2, c}, pool));
    CheckAgainstReference(b.graph(), rng, "dead branches " + ShapeLabel({1, h, w, c}));
    if (HasFatalFailure()) return;
  }
}

// A small BlazeFace-like block: conv -> prelu -> depthwise (stride 2) -> conv 1x1, a max-pooled,
// channel-padded shortcut, add + relu, then two heads reshaped and concatenated, as in the
// detectors. Checks that chained ops and multiple outputs line up.
TEST(OpTest, ChainedBlock) {
  std::mt19937 rng(1201);
  for (int rep = 0; rep < kShapesPerCase; ++rep) {
    const int h = 2 * RandInt(rng, 3, 11), w = 2 * RandInt(rng, 3, 11);
    const int c = Pick(rng, {3, 7, 8});
    const int c2 = c + Pick(rng, {2, 5, 8});
    Builder b(rng);
    const int x = b.Input({1, h, w, 3});
    ConvOptions stem;
    const int s =
        b.Add(OpType::kConv2D, {x, b.Weights({c, 3, 3, 3}), b.Weights({c})}, {1, h, w, c}, stem);
    const int p = b.Add(OpType::kPrelu, {s, b.Weights({1, 1, c})}, {1, h, w, c});
    ConvOptions dw;
    dw.stride_h = dw.stride_w = 2;
    const int d = b.Add(OpType::kDepthwiseConv2D, {p, b.Weights({1, 5, 5, c}), b.Weights({c})},
                        {1, h / 2, w / 2, c}, dw);
    const int e = b.Add(OpType::kConv2D, {d, b.Weights({c2, 1, 1, c}), b.Weights({c2})},
                        {1, h / 2, w / 2, c2}, ConvOptions{});
    PoolOptions pool;
    pool.filter_h = pool.filter_w = 2;
    pool.stride_h = pool.stride_w = 2;
    const int m = b.Add(OpType::kMaxPool2D, {p}, {1, h / 2, w / 2, c}, pool);
    PadOptions pad;
    pad.paddings = {{0, 0}, {0, 0}, {0, 0}, {0, c2 - c}};
    const int padded = b.Add(OpType::kPad, {m}, {1, h / 2, w / 2, c2}, pad);
    const int sum =
        b.Add(OpType::kAdd, {e, padded}, {1, h / 2, w / 2, c2}, Elementwise(Activation::kRelu));
    const int cells = (h / 2) * (w / 2);
    const int box = b.Add(OpType::kConv2D, {sum, b.Weights({4, 1, 1, c2}), b.Weights({4})},
                          {1, h / 2, w / 2, 4}, ConvOptions{});
    const int box_flat = b.Add(OpType::kReshape, {box}, {1, 2 * cells, 2});
    const int box_b = b.Add(OpType::kConv2D, {sum, b.Weights({2, 1, 1, c2}), b.Weights({2})},
                            {1, h / 2, w / 2, 2}, ConvOptions{});
    const int box_b_flat = b.Add(OpType::kReshape, {box_b}, {1, cells, 2});
    ConcatenationOptions cat;
    cat.axis = 1;
    b.Output(b.Add(OpType::kConcatenation, {box_flat, box_b_flat}, {1, 3 * cells, 2}, cat));
    b.Output(sum);
    CheckAgainstReference(b.graph(), rng,
                          "block " + ShapeLabel({1, h, w, 3}) + " c " + std::to_string(c) + " c2 " +
                              std::to_string(c2));
    if (HasFatalFailure()) return;
  }
}

}  // namespace
}  // namespace speakup::engine
