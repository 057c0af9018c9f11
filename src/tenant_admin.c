/*-------------------------------------------------------------------------
 * tenant_admin.c
 *		Tenant administrators: the tenant boundary binds those who administer
 *		crmperm too.
 *
 * A tenant administrator is a governed caller of an admin function (not a
 * superuser, not a super admin) whose principal row has a tenant id; a
 * governed caller without one is a global administrator.  The dispatcher
 * (admin.c) calls crm_tenant_admin_check() for every admin call once the
 * caller's right to the function is established, before the implementation
 * runs.  It is the one place where tenant administration is decided:
 *
 *	- functions that configure what every tenant sees (tables, fields, custom
 *	  scopes, the audit trail, lint, and any admin function not listed in
 *	  tenant_rules below) are for global administrators only;
 *	- a tenant administrator changes only permission sets and roles of its
 *	  tenant (those it creates are its tenant's: crmperm._stamp_tenant()),
 *	  uses (assigns, puts into its roles, inherits from) those and global
 *	  ones, never another tenant's, and hands out no system permission it
 *	  does not hold itself;
 *	- it grants only on resources with a tenant column (a table without one
 *	  is shared by every tenant);
 *	- it reaches (assigns to, sets the attributes of, mints or revokes tokens
 *	  for, explains) only principals of its tenant, and keeps them there.
 *
 * Whoever calls (global administrators and superusers included), a tenant's
 * permission set or role is held only by principals of that tenant and put
 * only into roles of that tenant, and a principal is not moved to another
 * tenant while it holds one.  Behind all this, the decision cache counts a
 * tenant's sets and roles only for principals of that tenant
 * (crmperm._effective_sets()): fail closed whatever the catalog holds.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "parser/parse_func.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"

#include "crmperm.h"

PG_FUNCTION_INFO_V1(crmperm_admin_tenant);
PG_FUNCTION_INFO_V1(crmperm_may_view_audit_of);

/* What an argument of an admin function names. */
typedef enum TenantArgKind
{
	TARG_NONE = 0,
	TARG_SET,					/* a permission set */
	TARG_ROLE,					/* a CRM role */
	TARG_PRINCIPAL,				/* a principal (regrole) */
	TARG_TOKEN,					/* a token, by name */
	TARG_RESOURCE				/* a resource granted on */
} TenantArgKind;

/* What the call does with it. */
typedef enum TenantArgUse
{
	TUSE_CHANGE,				/* changes it: own tenant only */
	TUSE_USE,					/* hands it out: own tenant or global, and no
								 * system permission the caller lacks */
	TUSE_REFER,					/* names it: own tenant or global */
	TUSE_REACH					/* a principal or token of the own tenant */
} TenantArgUse;

typedef struct TenantArg
{
	TenantArgKind kind;
	int			argno;
	TenantArgUse use;
} TenantArg;

typedef struct TenantRule
{
	const char *name;
	TenantArg	args[2];
} TenantRule;

/*
 * The admin functions a tenant administrator may call, and what their
 * arguments name.  Any other admin function (but those anyone may call) is
 * for global administrators only.
 */
