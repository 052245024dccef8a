#!/usr/bin/env python3
"""Independent linearizability checker for key-value register histories.

Usage:
    python3 tools/linearizability/check.py HISTORY.jsonl [--max-states N] [--brief]

Exit status:
    0  every key is linearizable
    1  at least one key is NOT linearizable (takes precedence over 3)
    2  malformed input (one line on stderr: file, line number, problem)
    3  unknown: the state bound was hit for some key (never a pass)

The input is JSON lines, one event per line, in real-time order:
    {"process": 1, "type": "invoke", "f": "write", "key": 3, "value": 17, "time": 5}
See README.md in this folder for the full format, the semantics and the
algorithm.  Only the Python 3.11 standard library is used, and no code is
shared with the system under test.
"""

from __future__ import annotations

import argparse
import bisect
import json
import sys
from dataclasses import dataclass, field
from typing import Iterable

EXIT_LINEARIZABLE = 0
EXIT_NOT_LINEARIZABLE = 1
EXIT_MALFORMED = 2
EXIT_UNKNOWN = 3

DEFAULT_MAX_STATES = 5_000_000

LINEARIZABLE = "linearizable"
NOT_LINEARIZABLE = "not linearizable"
UNKNOWN = "unknown"

_EVENT_TYPES = ("invoke", "ok", "fail", "info")
_FUNCTIONS = ("read", "write", "cas")

# How many operations of the longest linearizable prefix a failure report shows.
_PREFIX_SHOWN = 12


# --------------------------------------------------------------------------
# Parsing
# --------------------------------------------------------------------------


class MalformedHistory(Exception):
    """The history violates the input format; `line` is 1-based (0 = whole file)."""

    def __init__(self, line: int, message: str):
        super().__init__(message)
        self.line = line
        self.message = message


@dataclass
class Op:
    """One operation: an invoke event plus its completion (if any)."""

    process: int
    f: str  # "read" | "write" | "cas"
    key: int
    # read: the value read (int or None; only meaningful when status == "ok")
    # write: the int written; cas: (expected, new)
    value: object
    inv_line: int
    inv_time: int
    status: str = "pending"  # "ok" | "fail" | "info"; "pending" while parsing
    ret_line: int | None = None  # None: the history ended before a completion
    ret_time: int | None = None

    def describe(self) -> str:
        """Readable one-line description, e.g. 'p3 write 7  [invoke line 4 t=10, ok line 9 t=20]'."""
        if self.f == "read":
            what = f"read -> {_fmt_value(self.value) if self.status == 'ok' else '?'}"
        elif self.f == "write":
            what = f"write {self.value}"
        else:
            expected, new = self.value
            what = f"cas {expected} -> {new}"
        where = f"invoke line {self.inv_line} t={self.inv_time}"
        if self.ret_line is None:
            where += ", no completion (info)"
        else:
            where += f", {self.status} line {self.ret_line} t={self.ret_time}"
        return f"p{self.process} {what}  [{where}]"


def _fmt_value(v: object) -> str:
    return "null" if v is None else str(v)


def _is_int(x: object) -> bool:
    # JSON true/false decode to bool, which is a subclass of int: reject them.
    return isinstance(x, int) and not isinstance(x, bool)


def _check_invoke_value(ev: dict, f: str, line: int) -> object:
    """Validate the 'value' of an invoke event and return it in normalized form."""
    value = ev.get("value")
    if f == "read":
        if value is not None:
            raise MalformedHistory(line, f"read invoke must have value null, got {value!r}")
        return None
    if f == "write":
        if not _is_int(value):
            raise MalformedHistory(line, f"write value must be an integer, got {value!r}")
        return value
    # cas
    if not (isinstance(value, list) and len(value) == 2 and all(_is_int(x) for x in value)):
        raise MalformedHistory(
            line, f"cas value must be [expected, new] (two integers), got {value!r}"
        )
    return (value[0], value[1])


