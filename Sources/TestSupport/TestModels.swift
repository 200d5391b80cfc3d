import MamFusion

/// The models that exist for the tests only, registered by the programs that run them (the
/// test-support tool, in-process tests) before they read a configuration.
public enum TestModels {
    public static func register() {
        ModelRegistry.register(ToyModel.self)
    }
}
