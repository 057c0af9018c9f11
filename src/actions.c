/*-------------------------------------------------------------------------
 * actions.c
 *		Actions beyond read, create, update and delete: custom actions of a
 *		managed table (orders.refund), per-resource export, application
 *		permissions without a table (console.access), and the routines that
 *		need one (protect_routine()).
 *
 * Who holds an action: superusers and super admins hold every one; a table's
 * owner holds its export (it reads every row anyway); anyone else holds what
 * its permission sets grant, until the assignment ends, and under a token
 * only what the token's scopes also name.  A scoped grant (refund with scope
 * owned) counts here: the rows it covers are the scope's.
 *
 * A protected routine is checked where PostgreSQL checks EXECUTE: when a
 * query, a CALL or a fast-path call sets up the call (OAT_FUNCTION_EXECUTE),
 * as the role that calls it, before its body runs, so the routine may be
 * SECURITY DEFINER.  needs_fmgr_hook keeps the planner from inlining it (a
 * SQL function's body would otherwise replace the call, and nothing would
 * be called to check).
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/parallel.h"
#include "access/genam.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/pg_collation.h"
#include "catalog/pg_index.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "catalog/objectaccess.h"
#include "catalog/pg_proc.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "parser/parse_coerce.h"
#include "optimizer/planner.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/relcache.h"
#include "utils/fmgroids.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/regproc.h"
#include "utils/timestamp.h"

#include "crmperm.h"

PG_FUNCTION_INFO_V1(crmperm_require);
PG_FUNCTION_INFO_V1(crmperm_require_row);
PG_FUNCTION_INFO_V1(crmperm_check_row);
PG_FUNCTION_INFO_V1(crmperm_routine_key);
PG_FUNCTION_INFO_V1(crmperm_row_scope);
PG_FUNCTION_INFO_V1(crmperm_may_on_row);

static object_access_hook_type prev_object_access = NULL;
static needs_fmgr_hook_type prev_needs_fmgr = NULL;
static fmgr_hook_type prev_fmgr = NULL;
static planner_hook_type prev_planner = NULL;

/* A protected routine running: its call, and the role its body runs as. */
typedef struct RunningRoutine
{
	FmgrInfo   *flinfo;
	Oid			runs_as;
} RunningRoutine;

static List *running = NIL;		/* innermost first, in TopMemoryContext */

/* read/create/update/delete as a CRM_* bit; 0 for any other name. */
int
crm_crud_action_bit(const char *name)
{
	for (int i = 0; i < lengthof(crm_action_order); i++)
		if (strcmp(name, crm_action_name(crm_action_order[i])) == 0)
			return crm_action_order[i];
	return 0;
}

/* Is one of the scopes still counting? */
static bool
scopes_current(List *scopes)
{
	TimestampTz now = GetCurrentStatementStartTimestamp();
	ListCell   *lc;

	foreach(lc, scopes)
		if (((CrmScope *) lfirst(lc))->until > now)
			return true;
	return false;
}

/*
 * Does the role hold the action of the resource now (its token's scopes
 * included)?  The action must exist: callers check that.
 */
bool
crm_action_held(Oid roleid, const char *resource, const char *action)
{
	const CrmRelation *rel = crm_relation_by_resource(resource);
	int			bit = rel ? crm_crud_action_bit(action) : 0;
	const CrmPrincipal *p;
	ListCell   *lc;

	/* a table's read, create, update, delete: its decision */
	if (bit != 0)
	{
		CrmDecision d;

		if (!crm_decide(roleid, rel->relid, &d))
			return false;
		return crm_action_allowed(&d, bit) &&
			(!crm_token_active() || crm_token_allows(resource, bit));
	}

	if (crm_token_active() && !crm_token_allows_scope(resource, action))
		return false;
	p = crm_principal(roleid);
	if (p == NULL)
		return false;
	if (p->superuser || p->super_admin)
		return true;
	/* a table's owner exports and imports its own table */
	if ((strcmp(action, "export") == 0 || strcmp(action, "import") == 0) &&
		rel != NULL && rel->relowner == roleid)
		return true;
	if (strcmp(action, "export") == 0 && !crm_token_active() && (p->system & CRM_SYS_EXPORT))
		return true;
	/* nobody but a super admin writes a sensitive table */
	if (strcmp(action, "import") == 0 && rel != NULL && rel->sensitive)
		return false;
	foreach(lc, p->actions)
	{
		const CrmActionGrant *ag = lfirst(lc);

		if (strcmp(ag->resource, resource) == 0 && strcmp(ag->action, action) == 0)
			return scopes_current(ag->scopes);
	}
	return false;
}

