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

#include "fmgr.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "nodes/primnodes.h"
#include "nodes/value.h"
#include "utils/acl.h"
#include "utils/lsyscache.h"
#include "utils/regproc.h"

#include "crmperm.h"

/*
 * A function that exists only for crmperm's own plans (the WITH CHECK
 * functions, the masks) refuses to act unless called from a call site
 * crmperm built: a user's direct call could forge a denial in the audit
 * trail, or hash guesses with the mask's key.  Nothing is audited here.
 */
void
crm_require_crmperm_call(FunctionCallInfo fcinfo)
{
	Node	   *call = fcinfo->flinfo ? fcinfo->flinfo->fn_expr : NULL;

	if (call != NULL && IsA(call, FuncExpr) &&
		((FuncExpr *) call)->funcformat == CRM_CALL_FORMAT)
		return;
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("permission denied: crmperm.%s() is applied by crmperm only",
					fcinfo->flinfo ? get_func_name(fcinfo->flinfo->fn_oid) : "?"),
			 errdetail("crmperm puts it into the plans of queries on managed tables; it cannot be called directly.")));
}

/*
 * A user's argument quoted in a message: at most 64 characters (cut on a
 * character boundary, "..." appended), so a 10 kB argument is not repeated
 * in full.
 */
#define CRM_QUOTED_ARG_CHARS 64

const char *
crm_quote_arg(const char *value)
{
	int			len = strlen(value);
	int			cut;

	if (pg_mbstrlen_with_len(value, len) <= CRM_QUOTED_ARG_CHARS)
		return value;
	cut = pg_mbcharcliplen(value, len, CRM_QUOTED_ARG_CHARS);
	return psprintf("%.*s...", cut, value);
}

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
			 crm_token_active() ?
			 errhint("Grant it with crmperm.grant(), or add it to the token's scopes.") :
			 errhint("Grant it with crmperm.grant().")));
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

/*
 * Among the scopes of a write, parent needs more than the parent row read:
 * say what (" Scope parent needs the parent row of clients in the role's
 * update scope of clients."), or "".
 */
static const char *
parent_note(const char *resource, const char *action, const char *scopes)
{
	const CrmRelation *rel = crm_relation_by_resource(resource);
	char	   *words = pstrdup(scopes);
	char	   *save = NULL;

	if (rel == NULL || rel->parent[0] == '\0' || strcmp(action, "read") == 0)
		return "";
	for (char *w = strtok_r(words, " ", &save); w; w = strtok_r(NULL, " ", &save))
		if (strcmp(w, "parent") == 0)
			return psprintf(" Scope parent needs the parent row readable and in the role's update scope of %s.",
							rel->parent);
	return "";
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
			 new_row ? errdetail("The new row is outside the role's scope for %s.%s: %s.%s",
								 resource, action, scopes, parent_note(resource, action, scopes)) :
			 errdetail("The row is outside the role's scope for %s.%s: %s.%s",
					   resource, action, scopes, parent_note(resource, action, scopes)),
			 errhint("Write rows inside that scope, or grant a wider one with crmperm.%s().",
					 field ? "grant_field" : "grant")));
}

/* require(action, key): the row is outside the action's scopes (or absent). */
void
crm_deny_row_action(Oid roleid, const char *resource, const char *action, const char *scopes)
{
	crm_audit_event(CRM_AUDIT_DENIAL, resource, action, -1);
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("permission denied: role \"%s\" lacks \"%s.%s\" for this row",
					GetUserNameFromId(roleid, false), resource, action),
			 errdetail("The row is outside the role's scope for %s.%s: %s.",
					   resource, action, scopes),
			 errhint("Grant a wider scope with crmperm.grant().")));
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
crm_deny_token_scope(const char *token, const char *scopes, const char *resource,
					 const char *action)
{
	crm_audit_event(CRM_AUDIT_DENIAL, resource, action, -1);
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("permission denied: token \"%s\" lacks \"%s.%s\"",
					token, resource, action),
			 errdetail("Token scopes: %s.", scopes),
			 errhint("A token's scopes are fixed: create a token whose scopes include \"%s.%s\" with crmperm.create_token(), and revoke this one.",
					 resource, action)));
}

/*
 * An action beyond CRUD (orders.refund, customers.export, console.access)
 * the role does not hold; needed_for says what needed it (a routine, COPY),
 * NULL for require().
 */
void
crm_deny_named_action(Oid roleid, const char *resource, const char *action,
					  const char *needed_for)
{
	const char *granted = crm_held_list(roleid, resource);

	crm_audit_event(CRM_AUDIT_DENIAL, resource, action, -1);
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("permission denied: role \"%s\" lacks \"%s.%s\"",
					GetUserNameFromId(roleid, false), resource, action),
			 needed_for ?
			 errdetail("%s needs %s.%s%s. Granted on %s: %s.", needed_for, resource, action,
					   strcmp(action, "export") == 0 ? " (or the system permission export)" : "",
					   resource, granted) :
			 errdetail("Granted on %s: %s.", resource, granted),
			 errhint("Grant it with crmperm.grant().")));
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
 * Code attached to a managed table (what: "create triggers on it", ...) by
 * a role other than its owner.
 */
