// The first, plain scalar version of WarpRoiToTensorOpenCv (one pixel at a time, every coordinate
// computed from scratch), kept for the tests only: the fast version must match it bit for bit.
#pragma once

#include "warp.h"

namespace speakup::face::reference {

void ReferenceWarpRoiToTensorOpenCv(const ImageView& image, const Roi& roi, int out_width, int out_height,
                                    float range_min, float range_max, BorderMode border, float* out);

}  // namespace speakup::face::reference
