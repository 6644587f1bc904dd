import Foundation
import KefuTestSupport
import Testing

@testable import KefuServer

/// The board (`GET /`) and the workspace (`GET /agent`) in a real headless Chromium, driven by selenium
/// (`Tests/Browser/pages.py`), against this daemon. `make test` installs Debian's chromium and chromium-driver and
/// selenium; without them the test fails saying so (it never passes without a browser).
@Suite("The pages in a real browser", .serialized)
struct BrowserPagesTests {
    static let package = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    @Test func theBoardAndTheWorkspaceWorkAShiftInChromium() async throws {
        for tool in ["/usr/bin/chromium", "/usr/bin/chromedriver"] {
            try #require(
                FileManager.default.isExecutableFile(atPath: tool),
                "\(tool) is missing: `make test-deps` installs Debian's chromium and chromium-driver")
        }
        let selenium = try await runCommand("/usr/bin/env", ["python3", "-c", "import selenium"])
        try #require(selenium.status == 0, "selenium is missing: `make test-deps` installs it from PyPI")
        let pages = Self.package.appendingPathComponent("web").path
        let daemon = try await TestDaemon.start(
            testConfiguration(
                firstResponseSeconds: 2,
                extra: "[http]\nlisten = \"127.0.0.1:0\"\npages_dir = \"\(pages)\"\n"))
        let http = try #require(daemon.daemon.boundHTTPPort)
        // Kept after the run (CI keeps .build/test-artifacts), one of each in the README.
        let artifacts = Self.package.appendingPathComponent(".build/test-artifacts/pages").path
        let script = Self.package.appendingPathComponent("Tests/Browser/pages.py").path
        let run = try await runCommand("/usr/bin/env", ["python3", script, "\(http)", "\(daemon.port)", artifacts])
        #expect(run.status == 0, "pages.py:\n\(run.output)\n\(run.errorOutput)")
        #expect(run.output.contains("ok"), "\(run.output)")
        for name in ["board-1366x768", "board-phone", "agent-1366x768", "agent-phone"] {
            #expect(FileManager.default.fileExists(atPath: "\(artifacts)/\(name).png"), "\(name).png")
        }
        try await daemon.stop()
    }

    /// The same pages in Firefox (Debian's firefox-esr), driven over its own Marionette protocol (marionette_driver
    /// from PyPI): no geckodriver can be had for this machine, so WebDriver is not how Firefox is reached.
    @Test func theBoardAndTheWorkspaceWorkInFirefox() async throws {
        try #require(
            FileManager.default.isExecutableFile(atPath: "/usr/bin/firefox-esr"),
            "/usr/bin/firefox-esr is missing: `make test-deps` installs Debian's firefox-esr")
        let driver = try await runCommand("/usr/bin/env", ["python3", "-c", "import marionette_driver"])
        try #require(driver.status == 0, "marionette_driver is missing: `make test-deps` installs it from PyPI")
        let daemon = try await TestDaemon.start(
            testConfiguration(
                extra: "[http]\nlisten = \"127.0.0.1:0\"\npages_dir = \"\(Self.package.appendingPathComponent("web").path)\"\n"))
        let http = try #require(daemon.daemon.boundHTTPPort)
        let artifacts = Self.package.appendingPathComponent(".build/test-artifacts/pages").path
        let script = Self.package.appendingPathComponent("Tests/Browser/pages_firefox.py").path
        let run = try await runCommand("/usr/bin/env", ["python3", script, "\(http)", "\(daemon.port)", artifacts])
        #expect(run.status == 0, "pages_firefox.py:\n\(run.output)\n\(run.errorOutput)")
        #expect(run.output.contains("\nok\n") || run.output.hasSuffix("ok\n"), "\(run.output)")
        for name in ["board-firefox", "agent-firefox"] {
            #expect(FileManager.default.fileExists(atPath: "\(artifacts)/\(name).png"), "\(name).png")
        }
        try await daemon.stop()
    }
}

