"""Tests for check.py.

Run from the repository root:
    python3 -m unittest discover -s tools/linearizability
"""

from __future__ import annotations

import itertools
import json
import os
import random
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import check  # noqa: E402

CHECK_PY = os.path.join(os.path.dirname(os.path.abspath(__file__)), "check.py")


# --------------------------------------------------------------------------
# Helpers to write histories compactly
# --------------------------------------------------------------------------


class H:
    """Builds a history event by event; time advances by 1 per event."""

    def __init__(self):
        self.events: list[dict] = []

    def _ev(self, process, etype, f, key, value):
        self.events.append({"process": process, "type": etype, "f": f, "key": key,
                            "value": value, "time": 10 * len(self.events)})
        return self

    def inv(self, p, f, value=None, key=0):
        return self._ev(p, "invoke", f, key, list(value) if isinstance(value, tuple) else value)

    def ok(self, p, f, value=None, key=0):
        return self._ev(p, "ok", f, key, list(value) if isinstance(value, tuple) else value)

    def fail(self, p, f, value=None, key=0):
        return self._ev(p, "fail", f, key, list(value) if isinstance(value, tuple) else value)

    def info(self, p, f, value=None, key=0):
        return self._ev(p, "info", f, key, list(value) if isinstance(value, tuple) else value)

    # Complete operations, invoke immediately followed by completion.
    def write(self, p, v, key=0):
        return self.inv(p, "write", v, key).ok(p, "write", v, key)

    def read(self, p, v, key=0):
        return self.inv(p, "read", None, key).ok(p, "read", v, key)

    def cas(self, p, e, n, key=0):
        return self.inv(p, "cas", (e, n), key).ok(p, "cas", (e, n), key)

    def lines(self) -> list[str]:
        return [json.dumps(e) for e in self.events]


def verdicts(lines, max_states=check.DEFAULT_MAX_STATES) -> dict[int, str]:
    ops = check.parse_lines(lines)
    return {r.key: r.verdict for r in check.check_ops(ops, max_states)}


def verdict(h: H, max_states=check.DEFAULT_MAX_STATES) -> str:
    """Overall verdict of a history (worst over keys)."""
    results = check.check_ops(check.parse_lines(h.lines()), max_states)
    return {0: check.LINEARIZABLE, 1: check.NOT_LINEARIZABLE, 3: check.UNKNOWN}[
        check.overall_exit_code(results)]


def run_cli(lines: list[str], *extra: str) -> subprocess.CompletedProcess:
    with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False) as fh:
        fh.write("\n".join(lines) + ("\n" if lines else ""))
        path = fh.name
    try:
        return subprocess.run([sys.executable, CHECK_PY, path, *extra],
                              capture_output=True, text=True, timeout=120)
    finally:
        os.unlink(path)


LIN, NONLIN, UNK = check.LINEARIZABLE, check.NOT_LINEARIZABLE, check.UNKNOWN


# --------------------------------------------------------------------------
# Hand-written histories
# --------------------------------------------------------------------------