/* "read, update, refund (owned)" or "nothing": what the role holds on a resource. */
char *
crm_held_list(Oid roleid, const char *resource)
{
	const CrmRelation *rel = crm_relation_by_resource(resource);
	const CrmPrincipal *p = crm_principal(roleid);
	StringInfoData buf;
	ListCell   *lc;
	CrmDecision d;

	initStringInfo(&buf);
	if (rel != NULL && crm_decide(roleid, rel->relid, &d) && d.actions != 0)
		appendStringInfoString(&buf, crm_granted_list(&d));
	foreach(lc, p ? p->actions : NIL)
	{
		const CrmActionGrant *ag = lfirst(lc);
		ListCell   *sc;

		if (strcmp(ag->resource, resource) != 0 || !scopes_current(ag->scopes))
			continue;
		appendStringInfo(&buf, "%s%s", buf.len > 0 ? ", " : "", ag->action);
		if (!crm_scopes_include_all(ag->scopes))
		{
			appendStringInfoString(&buf, " (");
			foreach(sc, ag->scopes)
				appendStringInfo(&buf, "%s%s", sc == list_head(ag->scopes) ? "" : " or ",
								 ((CrmScope *) lfirst(sc))->name);
			appendStringInfoChar(&buf, ')');
		}
	}
	if (buf.len == 0)
		appendStringInfoString(&buf, "nothing");
	return buf.data;
}

/* The named denial: the token's when its scopes are what is missing. */
static void
deny(Oid roleid, const char *resource, const char *action, const char *needed_for)
{
	const CrmRelation *rel = crm_relation_by_resource(resource);
	CrmDecision d;

	if (crm_token_active() && !crm_token_allows_scope(resource, action))
		crm_deny_token_scope(crm_token_name(), crm_token_scope_list(), resource, action);
	if (rel != NULL && crm_crud_action_bit(action) != 0 && crm_decide(roleid, rel->relid, &d))
		crm_deny_action(roleid, &d, crm_crud_action_bit(action));
	crm_deny_named_action(roleid, resource, action, needed_for);
}

/*
 * check('orders.refund') and require('orders.refund'): does the role hold an
 * action that exists?  With raise, a missing action is the named denial.
 */
bool
crm_check_action(Oid roleid, const char *resource, const char *action, bool raise)
{
	crm_catalog_present();
	if (!crm_resource_defined(resource))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("resource \"%s\" does not exist", crm_quote_arg(resource))));
	if (!crm_action_defined(resource, action))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("resource \"%s\" has no action \"%s\"", resource, crm_quote_arg(action)),
				 errhint("crmperm.explain_access() lists the actions of a resource.")));
	if (crm_action_held(roleid, resource, action))
		return true;
	if (raise)
		deny(roleid, resource, action, NULL);
	return false;
}

/* The first argument, resource.action, split: returns the resource, sets *action. */
static char *
action_argument(FunctionCallInfo fcinfo, char **action)
{
	char	   *name;
	char	   *dot;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("action must not be null")));
	name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	dot = strchr(name, '.');
	if (dot == NULL || dot == name || dot[1] == '\0' || strchr(dot + 1, '.') != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid action \"%s\"", crm_quote_arg(name)),
				 errhint("An action is named resource.action, such as orders.refund or console.access.")));
	*dot = '\0';
	*action = dot + 1;
	return name;
}

