/*-------------------------------------------------------------------------
 * admin.c
 *		SQL-callable functions: the admin dispatcher, catalog invalidation,
 *		and the introspection functions answered from the decision cache.
 *
 * Every public admin function (crmperm.grant, crmperm.manage_table, ...) is
 * this one C entry point.  It is not SECURITY DEFINER, so it sees the real
 * caller: it checks that the caller may call the function, records the
 * caller, and runs the implementation crmperm._<name> (PL/pgSQL, SECURITY
 * DEFINER, not executable by PUBLIC) with the same arguments, through fmgr
 * (no EXECUTE check: the check made here is the one that counts).
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/namespace.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "fmgr.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "parser/parse_func.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"

#include "crmperm.h"

PG_FUNCTION_INFO_V1(crmperm_admin_dispatch);
PG_FUNCTION_INFO_V1(crmperm_caller);
PG_FUNCTION_INFO_V1(crmperm_invalidate);
PG_FUNCTION_INFO_V1(crmperm_check);
PG_FUNCTION_INFO_V1(crmperm_user_id);
PG_FUNCTION_INFO_V1(crmperm_team_ids);
PG_FUNCTION_INFO_V1(crmperm_department_ids);
PG_FUNCTION_INFO_V1(crmperm_tenant_id);
PG_FUNCTION_INFO_V1(crmperm_may_manage_tokens);
PG_FUNCTION_INFO_V1(crmperm_may_view_audit);

/* Who may call what. */
typedef enum CrmAdminRight
{
	RIGHT_SUPERUSER,			/* superusers only */
	RIGHT_SYSTEM,				/* a system permission */
	RIGHT_SELF_OR_SYSTEM,		/* about oneself, or a system permission */
	RIGHT_ANYONE
} CrmAdminRight;

typedef struct CrmAdminFunction
{
	const char *name;
	CrmAdminRight right;
	int			permission;		/* for RIGHT_SYSTEM and RIGHT_SELF_OR_SYSTEM */
	bool		dropped_roles;	/* a regrole argument may name a dropped role */
} CrmAdminFunction;

static const CrmAdminFunction admin_functions[] = {
	{"set_super_admin", RIGHT_SUPERUSER, 0, false},
	{"explain_access", RIGHT_SELF_OR_SYSTEM, CRM_SYS_MANAGE_PERMISSIONS, false},
	{"whoami", RIGHT_ANYONE, 0, false},
	{"create_token", RIGHT_SYSTEM, CRM_SYS_MANAGE_TOKENS, false},
	{"revoke_token", RIGHT_SYSTEM, CRM_SYS_MANAGE_TOKENS, false},
	{"verify_audit", RIGHT_SYSTEM, CRM_SYS_VIEW_AUDIT, false},
	{"purge_audit", RIGHT_SUPERUSER, 0, false},
	{"sync_node", RIGHT_SUPERUSER, 0, false},
	/* what lint() proposes for assignments a dropped role left behind */
	{"unassign_role", RIGHT_SYSTEM, CRM_SYS_MANAGE_PERMISSIONS, true},
	{"unassign_permission_set", RIGHT_SYSTEM, CRM_SYS_MANAGE_PERMISSIONS, true},
	/* a row's owner (with share) or an administrator: decided per row */
	{"share", RIGHT_ANYONE, 0, false},
	{"share_with_role", RIGHT_ANYONE, 0, false},
	{"share_with_team", RIGHT_ANYONE, 0, false},
	{"unshare", RIGHT_ANYONE, 0, false},
	{"unshare_with_role", RIGHT_ANYONE, 0, false},
	{"unshare_with_team", RIGHT_ANYONE, 0, false},
	{"assign_record", RIGHT_ANYONE, 0, false},
	{"assign_record_to_team", RIGHT_ANYONE, 0, false},
	{"unassign_record", RIGHT_ANYONE, 0, false},
	{"unassign_record_from_team", RIGHT_ANYONE, 0, false},
	{"list_shares", RIGHT_ANYONE, 0, false},
	{"list_record_teams", RIGHT_ANYONE, 0, false},
};

