import Foundation
import KefuConfig
import Testing

/// A directory of shop files for one test, removed at the end.
private final class ShopsDirectory {
    let path = NSTemporaryDirectory() + "kefu-config-shops-" + UUID().uuidString

    init(_ files: [String: String]) throws {
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        for (name, text) in files { try text.write(toFile: "\(path)/\(name)", atomically: true, encoding: .utf8) }
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }
}

private let team = """
    [customers]
    token_sha256 = "\(hashA)"

    [[agent]]
    id = "alice"
    token_sha256 = "\(hashB)"
    max_chats = 3
    skills = { presales = 2 }
    """

@Suite("Shops: [server] shops_dir")
struct NodeConfigurationTests {
    @Test func withoutShopsDirTheMainFileIsShopDefault() throws {
        let node = try NodeConfiguration.parse(team, file: testFile)
        #expect(node.shopNames == ["default"])
        #expect(try node.shops["default"]?.get().agents.map(\.id) == ["alice"])
    }

    @Test func eachTomlFileIsAShopAndTheMainFilesTeamIsDefault() throws {
        let shops = try ShopsDirectory(["zeta.toml": team, "acme.toml": team, "notes.txt": "not a shop", "acme.toml~": "x"])
        let node = try NodeConfiguration.parse("[server]\nshops_dir = \"\(shops.path)\"\n" + team, file: testFile)
        #expect(node.shopNames == ["default", "acme", "zeta"])
        #expect(node.server.shopsDirectory == shops.path)
        #expect(try node.shops["acme"]?.get().agents.map(\.id) == ["alice"])
    }

    @Test func aMainFileWithOnlyServerServesTheShopsFilesAlone() throws {
        let shops = try ShopsDirectory(["acme.toml": team])
        let node = try NodeConfiguration.parse("[server]\nshops_dir = \"\(shops.path)\"\n", file: testFile)
        #expect(node.shopNames == ["acme"])
    }

    @Test func aMainFileWithOnlyServerAndHTTPServesTheShopsFilesAlone() throws {
        let shops = try ShopsDirectory(["acme.toml": team])
        let node = try NodeConfiguration.parse(
            "[server]\nshops_dir = \"\(shops.path)\"\n[http]\nlisten = \"127.0.0.1:0\"\n", file: testFile)
        #expect(node.shopNames == ["acme"])
        #expect(node.http?.listen == ListenAddress(host: "127.0.0.1", port: 0))
    }

    @Test func aShopsFileMayNotSayWhereTheNodeListens() throws {
        let shops = try ShopsDirectory(["acme.toml": team + "\n\n[server]\nlisten = \"0.0.0.0:1\"\n"])
        let node = try NodeConfiguration.parse("[server]\nshops_dir = \"\(shops.path)\"\n" + team, file: testFile)
        guard case .failure(let error)? = node.shops["acme"] else {
            Issue.record("acme should have failed")
            return
        }
        #expect(error.description == "\(shops.path)/acme.toml:10: server: belongs in kefud's main configuration file, not in a shop's file")
        // The other shop is not held back by it.
        #expect((try? node.shops["default"]?.get()) != nil)
    }

    @Test func aBrokenShopFileIsThatShopsErrorWithFileLineAndKey() throws {
        let shops = try ShopsDirectory(["acme.toml": team.replacingOccurrences(of: "max_chats = 3", with: "max_chats = 0")])
        let node = try NodeConfiguration.parse("[server]\nshops_dir = \"\(shops.path)\"\n" + team, file: testFile)
        guard case .failure(let error)? = node.shops["acme"] else {
            Issue.record("acme should have failed")
            return
        }
        #expect(error.description.hasPrefix("\(shops.path)/acme.toml:7: agent[0].max_chats: must be an integer from 1 to 1000"))
    }

    @Test func aShopNamedDefaultClashesWithTheMainFilesTeam() throws {
        let shops = try ShopsDirectory(["default.toml": team])
        do {
            _ = try NodeConfiguration.parse("[server]\nshops_dir = \"\(shops.path)\"\n" + team, file: testFile)
            Issue.record("default.toml beside a team in the main file should be an error")
        } catch {
            #expect(error.description.hasPrefix("test.toml:2: server.shops_dir: \(shops.path)/default.toml describes shop default"))
        }
        // Without a team in the main file, default.toml is shop default.
        let teamless = try NodeConfiguration.parse("[server]\nshops_dir = \"\(shops.path)\"\n", file: testFile)
        #expect((try? teamless.shops["default"]?.get()) != nil)
    }

    @Test func aFileWhoseNameIsNotAShopNameIsAnError() throws {
        let shops = try ShopsDirectory(["Acme Shop.toml": team])
        let node = try NodeConfiguration.parse("[server]\nshops_dir = \"\(shops.path)\"\n" + team, file: testFile)
        guard case .failure(let error)? = node.shops["Acme Shop"] else {
            Issue.record("the file should be refused")
            return
        }
        #expect(error.description.contains("must be 1-64 of a-z 0-9 _ -"))
    }

    @Test func nothingToServeOrNoDirectoryIsAnErrorOfTheMainFile() throws {
        let empty = try ShopsDirectory([:])
        #expect(throws: ConfigError.self) {
            try NodeConfiguration.parse("[server]\nshops_dir = \"\(empty.path)\"\n", file: testFile)
        }
        do {
            _ = try NodeConfiguration.parse("[server]\nshops_dir = \"\(empty.path)/nope\"\n" + team, file: testFile)
            Issue.record("a missing shops_dir should be an error")
        } catch {
            #expect(error.description == "test.toml:2: server.shops_dir: cannot read \(empty.path)/nope: no such file")
        }
    }
}

@Suite("A cluster node's main file")
struct ClusterNodeConfigurationTests {
    private let cluster = """
        [cluster]
        postgres = "postgresql://kefu@127.0.0.1:5432/kefu"
        node = "a"
        advertise = "127.0.0.1:7390"
        """

    @Test func aMainFileWithOnlyServerAndClusterServesTheShopsStoredInPostgreSQL() throws {
        let node = try NodeConfiguration.parse("[server]\nlisten = \"127.0.0.1:7390\"\n\n" + cluster, file: "k.toml")
        #expect(node.shops.isEmpty)
        #expect(node.cluster?.node == "a")
        #expect(node.cluster?.advertise.port == 7390)
    }

    @Test func aTeamBesideClusterIsAnErrorNamingTheClusterLine() throws {
        #expect {
            _ = try NodeConfiguration.parse(team + "\n\n" + cluster, file: "k.toml")
        } throws: { error in
            let text = "\(error)"
            return text.hasPrefix(
                "k.toml:10: cluster: a node of a cluster serves the shops stored in PostgreSQL, not a team in this file")
        }
    }

    @Test func shopsDirBesideClusterIsAnError() throws {
        let shops = try ShopsDirectory(["acme.toml": team])
        #expect {
            _ = try NodeConfiguration.parse("[server]\nshops_dir = \"\(shops.path)\"\n" + cluster, file: "k.toml")
        } throws: { error in
            "\(error)".hasPrefix(
                "k.toml:3: cluster: a node of a cluster serves the shops stored in PostgreSQL, not [server] shops_dir")
        }
    }
}
