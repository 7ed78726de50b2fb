// The gripper latch (policy/model.h explains why): the command keeps a state, open after
// Reset(), and switches when the predicted probability of the other state exceeds
// `switch_prob`, at least `hold` steps after the previous switch. One definition for the
// training side (policy/) and the edge runtime (robot/policy_runtime.h). Real-time safe.

#pragma once

namespace dreamforge::robot {

struct GripperLatch {
  static constexpr int kNever = 1 << 30;  // no switch yet (the step count saturates here)
  float state = -1.0f;                    // +1 closed, -1 open
  int since = kNever;                     // executed steps since the last switch

  void Reset() {
    state = -1.0f;
    since = kNever;
  }
  // value: the predicted gripper column in [-1, 1] (p(closed) = (value + 1) / 2);
  // returns the command, +1 or -1.
  float Step(float value, double switch_prob, int hold) {
    const float p_closed = 0.5f * (value + 1.0f);
    const float p_other = state > 0.0f ? 1.0f - p_closed : p_closed;
    if (since >= hold && p_other > switch_prob) {
      state = -state;
      since = 0;
    }
    if (since < kNever) ++since;
    return state;
  }
};

}  // namespace dreamforge::robot
