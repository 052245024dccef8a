#!/usr/bin/env bash
# Installs the system libraries Aegis links against (LZ4, Zstd, found through
# pkg-config), and SQLite, the peer the storage benchmark (Benchmarks/) measures against,
# when they are missing. Safe to run again: it does nothing when all is there.
set -euo pipefail
if pkg-config --exists liblz4 libzstd sqlite3 2>/dev/null; then
  exit 0
fi
echo "setup: installing liblz4-dev, libzstd-dev, libsqlite3-dev and pkg-config (Debian packages)"
runner=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then runner="sudo"; else
    echo "setup: liblz4-dev, libzstd-dev or libsqlite3-dev is missing and this user cannot install them; run as root: apt-get install -y liblz4-dev libzstd-dev libsqlite3-dev pkg-config" >&2
    exit 2
  fi
fi
export DEBIAN_FRONTEND=noninteractive
$runner apt-get update -qq
$runner apt-get install -y -qq liblz4-dev libzstd-dev libsqlite3-dev pkg-config >/dev/null
pkg-config --exists liblz4 libzstd sqlite3 || { echo "setup: pkg-config still cannot find liblz4, libzstd and sqlite3" >&2; exit 2; }
