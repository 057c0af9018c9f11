-- crmperm 1.2 -> 1.3

\echo Use "ALTER EXTENSION crmperm UPDATE TO '1.3'" to load this file. \quit

-- Who may manage or unmanage a table: its owner, or a role that can act as
-- the owner.  Since PostgreSQL 16 a membership carries its own INHERIT and
-- SET options, and pg_has_role(..., 'MEMBER') is true even for a membership
-- with both off, which gives none of the owner's privileges and no SET ROLE
-- to it (a CREATEROLE user holds such an ADMIN-only membership in every role
-- it creates).  1.2 let such a member unmanage the owner's table.  Now: the
-- owner's privileges (USAGE: INHERIT) or SET ROLE to it (SET, 16+); on 15
-- every member can SET ROLE, as before.
CREATE OR REPLACE FUNCTION crmperm._check_owner(tbl regclass) RETURNS void
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    owner oid := (SELECT c.relowner FROM pg_class c WHERE c.oid = tbl);
    acts_as_owner boolean;
BEGIN
    IF pg_has_role(crmperm._caller(), owner, 'USAGE') THEN
        acts_as_owner := true;
    ELSIF current_setting('server_version_num')::int >= 160000 THEN
        acts_as_owner := pg_has_role(crmperm._caller(), owner, 'SET');
    ELSE
        acts_as_owner := pg_has_role(crmperm._caller(), owner, 'MEMBER');
    END IF;
    IF NOT acts_as_owner THEN
        RAISE EXCEPTION 'must be owner of table %', tbl USING ERRCODE = 'insufficient_privilege';
    END IF;
END
$$;
