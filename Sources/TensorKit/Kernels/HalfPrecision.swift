import CKernels

/// IEEE binary16 ⇄ float32 over buffers (F16C kernels in CKernels: 8 values per instruction).
/// CLIP token files store fp16 — what the official CLIP computes in — and the model runs in fp32.
public enum HalfPrecision {
    /// y[i] = Float(x[i]): exact.
    public static func widen(_ x: UnsafePointer<Float16>, into y: UnsafeMutablePointer<Float>, count: Int) {
        x.withMemoryRebound(to: UInt16.self, capacity: count) { mf_half_to_float($0, y, count) }
    }

    /// y[i] = Float16(x[i]), rounded to nearest even (values beyond ±65504 become ±inf).
    public static func narrow(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float16>, count: Int) {
        y.withMemoryRebound(to: UInt16.self, capacity: count) { mf_float_to_half(x, $0, count) }
    }
}