class SmallHistories(unittest.TestCase):

    def test_empty_history(self):
        self.assertEqual(verdicts([]), {})

    def test_sequential_ok(self):
        h = H().read(1, None).write(1, 5).read(2, 5).write(2, 6).read(1, 6)
        self.assertEqual(verdict(h), LIN)

    def test_stale_read_after_completed_write(self):
        # write 1 completes, then a later read still sees the initial null.
        h = H().write(1, 1).read(2, None)
        self.assertEqual(verdict(h), NONLIN)

    def test_read_concurrent_with_write_may_see_either(self):
        for seen in (None, 1):
            h = H().inv(1, "write", 1).inv(2, "read").ok(2, "read", seen).ok(1, "write", 1)
            self.assertEqual(verdict(h), LIN, seen)

    def test_lost_write(self):
        # write 1 and then write 2 are both acknowledged, in sequence; a later
        # read returns 1: the acknowledged newer write was lost.
        h = H().write(1, 1).write(2, 2).read(3, 1)
        self.assertEqual(verdict(h), NONLIN)
        # ... whereas reading 2 is fine.
        self.assertEqual(verdict(H().write(1, 1).write(2, 2).read(3, 2)), LIN)

    def test_lost_write_seen_then_unseen(self):
        # A reader sees 2, then a later read sees 1 again (nobody rewrote 1).
        h = H().write(1, 1).inv(2, "write", 2).read(3, 2).ok(2, "write", 2).read(3, 1)
        self.assertEqual(verdict(h), NONLIN)

    def test_cas_from_value_nobody_wrote(self):
        h = H().write(1, 1).cas(2, 5, 6).read(1, 6)
        self.assertEqual(verdict(h), NONLIN)
        # Even without the read, an ok cas expecting 5 cannot have succeeded.
        self.assertEqual(verdict(H().write(1, 1).cas(2, 5, 6)), NONLIN)
        # From the initial (absent) register, too.
        self.assertEqual(verdict(H().cas(2, 5, 6)), NONLIN)

    def test_cas_success_and_fail(self):
        h = H().write(1, 1).cas(2, 1, 2).read(1, 2)
        self.assertEqual(verdict(h), LIN)
        # A failed cas had no effect: the register still holds 1.
        h = H().write(1, 1).inv(2, "cas", (5, 6)).fail(2, "cas", (5, 6)).read(1, 1)
        self.assertEqual(verdict(h), LIN)
        # ... so reading its new value is a violation.
        h = H().write(1, 1).inv(2, "cas", (1, 6)).fail(2, "cas", (1, 6)).read(1, 6)
        self.assertEqual(verdict(h), NONLIN)

    def test_concurrent_cas_only_one_wins(self):
        # Two concurrent cas 0->1 and 0->2, both acknowledged: impossible.
        h = (H().write(1, 0).inv(1, "cas", (0, 1)).inv(2, "cas", (0, 2))
             .ok(1, "cas", (0, 1)).ok(2, "cas", (0, 2)))
        self.assertEqual(verdict(h), NONLIN)
        # Chained cas 0->1, 1->2 concurrent: fine.
        h = (H().write(1, 0).inv(1, "cas", (0, 1)).inv(2, "cas", (1, 2))
             .ok(1, "cas", (0, 1)).ok(2, "cas", (1, 2)).read(3, 2))
        self.assertEqual(verdict(h), LIN)

    def _two_writes_then_reads(self, reads_a, reads_b):
        """Writes 1 and 2 run concurrently; readers 3 and 4 each do two reads
        while both writes are still in flight."""
        h = H().inv(1, "write", 1).inv(2, "write", 2)
        h.read(3, reads_a[0]).read(4, reads_b[0]).read(3, reads_a[1]).read(4, reads_b[1])
        h.ok(1, "write", 1).ok(2, "write", 2)
        return h

    def test_concurrent_writes_seen_in_both_orders(self):
        # Reader 3 sees 1 then 2, reader 4 sees 2 then 1: no single order of
        # the two writes explains both.
        self.assertEqual(verdict(self._two_writes_then_reads((1, 2), (2, 1))), NONLIN)

    def test_concurrent_writes_seen_consistently(self):
        self.assertEqual(verdict(self._two_writes_then_reads((1, 2), (1, 2))), LIN)
        self.assertEqual(verdict(self._two_writes_then_reads((2, 1), (2, 1))), LIN)
        self.assertEqual(verdict(self._two_writes_then_reads((None, 1), (1, 2))), LIN)

    def test_concurrent_writes_then_reads_disagree_after_both_completed(self):
        h = H().inv(1, "write", 1).inv(2, "write", 2).ok(1, "write", 1).ok(2, "write", 2)
        self.assertEqual(verdict(h.read(3, 1).read(4, 2)), NONLIN)
        h = H().inv(1, "write", 1).inv(2, "write", 2).ok(1, "write", 1).ok(2, "write", 2)
        self.assertEqual(verdict(h.read(3, 2).read(4, 2)), LIN)

    def test_info_write_later_read(self):
        # The write's outcome is unknown; a later read of its value is fine.
        h = H().write(1, 1).inv(2, "write", 2).info(2, "write", 2).read(3, 2).read(3, 2)
        self.assertEqual(verdict(h), LIN)
        # It may take effect long after the info: read 1 first, then 2.
        h = H().write(1, 1).inv(2, "write", 2).info(2, "write", 2).read(3, 1).read(3, 2)
        self.assertEqual(verdict(h), LIN)

    def test_info_write_never_read(self):
        h = H().write(1, 1).inv(2, "write", 2).info(2, "write", 2).read(3, 1).read(3, 1)
        self.assertEqual(verdict(h), LIN)

    def test_info_write_takes_effect_at_most_once(self):
        # 1, then the info write 2, then a completed write 3: seeing 2 after 3
        # would need the info write to take effect twice or after 3 -- the
        # latter is allowed! (info may linearize any time after its invoke.)
        h = H().inv(2, "write", 2).info(2, "write", 2).write(1, 3).read(3, 2)
        self.assertEqual(verdict(h), LIN)
        # But 2 -> 3 -> 2 needs it twice.
        h = H().inv(2, "write", 2).info(2, "write", 2).read(3, 2).write(1, 3).read(3, 3).read(3, 2)
        self.assertEqual(verdict(h), NONLIN)

    def test_info_write_read_before_its_invoke(self):
        h = H().read(3, 2).inv(2, "write", 2).info(2, "write", 2)
        self.assertEqual(verdict(h), NONLIN)

    def test_missing_completion_is_info(self):
        h = H().write(1, 1).inv(2, "write", 2).read(3, 2)
        self.assertEqual(verdict(h), LIN)
        h = H().write(1, 1).inv(2, "write", 2).read(3, 1)
        self.assertEqual(verdict(h), LIN)

    def test_info_cas(self):
        h = H().write(1, 1).inv(2, "cas", (1, 7)).info(2, "cas", (1, 7)).read(3, 7)
        self.assertEqual(verdict(h), LIN)
        # An info cas can only succeed if its expected value is there.
        h = H().write(1, 1).inv(2, "cas", (4, 7)).info(2, "cas", (4, 7)).read(3, 7)
        self.assertEqual(verdict(h), NONLIN)
        # An info cas that can never succeed is simply omitted, even when its
        # new value is observed (written by someone else).
        h = H().write(1, 7).inv(2, "cas", (4, 7)).info(2, "cas", (4, 7)).read(3, 7)
        self.assertEqual(verdict(h), LIN)
        # An info cas whose expected value is gone for good must not make the
        # search give up: it is just omitted.
        h = (H().write(1, 2).read(3, 2).write(1, 1).inv(2, "cas", (1, 2))
             .cas(1, 1, 3).read(3, 3).write(1, 4).read(3, 4).info(2, "cas", (1, 2)))
        self.assertEqual(verdict(h), LIN)

    def test_info_read_constrains_nothing(self):
        h = H().write(1, 1).inv(2, "read").info(2, "read", None).read(3, 1)
        self.assertEqual(verdict(h), LIN)

    def test_failed_write_is_dropped(self):
        h = H().write(1, 1).inv(2, "write", 2).fail(2, "write", 2).read(3, 1)
        self.assertEqual(verdict(h), LIN)
        h = H().write(1, 1).inv(2, "write", 2).fail(2, "write", 2).read(3, 2)
        self.assertEqual(verdict(h), NONLIN)

    def test_read_of_value_never_written(self):
        self.assertEqual(verdict(H().write(1, 1).read(2, 99)), NONLIN)
        self.assertEqual(verdict(H().read(2, 99)), NONLIN)

    def test_keys_are_independent(self):
        h = H().write(1, 1, key=1).read(2, 1, key=1).write(1, 5, key=2).read(2, 1, key=2)
        self.assertEqual(verdicts(h.lines()), {1: LIN, 2: NONLIN})
        # Reading key 1's value from key 2 isn't allowed; absent on key 3 is.
        h = H().write(1, 1, key=1).read(2, None, key=3)
        self.assertEqual(verdicts(h.lines()), {1: LIN, 3: LIN})

    def test_equal_times_use_line_order(self):
        # All events at the same time: line order still defines real time.
        h = H().write(1, 1).read(2, None)
        lines = [json.dumps(dict(e, time=0)) for e in h.events]
        self.assertEqual(verdicts(lines), {0: NONLIN})

    def test_extra_fields_ignored(self):
        h = H().write(1, 1).read(2, 1)
        lines = [json.dumps(dict(e, index=i, node="n1")) for i, e in enumerate(h.events)]
        self.assertEqual(verdicts(lines), {0: LIN})

    def test_long_sequential_history_no_recursion_limit(self):
        h = H()
        for i in range(3000):
            h.write(i % 3, i).read((i + 1) % 3, i)
        self.assertEqual(verdict(h), LIN)


