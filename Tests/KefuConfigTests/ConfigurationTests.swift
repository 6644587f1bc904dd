import Foundation
import KefuConfig
import Testing

@Suite("Configuration decoding")
struct ConfigurationTests {
    /// `[customers]` plus what a test adds after it; `[customers]` is on line 1.
    private func config(_ rest: String) -> String {
        "[customers]\ntoken_sha256 = \"\(hashA)\"\n" + rest
    }

    // MARK: - Accepted configurations

    @Test func defaultsApplyWhenOptionalSectionsAreAbsent() throws {
        let configuration = try KefuConfiguration.parse(config(""), file: testFile)
        #expect(configuration.server == ServerSettings())
        #expect(configuration.server.listen == ListenAddress(host: "127.0.0.1", port: 7390))
        #expect(configuration.server.stateDirectory == nil)
        #expect(configuration.server.maxLineBytes == 16_384)
        #expect(configuration.server.shutdownGraceSeconds == 5)
        #expect(configuration.sla.firstResponseSeconds == 120)
        #expect(configuration.customers.tokenSHA256 == hashA)
        #expect(configuration.agents.isEmpty)
        #expect(configuration.supervisors.isEmpty)
    }

    @Test func fullConfiguration() throws {
        let configuration = try KefuConfiguration.parse(
            """
            [server]
            listen = "0.0.0.0:8000"
            state_dir = "/var/lib/kefu"
            max_line_bytes = 64
            shutdown_grace_s = 0.25

            [sla]
            first_response_s = 1.5

            [customers]
            token_sha256 = "\(hashA.uppercased())"

            [[agent]]
            id = "alice"
            token_sha256 = "\(hashB)"
            max_chats = 5
            skills = { refund = 3, presales = 2 }

            [[agent]]
            id = "bob.smith-2"
            name = "Bob Smith"
            token_sha256 = "\(hashC)"
            max_chats = 1000
            [agent.skills]
            complaint = 5
            logistics = 1

            [[supervisor]]
            id = "lead"
            token_sha256 = "\(hashD)"
            """,
            file: testFile
        )
        #expect(configuration.server.listen == ListenAddress(host: "0.0.0.0", port: 8000))
        #expect(configuration.server.stateDirectory == "/var/lib/kefu")
        #expect(configuration.server.maxLineBytes == 64)
        #expect(configuration.server.shutdownGraceSeconds == 0.25)
        #expect(configuration.sla.firstResponseSeconds == 1.5)
        // Hashes are normalised to lowercase.
        #expect(configuration.customers.tokenSHA256 == hashA)

        let alice = configuration.agents[0]
        #expect(alice.id == "alice")
        #expect(alice.name == "alice")
        #expect(alice.tokenSHA256 == hashB)
        #expect(alice.maxChats == 5)
        #expect(alice.skills == [SkillLevel(skill: "presales", level: 2), SkillLevel(skill: "refund", level: 3)])
        #expect(alice.skillLevels == ["presales": 2, "refund": 3])
        #expect(alice.level(of: "refund") == 3)
        #expect(alice.level(of: "complaint") == nil)

        let bob = configuration.agents[1]
        #expect(bob.id == "bob.smith-2")
        #expect(bob.name == "Bob Smith")
        #expect(bob.maxChats == 1000)
        #expect(bob.skills.map(\.skill) == ["complaint", "logistics"])

        #expect(configuration.supervisors == [SupervisorSettings(id: "lead", name: "lead", tokenSHA256: hashD)])
    }

