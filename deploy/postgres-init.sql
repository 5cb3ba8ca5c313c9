-- The exchange's databases and roles: one database per component, owned by the migration role, and one
-- login role per component that may only read and write the rows of its own database (ADR 0032).
--
--   lmx_owner           owns the four databases and every table in them; runs `lmx migrate`, `lmx reference
--                       load` and `lmx keys ensure` (Compose: the migrate service; Kubernetes: the Job).
--   lmx_gateway, lmx_registry, lmx_certification, lmx_housing
--                       CONNECT to their own database only; SELECT, INSERT, UPDATE, DELETE on its tables
--                       and USAGE, SELECT on its sequences, also on the tables later migrations create
--                       (ALTER DEFAULT PRIVILEGES); no CREATE, no TEMPORARY, nothing on the other three.
--
-- Run once as a superuser (or a role with CREATEDB and CREATEROLE) with psql, the passwords as variables:
--
--   psql "$ADMIN_URL" -v ON_ERROR_STOP=1 -v owner_password=… -v gateway_password=… \
--        -v registry_password=… -v certification_password=… -v housing_password=… -f deploy/postgres-init.sql
--
-- Compose runs it on an empty data volume through postgres-init.sh (the passwords from deploy/.env).
\set ON_ERROR_STOP on

CREATE ROLE lmx_owner LOGIN PASSWORD :'owner_password';
CREATE ROLE lmx_gateway LOGIN PASSWORD :'gateway_password';
CREATE ROLE lmx_registry LOGIN PASSWORD :'registry_password';
CREATE ROLE lmx_certification LOGIN PASSWORD :'certification_password';
CREATE ROLE lmx_housing LOGIN PASSWORD :'housing_password';

CREATE DATABASE gateway OWNER lmx_owner;
CREATE DATABASE registry OWNER lmx_owner;
CREATE DATABASE certification OWNER lmx_owner;
CREATE DATABASE housing OWNER lmx_owner;

-- Nobody but the owner and the component's own role may connect (PUBLIC's CONNECT and TEMPORARY go).
REVOKE ALL ON DATABASE gateway FROM PUBLIC;
REVOKE ALL ON DATABASE registry FROM PUBLIC;
REVOKE ALL ON DATABASE certification FROM PUBLIC;
REVOKE ALL ON DATABASE housing FROM PUBLIC;
GRANT CONNECT ON DATABASE gateway TO lmx_gateway;
GRANT CONNECT ON DATABASE registry TO lmx_registry;
GRANT CONNECT ON DATABASE certification TO lmx_certification;
GRANT CONNECT ON DATABASE housing TO lmx_housing;

-- In each database: the owner owns the schema; the component's role uses it and works with rows only.
\connect gateway
ALTER SCHEMA public OWNER TO lmx_owner;
REVOKE ALL ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO lmx_gateway;
ALTER DEFAULT PRIVILEGES FOR ROLE lmx_owner IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO lmx_gateway;
ALTER DEFAULT PRIVILEGES FOR ROLE lmx_owner IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO lmx_gateway;

\connect registry
ALTER SCHEMA public OWNER TO lmx_owner;
REVOKE ALL ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO lmx_registry;
ALTER DEFAULT PRIVILEGES FOR ROLE lmx_owner IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO lmx_registry;
ALTER DEFAULT PRIVILEGES FOR ROLE lmx_owner IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO lmx_registry;

\connect certification
ALTER SCHEMA public OWNER TO lmx_owner;
REVOKE ALL ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO lmx_certification;
ALTER DEFAULT PRIVILEGES FOR ROLE lmx_owner IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO lmx_certification;
ALTER DEFAULT PRIVILEGES FOR ROLE lmx_owner IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO lmx_certification;

\connect housing
ALTER SCHEMA public OWNER TO lmx_owner;
REVOKE ALL ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO lmx_housing;
ALTER DEFAULT PRIVILEGES FOR ROLE lmx_owner IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO lmx_housing;
ALTER DEFAULT PRIVILEGES FOR ROLE lmx_owner IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO lmx_housing;
