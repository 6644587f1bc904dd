import KefuConfig
import Testing

private let team = """
    [customers]
    token_sha256 = "\(hashA)"
    """

@Suite("[cluster]")
struct ClusterSettingsTests {
    @Test func aClusterSectionNamesPostgresTheNodeAndWhereClientsReachIt() throws {
        let configuration = try KefuConfiguration.parse(
            """
            [cluster]
            postgres = "postgresql://kefu:s%40cret@db.internal:5433/kefu"
            node = "kefu-1"
            advertise = "10.0.0.11:7390"
            lease_ttl_s = 12
            """ + "\n" + team, file: testFile)
        let cluster = try #require(configuration.cluster)
        #expect(cluster.postgres == PostgresURL(host: "db.internal", port: 5433, user: "kefu", password: "s@cret", database: "kefu"))
        #expect(cluster.postgres.description == "postgresql://kefu:***@db.internal:5433/kefu")
        #expect(cluster.node == "kefu-1")
        #expect(cluster.advertise == ListenAddress(host: "10.0.0.11", port: 7390))
        #expect(cluster.leaseSeconds == 12)
        #expect(cluster.renewSeconds == 2)
        #expect(cluster.probeSeconds == 0.5)
        #expect(try KefuConfiguration.parse(team, file: testFile).cluster == nil)
    }

    @Test func urlsTakeTheFormsPsqlTakes() {
        #expect(PostgresURL("postgres://127.0.0.1/kefu") == PostgresURL(host: "127.0.0.1", user: "kefu", database: "kefu"))
        #expect(PostgresURL("postgresql://ops@[::1]:6000/chat")
            == PostgresURL(host: "::1", port: 6000, user: "ops", database: "chat"))
        #expect(PostgresURL("mysql://h/kefu") == nil)
        #expect(PostgresURL("postgresql://h") == nil)
        #expect(PostgresURL("postgresql://h/kefu?sslmode=require") == nil)
        #expect(PostgresURL("postgresql://h:0/kefu") == nil)
    }

    @Test(arguments: [
        ("postgres = \"mysql://h/kefu\"\nnode = \"a\"\nadvertise = \"h:1\"", "test.toml:2: cluster.postgres: must start with postgresql://"),
        ("postgres = \"postgresql://h/kefu\"\nadvertise = \"h:1\"", "test.toml:1: cluster.node: missing required key"),
        ("postgres = \"postgresql://h/kefu\"\nnode = \"a b\"\nadvertise = \"h:1\"", "test.toml:3: cluster.node: must be 1 to 64 characters of A-Z a-z 0-9 . _ -, found \"a b\""),
        ("postgres = \"postgresql://h/kefu\"\nnode = \"a\"\nadvertise = \"h:0\"", "test.toml:4: cluster.advertise: must be the host:port clients reach this node at (not port 0)"),
        ("postgres = \"postgresql://h/kefu\"\nnode = \"a\"\nadvertise = \"h:1\"\nlease_ttl_s = 5", "test.toml:5: cluster.renew_every_s: must be at most a third of lease_ttl_s (5.0), so a lost renewal costs no shop"),
        ("postgres = \"postgresql://h/kefu\"\nnode = \"a\"\nadvertise = \"h:1\"\nlease_ttl_s = 2", "test.toml:5: cluster.lease_ttl_s: must be 3 seconds or more (a node stops serving 1 s before its lease can expire)"),
    ])
    func mistakesNameTheirKey(_ body: String, _ expected: String) {
        #expect(configError("[cluster]\n" + body + "\n" + team)?.description == expected)
    }

    @Test func aShopsFileMayNotJoinAClusterOfItsOwn() throws {
        #expect(throws: ConfigError.self) {
            try KefuConfiguration.parse(
                team + "\n[cluster]\npostgres = \"postgresql://h/kefu\"\nnode = \"a\"\nadvertise = \"h:1\"\n",
                file: testFile, kind: .shop)
        }
    }
}