static const TenantRule tenant_rules[] = {
	{"create_permission_set", {{TARG_NONE}}},
	{"drop_permission_set", {{TARG_SET, 0, TUSE_CHANGE}}},
	{"grant", {{TARG_SET, 0, TUSE_CHANGE}, {TARG_RESOURCE, 1, TUSE_USE}}},
	{"revoke", {{TARG_SET, 0, TUSE_CHANGE}}},
	{"grant_field", {{TARG_SET, 0, TUSE_CHANGE}, {TARG_RESOURCE, 1, TUSE_USE}}},
	{"revoke_field", {{TARG_SET, 0, TUSE_CHANGE}}},
	{"grant_system", {{TARG_SET, 0, TUSE_CHANGE}}},
	{"revoke_system", {{TARG_SET, 0, TUSE_CHANGE}}},
	{"create_role", {{TARG_ROLE, 1, TUSE_USE}}},
	{"drop_role", {{TARG_ROLE, 0, TUSE_CHANGE}}},
	{"add_to_role", {{TARG_ROLE, 0, TUSE_CHANGE}, {TARG_SET, 1, TUSE_USE}}},
	{"remove_from_role", {{TARG_ROLE, 0, TUSE_CHANGE}, {TARG_SET, 1, TUSE_REFER}}},
	{"assign_role", {{TARG_PRINCIPAL, 0, TUSE_REACH}, {TARG_ROLE, 1, TUSE_USE}}},
	{"unassign_role", {{TARG_PRINCIPAL, 0, TUSE_REACH}, {TARG_ROLE, 1, TUSE_REFER}}},
	{"assign_permission_set", {{TARG_PRINCIPAL, 0, TUSE_REACH}, {TARG_SET, 1, TUSE_USE}}},
	{"unassign_permission_set", {{TARG_PRINCIPAL, 0, TUSE_REACH}, {TARG_SET, 1, TUSE_REFER}}},
	{"set_principal", {{TARG_PRINCIPAL, 0, TUSE_REACH}}},
	{"explain_access", {{TARG_PRINCIPAL, 0, TUSE_REACH}}},
	{"create_token", {{TARG_PRINCIPAL, 1, TUSE_REACH}}},
	{"revoke_token", {{TARG_TOKEN, 0, TUSE_REACH}}},
};

/* set_principal(principal, user_id, team_ids, department_ids, tenant_id) */
#define SET_PRINCIPAL_TENANT_ARG 4

/* What crmperm._tenant_facts() says about one object. */
typedef struct TenantFacts
{
	bool		found;
	char	   *tenant;			/* NULL: global, or a principal without one */
	List	   *system;			/* system permissions it carries (char *) */
	List	   *held;			/* a principal: tenants of what it holds */
	char	   *detail;			/* a principal: one of those, named */
} TenantFacts;

static const char *
kind_name(TenantArgKind kind)
{
	switch (kind)
	{
		case TARG_SET:
			return "permission set";
		case TARG_ROLE:
			return "role";
		case TARG_PRINCIPAL:
			return "principal";
		case TARG_TOKEN:
			return "token";
		case TARG_RESOURCE:
		case TARG_NONE:
			break;
	}
	elog(ERROR, "unexpected tenant argument kind %d", kind);
	return NULL;
}

static char *
role_name(Oid roleid)
{
	char	   *name = GetUserNameFromId(roleid, true);

	return name ? name : psprintf("%u", roleid);
}

/* Read crmperm._tenant_facts(kind, name), into the caller's memory. */
static TenantFacts
tenant_facts(TenantArgKind kind, const char *name)
{
	TenantFacts facts = {0};
	MemoryContext outer = CurrentMemoryContext;
	Oid			argtypes[2] = {TEXTOID, TEXTOID};
	Datum		values[2];

	values[0] = CStringGetTextDatum(kind_name(kind));
	values[1] = CStringGetTextDatum(name);
	SPI_connect();
	crm_spi_execute("SELECT found, tenant_id, system, held, detail"
					" FROM crmperm._tenant_facts($1, $2)",
					2, argtypes, values, SPI_OK_SELECT);
	if (SPI_processed > 0)
	{
		HeapTuple	tup = SPI_tuptable->vals[0];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		Datum		d;
		MemoryContext old = MemoryContextSwitchTo(outer);

		d = SPI_getbinval(tup, desc, 1, &isnull);
		facts.found = !isnull && DatumGetBool(d);
		d = SPI_getbinval(tup, desc, 2, &isnull);
		facts.tenant = isnull ? NULL : TextDatumGetCString(d);
		d = SPI_getbinval(tup, desc, 3, &isnull);
		facts.system = crm_text_array_list(d, isnull, outer);
		d = SPI_getbinval(tup, desc, 4, &isnull);
		facts.held = crm_text_array_list(d, isnull, outer);
		d = SPI_getbinval(tup, desc, 5, &isnull);
		facts.detail = isnull ? NULL : TextDatumGetCString(d);
		MemoryContextSwitchTo(old);
	}
	SPI_finish();
	return facts;
}