    @Test func responseLimitDefaultsToTheFirstResponseLimitAndMayBeSet() throws {
        let absent = try KefuConfiguration.parse(config("[sla]\nfirst_response_s = 30\n"), file: testFile)
        #expect(absent.sla.responseSeconds == nil)
        let set = try KefuConfiguration.parse(
            config("[sla]\nfirst_response_s = 30\nresponse_s = 180\n"), file: testFile)
        #expect(set.sla.responseSeconds == 180)
        #expect(set.sla.warnSeconds == nil)
        let warned = try KefuConfiguration.parse(config("[sla]\nwarn_s = 0\n"), file: testFile)
        #expect(warned.sla.warnSeconds == 0)
        #expect(absent.sla.customerIdleCloseSeconds == 1800)
        let idle = try KefuConfiguration.parse(config("[sla]\ncustomer_idle_close_s = 0\n"), file: testFile)
        #expect(idle.sla.customerIdleCloseSeconds == 0)
        #expect(throws: ConfigError.self) {
            try KefuConfiguration.parse(config("[sla]\nresponse_s = 0\n"), file: testFile)
        }
    }

    @Test func breachRecordsPerSecondDefaultsTo200AndZeroMeansNeverSummarise() throws {
        let absent = try KefuConfiguration.parse(config("[sla]\nfirst_response_s = 30\n"), file: testFile)
        #expect(absent.sla.breachRecordsPerSecond == 200)
        #expect(SLASettings().breachRecordsPerSecond == 200)
        let set = try KefuConfiguration.parse(config("[sla]\nbreach_records_per_s = 50\n"), file: testFile)
        #expect(set.sla.breachRecordsPerSecond == 50)
        let never = try KefuConfiguration.parse(config("[sla]\nbreach_records_per_s = 0\n"), file: testFile)
        #expect(never.sla.breachRecordsPerSecond == 0)
        let negative = try #require(configError(config("[sla]\nbreach_records_per_s = -1\n")))
        #expect(
            negative.description
                == "test.toml:4: sla.breach_records_per_s: must be an integer from 0 to 100000, found -1")
        let fractional = try #require(configError(config("[sla]\n\nbreach_records_per_s = 2.5\n")))
        #expect(fractional.description == "test.toml:5: sla.breach_records_per_s: expected an integer, found a float")
        let typo = try #require(configError(config("[sla]\nbreach_record_per_s = 10\n")))
        #expect(
            typo.description
                == "test.toml:4: sla.breach_record_per_s: unknown key; did you mean breach_records_per_s?")
    }

    @Test func integerSecondsAreAccepted() throws {
        let configuration = try KefuConfiguration.parse(
            config("[sla]\nfirst_response_s = 30\n[server]\nshutdown_grace_s = 0\n"), file: testFile
        )
        #expect(configuration.sla.firstResponseSeconds == 30)
        #expect(configuration.server.shutdownGraceSeconds == 0)
    }

    @Test(arguments: [
        ("[::1]:7390", "::1", 7390),
        ("[fe80::1%eth0]:80", "fe80::1%eth0", 80),
        ("[::ffff:127.0.0.1]:1", "::ffff:127.0.0.1", 1),
        ("localhost:0", "localhost", 0),
        ("127.0.0.1:65535", "127.0.0.1", 65535),
    ])
    func listenAddresses(text: String, host: String, port: Int) throws {
        let configuration = try KefuConfiguration.parse(config("[server]\nlisten = \"\(text)\"\n"), file: testFile)
        #expect(configuration.server.listen == ListenAddress(host: host, port: port))
        #expect(configuration.server.listen.description == text)
    }

    // MARK: - Rejected configurations

    @Test(arguments: [
        ("127.0.0.1", "missing port; expected host:port such as 127.0.0.1:7390"),
        ("127.0.0.1:", "invalid port \"\"; expected 0 to 65535"),
        ("127.0.0.1:70000", "invalid port \"70000\"; expected 0 to 65535"),
        ("127.0.0.1:-1", "invalid port \"-1\"; expected 0 to 65535"),
        (":7390", "missing host; expected host:port such as 127.0.0.1:7390"),
        ("::1:7390", "put an IPv6 address in brackets, e.g. [::1]:7390"),
        ("[::1]7390", "expected ':<port>' after ']'; e.g. [::1]:7390"),
        ("[::1:7390", "missing ']' after the IPv6 address; expected e.g. [::1]:7390"),
        ("[localhost]:7390", "invalid IPv6 address \"localhost\""),
        ("127.0.0.256:7390", "invalid IPv4 address \"127.0.0.256\""),
        ("my host:7390", "invalid host \"my host\""),
    ])
    func invalidListenAddresses(text: String, message: String) throws {
        let error = try #require(configError(config("[server]\nlisten = \"\(text)\"\n")))
        #expect(error.description == "test.toml:4: server.listen: \(message)")
    }

    @Test func missingRequiredKeyNamesTheAgentHeaderLine() throws {
        let error = try #require(
            configError(
                config(
                    """

                    [[agent]]
                    id = "alice"
                    token_sha256 = "\(hashB)"
                    max_chats = 2
                    skills = { refund = 1 }

                    [[agent]]
                    id = "bob"
                    token_sha256 = "\(hashC)"
                    skills = { refund = 1 }
                    """
                )
            )
        )
        #expect(error.description == "test.toml:10: agent[1].max_chats: missing required key")
        #expect(error.line == 10)
        #expect(error.key == "agent[1].max_chats")
    }

    @Test func misspeltRequiredKeyIsPointedOut() throws {
        let error = try #require(
            configError(
                config(
                    """
                    [[agent]]
                    id = "alice"
                    token_sha256 = "\(hashB)"
                    max_chat = 2
                    skills = { refund = 1 }
                    """
                )
            )
        )
        #expect(
            error.description == "test.toml:3: agent[0].max_chats: missing required key (is max_chat on line 6 a typo?)"
        )
    }

    @Test func missingCustomersSection() throws {
        let error = try #require(configError("[server]\nlisten = \"127.0.0.1:1\"\n"))
        #expect(error.description == "test.toml: customers: missing required table [customers]")
        let typo = try #require(configError("[customer]\ntoken_sha256 = \"\(hashA)\"\n"))
        #expect(
            typo.description
                == "test.toml: customers: missing required table [customers] (is customer on line 1 a typo?)"
        )
    }

    @Test func missingCustomerToken() throws {
        let error = try #require(configError("\n[customers]\n"))
        #expect(error.description == "test.toml:2: customers.token_sha256: missing required key")
    }

    @Test func unknownKeyInAgent() throws {
        let error = try #require(
            configError(
                config(
                    """
                    [[agent]]
                    id = "alice"
                    token_sha256 = "\(hashB)"
                    max_chats = 2
                    skills = { refund = 1 }
                    colour = "blue"
                    """
                )
            )
        )
        #expect(
            error.description
                == "test.toml:8: agent[0].colour: unknown key; "
                + "expected one of: id, name, token_sha256, max_chats, skills, stores, languages"
        )
    }

    @Test func unknownKeyNearAKnownOneSuggestsIt() throws {
        let error = try #require(configError(config("[server]\nlisten = \"127.0.0.1:1\"\nmax_line_byte = 100\n")))
        #expect(error.description == "test.toml:5: server.max_line_byte: unknown key; did you mean max_line_bytes?")
    }

    @Test func autoRepliesAreOptionalMessagesThatMayNotBeBlank() throws {
        let set = try KefuConfiguration.parse(
            config("[auto_reply]\ngreeting = \"亲,欢迎光临\"\nqueued = \"请稍候\\n马上来\"\n"), file: testFile)
        #expect(set.autoReplies == AutoReplySettings(greeting: "亲,欢迎光临", queued: "请稍候\n马上来"))
        #expect(try KefuConfiguration.parse(config(""), file: testFile).autoReplies == AutoReplySettings())
        let error = try #require(configError(config("[auto_reply]\ngreeting = \"  \"\n")))
        #expect(error.key == "auto_reply.greeting")
        #expect(error.message == "must not be empty; leave it out to send nothing")
    }

    @Test func unknownTopLevelKey() throws {
        // Top-level keys must come before the first header, or they would belong to that table.
        let error = try #require(configError("debug = true\n" + config("")))
        #expect(
            error.description
                == "test.toml:1: debug: unknown key; expected one of: server, cluster, http, sla, customers, agent, supervisor, "
                + "routing, skill, gateway, auto_reply, csat, manager, escalation, business_hours, retention, replay"
        )
    }

    @Test func businessHoursAreReadWithTheirDefaults() throws {
        let text = config(
            """
            [business_hours]
            hours = "09:00-21:30"
            closed_days = ["sun"]
            holidays = ["2026-10-01", "2027-02-06"]
            """)
        let hours = try #require(try KefuConfiguration.parse(text, file: testFile).businessHours)
        #expect(hours.timeZone == "Asia/Shanghai")
        #expect(hours.utcOffsetMinutes == 480)
        #expect(hours.opens == 540)
        #expect(hours.closes == 1290)
        #expect(hours.closedWeekdays == [7])
        #expect(hours.holidays == [20_727, 20_855])
        #expect(hours.offsetChanges.isEmpty)  // China keeps one offset all year
        #expect(try KefuConfiguration.parse(config(""), file: testFile).businessHours == nil)
        // A zone with daylight saving time: its switches are read with the zone (2026's among them).
        let newYork = try #require(
            try KefuConfiguration.parse(config("[business_hours]\ntime_zone = \"America/New_York\"\n"), file: testFile)
                .businessHours)
        #expect(newYork.offsetChanges.contains(UTCOffsetChange(unixMilliseconds: 1_772_953_200_000, minutes: -240)))
        #expect(newYork.offsetChanges.contains(UTCOffsetChange(unixMilliseconds: 1_793_512_800_000, minutes: -300)))
        #expect(newYork.offsetChanges.count >= 38)  // two a year for twenty years and more
        let defaults = try KefuConfiguration.parse(config("[business_hours]\n"), file: testFile).businessHours
        #expect(defaults == BusinessHoursSettings())
        let zone = try #require(configError(config("[business_hours]\ntime_zone = \"Mars/Olympus\"\n")))
        #expect(zone.key == "business_hours.time_zone")
        let backwards = try #require(configError(config("[business_hours]\nhours = \"23:00-08:00\"\n")))
        #expect(backwards.message == "expected \"HH:MM-HH:MM\" with the opening first")
    }

    @Test func theEscalationLadderAndManagersAreRead() throws {
        let text = config(
            """
            [sla]
            max_reassign = 1

            [[escalation]]
            after_s = 0
            actions = ["reassign", "supervisor"]

            [[escalation]]
            after_s = 600
            actions = ["manager"]

            [[manager]]
            id = "boss"
            token_sha256 = "\(String(repeating: "ab", count: 32))"
            """)
        let configuration = try KefuConfiguration.parse(text, file: testFile)
        #expect(configuration.sla.maxReassign == 1)
        #expect(
            configuration.escalation == [
                EscalationSettings(afterSeconds: 0, actions: ["reassign", "supervisor"]),
                EscalationSettings(afterSeconds: 600, actions: ["manager"]),
            ])
        #expect(configuration.managers.map(\.id) == ["boss"])
        #expect(try KefuConfiguration.parse(config(""), file: testFile).escalation == nil)

        let descending = config(
            "[[escalation]]\nafter_s = 60\nactions = [\"supervisor\"]\n"
                + "[[escalation]]\nafter_s = 30\nactions = [\"manager\"]\n")
        let error = try #require(configError(descending))
        #expect(error.key == "escalation[1].after_s")
        let unknown = try #require(configError(config("[[escalation]]\nafter_s = 0\nactions = [\"page\"]\n")))
        #expect(unknown.message == "unknown action; actions are reassign, supervisor, manager")
    }

    @Test func slaPoliciesMatchBySkillStoreAndPriorityInFileOrder() throws {
        let text = config(
            """
            [sla]
            first_response_s = 60
            resolution_s = 7200

            [[sla.policy]]
            store = "jd"
            first_response_s = 30

            [[sla.policy]]
            priority = "vip"
            skill = "presales"
            response_s = 90
            warn_s = 20
            """)
        let configuration = try KefuConfiguration.parse(text, file: testFile)
        #expect(configuration.sla.resolutionSeconds == 7200)
        #expect(
            configuration.sla.policies == [
                SLAPolicySettings(store: "jd", firstResponseSeconds: 30),
                SLAPolicySettings(skill: "presales", priority: "vip", responseSeconds: 90, warnSeconds: 20),
            ])
        let bad = try #require(configError(config("[sla]\n\n[[sla.policy]]\npriority = \"urgent\"\n")))
        #expect(bad.key == "sla.policy[0].priority")
        #expect(bad.message == "expected normal or vip")
        // A policy's own hours: the calendar keys in its entry; keys not given take [business_hours]'s defaults.
        let jd = try KefuConfiguration.parse(
            config("[sla]\n\n[[sla.policy]]\nstore = \"jd\"\nhours = \"00:00-24:00\"\nclosed_days = []\n"),
            file: testFile)
        #expect(jd.sla.policies.first?.businessHours == BusinessHoursSettings(opens: 0, closes: 1440))
        let badHours = try #require(
            configError(config("[sla]\n\n[[sla.policy]]\nstore = \"jd\"\nhours = \"night\"\n")))
        #expect(badHours.key == "sla.policy[0].hours")
    }

    @Test(arguments: [0, 6, -1, 100])
    func skillLevelsOutsideOneToFiveAreUnknown(level: Int) throws {
        let error = try #require(
            configError(
                config(
                    """
                    [[agent]]
                    id = "alice"
                    token_sha256 = "\(hashB)"
                    max_chats = 2
                    skills = { presales = 3, refund = \(level) }
                    """
                )
            )
        )
        #expect(
            error.description == "test.toml:7: agent[0].skills.refund: unknown skill level \(level); levels are 1 to 5"
        )
    }

    @Test func skillLevelOfTheWrongType() throws {
        let error = try #require(configError(config(agentText(skills: "{ refund = \"high\" }"))))
        #expect(
            error.description
                == "test.toml:7: agent[0].skills.refund: expected an integer skill level from 1 to 5, found a string"
        )
    }

    @Test func skillNamesAndEmptySkills() throws {
        let empty = try #require(configError(config(agentText(skills: "{}"))))
        #expect(
            empty.description == "test.toml:7: agent[0].skills: must list at least one skill, e.g. { presales = 3 }"
        )
        let badName = try #require(configError(config(agentText(skills: "{ Refund = 2 }"))))
        #expect(
            badName.description
                == "test.toml:7: agent[0].skills.Refund: invalid skill name; use 1 to 64 of a-z 0-9 _ -"
        )
        let quoted = try #require(configError(config(agentText(skills: "{ \"after sales\" = 2 }"))))
        #expect(quoted.key == "agent[0].skills.\"after sales\"")
        let noSkills = config("[[agent]]\nid = \"a\"\ntoken_sha256 = \"\(hashB)\"\nmax_chats = 1\n")
        let missing = try #require(configError(noSkills))
        #expect(missing.description == "test.toml:3: agent[0].skills: missing required key")
    }

    @Test(arguments: [0, -3, 1001])
    func maxChatsOutOfRange(value: Int) throws {
        let error = try #require(configError(config(agentText(maxChats: "\(value)"))))
        #expect(
            error.description == "test.toml:6: agent[0].max_chats: must be an integer from 1 to 1000, found \(value)"
        )
    }

    @Test func wrongTypesNameTheExpectedType() throws {
        let maxChats = try #require(configError(config(agentText(maxChats: "\"5\""))))
        #expect(maxChats.description == "test.toml:6: agent[0].max_chats: expected an integer, found a string")
        let fractional = try #require(configError(config(agentText(maxChats: "2.5"))))
        #expect(fractional.message == "expected an integer, found a float")
        let seconds = try #require(configError(config("[sla]\nfirst_response_s = \"120\"\n")))
        #expect(seconds.description == "test.toml:4: sla.first_response_s: expected a number, found a string")
        let listen = try #require(configError(config("[server]\nlisten = 7390\n")))
        #expect(listen.description == "test.toml:4: server.listen: expected a string, found an integer")
        let section = try #require(configError("sla = 5\n" + config("")))
        #expect(section.description == "test.toml:1: sla: expected a table ([sla]), found an integer")
        let agentTable = try #require(configError(config("[agent]\nid = \"alice\"\n")))
        #expect(agentTable.description == "test.toml:3: agent: expected an array of tables ([[agent]]), found a table")
    }

    @Test func secondsMustBePositive() throws {
        let zero = try #require(configError(config("[sla]\nfirst_response_s = 0\n")))
        #expect(
            zero.description
                == "test.toml:4: sla.first_response_s: must be a number of seconds, more than 0; found 0.0"
        )
        let negative = try #require(configError(config("[server]\nshutdown_grace_s = -1.5\n")))
        #expect(negative.message == "must be a number of seconds, 0 or more; found -1.5")
        let infinite = try #require(configError(config("[sla]\nfirst_response_s = inf\n")))
        #expect(infinite.key == "sla.first_response_s")
    }

    /// Found by the configuration fuzz target (issue #14): a holiday with a longer year than `YYYY` overflowed the day
    /// count and trapped.
    @Test func holidaysAreFourDigitYears() throws {
        let impossible = ["2026-02-29", "2026-02-31", "2100-02-29", "2026-04-31", "2026-13-01", "2026-00-10"]
        for date in ["006309187226049708032-02-06", "99999999999999999-01-01", "+202-01-01", "2026-1-01", "2026-01-"]
            + impossible
        {
            let error = try #require(configError(config("[business_hours]\nholidays = [\"\(date)\"]\n")), "\(date)")
            #expect(error.description == "test.toml:4: business_hours.holidays: expected \"YYYY-MM-DD\" dates")
        }
        let policy = try #require(
            configError(config("[sla]\n\n[[sla.policy]]\nholidays = [\"9223372036854775807-01-01\"]\n")))
        #expect(policy.key == "sla.policy[0].holidays")
        let hours = try KefuConfiguration.parse(
            config("[business_hours]\nholidays = [\"0001-01-01\", \"9999-12-31\"]\n"), file: testFile)
        #expect(hours.businessHours?.holidays == [-719_162, 2_932_896])
        // Leap days that exist.
        let leap = try KefuConfiguration.parse(
            config("[business_hours]\nholidays = [\"2028-02-29\", \"2000-02-29\"]\n"), file: testFile)
        #expect(leap.businessHours?.holidays.count == 2)
    }

    /// Found by the configuration fuzz target (issue #14): a finite but huge duration was accepted, and kefud then
    /// trapped converting it to milliseconds at startup (a crash systemd restarts into) instead of exiting 78.
    @Test func secondsHaveAnUpperBound() throws {
        let huge = try #require(configError(config("[sla]\nfirst_response_s = 1e300\n")))
        #expect(
            huge.description
                == "test.toml:4: sla.first_response_s: must be a number of seconds, at most 315360000 (ten years); "
                + "found 1e+300")
        let grace = try #require(configError(config("[server]\nidle_timeout_s = 9.3e9\n")))
        #expect(grace.key == "server.idle_timeout_s")
        let rung = try #require(configError(config("[[escalation]]\nafter_s = 1e19\nactions = [\"manager\"]\n")))
        #expect(rung.key == "escalation[0].after_s")
        let ten = 10 * 365 * 86_400
        #expect(
            try KefuConfiguration.parse(config("[routing]\nsticky_window_s = \(ten)\n"), file: testFile)
                .routing.stickyWindowSeconds == Double(ten))
        #expect(configError(config("[routing]\nsticky_window_s = \(ten + 1)\n"))?.key == "routing.sticky_window_s")
    }

    @Test func serverLimits() throws {
        let small = try #require(configError(config("[server]\nmax_line_bytes = 63\n")))
        #expect(
            small.description
                == "test.toml:4: server.max_line_bytes: must be an integer from 64 to 16777216, found 63"
        )
        let empty = try #require(configError(config("[server]\nstate_dir = \"\"\n")))
        #expect(empty.message == "must not be empty; leave it out for the default")
    }

    @Test func duplicateAgentID() throws {
        let error = try #require(
            configError(config(agentText(id: "alice") + "\n" + agentText(id: "bob") + "\n" + agentText(id: "alice")))
        )
        #expect(
            error.description == "test.toml:16: agent[2].id: duplicate agent id \"alice\" (also agent[0], line 4)"
        )
    }

    @Test func theAgentIdNoneIsReserved() throws {
        let error = try #require(configError(config(agentText(id: "none"))))
        #expect(error.key == "agent[0].id")
        #expect(error.message.hasPrefix("the agent id \"none\" is reserved"))
    }

    @Test func duplicateSupervisorID() throws {
        let error = try #require(
            configError(
                config(
                    """
                    [[supervisor]]
                    id = "lead"
                    token_sha256 = "\(hashB)"

                    [[supervisor]]
                    id = "lead"
                    name = "Second lead"
                    token_sha256 = "\(hashC)"
                    """
                )
            )
        )
        #expect(
            error.description
                == "test.toml:8: supervisor[1].id: duplicate supervisor id \"lead\" (also supervisor[0], line 4)"
        )
    }

    @Test func supervisorIDMayNotCollideWithAnAgentID() throws {
        let supervisor = "\n[[supervisor]]\nid = \"alice\"\ntoken_sha256 = \"\(hashC)\"\n"
        let error = try #require(configError(config(agentText(id: "alice") + supervisor)))
        #expect(
            error.description
                == "test.toml:10: supervisor[0].id: id \"alice\" is already used by agent[0] (line 4); "
                + "agent and supervisor ids must differ"
        )
    }

    @Test(arguments: ["", "al ice", "a/b", String(repeating: "x", count: 65), "émile"])
    func invalidIDs(id: String) throws {
        let error = try #require(configError(config(agentText(id: id))))
        #expect(error.line == 4)
        #expect(error.key == "agent[0].id")
        #expect(error.message.hasPrefix("must be 1 to 64 characters of A-Z a-z 0-9 . _ -, found \""))
    }

    @Test func badTokenHashes() throws {
        let short = try #require(configError("[customers]\ntoken_sha256 = \"abc123\"\n"))
        #expect(
            short.description
                == "test.toml:2: customers.token_sha256: must be 64 hex digits, the SHA-256 of the secret "
                + "(printf %s SECRET | sha256sum); found 6 characters"
        )
        let notHex = String(repeating: "a", count: 63) + "g"
        let wrongDigit = try #require(configError(config(agentText(token: notHex))))
        #expect(wrongDigit.key == "agent[0].token_sha256")
        #expect(wrongDigit.line == 5)
        #expect(wrongDigit.message.hasSuffix("found a character that is not a hex digit"))
        let supervisorMissing = try #require(configError(config("[[supervisor]]\nid = \"lead\"\n")))
        #expect(supervisorMissing.description == "test.toml:3: supervisor[0].token_sha256: missing required key")
    }

    @Test func displayNames() throws {
        let empty = try #require(configError(config(agentText(extra: "name = \"  \"\n"))))
        #expect(empty.description == "test.toml:8: agent[0].name: must not be empty; leave it out to use the id")
        let lineBreak = try #require(configError(config(agentText(extra: "name = \"Al\\nice\"\n"))))
        #expect(lineBreak.message == "must not contain control characters such as line breaks")
        let named = config(agentText(extra: "name = \"小明 (Ming)\"\n"))
        let unicode = try KefuConfiguration.parse(named, file: testFile)
        #expect(unicode.agents[0].name == "小明 (Ming)")
    }

    @Test func syntaxErrorsComeThroughWithTheirLine() throws {
        let error = try #require(configError(config("[server]\nlisten = \"127.0.0.1:7390\n")))
        #expect(error.description == "test.toml:4: server.listen: unterminated string")
    }

    // MARK: - Loading files

    @Test func loadReadsAFile() throws {
        let path = FileManager.default.temporaryDirectory
            .appendingPathComponent("kefu-config-\(UUID().uuidString).toml").path
        try config(agentText()).write(toFile: path, atomically: false, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let configuration = try KefuConfiguration.load(path: path)
        #expect(configuration.agents.map(\.id) == ["alice"])

        try config("[server]\nmax_line_bytes = 1\n").write(toFile: path, atomically: false, encoding: .utf8)
        let error = try #require(throws: ConfigError.self) { try KefuConfiguration.load(path: path) }
        #expect(error.file == path)
        #expect(error.line == 4)
    }

    @Test func loadNamesAnUnreadableFile() throws {
        let path = "/nonexistent/kefud.toml"
        let error = try #require(throws: ConfigError.self) { try KefuConfiguration.load(path: path) }
        #expect(error.description == "/nonexistent/kefud.toml: cannot read the file: no such file")
        let directory = try #require(throws: ConfigError.self) {
            try KefuConfiguration.load(path: FileManager.default.temporaryDirectory.path)
        }
        #expect(directory.message == "cannot read the file: it is a directory")
    }

    // MARK: - Helpers

    /// One `[[agent]]` block of five lines (header first), followed by `extra` lines.
    private func agentText(
        id: String = "alice",
        token: String = hashB,
        maxChats: String = "2",
        skills: String = "{ refund = 1 }",
        extra: String = ""
    ) -> String {
        """
        [[agent]]
        id = "\(id)"
        token_sha256 = "\(token)"
        max_chats = \(maxChats)
        skills = \(skills)

        """ + extra
    }
}
