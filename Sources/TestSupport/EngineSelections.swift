import TensorKit

/// The matrix-engine selections tests run under: OpenBLAS and (where its library loads) oneDNN,
/// each in fp32 and bf16.
public let engineSelections: [MatrixEngineSelection] = {
    var all: [MatrixEngineSelection] = [.init(engine: .openblas, precision: .fp32), .init(engine: .openblas, precision: .bf16)]
    if OneDNNLibrary.isAvailable {
        all += [.init(engine: .onednn, precision: .fp32), .init(engine: .onednn, precision: .bf16)]
    }
    return all
}()

/// The fp32 selections (the reference numbers with either engine).
public let fp32EngineSelections = engineSelections.filter { $0.precision == .fp32 }

/// Runs `body` under `selection`; with oneDNN, every product of at least 16 rows and columns
/// runs on oneDNN's kernels (test models are too small to reach its default threshold).
public func withEngine<R>(_ selection: MatrixEngineSelection, _ body: () throws -> R) rethrows -> R {
    try MatrixEngine.with(selection, oneDNNSmallProduct: 0, body)
}

/// The environment for a child process (`ToolRunner`) that makes oneDNN run every product it can,
/// as `withEngine` does in-process.
public let oneDNNEverywhereEnvironment = ["MAMFUSION_ONEDNN_SMALL_PRODUCT": "0"]

/// How a finite-difference check runs under a matrix-engine selection: the analytic gradient
/// (forward and backward) under `selection`, the central differences under its fp32 twin (the
/// same engine in fp32). In fp32 both are the same selection and the usual float32 tolerance
/// holds; in bf16 the check compares the bf16 backward with the smooth function it approximates
/// (differences of the bf16 forward itself only measure rounding steps), within
/// `bf16GradientBound`.
public struct PrecisionCheck: Sendable, CustomStringConvertible {
    public let selection: MatrixEngineSelection
    public init(_ selection: MatrixEngineSelection) { self.selection = selection }

    /// The same engine in fp32.
    public var twin: MatrixEngineSelection { MatrixEngineSelection(engine: selection.engine, precision: .fp32) }

    /// The tolerance of a check whose fp32 tolerance is `fp32`.
    public func tolerance(_ fp32: Double) -> Double { selection.precision == .bf16 ? max(fp32, bf16GradientBound) : fp32 }

    public var description: String { selection.description }

    /// The OpenBLAS engine in fp32: the checks as they were before engines existed.
    public static let reference = PrecisionCheck(.reference)
}

/// Every engine and precision.
public let precisionChecks = engineSelections.map(PrecisionCheck.init)

/// How far a bf16 layer backward may be from the derivative of its fp32 twin (directional
/// relative error). Rounding an operand to bf16 changes it by at most u = 2⁻⁸ ≈ 0.0039 relative,
/// so one product's result moves by at most (2u + u²)·Σ|aᵢbᵢ| ≈ 0.8% of its absolute sum; a
/// layer's gradient passes through 2–6 such products (forward and backward) whose errors add up
/// with random signs, sums that cancel amplify them (|Σaᵢbᵢ| below Σ|aᵢbᵢ| with the tests'
/// perturbed weights), and a ReLU whose input lies within that error of 0 switches (its unit's
/// gradient changes by O(1)). Measured on every layer, both engines: 0.03–5.5% (the 5.5%:
/// InputProjection's ReLU). A wrong backward is off by O(1). 10% ≈ 26u.
public let bf16GradientBound = 0.1
