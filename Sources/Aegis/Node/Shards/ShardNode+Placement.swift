/// Placement: every node reports the shards it leads (and that it is alive) to the meta
/// group's leader, which
///
/// - keeps the shard map current: descriptors newer than the map's (a split's two
///   halves together, replica changes) go into the meta log;
/// - splits a shard past `splitKeysMin` keys, or busier than `splitOperationsPerSecondMin`
///   (or on an operator's order), at a middle key, under a new id it allocates in the
///   meta log first;
/// - keeps every shard at `replicationFactor` voters, one change at a time per shard:
///   it picks a node with few replicas (preferring one that never held the shard),
///   has it ready a replica (`host`: a node that held the shard before revives it from
///   its tombstone), adds it as a learner, promotes it once caught up, and removes the
///   extra voter from a draining node or the fullest one (handing leadership away
///   first when that voter leads); the removed node is noted as retired from that
///   shard in the meta log;
/// - orders a node to drop a replica its group no longer names (a removed node rarely
///   hears of its own removal), unless the driver is adding that node back.
///
/// Every change is an order to the shard's leader, which runs it through its own log.
/// The driver's state is volatile: a new meta leader rebuilds it from fresh reports.
struct PlacementState {
    struct PendingOrder {
        var shard: ShardID
        var order: PlacementOrder
        var sentTick: UInt64
        /// The node a `host` order went to.
        var target: NodeID?
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
    /// Per shard, the node that answered a `host` order and may now be added.
    var hosted: [ShardID: NodeID] = [:]
    /// Per shard, the node last added: never the one removed to bring the voters back
    /// to the replication factor (unless it drains), or a rebalance would undo itself.
    var lastAdded: [ShardID: NodeID] = [:]
    /// Per node, the replicas it last reported hosting.
    var hostedReplicas: [NodeID: [HostedReplica]] = [:]
    /// Drop orders sent, by node and shard, and when (one is sent again after a timeout).
    var dropsSent: [NodeID: [ShardID: UInt64]] = [:]
    /// When a learner was first seen, per shard (one that never catches up is removed).
    var learnerSinceTick: [ShardID: UInt64] = [:]
    /// Per shard, the last report's operation count (with its leader and tick) and the
    /// rate measured between it and the one before.
    var load: [ShardID: ShardLoad] = [:]
}

/// A shard's load as the placement driver measures it from two reports of one leader.
struct ShardLoad {
    var leader: NodeID
    var generation: UInt64
    var operations: UInt64
    var tick: UInt64
    var operationsPerSecond: Double?

    /// The next measurement after `report`: a rate when the same leader counted both at
    /// the same generation (another leader, or one restored, counts from elsewhere).
    func next(_ report: ShardReport, tick now: UInt64, tickNanoseconds: UInt64) -> ShardLoad {
        var measured = ShardLoad(leader: report.leader, generation: report.descriptor.generation,
            operations: report.operationsApplied, tick: now, operationsPerSecond: nil)
        if report.leader == leader, report.descriptor.generation == generation, report.operationsApplied >= operations,
           now > tick {
            let seconds = Double((now - tick) * tickNanoseconds) / 1e9
            measured.operationsPerSecond = Double(report.operationsApplied - operations) / seconds
        }
        return measured
    }
}

extension ShardNode {
    var leadsMeta: Bool { replicas[.meta]?.isLeader == true }

    private var replicationFactor: Int { configuration.layout.replicationFactor }

    /// An order outstanding longer than this is given up.
    private var orderTimeoutTicks: UInt64 { UInt64(configuration.reportTicks) * 4 }

    // MARK: reports

    func sendReports() {
        var reports: [ShardReport] = []
        var hosted: [HostedReplica] = []
        for shard in replicaOrder {
            guard let replica = replicas[shard] else { continue }
            hosted.append(HostedReplica(shard: shard, configurationIndex: replica.appliedConfiguration.index))
            guard replica.isLeader, let report = report(of: replica) else { continue }
            reports.append(report)
        }
        // Sent even when empty: it tells the meta leader this node is alive.
        sendToLeader(of: .meta, .reports(reports, hosted: hosted), attempt: leaderHints[.meta] == nil ? Int(ticks / UInt64(configuration.reportTicks)) : 0)
        // A node without a live meta replica learns the map by asking; so does a
        // follower, whose replica may be one the meta group removed (it hears from no
        // leader, and would otherwise never learn the map that shows it removed).
        if !leadsMeta, ticks >= nextMapRefreshTick {
            nextMapRefreshTick = ticks + UInt64(configuration.reportTicks * 4)
            requestMap()
        }
    }

