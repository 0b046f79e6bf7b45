#!/usr/bin/env bash
# Install what ChannelTrace needs to run its demo and its tests. Idempotent: a second run
# with nothing missing only checks and returns within a second or two.
#
#   (a) system services: Mosquitto and the PostgreSQL server, etcd, Patroni and pgbouncer
#       for the high-availability tests, Chromium for browser tests (apt, as root; a clear
#       message otherwise)
#   (b) npm packages when the repository has a package.json
#   (b2) only when ../shared/timescaledb/ holds the TimescaleDB build (CI): a PostgreSQL 15
#       with TimescaleDB for the tests, in .cache/timescaledb-pg15/ (never the system tree)
#   (c) the Python venv in .venv with the project installed editable with its dev extras
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

say() { printf '==> %s\n' "$*"; }
warn() { printf '!!  %s\n' "$*" >&2; }

# --- (a) system packages -------------------------------------------------------------------
have_mosquitto() {
    command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ]
}
have_pg_server() {
    local bin
    for bin in /usr/lib/postgresql/*/bin/postgres; do
        [ -x "$bin" ] && return 0
    done
    return 1
}

apt_pkgs=()
have_mosquitto || apt_pkgs+=(mosquitto mosquitto-clients)
have_pg_server || apt_pkgs+=(postgresql)
# The Patroni cluster of the failover tests (tests/plugins/patroni.py): Debian's etcd 3.4,
# Patroni 3.0 and pgbouncer 1.18. Their system services are never used (the tests start
# their own on loopback): not started at install (policy-rc.d below), and disabled after.
ha_units=()
command -v etcd >/dev/null 2>&1 || { apt_pkgs+=(etcd-server); ha_units+=(etcd.service); }
command -v patroni >/dev/null 2>&1 || { apt_pkgs+=(patroni); ha_units+=(patroni.service); }
{ command -v pgbouncer >/dev/null 2>&1 || [ -x /usr/sbin/pgbouncer ]; } || {
    apt_pkgs+=(pgbouncer); ha_units+=(pgbouncer.service); }
# The TimescaleDB build beside the repository (CI only; see (b2)) needs PostgreSQL 15.20 or
# newer (its libraries call heap_datum_check, new in 15.20): upgrade Debian's postgresql-15.
TS_SHARED="$ROOT/../shared/timescaledb"
pg15_minor() {
    local version
    version="$(/usr/lib/postgresql/15/bin/postgres -V 2>/dev/null | sed -n 's/.* 15\.\([0-9]*\).*/\1/p')"
    printf '%s' "${version:-0}"
}
if [ -d "$TS_SHARED" ] && [ -x /usr/lib/postgresql/15/bin/postgres ] && [ "$(pg15_minor)" -lt 20 ]; then
    apt_pkgs+=(postgresql-15)
fi
# promtool (Debian's prometheus package) checks and unit-tests deploy/prometheus.
command -v promtool >/dev/null 2>&1 || apt_pkgs+=(prometheus)
# Headless Chromium for the console's browser tests (Playwright drives /usr/bin/chromium;
# fonts-liberation is only a Recommends, and pages need a font to lay out text).
[ -x /usr/bin/chromium ] || apt_pkgs+=(chromium fonts-liberation)
# A CJK font: without one headless Chromium draws the consumer pages' Chinese as boxes
# (tests/browser check the glyphs); wrk drives bench/resolver.py.
[ -e /usr/share/fonts/truetype/wqy/wqy-microhei.ttc ] || apt_pkgs+=(fonts-wqy-microhei)
command -v wrk >/dev/null 2>&1 || apt_pkgs+=(wrk)
# Debian splits venv/ensurepip out of python3.
if [ ! -x .venv/bin/python ] && ! "${PYTHON:-python3}" -c 'import ensurepip' >/dev/null 2>&1; then
    apt_pkgs+=(python3-venv)
fi

if [ "${#apt_pkgs[@]}" -gt 0 ]; then
    if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
        say "installing ${apt_pkgs[*]} (apt)"
        # Our code starts its own broker and database on free loopback ports; keep the
        # packages' postinst scripts from starting system-wide services we never use.
        # Only done when no policy exists, and undone on exit.
        created_policy=""
        if [ ! -e /usr/sbin/policy-rc.d ]; then
            printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
            chmod 0755 /usr/sbin/policy-rc.d
            created_policy=1
        fi
        cleanup_policy() { if [ -n "$created_policy" ]; then rm -f /usr/sbin/policy-rc.d; fi; }
        trap cleanup_policy EXIT
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq --no-install-recommends "${apt_pkgs[@]}" >/dev/null
        # Enabled by their postinst for the next boot on a systemd host: not ours to run.
        if [ "${#ha_units[@]}" -gt 0 ] && command -v systemctl >/dev/null 2>&1; then
            systemctl disable "${ha_units[@]}" >/dev/null 2>&1 || true
        fi
        cleanup_policy
        trap - EXIT
    else
        warn "missing system packages: ${apt_pkgs[*]}"
        warn "install them with: sudo apt-get install -y --no-install-recommends ${apt_pkgs[*]}"
        warn "(or run this script as root). Until then integration tests skip locally and fail in CI."
    fi
