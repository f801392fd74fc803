#!/usr/bin/env bash
# Test services on a fresh Debian machine (run as root; idempotent): a PostgreSQL server with a test database,
# Debian's chromium for the browser test and pdflatex for the PDF fixtures. Logs go to stderr; stdout is only
# KEY=VALUE lines for `source`:
#   bash scripts/ci_services.sh > .services.env && set -a && source .services.env && set +a
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

PG_USER=${PAPERTRANS_PG_USER:-papertrans}
PG_PASS=${PAPERTRANS_PG_PASSWORD:-papertrans}
PG_DB=${PAPERTRANS_PG_DB:-papertrans_test}
PG_PORT=${PAPERTRANS_PG_PORT:-5432}

log() { echo "ci_services: $*" >&2; }

need=()
command -v pg_ctlcluster >/dev/null 2>&1 || need+=(postgresql)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
# pdflatex (with the Computer Modern and AMS fonts) compiles the PDF fixtures of tests/clients/test_pdf_math.py
command -v pdflatex >/dev/null 2>&1 || need+=(texlive-latex-base)
if ((${#need[@]})); then
    log "installing ${need[*]}"
    apt-get update -qq >&2
    apt-get install -y -qq --no-install-recommends "${need[@]}" >&2
fi

# PostgreSQL: the distribution's default cluster (create it if the package did not), started and listening locally.
if ! pg_lsclusters -h 2>/dev/null | grep -q .; then
    ver=$(ls /usr/lib/postgresql | sort -V | tail -n1)
    log "creating cluster $ver/main"
    pg_createcluster "$ver" main -p "$PG_PORT" >&2
fi
read -r ver cluster port status _ < <(pg_lsclusters -h | head -n1)
if [[ "$status" != online* ]]; then
    log "starting cluster $ver/$cluster"
    pg_ctlcluster "$ver" "$cluster" start >&2
fi
for _ in $(seq 1 30); do
    pg_isready -q -h 127.0.0.1 -p "$port" && break
    sleep 1
done
pg_isready -h 127.0.0.1 -p "$port" >&2

psql_su() { su postgres -c "psql -v ON_ERROR_STOP=1 -p $port -qAtX $*" ; }
if [[ "$(psql_su "-c \"SELECT 1 FROM pg_roles WHERE rolname='$PG_USER'\"")" != 1 ]]; then
    psql_su "-c \"CREATE ROLE $PG_USER LOGIN PASSWORD '$PG_PASS' CREATEDB\"" >&2
fi
if [[ "$(psql_su "-c \"SELECT 1 FROM pg_database WHERE datname='$PG_DB'\"")" != 1 ]]; then
    psql_su "-c \"CREATE DATABASE $PG_DB OWNER $PG_USER\"" >&2
fi
log "PostgreSQL $ver on port $port, database $PG_DB; chromium: $(command -v chromium); pdflatex: $(command -v pdflatex)"

echo "PAPERTRANS_TEST_PG_URL=postgresql+asyncpg://$PG_USER:$PG_PASS@127.0.0.1:$port/$PG_DB"
echo "PAPERTRANS_TEST_CHROMIUM=$(command -v chromium)"
