-- crmperm without Citus: the Citus functions refuse plainly, and a node
-- token (which crmperm sets for Citus's connections under a token) is
-- verified on any node: forged, malformed, ended or another login's ones
-- are refused.
\set VERBOSITY default
CREATE EXTENSION IF NOT EXISTS crmperm;
CREATE ROLE ca_user LOGIN;
SELECT crmperm._citus_node() IS NULL AS no_citus;
SELECT crmperm.sync_node();
SELECT crmperm.sync_node('localhost', NULL);
SET ROLE ca_user;
SELECT crmperm.sync_node();
SELECT crmperm._citus_send('SELECT 1');
SELECT crmperm._sync_apply('grants', 'INSERT', NULL, '[]');
SELECT crmperm._sync_load('{}');
RESET ROLE;
-- applying catalog changes is for workers only, even for a superuser
SELECT crmperm._sync_apply('object_grants', 'INSERT', NULL, '[]');
SELECT crmperm._sync_load('{}');

-- node tokens
BEGIN;
SET LOCAL crmperm.node_token = 'garbage';
SELECT 1;
ROLLBACK;
-- well formed, but not presented by the relay role (none is set)
BEGIN;
SELECT set_config('crmperm.node_token', 'crm_a1b2c3d4e5f6_' || repeat('A', 43) || ':99999999999:' || session_user, true) IS NOT NULL AS set;
SELECT 1;
ROLLBACK;
-- presented by the relay role: ended, no secret yet, then a forged signature
CREATE ROLE ca_relay LOGIN;
ALTER SYSTEM SET crmperm.citus_relay_role = 'ca_relay';
SELECT pg_reload_conf();
SELECT pg_sleep(0.5);
SET SESSION AUTHORIZATION ca_relay;
BEGIN;
SET LOCAL crmperm.node_token = 'crm_a1b2c3d4e5f6_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA:1000:someone';
SELECT 1;
ROLLBACK;
BEGIN;
SET LOCAL crmperm.node_token = 'crm_a1b2c3d4e5f6_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA:99999999999:someone';
SELECT 1;
ROLLBACK;
RESET SESSION AUTHORIZATION;
-- a hash mask makes the secret; then the signature is checked
CREATE TABLE ca_t (id int PRIMARY KEY, s text);
SELECT crmperm.manage_table('ca_t');
SELECT crmperm.protect_field('ca_t', 's', 'hash');
SET SESSION AUTHORIZATION ca_relay;
BEGIN;
SET LOCAL crmperm.node_token = 'crm_a1b2c3d4e5f6_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA:99999999999:someone';
SELECT 1;
ROLLBACK;
-- only superusers read it (the message differs by version: the SQLSTATE)
DO $$
BEGIN
    PERFORM current_setting('crmperm.node_token');
    RAISE NOTICE 'read';
EXCEPTION WHEN insufficient_privilege THEN
    RAISE NOTICE 'refused: %', SQLSTATE;
END
$$;
RESET SESSION AUTHORIZATION;
-- a relay role that bypasses row security is refused
ALTER ROLE ca_relay BYPASSRLS;
SET SESSION AUTHORIZATION ca_relay;
BEGIN;
SET LOCAL crmperm.node_token = 'crm_a1b2c3d4e5f6_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA:99999999999:someone';
SELECT 1;
ROLLBACK;
RESET SESSION AUTHORIZATION;
ALTER SYSTEM RESET crmperm.citus_relay_role;
SELECT pg_reload_conf();
-- never a role's or database's default (every session of the login would act as the token)
ALTER ROLE ca_user SET crmperm.node_token = 'crm_a1b2c3d4e5f6_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA:99999999999:ca_user';
-- a bad node token does not stop its own RESET, nor a COMMIT
BEGIN;
SET LOCAL crmperm.node_token = 'garbage';
COMMIT;
SET crmperm.node_token = 'garbage';
RESET crmperm.node_token;
SELECT current_user = session_user AS unchanged;
SELECT crmperm.unmanage_table('ca_t');
DROP TABLE ca_t;
DROP ROLE ca_user;
DROP ROLE ca_relay;
