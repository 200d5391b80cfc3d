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
