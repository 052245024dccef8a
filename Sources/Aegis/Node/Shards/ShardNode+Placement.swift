/// Placement: every node reports the shards it leads (and that it is alive) to the meta
/// group's leader, which
///
/// - keeps the shard map current: descriptors newer than the map's (a split's two
///   halves together, replica changes) go into the meta log;
/// - splits a shard past `splitKeysMin` keys (or on an operator's order) at a middle
///   key, under a new id it allocates in the meta log first;
/// - keeps every shard at `replicationFactor` voters, one change at a time per shard:
///   it adds a learner on a node with few replicas, promotes it once caught up, and
///   removes the extra voter from a draining node or the fullest one (handing
///   leadership away first when that voter leads); the removed node is retired from
///   that shard in the meta log, so it is never chosen for it again.
///
/// Every change is an order to the shard's leader, which runs it through its own log.
/// The driver's state is volatile: a new meta leader rebuilds it from fresh reports.
struct PlacementState {
    struct PendingOrder {
        var shard: ShardID
        var order: PlacementOrder
        var sentTick: UInt64
    }

    var reports: [ShardID: (report: ShardReport, tick: UInt64)] = [:]
    var nodeSeenTick: [NodeID: UInt64] = [:]
    var orders: [UInt64: PendingOrder] = [:]
    /// Shards with a change under way, and since when.
    var busy: [ShardID: UInt64] = [:]
    var allocationInFlight = false
    var splitWaitingForID: (shard: ShardID, key: [UInt8], generation: UInt64)?
    var updateProposedTick: UInt64?
    /// Operators' orders not yet carried out.
    var requestedSplits: [ShardID: [UInt8]?] = [:]
    var requestedMoves: [ShardID: (from: NodeID, to: NodeID)] = [:]
    /// When a learner was first seen, per shard (one that never catches up is removed).
    var learnerSinceTick: [ShardID: UInt64] = [:]
}

extension ShardNode {
    var leadsMeta: Bool { replicas[.meta]?.isLeader == true }

    private var replicationFactor: Int { configuration.layout.replicationFactor }

    /// An order outstanding longer than this is given up.
    private var orderTimeoutTicks: UInt64 { UInt64(configuration.reportTicks) * 4 }

    // MARK: reports

    func sendReports() {
        var reports: [ShardReport] = []
        for shard in replicaOrder {
            guard let replica = replicas[shard], replica.isLeader, let report = report(of: replica) else { continue }
            reports.append(report)
        }
        // Sent even when empty: it tells the meta leader this node is alive.
        sendToLeader(of: .meta, .reports(reports), attempt: leaderHints[.meta] == nil ? Int(ticks / UInt64(configuration.reportTicks)) : 0)
        if replicas[.meta] == nil, ticks % UInt64(configuration.reportTicks * 4) == 0 { requestMap() }
    }

    /// Both halves of a split, at once, so the map learns them together.
    func reportSplit(_ left: Replica, right: ShardStateMachine.DescriptorFields) {
        guard let leftReport = report(of: left) else { return }
        let descriptor = ShardDescriptor(id: right.id, range: right.range, generation: right.generation,
            replicas: left.appliedConfiguration.configuration, configurationIndex: ShardStateMachine.creationIndex)
        let rightReport = ShardReport(descriptor: descriptor, leader: node, keys: 0, bytes: 0, lag: [], middleKey: nil,
            transactionsInFlight: 0)
        sendToLeader(of: .meta, .reports([leftReport, rightReport]))
    }

    private func report(of replica: Replica) -> ShardReport? {
        let raft = replica.raft
        var lag: [(node: NodeID, entries: UInt64)] = []
        raft.progress.forEach { member, progress in
            let behind = raft.log.lastIndex.rawValue >= progress.match.rawValue ? raft.log.lastIndex.rawValue - progress.match.rawValue : 0
            lag.append((member, member == node ? 0 : behind))
        }
        let (configurationIndex, members) = replica.appliedConfiguration
        switch replica.machine {
        case let .data(machine):
            let descriptor = ShardDescriptor(id: machine.id, range: machine.range, generation: machine.generation,
                replicas: members, configurationIndex: configurationIndex)
            return ShardReport(descriptor: descriptor, leader: node, keys: machine.keyCount, bytes: machine.dataBytes, lag: lag,
                middleKey: machine.middleKey(), transactionsInFlight: machine.prepared.count + machine.pendingRecords.count)
        case let .meta(machine):
            let descriptor = ShardDescriptor(id: .meta, range: .everything, generation: machine.map.meta.generation,
                replicas: members, configurationIndex: configurationIndex)
            return ShardReport(descriptor: descriptor, leader: node, keys: 0, bytes: 0, lag: lag, middleKey: nil,
                transactionsInFlight: 0)
        case .uninitialized:
            return nil
        }
    }

