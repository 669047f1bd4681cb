// Where the attention model's refined points go in the 478-point mesh: index tables from MediaPipe's
// graph text (mediapipe/modules/face_landmark/tensors_to_face_landmarks_with_attention.pbtxt,
// LandmarksRefinementCalculator options). Data, not code.
//
// The 478 points are built in this order: the 468 mesh points (x, y, z copied); the lips (80 points,
// x and y overwrite the mesh points listed, z kept); the left eye (71) and the right eye (71), the
// same way; the left iris (5) and the right iris (5) as points 468-472 and 473-477, with x and y
// from the model and z the mean z of the 16 eye-contour points listed for that eye.
// "Left" and "right" are MediaPipe's names for the model outputs output_left_* / output_right_*.
#pragma once

#include <array>

namespace speakup::face {

inline constexpr int kMeshPoints = 468;
inline constexpr int kRefinedPoints = 478;

extern const std::array<int, 80> kLipsRefinement;
extern const std::array<int, 71> kLeftEyeRefinement;
extern const std::array<int, 71> kRightEyeRefinement;
extern const std::array<int, 5> kLeftIrisRefinement;   // 468..472: centre, then edges
extern const std::array<int, 5> kRightIrisRefinement;  // 473..477
// Mesh points whose mean z becomes each iris's z: the eye's lower and upper contour.
extern const std::array<int, 16> kLeftIrisZAverage;
extern const std::array<int, 16> kRightIrisZAverage;

}  // namespace speakup::face
