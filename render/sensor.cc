#include "render/sensor.h"

#include <cmath>
#include <vector>

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "render/render_error.h"

namespace dreamforge::render {
namespace {

uint64_t Fnv1a(const std::string& s) {
  uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  return h;
}

uint64_t Mix(uint64_t x) {
  x += 0x9E3779B97F4A7C15ULL;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
  return x ^ (x >> 31);
}

}  // namespace

bool HasSensorEffects(const sim::Appearance& look) {
  return look.gamma != 1.0 || look.blur_sigma > 0 || look.noise_std > 0 || look.jpeg_quality > 0;
}

void ApplySensorEffects(const sim::Appearance& look, const std::string& camera, int step, Image* image) {
  if (!HasSensorEffects(look)) return;
  cv::Mat m(image->height, image->width, CV_8UC3, image->rgb.data());
  if (look.gamma != 1.0) {
    cv::Mat lut(1, 256, CV_8U);
    for (int i = 0; i < 256; ++i) {
      lut.at<uint8_t>(i) = cv::saturate_cast<uint8_t>(std::lround(255.0 * std::pow(i / 255.0, 1.0 / look.gamma)));
    }
    cv::LUT(m, lut, m);
  }
  if (look.blur_sigma > 0) cv::GaussianBlur(m, m, cv::Size(0, 0), look.blur_sigma, look.blur_sigma, cv::BORDER_REFLECT);
  if (look.noise_std > 0) {
    // OpenCV's generator (multiply-with-carry, normal by ziggurat): the same bytes for the
    // same (dream, camera, step), and ~10x cheaper than std::normal_distribution per pixel.
    cv::RNG rng(Mix(look.sensor_seed ^ Mix(Fnv1a(camera) ^ Mix(static_cast<uint64_t>(step)))));
    cv::Mat noisy(m.size(), CV_32FC3);
    rng.fill(noisy, cv::RNG::NORMAL, 0.0, look.noise_std);
    cv::Mat f;
    m.convertTo(f, CV_32FC3);
    f += noisy;
    f.convertTo(m, CV_8UC3);  // rounds and saturates
  }
  if (look.jpeg_quality > 0) {
    cv::Mat bgr;
    cv::cvtColor(m, bgr, cv::COLOR_RGB2BGR);
    std::vector<uint8_t> bytes;
    if (!cv::imencode(".jpg", bgr, bytes, {cv::IMWRITE_JPEG_QUALITY, look.jpeg_quality})) {
      throw RenderError("JPEG encoding failed (OpenCV built without libjpeg?)");
    }
    cv::Mat decoded = cv::imdecode(bytes, cv::IMREAD_COLOR);
    cv::cvtColor(decoded, m, cv::COLOR_BGR2RGB);  // m wraps image->rgb: written in place
  }
}

}  // namespace dreamforge::render
