/// Reads for clients that compute on what they read and check it when they commit
/// (`ShardClientOperation.read`; SQL on the sharded store): the gateway asks the leader
/// of the shard holding the first key for the keys from there to the end of the range or
/// of the shard, whichever comes first, and answers how far that covers, so the client
/// reads on from there. A read is not a transaction and takes no lock: a leader answers
/// from what it has applied. What the client then commits carries an `expectRange` of
/// every range it read, so a read that was stale, or became so, makes the commit fail.
struct GatewayRead {
    var client: NodeID
    var request: ShardClientRequest
    var start: [UInt8]
    var end: [UInt8]?
    var limit: Int
    var shard: ShardID
    var startedTick: UInt64
    var attemptTick: UInt64
    var attempts = 0
    var hops = 0
    var lastProblem = "no answer yet"
}

extension ShardNode {
    func startRead(_ request: ShardClientRequest, start: [UInt8], end: [UInt8]?, limit: Int, from client: NodeID) {
        guard (1...TransactionLimits.readEntriesMax).contains(limit) else {
            respond(to: client, request, .refused("a read returns 1 to \(TransactionLimits.readEntriesMax) keys, not \(limit)"))
            return
        }
        if let end, !start.lexicographicallyPrecedes(end) {
            respond(to: client, request, .refused("a read's end must come after its start"))
            return
        }
        guard reads.count < configuration.gatewayCallsMax else {
            respond(to: client, request, .unavailable("\(node) carries \(configuration.gatewayCallsMax) reads; retry shortly"))
            return
        }
        let id = nextRequestID
        nextRequestID += 1
        reads[id] = GatewayRead(client: client, request: request, start: start, end: end, limit: limit,
            shard: map.shard(for: start).id, startedTick: ticks, attemptTick: ticks)
        sendFetch(id)
    }

    /// Sends the read's next attempt to whichever node most likely leads its shard.
    private func sendFetch(_ id: UInt64) {
        guard var read = reads[id] else { return }
        read.attemptTick = ticks
        let attempt = read.attempts
        read.attempts += 1
        reads[id] = read
        guard let target = leaderGuess(read.shard, attempt: attempt) else {
            reads[id]!.lastProblem = "no replica of \(read.shard) is known"
            requestMap()
            return
        }
        sendShard(.fetch(request: id, shard: read.shard, start: read.start, end: read.end, limit: read.limit), to: target)
    }

    private func finishRead(_ id: UInt64, _ outcome: ShardClientOutcome) {
        guard let read = reads.removeValue(forKey: id) else { return }
        respond(to: read.client, read.request, outcome)
    }

    /// A shard's leader answers a gateway's fetch from its applied state, as far as the
    /// range, the shard, the limit and one message's bytes allow.
    func receiveFetch(request: UInt64, shard: ShardID, start: [UInt8], end: [UInt8]?, limit: Int, from gateway: NodeID) {
        guard let replica = replicas[shard], replica.isLeader, case let .data(machine) = replica.machine else {
            sendShard(.reply(request: request, .notLeader(shard, leader: replicas[shard]?.raft.leader)), to: gateway)
            return
        }
        guard machine.range.contains(start), (1...TransactionLimits.readEntriesMax).contains(limit) else {
            sendShard(.reply(request: request, .staleMap(machine.descriptorFields)), to: gateway)
            return
        }
        var until = end
        if let shardEnd = machine.range.end, until.map({ shardEnd.lexicographicallyPrecedes($0) }) ?? true { until = shardEnd }
        var entries: [ScannedEntry] = []
        var bytes = 0
        var cut = false
        for (key, version) in machine.scan(from: start, to: until, limit: limit + 1) {
            let size = key.count + version.value.count + 16
            if entries.count == limit || (bytes + size > TransactionLimits.readBytesMax && !entries.isEmpty) {
                cut = true
                break
            }
            entries.append(ScannedEntry(key: key, value: version.value, timestamp: version.timestamp))
            bytes += size
        }
        // Cut short, the answer covers up to just after its last key.
        let coveredEnd = cut ? entries[entries.count - 1].key + [0] : until
        sendShard(.reply(request: request, .fetched(entries, coveredEnd: coveredEnd)), to: gateway)
    }

    /// A leader's answer to one of this gateway's fetches; false when the request is not a read's.
    func receiveReadReply(request: UInt64, _ reply: GroupReply, from sender: NodeID) -> Bool {
        guard var read = reads[request] else { return false }
        switch reply {
        case let .fetched(entries, coveredEnd):
            finishRead(request, .read(entries, coveredEnd: coveredEnd))
        case let .notLeader(shard, _):
            read.lastProblem = "\(sender) does not lead \(shard)"
            guard read.hops < ShardNode.redirectHopsMax else {
                reads[request] = read
                return true
            }
            read.hops += 1
            reads[request] = read
            sendFetch(request)
        case let .staleMap(fields):
            // The shard no longer starts where the map said: the client reads again (its
            // next read is planned on the newer map this fetches).
            requestMap()
            finishRead(request, .unavailable("\(fields.id) now holds \(fields.range); read again"))
        case let .busy(reason):
            read.lastProblem = reason
            reads[request] = read
        case .outcome:
            read.lastProblem = "\(sender) answered a read with a transaction's outcome"
            reads[request] = read
        }
        return true
    }

    /// Reads unanswered for an attempt's time go to the next candidate; past the call
    /// deadline they are answered unavailable (a read changes nothing, so never unknown).
    func readTick() {
        for id in reads.keys.sorted() {
            guard var read = reads[id] else { continue }
            if ticks - read.startedTick >= UInt64(configuration.callDeadlineTicks) {
                finishRead(id, .unavailable("no leader of \(read.shard) answered the read (\(read.lastProblem)); read again"))
                continue
            }
            guard ticks - read.attemptTick >= UInt64(configuration.attemptTicks) else { continue }
            read.hops = 0
            reads[id] = read
            sendFetch(id)
        }
    }
}