def parse_lines(lines: Iterable[str | bytes]) -> list[Op]:
    """Parse a history (an iterable of lines) into operations, in invocation order.

    Raises MalformedHistory on any format violation.  Blank lines are skipped
    (but still counted for line numbers).  Operations still outstanding at the
    end of the history get status "info" and no completion.
    """
    ops: list[Op] = []
    outstanding: dict[int, Op] = {}
    last_time: int | None = None

    for line, raw in enumerate(lines, 1):
        if isinstance(raw, bytes):
            try:
                raw = raw.decode("utf-8")
            except UnicodeDecodeError:
                raise MalformedHistory(line, "not valid UTF-8") from None
        text = raw.strip()
        if not text:
            continue
        try:
            ev = json.loads(text)
        except json.JSONDecodeError as e:
            raise MalformedHistory(line, f"invalid JSON ({e.msg} at column {e.colno})") from None
        except (ValueError, RecursionError) as e:
            raise MalformedHistory(line, f"invalid JSON ({e})") from None
        if not isinstance(ev, dict):
            raise MalformedHistory(line, "expected a JSON object")

        for name in ("process", "type", "f", "key", "time"):
            if name not in ev:
                raise MalformedHistory(line, f"missing field {name!r}")
        process, etype, f, key, time = ev["process"], ev["type"], ev["f"], ev["key"], ev["time"]
        if not _is_int(process):
            raise MalformedHistory(line, f"process must be an integer, got {process!r}")
        if etype not in _EVENT_TYPES:
            raise MalformedHistory(line, f"type must be one of {', '.join(_EVENT_TYPES)}; got {etype!r}")
        if f not in _FUNCTIONS:
            raise MalformedHistory(line, f"f must be one of {', '.join(_FUNCTIONS)}; got {f!r}")
        if not _is_int(key):
            raise MalformedHistory(line, f"key must be an integer, got {key!r}")
        if not _is_int(time):
            raise MalformedHistory(line, f"time must be an integer, got {time!r}")
        if last_time is not None and time < last_time:
            raise MalformedHistory(line, f"time {time} is earlier than the previous event's time {last_time}")
        last_time = time

        if etype == "invoke":
            if process in outstanding:
                prev = outstanding[process]
                raise MalformedHistory(
                    line,
                    f"process {process} invokes a new operation while its {prev.f} "
                    f"invoked at line {prev.inv_line} is still outstanding",
                )
            op = Op(process, f, key, _check_invoke_value(ev, f, line), line, time)
            outstanding[process] = op
            ops.append(op)
            continue

        # A completion: ok / fail / info.
        op = outstanding.pop(process, None)
        if op is None:
            raise MalformedHistory(line, f"{etype} for process {process}, which has no outstanding invoke")
        if f != op.f or key != op.key:
            raise MalformedHistory(
                line,
                f"completion ({f} key {key}) does not match the invoke at line "
                f"{op.inv_line} ({op.f} key {op.key})",
            )
        if f == "read":
            if etype == "ok":
                if "value" not in ev:
                    raise MalformedHistory(line, "ok read has no 'value' field")
                value = ev["value"]
                if value is not None and not _is_int(value):
                    raise MalformedHistory(line, f"read value must be an integer or null, got {value!r}")
                op.value = value
        elif "value" in ev:
            # write / cas: the completion repeats the invoke's argument.
            value = ev["value"]
            same = value == op.value if f == "write" else (
                isinstance(value, list) and len(value) == 2 and all(_is_int(x) for x in value)
                and (value[0], value[1]) == op.value
            )
            if not same or (f == "write" and not _is_int(value)):
                raise MalformedHistory(
                    line,
                    f"{f} completion value {value!r} differs from the invoke's "
                    f"value at line {op.inv_line}",
                )
        op.status = etype
        op.ret_line = line
        op.ret_time = time

    for op in outstanding.values():
        op.status = "info"  # no completion before the history ended
    return ops


def parse_file(path: str) -> list[Op]:
    """Parse a history file. Raises MalformedHistory or OSError."""
    with open(path, "rb") as fh:
        return parse_lines(fh)


# --------------------------------------------------------------------------
# Per-key search
# --------------------------------------------------------------------------


