/// A checkpoint in the reference's own formats, for use outside this project (issue 21): every
/// parameter under its reference name and in its PyTorch shape (PARAMETERS.md), float32, in the
/// reference `state_dict` order — the two unused `vid_embed_proj` tensors of each fusion module
/// included, so that the official `load_state_dict` finds every key it expects.
///
/// The safetensors file is written natively (`SafetensorsWriter`); its metadata records the
/// model (`mamfusion` / `gmmformer`), the format `pt` (what `safetensors.torch` expects) and the
/// training position. `Launch/convert-reference-checkpoint` reads it back into this project's
/// HDF5 checkpoint bit for bit.
public enum ReferenceExport {
    /// The tensors of `parameters` in reference order (views into its buffer: keep `parameters`
    /// alive while they are used).
    public static func entries(_ parameters: ParameterSet) -> [SafetensorsWriter.Entry] {
        parameters.layout.specs.map { spec in
            SafetensorsWriter.Entry(name: spec.name, shape: spec.shape,
                                    values: UnsafeBufferPointer(start: parameters.storage.base + spec.offset, count: spec.count))
        }
    }

    /// The `__metadata__` of an exported file.
    public static func metadata(model: String, state: TrainingState) -> [String: String] {
        ["format": "pt", "model": model, "producer": "mamfusion-mpi export",
         "step": String(state.step), "epoch": String(state.epoch)]
    }

    /// Writes `parameters` as a safetensors file at `path` (atomically).
    @discardableResult
    public static func writeSafetensors(_ parameters: ParameterSet, state: TrainingState, to path: String) throws -> SafetensorsWriter.Contents {
        try SafetensorsWriter.write(entries(parameters), metadata: metadata(model: parameters.layout.model, state: state), to: path)
    }
}
