// `speakup mesh`: face landmarks and head pose for image files, video files and cameras, as JSON
// Lines, CSV or OBJ; optionally the mesh drawn over the input (--render).
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <fstream>
#include <iostream>

#include "formats.h"
#include "render.h"
#include "speakup/annotate.h"
#include "speakup/face.h"
#include "speakup/media.h"
#include "subcommands.h"

namespace speakup::app {
namespace {

struct MeshOptions {
  std::vector<std::string> inputs;
  std::vector<std::string> cameras;
  std::string format = "jsonl";
  std::string output;  // empty: standard output
  std::string render;
  std::string models_dir = SPEAKUP_MODELS_DIR;
  std::string detector = "auto";  // auto: full range for still images, short range for videos and cameras
  int max_faces = 4;
  bool refine = false;
  std::string model = "mesh";  // mesh: legacy Face Mesh; landmarker: Tasks Face Landmarker (+ blendshapes)
  bool no_smoothing = false;
  size_t threads = 1;
  int64_t max_frames = 0;  // per input; 0 = all
} options;

volatile std::sig_atomic_t interrupted = 0;

// Photos often hold faces beyond the short-range detector's ~2 m (groups, people in the background);
// videos and cameras are mostly selfie distance, where MediaPipe uses the short-range model.
face::DetectorKind DetectorFor(const std::string& choice, bool still_image) {
  if (choice == "full") return face::DetectorKind::kFullRange;
  if (choice == "short") return face::DetectorKind::kShortRange;
  return still_image ? face::DetectorKind::kFullRange : face::DetectorKind::kShortRange;
}

// Writes results in the chosen format; CSV's header and OBJ's vertex numbering span all inputs.
class ResultWriter {
 public:
  ResultWriter(std::ostream& out, std::string format) : out_(out), format_(std::move(format)) {}

  void Write(const face::FaceResult& result, const FrameInfo& info, const face::Models& models) {
    if (format_ == "jsonl") {
      out_ << ToJson(result, info).dump() << "\n";
    } else if (format_ == "csv") {
      if (!csv_header_written_) {
        if (options.model == "landmarker") {
          out_ << CsvHeader(face::kLandmarkerLandmarks, /*blendshapes=*/true);
        } else {
          out_ << CsvHeader(options.refine ? face::kRefinedLandmarks : face::kMeshLandmarks);
        }
        csv_header_written_ = true;
      }
      out_ << CsvRows(result, info);
    } else {
      for (const face::Face& f : result.faces) {
        const std::string name = "frame" + std::to_string(info.frame) + "_face" + std::to_string(f.id);
        out_ << ObjMesh(f, models, name, next_vertex_);
        next_vertex_ += f.landmarks.size();
      }
    }
    out_.flush();
  }

