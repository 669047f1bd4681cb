// FlexBuffers custom_options of MediaPipe's custom operators. Key names and types are those written
// by MediaPipe's converter and read by TensorFlow Lite's MediaPipe option parsers
// (tensorflow/lite/delegates/gpu/common/mediapipe/*.cc); see custom_options.h for what is required.
#include "custom_options.h"

#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include <flatbuffers/flexbuffers.h>

namespace speakup::engine {
namespace {

constexpr size_t kMaxOptionsBytes = 1 << 20;
constexpr int64_t kMaxSize = 4096;        // output_height / output_width
constexpr int64_t kMaxIndex = 65535;      // landmark indices
constexpr size_t kMaxVectorLength = 4096;  // subset_idxs

const char* Describe(flexbuffers::Type type) {
  switch (type) {
    case flexbuffers::FBT_NULL: return "null";
    case flexbuffers::FBT_INT:
    case flexbuffers::FBT_INDIRECT_INT: return "a signed integer";
    case flexbuffers::FBT_UINT:
    case flexbuffers::FBT_INDIRECT_UINT: return "an unsigned integer";
    case flexbuffers::FBT_FLOAT:
    case flexbuffers::FBT_INDIRECT_FLOAT: return "a float";
    case flexbuffers::FBT_BOOL: return "a bool";
    case flexbuffers::FBT_KEY:
    case flexbuffers::FBT_STRING: return "a string";
    case flexbuffers::FBT_MAP: return "a map";
    case flexbuffers::FBT_BLOB: return "a blob";
    default: return "a vector";
  }
}

// Owns an aligned copy of the bytes and answers typed, range-checked lookups in the root map.
// Holds pointers into its own storage: neither copied nor moved.
class OptionsReader {
 public:
  explicit OptionsReader(std::string context) : context_(std::move(context)) {}
  OptionsReader(const OptionsReader&) = delete;
  OptionsReader& operator=(const OptionsReader&) = delete;

  Status Open(std::span<const uint8_t> bytes) {
    if (bytes.empty()) return Status::Error(context_ + ": custom_options are empty");
    if (bytes.size() > kMaxOptionsBytes) {
      return Status::Error(context_ + ": custom_options are too large (" +
                           std::to_string(bytes.size()) + " bytes)");
    }
    // A heap copy is aligned for every scalar width the verifier allows.
    bytes_.assign(bytes.begin(), bytes.end());
    const std::string malformed = context_ + ": custom_options are not a valid FlexBuffer (" +
                                  std::to_string(bytes.size()) + " bytes)";
    if (!flexbuffers::VerifyBuffer(bytes_.data(), bytes_.size())) return Status::Error(malformed);
    // The verifier does not check the root's alignment; a Builder always aligns it.
    const size_t root_width = bytes_.back();
    if ((bytes_.size() - 2 - root_width) % root_width != 0) return Status::Error(malformed);
    root_ = flexbuffers::GetRoot(bytes_.data(), bytes_.size());
    if (!root_.IsMap()) {
      return Status::Error(context_ + ": custom_options are " + Describe(root_.GetType()) +
                           ", expected a map");
    }
    // flatbuffers 2.0.8's verifier accepts a key without its NUL terminator; map lookups run
    // strcmp over every key they visit, so make sure each one ends inside the buffer.
    const flexbuffers::TypedVector keys = root_.AsMap().Keys();
    const uint8_t* begin = bytes_.data();
    const uint8_t* end = begin + bytes_.size();
    for (size_t i = 0; i < keys.size(); ++i) {
      const auto* key = reinterpret_cast<const uint8_t*>(keys[i].AsKey());
      if (key < begin || key >= end || std::memchr(key, 0, static_cast<size_t>(end - key)) == nullptr) {
        return Status::Error(malformed);
      }
    }
    return Status::Ok();
  }

  bool Has(const char* key) const { return !Lookup(key).IsNull(); }

  Expected<int32_t> Int(const char* key, int64_t min, int64_t max) const {
    const flexbuffers::Reference value = Lookup(key);
    if (value.IsNull()) return Missing(key);
    if (!value.IsIntOrUint()) return WrongType(key, value, "an integer");
    return CheckRange(key, value, min, max);
  }

  // A number (integer or float) that fits a finite float.
  Expected<float> Float(const char* key) const {
    const flexbuffers::Reference value = Lookup(key);
    if (value.IsNull()) return Missing(key);
    if (!value.IsNumeric()) return WrongType(key, value, "a number");
    const double number = value.AsDouble();
    if (!std::isfinite(number) || std::fabs(number) > std::numeric_limits<float>::max()) {
      return Fail(key, "is not a finite 32-bit float");
    }
    return static_cast<float>(number);
  }

