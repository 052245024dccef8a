/// A node's counters and gauges as JSON (`/api/v1/metrics`); `/metrics` exports the
/// same and more through swift-metrics (`ServerMetrics`).
struct MetricsReport {
    let status: NodeStatus

    private var samples: [(name: String, kind: String, help: String, value: Double)] {
        // (name, kind and help document each figure here, where the JSON keys come from)
        let counters = status.counters
        return [
            ("aegis_raft_term", "gauge", "The node's current Raft term.", Double(status.term)),
            ("aegis_raft_commit_index", "gauge", "The highest log index known committed.", Double(status.commitIndex)),
            ("aegis_raft_applied_index", "gauge", "The highest log index applied to the state machine.", Double(status.appliedIndex)),
            ("aegis_raft_last_index", "gauge", "The last index in the node's log.", Double(status.lastIndex)),
            ("aegis_raft_is_leader", "gauge", "1 when this node leads.", status.leader == status.node ? 1 : 0),
            ("aegis_raft_leader_changes_total", "counter", "Times this node saw the leader change.", Double(counters.leaderChanges)),
            ("aegis_kv_keys", "gauge", "Keys in the state machine.", Double(status.keys)),
            ("aegis_requests_total", "counter", "Calls carried to the cluster.", Double(counters.callsStarted)),
            ("aegis_requests_succeeded_total", "counter", "Calls answered with a result.", Double(counters.callsSucceeded)),
            ("aegis_requests_failed_total", "counter", "Calls answered with an error.", Double(counters.callsFailed)),
            ("aegis_requests_forwarded_total", "counter", "Call attempts forwarded to the leader.", Double(counters.forwarded)),
            ("aegis_requests_retried_total", "counter", "Call attempts retried.", Double(counters.retries)),
            ("aegis_peer_messages_dropped_total", "counter", "Peer messages dropped (full queue or no address).", Double(status.transportDropped)),
            ("aegis_peer_connections_rejected_total", "counter", "Inbound peer connections closed for bad frames.", Double(status.transportRejected)),
            ("aegis_node_stopped", "gauge", "1 when the node stopped after a disk failure.", status.stoppedReason == nil ? 0 : 1),
        ]
    }

    var json: [String: Any] {
        var object: [String: Any] = ["node_id": Int(status.node.rawValue)]
        for sample in samples { object[String(sample.name.dropFirst("aegis_".count))] = sample.value }
        return object
    }
}
