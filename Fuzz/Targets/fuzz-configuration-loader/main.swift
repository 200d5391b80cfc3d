import FuzzSupport
import MamFusion

// The configuration loader as the commands use it (`RunConfiguration.resolve`): the input is a
// configuration file's bytes (any bytes: UTF-8 is checked), then NUL-separated `--set
// key=value` overrides. The result is a valid configuration (cross-key checks included) whose
// saved YAML loads back to the same values, or a `ConfigurationError` with a short text.
FuzzHarness.run { input in
    let parts = input.split(separator: 0, omittingEmptySubsequences: false)
    let file = Array(parts[0])
    let overrides = parts.dropFirst().prefix(8).map { String(decoding: $0, as: UTF8.self) }
    let c: RunConfiguration
    do {
        c = try RunConfiguration.resolve(fileBytes: file, source: "fuzz.yaml", overrides: overrides)
    } catch let error as ConfigurationError {
        FuzzHarness.requireShort(error)
        return
    } catch {
        FuzzHarness.fail("unexpected error type: \(error)")
    }
    do {
        let again = try RunConfiguration.resolve(fileBytes: Array(c.yaml.utf8), source: "config.yaml", overrides: [])
        if again != c { FuzzHarness.fail("config.yaml round trip changed the values:\n\(c.yaml)") }
    } catch {
        FuzzHarness.fail("saved config.yaml does not load: \(error)\n\(c.yaml)")
    }
}
