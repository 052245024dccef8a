/// A node's figures as JSON (`/api/v1/metrics`), available with or without the
/// `Monitoring` trait; `/metrics` exports these and more through swift-metrics
/// (`ServerMetrics`).
struct MetricsReport {
    let status: NodeStatus

    var json: [String: Any] {
        let counters = status.counters
        return [
            "node_id": Int(status.node.rawValue),
            "raft_term": Double(status.term),
            "raft_commit_index": Double(status.commitIndex),
            "raft_applied_index": Double(status.appliedIndex),
            "raft_last_index": Double(status.lastIndex),
            "raft_is_leader": status.leader == status.node ? 1.0 : 0.0,
            "raft_leader_changes_total": Double(counters.leaderChanges),
            "kv_keys": Double(status.keys),
            "requests_total": Double(counters.callsStarted),
            "requests_succeeded_total": Double(counters.callsSucceeded),
            "requests_failed_total": Double(counters.callsFailed),
            "requests_forwarded_total": Double(counters.forwarded),
            "requests_retried_total": Double(counters.retries),
            "peer_messages_dropped_total": Double(status.transportDropped),
            "peer_connections_rejected_total": Double(status.transportRejected),
            "node_stopped": status.stoppedReason == nil ? 0.0 : 1.0,
        ]
    }
}