else
    say "mosquitto, PostgreSQL server, etcd, Patroni and pgbouncer present"
fi

# --- (b) npm packages ---------------------------------------------------------------------
if [ -f package.json ]; then
    if ! command -v npm >/dev/null 2>&1; then
        warn "package.json present but npm is missing: apt-get install -y nodejs npm"
    elif [ ! -d node_modules ] || { [ -f package-lock.json ] && [ package-lock.json -nt node_modules ]; }; then
        say "installing npm packages"
        if [ -f package-lock.json ]; then
            npm ci --no-audit --no-fund
        else
            npm install --no-audit --no-fund
        fi
        touch node_modules
    else
        say "npm packages up to date"
    fi
fi

# --- (b2) TimescaleDB for the tests (only when ../shared/timescaledb/ holds the build) -----
# The build is TimescaleDB for Debian bookworm's PostgreSQL 15 (README beside it). It goes
# into a relocated copy of Debian's PostgreSQL 15 under .cache/timescaledb-pg15/ (gitignored),
# NOT into /usr: once its files are in the system tree, CREATE EXTENSION timescaledb on any
# server of this machine that does not preload it raises FATAL and closes the session, which
# breaks every other PostgreSQL user of a shared machine. Debian's server finds its share and
# lib directories relative to its binary, so the copy is a separate TimescaleDB-enabled
# PostgreSQL; tests/plugins/timescale.py starts it with shared_preload_libraries=timescaledb.
# Rebuilt when the system PostgreSQL or the tarball changes (stamp file).
TS_PREFIX="$ROOT/.cache/timescaledb-pg15"
if [ -d "$TS_SHARED" ]; then
    ts_tarball="$(find "$TS_SHARED" -maxdepth 1 -name 'timescaledb-*-pg15-*.tar.gz' | sort | tail -n 1)"
    pg15_bin=/usr/lib/postgresql/15/bin/postgres
    if [ -z "$ts_tarball" ]; then
        warn "$TS_SHARED holds no timescaledb-*-pg15-*.tar.gz: the TimescaleDB tests cannot run"
    elif [ ! -x "$pg15_bin" ]; then
        warn "Debian's PostgreSQL 15 is missing (apt-get install -y postgresql-15): the TimescaleDB tests cannot run"
    elif [ "$(pg15_minor)" -lt 20 ]; then
        warn "PostgreSQL $("$pg15_bin" -V | awk '{print $3}') is older than 15.20, which the TimescaleDB build needs:"
        warn "apt-get install -y postgresql-15 (or run this script as root). Until then the TimescaleDB tests cannot run."
    else
        ts_stamp="$("$pg15_bin" -V) $(sha256sum "$ts_tarball" | cut -d' ' -f1)"
        if [ -f "$TS_PREFIX/.stamp" ] && [ "$(cat "$TS_PREFIX/.stamp")" = "$ts_stamp" ]; then
            say "TimescaleDB test server up to date ($TS_PREFIX)"
        else
            say "installing $(basename "$ts_tarball") into a copy of PostgreSQL 15 at $TS_PREFIX"
            rm -rf "$TS_PREFIX.tmp" "$TS_PREFIX"
            mkdir -p "$TS_PREFIX.tmp/usr/lib/postgresql" "$TS_PREFIX.tmp/usr/share/postgresql"
            cp -a /usr/lib/postgresql/15 "$TS_PREFIX.tmp/usr/lib/postgresql/"
            cp -a /usr/share/postgresql/15 "$TS_PREFIX.tmp/usr/share/postgresql/"
            tar -xzf "$ts_tarball" -C "$TS_PREFIX.tmp" --no-same-owner
            printf '%s\n' "$ts_stamp" >"$TS_PREFIX.tmp/.stamp"
            mv "$TS_PREFIX.tmp" "$TS_PREFIX"
        fi
    fi
fi

# --- (c) Python venv ----------------------------------------------------------------------
PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
    if ! command -v "$PYTHON" >/dev/null 2>&1; then
        warn "$PYTHON not found: install Python 3.11 or newer (apt-get install -y python3 python3-venv)"
        exit 1
    fi
    if ! "$PYTHON" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)'; then
        warn "Python 3.11 or newer is required, found $("$PYTHON" -V 2>&1)"
        exit 1
    fi
    say "creating .venv with $("$PYTHON" -V 2>&1)"
    "$PYTHON" -m venv .venv
fi

STAMP=.venv/.ct-installed
if [ ! -f "$STAMP" ] || [ pyproject.toml -nt "$STAMP" ]; then
    say "installing channeltrace[dev] into .venv"
    .venv/bin/python -m pip install -q --disable-pip-version-check -e '.[dev]'
    touch "$STAMP"
else
    say "Python packages up to date"
fi
