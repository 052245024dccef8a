/// The gateway: any node takes a client's transaction, plans it against its copy of the
/// shard map (which shard holds each key), and carries it to the shards' leaders: one
/// shard commits it in one step (`execute`), several by two-phase commit under the
/// shard of its first key (`begin`). A new leader or a lost answer is retried with the
/// same transaction id, which the shards' sessions apply at most once; a shard that no
/// longer holds a key answers `stale map`, and the gateway fetches a newer map and plans
/// again (a refused request took no effect). Once an attempt may have taken effect the
/// plan is kept, so a retry reaches the same coordinator and its session.
struct GatewayCall {
    var client: NodeID
    var request: ShardClientRequest
    var operations: [TransactionOperation]
    var startedTick: UInt64
    var attemptTick: UInt64 = 0
    var attempts = 0
    var requestIDs: [UInt64] = []
    var plan: [ParticipantPlan] = []
    var mayHaveApplied = false
    var waitingForMap = false
    /// Set by a stale-map answer: the next attempt plans afresh (what was refused took
    /// no effect, and the shard holding the first key, where an earlier attempt may
    /// have taken effect, is where the new plan leads).
    var replan = false
    var mapVersionSeen: UInt64 = 0
    /// Redirects followed at once since the last timed attempt: bounded, so two nodes
    /// that point at each other cannot bounce a call at network speed.
    var hops = 0
    var lastProblem = "no answer yet"
}

extension ShardNode {
    static let redirectHopsMax = 4
    static let requestIDsKeptMax = 16

    func handleClient(_ request: ShardClientRequest, from client: NodeID) {
        switch request.operation {
        case let .transaction(operations):
            startCall(request, operations, from: client)
        case .map:
            respond(to: client, request, .map(map))
        case let .scan(start, end, limit):
            respond(to: client, request, scanLocally(start: start, end: end, limit: limit))
        case let .read(start, end, limit):
            startRead(request, start: start, end: end, limit: limit, from: client)
        case .split, .move, .decommission:
            // An order this node's own server takes goes on to the meta leader, whose
            // answer comes back here (to the server); others are told who leads.
            if client == node, !leadsMeta, let leader = leaderGuess(.meta), leader != node {
                network.send(to: leader, bytes: request.encoded)
                return
            }
            respond(to: client, request, placementRequest(request.operation))
        }
    }

    func respond(to client: NodeID, _ request: ShardClientRequest, _ outcome: ShardClientOutcome) {
        let response = ShardClientResponse(clientID: request.clientID, sequence: request.sequence, outcome: outcome)
        network.send(to: client, bytes: response.encoded)
    }

    /// Why a transaction can never run as sent, or nil.
    private func invalidity(_ operations: [TransactionOperation]) -> String? {
        guard !operations.isEmpty else { return "a transaction needs at least one operation" }
        guard operations.count <= TransactionLimits.operationsMax else {
            return "a transaction holds at most \(TransactionLimits.operationsMax) operations, not \(operations.count)"
        }
        var bytes = 0
        for operation in operations {
            guard !operation.key.isEmpty, operation.key.count <= TransactionLimits.keyBytesMax else {
                return "keys are 1 to \(TransactionLimits.keyBytesMax) bytes"
            }
            bytes += operation.key.count + 16
            switch operation {
            case let .put(_, value), let .expect(_, value?):
                guard value.count <= TransactionLimits.valueBytesMax else {
                    return "values are at most \(TransactionLimits.valueBytesMax) bytes"
                }
                bytes += value.count
            default: break
            }
        }
        guard bytes <= TransactionLimits.bytesMax else { return "a transaction is at most \(TransactionLimits.bytesMax) bytes" }
        return nil
    }

    private func startCall(_ request: ShardClientRequest, _ operations: [TransactionOperation], from client: NodeID) {
        let transaction = request.transactionID
        if var call = calls[transaction] {
            // A retry of a call still under way: answer it when it ends.
            call.client = client
            calls[transaction] = call
            return
        }
        if let problem = invalidity(operations) {
            respond(to: client, request, .refused(problem))
            return
        }
        guard calls.count < configuration.gatewayCallsMax else {
            respond(to: client, request, .unavailable("\(node) carries \(configuration.gatewayCallsMax) calls; retry shortly"))
            return
        }
        calls[transaction] = GatewayCall(client: client, request: request, operations: operations, startedTick: ticks)
        attempt(transaction)
    }