    func receiveReports(_ reports: [ShardReport], from sender: NodeID) {
        guard leadsMeta else {
            sendShard(.reply(request: 0, .notLeader(.meta, leader: replicas[.meta]?.raft.leader)), to: sender)
            return
        }
        placement.nodeSeenTick[sender] = ticks
        for report in reports {
            if let known = placement.reports[report.descriptor.id], report.descriptor.isOlder(than: known.report.descriptor) {
                continue
            }
            placement.reports[report.descriptor.id] = (report, ticks)
            leaderHints[report.descriptor.id] = report.leader
        }
    }

    /// Proposes the reported descriptors the map lacks, as long as they keep it a partition.
    private func proposeMapUpdate() {
        guard let replica = replicas[.meta], replica.isLeader else { return }
        if let proposed = placement.updateProposedTick, ticks - proposed < UInt64(configuration.reportTicks) { return }
        var newer: [ShardDescriptor] = []
        for shard in placement.reports.keys.sorted() {
            let descriptor = placement.reports[shard]!.report.descriptor
            if let known = map.descriptor(of: shard), !known.isOlder(than: descriptor) { continue }
            newer.append(descriptor)
        }
        guard !newer.isEmpty else { return }
        var trial = map
        if trial.update(newer) != nil {
            // Some range changes wait for their other half: take the replica changes alone.
            newer = newer.filter { descriptor in map.descriptor(of: descriptor.id).map { $0.range == descriptor.range } ?? false }
            trial = map
            guard !newer.isEmpty, trial.update(newer) == nil else { return }
        }
        placement.updateProposedTick = ticks
        counters.mapUpdatesProposed += 1
        propose(replica, MetaCommand.update(newer).encoded, waiter: .none)
    }

    func actOnMeta(_ effect: MetaStateMachine.Effect, waiter: Waiter) {
        switch effect {
        case let .allocated(id):
            guard case .allocation = waiter else { return }
            placement.allocationInFlight = false
            guard let wanted = placement.splitWaitingForID else { return }
            placement.splitWaitingForID = nil
            order(.split(key: wanted.key, right: id, generation: wanted.generation), to: wanted.shard)
        case .updateRefused:
            placement.updateProposedTick = nil
        }
    }

    // MARK: the driver

    func placementTick() {
        guard leadsMeta, ticks % UInt64(max(1, configuration.reportTicks / 5)) == 0 else { return }
        for request in placement.orders.keys.sorted() where ticks - placement.orders[request]!.sentTick >= orderTimeoutTicks {
            let pending = placement.orders.removeValue(forKey: request)!
            placement.busy[pending.shard] = nil
        }
        for shard in placement.busy.keys.sorted() where ticks - placement.busy[shard]! >= orderTimeoutTicks {
            placement.busy[shard] = nil
        }
        proposeMapUpdate()
        guard let meta = metaMachine() else { return }
        // Only act on a map that agrees with the reports: a change in flight settles first.
        for descriptor in map.allShards {
            guard placement.busy[descriptor.id] == nil, placement.busy.count < configuration.placement.changesInFlightMax,
                  let (report, _) = placement.reports[descriptor.id], report.descriptor == descriptor
            else { continue }
            if reconcileReplicas(report, meta: meta) { continue }
            if !descriptor.id.isMeta { considerSplit(report) }
        }
    }

    private func liveNodes() -> [NodeID] {
        let recent = UInt64(configuration.reportTicks) * 3
        return map.nodes.filter { candidate in
            candidate == node || placement.nodeSeenTick[candidate].map { ticks - $0 <= recent } ?? false
        }
    }