void
crm_deny_attach(Oid roleid, const CrmRelation *rel, Oid relid, const char *what)
{
	const char *table = get_rel_name(rel->toprelid);

	crm_audit_event(CRM_AUDIT_DENIAL, rel->resource, "attach", -1);
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("permission denied: only the owner of managed table \"%s\" may %s",
					table, what),
			 relid != rel->toprelid ?
			 errdetail("\"%s\" is a partition or child of \"%s\". Code attached to a managed table runs on every principal's rows, and a foreign key to it reveals its keys: only its owner \"%s\" (by identity, not membership), a superuser or a super admin may attach it.",
					   get_rel_name(relid), table, GetUserNameFromId(rel->relowner, false)) :
			 errdetail("Code attached to a managed table runs on every principal's rows, and a foreign key to it reveals its keys: only its owner \"%s\" (by identity, not membership), a superuser or a super admin may attach it.",
					   GetUserNameFromId(rel->relowner, false)),
			 errhint("Role \"%s\" is %s.", GetUserNameFromId(roleid, false),
					 has_privs_of_role(roleid, rel->relowner) ?
					 "a member of the owner: run it after SET ROLE to the owner" :
					 "not the owner")));
}

/* Code attached to a managed table calling a function its owner does not own. */
void
crm_deny_attach_function(Oid roleid, const CrmRelation *rel, Oid funcid, Oid funcowner)
{
	crm_audit_event(CRM_AUDIT_DENIAL, rel->resource, "attach", -1);
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("permission denied: function %s is owned by role \"%s\", not by the owner of managed table \"%s\"",
					format_procedure_qualified(funcid), GetUserNameFromId(funcowner, false),
					get_rel_name(rel->toprelid)),
			 errdetail("Its owner could replace its code, which would then run on every principal's rows."),
			 errhint("Use a function owned by \"%s\" or a superuser.",
					 GetUserNameFromId(rel->relowner, false))));
}

/*
 * DDL that writes a sensitive table's rows (field NULL) or a read-only
 * field's values.
 */
void
crm_deny_ddl(Oid roleid, const char *resource, const char *field, const char *command)
{
	const char *rolename = GetUserNameFromId(roleid, false);

	crm_audit_event(CRM_AUDIT_DENIAL, resource,
					field ? psprintf("%s.update", field) : "update", -1);
	if (field)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied: role \"%s\" may not run %s on read-only field \"%s.%s\"",
						rolename, command, resource, field),
				 errdetail("It changes the field's stored values: only super admins may set or change a read-only field."),
				 errhint("Unprotect the field with crmperm.unprotect_field() first, or have a super admin run it.")));
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("permission denied: role \"%s\" may not run %s on sensitive resource \"%s\"",
					rolename, command, resource),
			 errdetail("It writes, removes or brings in rows: only super admins may create, update or delete the rows of a sensitive resource."),
			 errhint("Have a super admin or a superuser run it.")));
}

/* A partition or child of a managed table given to a role that is not its owner. */
void
crm_deny_child_owner(Oid roleid, const CrmRelation *rel, Oid newowner)
{
	crm_audit_event(CRM_AUDIT_DENIAL, rel->resource, "attach", -1);
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("permission denied: a partition or child of managed table \"%s\" must be owned by its owner \"%s\"",
					get_rel_name(rel->toprelid), GetUserNameFromId(rel->relowner, false)),
			 errdetail("Role \"%s\" would own rows of the table and could take them out of it.",
					   GetUserNameFromId(newowner, false))));
}

/* ALTER TYPE ... RENAME VALUE of an enum stored in a sensitive table or read-only field. */
void
crm_deny_enum_rename(Oid roleid, const char *type, const char *use)
{
	crm_audit_event(CRM_AUDIT_DENIAL, NULL, "update", -1);
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("permission denied: role \"%s\" may not rename a value of type %s",
					GetUserNameFromId(roleid, false), type),
			 errdetail("Renaming a value changes every stored value, and %s stores it: only super admins may write there.",
					   use)));
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

/*
 * A protected routine that names its row by an argument, called where
 * crmperm could not check that row (not a direct call).
 */
void
crm_deny_unchecked_key(Oid funcid, const char *resource, const char *action, int key_argument)
{
	crm_audit_event(CRM_AUDIT_DENIAL, resource, action, -1);
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("permission denied: routine %s was called where crmperm cannot check its row",
					format_procedure(funcid)),
			 errdetail("Its argument %d names a row of %s, checked for %s.%s in a direct call only (a query, CALL, a PL/pgSQL statement), not through an operator, a function inlined into another, a constraint or a fast-path call.",
					   key_argument, resource, resource, action),
			 errhint("Call the routine directly.")));
}
