import Aegis
import Foundation
import CoreMetrics
import Metrics
#if Monitoring
import Prometheus
#endif

/// The server's metrics, through swift-metrics: request counts and latency by route
/// and status, errors by code, Raft progress, append latency, disk syncs and bytes.
/// With the `Monitoring` trait they are exported in Prometheus's text format at
/// `/metrics` (swift-prometheus); without it the handles are no-ops and `/metrics`
/// says so. `/api/v1/metrics` (JSON) works either way.
final class ServerMetrics: Sendable {
    let leaderChanges = Counter(label: "aegis_raft_leader_changes_total")
    let appendDuration = Metrics.Timer(label: "aegis_raft_append_duration_seconds")
    let term = Gauge(label: "aegis_raft_term")
    let commitIndex = Gauge(label: "aegis_raft_commit_index")
    let appliedIndex = Gauge(label: "aegis_raft_applied_index")
    let lastIndex = Gauge(label: "aegis_raft_last_index")
    let isLeader = Gauge(label: "aegis_raft_is_leader")
    let keys = Gauge(label: "aegis_kv_keys")
    let peerDropped = Gauge(label: "aegis_peer_messages_dropped")
    let peerRejected = Gauge(label: "aegis_peer_connections_rejected")
    let stopped = Gauge(label: "aegis_node_stopped")

    private init() {}

    /// Installs the Prometheus factory (once per process) when the trait is on, then
    /// makes the handles — handles made before the factory would discard their values.
    static func bootstrap() -> ServerMetrics {
        #if Monitoring
        bootstrapLock.withLock {
            guard !bootstrapped else { return }
            bootstrapped = true
            var factory = PrometheusMetricsFactory(registry: PrometheusCollectorRegistry())
            factory.defaultDurationHistogramBuckets = [
                .microseconds(100), .microseconds(250), .microseconds(500), .milliseconds(1), .milliseconds(2),
                .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100),
                .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(5),
            ]
            MetricsSystem.bootstrap(factory)
        }
        #endif
        return ServerMetrics()
    }

    #if Monitoring
    private static let bootstrapLock = NSLock()
    nonisolated(unsafe) private static var bootstrapped = false
    #endif

    /// Handles per (method, route, status), made once: making one looks it up in the
    /// factory under a lock, which every request would otherwise pay.
    private static let requestHandlesLock = NSLock()
    nonisolated(unsafe) private static var requestHandles: [String: (count: CoreMetrics.Counter, duration: Metrics.Timer)] = [:]

    static func request(method: String, route: String, status: Int, seconds: Double) {
        let key = method + " " + route + " " + String(status)
        let handles = requestHandlesLock.withLock {
            if let handles = requestHandles[key] { return handles }
            let made = (Counter(label: "aegis_http_requests_total", dimensions: [("method", method), ("route", route), ("status", String(status))]),
                        Metrics.Timer(label: "aegis_http_request_duration_seconds", dimensions: [("route", route)]))
            requestHandles[key] = made
            return made
        }
        handles.count.increment()
        handles.duration.recordNanoseconds(Int64(seconds * 1e9))
    }

    static func error(code: String) {
        Counter(label: "aegis_http_errors_total", dimensions: [("code", code)]).increment()
    }

    /// Refreshes the gauges from a status, before an export.
    func update(from status: NodeStatus) {
        term.record(Double(status.term))
        commitIndex.record(Double(status.commitIndex))
        appliedIndex.record(Double(status.appliedIndex))
        lastIndex.record(Double(status.lastIndex))
        isLeader.record(status.leader == status.node ? 1 : 0)
        keys.record(Double(status.keys))
        peerDropped.record(Double(status.transportDropped))
        peerRejected.record(Double(status.transportRejected))
        stopped.record(status.stoppedReason == nil ? 0 : 1)
    }

    /// The Prometheus text, or nil when built without the `Monitoring` trait.
    var prometheusText: String? {
        #if Monitoring
        (MetricsSystem.factory as? PrometheusMetricsFactory)?.registry.emitToString()
        #else
        nil
        #endif
    }
}
