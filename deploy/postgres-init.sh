#!/bin/sh
# Run by the postgres image on an empty data volume (mounted into /docker-entrypoint-initdb.d by
# deploy/docker-compose.yml): postgres-init.sql with the roles' passwords from the environment.
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
  -v owner_password="$LMX_DB_OWNER_PASSWORD" \
  -v gateway_password="$LMX_DB_GATEWAY_PASSWORD" \
  -v registry_password="$LMX_DB_REGISTRY_PASSWORD" \
  -v certification_password="$LMX_DB_CERTIFICATION_PASSWORD" \
  -v housing_password="$LMX_DB_HOUSING_PASSWORD" \
  -f /lmx/postgres-init.sql
