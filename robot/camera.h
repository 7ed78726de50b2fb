// Camera frames for policies that see (issue 16): the interface between the edge
// controller and whatever delivers images (a camera driver on the board, the simulator's
// renderer in tools/sim_hardware.h).
//
// A frame is what the policy was trained on: uint8, height x width x 3, row-major H x W x
// RGB, at the bundle's image size (policy.json images[k].shape), uncropped (the encoder
// takes the centre crop), stamped with its capture time on the hardware clock of
// RobotState::time. Camera k is the bundle's k-th image input.
//
// Real-time contract for implementations: Latest is called from the control loop's thread
// once per camera and step, must not allocate or throw, and returns at once with the newest
// complete frame (never waits for the next one). The controller checks the size and the age
// (robot/controller.h: a missing, wrong-sized or stale frame holds the robot).
#pragma once

#include <cstdint>

namespace dreamforge::robot {

struct CameraFrame {
  const std::uint8_t* pixels = nullptr;  // height * width * 3 bytes; valid until the next Latest
  int width = 0, height = 0;
  double time = 0;         // capture time, hardware clock (RobotState::time), s
  std::uint64_t seq = 0;   // increases with every new frame of this camera
};

enum class CameraStatus { kOk, kNoFrame, kError };
inline const char* CameraStatusName(CameraStatus status) {
  switch (status) {
    case CameraStatus::kOk: return "ok";
    case CameraStatus::kNoFrame: return "no_frame";
    case CameraStatus::kError: return "error";
  }
  return "unknown";
}

class CameraSource {
 public:
  virtual ~CameraSource() = default;
  // The newest frame of camera k (the bundle's k-th image input). Real-time safe.
  virtual CameraStatus Latest(int camera, CameraFrame* frame) = 0;
};

}  // namespace dreamforge::robot