/* crmperm.require('orders.refund'): the named denial unless the role holds it. */
Datum
crmperm_require(PG_FUNCTION_ARGS)
{
	char	   *action;
	char	   *resource = action_argument(fcinfo, &action);

	crm_check_action(GetUserId(), resource, action, true);
	PG_RETURN_VOID();
}

/*
 * The scopes a role holds an action with on a table's rows (NIL: every
 * row), or false when no row check is needed (an exempt role, export,
 * import).
 */
static bool
row_scopes(Oid roleid, const CrmRelation *rel, const char *action, List **scopes)
{
	const CrmPrincipal *p = crm_principal(roleid);
	int			bit = crm_crud_action_bit(action);
	bool		bulk = strcmp(action, "export") == 0 || strcmp(action, "import") == 0;
	CrmDecision d;
	ListCell   *lc;

	*scopes = NIL;

	if (!crm_decide(roleid, rel->relid, &d) || d.exemption == CRM_EXEMPT_SUPERUSER ||
		d.exemption == CRM_EXEMPT_SUPER_ADMIN ||
		(d.exemption == CRM_EXEMPT_OWNER && (bit != 0 || bulk)))
		return false;
	if (bit != 0)
	{
		*scopes = d.scopes[crm_action_index(bit)];
		return true;
	}
	if (bulk)
		return false;			/* scope all: the rows read or create reaches */
	foreach(lc, p->actions)
	{
		const CrmActionGrant *ag = lfirst(lc);
		ListCell   *sc;

		if (strcmp(ag->resource, rel->resource) != 0 || strcmp(ag->action, action) != 0)
			continue;
		*scopes = ag->scopes;
		foreach(sc, ag->scopes)
			if (strcmp(((CrmScope *) lfirst(sc))->name, "all") == 0 &&
				((CrmScope *) lfirst(sc))->until == DT_NOEND)
				*scopes = NIL;	/* every row, as for CRUD */
	}
	return true;
}

/* The primary key column of a table (one column), or an error. */
static AttrNumber
key_column(const CrmRelation *rel)
{
	Relation	r = table_open(rel->relid, AccessShareLock);
	Oid			indexoid = crm_primary_key_index(r);
	AttrNumber	column = InvalidAttrNumber;

	if (OidIsValid(indexoid))
	{
		HeapTuple	tup = SearchSysCache1(INDEXRELID, ObjectIdGetDatum(indexoid));
		Form_pg_index index = (Form_pg_index) GETSTRUCT(tup);

		if (index->indnatts == 1)
			column = index->indkey.values[0];
		ReleaseSysCache(tup);
	}
	table_close(r, AccessShareLock);
	if (column == InvalidAttrNumber)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("resource \"%s\" has no single-column primary key", rel->resource),
				 errdetail("A row is named by the value of its primary key.")));
	return column;
}

/*
 * Is the row of a table whose key is the given value inside the scopes?  Read
 * as the role itself, through the action's scopes (the row security
 * predicates, built as for a policy, and the tenant boundary) instead of
 * read's: a row that does not exist is outside.
 */
static bool
row_in_scopes(const CrmRelation *rel, const char *action, List *scopes, bool shares,
			  Datum key, Oid keytype)
{
	AttrNumber	attno = key_column(rel);
	Oid			keycoltype = get_atttype(rel->relid, attno);
	char	   *sql;
	bool		found = false;

	if (!can_coerce_type(1, &keytype, &keycoltype, COERCION_IMPLICIT))
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("key of type %s does not match the primary key of resource \"%s\"",
						format_type_be(keytype), rel->resource),
				 errdetail("Its primary key \"%s\" is of type %s.",
						   get_attname(rel->relid, attno, false), format_type_be(keycoltype))));
	sql = psprintf("SELECT FROM %s WHERE %s OPERATOR(pg_catalog.=) $1::%s",
				   quote_qualified_identifier(get_namespace_name(get_rel_namespace(rel->relid)),
											  get_rel_name(rel->relid)),
				   quote_identifier(get_attname(rel->relid, attno, false)),
				   format_type_be_qualified(keycoltype));

	SPI_connect();
	crm_scopes_row_check(rel->relid, scopes, action, shares);
	PG_TRY();
	{
		if (SPI_execute_with_args(sql, 1, &keytype, &key, NULL, true, 1) != SPI_OK_SELECT)
			elog(ERROR, "crmperm row check failed");
		found = SPI_processed > 0;
	}
	PG_FINALLY();
	{
		crm_scopes_row_check(InvalidOid, NIL, NULL, true);
	}
	PG_END_TRY();
	SPI_finish();
	return found;
}

