import Synchronization

/// The models a configuration can name (`model:`), by `TrainableModel.name`: the shipped ones
/// (`builtIn`), and any a program registers before it reads its configuration (tests register
/// test-only models this way).
public enum ModelRegistry {
    /// The models this tool ships, in the order `--help` and errors list them.
    public static let builtIn: [any TrainableModel.Type] = [MamFusionModel.self, GMMFormerModel.self, MUSEModel.self]

    /// Models registered at run time, in registration order.
    private static let registered = Mutex<[any TrainableModel.Type]>([])

    /// Adds `model` (replacing a registered model of the same name; a built-in name is refused).
    public static func register(_ model: any TrainableModel.Type) {
        precondition(!builtIn.contains { $0.name == model.name }, "model name \(model.name) is taken by a built-in model")
        registered.withLock { models in
            models.removeAll { $0.name == model.name }
            models.append(model)
        }
    }

    /// Every model, the built-in ones first.
    public static var models: [any TrainableModel.Type] {
        builtIn + registered.withLock { Array($0) }
    }

    /// The names configurations may use.
    public static var names: [String] { models.map { $0.name } }

    /// The model called `name`, if any.
    public static func model(named name: String) -> (any TrainableModel.Type)? {
        models.first { $0.name == name }
    }

    /// The model whose tensors a checkpoint without a `model` attribute holds, by the first model
    /// that claims these names (`claimsUnlabelledCheckpoint`), if one does.
    public static func model(ofUnlabelledCheckpoint tensorNames: Set<String>) -> (any TrainableModel.Type)? {
        models.first { $0.claimsUnlabelledCheckpoint(tensorNames: tensorNames) }
    }
}
