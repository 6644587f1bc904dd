/// The satisfaction survey (满意度, CSAT): asked once per conversation, when it closes after a human answered, never
/// for one only the daemon or canned replies spoke in; rated once, 1–5, before it expires; credited to the agent who
/// held the chat when it was asked (Chatwoot lost ratings' agents by crediting whoever held it at rating time).
extension RoutingCore {
    /// A closed conversation's survey, when the shop asks one and a human answered it.
    mutating func requestRating(of record: ConversationRecord, at now: Instant) {
        guard let survey = policy.satisfaction, record.firstRespondedAt != nil, surveys[record.id] == nil else { return }
        let request = RatingRecord(
            conversation: record.id, customer: record.customer, agent: record.agent, skill: record.skill,
            store: record.store, requestedAt: now, expiresAt: now + survey.expiresAfter)
        surveys[record.id] = request
        deadlines.arm(.surveyExpiry(record.id), at: request.expiresAt)
        effects.append(.persist(.rating(request)))
        effects.append(
            .deliver(
                .customer(record.customer),
                .ratingRequest(record.id, scale: SatisfactionSurvey.scale, question: survey.question)))
    }

    /// `RATE`: the buyer of a closed conversation answers its survey.
    mutating func rate(
        _ principal: Principal, _ id: ConversationID, rating: Int, comment: String?, at now: Instant
    ) -> Reply {
        guard case .customer(let customer) = principal else { return .refused(.forbidden, "RATE is for buyers") }
        guard var survey = surveys[id], survey.customer == customer, now < survey.expiresAt else {
            return .refused(.notFound, "no survey open for conversation \(id)")
        }
        guard (1...SatisfactionSurvey.scale).contains(rating) else {
            return .refused(.badArgs, "a rating is 1 to \(SatisfactionSurvey.scale)")
        }
        guard survey.rating == nil else { return .refused(.conflict, "conversation \(id) is already rated") }
        survey.rating = rating
        survey.comment = comment.flatMap { $0.isEmpty ? nil : $0 }
        survey.ratedAt = now
        surveys[id] = survey
        effects.append(.persist(.rating(survey)))
        return .ok([Field("conv", id.description), Field("rating", "\(rating)")])
    }

    /// The survey can no longer be answered: it is forgotten (the store keeps it).
    mutating func surveyExpired(_ id: ConversationID, at now: Instant) {
        if let survey = surveys[id], survey.expiresAt <= now { surveys[id] = nil }
    }

    /// Surveys the store kept that may still be answered (or were answered and have not expired), after a restart.
    public mutating func restoreSurveys(_ open: [RatingRecord], at now: Instant) {
        for survey in open where survey.expiresAt > now {
            surveys[survey.conversation] = survey
            deadlines.arm(.surveyExpiry(survey.conversation), at: survey.expiresAt)
        }
    }
}
