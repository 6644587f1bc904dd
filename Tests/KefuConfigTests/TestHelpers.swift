import KefuConfig

/// The file name every in-memory test document is parsed under.
let testFile = "test.toml"

/// Parses `text` as a TOML document named `test.toml` and returns its root table.
func parseTOML(_ text: String) throws(ConfigError) -> TOMLTable {
    try TOMLDocument(parsing: text, file: testFile).root
}

/// The error parsing `text` as TOML, or nil if it parsed.
func tomlError(_ text: String) -> ConfigError? {
    do {
        _ = try TOMLDocument(parsing: text, file: testFile)
        return nil
    } catch {
        return error
    }
}

/// The error decoding `text` as a kefud configuration, or nil if it was accepted.
func configError(_ text: String) -> ConfigError? {
    do {
        _ = try KefuConfiguration.parse(text, file: testFile)
        return nil
    } catch {
        return error
    }
}

/// Distinct valid SHA-256 hex strings for configurations under test.
let hashA = String(repeating: "a", count: 64)
let hashB = String(repeating: "b", count: 64)
let hashC = String(repeating: "c", count: 64)
let hashD = String(repeating: "d", count: 64)
