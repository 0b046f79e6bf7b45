#!/usr/bin/env bash
# Install what ChannelTrace needs to run its demo and its tests. Idempotent: a second run
# with nothing missing only checks and returns within a second or two.
#
#   (a) system services: Mosquitto and the PostgreSQL server, Chromium for browser tests
#       (apt, as root; a clear message otherwise)
#   (b) npm packages when the repository has a package.json (and the TimescaleDB stand-in's)
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
# promtool (Debian's prometheus package) checks and unit-tests deploy/prometheus.
command -v promtool >/dev/null 2>&1 || apt_pkgs+=(prometheus)
# Headless Chromium for the console's browser tests (Playwright drives /usr/bin/chromium;
# fonts-liberation is only a Recommends, and pages need a font to lay out text).
[ -x /usr/bin/chromium ] || apt_pkgs+=(chromium fonts-liberation)
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
        cleanup_policy
        trap - EXIT
    else
        warn "missing system packages: ${apt_pkgs[*]}"
        warn "install them with: sudo apt-get install -y --no-install-recommends ${apt_pkgs[*]}"
        warn "(or run this script as root). Until then integration tests skip locally and fail in CI."
    fi
else
    say "mosquitto and PostgreSQL server present"
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

# --- (b2) the PGlite+TimescaleDB stand-in (tests of the Timescale SQL) ----------------------
# Its own package.json/package-lock.json in deploy/pglite-timescale; reinstalled only when
# the lock file is newer than node_modules.
TS_FRONT=deploy/pglite-timescale
if [ -f "$TS_FRONT/package-lock.json" ]; then
    if ! command -v npm >/dev/null 2>&1; then
        warn "npm is missing: the TimescaleDB compatibility tests skip (apt-get install -y nodejs npm)"
    elif [ ! -d "$TS_FRONT/node_modules" ] || [ "$TS_FRONT/package-lock.json" -nt "$TS_FRONT/node_modules" ]; then
        say "installing the PGlite+TimescaleDB stand-in ($TS_FRONT)"
        (cd "$TS_FRONT" && npm ci --no-audit --no-fund)
        touch "$TS_FRONT/node_modules"
    else
        say "PGlite+TimescaleDB stand-in up to date"
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