/*
 * Admin functions that change nothing in crmperm's catalog (the audit trail
 * is each node's own): they run on a Citus worker too.
 */
static const char *const read_only_functions[] = {
	"whoami", "explain_access", "lint", "list_shares", "list_record_teams",
	"verify_audit", "purge_audit"
};

/* Cached in fn_extra: the implementation, who may call it, its arguments. */
typedef struct DispatchInfo
{
	FmgrInfo	impl;
	char		name[NAMEDATALEN];
	CrmAdminRight right;
	int			permission;
	bool		dropped_roles;
	bool		writes;			/* changes the catalog: volatile, not read_only_functions */
	int			nargs;
	Oid		   *argtypes;
	char	  **argnames;
} DispatchInfo;

static Oid	admin_caller = InvalidOid;
static List *admin_search_path = NIL;	/* the caller's, while an admin call runs */

static const char *
system_permission_name(int bit)
{
	switch (bit)
	{
		case CRM_SYS_MANAGE_PERMISSIONS:
			return "manage_permissions";
		case CRM_SYS_MANAGE_TOKENS:
			return "manage_tokens";
		case CRM_SYS_VIEW_AUDIT:
			return "view_audit";
		case CRM_SYS_EXPORT:
			return "export";
		case CRM_SYS_BULK:
			return "bulk";
		case CRM_SYS_SHARE:
			return "share";
	}
	elog(ERROR, "unexpected crmperm system permission bit %d", bit);
	return NULL;
}

/* The bit of a system permission by name (0: not one). */
int
crm_system_permission_bit(const char *name)
{
	static const int bits[] = {CRM_SYS_EXPORT, CRM_SYS_BULK, CRM_SYS_MANAGE_PERMISSIONS,
	CRM_SYS_MANAGE_TOKENS, CRM_SYS_VIEW_AUDIT, CRM_SYS_SHARE};

	for (int i = 0; i < lengthof(bits); i++)
		if (strcmp(name, system_permission_name(bits[i])) == 0)
			return bits[i];
	return 0;
}

static DispatchInfo *
dispatch_info(FunctionCallInfo fcinfo)
{
	DispatchInfo *info = fcinfo->flinfo->fn_extra;
	HeapTuple	tup;
	Form_pg_proc proc;
	char		implname[NAMEDATALEN];
	Oid			imploid;

	if (info)
		return info;

	tup = SearchSysCache1(PROCOID, ObjectIdGetDatum(fcinfo->flinfo->fn_oid));
	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for function %u", fcinfo->flinfo->fn_oid);
	proc = (Form_pg_proc) GETSTRUCT(tup);

	info = MemoryContextAllocZero(fcinfo->flinfo->fn_mcxt, sizeof(DispatchInfo));
	strlcpy(info->name, NameStr(proc->proname), NAMEDATALEN);
	info->writes = proc->provolatile == PROVOLATILE_VOLATILE;
	for (int i = 0; i < lengthof(read_only_functions); i++)
		if (strcmp(read_only_functions[i], info->name) == 0)
			info->writes = false;
	info->right = RIGHT_SYSTEM;
	info->permission = CRM_SYS_MANAGE_PERMISSIONS;
	for (int i = 0; i < lengthof(admin_functions); i++)
		if (strcmp(admin_functions[i].name, info->name) == 0)
		{
			info->right = admin_functions[i].right;
			info->permission = admin_functions[i].permission;
			info->dropped_roles = admin_functions[i].dropped_roles;
		}
	{
		MemoryContext old = MemoryContextSwitchTo(fcinfo->flinfo->fn_mcxt);
		Oid		   *types;
		char	  **names;
		char	   *modes;

		info->nargs = get_func_arg_info(tup, &types, &names, &modes);
		info->argtypes = types;
		info->argnames = names;
		MemoryContextSwitchTo(old);
	}

	snprintf(implname, sizeof(implname), "_%s", info->name);
	imploid = LookupFuncName(list_make2(makeString(get_namespace_name(proc->pronamespace)),
										makeString(implname)),
							 proc->pronargs, proc->proargtypes.values, false);
	ReleaseSysCache(tup);

	fmgr_info_cxt(imploid, &info->impl, fcinfo->flinfo->fn_mcxt);
	fcinfo->flinfo->fn_extra = info;
	return info;
}