/*
 * require(action, key) and check(action, key): the action, on the row of
 * the action's table whose primary key is key.
 */
static bool
check_row_action(FunctionCallInfo fcinfo, bool raise)
{
	char	   *action;
	char	   *name = action_argument(fcinfo, &action);
	const CrmRelation *rel;
	List	   *scopes;
	Oid			roleid = GetUserId();

	/* (its cast to the key column runs inside the row check) */
	crm_check_key_type(get_fn_expr_argtype(fcinfo->flinfo, 1));
	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("key must not be null")));
	if (!crm_check_action(roleid, name, action, raise))
		return false;
	rel = crm_relation_by_resource(name);
	if (rel == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("resource \"%s\" is not a table", name),
				 errdetail("An application permission holds for no row: use crmperm.require(action) or crmperm.check(action).")));
	if (!row_scopes(roleid, rel, action, &scopes) || scopes == NIL ||
		row_in_scopes(rel, action, scopes, true, PG_GETARG_DATUM(1), get_fn_expr_argtype(fcinfo->flinfo, 1)))
		return true;
	if (raise)
	{
		StringInfoData buf;
		ListCell   *lc;

		initStringInfo(&buf);
		foreach(lc, scopes)
			appendStringInfo(&buf, "%s%s", buf.len ? " or " : "", ((CrmScope *) lfirst(lc))->name);
		crm_deny_row_action(roleid, name, action, buf.data);
	}
	return false;
}

/*
 * crmperm._routine_key(action, key): around the key argument of a call of a
 * protected routine (crm_actions_key_checks): the row check, as the caller,
 * before the call; the key passes through.
 */
Datum
crmperm_routine_key(PG_FUNCTION_ARGS)
{
	crm_require_crmperm_call(fcinfo);
	check_row_action(fcinfo, true);
	PG_RETURN_DATUM(PG_GETARG_DATUM(1));
}

/* Is this argument the row check crmperm puts around a routine's key? */
static bool
is_key_check(Node *arg)
{
	return arg != NULL && IsA(arg, FuncExpr) &&
		((FuncExpr *) arg)->funcid == crm_routine_key_function();
}

/*
 * The key argument of every call of a protected routine that names its row
 * by one, wrapped in crmperm._routine_key(), in a query tree (every level)
 * or an expression, changed in place.  Before planning, so default
 * arguments are not inserted yet: a key argument has none.
 */
