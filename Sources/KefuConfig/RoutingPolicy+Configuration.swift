import KefuCore

extension RoutingPolicy {
    /// The routing rules of a configuration.
    public init(_ configuration: KefuConfiguration) {
        let routing = configuration.routing
        var rules = RoutingRules()
        rules.stickyWindow = .seconds(routing.stickyWindowSeconds)
        rules.stickyWait = .seconds(routing.stickyWaitSeconds)
        rules.vipBoost = .seconds(routing.vipBoostSeconds)
        rules.wrapUp = .seconds(routing.wrapUpSeconds)
        rules.reconnectGrace = .seconds(routing.reconnectGraceSeconds)
        rules.autoAwayBreaches = routing.autoAwayBreaches
        rules.autoAwayWindow = .seconds(routing.autoAwayWindowSeconds)
        self.init(
            firstResponse: .seconds(configuration.sla.firstResponseSeconds),
            response: configuration.sla.responseSeconds.map { .seconds($0) },
            warnBefore: configuration.sla.warnSeconds.map { .seconds($0) },
            agents: configuration.agents.map { agent in
                AgentProfile(
                    id: AgentID(agent.id),
                    name: agent.name,
                    maxChats: agent.maxChats,
                    skills: Dictionary(
                        agent.skills.map { (Skill($0.skill), $0.level) }, uniquingKeysWith: { a, _ in a }
                    ),
                    stores: agent.stores.map(Set.init),
                    languages: agent.languages.map(Set.init)
                )
            },
            skillRules: configuration.skills.map { skill in
                SkillRule(
                    skill: Skill(skill.name), minLevel: skill.minLevel,
                    widenAfter: skill.widenAfterSeconds.map { Milliseconds.seconds($0) },
                    fallback: skill.fallback.map { Skill($0) }, maxQueue: skill.maxQueue
                )
            },
            rules: rules,
            autoReplies: AutoReplies(
                greeting: configuration.autoReplies.greeting, queued: configuration.autoReplies.queued,
                idleWarning: configuration.autoReplies.idleWarning ?? AutoReplies.defaultIdleWarning,
                idleClose: configuration.autoReplies.idleClose ?? AutoReplies.defaultIdleClose
            )
        )
        let idle = configuration.sla.customerIdleCloseSeconds
        customerIdleClose = idle > 0 ? .seconds(idle) : nil
        maxReassign = configuration.sla.maxReassign
        if let hours = configuration.businessHours { calendar = BusinessCalendar(hours) }
        autoReplies.outOfHours = configuration.autoReplies.outOfHours
        let survey = configuration.satisfaction
        satisfaction =
            survey.enabled
            ? SatisfactionSurvey(question: survey.question, expiresAfter: .seconds(survey.expireSeconds)) : nil
        let sla = configuration.sla
        resolution = sla.resolutionSeconds.map { .seconds($0) }
        slaPolicies = sla.policies.map { policy in
            let firstResponse = policy.firstResponseSeconds ?? sla.firstResponseSeconds
            return SLAPolicy(
                skill: policy.skill.map { Skill($0) }, store: policy.store,
                priority: policy.priority.flatMap { Priority(rawValue: $0) },
                firstResponse: .seconds(firstResponse),
                response: .seconds(policy.responseSeconds ?? sla.responseSeconds ?? firstResponse),
                resolution: (policy.resolutionSeconds ?? sla.resolutionSeconds).map { .seconds($0) },
                warnBefore: (policy.warnSeconds ?? sla.warnSeconds).map { .seconds($0) },
                calendar: policy.businessHours.map(BusinessCalendar.init)
            )
        }
        if let ladder = configuration.escalation {
            escalation = ladder.map { rung in
                EscalationStep(
                    after: .seconds(rung.afterSeconds), actions: rung.actions.compactMap(EscalationAction.init)
                )
            }
        }
    }
}

extension BusinessCalendar {
    /// The calendar of `[business_hours]` (or of an `[[sla.policy]]` entry's hours).
    public init(_ hours: BusinessHoursSettings) {
        self.init(
            utcOffsetMinutes: hours.utcOffsetMinutes,
            offsetChanges: hours.offsetChanges.map {
                OffsetChange(at: Instant(unixMilliseconds: $0.unixMilliseconds), minutes: $0.minutes)
            },
            opens: hours.opens, closes: hours.closes, closedWeekdays: Set(hours.closedWeekdays),
            holidays: Set(hours.holidays)
        )
    }
}
