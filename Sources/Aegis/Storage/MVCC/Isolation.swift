/// The isolation levels transactions can run at.
///
/// - `snapshot` (snapshot isolation): a transaction reads the snapshot of its start
///   timestamp and sees its own writes; at commit, if any key it wrote was committed by
///   another transaction after its start, it aborts (first committer wins). Prevents
///   dirty reads, non-repeatable reads, phantoms and lost updates; allows write skew
///   (two transactions each read what the other writes, and both commit).
/// - `serializable`: as `snapshot`, and at commit the keys and ranges it read are
///   validated too: if another transaction committed a write to any of them after its
///   start, it aborts. Every committed history is then equivalent to running the
///   transactions one at a time in commit-timestamp order, so write skew is prevented
///   as well. Read-only transactions never abort.
///
/// Tests/AegisTests/IsolationTests.swift pins each anomaly to the levels that allow or
/// prevent it.
public enum IsolationLevel: String, Sendable, CaseIterable {
    case snapshot
    case serializable
}