    /// One replica change for the shard, when it needs one; returns whether it ordered one.
    private func reconcileReplicas(_ report: ShardReport, meta: MetaStateMachine) -> Bool {
        let shard = report.descriptor.id
        let members = report.descriptor.replicas
        let counts = map.replicaCounts
        func replicasOn(_ candidate: NodeID) -> Int { counts.first { $0.node == candidate }?.replicas ?? 0 }
        if let learner = members.learners.first {
            let since = placement.learnerSinceTick[shard] ?? ticks
            placement.learnerSinceTick[shard] = since
            let behind = report.lag.first { $0.node == learner }?.entries ?? UInt64.max
            if behind <= UInt64(configuration.raft.promotionLagMax) {
                order(.change(.promote(learner)), to: shard)
            } else if ticks - since > orderTimeoutTicks * 4 {
                retire(learner, from: shard)
                order(.change(.remove(learner)), to: shard)
            } else {
                return false
            }
            return true
        }
        placement.learnerSinceTick[shard] = nil
        let draining = map.decommissioning
        let requested = placement.requestedMoves[shard]
        if members.voters.count > replicationFactor {
            let victim = members.voters.max { lhs, rhs in
                func rank(_ candidate: NodeID) -> (Int, Int, Int, UInt32) {
                    (requested?.from == candidate ? 1 : 0, draining.contains(candidate) ? 1 : 0, replicasOn(candidate),
                     candidate.rawValue)
                }
                return rank(lhs) < rank(rhs)
            }!
            if victim == report.leader {
                let successor = members.voters.filter { $0 != victim && !draining.contains($0) }.min { lhs, rhs in
                    (report.lag.first { $0.node == lhs }?.entries ?? .max, lhs) < (report.lag.first { $0.node == rhs }?.entries ?? .max, rhs)
                }
                guard let successor else { return false }
                order(.transferLeadership(to: successor), to: shard)
            } else {
                retire(victim, from: shard)
                order(.change(.remove(victim)), to: shard)
                if requested?.from == victim { placement.requestedMoves[shard] = nil }
            }
            return true
        }
        let live = liveNodes()
        var target: NodeID?
        if let requested, members.voters.contains(requested.from), !members.isMember(requested.to) {
            target = requested.to
        } else {
            let candidates = live.filter { !members.isMember($0) && !draining.contains($0) && !meta.isRetired($0, from: shard) }
            let best = candidates.min { (replicasOn($0), $0) < (replicasOn($1), $1) }
            let needs = members.voters.count < replicationFactor || members.voters.contains(where: draining.contains)
            let fullest = members.voters.map(replicasOn).max() ?? 0
            if let best, needs || (configuration.placement.rebalance && fullest - replicasOn(best) >= 2) {
                target = best
            }
        }
        guard let target else { return false }
        order(.change(.addLearner(target)), to: shard)
        return true
    }

    private func considerSplit(_ report: ShardReport) {
        let shard = report.descriptor.id
        guard !placement.allocationInFlight, placement.splitWaitingForID == nil, report.transactionsInFlight == 0 else { return }
        var key: [UInt8]?
        if let requested = placement.requestedSplits[shard] {
            key = requested ?? report.middleKey
            placement.requestedSplits[shard] = nil
        } else if configuration.placement.splitKeysMin > 0, report.keys > configuration.placement.splitKeysMin {
            key = report.middleKey
        }
        guard let key, report.descriptor.range.canSplit(at: key), let replica = replicas[.meta], replica.isLeader else { return }
        placement.splitWaitingForID = (shard, key, report.descriptor.generation)
        placement.allocationInFlight = true
        placement.busy[shard] = ticks
        if !propose(replica, MetaCommand.allocateShardID.encoded, waiter: .allocation) {
            placement.allocationInFlight = false
            placement.splitWaitingForID = nil
            placement.busy[shard] = nil
        }
    }

    private func retire(_ target: NodeID, from shard: ShardID) {
        guard let replica = replicas[.meta], replica.isLeader else { return }
        propose(replica, MetaCommand.retire(shard: shard, node: target).encoded, waiter: .none)
    }

    private func order(_ placementOrder: PlacementOrder, to shard: ShardID) {
        let request = nextRequestID
        nextRequestID += 1
        placement.orders[request] = PlacementState.PendingOrder(shard: shard, order: placementOrder, sentTick: ticks)
        placement.busy[shard] = ticks
        counters.ordersIssued += 1
        stepNotes.append(.placementOrderIssued)
        sendToLeader(of: shard, .order(request: request, shard: shard, placementOrder))
    }

    func receiveOrderDone(request: UInt64, shard: ShardID, refused: String?) {
        guard let pending = placement.orders.removeValue(forKey: request) else { return }
        // Busy until the next report shows the change (or the timeout passes).
        placement.busy[pending.shard] = refused == nil ? ticks : nil
        if refused == nil { placement.reports[pending.shard] = nil }
    }

    func receiveOrderReply(request: UInt64, _ reply: GroupReply) {
        guard let pending = placement.orders.removeValue(forKey: request) else { return }
        placement.busy[pending.shard] = nil
    }

