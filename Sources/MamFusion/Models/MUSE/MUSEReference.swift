/// MUSE's tensors in the official code's checkpoints (hrtang22/MUSE c8e44bc: `CLIP4Clip` in
/// modules/modeling.py, `save_model` in main_task_retrieval.py) — the name map of `export` and
/// `Launch/convert-reference-checkpoint`.
///
/// The official model saves `torch.save(model.state_dict())` (`pytorch_model.bin.<epoch>`, no
/// "model" key) and loads it with `init_preweight`, which logs missing and unexpected keys and
/// never fails on them. Its state_dict holds:
/// - `clip.…`: the CLIP encoders, fine-tuned at lr 1e-7 in fp16. Not ours (our CLIP is frozen
///   and outside the model: its tokens are precomputed, MUSE.md §1); the converter drops them and
///   says how many. An exported file has none: the official loader then fills CLIP from the
///   pretrained ViT-B/32, which is the CLIP our tokens come from.
/// - `MS_mamba.<i>.…` (`nn.ModuleList` of `Mamba_head`): exactly our block tensors, same names,
///   same PyTorch shapes, same order (`ResMambaBlockParameters.names`), float32. Nothing is
///   transposed or split: Vim's in_proj is one [2E, W] weight with the x rows before the z rows
///   (`xz.chunk(2, dim=1)`), as ours; conv1d weights are [E, 1, K] as ours.
///
/// The token pyramid has **no key**: the official code holds its `nn.Sequential`s in a plain
/// Python list (`self.mamba_stages = []`), so neither its optimiser nor its checkpoints see them
/// and each construction redraws them from torch's RNG. We store the frozen pyramid drawn from our
/// seed; `export` writes it as an extra under the names an `nn.ModuleList` would give it,
/// `mamba_stages.<scale>.<index in the Sequential>.{weight,bias}` (MUSE.md §2; conv weights
/// [out, in, k, k], the transposed one [in, out, 2, 2], as PyTorch's). Why those names: the
/// official loader only logs them as unused, and the one-line change the paper intends
/// (`self.mamba_stages = nn.ModuleList(self.mamba_stages)`) loads them as they are, giving the
/// official model our exact pyramid. `export --official-only` leaves them out (for strict
/// `load_state_dict`); the converter then draws them from the seed of the configuration it is
/// given, as `mamfusion init` and `train` do.
public enum MUSEReference {
    /// The official prefix of the ResMamba blocks.
    public static let blockPrefix = "MS_mamba."
    /// The prefix of the pyramid's tensors (ours; the official state_dict has none).
    public static let pyramidPrefix = "mamba_stages."

    public static let format = ReferenceFormat(
        container: .bareStateDict, extraPrefixes: [pyramidPrefix],
        extrasNote: "mamba_stages.*: MUSE's frozen random token pyramid, drawn from this model's seed; the official code keeps "
            + "it in a plain list outside its state_dict (load it with self.mamba_stages = nn.ModuleList(self.mamba_stages))")
}