/* Tokens carry no system permissions, whoever the current role is. */
bool
crm_has_system_permission(Oid roleid, int permission)
{
	const CrmPrincipal *p;

	if (crm_token_active())
		return false;
	if (superuser_arg(roleid))
		return true;
	/* the permission comes from grants even where no table is managed yet */
	crm_extension_active();
	p = crm_principal(roleid);
	return p != NULL && (p->system & permission) != 0;
}

static void
check_right(DispatchInfo *info, FunctionCallInfo fcinfo, Oid caller)
{
	if (crm_token_active() && info->right != RIGHT_ANYONE &&
		!(info->right == RIGHT_SELF_OR_SYSTEM && !PG_ARGISNULL(0) && PG_GETARG_OID(0) == caller))
		crm_deny_token_system(crm_token_name(),
							  info->right == RIGHT_SUPERUSER ? "superuser" :
							  system_permission_name(info->permission),
							  psprintf("crmperm.%s()", info->name));
	switch (info->right)
	{
		case RIGHT_ANYONE:
			return;
		case RIGHT_SUPERUSER:
			if (superuser_arg(caller))
				return;
			crm_audit_event(CRM_AUDIT_DENIAL, NULL, psprintf("crmperm.%s()", info->name), -1);
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("permission denied: only a superuser may call crmperm.%s()", info->name)));
			break;
		case RIGHT_SELF_OR_SYSTEM:
			if (!PG_ARGISNULL(0) && PG_GETARG_OID(0) == caller)
				return;
			/* FALLTHROUGH */
		case RIGHT_SYSTEM:
			if (crm_has_system_permission(caller, info->permission))
				return;
			crm_audit_event(CRM_AUDIT_DENIAL, NULL, system_permission_name(info->permission), -1);
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("permission denied: role \"%s\" lacks \"%s\"",
							GetUserNameFromId(caller, false),
							system_permission_name(info->permission)),
					 errdetail("crmperm.%s() needs the system permission %s.", info->name,
							   system_permission_name(info->permission)),
					 errhint("Ask a superuser or a holder of %s to grant it with crmperm.grant_system().",
							 system_permission_name(info->permission))));
	}
}

/* The name of an admin function's argument, for messages. */
static const char *
arg_name(DispatchInfo *info, int i)
{
	return info->argnames && info->argnames[i][0] ? info->argnames[i] : psprintf("argument %d", i + 1);
}

/*
 * Checks every admin function's arguments get, before its implementation
 * runs: arrays are one-dimensional, and a role exists (a role created later
 * with the OID would inherit what was stored for it).  unassign_* accept a
 * dropped role's OID: that is how its leftovers are removed.
 */
static void
check_arguments(DispatchInfo *info, FunctionCallInfo fcinfo)
{
	for (int i = 0; i < info->nargs && i < PG_NARGS(); i++)
	{
		/* a key, NULL too: no type whose casts the caller could have written */
		if (info->argtypes[i] == ANYELEMENTOID)
			crm_check_key_type(get_fn_expr_argtype(fcinfo->flinfo, i));
		if (PG_ARGISNULL(i))
			continue;
		if (type_is_array(info->argtypes[i]) &&
			ARR_NDIM(PG_GETARG_ARRAYTYPE_P(i)) > 1)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("%s must be a one-dimensional array", arg_name(info, i))));
		if (info->argtypes[i] == REGROLEOID && !info->dropped_roles &&
			!SearchSysCacheExists1(AUTHOID, PG_GETARG_DATUM(i)))
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("role with OID %u does not exist", PG_GETARG_OID(i))));
		if (info->argtypes[i] == REGCLASSOID &&
			!SearchSysCacheExists1(RELOID, PG_GETARG_DATUM(i)))
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_TABLE),
					 errmsg("relation with OID %u does not exist", PG_GETARG_OID(i))));
	}
}