static bool
key_checks_walker(Node *node, void *context)
{
	if (node == NULL)
		return false;
	if (IsA(node, Query))
		return query_tree_walker((Query *) node, key_checks_walker, context, 0);
	if (IsA(node, FuncExpr))
	{
		FuncExpr   *call = (FuncExpr *) node;
		const CrmRoutine *r = crm_routine(call->funcid);
		ListCell   *lc;

		/*
		 * The argument in the key's position: positional, or named (before
		 * the planner puts named arguments in order, a NamedArgExpr says
		 * which position it fills).
		 */
		if (r != NULL && r->key_argument > 0)
			foreach(lc, call->args)
			{
				Node	  **slot = (Node **) &lfirst(lc);
				int			position = foreach_current_index(lc);
				Node	   *key;

				if (IsA(*slot, NamedArgExpr))
				{
					position = ((NamedArgExpr *) *slot)->argnumber;
					slot = (Node **) &((NamedArgExpr *) *slot)->arg;
				}
				if (position != r->key_argument - 1)
					continue;
				key = *slot;
				if (!is_key_check(key))
					*slot = (Node *) makeFuncExpr(crm_routine_key_function(), exprType(key),
												  list_make2(makeConst(TEXTOID, -1, DEFAULT_COLLATION_OID, -1,
																	   CStringGetTextDatum(psprintf("%s.%s", r->resource, r->action)),
																	   false, false),
															 key),
												  exprCollation(key), exprCollation(key), CRM_CALL_FORMAT);
				break;
			}
	}
	return expression_tree_walker(node, key_checks_walker, context);
}

Node *
crm_actions_key_checks(Node *node)
{
	if (crm_catalog_present() && crm_routines_keyed() &&
		OidIsValid(crm_routine_key_function()))
		key_checks_walker(node, NULL);
	return node;
}

Datum
crmperm_require_row(PG_FUNCTION_ARGS)
{
	check_row_action(fcinfo, true);
	PG_RETURN_VOID();
}

Datum
crmperm_check_row(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(check_row_action(fcinfo, false));
}

/*
 * A call of a protected routine being set up: the calling role must hold its
 * action.  Parallel workers run what their leader set up and checked.
 */
/*
 * The volatility a function has now, its change in this command included
 * (the syscache shows it only after the next command counter increment).
 */
static char
volatility_now(Oid funcid)
{
	Relation	rel = table_open(ProcedureRelationId, AccessShareLock);
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tup;
	char		volatility = PROVOLATILE_VOLATILE;

	ScanKeyInit(&key, Anum_pg_proc_oid, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(funcid));
	scan = systable_beginscan(rel, ProcedureOidIndexId, true, SnapshotSelf, 1, &key);
	tup = systable_getnext(scan);
	if (HeapTupleIsValid(tup))
		volatility = ((Form_pg_proc) GETSTRUCT(tup))->provolatile;
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return volatility;
}

static void
crm_actions_object_access(ObjectAccessType access, Oid classId, Oid objectId,
						  int subId, void *arg)
{
	const CrmRoutine *r;
	Oid			roleid;

	if (prev_object_access)
		prev_object_access(access, classId, objectId, subId, arg);

	/*
	 * protect_routine() refuses an immutable function (the planner keeps its
	 * results in plans): ALTER FUNCTION or CREATE OR REPLACE cannot make a
	 * protected one immutable later.
	 */
	if ((access == OAT_POST_ALTER || access == OAT_POST_CREATE) &&
		classId == ProcedureRelationId && crm_catalog_present() &&
		crm_routine(objectId) != NULL && volatility_now(objectId) == PROVOLATILE_IMMUTABLE)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("cannot make protected routine %s immutable",
						format_procedure_qualified(objectId)),
				 errdetail("The planner computes calls of an immutable function once and keeps the result in plans that other roles run."),
				 errhint("Unprotect it first with crmperm.unprotect_routine().")));

	if (access != OAT_FUNCTION_EXECUTE || crm_parallel_shipped_plan() || !crm_catalog_present())
		return;
	crm_citus_check_function(objectId);
	r = crm_routine(objectId);
	if (r == NULL)
		return;
	roleid = GetUserId();
	if (!crm_action_held(roleid, r->resource, r->action))
		deny(roleid, r->resource, r->action,
			 psprintf("Routine %s", format_procedure_qualified(objectId)));
}

/*
 * A plan that calls a protected routine depends on the role it was made for:
 * PostgreSQL then makes it again for another role instead of reusing it, and
 * so sets the call up again, checked for that role (a PL/pgSQL function's
 * simple expressions, otherwise set up once per transaction, included).
 */
