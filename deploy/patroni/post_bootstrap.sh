#!/bin/sh
# Patroni runs this once, on the node that bootstraps the cluster, with a superuser URL.
# The same roles as deploy/timescaledb/initdb does for the single-node compose.yml.
set -eu
psql -v ON_ERROR_STOP=1 "$1" -v pw="$DB_PASSWORD" -v grafana_pw="$GRAFANA_DB_PASSWORD" <<'SQL'
CREATE ROLE channeltrace LOGIN SUPERUSER PASSWORD :'pw';
CREATE DATABASE channeltrace OWNER channeltrace;
CREATE ROLE ct_grafana LOGIN BYPASSRLS PASSWORD :'grafana_pw';
GRANT pg_read_all_data TO ct_grafana;
ALTER ROLE ct_grafana SET default_transaction_read_only = on;
ALTER ROLE ct_grafana SET statement_timeout = '30s';
SQL
