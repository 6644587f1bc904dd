import KefuConfig
import Testing

@Suite("TOML parser")
struct TOMLParserTests {
    // MARK: - Keys, comments, tables

    @Test func commentsBlankLinesAndKeyKinds() throws {
        let root = try parseTOML(
            """
            # leading comment

            bare_key-1 = 1   # trailing comment
            "quoted key" = 2
            'literal "key"' = 3
            "" = 4
            1234 = 5
            """
        )
        #expect(root.keys == ["bare_key-1", "quoted key", "literal \"key\"", "", "1234"])
        #expect(root["bare_key-1"] == .integer(1))
        #expect(root["quoted key"] == .integer(2))
        #expect(root["literal \"key\""] == .integer(3))
        #expect(root[""] == .integer(4))
        #expect(root["1234"] == .integer(5))
        #expect(root.line(of: "bare_key-1") == 3)
        #expect(root.line(of: "1234") == 7)
        #expect(root.line == nil)
    }

    @Test func dottedKeysBuildNestedTables() throws {
        let root = try parseTOML(
            """
            a.b = 1
            a . "c d" = 2
            site."google.com" = true
            [t]
            x.y.z = "deep"
            """
        )
        let a = try #require(root["a"]?.tableValue)
        #expect(a.keys == ["b", "c d"])
        #expect(a.line(of: "c d") == 2)
        #expect(a.line == 1)
        #expect(root.value(at: ["site", "google.com"]) == .bool(true))
        #expect(root.value(at: ["t", "x", "y", "z"]) == .string("deep"))
    }

    @Test func tableHeadersRecordTheirLines() throws {
        let root = try parseTOML(
            """
            top = 0

            [server]
            listen = "x"

            [a.b]
            c = 1
            [a]
            d = 2
            [ "quoted header" . inner ]
            e = 3
            """
        )
        #expect(root.keys == ["top", "server", "a", "quoted header"])
        let server = try #require(root["server"]?.tableValue)
        #expect(server.line == 3)
        #expect(server.line(of: "listen") == 4)
        // `[a.b]` created `a` in passing; the later `[a]` defines it, and the line moves there.
        let a = try #require(root["a"]?.tableValue)
        #expect(a.line == 8)
        #expect(a.keys == ["b", "d"])
        #expect(a["b"]?.tableValue?.line == 6)
        #expect(root.value(at: ["quoted header", "inner", "e"]) == .integer(3))
    }

    @Test func arraysOfTablesIncludingDottedNames() throws {
        let root = try parseTOML(
            """
            [[agent]]
            id = "alice"

            [[agent]]
            id = "bob"
            [agent.extra]
            note = "bob's"

            [sla]
            first_response_s = 1
            [[sla.policy]]
            name = "vip"
            [[sla.policy]]
            name = "normal"
            """
        )
        let agents = try #require(root["agent"]?.arrayValue)
        #expect(agents.count == 2)
        #expect(agents[0].tableValue?.line == 1)
        #expect(agents[1].tableValue?.line == 4)
        #expect(agents[1].tableValue?.value(at: ["extra", "note"]) == .string("bob's"))
        #expect(root.line(of: "agent") == 1)
        let policies = try #require(root.value(at: ["sla", "policy"])?.arrayValue)
        #expect(policies.map { $0.tableValue?["name"] } == [.string("vip"), .string("normal")])
        #expect(policies.map { $0.tableValue?.line } == [11, 13])
    }

    // MARK: - Strings

