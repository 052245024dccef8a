#!/usr/bin/env python3
"""Runs Aegis's sqllogictest files against SQLite (Python's sqlite3 module).

The corpus in Tests/SQLLogic is Aegis's own; this tool holds it to SQLite's answers:

  sqllogictest.py check FILE...     every record must agree with SQLite (exit 1 if not)
  sqllogictest.py complete FILE...  fill each query's expected results from SQLite

Records marked `onlyif aegis` (or `skipif sqlite`) are where Aegis answers differently
on purpose (written down in Tests/SQLLogic/README.md); this tool skips them, and the
Swift runner (Tests/AegisTests/SQLLogicTests.swift) runs every record against Aegis.

Format (SQLite's): `statement ok|error`, then SQL up to a blank line; `query TYPES
SORTMODE`, SQL, `----`, then one value per line (or `N values hashing to MD5`).
Values: NULL, (empty) for '', integers for I, %.3f for R, text for T.
"""
import hashlib
import sqlite3
import sys


def parse(path):
    lines = open(path, encoding="utf-8").read().split("\n")
    records, i, conditions = [], 0, []
    while i < len(lines):
        line = lines[i].rstrip()
        if not line or line.startswith("#"):
            i += 1
            continue
        words = line.split()
        if words[0] in ("skipif", "onlyif"):
            conditions.append((words[0], words[1]))
            i += 1
            continue
        if words[0] == "hash-threshold" or words[0] == "halt":
            records.append({"kind": words[0], "args": words[1:], "line": i + 1, "conditions": conditions})
            conditions = []
            i += 1
            continue
        start = i
        header = words
        i += 1
        sql = []
        while i < len(lines) and lines[i].strip() and lines[i].strip() != "----":
            sql.append(lines[i])
            i += 1
        record = {"kind": header[0], "args": header[1:], "sql": "\n".join(sql), "line": start + 1,
                  "conditions": conditions, "expected": None}
        conditions = []
        if i < len(lines) and lines[i].strip() == "----":
            i += 1
            expected = []
            while i < len(lines) and lines[i].strip():
                expected.append(lines[i].rstrip())
                i += 1
            record["expected"] = expected
        records.append(record)
    return records


def applies(record):
    for kind, engine in record["conditions"]:
        if kind == "onlyif" and engine != "sqlite":
            return False
        if kind == "skipif" and engine == "sqlite":
            return False
    return True


def render(value, type_char):
    if value is None:
        return "NULL"
    if type_char == "I":
        if isinstance(value, str):
            digits = ""
            for index, ch in enumerate(value.strip()):
                if ch.isdigit() or (index == 0 and ch in "+-"):
                    digits += ch
                else:
                    break
            try:
                return str(int(digits))
            except ValueError:
                return "0"
        return str(int(value))
    if type_char == "R":
        if isinstance(value, str):
            try:
                value = float(value)
            except ValueError:
                value = 0.0
        return "%.3f" % float(value)
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if isinstance(value, float):
        value = sqlite_real_text(value)
    text = str(value)
    if text == "":
        return "(empty)"
    return "".join(ch if " " <= ch <= "~" or ord(ch) > 127 else "@" for ch in text)


def sqlite_real_text(value):
    """A REAL as SQLite shows it as text: printf's %!.15g (always a decimal point)."""
    if value != value:
        return "NULL"
    if value in (float("inf"), float("-inf")):
        return "Inf" if value > 0 else "-Inf"
    text = "%.15g" % value
    mantissa, _, exponent = text.partition("e")
    if "." not in mantissa:
        mantissa += ".0"
    return mantissa + ("e" + exponent if exponent else "")


def results(rows, types, sort_mode):
    rendered = [[render(value, types[index] if index < len(types) else "T") for index, value in enumerate(row)] for row in rows]
    if sort_mode == "rowsort":
        rendered.sort()
    values = [value for row in rendered for value in row]
    if sort_mode == "valuesort":
        values.sort()
    return values


def hashed(values):
    digest = hashlib.md5("".join(value + "\n" for value in values).encode()).hexdigest()
    return ["%d values hashing to %s" % (len(values), digest)]


def run(path, complete):
    records = parse(path)
    db = sqlite3.connect(":memory:", isolation_level=None)
    failures, threshold, output = 0, 0, []
    for record in records:
        if record["kind"] == "hash-threshold":
            threshold = int(record["args"][0])
            continue
        if record["kind"] == "halt":
            break
        if not applies(record):
            continue
        where = "%s:%d" % (path, record["line"])
        if record["kind"] == "statement":
            expect_ok = record["args"][0] == "ok"
            try:
                db.execute(record["sql"]) if ";" not in record["sql"].strip().rstrip(";") else db.executescript(record["sql"])
                ok = True
            except sqlite3.Error as error:
                ok, message = False, str(error)
            if ok != expect_ok:
                failures += 1
                print("%s: SQLite %s where the file says statement %s" % (where, "succeeded" if ok else "failed (%s)" % message, record["args"][0]))
            continue
        if record["kind"] != "query":
            continue
        types, sort_mode = record["args"][0], (record["args"][1] if len(record["args"]) > 1 else "nosort")
        try:
            rows = db.execute(record["sql"]).fetchall()
        except sqlite3.Error as error:
            failures += 1
            print("%s: SQLite failed the query: %s" % (where, error))
            continue
        values = results(rows, types, sort_mode)
        if threshold > 0 and len(values) > threshold:
            values = hashed(values)
        if complete:
            record["completed"] = values
        elif record["expected"] != values:
            failures += 1
            print("%s: SQLite answers %s, the file expects %s" % (where, values[:12], (record["expected"] or [])[:12]))
    if complete:
        write_completed(path, records)
    return failures


def write_completed(path, records):
    lines = open(path, encoding="utf-8").read().split("\n")
    by_line = {record["line"]: record for record in records if "completed" in record}
    out, i = [], 0
    while i < len(lines):
        if (i + 1) in by_line:
            record = by_line[i + 1]
            out.append(lines[i])
            i += 1
            while i < len(lines) and lines[i].strip() and lines[i].strip() != "----":
                out.append(lines[i])
                i += 1
            if i < len(lines) and lines[i].strip() == "----":
                i += 1
                while i < len(lines) and lines[i].strip():
                    i += 1
            out.append("----")
            out.extend(record["completed"])
            continue
        out.append(lines[i])
        i += 1
    open(path, "w", encoding="utf-8").write("\n".join(out))


def main():
    if len(sys.argv) < 3 or sys.argv[1] not in ("check", "complete"):
        print(__doc__)
        return 2
    failures = sum(run(path, sys.argv[1] == "complete") for path in sys.argv[2:])
    if sys.argv[1] == "check":
        print("sqllogictest against SQLite %s: %d file(s), %d disagreement(s)" % (sqlite3.sqlite_version, len(sys.argv) - 2, failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
