-- Run once by the postgres image on an empty data directory
-- (mounted into /docker-entrypoint-initdb.d by deploy/docker-compose.yml).
-- One database per component; the owner is the POSTGRES_USER of the container.
CREATE DATABASE gateway;
CREATE DATABASE registry;
CREATE DATABASE certification;
CREATE DATABASE housing;

-- Nobody but the owner may connect to them.
REVOKE ALL ON DATABASE gateway FROM PUBLIC;
REVOKE ALL ON DATABASE registry FROM PUBLIC;
REVOKE ALL ON DATABASE certification FROM PUBLIC;
REVOKE ALL ON DATABASE housing FROM PUBLIC;