static bool
same_tenant(const char *a, const char *b)
{
	return a != NULL && b != NULL && strcmp(a, b) == 0;
}

/*
 * The tenant a role administers: its tenant id when crmperm governs it, NULL
 * for a role without one (a global administrator), a super admin or a
 * superuser.
 */
const char *
crm_admin_tenant(Oid roleid)
{
	const CrmPrincipal *p;

	if (superuser_arg(roleid))
		return NULL;
	crm_extension_active();
	p = crm_principal(roleid);
	if (p == NULL || p->super_admin || p->tenant_id == NULL)
		return NULL;
	return pstrdup(p->tenant_id);
}

/*
 * Does this database's crmperm have tenant administration (1.2 and later)?
 * Until ALTER EXTENSION crmperm UPDATE, sets and roles have no tenant: global
 * administrators go on as before, tenant administrators are refused.
 */
static bool
tenant_catalog_present(void)
{
	Oid			argtypes[2] = {TEXTOID, TEXTOID};

	return OidIsValid(LookupFuncName(list_make2(makeString("crmperm"),
												makeString("_tenant_facts")),
									 2, argtypes, true));
}

static const TenantRule *
tenant_rule(const char *function)
{
	for (int i = 0; i < lengthof(tenant_rules); i++)
		if (strcmp(tenant_rules[i].name, function) == 0)
			return &tenant_rules[i];
	return NULL;
}

/* A tenant administrator handing out a system permission it lacks. */
static void
check_held(Oid caller, const char *tenant, const char *function, const char *permission,
		   const char *carrier)
{
	const CrmPrincipal *p = crm_principal(caller);
	int			bit = crm_system_permission_bit(permission);

	if (p != NULL && bit != 0 && (p->system & bit) != 0)
		return;
	crm_deny_tenant_admin(caller, tenant, function,
						  psprintf("hand out \"%s\"", permission),
						  carrier ?
						  psprintf("Role \"%s\" does not hold %s itself, and %s carries it.",
								   role_name(caller), permission, carrier) :
						  psprintf("Role \"%s\" does not hold %s itself.",
								   role_name(caller), permission),
						  "A tenant administrator hands out only the system permissions it holds.");
}

/* The checks of one argument of a tenant administrator's call. */
static void
check_argument(Oid caller, const char *tenant, const char *function, const TenantArg *arg,
			   const char *name, const TenantFacts *facts)
{
	const char *kind = kind_name(arg->kind);
	ListCell   *lc;

	if (arg->kind == TARG_PRINCIPAL || arg->kind == TARG_TOKEN)
	{
		if (arg->kind == TARG_TOKEN && !facts->found)
			return;				/* the implementation says it does not exist */
		if (!same_tenant(facts->tenant, tenant))
			crm_deny_tenant_admin(caller, tenant, function,
								  psprintf("administer %s \"%s\"",
										   arg->kind == TARG_TOKEN ? "token" : "role", name),
								  arg->kind == TARG_TOKEN ?
								  psprintf("Token \"%s\" acts as a role that is not a principal of tenant \"%s\".",
										   name, tenant) :
								  psprintf("Role \"%s\" is not a principal of tenant \"%s\".",
										   name, tenant),
								  "A global administrator puts principals into a tenant with crmperm.set_principal().");
		return;
	}

	if (!facts->found)
		return;					/* the implementation says it does not exist */
	if (facts->tenant != NULL && !same_tenant(facts->tenant, tenant))
		crm_deny_tenant_admin(caller, tenant, function,
							  psprintf("administer %s \"%s\"", kind, name),
							  psprintf("The %s belongs to another tenant.", kind),
							  NULL);
	if (facts->tenant == NULL && arg->use == TUSE_CHANGE)
		crm_deny_tenant_admin(caller, tenant, function,
							  psprintf("change global %s \"%s\"", kind, name),
							  "Tenant administrators use global permission sets and roles; only global administrators change them.",
							  "Create one for the tenant with crmperm.create_permission_set() or crmperm.create_role().");
	if (arg->use == TUSE_USE)
		foreach(lc, facts->system)
			check_held(caller, tenant, function, (const char *) lfirst(lc),
					   psprintf("%s \"%s\"", kind, name));
}