@dataclass
class KeyResult:
    key: int
    verdict: str  # LINEARIZABLE | NOT_LINEARIZABLE | UNKNOWN
    n_ops: int  # operations considered (after dropping fail ops and info reads)
    states: int  # distinct search states explored
    details: list[str] = field(default_factory=list)  # explanation lines (failures/unknowns)


def relevant_ops(ops: list[Op]) -> list[Op]:
    """Drop operations that cannot constrain the register.

    - fail: definitely had no effect.
    - info read: returned nothing, and a read has no effect.
    """
    return [op for op in ops if op.status != "fail" and not (op.f == "read" and op.status != "ok")]


def prune_unobserved_info(ops: list[Op]) -> list[Op]:
    """Drop info writes/cas whose written value nobody could have observed.

    Why this is sound: let w be an info write (or cas) of value v, and suppose
    no ok read returned v and no kept cas expects v.  In any valid
    linearization containing w, the operation right after w (if any) cannot be
    a read (nobody reads v) nor a cas (nobody expects v), so it is a write,
    which overwrites v regardless of what came before.  Deleting w therefore
    leaves a valid linearization, and info operations may be omitted.  So if
    the history is linearizable, it is linearizable without w; the converse is
    trivial.  Dropping a cas can make its expected value unobserved, hence the
    fixpoint loop.
    """
    ops = list(ops)
    while True:
        observed = {op.value for op in ops if op.f == "read"}  # reads kept are all ok
        observed |= {op.value[0] for op in ops if op.f == "cas"}
        kept = [
            op for op in ops
            if op.status == "ok" or op.f == "read"
            or (op.value if op.f == "write" else op.value[1]) in observed
        ]
        if len(kept) == len(ops):
            return kept
        ops = kept


