/// Two-phase commit between shard leaders.
///
/// Coordinator (the leader of the shard whose `begin` recorded the transaction): asks
/// each participant's leader to prepare, gathers the votes in memory, and proposes the
/// decision to its own log — commit at a timestamp above every vote's when all voted
/// yes, abort at the first no or when votes are missing past `decisionTimeoutTicks`.
/// Only once the decision is applied (committed in its log) are the participants told,
/// again and again until each acknowledges; then the record is forgotten. A new leader
/// finds the pending and decided records in the shard's state and carries on.
///
/// Participant (the leader of a shard with a share of the transaction): proposes the
/// prepare (which locks, reads, stages and votes when it applies), sends the vote, and
/// proposes the decision when it comes. One left waiting past `resolveAfterTicks` asks
/// the coordinator, which answers from its record, aborts a pending one, and aborts one
/// it no longer knows (forgotten, so every participant already applied its decision and
/// what waits is a duplicate).
struct Coordination {
    var shard: ShardID
    var participants: [ParticipantPlan]
    var votes: [ShardID: Vote] = [:]
    var startedTick: UInt64
    var lastSentTick: UInt64
    var sends = 0
    var deciding = false
    var waiters: [(node: NodeID, request: UInt64)] = []
}

struct Finishing {
    var shard: ShardID
    var participants: [ShardID]
    var commit: Bool
    var timestamp: HybridTimestamp
    var acknowledged: [ShardID] = []
    var lastSentTick: UInt64
    var sends = 0
    var forgetting = false
}

struct ParticipantWait {
    var coordinator: ShardID
    var sinceTick: UInt64
    var asks = 0
}

/// A participant's wait is per transaction and shard (one node may lead several of its shards).
struct ParticipantKey: Hashable, Comparable {
    var transaction: TransactionID
    var shard: ShardID

    static func < (lhs: ParticipantKey, rhs: ParticipantKey) -> Bool {
        (lhs.transaction, lhs.shard) < (rhs.transaction, rhs.shard)
    }
}

extension ShardNode {
    // MARK: acting on applied entries

    func act(on effect: ShardEffect, in replica: Replica, machine: ShardStateMachine, waiter: Waiter) throws(DiskError) {
        let leads = replica.isLeader
        switch effect {
        case let .executed(_, outcome):
            if leads, case .committed = outcome { counters.onePhaseCommits += 1 }
            answerGateway(waiter, .outcome(outcome))
        case let .staleMap(_, fields):
            answerGateway(waiter, .staleMap(fields))
        case let .coordinating(transaction):
            guard leads, let record = machine.records[transaction] else { return }
            if coordinations[transaction] == nil {
                coordinations[transaction] = Coordination(shard: replica.shard, participants: record.participants,
                    startedTick: ticks, lastSentTick: ticks)
            }
            if case let .gateway(target, request) = waiter { coordinations[transaction]!.waiters.append((target, request)) }
            sendPrepares(transaction)
        case let .decided(transaction, outcome):
            answerGateway(waiter, .outcome(outcome))
            guard leads else { return }
            decided(transaction, outcome, in: replica, machine: machine)
        case let .decisionUnknown(transaction):
            guard leads else { return }
            for participant in resolvers.removeValue(forKey: transaction) ?? [] {
                sendToLeader(of: participant, .finish(coordinator: replica.shard, participant: participant, transaction,
                    commit: false, timestamp: .zero))
            }
        case let .voted(transaction, coordinator, vote):
            guard leads else { return }
            sendToLeader(of: coordinator, .vote(coordinator: coordinator, participant: replica.shard, transaction, vote))
            let key = ParticipantKey(transaction: transaction, shard: replica.shard)
            if case .yes = vote, participantWaits[key] == nil {
                participantWaits[key] = ParticipantWait(coordinator: coordinator, sinceTick: ticks)
            }
        case let .finished(transaction, coordinator):
            participantWaits[ParticipantKey(transaction: transaction, shard: replica.shard)] = nil
            guard leads else { return }
            sendToLeader(of: coordinator, .finished(coordinator: coordinator, participant: replica.shard, transaction))
        case let .split(left, right, rightState):
            counters.splitsApplied += 1
            try createSplitChild(of: replica, right: right, state: rightState)
            answerOrder(waiter, refused: nil, shard: left.id)
            if leads { reportSplit(replica, right: right) }
        case let .splitRefused(reason):
            counters.splitsRefused += 1
            answerOrder(waiter, refused: reason, shard: replica.shard)
        }
    }