static PlannedStmt *
crm_actions_planner(Query *parse, const char *query_string, int cursorOptions,
					ParamListInfo boundParams)
{
	PlannedStmt *result;

	crm_actions_key_checks((Node *) parse);
	/*
	 * A token, COPY ... TO (which asks for export) and EXPLAIN ANALYZE are
	 * this backend's state: a parallel worker, where a function's statements
	 * are checked too, would not know them.  No parallel plan under them.
	 */
	if (crm_token_active() || crm_utility_context != CRM_IN_QUERY)
		cursorOptions &= ~CURSOR_OPT_PARALLEL_OK;
	result = prev_planner
		? prev_planner(parse, query_string, cursorOptions, boundParams)
		: standard_planner(parse, query_string, cursorOptions, boundParams);

	if (result->invalItems != NIL && crm_catalog_present() &&
		crm_routines_among(result->invalItems))
		result->dependsOnRole = true;
	return result;
}

/* A protected routine is called through fmgr_security_definer, never inlined. */
static bool
crm_needs_fmgr(Oid fn_oid)
{
	if (prev_needs_fmgr && prev_needs_fmgr(fn_oid))
		return true;
	return crm_catalog_present() && crm_routine(fn_oid) != NULL;
}

/*
 * Keep the stack of running protected routines (the call was checked when
 * it was set up): under a token, the body of a SECURITY DEFINER one runs as
 * its owner, past the token's scopes (tokens.c), as it does without one.
 */
static void
crm_fmgr(FmgrHookEventType event, FmgrInfo *flinfo, Datum *private)
{
	if (prev_fmgr)
		prev_fmgr(event, flinfo, private);
	if (event == FHET_START)
	{
		const CrmRoutine *routine = crm_catalog_present() ? crm_routine(flinfo->fn_oid) : NULL;

		/*
		 * A routine that names its row by an argument runs only where
		 * crmperm checked that row, in the call itself: a call whose key
		 * argument is crmperm._routine_key(), which ran as this call's
		 * arguments were computed.  Anything else (an operator, a function
		 * inlined into another, a constraint, a fast-path call) is refused.
		 */
		if (routine != NULL && routine->key_argument > 0)
		{
			Node	   *call = flinfo->fn_expr;
			Node	   *key = call && IsA(call, FuncExpr) &&
				list_length(((FuncExpr *) call)->args) >= routine->key_argument ?
				list_nth(((FuncExpr *) call)->args, routine->key_argument - 1) : NULL;

			if (!is_key_check(key))
				crm_deny_unchecked_key(flinfo->fn_oid, routine->resource, routine->action,
									   routine->key_argument);
		}
		if (routine != NULL)
		{
			MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);
			RunningRoutine *r = palloc(sizeof(RunningRoutine));

			r->flinfo = flinfo;
			r->runs_as = GetUserId();
			running = lcons(r, running);
			MemoryContextSwitchTo(old);
		}
	}
	else if (running != NIL && ((RunningRoutine *) linitial(running))->flinfo == flinfo)
	{
		pfree(linitial(running));
		running = list_delete_first(running);
	}
}

/*
 * A transaction never ends inside a protected routine's call (PostgreSQL
 * refuses transaction control in a routine called through
 * fmgr_security_definer), and an error unwinds through FHET_ABORT: the stack
 * is empty here.  Should anything leave an entry, it must not outlive its
 * transaction.
 */
static void
crm_actions_xact(XactEvent event, void *arg)
{
	if (running != NIL && (event == XACT_EVENT_COMMIT || event == XACT_EVENT_ABORT ||
						   event == XACT_EVENT_PREPARE))
	{
		list_free_deep(running);
		running = NIL;
	}
}

/* Does the innermost running protected routine run as this role? */
bool
crm_in_protected_routine_as(Oid roleid)
{
	return running != NIL && ((RunningRoutine *) linitial(running))->runs_as == roleid;
}