/* Replace every occurrence of from in *str by to. */
static void
replace_all(char **str, const char *from, const char *to)
{
	StringInfoData buf;
	const char *p = *str;
	const char *hit;
	int			len = strlen(from);

	if (*str == NULL || strstr(*str, from) == NULL)
		return;
	initStringInfo(&buf);
	while ((hit = strstr(p, from)) != NULL)
	{
		appendBinaryStringInfo(&buf, p, hit - p);
		appendStringInfoString(&buf, to);
		p = hit + len;
	}
	appendStringInfoString(&buf, p);
	*str = buf.data;
}

/* A long text argument (or array element) quoted in full: shorten it. */
static void
shorten_value(ErrorData *edata, const char *value)
{
	const char *quoted = crm_quote_arg(value);

	if (quoted == value)
		return;
	replace_all(&edata->message, value, quoted);
	replace_all(&edata->detail, value, quoted);
	replace_all(&edata->hint, value, quoted);
}

static void
shorten_arguments(DispatchInfo *info, FunctionCallInfo fcinfo, ErrorData *edata)
{
	for (int i = 0; i < info->nargs && i < PG_NARGS(); i++)
	{
		if (PG_ARGISNULL(i))
			continue;
		if (info->argtypes[i] == TEXTOID)
			shorten_value(edata, TextDatumGetCString(PG_GETARG_DATUM(i)));
		else if (info->argtypes[i] == NAMEOID)
			shorten_value(edata, NameStr(*PG_GETARG_NAME(i)));
		else if (info->argtypes[i] == TEXTARRAYOID)
		{
			Datum	   *elems;
			bool	   *nulls;
			int			n;

			deconstruct_array(PG_GETARG_ARRAYTYPE_P(i), TEXTOID, -1, false, TYPALIGN_INT,
							  &elems, &nulls, &n);
			for (int j = 0; j < n; j++)
				if (!nulls[j])
					shorten_value(edata, TextDatumGetCString(elems[j]));
		}
	}
}

Datum
crmperm_admin_dispatch(PG_FUNCTION_ARGS)
{
	DispatchInfo *info = dispatch_info(fcinfo);
	Oid			caller = GetUserId();
	Oid			save_caller = admin_caller;
	FmgrInfo   *save_flinfo = fcinfo->flinfo;
	MemoryContext cxt = CurrentMemoryContext;
	Datum		result = (Datum) 0;

	check_right(info, fcinfo, caller);
	if (info->writes)
		crm_citus_refuse_worker(info->name);
	check_arguments(info, fcinfo);
	if (info->right != RIGHT_ANYONE)
		crm_tenant_admin_check(info->name, fcinfo, caller);

	admin_caller = caller;
	admin_search_path = fetch_search_path(true);
	PG_TRY();
	{
		/*
		 * Same arguments, same result set machinery: only the function
		 * differs (its call expression too, for polymorphic arguments).
		 */
		info->impl.fn_expr = save_flinfo->fn_expr;
		fcinfo->flinfo = &info->impl;
		result = FunctionCallInvoke(fcinfo);
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		fcinfo->flinfo = save_flinfo;
		admin_caller = save_caller;
		admin_search_path = NIL;

		/*
		 * Raised again as if by this function: without the context of
		 * crmperm's implementation (PL/pgSQL lines, internal queries), with
		 * the caller's own context added again by ThrowErrorData, and with
		 * long arguments shortened.
		 */
		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		FlushErrorState();
		edata->context = NULL;
		edata->internalquery = NULL;
		edata->internalpos = 0;
		shorten_arguments(info, fcinfo, edata);
		ThrowErrorData(edata);
	}
	PG_END_TRY();
	fcinfo->flinfo = save_flinfo;
	admin_caller = save_caller;
	admin_search_path = NIL;
	return result;
}

/*
 * The search_path of the role that called the admin function being run
 * (implementations run with their own), pg_catalog included, for names it
 * gave unqualified.
 */
List *
crm_caller_search_path(void)
{
	return admin_search_path != NIL ? admin_search_path : fetch_search_path(true);
}

