import TensorKit

extension World {
    /// Resolves `matmul_engine` and `precision` to one selection for the whole job and makes it
    /// this process's (`MatrixEngine.configure`). Collective.
    ///
    /// Every rank must run the same engine: a rank whose oneDNN is missing while the others have it
    /// would compute other bits for the same products. With `auto`, the job takes oneDNN only if
    /// every rank can load it; with `onednn`, a rank that cannot fails the job with its reason
    /// (the others name that rank).
    @discardableResult
    public func configureMatrixEngine(_ choice: MatmulEngineChoice, precision: Precision) throws -> MatrixEngineSelection {
        var failure: (any Error)? = nil
        var local = MatrixEngineSelection(engine: .openblas, precision: precision)
        do { local = try MatrixEngine.resolve(choice, precision: precision) } catch { failure = error }
        let everyone = try agreeOnFailure(failure, values: [local.engine == .onednn ? 1 : 0])
        let oneDNNEverywhere = everyone.allSatisfy { $0.first == 1 }
        let selection = MatrixEngineSelection(engine: oneDNNEverywhere ? .onednn : .openblas, precision: precision)
        MatrixEngine.configure(selection)
        return selection
    }
}