void
crm_actions_init(void)
{
	prev_object_access = object_access_hook;
	object_access_hook = crm_actions_object_access;
	prev_needs_fmgr = needs_fmgr_hook;
	needs_fmgr_hook = crm_needs_fmgr;
	prev_fmgr = fmgr_hook;
	fmgr_hook = crm_fmgr;
	RegisterXactCallback(crm_actions_xact, NULL);
	prev_planner = planner_hook;
	planner_hook = crm_actions_planner;
}

/*
 * Is the row of rel whose primary key is keytext (as text) inside these
 * scopes of the principal for the action?  Read as the principal.
 */
static bool
row_in_scopes_as(Oid principal, const CrmRelation *rel, const char *action, List *scopes,
				 bool shares, const char *keytext)
{
	AttrNumber	attno = key_column(rel);
	Oid			keytype = get_atttype(rel->relid, attno);
	Oid			input;
	Oid			ioparam;
	Datum		key;
	Oid			save_user;
	int			save_sec;
	bool		found;

	getTypeInputInfo(keytype, &input, &ioparam);
	key = OidInputFunctionCall(input, (char *) keytext, ioparam, -1);
	GetUserIdAndSecContext(&save_user, &save_sec);
	SetUserIdAndSecContext(principal, save_sec | SECURITY_LOCAL_USERID_CHANGE);
	PG_TRY();
	{
		found = row_in_scopes(rel, action, scopes, shares, key, keytype);
	}
	PG_FINALLY();
	{
		SetUserIdAndSecContext(save_user, save_sec);
	}
	PG_END_TRY();
	return found;
}

/*
 * crmperm._row_scope(principal, resource, action, scope, key): is the row of
 * the resource whose primary key is key (as text) inside this one scope of
 * the principal for the action?  Shares left out: what explain_access()
 * names, one scope at a time.  Not for PUBLIC.
 */
Datum
crmperm_row_scope(PG_FUNCTION_ARGS)
{
	const CrmRelation *rel;
	CrmScope   *scope;

	for (int i = 0; i < 5; i++)
		if (PG_ARGISNULL(i))
			PG_RETURN_NULL();
	crm_extension_active();
	rel = crm_relation_by_resource(text_to_cstring(PG_GETARG_TEXT_PP(1)));
	if (rel == NULL)
		PG_RETURN_NULL();
	scope = palloc0(sizeof(CrmScope));
	strlcpy(scope->name, text_to_cstring(PG_GETARG_TEXT_PP(3)), NAMEDATALEN);
	scope->until = DT_NOEND;
	PG_RETURN_BOOL(row_in_scopes_as(PG_GETARG_OID(0), rel, text_to_cstring(PG_GETARG_TEXT_PP(2)),
									list_make1(scope), false, text_to_cstring(PG_GETARG_TEXT_PP(4))));
}

/*
 * crmperm._may_on_row(principal, resource, action, key): does the principal
 * hold the action on the row (key as text), as require(action, key) would
 * answer for it (shares included, tokens aside)?  A sharer shares only what
 * it may do itself.  Not for PUBLIC.
 */
Datum
crmperm_may_on_row(PG_FUNCTION_ARGS)
{
	Oid			principal;
	const CrmRelation *rel;
	char	   *action;
	List	   *scopes;

	for (int i = 0; i < 4; i++)
		if (PG_ARGISNULL(i))
			PG_RETURN_BOOL(false);
	principal = PG_GETARG_OID(0);
	crm_extension_active();
	rel = crm_relation_by_resource(text_to_cstring(PG_GETARG_TEXT_PP(1)));
	action = text_to_cstring(PG_GETARG_TEXT_PP(2));
	if (rel == NULL || !crm_action_held(principal, rel->resource, action))
		PG_RETURN_BOOL(false);
	if (!row_scopes(principal, rel, action, &scopes) || scopes == NIL)
		PG_RETURN_BOOL(true);
	PG_RETURN_BOOL(row_in_scopes_as(principal, rel, action, scopes, true,
									text_to_cstring(PG_GETARG_TEXT_PP(3))));
}
