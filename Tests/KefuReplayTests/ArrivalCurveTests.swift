import KefuConfig
import KefuCore
import KefuReplay
import Testing

/// The arrivals file: per 15 minutes per skill, errors naming the file and line.
@Suite struct ArrivalCurveTests {
    @Test func slotsAndSkillsAreRead() throws {
        let curve = try ArrivalCurve.parse(
            """
            start,skill,arrivals
            # the morning rush
            09:00,presales,12
            09:15,presales,8.5
            "09:00","退货",3
            23:45,presales,1

            """, file: "sale.csv")
        #expect(curve.skills == ["presales", "退货"])
        #expect(curve.expected["presales"]?[36] == 12)
        #expect(curve.expected["presales"]?[37] == 8.5)
        #expect(curve.expected["presales"]?[95] == 1)
        #expect(curve.hourly("presales", hour: 9) == 20.5)
        #expect(curve.scaled(by: 2).hourly("退货", hour: 9) == 6)
        #expect(ArrivalCurve(counts: ["presales": [4, 4]]).expected["presales"]?.count == 96)
    }

    @Test(arguments: [
        ("start,skill,arrivals\n09:10,presales,3\n", 2, "quarter hour"),
        ("start,skill,arrivals\n09:00,presales,-1\n", 2, "zero or more"),
        ("start,skill,arrivals\n09:00,presales\n", 2, "3 fields"),
        ("start,skill,arrivals\n09:00,presales,1\n09:00,presales,2\n", 3, "twice"),
        ("when,what,how many\n", 1, "header"),
        ("start,skill,arrivals\n24:00,presales,1\n", 2, "quarter hour"),
    ])
    func mistakesNameTheLine(_ text: String, _ line: Int, _ words: String) {
        do {
            _ = try ArrivalCurve.parse(text, file: "sale.csv")
            Issue.record("accepted: \(text)")
        } catch let error as ConfigError {
            #expect(error.file == "sale.csv")
            #expect(error.line == line)
            #expect(error.description.contains(words), "\(error)")
        } catch {
            Issue.record("unexpected \(error)")
        }
    }
}
