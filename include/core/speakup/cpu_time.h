// CPU time, for the per-stage cost counters: what a stage costs is the CPU its thread spent, not the
// wall time (which grows with every other thread competing for the cores).
#pragma once

#include <sys/resource.h>
#include <time.h>

namespace speakup {

// CPU milliseconds the calling thread has used since it started.
inline double ThreadCpuMs() {
  timespec now{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now);
  return static_cast<double>(now.tv_sec) * 1e3 + static_cast<double>(now.tv_nsec) / 1e6;
}

// CPU seconds (user + system) the whole process has used.
inline double ProcessCpuSeconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  auto seconds = [](const timeval& t) { return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6; };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

}  // namespace speakup