/*
 * Whoever calls: a tenant's permission set or role goes only to principals
 * and roles of that tenant, and a principal holding one stays in it.
 */
static void
check_consistency(const char *function, FunctionCallInfo fcinfo, const char *caller_tenant,
				  TenantFacts *facts)
{
	/* a NULL where a name is needed is the implementation's to refuse */
	if (PG_ARGISNULL(0))
		return;

	if (strcmp(function, "create_role") == 0 && facts[0].found && facts[0].tenant &&
		!same_tenant(facts[0].tenant, caller_tenant))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("role \"%s\" cannot inherit from role \"%s\" of tenant \"%s\"",
						text_to_cstring(PG_GETARG_TEXT_PP(0)),
						text_to_cstring(PG_GETARG_TEXT_PP(1)), facts[0].tenant),
				 errdetail("A role made by a global administrator is global; a tenant's role is inherited only by roles of that tenant.")));

	if (strcmp(function, "add_to_role") == 0 && facts[0].found && facts[1].found &&
		facts[1].tenant && !same_tenant(facts[1].tenant, facts[0].tenant))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("permission set \"%s\" of tenant \"%s\" cannot be added to role \"%s\"",
						text_to_cstring(PG_GETARG_TEXT_PP(1)), facts[1].tenant,
						text_to_cstring(PG_GETARG_TEXT_PP(0))),
				 facts[0].tenant ?
				 errdetail("Role \"%s\" belongs to tenant \"%s\"; a tenant's permission sets go only into roles of that tenant.",
						   text_to_cstring(PG_GETARG_TEXT_PP(0)), facts[0].tenant) :
				 errdetail("Role \"%s\" is global; a tenant's permission sets go only into roles of that tenant.",
						   text_to_cstring(PG_GETARG_TEXT_PP(0)))));

	if ((strcmp(function, "assign_role") == 0 || strcmp(function, "assign_permission_set") == 0) &&
		facts[1].found && facts[1].tenant && !same_tenant(facts[1].tenant, facts[0].tenant))
	{
		char	   *principal = role_name(PG_GETARG_OID(0));

		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s \"%s\" of tenant \"%s\" cannot be assigned to role \"%s\"",
						strcmp(function, "assign_role") == 0 ? "role" : "permission set",
						text_to_cstring(PG_GETARG_TEXT_PP(1)), facts[1].tenant, principal),
				 facts[0].tenant ?
				 errdetail("Role \"%s\" is a principal of tenant \"%s\".", principal, facts[0].tenant) :
				 errdetail("Role \"%s\" has no tenant.", principal),
				 errhint("A tenant's permission sets and roles are held by principals of that tenant only: set its tenant with crmperm.set_principal() first.")));
	}

	if (strcmp(function, "set_principal") == 0)
	{
		char	   *tenant = PG_ARGISNULL(SET_PRINCIPAL_TENANT_ARG) ? NULL :
			text_to_cstring(PG_GETARG_TEXT_PP(SET_PRINCIPAL_TENANT_ARG));
		ListCell   *lc;

		foreach(lc, facts[0].held)
			if (!same_tenant((const char *) lfirst(lc), tenant))
				ereport(ERROR,
						(errcode(ERRCODE_OBJECT_IN_USE),
						 tenant ?
						 errmsg("cannot move role \"%s\" to tenant \"%s\"",
								role_name(PG_GETARG_OID(0)), tenant) :
						 errmsg("cannot take role \"%s\" out of its tenant",
								role_name(PG_GETARG_OID(0))),
						 errdetail("It holds %s.", facts[0].detail),
						 errhint("Unassign what it holds of its tenant first.")));
	}
}

