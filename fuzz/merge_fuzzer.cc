// libFuzzer harness: the checks of `dreamforge merge` (augment::MergeDreamShards: the
// first shard's dream count, every shard's env_args identity, layout, dream_index of each
// demo, none missing, doubled or extra; then the merged file is written). Input: one to
// three dream shard files (HDF5) joined by the line "#DFSPLIT#". They are written to
// tmpfs and merged there into a scratch output, as the command does.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "augment/generator.h"
#include "fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // The reader's HDF5 probe (datasets/h5_probe.h) kills a libhdf5 that loops after this
  // many seconds (the default minute is for real files): an input here is at most a few
  // hundred KB, which the probe validates in about 10 ms under ASan, and mutated files that
  // make libhdf5 loop are common enough that a longer deadline would dominate the run.
  setenv("DREAMFORGE_HDF5_PROBE_SECONDS", "0.5", /*overwrite=*/0);
  // ... and limits its memory to 512 MiB more than this process, so that a size field asking
  // libhdf5 for gigabytes fails there rather than trip -malloc_limit_mb=1024 in the child.
  setenv("DREAMFORGE_HDF5_PROBE_MEMORY_MB", "512", /*overwrite=*/0);
  const std::vector<std::string> parts = dreamforge::fuzz::SplitInput(data, size, 3);
  const std::filesystem::path dir = dreamforge::fuzz::ScratchDir();
  std::vector<std::string> inputs;
  for (size_t i = 0; i < parts.size(); ++i) {
    inputs.push_back((dir / ("shard" + std::to_string(i) + ".hdf5")).string());
    dreamforge::fuzz::WriteFile(inputs.back(), parts[i]);
  }
  const std::string out = (dir / "merged.hdf5").string();
  // A refusal names the shard at fault, or, for the set of shards as a whole (a dream
  // missing or doubled), is merge's own "merge: " message.
  std::vector<std::string> files = inputs;
  files.push_back(out);
  files.push_back("merge: ");
  dreamforge::fuzz::ExpectContract(files, [&] { (void)dreamforge::augment::MergeDreamShards(inputs, out); });
  std::error_code ec;
  std::filesystem::remove(out, ec);
  std::filesystem::remove(out + ".tmp", ec);
  return 0;
}