class _KeySearch:
    """Depth-first search for a linearization of one register's operations.

    Representation
    --------------
    Each operation is one bit of an integer `mask` (the set of operations
    already linearized).  The n_ok "ok" operations take bits 0..n_ok-1 in
    increasing order of their completion line; info operations take the bits
    above.  Register values are interned to small integers (null -> 0), and a
    search state is (mask, value), memoized as the single int
    (mask << value_bits) | value.

    Real-time order
    ---------------
    Positions are line numbers (all distinct), and a precedes b iff
    ret(a) < inv(b); info operations have ret = +infinity.  An operation o may
    be linearized next, given the set M already linearized, iff every
    operation that finished before o began is in M, i.e.
        inv(o) < minret(M) = min{ ret(p) : p not in M }.
    Because ok bits are ordered by ret, minret(M) is the ret of the lowest
    zero bit z of M (if z >= n_ok, all ok operations are linearized and we
    have succeeded: remaining info operations are simply omitted).  The
    pending ok operations with inv < ret(z) are precomputed per z ("window"),
    as is the number of info operations (sorted by inv) with inv < ret(z).

    Reads are linearized greedily (see _close_reads), so the search only
    branches on writes and cas; states that provably cannot be completed are
    cut off early (see _dead).  Both are optimizations that keep the search
    complete; the work bound makes it give up ("unknown") rather than run
    without limit.
    """

    def __init__(self, key: int, ops: list[Op], max_states: int):
        self.key = key
        self.max_states = max_states
        ok_ops = sorted((op for op in ops if op.status == "ok"), key=lambda op: op.ret_line)
        info_ops = sorted((op for op in ops if op.status != "ok"), key=lambda op: op.inv_line)
        self.ops: list[Op] = ok_ops + info_ops
        self.n_ok = len(ok_ops)

        # Intern register values; 0 is "absent" (null).
        values: dict[object, int] = {None: 0}
        for op in self.ops:
            if op.f == "write":
                values.setdefault(op.value, len(values))
            elif op.f == "cas":
                values.setdefault(op.value[1], len(values))
        self.value_names = {i: v for v, i in values.items()}
        self.value_bits = max(1, (len(values) - 1).bit_length())

        # Per-op tables, indexed by bit. kind: 0 read, 1 write, 2 cas.
        # arg: read -> value index expected to be seen (-1 if never written:
        # such a read can never be linearized); write -> value index written;
        # cas -> (expected index or -1, new index).
        self.kind: list[int] = []
        self.arg: list[object] = []
        for op in self.ops:
            if op.f == "read":
                self.kind.append(0)
                self.arg.append(values.get(op.value, -1))
            elif op.f == "write":
                self.kind.append(1)
                self.arg.append(values[op.value])
            else:
                self.kind.append(2)
                self.arg.append((values.get(op.value[0], -1), values[op.value[1]]))

        # For each value index u: `needs[u]`, the ok ops that can only be
        # linearized while the register holds u (ok reads of u, ok cas
        # expecting u), and `makers[u]`, the ops that can set the register to
        # u (writes of u, cas to u, ok or info).  Used by _dead (see there).
        self.needs = [0] * len(values)
        self.makers = [0] * len(values)
        for b, op in enumerate(self.ops):
            kind, arg = self.kind[b], self.arg[b]
            if kind == 1:
                self.makers[arg] |= 1 << b
            elif kind == 2:
                self.makers[arg[1]] |= 1 << b
            if op.status == "ok":
                need = arg if kind == 0 else arg[0] if kind == 2 else -1
                if need >= 0:
                    self.needs[need] |= 1 << b

        # window[z]: ok bits b >= z with inv(b) < ret(z), ascending (z first).
        # Built by a sweep over ok ops in inv order; bits < z are all
        # linearized whenever z is the lowest zero bit, so they are dropped.
        self.window: list[list[int]] = []
        by_inv = sorted(range(self.n_ok), key=lambda b: self.ops[b].inv_line)
        active: set[int] = set()
        ptr = 0
        for z in range(self.n_ok):
            ret_z = self.ops[z].ret_line
            while ptr < self.n_ok and self.ops[by_inv[ptr]].inv_line < ret_z:
                active.add(by_inv[ptr])
                ptr += 1
            active.discard(z - 1)
            self.window.append(sorted(active))
        # info_prefix[z]: number of info ops (bits n_ok, n_ok+1, ...) with inv < ret(z).
        info_inv = [op.inv_line for op in info_ops]
        self.info_prefix = [bisect.bisect_left(info_inv, self.ops[z].ret_line) for z in range(self.n_ok)]

        self.states = 0

    # -- helpers -----------------------------------------------------------

    @staticmethod
    def _lowest_zero(mask: int) -> int:
        return ((~mask) & (mask + 1)).bit_length() - 1

    def _candidates(self, mask: int, z: int) -> list[int]:
        """Operations that real-time order allows to be linearized next."""
        out = [b for b in self.window[z] if not (mask >> b) & 1]
        for b in range(self.n_ok, self.n_ok + self.info_prefix[z]):
            if not (mask >> b) & 1:
                out.append(b)
        return out

    def _apply(self, b: int, value: int) -> int:
        """New register value after op b, or -1 if b is illegal in `value`."""
        kind, arg = self.kind[b], self.arg[b]
        if kind == 1:
            return arg
        if kind == 2:
            return arg[1] if arg[0] == value else -1
        return value if arg == value else -1

    def _close_reads(self, mask: int, value: int, added: list[int]) -> int:
        """Linearize, right now, every candidate read that returns `value`.

        Why this is complete: if some valid completion from (mask, value)
        exists, it contains such a read r (an ok op) somewhere later; moving r
        to the front keeps it valid, since a read does not change the register
        and adding r to the linearized set only raises minret, so every other
        operation stays allowed by real time.  Doing this eagerly is
        deterministic in (mask, value), so memoization stays correct.
        """
        while True:
            z = self._lowest_zero(mask)
            if z >= self.n_ok:
                return mask
            progressed = False
            # Ops that are candidates stay candidates as mask grows (minret
            # only rises), so scanning the window of the old z is fine.
            for b in self.window[z]:
                if self.kind[b] == 0 and self.arg[b] == value and not (mask >> b) & 1:
                    mask |= 1 << b
                    added.append(b)
                    progressed = True
            if not progressed:
                return mask

    def _dead(self, mask: int, value: int, old: int) -> bool:
        """True if state (mask, value), just reached from register value `old`,
        can certainly not be completed.

        That is the case when some pending ok op needs the register to hold
        `old` (a read of it, or a cas expecting it), the register no longer
        holds it, and no pending op can write it again.  Checking only `old`
        suffices: this condition can only become true for a value u at a step
        that moves the register away from u (observers only get linearized,
        makers of u only by setting the register to u).  States in which it
        holds are dead whatever path reached them, so pruning them keeps the
        memoized search complete; it only saves work (for example, a stale
        read of an overwritten value is detected as soon as the overwrite is
        linearized instead of after exploring every later interleaving).
        """
        if value == old or old < 0:
            return False
        pending = ~mask
        return bool(self.needs[old] & pending) and not (self.makers[old] & pending)

    def _moves(self, mask: int) -> list[int]:
        """Branching choices in state `mask`: candidate writes and cas.

        (After _close_reads, no candidate read is legal.)  Ok ops come first,
        earliest completion first, then info ops.
        """
        z = self._lowest_zero(mask)
        return [b for b in self._candidates(mask, z) if self.kind[b] != 0]

    # -- search --------------------------------------------------------------

    def run(self) -> KeyResult:
        n = len(self.ops)
        vb = self.value_bits
        done_mask = (1 << self.n_ok) - 1

        path: list[int] = []  # ops linearized so far, in order
        mask = self._close_reads(0, 0, path)
        visited = {mask << vb}
        self.states = 1
        if mask & done_mask == done_mask:
            return KeyResult(self.key, LINEARIZABLE, n, self.states)

        best_path, best_mask, best_value = list(path), mask, 0
        # Stack frames: [mask, value, moves, next move index, ops added by this frame]
        stack = [[mask, 0, self._moves(mask), 0, len(path)]]
        while stack:
            frame = stack[-1]
            fmask, fvalue, moves, i = frame[0], frame[1], frame[2], frame[3]
            if i == len(moves):
                stack.pop()
                del path[len(path) - frame[4]:]
                continue
            frame[3] = i + 1
            b = moves[i]
            nvalue = self._apply(b, fvalue)
            if nvalue < 0:
                continue
            before = len(path)
            path.append(b)
            nmask = self._close_reads(fmask | (1 << b), nvalue, path)
            state = (nmask << vb) | nvalue
            if state in visited:
                del path[before:]
                continue
            if self.states >= self.max_states:
                return KeyResult(self.key, UNKNOWN, n, self.states, [
                    f"state bound reached ({self.max_states} states explored) before "
                    f"finding a linearization or exhausting the search; rerun with a "
                    f"larger --max-states",
                ])
            visited.add(state)
            self.states += 1
            if nmask & done_mask == done_mask:
                return KeyResult(self.key, LINEARIZABLE, n, self.states)
            # A dead state's path is still a linearizable prefix: it counts for
            # the failure report, but is not expanded.
            if len(path) > len(best_path):
                best_path, best_mask, best_value = list(path), nmask, nvalue
            if self._dead(nmask, nvalue, fvalue):
                del path[before:]
                continue
            stack.append([nmask, nvalue, self._moves(nmask), 0, len(path) - before])

        return KeyResult(self.key, NOT_LINEARIZABLE, n, self.states,
                         self._explain(best_path, best_mask, best_value))

    def _explain(self, path: list[int], mask: int, value: int) -> list[str]:
        """Describe the longest linearizable prefix found and why it is stuck."""
        lines = []
        shown = path[-_PREFIX_SHOWN:]
        start = len(path) - len(shown)
        lines.append(
            f"longest linearizable prefix: {len(path)} of {len(self.ops)} ops"
            + (f" (last {len(shown)} shown)" if start else "")
            + (":" if path else " (no operation can be linearized first)")
        )
        for k, b in enumerate(shown, start + 1):
            lines.append(f"  {k}. {self.ops[b].describe()}")
        reg = self.value_names[value]
        lines.append(f"register after that prefix: {_fmt_value(reg)}")
        z = self._lowest_zero(mask)
        lines.append("operations real-time order allows next (none extends the prefix to a full linearization):")
        for b in self._candidates(mask, z):
            op = self.ops[b]
            if self._apply(b, value) < 0:
                why = f"illegal: register holds {_fmt_value(reg)}"
            else:
                why = "legal, but every continuation dead-ends"
            lines.append(f"  - {op.describe()}  <- {why}")
        lines.append(
            f"the op completing earliest among those left, {self.ops[z].describe()}, "
            f"must be linearized before any op invoked after line {self.ops[z].ret_line}"
        )
        pending = ~mask
        for u in range(len(self.needs)):
            if u != value and self.needs[u] & pending and not self.makers[u] & pending:
                stranded = [b for b in range(len(self.ops)) if (self.needs[u] >> b) & 1 and (pending >> b) & 1]
                lines.append(
                    f"dead end: {len(stranded)} pending op(s) need the register to hold "
                    f"{_fmt_value(self.value_names[u])}, which no remaining op can write, e.g. "
                    f"{self.ops[stranded[0]].describe()}"
                )
        return lines