    func answerOrder(_ waiter: Waiter, refused: String?, shard: ShardID) {
        guard case let .order(target, request) = waiter else { return }
        sendShard(.orderDone(request: request, shard: shard, refused: refused), to: target)
    }

    /// A shard's leader carries out an order from the placement driver.
    func receiveOrder(request: UInt64, shard: ShardID, _ placementOrder: PlacementOrder, from driver: NodeID) {
        guard let replica = replicas[shard], replica.isLeader else {
            sendShard(.orderDone(request: request, shard: shard, refused: "\(node) does not lead \(shard)"), to: driver)
            return
        }
        let waiter = Waiter.order(node: driver, request: request)
        switch placementOrder {
        case let .split(key, right, generation):
            propose(replica, ShardCommand.split(key: key, right: right, generation: generation).encoded, waiter: waiter)
        case let .change(change):
            switch replica.raft.proposeConfigurationChange(change) {
            case let .appended(index, term):
                replica.proposals[index] = Proposal(term: term, waiter: waiter)
            case .notLeader:
                answerOrder(waiter, refused: "\(node) does not lead \(shard)", shard: shard)
            case let .refused(reason):
                answerOrder(waiter, refused: reason, shard: shard)
            }
        case let .transferLeadership(target):
            let started = replica.raft.transferLeadership(to: target)
            answerOrder(waiter, refused: started ? nil : "\(target) cannot take over \(shard)", shard: shard)
        }
    }

    /// An operator's order, taken by the meta leader only.
    func placementRequest(_ operation: ShardClientOperation) -> ShardClientOutcome {
        guard let replica = replicas[.meta], replica.isLeader else {
            let leader = replicas[.meta]?.raft.leader ?? leaderHints[.meta]
            return .unavailable("\(node) does not lead the shard map" + (leader.map { "; \($0) does" } ?? "") + "; send the order there")
        }
        switch operation {
        case let .split(shard, key):
            guard let descriptor = map.descriptor(of: shard), !shard.isMeta else { return .refused("there is no data shard \(shard)") }
            if let key, !descriptor.range.canSplit(at: key) { return .refused("\(KVText.show(key)) does not split \(descriptor.range)") }
            placement.requestedSplits[shard] = .some(key)
            return .accepted("\(shard) will split")
        case let .move(shard, from, to):
            guard let descriptor = map.descriptor(of: shard) else { return .refused("there is no shard \(shard)") }
            guard descriptor.replicas.voters.contains(from) else { return .refused("\(from) holds no voting replica of \(shard)") }
            guard map.nodes.contains(to), !descriptor.replicas.isMember(to) else {
                return .refused("\(to) is not a node without a replica of \(shard)")
            }
            guard let meta = metaMachine(), !meta.isRetired(to, from: shard) else {
                return .refused("\(to) held \(shard) before and cannot hold it again")
            }
            placement.requestedMoves[shard] = (from, to)
            return .accepted("\(shard) will move from \(from) to \(to)")
        case let .decommission(target, draining):
            guard map.nodes.contains(target) else { return .refused("\(target) is not a node of this cluster") }
            propose(replica, MetaCommand.decommission(target, draining: draining).encoded, waiter: .none)
            return .accepted(draining ? "\(target) will be drained of its replicas" : "\(target) takes replicas again")
        case .transaction, .scan, .map:
            return .refused("not an operator order")
        }
    }

    // MARK: splits on this node

    /// Creates the right half of a split on this node, as every replica of the left does
    /// when it applies the split: from the same state, with the left's configuration.
    func createSplitChild(of replica: Replica, right: ShardStateMachine.DescriptorFields, state: [UInt8]) throws(DiskError) {
        let group = right.id
        guard !store.isRemoved(group) else { return }
        if let existing = replicas[group] {
            guard case .uninitialized = existing.machine else { return }
            let creation = ShardLayout.creationState(configuration: replica.appliedConfiguration.configuration, data: state,
                hardState: existing.raft.hardState)
            try store.persist([MultiRaftLogStore.GroupWrite(group: group, hardState: creation.hardState, entries: [],
                snapshot: creation.snapshot)])
            replicas[group] = nil
            replicaOrder.removeAll { $0 == group }
            addReplica(group, creation)
        } else {
            let creation = ShardLayout.creationState(configuration: replica.appliedConfiguration.configuration, data: state)
            try store.createGroups([(group, creation)])
            addReplica(group, creation)
        }
        leaderHints[group] = nil
    }
}
