#!/bin/sh
# Runs once, when the official image initialises an empty data directory.
# Grafana reads through its own login role: read-only on every table (pg_read_all_data),
# and BYPASSRLS because its dashboards are the operator's view across all tenants
# (the API's ct_app role stays bound by row-level security; docs/security.md).
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
    -v pw="$GRAFANA_DB_PASSWORD" <<'SQL'
CREATE ROLE ct_grafana LOGIN BYPASSRLS PASSWORD :'pw';
GRANT pg_read_all_data TO ct_grafana;
ALTER ROLE ct_grafana SET default_transaction_read_only = on;
ALTER ROLE ct_grafana SET statement_timeout = '30s';
SQL