/* The role that called the admin function being run (or the current role). */
Oid
crm_admin_caller(void)
{
	return OidIsValid(admin_caller) ? admin_caller : GetUserId();
}

Datum
crmperm_caller(PG_FUNCTION_ARGS)
{
	PG_RETURN_OID(crm_admin_caller());
}

/*
 * A routine that becomes protected (or stops being) may have been inlined
 * into cached plans, or be called from plans that touch no managed table:
 * invalidating its pg_proc row makes every plan that depends on it again.
 */
static void
invalidate_routine(Oid funcid)
{
	Relation	rel;
	HeapTuple	tup = SearchSysCacheCopy1(PROCOID, ObjectIdGetDatum(funcid));

	if (!HeapTupleIsValid(tup))
		return;
	rel = table_open(ProcedureRelationId, AccessShareLock);
	CacheInvalidateHeapTuple(rel, tup, NULL);
	table_close(rel, AccessShareLock);
}

/*
 * Trigger on crmperm's catalog tables: invalidate the relcache of every
 * managed table (cached plans hold policies built from the catalog), of the
 * catalog table itself (every backend's decision cache watches it), and, for
 * a row of crmperm.resources, of the table the row names (of
 * crmperm.routines: the routine).  Transactional:
 * this backend sees it at the next command, others at commit, hot standbys
 * on replay; a rollback undoes it.
 */
Datum
crmperm_invalidate(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	ListCell   *lc;
	List	   *relids;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("crmperm._invalidate() must be called as a trigger")));

	CacheInvalidateRelcache(trigdata->tg_relation);
	if (TRIGGER_FIRED_FOR_ROW(trigdata->tg_event))
	{
		TupleDesc	desc = RelationGetDescr(trigdata->tg_relation);
		int			attno = 0;
		HeapTuple	tuples[2] = {trigdata->tg_trigtuple, trigdata->tg_newtuple};

		bool		routine = false;

		for (int i = 0; i < desc->natts; i++)
			if (namestrcmp(&TupleDescAttr(desc, i)->attname, "tbl") == 0 ||
				namestrcmp(&TupleDescAttr(desc, i)->attname, "routine") == 0)
			{
				attno = i + 1;
				routine = namestrcmp(&TupleDescAttr(desc, i)->attname, "routine") == 0;
			}

		for (int i = 0; i < 2; i++)
		{
			bool		isnull;
			Datum		oid;

			if (tuples[i] == NULL || attno <= 0)
				continue;
			oid = heap_getattr(tuples[i], attno, desc, &isnull);
			if (isnull)
				continue;
			if (routine)
				invalidate_routine(DatumGetObjectId(oid));
			else if (SearchSysCacheExists1(RELOID, oid))
				CacheInvalidateRelcacheByRelid(DatumGetObjectId(oid));
		}
		return PointerGetDatum(NULL);
	}

	crm_extension_active();
	relids = crm_managed_relids();
	foreach(lc, relids)
		if (SearchSysCacheExists1(RELOID, ObjectIdGetDatum(lfirst_oid(lc))))
			CacheInvalidateRelcacheByRelid(lfirst_oid(lc));
	return PointerGetDatum(NULL);
}

/* A name from the list, as its bit; 0 if it is not there. */
static int
named_bit(const char *name, const int *bits, int n)
{
	for (int i = 0; i < n; i++)
		if (strcmp(name, crm_action_name(bits[i])) == 0)
			return bits[i];
	return 0;
}

/*
 * crmperm.check('leads.update'): may the current role do this now?  Any
 * action ('orders.refund', 'console.access': actions.c), a field privilege
 * ('leads.source.create', as denials name it) and a bare system permission
 * ('export').  For apps building UIs: it answers from
 * the same decisions the executor enforces.  A scoped privilege answers true:
 * the rows it covers are checked in the query.  A field that is not
 * protected answers as its table's action.
 */