/*
 * set_principal() by a tenant administrator: the user, team and department
 * ids it gives must not be those of a principal outside its tenant.  Owned,
 * team and department scopes compare them with the rows of every table,
 * tables without a tenant column (shared by every tenant) included: another
 * tenant's or a global principal's ids would admit that principal's rows.
 */
static void
check_shared_attributes(Oid caller, const char *tenant, const char *fn,
						FunctionCallInfo fcinfo)
{
	Oid			argtypes[5] = {TEXTOID, OIDOID, TEXTOID, TEXTARRAYOID, TEXTARRAYOID};
	Datum		values[5];
	char		nulls[5] = {' ', ' ', ' ', ' ', ' '};
	char	   *taken = NULL;
	MemoryContext outer = CurrentMemoryContext;

	values[0] = CStringGetTextDatum(tenant);
	values[1] = PG_GETARG_DATUM(0);
	for (int i = 1; i <= 3; i++)
	{
		values[i + 1] = PG_ARGISNULL(i) ? (Datum) 0 : PG_GETARG_DATUM(i);
		nulls[i + 1] = PG_ARGISNULL(i) ? 'n' : ' ';
	}
	SPI_connect();
	crm_spi_execute_nulls("SELECT crmperm._attribute_outside_tenant($1, $2, $3, $4, $5)",
						  5, argtypes, values, nulls, SPI_OK_SELECT);
	if (SPI_processed > 0)
	{
		bool		isnull;
		Datum		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);

		if (!isnull)
			taken = MemoryContextStrdup(outer, TextDatumGetCString(d));
	}
	SPI_finish();
	if (taken)
		crm_deny_tenant_admin(caller, tenant, fn,
							  psprintf("give role \"%s\" %s", role_name(PG_GETARG_OID(0)), taken),
							  psprintf("A principal outside tenant \"%s\" has it: owned, team and department scopes would admit that principal's rows of tables without a tenant column.",
									   tenant),
							  "Use ids of your own tenant.");
}

/*
 * The tenant checks of an admin call (the caller may call the function:
 * admin.c checked that).  Errors out, or returns with nothing changed.
 */