    /// Groups operations by the shard their key is in, in order of first appearance
    /// (the first is the coordinator).
    func plan(_ operations: [TransactionOperation]) -> [ParticipantPlan] {
        var plans: [ParticipantPlan] = []
        for (index, operation) in operations.enumerated() {
            let shard = map.shard(for: operation.key)
            if let position = plans.firstIndex(where: { $0.shard == shard.id }) {
                plans[position].operations.append((index, operation))
            } else {
                plans.append(ParticipantPlan(shard: shard.id, generation: shard.generation, operations: [(index, operation)]))
            }
        }
        return plans
    }

    /// The shard of the first `expectRange` in `plan` that does not end inside it.
    func rangeSpanningShards(_ plan: [ParticipantPlan]) -> ShardID? {
        for participant in plan {
            guard let descriptor = map.descriptor(of: participant.shard), let shardEnd = descriptor.range.end else { continue }
            for (_, operation) in participant.operations {
                guard let span = operation.range else { continue }
                if span.end.map({ shardEnd.lexicographicallyPrecedes($0) }) ?? true { return participant.shard }
            }
        }
        return nil
    }

    /// Sends the call's next attempt.
    func attempt(_ transaction: TransactionID) {
        guard var call = calls[transaction] else { return }
        if call.plan.isEmpty || !call.mayHaveApplied || call.replan {
            call.plan = plan(call.operations)
            // A range that spans shards on this map was cut on another: the client must
            // cut it again (and digest each piece), so it is answered at once.
            if let crossing = rangeSpanningShards(call.plan) {
                finishCall(transaction, .transaction(.aborted(.staleMap(shard: crossing))))
                return
            }
        }
        call.replan = false
        let request = nextRequestID
        nextRequestID += 1
        call.requestIDs.append(request)
        callByRequest[request] = transaction
        if call.requestIDs.count > ShardNode.requestIDsKeptMax {
            // Answers to attempts this old are let go (a newer attempt asks the same thing).
            callByRequest[call.requestIDs.removeFirst()] = nil
        }
        call.attemptTick = ticks
        let attemptNumber = call.attempts
        call.attempts += 1
        call.waitingForMap = false
        let coordinator = call.plan[0].shard
        calls[transaction] = call
        let message: ShardMessage = call.plan.count == 1
            ? .execute(request: request, shard: coordinator, transaction, plan: call.plan[0])
            : .begin(request: request, shard: coordinator, transaction, participants: call.plan)
        guard let target = leaderGuess(coordinator, attempt: attemptNumber) else {
            calls[transaction]!.lastProblem = "no replica of \(coordinator) is known"
            requestMap()
            return
        }
        sendShard(message, to: target)
    }

    func finishCall(_ transaction: TransactionID, _ outcome: ShardClientOutcome) {
        guard let call = calls.removeValue(forKey: transaction) else { return }
        for request in call.requestIDs { callByRequest[request] = nil }
        respond(to: call.client, call.request, outcome)
    }

    func receiveReply(request: UInt64, _ reply: GroupReply, from sender: NodeID) {
        if case let .notLeader(shard, leader) = reply {
            // No leader known there either: forget the hint, so the next try walks the replicas.
            leaderHints[shard] = leader
        }
        if request == 0 { return }
        if receiveReadReply(request: request, reply, from: sender) { return }
        if placement.orders[request] != nil {
            receiveOrderReply(request: request, reply)
            return
        }
        guard let transaction = callByRequest[request], var call = calls[transaction] else { return }
        switch reply {
        case let .outcome(outcome):
            finishCall(transaction, .transaction(outcome))
        case let .notLeader(shard, _):
            call.lastProblem = "\(sender) does not lead \(shard)"
            guard call.hops < ShardNode.redirectHopsMax else {
                calls[transaction] = call
                return
            }
            call.hops += 1
            calls[transaction] = call
            attempt(transaction)
        case let .staleMap(fields):
            counters.staleMapReplies += 1
            stepNotes.append(.staleMapReplanned)
            call.lastProblem = "\(fields.id) now holds \(fields.range) (generation \(fields.generation))"
            call.replan = true
            call.waitingForMap = true
            call.mapVersionSeen = map.version
            calls[transaction] = call
            requestMap()
        case let .busy(reason):
            call.lastProblem = reason
            call.mayHaveApplied = true
            // Retried at the next tick, not at once: whatever was busy may need a moment.
            call.attemptTick = ticks >= UInt64(configuration.attemptTicks) ? ticks - UInt64(configuration.attemptTicks) + 1 : 0
            calls[transaction] = call
        case .fetched:
            call.lastProblem = "\(sender) answered a transaction with a read's entries"
            calls[transaction] = call
        }
    }

