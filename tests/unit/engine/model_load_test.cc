// Loading .tflite files: tiny models built in the test with the generated flatbuffers API, the real
// face models, and every kind of bad file (missing, empty, truncated, random, corrupted, unsupported).
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <span>

#include "speakup/engine.h"
#include "tflite_schema_generated.h"

namespace speakup::engine {
namespace {

namespace tfl = speakup::tflite;

std::vector<uint8_t> ReadFile(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>()};
}

std::string ModelPath(const std::string& stem) { return std::string(SPEAKUP_MODELS_DIR) + "/" + stem + ".tflite"; }

// A one-operator model: input [1,5,5,2] -> op -> output, with a 3x3x2->3 filter and bias available
// as tensors 2 and 3 for convolutions. `customize` may change anything before the buffer is finished.
struct TinyModel {
  int32_t builtin_code = 3;  // CONV_2D
  std::string custom_code;
  tfl::ActivationFunctionType activation = tfl::ActivationFunctionType_RELU;
  std::vector<int32_t> output_shape = {1, 5, 5, 3};
  bool quantize_input = false;
  std::vector<uint8_t> custom_options;

  std::vector<uint8_t> Build() const {
    flatbuffers::FlatBufferBuilder fbb;
    std::vector<float> filter(3 * 3 * 3 * 2, 0.25f), bias = {0.5f, -0.5f, 1.0f};
    auto bytes = [&](const std::vector<float>& v) {
      return fbb.CreateVector(reinterpret_cast<const uint8_t*>(v.data()), v.size() * sizeof(float));
    };
    std::vector<flatbuffers::Offset<tfl::Buffer>> buffers = {
        tfl::CreateBuffer(fbb), tfl::CreateBuffer(fbb, bytes(filter)), tfl::CreateBuffer(fbb, bytes(bias))};
    flatbuffers::Offset<tfl::QuantizationParameters> quantization = 0;
    if (quantize_input) quantization = tfl::CreateQuantizationParameters(fbb, 0, 0, fbb.CreateVector(std::vector<float>{0.1f}));
    std::vector<flatbuffers::Offset<tfl::Tensor>> tensors = {
        tfl::CreateTensor(fbb, fbb.CreateVector(std::vector<int32_t>{1, 5, 5, 2}), tfl::TensorType_FLOAT32, 0,
                          fbb.CreateString("input"), quantization),
        tfl::CreateTensor(fbb, fbb.CreateVector(output_shape), tfl::TensorType_FLOAT32, 0, fbb.CreateString("output")),
        tfl::CreateTensor(fbb, fbb.CreateVector(std::vector<int32_t>{3, 3, 3, 2}), tfl::TensorType_FLOAT32, 1,
                          fbb.CreateString("filter")),
        tfl::CreateTensor(fbb, fbb.CreateVector(std::vector<int32_t>{3}), tfl::TensorType_FLOAT32, 2,
                          fbb.CreateString("bias")),
    };
    const bool conv = builtin_code == 3;
    std::vector<int32_t> inputs = conv ? std::vector<int32_t>{0, 2, 3} : std::vector<int32_t>{0};
    auto options = tfl::CreateConv2DOptions(fbb, tfl::Padding_SAME, 1, 1, activation).Union();
    auto op = tfl::CreateOperator(fbb, 0, fbb.CreateVector(inputs), fbb.CreateVector(std::vector<int32_t>{1}),
                                  conv ? tfl::BuiltinOptions_Conv2DOptions : tfl::BuiltinOptions_NONE,
                                  conv ? options : 0, custom_options.empty() ? 0 : fbb.CreateVector(custom_options));
    auto subgraph = tfl::CreateSubGraph(fbb, fbb.CreateVector(tensors), fbb.CreateVector(std::vector<int32_t>{0}),
                                        fbb.CreateVector(std::vector<int32_t>{1}), fbb.CreateVector(&op, 1));
    auto code = tfl::CreateOperatorCode(fbb, static_cast<int8_t>(std::min(builtin_code, 127)),
                                        custom_code.empty() ? 0 : fbb.CreateString(custom_code), 1, builtin_code);
    auto model = tfl::CreateModel(fbb, 3, fbb.CreateVector(&code, 1), fbb.CreateVector(&subgraph, 1), 0,
                                  fbb.CreateVector(buffers));
    tfl::FinishModelBuffer(fbb, model);
    return {fbb.GetBufferPointer(), fbb.GetBufferPointer() + fbb.GetSize()};
  }
};

TEST(ModelLoad, TinyConvolutionLoadsAndComputes) {
  auto model = Model::FromBytes(TinyModel().Build(), "tiny");
  ASSERT_TRUE(model.ok()) << model.error();
  ASSERT_EQ((*model)->inputs().size(), 1u);
  EXPECT_EQ((*model)->inputs()[0].shape, (std::vector<int32_t>{1, 5, 5, 2}));
  EXPECT_EQ((*model)->outputs()[0].element_count, 75u);
  auto runner = Runner::Create(*model);
  ASSERT_TRUE(runner.ok()) << runner.error();
  std::fill((*runner)->input(0).begin(), (*runner)->input(0).end(), 1.0f);
  ASSERT_TRUE((*runner)->Run().ok());
  auto out = (*runner)->output(0);
  // Centre pixel sees 9 taps x 2 channels x 0.25 = 4.5 plus bias; corners see 4 taps = 2.0 plus bias.
  const size_t centre = (2 * 5 + 2) * 3;
  EXPECT_FLOAT_EQ(out[centre + 0], 5.0f);
  EXPECT_FLOAT_EQ(out[centre + 1], 4.0f);
  EXPECT_FLOAT_EQ(out[centre + 2], 5.5f);
  EXPECT_FLOAT_EQ(out[0], 2.5f);
  EXPECT_FLOAT_EQ(out[1], 1.5f);
}

void ExpectLoadError(const std::vector<uint8_t>& bytes, const std::string& fragment) {
  auto model = Model::FromBytes(bytes, "bad.tflite");
  ASSERT_FALSE(model.ok()) << "expected an error containing '" << fragment << "'";
  EXPECT_NE(model.error().find("bad.tflite"), std::string::npos) << model.error();
  EXPECT_NE(model.error().find(fragment), std::string::npos) << model.error();
}

TEST(ModelLoad, MissingFileNamesTheFixCommand) {
  auto model = Model::Load("/nonexistent/face_landmark.tflite");
  ASSERT_FALSE(model.ok());
  EXPECT_NE(model.error().find("/nonexistent/face_landmark.tflite"), std::string::npos) << model.error();
  EXPECT_NE(model.error().find("make models"), std::string::npos) << model.error();
}

TEST(ModelLoad, EmptyAndTinyFiles) {
  ExpectLoadError({}, "too small");
  ExpectLoadError({1, 2, 3}, "too small");
}

TEST(ModelLoad, RandomBytes) {
  std::mt19937 random(1);
  for (size_t size : {8u, 64u, 1000u, 100000u}) {
    std::vector<uint8_t> bytes(size);
    for (auto& b : bytes) b = static_cast<uint8_t>(random());
    ExpectLoadError(bytes, "");
    // Random bytes with the right identifier get past the first check and must fail verification.
    std::memcpy(bytes.data() + 4, "TFL3", 4);
    ExpectLoadError(bytes, "");
  }
}

TEST(ModelLoad, UnsupportedBuiltinIsNamed) {
  TinyModel tiny;
  tiny.builtin_code = 49;  // SPLIT
  ExpectLoadError(tiny.Build(), "SPLIT");
  tiny.builtin_code = 150;  // a code newer than the engine knows
  ExpectLoadError(tiny.Build(), "150");
}

TEST(ModelLoad, UnsupportedCustomOperatorIsNamed) {
  TinyModel tiny;
  tiny.builtin_code = 32;
  tiny.custom_code = "FancyAttention";
  ExpectLoadError(tiny.Build(), "FancyAttention");
}

TEST(ModelLoad, UnsupportedOptionsAreNamed) {
  TinyModel tiny;
  tiny.activation = tfl::ActivationFunctionType_TANH;
  ExpectLoadError(tiny.Build(), "fused activation");
  TinyModel quantized;
  quantized.quantize_input = true;
  ExpectLoadError(quantized.Build(), "quantized");
}

TEST(ModelLoad, OutputShapeThatDisagreesWithTheOperatorIsRefused) {
  TinyModel tiny;
  tiny.output_shape = {1, 5, 5, 2};  // the filter makes 3 channels: a too-small buffer otherwise
  ExpectLoadError(tiny.Build(), "needs [1,5,5,3]");
}

TEST(ModelLoad, EveryTruncationOfATinyModelFailsCleanly) {
  const std::vector<uint8_t> bytes = TinyModel().Build();
  for (size_t size = 0; size < bytes.size(); ++size) {
    auto model = Model::FromBytes(std::span(bytes.data(), size), "bad.tflite");
    EXPECT_FALSE(model.ok()) << "truncated to " << size << " bytes";
  }
}

TEST(ModelLoad, EverySingleByteCorruptionOfATinyModelIsSafe) {
  // Each byte set to a few hostile values: the load either fails with a message or yields a model
  // that still validates and runs (a changed weight is still a valid model). Never a crash (ASan).
  const std::vector<uint8_t> original = TinyModel().Build();
  size_t failures = 0;
  for (size_t i = 0; i < original.size(); ++i) {
    for (uint8_t value : {uint8_t{0x00}, uint8_t{0xff}, uint8_t{0x7f}, static_cast<uint8_t>(original[i] + 1)}) {
      std::vector<uint8_t> bytes = original;
      bytes[i] = value;
      auto model = Model::FromBytes(bytes, "bad.tflite");
      if (!model.ok()) {
        EXPECT_FALSE(model.error().empty());
        ++failures;
        continue;
      }
      auto runner = Runner::Create(*model);
      ASSERT_TRUE(runner.ok()) << runner.error();
      EXPECT_TRUE((*runner)->Run().ok());
    }
  }
  EXPECT_GT(failures, 0u);
}

// A one-operator model whose second input is an INT32 operand (MEAN/SUM axes, TRANSPOSE perm):
// input [1,5,5,2] -> op(input, operand) -> output. The operand has data unless `operand_constant` is
// false, in which case nothing computes it (a tensor the engine cannot resolve at load).
struct TinyIntOperandModel {
  tfl::BuiltinOperator op = tfl::BuiltinOperator_MEAN;
  std::vector<int32_t> operand = {1, 2};
  bool operand_constant = true;
  bool keep_dims = true;
  std::vector<int32_t> output_shape = {1, 1, 1, 2};