    private func answerGateway(_ waiter: Waiter, _ reply: GroupReply) {
        guard case let .gateway(target, request) = waiter else { return }
        sendShard(.reply(request: request, reply), to: target)
    }

    /// Rebuilds what a new leader of `replica` must carry on with, from the shard's state.
    func becameLeader(_ replica: Replica) {
        guard case let .data(machine) = replica.machine else {
            if replica.shard.isMeta { placement = PlacementState() }
            return
        }
        for transaction in machine.pendingRecords where coordinations[transaction] == nil {
            coordinations[transaction] = Coordination(shard: replica.shard,
                participants: machine.records[transaction]!.participants, startedTick: ticks, lastSentTick: ticks)
            sendPrepares(transaction)
        }
        for transaction in machine.decidedRecords where finishing[transaction] == nil {
            let record = machine.records[transaction]!
            startFinishing(transaction, record.outcome!, participants: record.participants.map(\.shard), shard: replica.shard)
        }
        for transaction in machine.preparedTransactions {
            let key = ParticipantKey(transaction: transaction, shard: replica.shard)
            if participantWaits[key] == nil {
                participantWaits[key] = ParticipantWait(coordinator: machine.prepared[transaction]!.coordinator, sinceTick: ticks)
            }
        }
    }

    /// Forgets what this node did as leader of `shard` (another node leads it now).
    func dropVolatileState(of shard: ShardID) {
        for transaction in coordinations.keys.sorted() where coordinations[transaction]!.shard == shard {
            coordinations[transaction] = nil
        }
        for transaction in finishing.keys.sorted() where finishing[transaction]!.shard == shard {
            finishing[transaction] = nil
        }
        for key in participantWaits.keys.sorted() where key.shard == shard { participantWaits[key] = nil }
        if shard.isMeta { placement = PlacementState() }
    }

    // MARK: coordinator

    private func sendPrepares(_ transaction: TransactionID) {
        guard var coordination = coordinations[transaction] else { return }
        coordination.lastSentTick = ticks
        let attempt = coordination.sends
        coordination.sends += 1
        coordinations[transaction] = coordination
        for plan in coordination.participants where coordination.votes[plan.shard] == nil {
            sendToLeader(of: plan.shard, .prepare(coordinator: coordination.shard, participant: plan.shard, transaction, plan: plan),
                attempt: attempt)
        }
    }

    func receiveVote(coordinator: ShardID, participant: ShardID, _ transaction: TransactionID, _ vote: Vote,
                     from sender: NodeID) {
        if let replica = replicas[coordinator], !replica.isLeader {
            sendShard(.reply(request: 0, .notLeader(coordinator, leader: replica.raft.leader)), to: sender)
        }
        guard var coordination = coordinations[transaction], coordination.shard == coordinator, !coordination.deciding,
              coordination.participants.contains(where: { $0.shard == participant }) else { return }
        coordination.votes[participant] = vote
        coordinations[transaction] = coordination
        if case let .no(reason) = vote {
            decide(transaction, .aborted(reason))
            return
        }
        let yes = coordination.participants.compactMap { plan -> (HybridTimestamp, [TransactionRead])? in
            guard case let .yes(timestamp, reads)? = coordination.votes[plan.shard] else { return nil }
            return (timestamp, reads)
        }
        // Planted bug: commit on the first yes, without the other participants' prepares.
        guard yes.count == coordination.participants.count || mutations.contains(.txnCommitWithoutPrepare) else { return }
        var timestamp = hlc.now()
        for (voted, _) in yes { timestamp = max(timestamp, voted) }
        hlc.observe(timestamp)
        let reads = yes.flatMap(\.1).sorted { $0.operation < $1.operation }
        decide(transaction, .committed(timestamp: timestamp, reads: reads))
    }

