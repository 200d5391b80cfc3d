import FuzzSupport
import MamFusion

// The YAML run configuration (`RunConfiguration.parse`, which ends with the cross-key checks):
// any text gives a configuration or a `ConfigurationError` with a short text; a configuration
// that parses is valid, and its resolved YAML (what training saves as config.yaml) parses back
// to the same values.
FuzzHarness.run { input in
    let text = String(decoding: input, as: UTF8.self)
    let c: RunConfiguration
    do {
        c = try RunConfiguration.parse(yaml: text, source: "fuzz.yaml")
    } catch let error as ConfigurationError {
        FuzzHarness.requireShort(error)
        return
    } catch {
        FuzzHarness.fail("unexpected error type: \(error)")
    }
    do { try c.validate() } catch { FuzzHarness.fail("parsed but not valid: \(error)") }
    do {
        let again = try RunConfiguration.parse(yaml: c.yaml, source: "config.yaml")
        if again != c { FuzzHarness.fail("config.yaml round trip changed the values:\n\(c.yaml)") }
    } catch {
        FuzzHarness.fail("saved config.yaml does not load: \(error)\n\(c.yaml)")
    }
}