# --------------------------------------------------------------------------
# Generated histories (linearizable by construction)
# --------------------------------------------------------------------------


def generate(seed: int, n_ops: int = 240, n_keys: int = 4, n_procs: int = 12,
             info_rate: float = 0.05):
    """Simulate a sequential multi-register store behind overlapping intervals.

    Each process runs operations back to back; each operation gets an
    interval [start, end] and a linearization point strictly inside it.  The
    registers are then simulated in linearization-point order to decide what
    reads return and whether cas succeeds.  Every written value is unique.
    Some write/cas complete as "info" (half of which did take effect), and one
    process's last operation has no completion at all.

    Returns (events, ops) where ops are dicts with keys
    proc, f, key, start, end, lin, value, status, applied.
    """
    rng = random.Random(seed)
    ops = []
    per_proc = n_ops // n_procs + 1
    for p in range(n_procs):
        t = rng.random() * 5
        for _ in range(per_proc):
            start = t + rng.random() * 3
            end = start + 0.1 + rng.random() * 10
            lin = start + (end - start) * (0.05 + 0.9 * rng.random())
            f = rng.choices(["read", "write", "cas"], [5, 3, 2])[0]
            ops.append({"proc": p, "f": f, "key": rng.randrange(n_keys),
                        "start": start, "end": end, "lin": lin})
            t = end
    ops = sorted(ops, key=lambda o: (o["proc"], o["start"]))[: max(n_ops, 1)]

    state = {k: None for k in range(n_keys)}
    written = {k: [] for k in range(n_keys)}
    counter = itertools.count(1)
    for o in sorted(ops, key=lambda o: o["lin"]):
        k = o["key"]
        o["status"], o["applied"] = "ok", True
        if o["f"] == "read":
            o["value"] = state[k]
            continue
        if o["f"] == "write":
            new = next(counter)
            o["value"] = new
        else:
            if state[k] is not None and rng.random() < 0.6:
                expected = state[k]
            else:
                expected = rng.choice(written[k]) if written[k] else 0
            new = next(counter)
            o["value"] = [expected, new]
            if state[k] != expected:
                o["status"], o["applied"] = "fail", False
        if o["status"] == "ok" and rng.random() < info_rate:
            o["status"] = "info"
            o["applied"] = rng.random() < 0.5
        if o["applied"]:
            state[k] = new
            written[k].append(new)

    # The last op of process 0, if it's an info write/cas, loses its completion.
    last0 = max((o for o in ops if o["proc"] == 0), key=lambda o: o["start"])
    raw = []
    for o in ops:
        inv_value = None if o["f"] == "read" else o["value"]
        raw.append((o["start"], {"process": o["proc"], "type": "invoke", "f": o["f"],
                                 "key": o["key"], "value": inv_value}, o, "inv"))
        if o is last0 and o["status"] == "info":
            continue
        raw.append((o["end"], {"process": o["proc"], "type": o["status"], "f": o["f"],
                               "key": o["key"], "value": o["value"]}, o, "ret"))
    raw.sort(key=lambda r: r[0])
    events = []
    for i, (_, ev, o, which) in enumerate(raw):
        ev["time"] = 1000 * i
        ev["index"] = i  # an extra field, ignored by the checker
        o[which] = i
        events.append(ev)
    return events, ops


