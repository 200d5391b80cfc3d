#if canImport(Glibc)
import Glibc
#endif

/// Flushes standard output (lines from several ranks are ordered by barriers between flushes).
func fflushStdout() { fflush(nil) }
