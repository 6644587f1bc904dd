import Foundation
import KefuHTTP
import KefuTestSupport
import Testing

/// What ops install: `make install`/`uninstall`, and the unit as systemd's own tools judge it.
@Suite("Deploy: install and the unit file")
struct DeployTests {
    /// `systemd-analyze`, where Debian puts it; nil when systemd is not installed.
    static let analyze = ["/usr/bin/systemd-analyze", "/bin/systemd-analyze"]
        .first { FileManager.default.isExecutableFile(atPath: $0) }

    /// Whether a test that needs systemd's tools must run here: as root or in CI they must (`make test` installs
    /// systemd); elsewhere a missing tool skips loudly.
    static func requireAnalyze() -> String? {
        if let analyze { return analyze }
        let required = getuid() == 0 || ProcessInfo.processInfo.environment["CI"] != nil
        if required {
            Issue.record("systemd-analyze is missing: `make deps` installs systemd")
        } else {
            print("SKIPPED (systemd-analyze unavailable): the unit file was not checked")
        }
        return nil
    }

    @Test func makeInstallPutsEverythingWhereDebianExpectsItAndUninstallRemovesIt() async throws {
        guard let build = findExecutable(named: "kefud").map({ URL(fileURLWithPath: $0).deletingLastPathComponent() })
        else { throw KefudProcess.NotBuilt() }
        let stage = try TemporaryDirectory(prefix: "kefu-install")
        let make = ["-C", packageRoot.path, "DESTDIR=\(stage.path)", "PREFIX=/usr", "KEFU_BUILD_DIR=\(build.path)"]
        let installed = try await runCommand("/usr/bin/make", make + ["install"])
        try #require(installed.status == 0, "\(installed.output)\(installed.errorOutput)")
        let expected = [
            "etc/kefu/kefud.toml", "usr/bin/kefuctl", "usr/bin/kefud", "usr/lib/systemd/catalog/kefud.catalog",
            "usr/lib/systemd/system/kefud-http.socket", "usr/lib/systemd/system/kefud-tls.socket", "usr/lib/systemd/system/kefud.service",
            "usr/lib/systemd/system/kefud.socket",
            "usr/share/doc/kefu/kefud.toml.example",
            "usr/share/doc/kefu/message-ids.md",
        ] + ["agent.html", "agent.js", "board.js", "index.html", "kefu.js", "style.css"].map { "usr/share/kefu/web/\($0)" }
        #expect(Self.files(under: stage.path) == expected.sorted())
        // The installed kefud finds its pages beside it, with no setting.
        #expect(
            StaticPages.locate(configured: nil, executable: stage.path + "/usr/bin/kefud")
                == stage.path + "/usr/share/kefu/web")
        #expect(StaticPages(directory: stage.path + "/usr/share/kefu/web")?.files["/agent"] != nil)
        let unit = try String(contentsOfFile: stage.path + "/usr/lib/systemd/system/kefud.service", encoding: .utf8)
        #expect(unit.contains("ExecStart=/usr/bin/kefud --config /etc/kefu/kefud.toml"))
        #expect(FileManager.default.isExecutableFile(atPath: stage.path + "/usr/bin/kefud"))

        // An edited configuration survives both a second install and the uninstall.
        try "# edited by ops\n".write(toFile: stage.path + "/etc/kefu/kefud.toml", atomically: false, encoding: .utf8)
        #expect(try await runCommand("/usr/bin/make", make + ["install"]).status == 0)
        let uninstalled = try await runCommand("/usr/bin/make", make + ["uninstall"])
        try #require(uninstalled.status == 0, "\(uninstalled.output)\(uninstalled.errorOutput)")
        #expect(Self.files(under: stage.path) == ["etc/kefu/kefud.toml"])
        let kept = try String(contentsOfFile: stage.path + "/etc/kefu/kefud.toml", encoding: .utf8)
        #expect(kept == "# edited by ops\n")
    }

    @Test func systemdAnalyzeVerifiesTheUnitAndScoresItsSandboxAtMost2() async throws {
        guard let analyze = Self.requireAnalyze() else { return }
        guard let kefud = findExecutable(named: "kefud") else { throw KefudProcess.NotBuilt() }
        // `verify` checks that ExecStart exists: point it at the binary this build made.
        let directory = try TemporaryDirectory(prefix: "kefu-unit")
        let shipped = try String(
            contentsOf: packageRoot.appendingPathComponent("deploy/kefud.service"), encoding: .utf8)
        let unit = directory.path + "/kefud.service"
        try shipped.replacingOccurrences(of: "/usr/local/bin/kefud", with: kefud)
            .write(toFile: unit, atomically: false, encoding: .utf8)
        let socket = directory.path + "/kefud.socket"
        try FileManager.default.copyItem(
            atPath: packageRoot.appendingPathComponent("deploy/kefud.socket").path, toPath: socket)
        let httpSocket = directory.path + "/kefud-http.socket"
        try FileManager.default.copyItem(
            atPath: packageRoot.appendingPathComponent("deploy/kefud-http.socket").path, toPath: httpSocket)
        let verified = try await runCommand(analyze, ["verify", unit, socket, httpSocket])
        #expect(verified.status == 0)
        #expect(verified.output.isEmpty && verified.errorOutput.isEmpty, "\(verified.output)\(verified.errorOutput)")

        let security = try await runCommand(
            analyze, ["security", "--offline=yes", packageRoot.appendingPathComponent("deploy/kefud.service").path])
        let line = security.output.split(separator: "\n").first { $0.contains("Overall exposure level") } ?? ""
        let score = line.split(separator: ":").last.flatMap { Double($0.split(separator: " ").first ?? "") }
        let exposure = try #require(score, "no score in: \(security.output)")
        #expect(exposure <= 2.0, "\(line)")
    }

    static func files(under root: String) -> [String] {
        let enumerator = FileManager.default.enumerator(atPath: root)
        var files: [String] = []
        while let path = enumerator?.nextObject() as? String {
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: root + "/" + path, isDirectory: &isDirectory),
                !isDirectory.boolValue
            {
                files.append(path)
            }
        }
        return files.sorted()
    }
}