void
crm_tenant_admin_check(const char *function, FunctionCallInfo fcinfo, Oid caller)
{
	const char *tenant = crm_admin_tenant(caller);
	const TenantRule *rule = tenant_rule(function);
	TenantFacts facts[lengthof(rule->args)] = {{0}};
	char	   *fn = psprintf("crmperm.%s()", function);

	if (!tenant_catalog_present())
	{
		if (tenant != NULL)
			crm_deny_tenant_admin(caller, tenant, fn, psprintf("call %s", fn),
								  "Tenant administration needs crmperm 1.2 or later in this database.",
								  "Run ALTER EXTENSION crmperm UPDATE.");
		return;
	}

	if (rule == NULL)
	{
		if (tenant != NULL)
			crm_deny_tenant_admin(caller, tenant, fn, psprintf("call %s", fn),
								  psprintf("%s concerns every tenant: only global administrators, principals without a tenant, call it.", fn),
								  NULL);
		return;
	}

	for (int i = 0; i < lengthof(rule->args); i++)
	{
		const TenantArg *arg = &rule->args[i];
		char	   *name;

		if (arg->kind == TARG_NONE || PG_ARGISNULL(arg->argno))
			continue;			/* the implementation refuses a NULL */

		if (arg->kind == TARG_RESOURCE)
		{
			const CrmRelation *rel;

			name = text_to_cstring(PG_GETARG_TEXT_PP(arg->argno));
			crm_extension_active();
			rel = crm_relation_by_resource(name);
			if (tenant != NULL && rel != NULL && NameStr(rel->tenant_column)[0] == '\0')
				crm_deny_tenant_admin(caller, tenant, fn,
									  psprintf("grant on resource \"%s\"", name),
									  psprintf("Resource \"%s\" has no tenant column: its rows belong to no tenant, so only global administrators grant on it.", name),
									  "A global administrator grants it in a global permission set, which tenant administrators may assign.");
			if (tenant != NULL && rel == NULL && crm_resource_defined(name))
				crm_deny_tenant_admin(caller, tenant, fn,
									  psprintf("grant on resource \"%s\"", name),
									  psprintf("Resource \"%s\" holds application permissions, which belong to no tenant, so only global administrators grant them.", name),
									  "A global administrator grants it in a global permission set, which tenant administrators may assign.");
			continue;
		}

		if (arg->kind == TARG_PRINCIPAL)
		{
			Oid			roleid = PG_GETARG_OID(arg->argno);

			name = role_name(roleid);
			/* assignments of a role it has the privileges of are its own */
			if (tenant != NULL && strcmp(function, "explain_access") != 0 &&
				has_privs_of_role(caller, roleid))
				crm_deny_tenant_admin(caller, tenant, fn,
									  psprintf("administer role \"%s\"", name),
									  psprintf("Role \"%s\" is \"%s\" or has its privileges: a tenant administrator does not administer itself.",
											   role_name(caller), name),
									  "Ask a global administrator.");
			facts[i] = tenant_facts(arg->kind, psprintf("%u", roleid));
		}
		else
		{
			name = text_to_cstring(PG_GETARG_TEXT_PP(arg->argno));
			facts[i] = tenant_facts(arg->kind, name);
		}
		if (tenant != NULL)
			check_argument(caller, tenant, fn, arg, name, &facts[i]);
	}

	if (tenant != NULL && strcmp(function, "grant_system") == 0 && !PG_ARGISNULL(1))
		check_held(caller, tenant, fn, text_to_cstring(PG_GETARG_TEXT_PP(1)), NULL);

	if (tenant != NULL && strcmp(function, "set_principal") == 0 && !PG_ARGISNULL(0) &&
		(PG_ARGISNULL(SET_PRINCIPAL_TENANT_ARG) ||
		 !same_tenant(text_to_cstring(PG_GETARG_TEXT_PP(SET_PRINCIPAL_TENANT_ARG)), tenant)))
		crm_deny_tenant_admin(caller, tenant, fn,
							  psprintf("move role \"%s\" out of tenant \"%s\"",
									   role_name(PG_GETARG_OID(0)), tenant),
							  "Tenant administrators keep the principals they administer in their own tenant.",
							  psprintf("Pass tenant_id => '%s'.", tenant));

	if (tenant != NULL && strcmp(function, "set_principal") == 0 && !PG_ARGISNULL(0))
		check_shared_attributes(caller, tenant, fn, fcinfo);

	check_consistency(function, fcinfo, tenant, facts);
}

/* crmperm._admin_tenant(): the tenant the calling role administers. */
Datum
crmperm_admin_tenant(PG_FUNCTION_ARGS)
{
	const char *tenant = crm_admin_tenant(crm_admin_caller());

	if (tenant == NULL)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text(tenant));
}

/*
 * crmperm._may_view_audit_of(role_name): may the current role read the
 * audit records of the role named (the audit log keeps names)?  It needs
 * view_audit; a tenant administrator reads the records of the principals of
 * its tenant only.
 */
Datum
crmperm_may_view_audit_of(PG_FUNCTION_ARGS)
{
	Oid			reader = GetUserId();
	const char *tenant;
	Oid			roleid;
	const CrmPrincipal *p;

	if (!crm_has_system_permission(reader, CRM_SYS_VIEW_AUDIT))
		PG_RETURN_BOOL(false);
	tenant = crm_admin_tenant(reader);
	if (tenant == NULL)
		PG_RETURN_BOOL(true);
	if (PG_ARGISNULL(0))
		PG_RETURN_BOOL(false);
	roleid = get_role_oid(text_to_cstring(PG_GETARG_TEXT_PP(0)), true);
	if (!OidIsValid(roleid))
		PG_RETURN_BOOL(false);
	p = crm_principal(roleid);
	PG_RETURN_BOOL(p != NULL && same_tenant(p->tenant_id, tenant));
}