  std::vector<uint8_t> Build() const {
    flatbuffers::FlatBufferBuilder fbb;
    std::vector<flatbuffers::Offset<tfl::Buffer>> buffers = {tfl::CreateBuffer(fbb)};
    if (operand_constant) {
      buffers.push_back(tfl::CreateBuffer(
          fbb, fbb.CreateVector(reinterpret_cast<const uint8_t*>(operand.data()), operand.size() * sizeof(int32_t))));
    }
    std::vector<flatbuffers::Offset<tfl::Tensor>> tensors = {
        tfl::CreateTensor(fbb, fbb.CreateVector(std::vector<int32_t>{1, 5, 5, 2}), tfl::TensorType_FLOAT32, 0,
                          fbb.CreateString("input")),
        tfl::CreateTensor(fbb, fbb.CreateVector(output_shape), tfl::TensorType_FLOAT32, 0, fbb.CreateString("output")),
        tfl::CreateTensor(fbb, fbb.CreateVector(std::vector<int32_t>{static_cast<int32_t>(operand.size())}),
                          tfl::TensorType_INT32, operand_constant ? 1 : 0, fbb.CreateString("operand")),
    };
    const bool reducer = op == tfl::BuiltinOperator_MEAN || op == tfl::BuiltinOperator_SUM;
    auto options =
        reducer ? tfl::CreateReducerOptions(fbb, keep_dims).Union() : tfl::CreateTransposeOptions(fbb).Union();
    auto op_offset = tfl::CreateOperator(
        fbb, 0, fbb.CreateVector(std::vector<int32_t>{0, 2}), fbb.CreateVector(std::vector<int32_t>{1}),
        reducer ? tfl::BuiltinOptions_ReducerOptions : tfl::BuiltinOptions_TransposeOptions, options);
    auto subgraph = tfl::CreateSubGraph(fbb, fbb.CreateVector(tensors), fbb.CreateVector(std::vector<int32_t>{0}),
                                        fbb.CreateVector(std::vector<int32_t>{1}), fbb.CreateVector(&op_offset, 1));
    auto code = tfl::CreateOperatorCode(fbb, static_cast<int8_t>(op), 0, 1, op);
    auto model = tfl::CreateModel(fbb, 3, fbb.CreateVector(&code, 1), fbb.CreateVector(&subgraph, 1), 0,
                                  fbb.CreateVector(buffers));
    tfl::FinishModelBuffer(fbb, model);
    return {fbb.GetBufferPointer(), fbb.GetBufferPointer() + fbb.GetSize()};
  }
};

// Runs a loaded tiny model on input values 0, 1, 2, ... and returns its output.
std::vector<float> RunOnIota(const std::vector<uint8_t>& bytes) {
  auto model = Model::FromBytes(bytes, "tiny");
  EXPECT_TRUE(model.ok()) << model.error();
  if (!model.ok()) return {};
  auto runner = Runner::Create(*model);
  EXPECT_TRUE(runner.ok()) << runner.error();
  if (!runner.ok()) return {};
  std::span<float> in = (*runner)->input(0);
  for (size_t i = 0; i < in.size(); ++i) in[i] = static_cast<float>(i);
  EXPECT_TRUE((*runner)->Run().ok());
  auto out = (*runner)->output(0);
  return {out.begin(), out.end()};
}

TEST(ModelLoad, TinyReductionsAndTransposeLoadAndCompute) {
  // Input [1,5,5,2] holds 0..49: element (y, x, c) = 10y + 2x + c.
  TinyIntOperandModel mean;  // over H and W, keep_dims: the mean of 10y + 2x + c is 20 + 4 + c
  EXPECT_EQ(RunOnIota(mean.Build()), (std::vector<float>{24.0f, 25.0f}));
  TinyIntOperandModel sum;
  sum.op = tfl::BuiltinOperator_SUM;
  sum.operand = {-1, 3};  // the same axis twice, one of them negative: TFLite reduces it once
  sum.keep_dims = false;
  sum.output_shape = {1, 5, 5};
  const std::vector<float> sums = RunOnIota(sum.Build());
  ASSERT_EQ(sums.size(), 25u);
  EXPECT_EQ(sums[0], 1.0f);    // 0 + 1
  EXPECT_EQ(sums[24], 97.0f);  // 48 + 49
  TinyIntOperandModel transpose;
  transpose.op = tfl::BuiltinOperator_TRANSPOSE;
  transpose.operand = {0, 3, 1, 2};
  transpose.output_shape = {1, 2, 5, 5};
  const std::vector<float> planes = RunOnIota(transpose.Build());
  ASSERT_EQ(planes.size(), 50u);
  EXPECT_EQ(planes[1], 2.0f);   // channel 0, y 0, x 1
  EXPECT_EQ(planes[25], 1.0f);  // channel 1, y 0, x 0
}

TEST(ModelLoad, AxesAndPermThatAreNotConstantAreRefusedByName) {
  TinyIntOperandModel mean;
  mean.operand_constant = false;
  ExpectLoadError(mean.Build(), "(MEAN): tensor 'operand' must be a constant");
  TinyIntOperandModel transpose;
  transpose.op = tfl::BuiltinOperator_TRANSPOSE;
  transpose.operand = {0, 3, 1, 2};
  transpose.output_shape = {1, 2, 5, 5};
  transpose.operand_constant = false;
  ExpectLoadError(transpose.Build(), "(TRANSPOSE): tensor 'operand' must be a constant");
}

TEST(ModelLoad, BadAxesAndPermsAreRefusedByName) {
  TinyIntOperandModel sum;
  sum.op = tfl::BuiltinOperator_SUM;
  sum.operand = {4};
  ExpectLoadError(sum.Build(), "(SUM): axis 4 is out of range for a rank 4 input");
  sum.operand = {-5};
  ExpectLoadError(sum.Build(), "(SUM): axis -5 is out of range");
  TinyIntOperandModel mean;
  mean.keep_dims = false;  // the declared [1,1,1,2] is keep_dims' shape
  ExpectLoadError(mean.Build(), "(MEAN): tensor 'output' is declared [1,1,1,2] but the operator needs [1,2]");
  TinyIntOperandModel transpose;
  transpose.op = tfl::BuiltinOperator_TRANSPOSE;
  transpose.operand = {0, 3, 3, 2};
  transpose.output_shape = {1, 2, 2, 5};
  ExpectLoadError(transpose.Build(), "(TRANSPOSE): perm [0,3,3,2] is not a permutation of 4 dimensions");
  transpose.operand = {0, 3, 1};
  ExpectLoadError(transpose.Build(), "(TRANSPOSE): perm has 3 entries for input [1,5,5,2]");
  transpose.operand = {0, 3, 1, 2};
  transpose.output_shape = {1, 5, 5, 2};
  ExpectLoadError(transpose.Build(), "needs [1,2,5,5]");
}

class RealModelLoad : public testing::TestWithParam<std::string> {};

// What each model's interface must be: its input shape and its outputs' shapes, in order.
struct ExpectedInterface {
  std::vector<int32_t> input;
  std::vector<std::vector<int32_t>> outputs;
};

ExpectedInterface InterfaceOf(const std::string& stem) {
  const std::vector<int32_t> mesh = {1, 1, 1, 1404}, flag = {1, 1, 1, 1};
  if (stem == "face_landmark") return {{1, 192, 192, 3}, {mesh, flag}};
  if (stem == "face_landmark_with_attention") {
    return {{1, 192, 192, 3},
            {mesh, {1, 1, 1, 160}, {1, 1, 1, 142}, {1, 1, 1, 142}, {1, 1, 1, 10}, {1, 1, 1, 10}, flag}};
  }
  // Face Mesh V2 of the Face Landmarker bundle: 478 x,y,z (with the irises), the face-presence logit and
  // its sigmoid.
  if (stem == "face_landmarks_detector") return {{1, 256, 256, 3}, {{1, 1, 1, 1434}, flag, {1, 1}}};
  // 146 landmarks' x,y in, 52 blendshape scores out.
  if (stem == "face_blendshapes") return {{1, 146, 2}, {{52}}};
  if (stem == "face_detection_short_range") return {{1, 128, 128, 3}, {{1, 896, 16}, {1, 896, 1}}};
  return {{1, 192, 192, 3}, {{1, 2304, 16}, {1, 2304, 1}}};  // face_detection_full_range
}

TEST_P(RealModelLoad, LoadsWithTheExpectedInterface) {
  const std::string path = ModelPath(GetParam());
  ASSERT_TRUE(std::filesystem::exists(path)) << path << " is missing: run `make models`";
  auto model = Model::Load(path);
  ASSERT_TRUE(model.ok()) << model.error();
  const ExpectedInterface expected = InterfaceOf(GetParam());
  ASSERT_EQ((*model)->inputs().size(), 1u);
  EXPECT_EQ((*model)->inputs()[0].shape, expected.input);
  ASSERT_EQ((*model)->outputs().size(), expected.outputs.size());
  for (size_t i = 0; i < expected.outputs.size(); ++i) {
    EXPECT_EQ((*model)->outputs()[i].shape, expected.outputs[i]) << "output " << i;
  }
}

// MediaPipe appends a zip archive (metadata files, possibly none) after some models' flatbuffer: the
// offset where it starts, from its end-of-central-directory record, or the file size when there is none.
size_t FlatbufferEnd(const std::vector<uint8_t>& bytes) {
  constexpr size_t kEndRecordSize = 22;
  if (bytes.size() < kEndRecordSize) return bytes.size();
  const uint8_t* end_record = bytes.data() + bytes.size() - kEndRecordSize;
  if (std::memcmp(end_record, "PK\x05\x06", 4) != 0) return bytes.size();
  auto u16 = [&](size_t at) { return static_cast<size_t>(bytes[at] | bytes[at + 1] << 8); };
  auto u32 = [&](size_t at) { return u16(at) | u16(at + 2) << 16; };
  const size_t directory = u32(bytes.size() - kEndRecordSize + 16);
  size_t start = std::min(directory, bytes.size() - kEndRecordSize);
  // Each central directory entry names where its file's local header starts.
  for (size_t entry = directory; entry + 46 <= bytes.size() && std::memcmp(&bytes[entry], "PK\x01\x02", 4) == 0;
       entry += 46 + u16(entry + 28) + u16(entry + 30) + u16(entry + 32)) {
    start = std::min(start, u32(entry + 42));
  }
  return start;
}

TEST_P(RealModelLoad, TruncatedAtManyOffsetsFailsCleanly) {
  const std::vector<uint8_t> bytes = ReadFile(ModelPath(GetParam()));
  ASSERT_FALSE(bytes.empty()) << "run `make models`";
  // Cutting into an appended archive leaves the model intact; every cut into the flatbuffer must fail.
  const size_t end = FlatbufferEnd(bytes);
  ASSERT_GT(end, bytes.size() / 2);
  std::mt19937 random(3);
  std::vector<size_t> cuts = {0, 1, 4, 8, 16, 64, 1024, end / 2, end - 1};
  for (int i = 0; i < 40; ++i) cuts.push_back(random() % end);
  for (size_t cut : cuts) {
    auto model = Model::FromBytes(std::span(bytes.data(), cut), "bad.tflite");
    EXPECT_FALSE(model.ok()) << "truncated at " << cut;
    if (!model.ok()) {
      EXPECT_NE(model.error().find("bad.tflite"), std::string::npos);
    }
  }
}

TEST_P(RealModelLoad, CorruptedRootOffsetFailsVerification) {
  std::vector<uint8_t> bytes = ReadFile(ModelPath(GetParam()));
  ASSERT_FALSE(bytes.empty()) << "run `make models`";
  const uint32_t bad_offset = static_cast<uint32_t>(bytes.size()) + 1000;
  std::memcpy(bytes.data(), &bad_offset, 4);  // the root table offset points past the end
  ExpectLoadError(bytes, "corrupt");
}

TEST_P(RealModelLoad, AlteredFileFromDiskNamesTheFix) {
  std::vector<uint8_t> bytes = ReadFile(ModelPath(GetParam()));
  ASSERT_FALSE(bytes.empty()) << "run `make models`";
  bytes.resize(bytes.size() / 3);
  const auto path = std::filesystem::temp_directory_path() / ("speakup_altered_" + GetParam() + ".tflite");
  std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  auto model = Model::Load(path.string());
  std::filesystem::remove(path);
  ASSERT_FALSE(model.ok());
  EXPECT_NE(model.error().find(path.string()), std::string::npos) << model.error();
  EXPECT_NE(model.error().find("fetch_models.sh --force"), std::string::npos) << model.error();
}

INSTANTIATE_TEST_SUITE_P(FaceModels, RealModelLoad,
                         testing::Values("face_landmark", "face_landmark_with_attention", "face_detection_short_range",
                                         "face_detection_full_range", "face_landmarks_detector", "face_blendshapes"));

}  // namespace
}  // namespace speakup::engine