def find_stale_mutation(ops):
    """Find (read, u): an ok read r and value u written only by op W with
    W completed before an acknowledged overwrite W2 began, W2 completed before
    r began. Reading u at r is then impossible."""
    writers = [o for o in ops if o["f"] != "read" and o["status"] == "ok"]
    for r in ops:
        if r["f"] != "read" or r["status"] != "ok":
            continue
        for w in writers:
            if w["key"] != r["key"]:
                continue
            u = w["value"] if w["f"] == "write" else w["value"][1]
            for w2 in writers:
                if (w2["key"] == r["key"] and w["ret"] < w2["inv"] and w2["ret"] < r["inv"]
                        and u != r["value"]):
                    return r, u
    return None


class GeneratedHistories(unittest.TestCase):

    def test_generated_histories_are_linearizable(self):
        for seed in range(5):
            events, ops = generate(seed)
            self.assertGreaterEqual(len(ops), 200)
            lines = [json.dumps(e) for e in events]
            v = verdicts(lines)
            self.assertEqual(set(v.values()), {LIN}, f"seed {seed}: {v}")

    def test_generated_history_is_concurrent(self):
        # Sanity: the generator really overlaps operations.
        events, ops = generate(0)
        depth = max_depth = 0
        for e in events:
            depth += 1 if e["type"] == "invoke" else -1
            max_depth = max(max_depth, depth)
        self.assertGreaterEqual(max_depth, 8)
        self.assertTrue(any(o["status"] == "info" for o in ops))
        self.assertTrue(any(o["status"] == "fail" for o in ops))

    def test_generated_history_with_stale_read_fails(self):
        events, ops = generate(1)
        found = find_stale_mutation(ops)
        self.assertIsNotNone(found)
        r, u = found
        events[r["ret"]]["value"] = u
        lines = [json.dumps(e) for e in events]
        v = verdicts(lines)
        self.assertEqual(v[r["key"]], NONLIN)
        self.assertEqual({k for k, x in v.items() if x != LIN}, {r["key"]})
        # And through the command line:
        proc = run_cli(lines)
        self.assertEqual(proc.returncode, 1, proc.stdout + proc.stderr)
        self.assertIn(f"key {r['key']}: NOT LINEARIZABLE", proc.stdout)

    def test_generated_history_with_unwritten_read_value_fails(self):
        events, ops = generate(2)
        r = next(o for o in ops if o["f"] == "read" and o["status"] == "ok" and o["value"] is not None)
        events[r["ret"]]["value"] = 10**9
        v = verdicts([json.dumps(e) for e in events])
        self.assertEqual(v[r["key"]], NONLIN)

    def test_larger_generated_history(self):
        events, ops = generate(7, n_ops=2000, n_keys=5, n_procs=20)
        lines = [json.dumps(e) for e in events]
        self.assertEqual(set(verdicts(lines).values()), {LIN})