    /// Both halves of a split, at once, so the map learns them together.
    func reportSplit(_ left: Replica, right: ShardStateMachine.DescriptorFields) {
        guard let leftReport = report(of: left) else { return }
        let descriptor = ShardDescriptor(id: right.id, range: right.range, generation: right.generation,
            replicas: left.appliedConfiguration.configuration, configurationIndex: ShardStateMachine.creationIndex)
        let rightReport = ShardReport(descriptor: descriptor, leader: node, keys: 0, bytes: 0, lag: [], middleKey: nil,
            transactionsInFlight: 0)
        sendToLeader(of: .meta, .reports([leftReport, rightReport], hosted: []))
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
                middleKey: machine.middleKey(), transactionsInFlight: machine.prepared.count + machine.pendingRecords.count,
                operationsApplied: machine.operationsApplied)
        case let .meta(machine):
            let descriptor = ShardDescriptor(id: .meta, range: .everything, generation: machine.map.meta.generation,
                replicas: members, configurationIndex: configurationIndex)
            return ShardReport(descriptor: descriptor, leader: node, keys: 0, bytes: 0, lag: lag, middleKey: nil,
                transactionsInFlight: 0)
        case .uninitialized:
            return nil
        }
    }

    func receiveReports(_ reports: [ShardReport], hosted: [HostedReplica], from sender: NodeID) {
        guard leadsMeta else {
            sendShard(.reply(request: 0, .notLeader(.meta, leader: replicas[.meta]?.raft.leader)), to: sender)
            return
        }
        placement.nodeSeenTick[sender] = ticks
        if !hosted.isEmpty || !reports.isEmpty { placement.hostedReplicas[sender] = hosted }
        for report in reports {
            // An older layout is ignored; the same one under a lower index is not (a new
            // leader that applied the change reports the entry's own index, lower than
            // the snapshot index its predecessor reported it under), or the driver would
            // keep sending orders to the old leader (found by shard-bank seed 246).
            if let known = placement.reports[report.descriptor.id], report.descriptor.isOlder(than: known.report.descriptor),
               !report.descriptor.hasSameLayout(as: known.report.descriptor) {
                continue
            }
            placement.reports[report.descriptor.id] = (report, ticks)
            leaderHints[report.descriptor.id] = report.leader
            let shard = report.descriptor.id
            placement.load[shard] = placement.load[shard].map {
                $0.next(report, tick: ticks, tickNanoseconds: configuration.tickNanoseconds)
            } ?? ShardLoad(leader: report.leader, generation: report.descriptor.generation,
                operations: report.operationsApplied, tick: ticks, operationsPerSecond: nil)
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
        guard leadsMeta, ticks >= nextPlacementTick else { return }
        nextPlacementTick = ticks + UInt64(max(1, configuration.reportTicks / 5))
        for request in placement.orders.keys.sorted() where ticks - placement.orders[request]!.sentTick >= orderTimeoutTicks {
            let pending = placement.orders.removeValue(forKey: request)!
            placement.busy[pending.shard] = nil
        }
        for shard in placement.busy.keys.sorted() where ticks - placement.busy[shard]! >= orderTimeoutTicks {
            placement.busy[shard] = nil
        }
        proposeMapUpdate()
        dropRemovedReplicas()
        guard let meta = metaMachine() else { return }
        // Only act on a map that agrees with the reports: a change in flight settles first.
        // Agreement ignores the index each side saw the replicas at: a leader restored
        // from a snapshot reports its replicas under the snapshot's index, and a map that
        // holds that higher index never takes the same replicas back under a lower one
        // (found by shard-bank seed 46: the driver waited for ever on the meta group).
        // Shards that must change (a replica on a draining node, too few voters, a learner
        // to settle) go before those that only could (rebalancing, splits), so the bound
        // on changes in flight never starves a drain.
        let urgent = map.allShards.filter { descriptor in
            descriptor.replicas.members.contains(where: map.decommissioning.contains)
                || descriptor.replicas.voters.count != replicationFactor || !descriptor.replicas.learners.isEmpty
        }
        for descriptor in urgent + map.allShards.filter({ candidate in !urgent.contains { $0.id == candidate.id } }) {
            guard placement.busy[descriptor.id] == nil, placement.busy.count < configuration.placement.changesInFlightMax,
                  let (report, _) = placement.reports[descriptor.id], report.descriptor.hasSameLayout(as: descriptor)
            else { continue }
            if reconcileReplicas(report, meta: meta) { continue }
            if !descriptor.id.isMeta { considerSplit(report) }
        }
        if configuration.placement.balanceLeaders { balanceLeadership() }
    }

    /// Hands one shard's leadership from the node leading the most groups to a voter of
    /// it leading at least two fewer: a leader does a shard's writing (its log, its
    /// fsyncs, its replication), so leaders bunched on one node make that node the
    /// cluster's bottleneck.
    private func balanceLeadership() {
        guard placement.busy.count < configuration.placement.changesInFlightMax else { return }
        let live = liveNodes().filter { !map.decommissioning.contains($0) }
        guard live.count > 1 else { return }
        var led: [NodeID: [ShardReport]] = [:]
        for shard in placement.reports.keys.sorted() {
            guard let (report, _) = placement.reports[shard], let descriptor = map.descriptor(of: shard),
                  report.descriptor.hasSameLayout(as: descriptor), placement.busy[shard] == nil else { continue }
            led[report.leader, default: []].append(report)
        }
        func count(_ candidate: NodeID) -> Int { led[candidate]?.count ?? 0 }
        let busiest = live.max { (count($0), $1.rawValue) < (count($1), $0.rawValue) }!
        for report in led[busiest] ?? [] {
            let candidates = report.descriptor.replicas.voters.filter { voter in
                voter != busiest && live.contains(voter) && count(voter) + 2 <= count(busiest)
                    && (report.lag.first { $0.node == voter }?.entries ?? .max) <= UInt64(configuration.raft.promotionLagMax)
            }
            guard let target = candidates.min(by: { (count($0), $0) < (count($1), $1) }) else { continue }
            counters.leadershipBalanced += 1
            order(.transferLeadership(to: target), to: report.descriptor.id)
            return
        }
    }

    /// Orders each node to drop the replicas whose group's current configuration (its
    /// leader's last report) no longer names it, as of an index at or after the one the
    /// replica reported. A node the driver is adding back (a `host` or an add under
    /// way) keeps its replica.
    private func dropRemovedReplicas() {
        let resendTicks = orderTimeoutTicks
        for holder in placement.hostedReplicas.keys.sorted() {
            for replica in placement.hostedReplicas[holder]! {
                guard let (report, _) = placement.reports[replica.shard], report.leader != holder,
                      !report.descriptor.replicas.isMember(holder),
                      replica.configurationIndex <= report.descriptor.configurationIndex,
                      !isBeingAdded(holder, to: replica.shard) else { continue }
                if let sent = placement.dropsSent[holder]?[replica.shard], ticks - sent < resendTicks { continue }
                placement.dropsSent[holder, default: [:]][replica.shard] = ticks
                let request = nextRequestID
                nextRequestID += 1
                counters.ordersIssued += 1
                sendShard(.order(request: request, shard: replica.shard, .drop(through: report.descriptor.configurationIndex)),
                    to: holder)
            }
        }
    }

    private func isBeingAdded(_ target: NodeID, to shard: ShardID) -> Bool {
        if placement.hosted[shard] == target { return true }
        return placement.orders.values.contains { pending in
            guard pending.shard == shard else { return false }
            switch pending.order {
            case .host: return pending.target == target
            case let .change(.addLearner(added)): return added == target
            default: return false
            }
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
            let justAdded = placement.lastAdded[shard]
            let victim = members.voters.max { lhs, rhs in
                func rank(_ candidate: NodeID) -> (Int, Int, Int, Int, UInt32) {
                    (requested?.from == candidate ? 1 : 0, draining.contains(candidate) ? 1 : 0,
                     candidate == justAdded ? 0 : 1, replicasOn(candidate), candidate.rawValue)
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
            let candidates = live.filter { !members.isMember($0) && !draining.contains($0) }
            let best = candidates.min { lhs, rhs in
                (meta.isRetired(lhs, from: shard) ? 1 : 0, replicasOn(lhs), lhs) < (meta.isRetired(rhs, from: shard) ? 1 : 0, replicasOn(rhs), rhs)
            }
            let needs = members.voters.count < replicationFactor || members.voters.contains(where: draining.contains)
            let fullest = members.voters.map(replicasOn).max() ?? 0
            if let best, needs || (configuration.placement.rebalance && fullest - replicasOn(best) >= 2) {
                target = best
            }
        }
        guard let target else { return false }
        if placement.hosted[shard] == target {
            placement.hosted[shard] = nil
            placement.lastAdded[shard] = target
            order(.change(.addLearner(target)), to: shard)
        } else {
            order(.host, to: shard, at: target)
        }
        return true
    }

    private func considerSplit(_ report: ShardReport) {
        let shard = report.descriptor.id
        guard !placement.allocationInFlight, placement.splitWaitingForID == nil, report.transactionsInFlight == 0 else { return }
        var key: [UInt8]?
        var byLoad = false
        if let requested = placement.requestedSplits[shard] {
            key = requested ?? report.middleKey
            placement.requestedSplits[shard] = nil
        } else if configuration.placement.splitKeysMin > 0, report.keys > configuration.placement.splitKeysMin {
            key = report.middleKey
        } else if configuration.placement.splitOperationsPerSecondMin > 0,
                  let rate = placement.load[shard]?.operationsPerSecond,
                  rate > configuration.placement.splitOperationsPerSecondMin {
            key = report.middleKey
            byLoad = true
        }
        guard let key, report.descriptor.range.canSplit(at: key), let replica = replicas[.meta], replica.isLeader else { return }
        if byLoad {
            counters.loadSplitsOrdered += 1
            stepNotes.append(.loadSplitOrdered)
        }
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

    /// Sends an order to the shard's leader, or to `target` itself (`host`).
    private func order(_ placementOrder: PlacementOrder, to shard: ShardID, at target: NodeID? = nil) {
        let request = nextRequestID
        nextRequestID += 1
        placement.orders[request] = PlacementState.PendingOrder(shard: shard, order: placementOrder, sentTick: ticks, target: target)
        placement.busy[shard] = ticks
        counters.ordersIssued += 1
        stepNotes.append(.placementOrderIssued)
        if let target {
            sendShard(.order(request: request, shard: shard, placementOrder), to: target)
        } else {
            sendToLeader(of: shard, .order(request: request, shard: shard, placementOrder))
        }
    }

    func receiveOrderDone(request: UInt64, shard: ShardID, refused: String?, from sender: NodeID) {
        guard let pending = placement.orders.removeValue(forKey: request) else { return }
        if case .host = pending.order {
            // Ready: the next round adds it (the report it acts on is still current).
            placement.busy[pending.shard] = nil
            placement.hosted[pending.shard] = refused == nil ? sender : nil
            return
        }
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

    /// A shard's leader carries out an order from the placement driver (a node about to
    /// be added carries out `host`).
    func receiveOrder(request: UInt64, shard: ShardID, _ placementOrder: PlacementOrder, from driver: NodeID) throws(DiskError) {
        switch placementOrder {
        case .host:
            try prepareToHost(shard)
            hostOrderedAtTick[shard] = ticks
            sendShard(.orderDone(request: request, shard: shard, refused: nil), to: driver)
            return
        case let .drop(through):
            try dropRemoved(shard, through: through)
            return
        default:
            break
        }
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
        case .host, .drop:
            preconditionFailure("host and drop orders are handled above")
        }
    }

    /// Drops the replica the driver found removed, unless it applied a configuration
    /// later than the one the driver judged by, or a `host` order came since: a drop
    /// sent before the driver chose this node again can arrive after the host order
    /// (found by list-append seed 163: the replica about to be added back was dropped,
    /// and the group gained a voter that ignored it).
    private func dropRemoved(_ shard: ShardID, through: LogIndex) throws(DiskError) {
        guard let replica = replicas[shard], !replica.isLeader, replica.appliedConfiguration.index <= through else { return }
        if let hosted = hostOrderedAtTick[shard], ticks - hosted < UInt64(configuration.reportTicks) * 16 { return }
        counters.replicasDropped += 1
        try destroyReplica(shard)
    }

    /// Makes this node ready to receive a replica of `shard`: nothing to do when it holds
    /// none (the leader's first message creates one) or still holds one (a replica the
    /// group removed rejoins with the log it kept, which Raft allows: it lost nothing;
    /// judging it removed here, from a map that may lag, destroyed a learner being added
    /// — shard-bank seed 193); when the shard left this node before, a new replica
    /// revived from the tombstone (`MultiRaftLogStore.Tombstone` says why that is safe).
    func prepareToHost(_ shard: ShardID) throws(DiskError) {
        guard replicas[shard] == nil, store.isRemoved(shard) else { return }
        let state = try store.reviveGroup(shard)
        addReplica(shard, state)
        counters.replicasRevived += 1
        stepNotes.append(.replicaRevived(shard))
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
            placement.requestedMoves[shard] = (from, to)
            return .accepted("\(shard) will move from \(from) to \(to)")
        case let .decommission(target, draining):
            guard map.nodes.contains(target) else { return .refused("\(target) is not a node of this cluster") }
            propose(replica, MetaCommand.decommission(target, draining: draining).encoded, waiter: .none)
            return .accepted(draining ? "\(target) will be drained of its replicas" : "\(target) takes replicas again")
        case .transaction, .scan, .read, .map:
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
