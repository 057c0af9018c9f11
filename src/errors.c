/*-------------------------------------------------------------------------
 * errors.c
 *		The one place where denials are worded, so that every path (CRUD,
 *		TRUNCATE, COPY, and later fields, scopes and tokens) names the
 *		principal and the exact missing permission the same way, and where
 *		every denial is audited (audit.c) before it is raised.
 *
 * Messages never carry a value from a row.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "nodes/value.h"
#include "utils/acl.h"
#include "utils/lsyscache.h"

#include "crmperm.h"

static const int listed_actions[] = {CRM_READ, CRM_CREATE, CRM_UPDATE, CRM_DELETE};

/*
 * "read, create (owned)" or "nothing": the actions (or field privileges) in
 * bits, each with its scopes when scopes is given.
 */
static char *
granted_list(int bits, List *const *scopes_by_action)
{
	StringInfoData buf;

	initStringInfo(&buf);
	for (int i = 0; i < lengthof(listed_actions); i++)
	{
		int			action = listed_actions[i];
		List	   *scopes = scopes_by_action ? scopes_by_action[crm_action_index(action)] : NIL;
		ListCell   *lc;

		if (!(bits & action))
			continue;
		if (buf.len > 0)
			appendStringInfoString(&buf, ", ");
		appendStringInfoString(&buf, crm_action_name(action));
		if (scopes != NIL)
		{
			appendStringInfoString(&buf, " (");
			foreach(lc, scopes)
				appendStringInfo(&buf, "%s%s", lc == list_head(scopes) ? "" : " or ",
								 ((CrmScope *) lfirst(lc))->name);
			appendStringInfoChar(&buf, ')');
		}
	}
	if (buf.len == 0)
		appendStringInfoString(&buf, "nothing");
	return buf.data;
}

/* What a decision grants on its table. */
char *
crm_granted_list(const CrmDecision *d)
{
	return granted_list(d->actions, d->scopes);
}

void
crm_deny_action(Oid roleid, const CrmDecision *d, int action)
{
	const char *rolename = GetUserNameFromId(roleid, false);

	crm_audit_event(CRM_AUDIT_DENIAL, d->resource, crm_action_name(action), -1);
	if (d->sensitive && action != CRM_READ)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied: role \"%s\" lacks \"%s.%s\"",
						rolename, d->resource, crm_action_name(action)),
				 errdetail("Resource \"%s\" is sensitive: only super admins may create, update or delete its rows.",
						   d->resource)));

	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("permission denied: role \"%s\" lacks \"%s.%s\"",
					rolename, d->resource, crm_action_name(action)),
			 errdetail("Granted on %s: %s.", d->resource, crm_granted_list(d)),
			 errhint("Grant it with crmperm.grant(), or add it to the token's scopes.")));
}

void
crm_deny_truncate_scope(Oid roleid, const CrmDecision *d)
{
	crm_audit_event(CRM_AUDIT_DENIAL, d->resource, "delete", -1);
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("permission denied: role \"%s\" lacks \"%s.delete\" with scope \"all\"",
					GetUserNameFromId(roleid, false), d->resource),
			 errdetail("TRUNCATE removes every row. Granted on %s: %s.",
					   d->resource, crm_granted_list(d)),
			 errhint("Grant it with crmperm.grant(..., scope => 'all').")));
}

void
crm_deny_system(Oid roleid, const char *permission, const char *needed_for)
{
	crm_audit_event(CRM_AUDIT_DENIAL, NULL, permission, -1);
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("permission denied: role \"%s\" lacks \"%s\"",
					GetUserNameFromId(roleid, false), permission),
			 errdetail("%s needs the system permission %s.", needed_for, permission),
			 errhint("Grant it with crmperm.grant_system().")));
}

void
crm_deny_explain_analyze(Oid roleid, const CrmDecision *d)
{
	crm_audit_event(CRM_AUDIT_DENIAL, d->resource, "read", -1);
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("permission denied: role \"%s\" may not run EXPLAIN ANALYZE on \"%s\"",
					GetUserNameFromId(roleid, false), d->resource),
			 errdetail("Its row counts would reveal rows outside the role's scopes."),
			 errhint("Use EXPLAIN without ANALYZE.")));
}

void
crm_deny_scope(Oid roleid, const char *resource, const char *action, const char *scopes,
			   bool new_row, bool field)
{
	crm_audit_event(CRM_AUDIT_DENIAL, resource, action, -1);
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("permission denied: role \"%s\" lacks \"%s.%s\" for this row",
					GetUserNameFromId(roleid, false), resource, action),
			 new_row ? errdetail("The new row is outside the role's scope for %s.%s: %s.",
								 resource, action, scopes) :
			 errdetail("The row is outside the role's scope for %s.%s: %s.",
					   resource, action, scopes),
			 errhint("Write rows inside that scope, or grant a wider one with crmperm.%s().",
					 field ? "grant_field" : "grant")));
}

