import Foundation
import KefuSystemd
import KefuTestSupport
import Testing

/// `deploy/kefud.catalog`, the text `journalctl -x` shows under kefud's events: one entry per MESSAGE_ID, in a
/// form systemd's own catalog tools accept.
@Suite("Journal message catalog")
struct MessageCatalogTests {
    static let catalogURL = packageRoot.appendingPathComponent("deploy/kefud.catalog")

    static func catalog() throws -> MessageCatalog {
        try MessageCatalog(parsing: String(contentsOf: catalogURL, encoding: .utf8))
    }

    /// journalctl merges two entries with one id into one garbled text without a word, and an entry for an id
    /// kefud never sends is dead text: the file itself must be right.
    @Test func everyMessageIDHasExactlyOneEntryAndNoOtherIDHasOne() throws {
        let catalog = try Self.catalog()
        for (name, id) in SystemdMessageID.all {
            let count = catalog.entries.filter { $0.id.lowercased() == id }.count
            #expect(count == 1, "\(name) (\(id)) has \(count) entries in deploy/kefud.catalog")
        }
        let known = Set(SystemdMessageID.all.map(\.id))
        for entry in catalog.entries {
            #expect(known.contains(entry.id), "line \(entry.line): \(entry.id) is not a SystemdMessageID")
            #expect(entry.id == entry.id.lowercased(), "line \(entry.line): write ids in lowercase as kefud sends them")
            #expect(entry.language == nil, "line \(entry.line): kefud's catalog is English only (the default)")
        }
    }

    /// What journalctl does not check: headers it keeps as text, an empty subject, stray `@`s, long texts.
    @Test func everyEntryIsWellFormed() throws {
        let allowedHeaders: Set = ["Subject", "Defined-By", "Support", "Documentation"]
        for entry in try Self.catalog().entries {
            let at = "entry \(entry.id) (line \(entry.line))"
            #expect(entry.malformedHeaders.isEmpty, "\(at): header lines without a colon: \(entry.malformedHeaders)")
            for header in entry.headers {
                #expect(allowedHeaders.contains(header.name), "\(at): unexpected header \(header.name)")
            }
            #expect(entry.header("Subject")?.isEmpty == false, "\(at): no Subject")
            #expect(entry.header("Defined-By") == "kefud", "\(at): Defined-By must be kefud (--list-catalog shows it)")
            #expect((3...12).contains(entry.body.count), "\(at): body of \(entry.body.count) lines, keep it 3-12")
            for line in entry.textLines {
                let placeholders = MessageCatalog.placeholders(in: line)
                #expect(
                    line.filter { $0 == "@" }.count == 2 * placeholders.count,
                    "\(at): '@' outside an @FIELD@ placeholder: \(line)")
                for field in placeholders {
                    #expect(field.hasPrefix("KEFU_"), "\(at): @\(field)@ is not one of kefud's KEFU_ fields")
                }
            }
        }
    }

    /// Our reading of the file matches systemd's: the same entries, the same text (what `journalctl -x` prints
    /// rests on it). In a scratch `--root`, so the host's catalog is never touched.
    @Test func journalctlUpdateCatalogAcceptsItAndListsEveryID() async throws {
        guard let journalctl = JournaldHarness.journalctlForTest() else { return }
        let root = try TemporaryDirectory(prefix: "kefu-catalog")
        try install(Self.catalogURL, into: root)
        let update = try await runCommand(journalctl, ["--root=\(root.path)", "--update-catalog"])
        #expect(update.status == 0, "journalctl --update-catalog: \(update.errorOutput)")
        #expect(update.errorOutput.isEmpty, "journalctl --update-catalog warned: \(update.errorOutput)")
        let database = root.url(for: "var/lib/systemd/catalog/database").path
        #expect(FileManager.default.fileExists(atPath: database), "no \(database)")

        let list = try await runCommand(journalctl, ["--root=\(root.path)", "--list-catalog"])
        #expect(list.status == 0, "journalctl --list-catalog: \(list.errorOutput)")
        let listed = list.output.split(separator: "\n").map(String.init)
        #expect(listed.count == SystemdMessageID.all.count, "listed: \(listed)")
        let catalog = try Self.catalog()
        for (name, id) in SystemdMessageID.all {
            let subject = catalog.entries.first { $0.id == id }?.header("Subject") ?? "?"
            #expect(listed.contains("\(id) kefud: \(subject)"), "\(name) (\(id)) not listed: \(listed)")
        }
        // --dump-catalog prints the given ids' entries in that order, each as "-- <id>", its text, an empty line.
        let dump = try await runCommand(
            journalctl, ["--root=\(root.path)", "--dump-catalog"] + catalog.entries.map(\.id))
        #expect(dump.status == 0, "journalctl --dump-catalog: \(dump.errorOutput)")
        let expected = catalog.entries.map { "-- \($0.id)\n" + $0.textLines.joined(separator: "\n") + "\n\n" }
        #expect(dump.output == expected.joined(), "journalctl --dump-catalog differs from our reading")
    }

    /// The test above could fail: journalctl does reject a catalog it cannot read (text before the first id).
    @Test func journalctlUpdateCatalogRejectsAMalformedCatalog() async throws {
        guard let journalctl = JournaldHarness.journalctlForTest() else { return }
        let root = try TemporaryDirectory(prefix: "kefu-catalog-bad")
        let source = root.url(for: "bad.catalog")
        let text = "Subject: an entry without its -- <id> line\n\nSome text.\n"
        try text.write(to: source, atomically: false, encoding: .utf8)
        try install(source, into: root)
        #expect(throws: MessageCatalog.ParseError.self) { try MessageCatalog(parsing: text) }

        let update = try await runCommand(journalctl, ["--root=\(root.path)", "--update-catalog"])
        #expect(update.status != 0)
        #expect(update.errorOutput.contains("Got payload before ID"), "stderr: \(update.errorOutput)")
        let database = root.url(for: "var/lib/systemd/catalog/database").path
        #expect(!FileManager.default.fileExists(atPath: database))
    }

    /// Copies a catalog to `<root>/usr/lib/systemd/catalog/kefud.catalog`, where `--root` looks for catalogs.
    private func install(_ source: URL, into root: TemporaryDirectory) throws {
        let directory = root.url(for: "usr/lib/systemd/catalog")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try FileManager.default.copyItem(at: source, to: directory.appendingPathComponent("kefud.catalog"))
    }
}