Datum
crmperm_check(PG_FUNCTION_ARGS)
{
	char	   *scope;
	char	   *dot;
	char	   *field = NULL;
	char	   *what;
	Oid			roleid = GetUserId();
	const CrmRelation *rel;
	CrmDecision d;
	int			action;
	int			system;
	ListCell   *lc;
	static const int actions[] = {CRM_READ, CRM_CREATE, CRM_UPDATE};

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("scope must not be null")));
	scope = text_to_cstring(PG_GETARG_TEXT_PP(0));
	crm_extension_active();

	dot = strchr(scope, '.');
	if (dot == NULL && (system = crm_system_permission_bit(scope)) != 0)
		PG_RETURN_BOOL(crm_has_system_permission(roleid, system));
	if (dot == NULL || dot == scope || dot[1] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid scope \"%s\"", crm_quote_arg(scope)),
				 errhint("A scope is resource.action, such as leads.update, resource.field.privilege, such as leads.source.create, or a system permission.")));
	*dot = '\0';
	what = dot + 1;
	if ((dot = strchr(what, '.')) != NULL)
	{
		*dot = '\0';
		field = what;
		what = dot + 1;
	}
	if (field == NULL)
		PG_RETURN_BOOL(crm_check_action(roleid, scope, what, false));
	rel = crm_relation_by_resource(scope);
	if (rel == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("resource \"%s\" does not exist", crm_quote_arg(scope))));
	action = named_bit(what, actions, 3);
	if (action == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown field privilege \"%s\"", crm_quote_arg(what)),
				 errhint("Field privileges are read, create and update.")));
	if (!crm_decide(roleid, rel->relid, &d))
		PG_RETURN_BOOL(false);
	if (!crm_action_allowed(&d, action) ||
		(crm_token_active() && !crm_token_allows(d.resource, action)))
		PG_RETURN_BOOL(false);
	foreach(lc, d.fields)
	{
		CrmFieldAccess *fa = lfirst(lc);

		if (strcmp(fa->field->name, field) == 0)
			PG_RETURN_BOOL(crm_field_allowed(&d, fa, action));
	}
	if (get_attnum(rel->relid, field) <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("field \"%s.%s\" does not exist", scope, crm_quote_arg(field))));
	PG_RETURN_BOOL(true);
}

/* The current principal's attributes, for scope predicates and apps. */
static const CrmPrincipal *
current_principal(void)
{
	crm_extension_active();
	return crm_principal(GetUserId());
}

static Datum
text_list_datum(List *values)
{
	Datum	   *elems = palloc(sizeof(Datum) * Max(list_length(values), 1));
	int			n = 0;
	ListCell   *lc;

	foreach(lc, values)
		elems[n++] = CStringGetTextDatum((char *) lfirst(lc));
	return PointerGetDatum(construct_array(elems, n, TEXTOID, -1, false, TYPALIGN_INT));
}

Datum
crmperm_user_id(PG_FUNCTION_ARGS)
{
	const CrmPrincipal *p = current_principal();

	if (p == NULL || p->user_id == NULL)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text(p->user_id));
}

Datum
crmperm_tenant_id(PG_FUNCTION_ARGS)
{
	const CrmPrincipal *p = current_principal();

	if (p == NULL || p->tenant_id == NULL)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text(p->tenant_id));
}

Datum
crmperm_team_ids(PG_FUNCTION_ARGS)
{
	const CrmPrincipal *p = current_principal();

	if (p == NULL)
		PG_RETURN_NULL();
	return text_list_datum(p->team_ids);
}

Datum
crmperm_department_ids(PG_FUNCTION_ARGS)
{
	const CrmPrincipal *p = current_principal();

	if (p == NULL)
		PG_RETURN_NULL();
	return text_list_datum(p->department_ids);
}

/*
 * crmperm._may_manage_tokens() and _may_view_audit(): may the current role
 * see the tokens view, or the audit trail (a superuser, or a holder of the
 * permission, not under a token)?
 */
Datum
crmperm_may_manage_tokens(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(crm_has_system_permission(GetUserId(), CRM_SYS_MANAGE_TOKENS));
}

Datum
crmperm_may_view_audit(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(crm_has_system_permission(GetUserId(), CRM_SYS_VIEW_AUDIT));
}