/* A protected field set or changed without the privilege. */
void
crm_deny_field(Oid roleid, const CrmDecision *d, const CrmFieldAccess *fa, int privilege)
{
	const char *field = fa->field->name;

	crm_audit_event(CRM_AUDIT_DENIAL, d->resource,
					psprintf("%s.%s", field, crm_action_name(privilege)), -1);
	if (fa->field->readonly)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied: role \"%s\" lacks \"%s.%s.%s\"",
						GetUserNameFromId(roleid, false), d->resource, field,
						crm_action_name(privilege)),
				 errdetail("Field \"%s.%s\" is read-only: only super admins may set or change it.",
						   d->resource, field)));

	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("permission denied: role \"%s\" lacks \"%s.%s.%s\"",
					GetUserNameFromId(roleid, false), d->resource, field,
					crm_action_name(privilege)),
			 errdetail("Granted on field %s.%s: %s.", d->resource, field,
					   granted_list(fa->privileges, NULL)),
			 errhint("Grant it with crmperm.grant_field().")));
}

void
crm_deny_tenant(Oid roleid, const char *resource, const char *action, const char *tenant_column)
{
	crm_audit_event(CRM_AUDIT_DENIAL, resource, action, -1);
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("permission denied: role \"%s\" lacks \"%s.%s\" for this row",
					GetUserNameFromId(roleid, false), resource, action),
			 errdetail("The new row's tenant column \"%s\" does not hold the role's tenant id.",
					   tenant_column),
			 errhint("No grant crosses the tenant boundary; write rows of the role's own tenant (crmperm.tenant_id()).")));
}

/*
 * Denials under an API token name the token: the integrator holding it
 * knows what to ask for.  A token's scopes are fixed when it is created.
 */
void
crm_deny_token_scope(const char *token, const char *scopes, const char *resource, int action)
{
	crm_audit_event(CRM_AUDIT_DENIAL, resource, crm_action_name(action), -1);
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("permission denied: token \"%s\" lacks \"%s.%s\"",
					token, resource, crm_action_name(action)),
			 errdetail("Token scopes: %s.", scopes),
			 errhint("A token's scopes are fixed: create a token whose scopes include \"%s.%s\" with crmperm.create_token(), and revoke this one.",
					 resource, crm_action_name(action))));
}

void
crm_deny_token_relation(const char *token, Oid relid)
{
	crm_audit_event(CRM_AUDIT_DENIAL, get_rel_name(relid), "access", -1);
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("permission denied: token \"%s\" may not access relation \"%s\"",
					token, get_rel_name(relid)),
			 errdetail("A token reaches only tables managed by crmperm, views over them and the system catalogs.")));
}

void
crm_deny_token_role(const char *token, Oid principal, Oid roleid, const char *resource)
{
	crm_audit_event(CRM_AUDIT_DENIAL, resource, "access as another role", -1);
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("permission denied: token \"%s\" acts as role \"%s\", not \"%s\"",
					token, GetUserNameFromId(principal, false),
					GetUserNameFromId(roleid, false)),
			 errdetail("Resource \"%s\" would be accessed as role \"%s\" (the owner of a view or of a SECURITY DEFINER function).",
					   resource, GetUserNameFromId(roleid, false)),
			 errhint("Under a token, read through security_invoker views and functions that are not SECURITY DEFINER.")));
}

void
crm_deny_token_statement(const char *token, const char *command)
{
	crm_audit_event(CRM_AUDIT_DENIAL, NULL, command, -1);
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("permission denied: token \"%s\" may not run %s", token, command),
			 errdetail("Under a token only queries, COPY, cursors, prepared statements, SET and transaction control run.")));
}

void
crm_deny_token_system(const char *token, const char *permission, const char *needed_for)
{
	crm_audit_event(CRM_AUDIT_DENIAL, NULL, permission, -1);
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("permission denied: token \"%s\" lacks \"%s\"", token, permission),
			 errdetail("%s needs the system permission %s; tokens carry no system permissions.",
					   needed_for, permission),
			 errhint("Run it as a role that holds %s, without a token.", permission)));
}

/*
 * A tenant administrator reaching beyond its tenant (tenant_admin.c): what
 * it may not do ("administer role \"x\""), and why.  Never names another
 * tenant: a tenant administrator learns no other tenant's name from it.
 */
void
crm_deny_tenant_admin(Oid roleid, const char *tenant, const char *function,
					  const char *what, const char *detail, const char *hint)
{
	crm_audit_event(CRM_AUDIT_DENIAL, NULL, function, -1);
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("permission denied: role \"%s\" of tenant \"%s\" may not %s",
					GetUserNameFromId(roleid, false), tenant, what),
			 errdetail_internal("%s", detail),
			 hint ? errhint("%s", hint) : 0));
}