  // A vector of integers: typed (FBT_VECTOR_INT/UINT), fixed-size typed, or untyped with integer
  // elements.
  Expected<std::vector<int32_t>> IntVector(const char* key, int64_t min, int64_t max) const {
    const flexbuffers::Reference value = Lookup(key);
    if (value.IsNull()) return Missing(key);
    std::vector<int32_t> result;
    auto take = [&](const flexbuffers::Reference& element, size_t i) -> Status {
      if (!element.IsIntOrUint()) {
        return Status::Error(Prefix(key) + "element " + std::to_string(i) + " is " +
                             Describe(element.GetType()) + ", expected an integer");
      }
      auto number = CheckRange(key, element, min, max);
      if (!number) return number.status();
      result.push_back(*number);
      return Status::Ok();
    };
    auto too_long = [&](size_t size) {
      return Fail(key, "has " + std::to_string(size) + " elements, more than " +
                           std::to_string(kMaxVectorLength));
    };
    if (value.GetType() == flexbuffers::FBT_VECTOR_INT ||
        value.GetType() == flexbuffers::FBT_VECTOR_UINT) {
      const flexbuffers::TypedVector vector = value.AsTypedVector();
      if (vector.size() > kMaxVectorLength) return too_long(vector.size());
      for (size_t i = 0; i < vector.size(); ++i) SPEAKUP_RETURN_IF_ERROR(take(vector[i], i));
    } else if (value.IsFixedTypedVector()) {
      const flexbuffers::FixedTypedVector vector = value.AsFixedTypedVector();
      for (size_t i = 0; i < vector.size(); ++i) SPEAKUP_RETURN_IF_ERROR(take(vector[i], i));
    } else if (value.IsUntypedVector()) {
      const flexbuffers::Vector vector = value.AsVector();
      if (vector.size() > kMaxVectorLength) return too_long(vector.size());
      for (size_t i = 0; i < vector.size(); ++i) SPEAKUP_RETURN_IF_ERROR(take(vector[i], i));
    } else {
      return WrongType(key, value, "a vector of integers");
    }
    return result;
  }

  std::string Prefix(const char* key) const { return context_ + ": custom option '" + key + "' "; }
  Unexpected Fail(const char* key, const std::string& problem) const {
    return Error(Prefix(key) + problem);
  }

 private:
  flexbuffers::Reference Lookup(const char* key) const { return root_.AsMap()[key]; }

  Unexpected Missing(const char* key) const { return Fail(key, "is missing"); }

  Unexpected WrongType(const char* key, const flexbuffers::Reference& value,
                       const char* expected) const {
    return Fail(key, std::string("is ") + Describe(value.GetType()) + ", expected " + expected);
  }

  Expected<int32_t> CheckRange(const char* key, const flexbuffers::Reference& value, int64_t min,
                               int64_t max) const {
    if (value.IsUInt()) {
      const uint64_t number = value.AsUInt64();
      if (number > static_cast<uint64_t>(max) || static_cast<int64_t>(number) < min) {
        return Fail(key, "is " + std::to_string(number) + Range(min, max));
      }
      return static_cast<int32_t>(number);
    }
    const int64_t number = value.AsInt64();
    if (number < min || number > max) return Fail(key, "is " + std::to_string(number) + Range(min, max));
    return static_cast<int32_t>(number);
  }

  static std::string Range(int64_t min, int64_t max) {
    return ", expected a value in [" + std::to_string(min) + ", " + std::to_string(max) + "]";
  }

  std::string context_;
  std::vector<uint8_t> bytes_;
  flexbuffers::Reference root_;
};

Expected<OpOptions> ParseLandmarks2TransformMatrix(const OptionsReader& reader) {
  Landmarks2TransformMatrixOptions options;
  auto subset = reader.IntVector("subset_idxs", 0, kMaxIndex);
  if (!subset) return subset.status();
  if (subset->empty()) return reader.Fail("subset_idxs", "is empty");
  options.subset_idxs = std::move(*subset);

  auto left = reader.Int("left_rotation_idx", 0, kMaxIndex);
  if (!left) return left.status();
  options.left_rotation_idx = *left;
  auto right = reader.Int("right_rotation_idx", 0, kMaxIndex);
  if (!right) return right.status();
  options.right_rotation_idx = *right;

  if (reader.Has("target_rotation_radians")) {
    auto target = reader.Float("target_rotation_radians");
    if (!target) return target.status();
    options.target_rotation_radians = *target;
  }

  auto height = reader.Int("output_height", 1, kMaxSize);
  if (!height) return height.status();
  options.output_height = *height;
  auto width = reader.Int("output_width", 1, kMaxSize);
  if (!width) return width.status();
  options.output_width = *width;

  auto scale_x = reader.Float("scale_x");
  if (!scale_x) return scale_x.status();
  if (!(*scale_x > 0)) return reader.Fail("scale_x", "must be positive, is " + std::to_string(*scale_x));
  options.scale_x = *scale_x;
  auto scale_y = reader.Float("scale_y");
  if (!scale_y) return scale_y.status();
  if (!(*scale_y > 0)) return reader.Fail("scale_y", "must be positive, is " + std::to_string(*scale_y));
  options.scale_y = *scale_y;
  return OpOptions(std::move(options));
}

Expected<OpOptions> ParseTransformTensorBilinear(const OptionsReader& reader) {
  TransformTensorBilinearOptions options;
  auto height = reader.Int("output_height", 1, kMaxSize);
  if (!height) return height.status();
  options.output_height = *height;
  auto width = reader.Int("output_width", 1, kMaxSize);
  if (!width) return width.status();
  options.output_width = *width;
  return OpOptions(options);
}

}  // namespace

Expected<OpOptions> ParseCustomOptions(OpType type, std::span<const uint8_t> flexbuffer,
                                       const std::string& op_name) {
  switch (type) {
    case OpType::kLandmarks2TransformMatrix: {
      OptionsReader reader(op_name);
      SPEAKUP_RETURN_IF_ERROR(reader.Open(flexbuffer));
      return ParseLandmarks2TransformMatrix(reader);
    }
    case OpType::kTransformTensorBilinear: {
      OptionsReader reader(op_name);
      SPEAKUP_RETURN_IF_ERROR(reader.Open(flexbuffer));
      return ParseTransformTensorBilinear(reader);
    }
    case OpType::kTransformLandmarks:
      // Version 2 has no options: MediaPipe never reads the bytes (empty in the model).
      return OpOptions(NoOptions{});
    default:
      return Error(op_name + ": custom options are only defined for MediaPipe's custom operators");
  }
}

}  // namespace speakup::engine