 private:
  std::ostream& out_;
  std::string format_;
  bool csv_header_written_ = false;
  size_t next_vertex_ = 1;
};

void ShowProgress(const media::FrameSource& source, const media::Frame& frame) {
  const auto duration = source.duration_ms();
  if (!duration || *duration <= 0) {
    std::fprintf(stderr, "\r%s: frame %lld", source.name().c_str(), static_cast<long long>(frame.index));
    return;
  }
  const double fraction = std::min(1.0, frame.timestamp_ms / *duration);
  const int width = 30, filled = static_cast<int>(fraction * width);
  std::fprintf(stderr, "\r%s [%.*s%*s] %3d%%", source.name().c_str(), filled, "##############################",
               width - filled, "", static_cast<int>(100 * fraction));
}

// One input from open to end; returns false (after saying why on stderr) when it failed.
bool ProcessSource(Expected<std::unique_ptr<media::FrameSource>> opened, face::Workspace& workspace,
                   ResultWriter& writer, Renderer* renderer) {
  if (!opened) {
    std::cerr << "speakup mesh: " << opened.error() << "\n";
    return false;
  }
  media::FrameSource& source = **opened;
  face::PipelineOptions pipeline_options;
  pipeline_options.max_faces = options.max_faces;
  pipeline_options.refine = options.refine;
  pipeline_options.model =
      options.model == "landmarker" ? face::LandmarkModel::kLandmarker : face::LandmarkModel::kMesh;
  pipeline_options.smoothing = !options.no_smoothing;
  pipeline_options.static_images = source.is_still_image();
  pipeline_options.detector = DetectorFor(options.detector, source.is_still_image());
  face::Pipeline pipeline(pipeline_options);
  const bool progress = !source.is_still_image() && isatty(STDERR_FILENO);
  bool ok = true;
  while (!interrupted) {
    auto next = source.Next();
    if (!next) {
      std::cerr << (progress ? "\n" : "") << "speakup mesh: " << source.name() << ": " << next.error() << "\n";
      ok = false;
      break;
    }
    if (!*next) break;
    const media::Frame& frame = **next;
    if (options.max_frames > 0 && frame.index >= options.max_frames) break;
    const face::ImageView image = annotate::ImageOf(frame);
    auto result = pipeline.Process(image, frame.timestamp_ms, workspace);
    if (!result) {
      std::cerr << "speakup mesh: " << source.name() << ": " << result.error() << "\n";
      ok = false;
      break;
    }
    writer.Write(*result, {source.name(), frame.index, frame.timestamp_ms}, workspace.models());
    if (renderer) {
      Status drawn = renderer->Add(frame, *result, source);
      if (!drawn.ok()) {
        std::cerr << "speakup mesh: " << drawn.message() << "\n";
        ok = false;
        break;
      }
    }
    if (progress) ShowProgress(source, frame);
  }
  if (progress) std::fputc('\n', stderr);
  return ok;
}

}  // namespace

CLI::App* AddMeshCommand(CLI::App& app) {
  CLI::App* mesh = app.add_subcommand("mesh", "Face landmarks and head pose for images, videos and cameras");
  mesh->add_option("inputs", options.inputs, "Image or video files");
  mesh->add_option("--camera", options.cameras, "A camera device, e.g. /dev/video0 (repeatable)");
  mesh->add_option("--format", options.format, "Output format")
      ->check(CLI::IsMember({"jsonl", "csv", "obj"}))
      ->capture_default_str();
  mesh->add_option("-o,--output", options.output, "Write results to this file instead of standard output");
  mesh->add_option("--render", options.render, "Draw the mesh over the input into this file (.png/.jpg for one "
                                               "image, .mp4/.mkv/.webm for a video or camera)");
  mesh->add_option("--max-faces", options.max_faces, "Most faces per image or frame")
      ->check(CLI::Range(1, 16))
      ->capture_default_str();
  mesh->add_flag("--refine", options.refine, "478 landmarks with refined eyes, lips and irises (attention model)");
  mesh->add_option("--model", options.model,
                   "mesh: MediaPipe Face Mesh (468 points, 478 with --refine); landmarker: MediaPipe Face Landmarker "
                   "(Face Mesh V2, 478 points, 52 blendshapes; smooths videos only with --max-faces 1, as MediaPipe)")
      ->check(CLI::IsMember({"mesh", "landmarker"}))
      ->capture_default_str();
  mesh->add_option("--detector", options.detector,
                   "auto: full for still images, short for videos and cameras; short: faces within ~2 m; "
                   "full: faces up to ~5 m")
      ->check(CLI::IsMember({"auto", "short", "full"}))
      ->capture_default_str();
  mesh->add_flag("--no-smoothing", options.no_smoothing, "Do not smooth landmarks over time in videos");
  mesh->add_option("--threads", options.threads, "Inference threads")->check(CLI::Range(1, 64))->capture_default_str();
  mesh->add_option("--max-frames", options.max_frames, "Stop each video or camera after this many frames (0: all)")
      ->capture_default_str();
  mesh->add_option("--models-dir", options.models_dir, "Folder with the model files")->capture_default_str();
  return mesh;
}

int RunMesh() {
  if (options.inputs.empty() && options.cameras.empty()) {
    std::cerr << "speakup mesh: give image or video files, or --camera DEVICE\n";
    return 2;
  }
  if (!options.render.empty() && options.inputs.size() + options.cameras.size() != 1) {
    std::cerr << "speakup mesh: --render draws one input; give exactly one file or camera\n";
    return 2;
  }
  if (options.model == "landmarker" && options.refine) {
    std::cerr << "speakup mesh: --refine belongs to --model mesh; the landmarker always gives 478 points\n";
    return 2;
  }
  auto models = face::Models::Load(options.models_dir);
  if (!models) {
    std::cerr << "speakup mesh: " << models.error() << "\n";
    return 1;
  }
  std::ofstream file;
  if (!options.output.empty()) {
    file.open(options.output);
    if (!file) {
      std::cerr << "speakup mesh: cannot write '" << options.output << "'\n";
      return 1;
    }
  }
  std::ostream& out = options.output.empty() ? std::cout : file;
  std::signal(SIGINT, [](int) { interrupted = 1; });

  engine::ThreadPool pool(options.threads);
  face::Workspace workspace(*models, &pool);
  ResultWriter writer(out, options.format);
  std::unique_ptr<Renderer> renderer;
  if (!options.render.empty()) renderer = std::make_unique<Renderer>(options.render, *models);

  bool all_ok = true;
  for (const std::string& input : options.inputs) {
    all_ok &= ProcessSource(media::FrameSource::OpenFile(input), workspace, writer, renderer.get());
  }
  for (const std::string& camera : options.cameras) {
    all_ok &= ProcessSource(media::FrameSource::OpenCamera(camera), workspace, writer, renderer.get());
  }
  if (renderer) {
    Status finished = renderer->Finish();
    if (!finished.ok()) {
      std::cerr << "speakup mesh: " << finished.message() << "\n";
      all_ok = false;
    }
  }
  return all_ok ? 0 : 1;
}

}  // namespace speakup::app