    /// Deadlines: an attempt unanswered is retried elsewhere; a call past its deadline
    /// is answered unknown (when it may have taken effect) or unavailable.
    func gatewayTick() {
        readTick()
        for transaction in calls.keys.sorted() {
            guard var call = calls[transaction] else { continue }
            if ticks - call.startedTick >= UInt64(configuration.callDeadlineTicks) {
                finishCall(transaction, call.mayHaveApplied
                    ? .unknown("no answer within \(configuration.callDeadlineTicks) ticks (\(call.lastProblem)); retry with the same sequence to learn the outcome")
                    : .unavailable("no shard answered within \(configuration.callDeadlineTicks) ticks (\(call.lastProblem)); retry"))
                continue
            }
            guard ticks - call.attemptTick >= UInt64(configuration.attemptTicks) else { continue }
            if call.waitingForMap {
                // The newer map did not come: ask again and plan with what there is.
                requestMap(force: true)
            } else if call.attempts > 0 {
                call.mayHaveApplied = true
            }
            call.hops = 0
            calls[transaction] = call
            attempt(transaction)
        }
    }

    /// Asks the meta group's leader for the map (at most once per attempt period).
    func requestMap(force: Bool = false) {
        if let asked = mapRequestedAtTick, !force, ticks - asked < UInt64(configuration.attemptTicks) / 2 { return }
        mapRequestedAtTick = ticks
        let request = nextRequestID
        nextRequestID += 1
        if let meta = replicas[.meta], case let .meta(machine) = meta.machine {
            adoptMap(machine.map)
        }
        sendToLeader(of: .meta, .mapRequest(request: request), attempt: Int(ticks % 7))
    }

    /// Calls that met a stale map go again once a newer map is here (else at their
    /// attempt deadline, so a map slow to change does not set off a storm of retries).
    func replanCallsWaitingForMap() {
        for transaction in calls.keys.sorted() where calls[transaction]!.waitingForMap {
            if map.version > calls[transaction]!.mapVersionSeen { attempt(transaction) }
        }
    }

    /// A listing of the shards this node can read itself, from its replica of each,
    /// leader or follower (a follower may lag; a listing, not a snapshot); keys on
    /// shards it does not host are left out and the answer says it is incomplete.
    func scanLocally(start: [UInt8], end: [UInt8]?, limit: Int) -> ShardClientOutcome {
        var entries: [ScannedEntry] = []
        var complete = true
        let bounded = max(0, min(limit, KVLimits.scanEntriesMax))
        for descriptor in map.shards {
            if let end, !descriptor.range.start.lexicographicallyPrecedes(end) { break }
            if let shardEnd = descriptor.range.end, !start.lexicographicallyPrecedes(shardEnd) { continue }
            guard let machine = dataMachine(of: descriptor.id) else {
                complete = false
                continue
            }
            for (key, version) in machine.scan(from: start, to: end, limit: bounded - entries.count) {
                entries.append(ScannedEntry(key: key, value: version.value, timestamp: version.timestamp))
            }
            if entries.count >= bounded { break }
        }
        return .entries(entries, complete: complete)
    }

    // MARK: the shard leader's side

    func receiveExecute(request: UInt64, shard: ShardID, _ transaction: TransactionID, plan: ParticipantPlan, from gateway: NodeID) {
        guard let replica = replicas[shard], replica.isLeader, case let .data(machine) = replica.machine else {
            sendShard(.reply(request: request, .notLeader(shard, leader: replicas[shard]?.raft.leader)), to: gateway)
            return
        }
        if let answer = machine.sessionAnswer(transaction) {
            sendShard(.reply(request: request, .outcome(answer)), to: gateway)
            return
        }
        propose(replica, ShardCommand.execute(transaction, plan: plan, proposed: hlc.now()).encoded,
            waiter: .gateway(node: gateway, request: request))
    }

    func receiveBegin(request: UInt64, shard: ShardID, _ transaction: TransactionID, participants: [ParticipantPlan],
                      from gateway: NodeID) {
        guard let replica = replicas[shard], replica.isLeader, case let .data(machine) = replica.machine else {
            sendShard(.reply(request: request, .notLeader(shard, leader: replicas[shard]?.raft.leader)), to: gateway)
            return
        }
        if let answer = machine.sessionAnswer(transaction) {
            sendShard(.reply(request: request, .outcome(answer)), to: gateway)
            return
        }
        if let outcome = machine.records[transaction]?.outcome {
            sendShard(.reply(request: request, .outcome(outcome)), to: gateway)
            return
        }
        if coordinations[transaction] != nil {
            coordinations[transaction]!.waiters.append((gateway, request))
            return
        }
        propose(replica, ShardCommand.begin(transaction, participants: participants, proposed: hlc.now()).encoded,
            waiter: .gateway(node: gateway, request: request))
    }
}