# --------------------------------------------------------------------------
# Cross-check against brute force on small random histories
# --------------------------------------------------------------------------


def brute_force_linearizable(ops: list[check.Op]) -> bool:
    """Try every subset of info ops and every order: exponential, tiny inputs only."""
    ops = [o for o in ops if o.status != "fail" and not (o.f == "read" and o.status != "ok")]
    must = [o for o in ops if o.status == "ok"]
    maybe = [o for o in ops if o.status != "ok"]
    inf = float("inf")

    def ret(o):
        return o.ret_line if o.status == "ok" else inf

    for r in range(len(maybe) + 1):
        for chosen in itertools.combinations(maybe, r):
            for order in itertools.permutations(must + list(chosen)):
                if any(ret(order[j]) < order[i].inv_line
                       for i in range(len(order)) for j in range(i + 1, len(order))):
                    continue
                reg, good = None, True
                for o in order:
                    if o.f == "read":
                        good = o.value == reg
                    elif o.f == "write":
                        reg = o.value
                    else:
                        good = o.value[0] == reg
                        reg = o.value[1]
                    if not good:
                        break
                if good:
                    return True
    return False


def random_small_history(rng: random.Random) -> list[str]:
    events = []
    busy = {}
    n_events = rng.randint(2, 12)
    n_ops = 0
    info_weight = rng.choice([0, 1, 3])  # some histories without any info ops
    while len(events) < n_events:
        p = rng.randrange(3)
        if p in busy:
            f, value = busy.pop(p)
            t = rng.choices(["ok", "fail", "info"], [6, 1, info_weight])[0]
            if f == "read":
                value = rng.choice([None, 1, 2]) if t == "ok" else None
            events.append({"process": p, "type": t, "f": f, "key": 0, "value": value,
                           "time": len(events)})
        elif n_ops < 6:
            f = rng.choice(["read", "write", "cas"])
            value = {"read": None, "write": rng.choice([1, 2]),
                     "cas": [rng.choice([1, 2]), rng.choice([1, 2])]}[f]
            busy[p] = (f, value)
            n_ops += 1
            events.append({"process": p, "type": "invoke", "f": f, "key": 0, "value": value,
                           "time": len(events)})
        elif not busy:
            break
    return [json.dumps(e) for e in events]


