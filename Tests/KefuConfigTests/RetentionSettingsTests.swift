import KefuConfig
import Testing

/// `[retention]`: off unless `closed_after_days` says how many days; errors name the file, line and key.
@Suite("[retention]")
struct RetentionSettingsTests {
    private func config(_ rest: String) -> String {
        "[customers]\ntoken_sha256 = \"\(hashA)\"\n" + rest
    }

    @Test func offByDefault() throws {
        let configuration = try KefuConfiguration.parse(config(""), file: testFile)
        #expect(configuration.retention == RetentionSettings())
        #expect(!configuration.retention.isEnabled)
        #expect(configuration.retention.batch == 500)
    }

    @Test func daysAndBatchAreRead() throws {
        let configuration = try KefuConfiguration.parse(
            config("[retention]\nclosed_after_days = 180\nbatch = 200\n"), file: testFile)
        #expect(configuration.retention == RetentionSettings(closedAfterDays: 180, batch: 200))
        #expect(configuration.retention.isEnabled)
    }

    @Test func zeroDaysIsOff() throws {
        let configuration = try KefuConfiguration.parse(config("[retention]\nclosed_after_days = 0\n"), file: testFile)
        #expect(configuration.retention.closedAfterDays == nil)
        #expect(!configuration.retention.isEnabled)
    }

    @Test(arguments: [
        ("closed_after_days = -1", "test.toml:4: retention.closed_after_days: must be an integer from 0 to 36500, found -1"),
        ("closed_after_days = 36501", "test.toml:4: retention.closed_after_days: must be an integer from 0 to 36500, found 36501"),
        ("closed_after_days = 1.5", "test.toml:4: retention.closed_after_days: expected an integer, found a float"),
        ("closed_after_days = \"30\"", "test.toml:4: retention.closed_after_days: expected an integer, found a string"),
        ("closed_after_days = 30\nbatch = 5", "test.toml:5: retention.batch: must be an integer from 10 to 10000, found 5"),
        ("closed_after_days = 30\nbatch = 20000", "test.toml:5: retention.batch: must be an integer from 10 to 10000, found 20000"),
        ("closed_after_day = 30", "test.toml:4: retention.closed_after_day: unknown key; did you mean closed_after_days?"),
    ])
    func badValuesAreErrorsNamingTheLine(_ body: String, _ expected: String) throws {
        let error = try #require(configError(config("[retention]\n" + body + "\n")))
        #expect(error.description == expected)
    }

    @Test func aTableIsExpected() throws {
        let error = try #require(configError("retention = 30\n" + config("")))
        #expect(error.description.hasPrefix("test.toml:1: retention: expected a table ([retention]), found "))
    }

    /// A shop's file may have its own (each shop decides how long it keeps its buyers' texts).
    @Test func aShopsFileMayHaveItsOwn() throws {
        let configuration = try KefuConfiguration.parse(
            config("[retention]\nclosed_after_days = 30\n"), file: "acme.toml", kind: .shop)
        #expect(configuration.retention.closedAfterDays == 30)
    }
}
