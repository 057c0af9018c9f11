/* crmperm--1.1--1.2.sql: hardening after an outside review (issue 13) */

\echo Use "ALTER EXTENSION crmperm UPDATE TO '1.2'" to load this file. \quit

-- A fresh CREATE EXTENSION crmperm runs crmperm--1.0.sql, crmperm--1.0--1.1.sql
-- and then this script: an updated database and a new one are made by the
-- same statements.  1.0 and 1.1 are released: their scripts never change.

-- ---------------------------------------------------------------------------
-- Internal functions and argument checks (no SQL crashes the server; real
-- principals; one clear error per bad argument).
-- ---------------------------------------------------------------------------



-- ---------------------------------------------------------------------------
-- Attachments to managed tables (triggers, foreign keys, rules, ...) and DDL
-- that writes rows.
-- ---------------------------------------------------------------------------



-- ---------------------------------------------------------------------------
-- Tenant-scoped administration.
-- ---------------------------------------------------------------------------



-- ---------------------------------------------------------------------------
-- Audit paths and tokens.
-- ---------------------------------------------------------------------------



-- ---------------------------------------------------------------------------
-- Side channels.
-- ---------------------------------------------------------------------------



-- ---------------------------------------------------------------------------
-- lint() (redefined last: each section above may add findings).
-- ---------------------------------------------------------------------------

