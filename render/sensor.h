// Sensor effects applied to a rendered RGB frame (OpenCV), as the appearance asks: gamma,
// Gaussian blur, Gaussian noise, then a JPEG round trip. Noise is drawn from a generator
// seeded by (appearance.sensor_seed, camera name, step), so a frame is the same bytes
// every time it is rendered.
#pragma once

#include <cstdint>
#include <string>

#include "render/renderer.h"
#include "sim/appearance.h"

namespace dreamforge::render {

// True when `look` asks for any effect (else ApplySensorEffects leaves the image as is).
bool HasSensorEffects(const sim::Appearance& look);
void ApplySensorEffects(const sim::Appearance& look, const std::string& camera, int step, Image* image);

}  // namespace dreamforge::render
