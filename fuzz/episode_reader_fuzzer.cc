// libFuzzer harness: the episode reader (datasets/: EpisodeReader over a whole HDF5 file).
// Input: the bytes of an episode file. They are written to a file on tmpfs and opened by
// path, as `dreamforge` opens them, so that the code under test is exactly the production
// path (an in-memory file image would need a second open path in the reader); on tmpfs
// the write costs a memcpy. A file that opens is then read through every public accessor,
// generically over whatever keys it holds (low-dim, image and depth keys alike).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <string>
#include <vector>

#include <Eigen/Core>

#include "datasets/episode_store.h"
#include "fuzz/fuzz_util.h"

namespace {

using dreamforge::datasets::EpisodeReader;

// Episodes read per input: enough to reach every per-demo code path, bounded so that a
// file listing thousands of demos does not make one input take seconds.
constexpr int kMaxEpisodesRead = 4;
// Frames the harness allocates for ReadImage; larger shapes are validated by the reader
// but not read here (the buffer is the harness's, not the reader's).
constexpr size_t kMaxImageBytes = size_t{64} << 20;

void ReadAll(const EpisodeReader& r) {
  (void)r.env_args().dump();
  (void)r.demo_names();
  (void)r.Mask("train");
  (void)r.Mask("valid");
  (void)r.obs_dims();
  (void)r.state_dim();
  (void)r.object_names();
  (void)r.subtask_signals();
  r.CheckSameLayout(r);
  const int n = r.num_episodes();
  for (int i = 0; i < n && i < kMaxEpisodesRead; ++i) {
    (void)r.episode_num_samples(i);
    (void)r.episode_success(i);
    (void)r.ReadPerturbation(i).dump();
    (void)r.ReadEpisode(i, /*with_images=*/true);
  }
  if (r.num_samples() > 0) {
    std::map<std::string, Eigen::VectorXf> obs;
    Eigen::VectorXf action;
    r.ReadSample(0, &obs, &action);
    r.ReadSample(r.num_samples() - 1, &obs, &action);
    (void)r.Locate(r.num_samples() - 1);
    for (const auto& [key, shape] : r.image_shapes()) {
      const size_t bytes = size_t(shape[0]) * size_t(shape[1]) * size_t(shape[2]);
      if (bytes > kMaxImageBytes) continue;
      std::vector<uint8_t> frame(bytes);
      r.ReadImage(0, 0, key, frame.data());
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // The reader's HDF5 probe (datasets/h5_probe.h) kills a libhdf5 that loops after this
  // many seconds (the default minute is for real files): an input here is at most a few
  // hundred KB, which the probe validates in about 10 ms under ASan, and mutated files that
  // make libhdf5 loop are common enough that a longer deadline would dominate the run.
  setenv("DREAMFORGE_HDF5_PROBE_SECONDS", "0.5", /*overwrite=*/0);
  // ... and limits its memory to 512 MiB more than this process, so that a size field asking
  // libhdf5 for gigabytes fails there rather than trip -malloc_limit_mb=1024 in the child.
  setenv("DREAMFORGE_HDF5_PROBE_MEMORY_MB", "512", /*overwrite=*/0);
  const std::string path = (dreamforge::fuzz::ScratchDir() / "episode.hdf5").string();
  dreamforge::fuzz::WriteFile(path, std::string_view(reinterpret_cast<const char*>(data), size));
  dreamforge::fuzz::ExpectContract(path, [&] {
    const EpisodeReader reader(path);
    ReadAll(reader);
  });
  return 0;
}