    @Test func basicStringEscapes() throws {
        let root = try parseTOML(
            #"""
            s = "quote \" backslash \\ newline \n tab \t cr \r end"
            u = "\u00E9\U0001F600\u0041"
            others = "\b\f\e"
            unicode = "naïve 中文"
            """#
        )
        #expect(root["s"] == .string("quote \" backslash \\ newline \n tab \t cr \r end"))
        #expect(root["u"] == .string("é😀A"))
        #expect(root["others"] == .string("\u{08}\u{0C}\u{1B}"))
        #expect(root["unicode"] == .string("naïve 中文"))
    }

    @Test func literalStringsKeepBackslashes() throws {
        let root = try parseTOML(
            #"""
            path = 'C:\Users\nodejs\templates'
            regex = '<\i\c*\s*>'
            quoted = 'Tom "Dubs" Preston-Werner'
            """#
        )
        #expect(root["path"] == .string(#"C:\Users\nodejs\templates"#))
        #expect(root["regex"] == .string(#"<\i\c*\s*>"#))
        #expect(root["quoted"] == .string(#"Tom "Dubs" Preston-Werner"#))
    }

    @Test func multilineStrings() throws {
        let root = try parseTOML(
            #"""
            basic = """
            Roses are red
            Violets are "blue\""""
            folded = """\
                The quick brown \
                fox."""
            literal = '''
            first line
              C:\raw\path
            '''
            quotes = '''He said ''yes'''''
            after = 1
            """#
        )
        #expect(root["basic"] == .string("Roses are red\nViolets are \"blue\""))
        #expect(root["folded"] == .string("The quick brown fox."))
        #expect(root["literal"] == .string("first line\n  C:\\raw\\path\n"))
        #expect(root["quotes"] == .string("He said ''yes''"))
        // Lines keep counting through multi-line strings.
        #expect(root.line(of: "after") == 12)
    }

    // MARK: - Numbers and booleans

    @Test func integers() throws {
        let root = try parseTOML(
            """
            a = 42
            b = +17
            c = -5
            d = 0
            e = 1_000_000
            f = 0xDEAD_beef
            g = 0o755
            h = 0b1101
            max = 9223372036854775807
            min = -9223372036854775808
            """
        )
        #expect(root["a"] == .integer(42))
        #expect(root["b"] == .integer(17))
        #expect(root["c"] == .integer(-5))
        #expect(root["d"] == .integer(0))
        #expect(root["e"] == .integer(1_000_000))
        #expect(root["f"] == .integer(0xDEAD_BEEF))
        #expect(root["g"] == .integer(0o755))
        #expect(root["h"] == .integer(0b1101))
        #expect(root["max"] == .integer(.max))
        #expect(root["min"] == .integer(.min))
    }

    @Test func floats() throws {
        let root = try parseTOML(
            """
            a = 1.5
            b = -0.5
            c = 1e3
            d = 6.02E+23
            e = 1_000.000_5
            f = 5e-2
            g = inf
            h = -inf
            i = nan
            """
        )
        #expect(root["a"] == .float(1.5))
        #expect(root["b"] == .float(-0.5))
        #expect(root["c"] == .float(1000))
        #expect(root["d"] == .float(6.02e23))
        #expect(root["e"] == .float(1000.0005))
        #expect(root["f"] == .float(0.05))
        #expect(root["g"] == .float(.infinity))
        #expect(root["h"] == .float(-.infinity))
        #expect(root["i"]?.doubleValue?.isNaN == true)
    }

    @Test func booleans() throws {
        let root = try parseTOML("yes = true\nno = false\n")
        #expect(root["yes"] == .bool(true))
        #expect(root["no"] == .bool(false))
    }

    @Test(arguments: ["01", "1__0", "_1", "1_", "1.", ".5", "1.e3", "+0x1", "0x", "0xG", "1e", "--1", "1.5.5", "0b102"])
    func malformedNumbersAreRejected(_ token: String) throws {
        let error = try #require(tomlError("n = \(token)"))
        #expect(error.line == 1)
        #expect(error.key == "n")
        #expect(error.message == "invalid value \(token)")
    }

    @Test func integerOverflowIsOutOfRange() throws {
        let error = try #require(tomlError("\nn = 9223372036854775808\n"))
        #expect(error.description == "test.toml:2: n: number 9223372036854775808 is out of range")
    }

    // MARK: - Arrays and inline tables

    @Test func multilineArraysWithCommentsAndTrailingCommas() throws {
        let root = try parseTOML(
            """
            ports = [
                7390,   # main
                7391,
                # a comment line
            ]
            empty = []
            nested = [[1, 2], ["a"], []]
            mixed = [1, "two", 3.0, true, { k = "v" }]
            after = 1
            """
        )
        #expect(root["ports"] == .array([.integer(7390), .integer(7391)]))
        #expect(root["empty"] == .array([]))
        #expect(root["nested"] == .array([.array([.integer(1), .integer(2)]), .array([.string("a")]), .array([])]))
        let mixed = try #require(root["mixed"]?.arrayValue)
        #expect(mixed.count == 5)
        #expect(mixed[4].tableValue?["k"] == .string("v"))
        #expect(root.line(of: "after") == 9)
    }

    @Test func inlineTables() throws {
        let root = try parseTOML(
            """
            skills = { presales = 2, refund = 3 }
            empty = {}
            nested = { point = { x = 1, y = 2 }, name.first = "Tom", "quoted k" = 'v' }
            multi = {
                a = 1,  # TOML 1.1 allows line breaks and a trailing comma
                b = 2,
            }
            """
        )
        let skills = try #require(root["skills"]?.tableValue)
        #expect(skills.keys == ["presales", "refund"])
        #expect(skills["refund"] == .integer(3))
        #expect(root["empty"] == .table(TOMLTable(line: 2)))
        #expect(root.value(at: ["nested", "point", "y"]) == .integer(2))
        #expect(root.value(at: ["nested", "name", "first"]) == .string("Tom"))
        #expect(root.value(at: ["nested", "quoted k"]) == .string("v"))
        let multi = try #require(root["multi"]?.tableValue)
        #expect(multi.keys == ["a", "b"])
        #expect(multi.line(of: "b") == 6)
    }

    @Test func windowsLineEndingsAndByteOrderMark() throws {
        let root = try parseTOML("\u{FEFF}a = 1\r\n# c\r\nb = \"\"\"\r\nx\r\ny\"\"\"\r\n")
        #expect(root["a"] == .integer(1))
        #expect(root["b"] == .string("x\ny"))
        #expect(root.line(of: "b") == 3)
    }

    // MARK: - Errors with exact lines

    @Test func missingEqualsSign() throws {
        let error = try #require(tomlError("a = 1\nb 2\n"))
        #expect(error.description == "test.toml:2: b: expected '=' after the key, found '2'")
        #expect(error.column == 3)
    }

    @Test func garbageAfterValue() throws {
        let error = try #require(tomlError("a = 1\n\nb = 1 2\n"))
        #expect(error.description == "test.toml:3: b: unexpected '2' after the value; expected the end of the line")
        #expect(error.column == 7)
    }

    @Test func missingValue() throws {
        let error = try #require(tomlError("[server]\nlisten =\n"))
        #expect(error.description == "test.toml:2: server.listen: missing value")
    }

    @Test func invalidKeyCharacter() throws {
        let error = try #require(tomlError("ok = 1\n$bad = 2\n"))
        #expect(error.description == "test.toml:2: expected a key, found '$'")
    }

    @Test func unquotedStringValue() throws {
        let error = try #require(tomlError("[server]\nlisten = localhost\n"))
        #expect(error.description == "test.toml:2: server.listen: invalid value localhost (strings must be quoted)")
    }

    @Test func datesAreNotSupported() throws {
        #expect(tomlError("d = 1979-05-27")?.message == "dates and times are not supported")
        #expect(tomlError("t = 07:32:00")?.message == "dates and times are not supported")
    }

    @Test func duplicateKey() throws {
        let error = try #require(
            tomlError(
                """
                [agent]
                id = "a"
                name = "A"
                id = "b"
                """
            )
        )
        #expect(error.description == "test.toml:4: agent.id: duplicate key (first defined on line 2)")
        #expect(error.column == 1)
    }

    @Test func duplicateQuotedKeyIsShownQuoted() throws {
        let error = try #require(tomlError("[\"my table\"]\n\"my key\" = 1\n'my key' = 2\n"))
        #expect(error.description == #"test.toml:3: "my table"."my key": duplicate key (first defined on line 2)"#)
    }

    @Test func keysInArraysOfTablesAreShownWithTheirIndex() throws {
        let text = """
            [[agent]]
            id = "alice"
            [[agent]]
            id = "bob"
            [agent.extra]
            note = 1
            note = 2
            """
        let duplicate = try #require(tomlError(text))
        #expect(duplicate.description == "test.toml:7: agent[1].extra.note: duplicate key (first defined on line 6)")
        let table = try #require(tomlError("[[agent]]\n[agent.skills]\n[agent.skills]\n"))
        #expect(table.description == "test.toml:3: agent[0].skills: duplicate table: already defined on line 2")
        let trailing = try #require(tomlError("[[sla.policy]]\nname = \"vip\" x\n"))
        #expect(
            trailing.description
                == "test.toml:2: sla.policy[0].name: unexpected 'x' after the value; expected the end of the line"
        )
    }

    @Test func duplicateKeyInInlineTable() throws {
        let error = try #require(tomlError("x = 1\nskills = { refund = 1, refund = 2 }\n"))
        #expect(error.description == "test.toml:2: skills.refund: duplicate key (first defined on line 2)")
        #expect(error.column == 24)
    }

    @Test func duplicateTable() throws {
        let error = try #require(
            tomlError(
                """
                [server]
                listen = "a"

                [sla]
                [server]
                """
            )
        )
        #expect(error.description == "test.toml:5: server: duplicate table: already defined on line 1")
    }

    @Test func implicitTableMayBeDefinedOnceOnly() throws {
        #expect(tomlError("[a.b]\n[a]\n") == nil)
        let error = try #require(tomlError("[a.b]\n[a]\n[a]\n"))
        #expect(error.description == "test.toml:3: a: duplicate table: already defined on line 2")
    }

    @Test func tableDefinedByDottedKeysCannotBeReopened() throws {
        let error = try #require(tomlError("[fruit]\napple.color = \"red\"\n[fruit.apple]\n"))
        #expect(
            error.description == "test.toml:3: fruit.apple: duplicate table: already defined by dotted keys on line 2"
        )
        // A sub-table of it may still get a header.
        #expect(tomlError("[fruit]\napple.color = \"red\"\n[fruit.apple.texture]\nsmooth = true\n") == nil)
    }

    @Test func dottedKeysCannotReachIntoHeaderTables() throws {
        let error = try #require(tomlError("[a.b.c]\nz = 9\n[a]\nb.c.t = 1\n"))
        #expect(error.line == 4)
        #expect(error.key == "a.b.c.t")
        #expect(error.message == "cannot add to table [a.b] (defined on line 1) with dotted keys")
    }

    @Test func valuesCannotBecomeTables() throws {
        let scalar = try #require(tomlError("a = 1\na.b = 2\n"))
        #expect(scalar.description == "test.toml:2: a.b: cannot add a key: a is already an integer (line 1)")
        let inline = try #require(tomlError("a = { x = 1 }\n[a.y]\n"))
        #expect(
            inline.description == "test.toml:2: a.y: cannot open this table: a is already an inline table (line 1)"
        )
        let header = try #require(tomlError("a = { x = 1 }\n[a]\n"))
        #expect(
            header.description
                == "test.toml:2: a: cannot define a table: the key is already an inline table (line 1)"
        )
    }

    @Test func arrayOfTablesConflicts() throws {
        let overTable = try #require(tomlError("[agent]\n[[agent]]\n"))
        #expect(
            overTable.description
                == "test.toml:2: agent: cannot define an array of tables: the key is already a table (line 1)"
        )
        let overArray = try #require(tomlError("agent = []\n[[agent]]\n"))
        #expect(overArray.line == 2)
        let tableOverArray = try #require(tomlError("[[agent]]\n[agent]\n"))
        #expect(
            tableOverArray.description
                == "test.toml:2: agent: cannot define a table: the key is already an array of tables (line 1)"
        )
    }

    @Test func unterminatedStrings() throws {
        let basic = try #require(tomlError("a = 1\nname = \"Alice\nb = 2\n"))
        #expect(basic.description == "test.toml:2: name: unterminated string")
        #expect(basic.column == 8)
        let literal = try #require(tomlError("name = 'Alice"))
        #expect(literal.description == "test.toml:1: name: unterminated string")
        let multiline = try #require(tomlError("a = 1\n\ntext = \"\"\"\nline\nline\n"))
        #expect(multiline.description == "test.toml:3: text: unterminated multi-line string")
        let quotedKey = try #require(tomlError("\"abc = 1\n"))
        #expect(quotedKey.description == "test.toml:1: unterminated string")
    }

    @Test func unterminatedArrayAndInlineTable() throws {
        let array = try #require(tomlError("a = 1\nports = [\n  1,\n  2,\n"))
        #expect(array.description == "test.toml:2: ports: unterminated array: missing ']'")
        let inline = try #require(tomlError("skills = { a = 1\n"))
        #expect(inline.description == "test.toml:1: skills: unterminated inline table: missing '}'")
        let separator = try #require(tomlError("ports = [1 2]\n"))
        #expect(separator.description == "test.toml:1: ports: expected ',' or ']' after an array element, found '2'")
    }

    @Test func badEscape() throws {
        let error = try #require(tomlError("a = 1\n[server]\nlisten = \"C:\\q\"\n"))
        #expect(
            error.description
                == #"test.toml:3: server.listen: invalid escape sequence: backslash followed by 'q' "#
                + #"(valid: \b \t \n \f \r \e \" \\ \uXXXX \UXXXXXXXX)"#
        )
        #expect(error.column == 13)
    }

    @Test func badUnicodeEscapes() throws {
        let short = try #require(tomlError("a = \"\\u12\"\n"))
        #expect(short.line == 1)
        #expect(short.message.hasPrefix("invalid unicode escape"))
        let surrogate = try #require(tomlError("\n\na = \"\\uD800\"\n"))
        #expect(surrogate.line == 3)
        #expect(surrogate.message.hasPrefix("invalid unicode escape \\uD800"))
    }

    @Test func controlCharactersMustBeEscaped() throws {
        let error = try #require(tomlError("a = \"x\u{01}y\"\n"))
        #expect(error.description == "test.toml:1: a: control character U+0001 in a string; use an escape")
    }

    @Test func badHeaders() throws {
        #expect(
            tomlError("[server\n")?.description
                == "test.toml:1: server: expected ']' to close the table header, found the end of the line"
        )
        #expect(tomlError("\n[[agent]\n")?.line == 2)
        #expect(
            tomlError("[a] x = 1\n")?.description
                == "test.toml:1: unexpected 'x' after the table header; expected the end of the line"
        )
    }

    @Test func runawayNestingIsAnError() throws {
        let text = "a = " + String(repeating: "[", count: 100) + String(repeating: "]", count: 100)
        #expect(tomlError(text)?.message == "arrays and inline tables are nested too deeply")
    }

    @Test func errorDescriptionFormat() {
        #expect(ConfigError(file: "f.toml", line: 3, key: "a.b", message: "bad").description == "f.toml:3: a.b: bad")
        #expect(ConfigError(file: "f.toml", key: "a", message: "bad").description == "f.toml: a: bad")
        #expect(ConfigError(file: "f.toml", line: 9, message: "bad").description == "f.toml:9: bad")
        #expect(ConfigError(file: "f.toml", message: "bad").description == "f.toml: bad")
    }
}
