/// What one thread's matrix products did since the last reset: how many, how much arithmetic on
/// which path, and which oneDNN kernels were created (for `doctor`, the benches, and the check
/// that no primitive is created inside a step after the first).
public struct MatrixEngineStatistics: Sendable {
    /// `gemm` calls.
    public var products = 0
    /// Multiply-adds run by oneDNN primitives.
    public var oneDNNMultiplyAdds = 0.0
    /// Multiply-adds run by OpenBLAS (the OpenBLAS engine, and oneDNN's thin or small pieces).
    public var openBLASMultiplyAdds = 0.0
    /// oneDNN primitives created, and the seconds it took.
    public var primitivesCreated = 0
    public var primitiveCreationSeconds = 0.0
    /// oneDNN implementation name → primitives created with it ("brg:avx512_core_amx", …).
    public var kernels: [String: Int] = [:]
    /// Shapes oneDNN has no kernel for (run by OpenBLAS instead).
    public var unsupportedShapes = 0
    /// Operand floats rounded to bf16 on use (outside the once-per-scope weight copies).
    public var roundedOperandFloats = 0.0
    /// Weight floats rounded into the per-scope bf16 copies.
    public var roundedWeightFloats = 0.0

    public init() {}

    public mutating func reset() { self = MatrixEngineStatistics() }

    /// All multiply-adds.
    public var multiplyAdds: Double { oneDNNMultiplyAdds + openBLASMultiplyAdds }
}
