import KefuConfig
import Testing

/// `[replay] keep_days`: how long the input journal is kept (default 14 days; 0 writes none).
@Suite struct ReplaySettingsTests {
    private func parse(_ table: String) throws(ConfigError) -> KefuConfiguration {
        try KefuConfiguration.parse(
            """
            [customers]
            token_sha256 = "70eb1e69e0e61e6f50457f66a06497aa2a2206f8c74b0ca2c277c5bd8359ef4b"
            \(table)
            """, file: "shop.toml")
    }

    @Test func theJournalIsKeptFourteenDaysUnlessSaidOtherwise() throws {
        #expect(try parse("").replay.keepDays == 14)
        #expect(try parse("[replay]\nkeep_days = 3").replay.keepDays == 3)
        let off = try parse("[replay]\nkeep_days = 0").replay
        #expect(off.keepDays == nil && !off.isEnabled)
    }

    @Test func aBadValueNamesFileLineAndKey() {
        #expect(throws: ConfigError.self) { try parse("[replay]\nkeep_days = -1") }
        do {
            _ = try parse("[replay]\nkeep_day = 3")
            Issue.record("an unknown key was taken")
        } catch {
            #expect(error.description.hasPrefix("shop.toml:4: replay.keep_day: unknown key"))
        }
        do {
            _ = try parse("[replay]\nkeep_days = \"two weeks\"")
            Issue.record("a string was taken for a number")
        } catch {
            #expect(error.description.hasPrefix("shop.toml:4: replay.keep_days:"))
        }
    }
}
