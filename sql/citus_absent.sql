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
BEGIN;
SELECT set_config('crmperm.node_token', 'crm_a1b2c3d4e5f6_' || repeat('A', 43) || ':99999999999:' || session_user, true) IS NOT NULL AS set;
SELECT 1;
ROLLBACK;
-- a hash mask makes the secret; then the signature is checked
CREATE TABLE ca_t (id int PRIMARY KEY, s text);
SELECT crmperm.manage_table('ca_t');
SELECT crmperm.protect_field('ca_t', 's', 'hash');
BEGIN;
SELECT set_config('crmperm.node_token', 'crm_a1b2c3d4e5f6_' || repeat('A', 43) || ':99999999999:' || session_user, true) IS NOT NULL AS set;
SELECT 1;
ROLLBACK;
BEGIN;
SELECT set_config('crmperm.node_token', 'crm_a1b2c3d4e5f6_' || repeat('A', 43) || ':99999999999:someone_else', true) IS NOT NULL AS set;
SELECT 1;
ROLLBACK;
BEGIN;
SELECT set_config('crmperm.node_token', 'crm_a1b2c3d4e5f6_' || repeat('A', 43) || ':1000:' || session_user, true) IS NOT NULL AS set;
SELECT 1;
ROLLBACK;
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
