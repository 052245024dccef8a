import Aegis
import Testing
@testable import Runtime

@Suite struct ServerConfigurationTests {
    @Test func defaultsAreASingleNodeOnLoopback() throws {
        let configuration = ServerConfiguration()
        #expect(configuration.nodeID == NodeID(1))
        #expect(configuration.http.description == "127.0.0.1:9090")
        #expect(configuration.raft.description == "127.0.0.1:9190")
        #expect(configuration.dataDirectory == "./aegis-data")
        #expect(configuration.initialVoters == [NodeID(1)])
        try configuration.validate()
    }

    @Test func yamlFileSetsEverySetting() throws {
        let configuration = try ServerConfiguration.parse(yaml: """
            node_id: 2
            http: 127.0.0.1:9091
            raft: 127.0.0.1:9191
            data_dir: /var/lib/aegis
            cluster: prod
            request_timeout_ms: 2000
            body_bytes_max: 65536
            shards: 8
            peers:
              1: 127.0.0.1:9190
              3: 127.0.0.1:9192
            """, origin: "aegis.yaml")
        #expect(configuration.nodeID == NodeID(2))
        #expect(configuration.http == HostPort(host: "127.0.0.1", port: 9091))
        #expect(configuration.dataDirectory == "/var/lib/aegis")
        #expect(configuration.cluster == "prod")
        #expect(configuration.requestTimeoutMilliseconds == 2000)
        #expect(configuration.bodyBytesMax == 65536)
        #expect(configuration.shards == 8)
        #expect(configuration.peers == [NodeID(1): HostPort(host: "127.0.0.1", port: 9190), NodeID(3): HostPort(host: "127.0.0.1", port: 9192)])
        #expect(configuration.initialVoters == [NodeID(1), NodeID(2), NodeID(3)])
        try configuration.validate()
    }

    @Test func badFilesAndFlagsGetOneSentence() {
        let cases: [(String, String)] = [
            ("node_id: zero", "node_id"),
            ("http: 127.0.0.1", "has no port"),
            ("raft: 127.0.0.1:99999", "port from 1 to 65535"),
            ("colour: blue", "unknown setting 'colour'"),
            ("join: maybe", "join must be true or false"),
            ("peers: [1, 2]", "peers must map node ids"),
            ("- a\n- b", "must be a mapping"),
            ("http: [unclosed", "not valid YAML"),
            ("shards: 65", "shards must be a whole number from 0 (unsharded) to 64"),
            ("shards: many", "shards must be a whole number"),
        ]
        for (text, expected) in cases {
            do {
                _ = try ServerConfiguration.parse(yaml: text, origin: "f.yaml")
                Issue.record("'\(text)' was accepted")
            } catch {
                #expect(error.description.contains(expected), "'\(text)' gave: \(error.description)")
            }
        }
        #expect(throws: ConfigurationError.self) { try ServerConfiguration.parsePeers("2:127.0.0.1:9191") }
        #expect(throws: ConfigurationError.self) { try ServerConfiguration.parsePeers("2=127.0.0.1:1,2=127.0.0.1:2") }
        var selfPeer = ServerConfiguration()
        selfPeer.peers = [NodeID(1): HostPort(host: "127.0.0.1", port: 9191)]
        #expect(throws: ConfigurationError.self) { try selfPeer.validate() }
        var sameAddress = ServerConfiguration()
        sameAddress.raft = sameAddress.http
        #expect(throws: ConfigurationError.self) { try sameAddress.validate() }
        var lonelyJoiner = ServerConfiguration()
        lonelyJoiner.join = true
        #expect(throws: ConfigurationError.self) { try lonelyJoiner.validate() }
        var shardedJoiner = ServerConfiguration()
        shardedJoiner.peers = [NodeID(2): HostPort(host: "127.0.0.1", port: 9191)]
        shardedJoiner.join = true
        shardedJoiner.shards = 8
        #expect(throws: ConfigurationError.self) { try shardedJoiner.validate() }
        var tooManyShards = ServerConfiguration()
        tooManyShards.shards = -1
        #expect(throws: ConfigurationError.self) { try tooManyShards.validate() }
    }

    @Test func peersFlagParses() throws {
        let peers = try ServerConfiguration.parsePeers("2=127.0.0.1:9191, 3=[::1]:9192")
        #expect(peers[NodeID(2)] == HostPort(host: "127.0.0.1", port: 9191))
        #expect(peers[NodeID(3)] == HostPort(host: "::1", port: 9192))
        #expect(peers[NodeID(3)]!.description == "[::1]:9192")
    }

    @Test func aJoiningNodeIsNotAFoundingVoter() throws {
        var configuration = ServerConfiguration()
        configuration.nodeID = NodeID(4)
        configuration.join = true
        configuration.peers = try ServerConfiguration.parsePeers("1=127.0.0.1:9190,2=127.0.0.1:9191")
        #expect(!configuration.initialVoters.contains(NodeID(4)))
    }
}
