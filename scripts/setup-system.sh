#!/usr/bin/env bash
# Installs what Aegis needs from Debian when it is missing: the libraries it links
# against (LZ4, Zstd, libedit for the SQL shell's line editing, found through
# pkg-config); openssl, which the end-to-end tests use
# to make TLS certificates; and the peers the benchmarks (Benchmarks/) measure against:
# SQLite for the storage engine, etcd for the cluster. Safe to run again: it does
# nothing when all is there.
set -euo pipefail
packages="liblz4-dev libzstd-dev libedit-dev libsqlite3-dev pkg-config openssl etcd-server"
have_all() {
  pkg-config --exists liblz4 libzstd libedit sqlite3 2>/dev/null && command -v openssl >/dev/null 2>&1 \
    && { command -v etcd >/dev/null 2>&1 || [ -x /usr/bin/etcd ]; }
}
if have_all; then
  exit 0
fi
echo "setup: installing $packages (Debian packages)"
runner=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then runner="sudo"; else
    echo "setup: some of $packages are missing and this user cannot install them; run as root: apt-get install -y $packages" >&2
    exit 2
  fi
fi
export DEBIAN_FRONTEND=noninteractive
$runner apt-get update -qq
# etcd's package would start a system service; this machine only needs the binary.
printf '#!/bin/sh\nexit 101\n' | $runner tee /usr/sbin/policy-rc.d >/dev/null
$runner chmod +x /usr/sbin/policy-rc.d
$runner apt-get install -y -qq $packages >/dev/null
$runner rm -f /usr/sbin/policy-rc.d
have_all || { echo "setup: after installing, liblz4, libzstd, libedit, sqlite3, openssl or etcd is still missing" >&2; exit 2; }