def check_key(key: int, ops: list[Op], max_states: int = DEFAULT_MAX_STATES) -> KeyResult:
    """Check one key's operations (all ops of the key, any status)."""
    kept = prune_unobserved_info(relevant_ops(ops))
    return _KeySearch(key, kept, max_states).run()


def check_ops(ops: list[Op], max_states: int = DEFAULT_MAX_STATES) -> list[KeyResult]:
    """Partition by key (each key is an independent register) and check each."""
    by_key: dict[int, list[Op]] = {}
    for op in ops:
        by_key.setdefault(op.key, []).append(op)
    return [check_key(k, by_key[k], max_states) for k in sorted(by_key)]


def overall_exit_code(results: list[KeyResult]) -> int:
    verdicts = {r.verdict for r in results}
    if NOT_LINEARIZABLE in verdicts:
        return EXIT_NOT_LINEARIZABLE
    if UNKNOWN in verdicts:
        return EXIT_UNKNOWN
    return EXIT_LINEARIZABLE


# --------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------


def _positive_int(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return n


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Check a JSON-lines key-value register history for linearizability.",
        epilog="exit status: 0 linearizable, 1 not linearizable, 2 malformed input, 3 unknown (bound hit)",
    )
    parser.add_argument("history", help="history file, one JSON event per line")
    parser.add_argument("--max-states", type=_positive_int, default=DEFAULT_MAX_STATES,
                        help=f"search states explored per key before giving up (default {DEFAULT_MAX_STATES})")
    parser.add_argument("--brief", action="store_true",
                        help="for failing keys print only the one-line verdict, not the explanation")
    args = parser.parse_args(argv)

    try:
        ops = parse_file(args.history)
    except MalformedHistory as e:
        print(f"{args.history}:{e.line}: malformed history: {e.message}", file=sys.stderr)
        return EXIT_MALFORMED
    except OSError as e:
        print(f"{args.history}:0: cannot read file: {e.strerror or e}", file=sys.stderr)
        return EXIT_MALFORMED

    results = check_ops(ops, args.max_states)
    for r in results:
        if r.verdict == LINEARIZABLE:
            continue
        label = "NOT LINEARIZABLE" if r.verdict == NOT_LINEARIZABLE else "UNKNOWN"
        print(f"key {r.key}: {label} ({r.n_ops} ops, {r.states} states explored)")
        if not args.brief:
            for line in r.details:
                print(f"    {line}")

    code = overall_exit_code(results)
    n_bad = sum(r.verdict == NOT_LINEARIZABLE for r in results)
    n_unknown = sum(r.verdict == UNKNOWN for r in results)
    verdict = {EXIT_LINEARIZABLE: "LINEARIZABLE", EXIT_NOT_LINEARIZABLE: "NOT LINEARIZABLE",
               EXIT_UNKNOWN: "UNKNOWN"}[code]
    print(
        f"summary: {args.history}: {len(ops)} ops on {len(results)} keys: "
        f"{len(results) - n_bad - n_unknown} linearizable, {n_bad} not linearizable, "
        f"{n_unknown} unknown => {verdict}"
    )
    return code


if __name__ == "__main__":
    sys.exit(main())