    private func decide(_ transaction: TransactionID, _ outcome: TransactionOutcome) {
        guard var coordination = coordinations[transaction], let replica = replicas[coordination.shard], replica.isLeader
        else { return }
        coordination.deciding = true
        coordinations[transaction] = coordination
        if mutations.contains(.txnForgetDecision), case .committed = outcome, case let .data(machine) = replica.machine {
            // Planted bug: the decision stays in this leader's memory and never reaches
            // its log; participants are told at once. A new leader finds the record
            // undecided and aborts what some participants already committed.
            decided(transaction, outcome, in: replica, machine: machine)
            return
        }
        if !propose(replica, ShardCommand.decide(transaction, outcome).encoded, waiter: .none) {
            coordinations[transaction]?.deciding = false
        }
    }

    private func decided(_ transaction: TransactionID, _ outcome: TransactionOutcome, in replica: Replica,
                         machine: ShardStateMachine) {
        if case .committed = outcome { counters.twoPhaseCommits += 1 } else { counters.twoPhaseAborts += 1 }
        if let coordination = coordinations.removeValue(forKey: transaction) {
            for (target, request) in coordination.waiters { sendShard(.reply(request: request, .outcome(outcome)), to: target) }
        }
        let participants = machine.records[transaction]?.participants.map(\.shard) ?? []
        startFinishing(transaction, outcome, participants: participants, shard: replica.shard)
        resolvers[transaction] = nil
    }

    private func startFinishing(_ transaction: TransactionID, _ outcome: TransactionOutcome, participants: [ShardID],
                                shard: ShardID) {
        var commit = false
        var timestamp = HybridTimestamp.zero
        if case let .committed(at, _) = outcome {
            commit = true
            timestamp = at
        }
        finishing[transaction] = Finishing(shard: shard, participants: participants, commit: commit, timestamp: timestamp,
            lastSentTick: ticks)
        sendFinishes(transaction)
    }

    private func sendFinishes(_ transaction: TransactionID) {
        guard var finish = finishing[transaction] else { return }
        finish.lastSentTick = ticks
        let attempt = finish.sends
        finish.sends += 1
        finishing[transaction] = finish
        for participant in finish.participants where !finish.acknowledged.contains(participant) {
            sendToLeader(of: participant, .finish(coordinator: finish.shard, participant: participant, transaction,
                commit: finish.commit, timestamp: finish.timestamp), attempt: attempt)
        }
    }

    func receiveFinished(coordinator: ShardID, participant: ShardID, _ transaction: TransactionID, from sender: NodeID) {
        if let replica = replicas[coordinator], !replica.isLeader {
            sendShard(.reply(request: 0, .notLeader(coordinator, leader: replica.raft.leader)), to: sender)
        }
        guard var finish = finishing[transaction], finish.shard == coordinator, !finish.acknowledged.contains(participant)
        else { return }
        finish.acknowledged.append(participant)
        finishing[transaction] = finish
        guard !finish.forgetting, finish.participants.allSatisfy(finish.acknowledged.contains),
              let replica = replicas[coordinator], replica.isLeader else { return }
        finishing[transaction]!.forgetting = true
        if propose(replica, ShardCommand.forget(transaction).encoded, waiter: .none) {
            finishing[transaction] = nil
        } else {
            finishing[transaction]!.forgetting = false
        }
    }

