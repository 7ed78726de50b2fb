// ThreadSanitizer suppressions, linked into every test binary of the tsan preset
// (cmake/dreamforge.cmake). Each entry is a report inside a library we do not build, and
// says why it is not ours.
extern "C" const char* __tsan_default_suppressions();

extern "C" const char* __tsan_default_suppressions() {
  // Debian's OpenCV loads GDAL; when render/sensor.cc applies OpenCV filters, GDAL's
  // CPLCreateOrAcquireMutexEx takes its global mutex and then a per-object one while
  // another of its paths takes them in the other order. Both acquisitions are on the
  // calling thread inside libgdal (uninstrumented), so TSan reports a lock-order
  // inversion there; no data race in dreamforge's code was reported.
  return "deadlock:libgdal.so\n";
}
