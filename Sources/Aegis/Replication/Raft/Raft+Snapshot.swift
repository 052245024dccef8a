/// InstallSnapshot, sent in chunks to followers whose missing entries were compacted.
extension Raft {
    func sendSnapshotChunk(to peer: NodeID) {
        guard var peerProgress = progress[peer], peerProgress.state == .snapshot else { return }
        if peerProgress.snapshotIndex != log.snapshot.index {
            // The leader compacted again meanwhile: send the newer snapshot from the start.
            peerProgress.becomeSnapshot(index: log.snapshot.index)
        }
        let data = log.snapshotData
        let offset = Int(min(peerProgress.snapshotOffset, UInt32(data.count)))
        let end = min(offset + options.snapshotChunkBytes, data.count)
        peerProgress.snapshotTicksSinceSend = 0
        progress[peer] = peerProgress
        send(to: peer, .snapshotChunk(metadata: log.snapshot, totalBytes: UInt32(data.count),
            checksum: CRC32C.checksum(data), offset: UInt32(offset), chunk: Array(data[offset..<end])))
    }

    func handleSnapshotChunkResponse(from peer: NodeID, index: LogIndex, nextOffset: UInt32) {
        guard var peerProgress = progress[peer] else { return }
        peerProgress.recentActive = true
        guard peerProgress.state == .snapshot, index == peerProgress.snapshotIndex,
              nextOffset != peerProgress.snapshotOffset || nextOffset == 0
        else {
            progress[peer] = peerProgress
            return
        }
        peerProgress.snapshotOffset = nextOffset
        progress[peer] = peerProgress
        if Int(nextOffset) < log.snapshotData.count { sendSnapshotChunk(to: peer) }
    }

    /// Follower side: gathers chunks in order; the last one installs the snapshot.
    func handleSnapshotChunk(
        from leaderID: NodeID, metadata: SnapshotMetadata, totalBytes: UInt32, checksum: UInt32,
        offset: UInt32, chunk: [UInt8]
    ) {
        if metadata.index <= log.committed {
            // Already have all of it.
            send(to: leaderID, .appendResponse(success: true, index: log.committed, hint: .zero, logLost: false))
            return
        }
        if offset == 0 || incomingSnapshot?.metadata != metadata || incomingSnapshot?.checksum != checksum {
            incomingSnapshot = offset == 0
                ? IncomingSnapshot(metadata: metadata, totalBytes: totalBytes, checksum: checksum, bytes: [])
                : nil
        }
        guard var incoming = incomingSnapshot, Int(offset) == incoming.bytes.count else {
            // Out of order (a lost or repeated chunk): say where to resume.
            send(to: leaderID, .snapshotChunkResponse(index: metadata.index,
                nextOffset: UInt32(incomingSnapshot?.bytes.count ?? 0)))
            return
        }
        incoming.bytes += chunk
        if incoming.bytes.count < Int(totalBytes) {
            incomingSnapshot = incoming
            send(to: leaderID, .snapshotChunkResponse(index: metadata.index, nextOffset: UInt32(incoming.bytes.count)))
            return
        }
        incomingSnapshot = nil
        guard CRC32C.checksum(incoming.bytes) == checksum else {
            // Damaged on the way: start over.
            send(to: leaderID, .snapshotChunkResponse(index: metadata.index, nextOffset: 0))
            return
        }
        install(Snapshot(metadata: metadata, data: incoming.bytes))
        send(to: leaderID, .appendResponse(success: true, index: log.lastIndex, hint: .zero, logLost: false))
    }

    private func install(_ snapshot: Snapshot) {
        let metadata = snapshot.metadata
        if log.matchTerm(metadata.index, metadata.term) {
            // Our log already holds the entry the snapshot ends at: it is committed.
            log.commit(to: metadata.index)
        } else {
            log.restore(snapshot)
            refreshConfiguration()
        }
    }
}