    func receiveResolve(coordinator: ShardID, participant: ShardID, _ transaction: TransactionID, from sender: NodeID) {
        guard let replica = leadingReplica(coordinator, answering: sender), case let .data(machine) = replica.machine else { return }
        if let outcome = machine.records[transaction]?.outcome {
            var commit = false
            var timestamp = HybridTimestamp.zero
            if case let .committed(at, _) = outcome {
                commit = true
                timestamp = at
            }
            sendToLeader(of: participant, .finish(coordinator: coordinator, participant: participant, transaction,
                commit: commit, timestamp: timestamp))
            return
        }
        // Pending, or not known any more: an abort in the log settles it either way (the
        // first decision wins; one for a forgotten record only answers the askers).
        if !(resolvers[transaction] ?? []).contains(participant) { resolvers[transaction, default: []].append(participant) }
        if let coordination = coordinations[transaction], coordination.deciding { return }
        coordinations[transaction]?.deciding = true
        propose(replica, ShardCommand.decide(transaction, .aborted(.timeout)).encoded, waiter: .none)
    }

    func coordinatorTick() {
        for transaction in coordinations.keys.sorted() {
            guard let coordination = coordinations[transaction], !coordination.deciding else { continue }
            if ticks - coordination.startedTick >= UInt64(configuration.decisionTimeoutTicks) {
                counters.decisionTimeouts += 1
                decide(transaction, .aborted(.timeout))
            } else if ticks - coordination.lastSentTick >= UInt64(configuration.prepareResendTicks) {
                sendPrepares(transaction)
            }
        }
        for transaction in finishing.keys.sorted() {
            guard let finish = finishing[transaction], !finish.forgetting else { continue }
            if ticks - finish.lastSentTick >= UInt64(configuration.prepareResendTicks) { sendFinishes(transaction) }
        }
    }

    // MARK: participant

    func receivePrepare(coordinator: ShardID, participant: ShardID, _ transaction: TransactionID, plan: ParticipantPlan,
                        from sender: NodeID) {
        guard let replica = leadingReplica(participant, answering: sender), case let .data(machine) = replica.machine else { return }
        if let prepared = machine.prepared[transaction] {
            sendToLeader(of: coordinator, .vote(coordinator: coordinator, participant: participant, transaction,
                .yes(timestamp: prepared.timestamp, reads: prepared.reads)))
            return
        }
        propose(replica, ShardCommand.prepare(transaction, coordinator: coordinator, plan: plan, proposed: hlc.now()).encoded,
            waiter: .none)
    }

    func receiveFinish(coordinator: ShardID, participant: ShardID, _ transaction: TransactionID, commit: Bool,
                       timestamp: HybridTimestamp, from sender: NodeID) {
        guard let replica = leadingReplica(participant, answering: sender), case let .data(machine) = replica.machine else { return }
        hlc.observe(timestamp)
        if machine.prepared[transaction] == nil, machine.hasFinished(transaction) {
            // Applied already: acknowledge again without a log entry.
            sendToLeader(of: coordinator, .finished(coordinator: coordinator, participant: participant, transaction))
            return
        }
        propose(replica, ShardCommand.finish(transaction, coordinator: coordinator, commit: commit, timestamp: timestamp).encoded,
            waiter: .none)
    }

    func participantTick() {
        for key in participantWaits.keys.sorted() {
            guard var wait = participantWaits[key] else { continue }
            guard let machine = dataMachine(of: key.shard), machine.prepared[key.transaction] != nil,
                  replicas[key.shard]?.isLeader == true else {
                participantWaits[key] = nil
                continue
            }
            let waited = ticks - wait.sinceTick
            let due = UInt64(configuration.resolveAfterTicks) * UInt64(wait.asks + 1)
            guard waited >= due else { continue }
            wait.asks += 1
            participantWaits[key] = wait
            counters.resolvesSent += 1
            stepNotes.append(.resolveAsked)
            sendToLeader(of: wait.coordinator, .resolve(coordinator: wait.coordinator, participant: key.shard, key.transaction),
                attempt: wait.asks)
        }
    }
}
