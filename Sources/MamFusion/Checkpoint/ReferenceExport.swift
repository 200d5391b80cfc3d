/// A checkpoint in the reference's own formats, for use outside this project (issue 21): every
/// parameter under its reference name and in its PyTorch shape (PARAMETERS.md, MUSE.md §4),
/// float32, in the reference `state_dict` order — the two unused `vid_embed_proj` tensors of each
/// fusion module included, so that the official `load_state_dict` finds every key it expects —
/// then the model's tensors that the official `state_dict` has no key for (its
/// `ReferenceFormat.extras`: MUSE's frozen pyramid), unless `officialOnly`.
///
/// The safetensors file is written natively (`SafetensorsWriter`); its metadata records the
/// model (`mamfusion` / `gmmformer` / `muse`), the format `pt` (what `safetensors.torch`
/// expects), the training position and, when extras are written, what they are
/// (`extra_tensors`). `Launch/convert-reference-checkpoint` reads it back into this project's
/// HDF5 checkpoint bit for bit.
public enum ReferenceExport {
    /// How the official code of `parameters`' model holds its tensors.
    public static func format(of parameters: ParameterSet) -> ReferenceFormat {
        ModelRegistry.model(named: parameters.layout.model)?.referenceFormat ?? .prvr
    }

    /// The tensors of `parameters` in reference order, extras last (views into its buffer: keep
    /// `parameters` alive while they are used).
    public static func entries(_ parameters: ParameterSet, officialOnly: Bool = false) -> [SafetensorsWriter.Entry] {
        let format = format(of: parameters), specs = parameters.layout.specs
        let written = specs.filter { !format.isExtra($0.name) } + (officialOnly ? [] : specs.filter { format.isExtra($0.name) })
        return written.map { spec in
            SafetensorsWriter.Entry(name: spec.name, shape: spec.shape,
                                    values: UnsafeBufferPointer(start: parameters.storage.base + spec.offset, count: spec.count))
        }
    }

    /// The `__metadata__` of an exported file.
    public static func metadata(_ parameters: ParameterSet, state: TrainingState, officialOnly: Bool = false) -> [String: String] {
        var metadata = ["format": "pt", "model": parameters.layout.model, "producer": "mamfusion-mpi export",
                        "step": String(state.step), "epoch": String(state.epoch)]
        if !officialOnly, let note = format(of: parameters).extrasNote { metadata["extra_tensors"] = note }
        return metadata
    }

    /// Writes `parameters` as a safetensors file at `path` (atomically).
    @discardableResult
    public static func writeSafetensors(_ parameters: ParameterSet, state: TrainingState, officialOnly: Bool = false,
                                        to path: String) throws -> SafetensorsWriter.Contents {
        try SafetensorsWriter.write(entries(parameters, officialOnly: officialOnly),
                                    metadata: metadata(parameters, state: state, officialOnly: officialOnly), to: path)
    }
}