class BruteForceCrossCheck(unittest.TestCase):

    def test_agrees_with_brute_force(self):
        rng = random.Random(12345)
        counts = {True: 0, False: 0}
        for i in range(2000):
            lines = random_small_history(rng)
            ops = check.parse_lines(lines)
            expected = brute_force_linearizable(ops)
            results = check.check_ops(ops)
            got = all(r.verdict == LIN for r in results)
            self.assertEqual(got, expected, f"case {i}:\n" + "\n".join(lines))
            counts[expected] += 1
        # Both outcomes must be well represented for the test to mean much.
        self.assertGreater(counts[True], 200)
        self.assertGreater(counts[False], 200)


# --------------------------------------------------------------------------
# Command line: exit codes, output, malformed input
# --------------------------------------------------------------------------


class CommandLine(unittest.TestCase):

    def test_pass_exit_0(self):
        proc = run_cli(H().write(1, 1).read(2, 1).lines())
        self.assertEqual(proc.returncode, 0, proc.stderr)
        lines = proc.stdout.splitlines()
        self.assertEqual(len(lines), 1)
        self.assertIn("LINEARIZABLE", lines[0])
        self.assertTrue(lines[0].startswith("summary:"))

    def test_failure_exit_1_names_key_and_ops(self):
        h = H().write(1, 7, key=3).write(2, 8, key=3).read(3, 7, key=3).write(1, 1, key=4)
        proc = run_cli(h.lines())
        self.assertEqual(proc.returncode, 1, proc.stderr)
        out = proc.stdout
        self.assertIn("key 3: NOT LINEARIZABLE", out)
        self.assertNotIn("key 4", out)
        self.assertIn("p3 read -> 7", out)
        self.assertIn("register after that prefix: 8", out)
        self.assertTrue(out.splitlines()[-1].startswith("summary:"))
        self.assertIn("1 not linearizable", out.splitlines()[-1])
        brief = run_cli(h.lines(), "--brief")
        self.assertEqual(brief.returncode, 1)
        self.assertEqual(len(brief.stdout.splitlines()), 2)

    def test_unknown_exit_3(self):
        # Many concurrent writes, a read at the end that cannot be explained:
        # with a tiny bound the search gives up -> unknown, not pass.
        h = H()
        for p in range(8):
            h.inv(p, "write", p + 1)
        for p in range(8):
            h.ok(p, "write", p + 1)
        h.read(100, 1).read(100, 2)
        proc = run_cli(h.lines(), "--max-states", "3")
        self.assertEqual(proc.returncode, 3, proc.stdout + proc.stderr)
        self.assertIn("UNKNOWN", proc.stdout)
        # With the default bound it's decided (not linearizable).
        self.assertEqual(run_cli(h.lines()).returncode, 1)

    def test_not_linearizable_beats_unknown(self):
        h = H()
        for p in range(8):
            h.inv(p, "write", p + 1)
        for p in range(8):
            h.ok(p, "write", p + 1)
        h.read(100, 1).read(100, 2)
        h.write(1, 1, key=9).read(2, 5, key=9)
        proc = run_cli(h.lines(), "--max-states", "3")
        self.assertEqual(proc.returncode, 1)

    def test_bad_max_states(self):
        proc = run_cli(H().write(1, 1).lines(), "--max-states", "0")
        self.assertEqual(proc.returncode, 2)
        self.assertNotIn("Traceback", proc.stderr)

    def assertMalformed(self, lines, line_no, fragment):
        proc = run_cli(lines)
        self.assertEqual(proc.returncode, 2, proc.stdout + proc.stderr)
        self.assertNotIn("Traceback", proc.stdout + proc.stderr)
        err = proc.stderr.strip().splitlines()
        self.assertEqual(len(err), 1, proc.stderr)
        self.assertIn(f".jsonl:{line_no}:", err[0])
        self.assertIn(fragment, err[0])

    def test_malformed_inputs(self):
        good = H().write(1, 1).read(2, 1).lines()
        w = {"process": 1, "type": "invoke", "f": "write", "key": 0, "value": 3, "time": 100}
        cases = [
            (good + ["{not json"], 5, "invalid JSON"),
            (good + ["[1, 2]"], 5, "JSON object"),
            (good + [json.dumps({k: v for k, v in w.items() if k != "key"})], 5, "missing field 'key'"),
            (good + [json.dumps(dict(w, type="begin"))], 5, "type must be"),
            (good + [json.dumps(dict(w, f="append"))], 5, "f must be"),
            (good + [json.dumps(dict(w, value="x"))], 5, "write value must be an integer"),
            (good + [json.dumps(dict(w, value=True))], 5, "write value must be an integer"),
            (good + [json.dumps(dict(w, key="k"))], 5, "key must be an integer"),
            (good + [json.dumps(dict(w, time=1.5))], 5, "time must be an integer"),
            (good + [json.dumps(dict(w, time=0))], 5, "earlier than the previous"),
            (good + [json.dumps(dict(w, f="cas", value=[1]))], 5, "cas value must be"),
            (good + [json.dumps(dict(w, type="ok"))], 5, "no outstanding invoke"),
            (good + [json.dumps(w), json.dumps(dict(w, time=101))], 6, "still outstanding"),
            (good + [json.dumps(w), json.dumps(dict(w, type="ok", value=4, time=101))], 6,
             "differs from the invoke"),
            (good + [json.dumps(w), json.dumps(dict(w, type="ok", key=1, time=101))], 6,
             "does not match the invoke"),
            (good + [json.dumps(dict(w, f="read", value=None)),
                     json.dumps(dict(w, f="read", type="ok", value="v", time=101))], 6,
             "read value must be an integer or null"),
            (good + [json.dumps(dict(w, f="read", value=None)),
                     json.dumps({k: v for k, v in dict(w, f="read", type="ok", time=101).items()
                                 if k != "value"})], 6, "no 'value' field"),
        ]
        for lines, line_no, fragment in cases:
            with self.subTest(fragment=fragment):
                self.assertMalformed(lines, line_no, fragment)

    def test_non_utf8_and_missing_file(self):
        with tempfile.NamedTemporaryFile("wb", suffix=".jsonl", delete=False) as fh:
            fh.write(b'{"process": 1, "type": "invoke", "f": "read", "key": 0, "time": 0}\n\xff\xfe\n')
            path = fh.name
        try:
            proc = subprocess.run([sys.executable, CHECK_PY, path], capture_output=True, text=True)
        finally:
            os.unlink(path)
        self.assertEqual(proc.returncode, 2)
        self.assertIn(":2: malformed history: not valid UTF-8", proc.stderr)
        proc = subprocess.run([sys.executable, CHECK_PY, "/nonexistent/h.jsonl"],
                              capture_output=True, text=True)
        self.assertEqual(proc.returncode, 2)
        self.assertNotIn("Traceback", proc.stderr)
        self.assertIn("/nonexistent/h.jsonl", proc.stderr)

    def test_blank_lines_skipped_line_numbers_kept(self):
        lines = H().write(1, 1).lines()
        lines = [lines[0], "", lines[1], "", "oops"]
        self.assertMalformed(lines, 5, "invalid JSON")


if __name__ == "__main__":
    unittest.main()
