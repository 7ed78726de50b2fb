// Internal to datasets/: runs the first read of a file that someone else made in a forked
// probe process, so that a crash inside libhdf5 becomes a one-line DatasetError.
//
// Why: libhdf5 1.10.8 (Debian 12) trusts its own metadata. Fuzzing found files on which it
// reads out of bounds, uses freed memory or dereferences NULL while it parses object
// headers, the global heap or its metadata accumulator (fuzz/regressions/libhdf5.md), all before
// our reader sees a single field. No check of ours can run before that parsing, so EpisodeReader
// opens and validates every file in a child process first. If the child completes, or
// refuses the file by one of our checks (libhdf5 itself reported no failure), the parent
// repeats the same deterministic reads (same bytes, same library) and so ends the same
// way; repeating those refusals keeps the parent's checks visible to coverage-guided
// fuzzing, which sees only this process. A refusal after a failure inside libhdf5 is
// rethrown without repeating (it may come from the child's memory limit, below).
// If the child dies (a signal, a sanitizer report, an exit from inside a library), the
// parent throws "<file>: the HDF5 library crashed (...)"; if it is still reading after a
// deadline (a minute plus one second per MiB of file), the parent kills it and throws
// "<file>: the HDF5 library did not finish reading this file ...": libhdf5 can also be
// made to loop forever. A child that has used almost no CPU after 5 s is stalled, not
// reading (forked from a process whose other threads held a lock it needs: ASan's
// allocator under c10d's threads): the parent then reads the file itself, unprotected.
//
// Costs (README, "Fuzzing"): one fork plus a second pass over the metadata and low-
// dimensional data that validation reads; image chunks are read later, in the parent
// only, and are not covered by the probe.
//
// DREAMFORGE_HDF5_PROBE=0 in the environment skips the probe (trusted files, debuggers);
// DREAMFORGE_HDF5_PROBE_SECONDS=S replaces the deadline's minute and
// DREAMFORGE_HDF5_PROBE_MEMORY_MB=M the 4 GiB headroom (the fuzz harnesses use both).
// Threading: the caller must be the only thread inside HDF5 (the datasets/ contract);
// the child calls nothing but HDF5, our code and malloc, then _exit()s.
#pragma once

#include <functional>

#include "datasets/h5_io.h"

namespace dreamforge::datasets::internal {

// Runs `read` in a forked child, then, if it completed or threw a dreamforge::Error there
// without a libhdf5 failure (LibraryErrorCount in h5_io.h), in this process (if the repeat
// unexpectedly completes after a refusal, the child's message is thrown). When the child died, hung
// or ran out of memory, `read` does not run here and a DatasetError naming ctx.file says which. The
// child's address space is limited to its parent's plus `memory_headroom_bytes` (0:
// DREAMFORGE_HDF5_PROBE_MEMORY_MB, else 4 GiB), so that a size field that asks libhdf5 for
// gigabytes fails in the child instead of swapping.
void RunInProbe(const Ctx& ctx, const std::function<void()>& read,
                uint64_t memory_headroom_bytes = 0);

// True unless DREAMFORGE_HDF5_PROBE=0.
bool ProbeEnabled();

}  // namespace dreamforge::datasets::internal
