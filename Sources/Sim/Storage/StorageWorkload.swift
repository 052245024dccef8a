import Aegis

/// The storage workload: one storage node (`StorageServer`: LSM tree, MVCC
/// transactions, group commit) and clients sending transfers, writes, reads and scans
/// (`StorageClient`), judged by `StorageChecker` from what the node records:
/// - durability: after each recovery, every acknowledged commit is there;
/// - integrity: the recovered store is exactly a prefix of the commits (nothing half
///   applied, nothing from nowhere), every read and scan matches the model, money is
///   conserved, and damage surfaces only as a corruption error and only when the disk
///   really damaged something;
/// - liveness: every client finishes its operations within the bound.
///
/// The checker reads the store itself after each recovery and at the end, with the
/// disk's faults suspended so that the observer does not disturb what it observes.
final class StorageWorkload: SimWorkload {
    let scenario: Scenario
    let options: StorageOptions
    let checker: StorageChecker
    static let initialBalance = 1000
    private var problem: StorageChecker.Problem?
    private var lastRecovery: LSMTree.Recovery?
    private var openRefusals = 0
    /// The store (process incarnation, open) whose statistics were last counted into
    /// coverage, and those counts. (Not the tree's identity: a new tree can reuse a
    /// freed one's address.)
    private var seenTree: (incarnation: UInt32, opens: Int) = (.max, 0)
    private var seenStatistics = LSMTree.Statistics()

    init(scenario: Scenario, seed: UInt64, mutations: [Mutation]) {
        self.scenario = scenario
        let spec = scenario.storage
        var options = StorageOptions.simulation
        let random = SeededRandom.derive(root: seed, subsystem: "storage.options")
        options.compression = spec.compression[Int(random.uniform(below: UInt64(spec.compression.count)))]
        options.memtableBytesMax = spec.memtableBytes
        options.tableBytesTarget = spec.tableBytes
        options.blockBytes = spec.blockBytes
        options.blockCacheBytes = spec.cacheBytes
        options.limits.valueBytesMax = 2048
        options.limits.batchBytesMax = 64 << 10
        options.mutations = MutationSet(mutations)
        self.options = options
        checker = StorageChecker(accountKeys: (0..<spec.accounts).map(StorageServer.accountKey),
                                 expectedTotal: spec.accounts * StorageWorkload.initialBalance)
    }

    private var checks: [CheckName] { scenario.checks }

    func makeServer(_ environment: NodeEnvironment, servers: [NodeID]) -> any NodeProcess {
        let server = StorageServer(environment: environment, configuration: .init(
            options: options, accounts: scenario.storage.accounts, initialBalance: StorageWorkload.initialBalance,
            groupCommitNanoseconds: scenario.storage.groupCommitNanoseconds))
        server.onOpen = { [unowned self] server, tree in self.opened(server, tree) }
        return server
    }

    func makeClient(_ environment: NodeEnvironment, number: Int, servers: [NodeID]) -> any NodeProcess {
        let spec = scenario.workload
        let share = spec.operations / spec.clients + (number <= spec.operations % spec.clients ? 1 : 0)
        return StorageClient(environment: environment, configuration: .init(
            clientNumber: number, server: servers[0], operations: share, keys: spec.keys,
            accounts: scenario.storage.accounts, valueBytesMax: scenario.storage.valueBytesMax,
            oversizedValueBytes: options.limits.valueBytesMax + 1, oversizedShare: scenario.storage.oversizedShare,
            requestTimeoutNanoseconds: spec.requestTimeoutNanoseconds,
            thinkTimeNanoseconds: UInt64(spec.thinkTimeNanoseconds.lower)...UInt64(spec.thinkTimeNanoseconds.upper)))
    }

    // MARK: judging

    /// Whether the disk damaged `file`: only then may the engine report damage in it.
    private func damaged(_ disk: SimDisk) -> (String) -> Bool {
        { [unowned disk] file in disk.injectedDamage(in: file) }
    }

    private func note(_ found: StorageChecker.Problem?) {
        guard problem == nil, let found, checks.contains(found.check) else { return }
        problem = found
    }

    /// Runs `body` with the disk's faults suspended: the checker observes.
    private func observing<T>(_ disk: SimDisk, _ body: () -> T) -> T {
        disk.faultsSuspended = true
        defer { disk.faultsSuspended = false }
        return body()
    }

    /// Called by the server right after a store opens: catch up on what it recorded
    /// before, then check the recovered store against the model.
    private func opened(_ server: StorageServer, _ tree: LSMTree) {
        guard let disk = server.environment.disk as? SimDisk else { return }
        drain(server, disk)
        let simulation = disk.host.simulation
        let recovery = tree.recovery
        lastRecovery = recovery
        if recovery.tornTailBytes > 0 || recovery.tornFramesDropped > 0 { simulation.coverage.hit(.storageTornTailCut) }
        if recovery.copiesRepaired > 0 || recovery.manifestCopyRepaired { simulation.coverage.hit(.storageCopyRepaired) }
        if server.reopenCount > 0 { simulation.coverage.hit(.storageReopened) }
        let last = tree.lastTimestamp
        let lostBefore = checker.acknowledgedLostToDamage
        defer {
            if checker.acknowledgedLostToDamage > lostBefore { simulation.coverage.hit(.storageAcknowledgedLostToDamage) }
        }
        note(observing(disk) {
            checker.recovered(
                through: last, cutTail: recovery.tornTailBytes > 0 || recovery.tornFramesDropped > 0, damaged: damaged(disk),
                get: { key in Result { () throws(StorageError) in try tree.get(key, at: last)?.value } },
                scanAll: { Result { () throws(StorageError) in try tree.scan(from: [], to: nil, at: last) } })
        })
        server.observations.removeAll { if case .opened = $0 { return true } else { return false } }
    }

    /// Feeds what the server recorded to the checker.
    private func drain(_ server: StorageServer, _ disk: SimDisk) {
        let observations = server.observations
        server.observations.removeAll()
        let simulation = disk.host.simulation
        let injected = damaged(disk)
        for observation in observations {
            switch observation {
            case .opened:
                break  // handled by `opened`, which has the tree
            case let .openRefused(error):
                openRefusals += 1
                note(checker.refusedToOpen(error, damaged: injected))
            case let .committed(timestamp, writes):
                note(checker.committed(at: timestamp, writes: writes))
            case let .acknowledged(through):
                note(checker.acknowledged(through: through))
            case let .read(at, key, result):
                if case .failure(.corruption) = result { simulation.coverage.hit(.storageCorruptionDetected) }
                note(checker.read(at: at, key: key, result: result, damaged: injected))
            case let .scanned(at, start, end, limit, result):
                if case .failure(.corruption) = result { simulation.coverage.hit(.storageCorruptionDetected) }
                note(checker.scanned(at: at, start: start, end: end, limit: limit, result: result, damaged: injected))
            case .refused:
                simulation.coverage.hit(.storageWriteRefused)
            case .conflict:
                simulation.coverage.hit(.storageConflict)
            }
        }
    }

    func startNote(_ host: SimHost) -> String? {
        guard let server = host.process as? StorageServer else { return nil }
        if let refused = server.unavailable { return "store refused to open: \(refused)" }
        guard let tree = server.tree else { return nil }
        let recovery = tree.recovery
        return "store open at \(tree.lastTimestamp): tables=\(recovery.tables) wal-frames=\(recovery.walFrames) "
            + "records=\(recovery.walRecords) torn-frames=\(recovery.tornFramesDropped) torn-bytes=\(recovery.tornTailBytes) "
            + "copies-repaired=\(recovery.copiesRepaired) strays=\(recovery.strayFilesRemoved)"
            + (recovery.createdFresh ? " (created)" : "")
    }

    func checkStep(_ host: SimHost, in simulation: Simulation) -> Violation? {
        if host.role == .server, let server = host.process as? StorageServer, let disk = host.disk {
            drain(server, disk)
            if let tree = server.tree {
                let statistics = tree.statistics
                let identity = (host.incarnation, server.opens)
                if seenTree.incarnation != identity.0 || seenTree.opens != identity.1 {
                    seenTree = (identity.0, identity.1)
                    seenStatistics = LSMTree.Statistics()
                }
                simulation.coverage.hit(.storageFlush, times: statistics.flushes - seenStatistics.flushes)
                simulation.coverage.hit(.storageCompaction, times: statistics.compactions - seenStatistics.compactions)
                seenStatistics = statistics
            }
        }
        guard let found = problem else { return nil }
        problem = nil
        return Violation(kind: .safety, check: found.check, message: found.message)
    }

    private func clients(_ simulation: Simulation) -> [StorageClient] {
        simulation.clientHosts.compactMap { $0.process as? StorageClient }
    }

    func isComplete(_ simulation: Simulation) -> Bool {
        clients(simulation).allSatisfy(\.isFinished)
    }

    func finalCheck(_ simulation: Simulation, completed: Bool) -> [Violation] {
        var violations: [Violation] = []
        if let host = simulation.serverHosts.first, host.status == .running,
           let server = host.process as? StorageServer, let disk = host.disk {
            drain(server, disk)
            if let store = server.store, let tree = server.tree {
                let visible = store.visibleTimestamp
                note(observing(disk) {
                    checker.verify(
                        at: visible, damaged: damaged(disk),
                        get: { key in Result { () throws(StorageError) in try tree.get(key, at: visible)?.value } },
                        scanAll: { Result { () throws(StorageError) in try tree.scan(from: [], to: nil, at: visible) } },
                        context: "at the end")
                })
            }
        }
        if let found = problem {
            violations.append(Violation(kind: .safety, check: found.check, message: found.message))
        }
        if !completed, checks.contains(.liveness) {
            let unfinished = clients(simulation).filter { !$0.isFinished }.count
            violations.append(Violation(kind: .liveness, check: .liveness,
                message: "\(unfinished) client(s) still had operations pending at the liveness bound"))
        }
        return violations
    }

    func summary(_ simulation: Simulation) -> String {
        var tally = StorageClient.Tally()
        for client in clients(simulation) {
            tally.committed += client.tally.committed
            tally.refused += client.tally.refused
            tally.failed += client.tally.failed
            tally.values += client.tally.values
            tally.timedOut += client.tally.timedOut
        }
        var parts = [
            "committed=\(tally.committed) refused=\(tally.refused) failed=\(tally.failed) read=\(tally.values) timed-out=\(tally.timedOut)",
            "applied=\(checker.appliedThrough) acknowledged=\(checker.acknowledgedThrough) recoveries=\(checker.recoveries)",
            "verified-keys=\(checker.keysVerified) reads-checked=\(checker.readsChecked) scans-checked=\(checker.scansChecked)",
            "corruption-reported=\(checker.corruptionReported) acknowledged-lost-to-damage=\(checker.acknowledgedLostToDamage)",
            "compression=\(options.compression)",
        ]
        if let host = simulation.serverHosts.first, let server = host.process as? StorageServer, let tree = server.tree {
            let statistics = tree.statistics
            let shape = tree.levelShape.map { "\($0.tables)" }.joined(separator: "/")
            parts.append("flushes=\(statistics.flushes) compactions=\(statistics.compactions) levels=\(shape)")
        }
        return parts.joined(separator: " ")
    }
}
