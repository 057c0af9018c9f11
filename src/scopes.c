/*-------------------------------------------------------------------------
 * scopes.c
 *		Row scopes, through PostgreSQL's own row security.
 *
 * manage_table() enables and forces row security on every managed table and
 * partition; these hooks supply the policies, built for the current role
 * (the hooks are not told the role PostgreSQL checks as: core keeps only the
 * policies whose roles the checking role has the privileges of, so inside a
 * view owned by another governed role ours are dropped and nothing is
 * visible: fail closed).  Without crmperm loaded there are no policies at all:
 * default deny.
 *
 * A policy per command: the actions's scopes OR-ed (scope "all": true).  A
 * role without the action gets no policy: core then adds "false".  The table
 * owner (by identity), super admins and superusers get an all-rows policy.
 * Core ignores polcmd on hook policies, so the command is decided here.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/relation.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_collation.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "optimizer/optimizer.h"
#include "parser/parse_expr.h"
#include "parser/parser.h"
#include "parser/parse_clause.h"
#include "parser/parse_collate.h"
#include "parser/parse_func.h"
#include "parser/parse_node.h"
#include "parser/parse_relation.h"
#include "rewrite/rowsecurity.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/datetime.h"
#include "utils/lsyscache.h"
#include "utils/regproc.h"
#include "utils/syscache.h"

#include "crmperm.h"

static row_security_policy_hook_type prev_permissive = NULL;
static row_security_policy_hook_type prev_restrictive = NULL;

/*
 * A row check under way (require(action, key), actions.c): the lookup of the
 * row reads the relation through the action's scopes instead of read's
 * (with the rows shared for the action, unless explain_access() asks about
 * one scope: then only that relation's own check leaves them out, never a
 * policy of another table built meanwhile, which the cache keeps).
 */
static Oid	row_check_relid = InvalidOid;
static List *row_check_scopes = NIL;
static const char *row_check_action = NULL;
static bool row_check_shares = true;

static int
cmd_action(CmdType cmd)
{
	switch (cmd)
	{
		case CMD_SELECT:
			return CRM_READ;
		case CMD_INSERT:
			return CRM_CREATE;
		case CMD_UPDATE:
			return CRM_UPDATE;
		case CMD_DELETE:
			return CRM_DELETE;
		default:
			return 0;
	}
}

static Node *
make_bool(bool value)
{
	return makeBoolConst(value, false);
}

/* The text of a text[] literal holding these strings, quoted as array_out does. */
static char *
array_literal(List *values)
{
	Datum	   *elems = palloc(sizeof(Datum) * Max(list_length(values), 1));
	int			n = 0;
	ListCell   *lc;
	ArrayType  *arr;

	foreach(lc, values)
		elems[n++] = CStringGetTextDatum((char *) lfirst(lc));
	arr = construct_array(elems, n, TEXTOID, -1, false, TYPALIGN_INT);
	return OidOutputFunctionCall(F_ARRAY_OUT, PointerGetDatum(arr));
}

/*
 * column = 'value' or column = ANY('{...}'), with the literal coerced to the
 * column's type by the parser: the column stays bare, so an index on it is
 * used.  Operators are schema-qualified.
 */
static Node *
column_matches(const char *column, const char *literal, bool any)
{
	ColumnRef  *col = makeNode(ColumnRef);
	A_Const    *val = makeNode(A_Const);
	A_Expr	   *expr;

	col->fields = list_make1(makeString(pstrdup(column)));
	col->location = -1;
	val->val.sval.type = T_String;
	val->val.sval.sval = pstrdup(literal);
	val->location = -1;
	expr = makeA_Expr(any ? AEXPR_OP_ANY : AEXPR_OP,
					  list_make2(makeString("pg_catalog"), makeString("=")),
					  (Node *) col, (Node *) val, -1);
	return (Node *) expr;
}

/* Parse-analyze a raw boolean expression over the relation, as varno 1. */
static Node *
analyze_qual(ParseState *pstate, Node *raw)
{
	Node	   *qual = transformWhereClause(pstate, raw, EXPR_KIND_POLICY, "POLICY");

	assign_expr_collations(pstate, qual);
	return qual;
}

static ParseState *
policy_parsestate(Relation relation)
{
	ParseState *pstate = make_parsestate(NULL);
	ParseNamespaceItem *nsitem;

	nsitem = addRangeTableEntryForRelation(pstate, relation, AccessShareLock,
										   NULL, false, false);
	addNSItemToQuery(pstate, nsitem, false, true, true);
	return pstate;
}

/*
 * Parse a custom scope predicate: exactly one expression, nothing around it
 * (no second statement, no FROM, no alias).  Parse errors say what is wrong
 * without pointing into text the caller did not write.
 */
Node *
crm_parse_predicate(const char *predicate)
{
	List	   *stmts = NIL;
	SelectStmt *select;
	ResTarget  *target;
	MemoryContext cxt = CurrentMemoryContext;

	PG_TRY();
	{
		stmts = raw_parser(psprintf("SELECT %s", predicate), RAW_PARSE_DEFAULT);
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		FlushErrorState();
		edata->cursorpos = edata->internalpos = 0;
		edata->internalquery = NULL;
		edata->detail = pstrdup("A scope predicate is one boolean SQL expression over the table's columns.");
		ReThrowError(edata);
	}
	PG_END_TRY();

	select = (list_length(stmts) == 1 &&
			  IsA(((RawStmt *) linitial(stmts))->stmt, SelectStmt)) ?
		(SelectStmt *) ((RawStmt *) linitial(stmts))->stmt : NULL;
	target = (select && list_length(select->targetList) == 1) ?
		linitial(select->targetList) : NULL;
	if (target == NULL || target->name != NULL || select->op != SETOP_NONE ||
		select->distinctClause || select->intoClause || select->fromClause ||
		select->whereClause || select->groupClause || select->havingClause ||
		select->windowClause || select->valuesLists || select->sortClause ||
		select->limitOffset || select->limitCount || select->lockingClause ||
		select->withClause)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid scope predicate"),
				 errdetail("A scope predicate is one boolean SQL expression over the table's columns.")));
	return target->val;
}

/* Parse-analyze a predicate over the relation: a boolean expression. */
static Node *
analyze_predicate(ParseState *pstate, Node *raw)
{
	Node	   *expr;
	int			nest = crm_push_path();	/* wherever the predicate is used */

	PG_TRY();
	{
		expr = transformExpr(pstate, copyObject(raw), EXPR_KIND_POLICY);
		if (exprType(expr) != BOOLOID)
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("scope predicate must be of type boolean, not type %s",
							format_type_be(exprType(expr)))));
		assign_expr_collations(pstate, expr);
	}
	PG_FINALLY();
	{
		crm_pop_path(nest);
	}
	PG_END_TRY();
	return expr;
}

static Oid
relation_owner(Oid relid)
{
	HeapTuple	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	Oid			owner;

	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for relation %u", relid);
	owner = ((Form_pg_class) GETSTRUCT(tup))->relowner;
	ReleaseSysCache(tup);
	return owner;
}

/*
 * Whoever owns a function or table a scope uses decides which rows every
 * principal with that scope sees (it can replace the function's code, or
 * write the table's rows, and that code runs as each reader): only the
 * managed table's owner or a superuser may own it.
 */
static void
check_scope_object_owner(Oid owner, Oid relowner, const char *kind, const char *name)
{
	if (owner == relowner || superuser_arg(owner))
		return;
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("scope predicate must not use %s %s owned by role \"%s\"", kind, name,
					GetUserNameFromId(owner, false)),
			 errdetail("Its owner could change which rows the scope admits and run code as every principal that uses it."),
			 errhint("Use a %s owned by the table's owner \"%s\" or by a superuser.", kind,
					 GetUserNameFromId(relowner, false))));
}

/*
 * Subqueries in a predicate may read tables owned by the managed table's
 * owner or a superuser: a managed table is read under its own scopes for the
 * same principal (define_scope() refuses a loop back to the table); crmperm's
 * catalog, or a view (which could hide anything), is refused.
 * context: the managed table's owner (an Oid).
 */
static bool
refuse_managed_walker(Node *node, void *context)
{
	if (node == NULL)
		return false;
	if (IsA(node, RangeTblEntry))
	{
		RangeTblEntry *rte = (RangeTblEntry *) node;

		if (rte->rtekind == RTE_RELATION &&
			(get_rel_namespace(rte->relid) == get_namespace_oid("crmperm", false) ||
			 !(rte->relkind == RELKIND_RELATION || rte->relkind == RELKIND_PARTITIONED_TABLE)))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("scope predicate must not read \"%s\"", get_rel_name(rte->relid)),
					 errdetail("Subqueries in a scope may read tables, not views or crmperm's catalog.")));
		if (rte->rtekind == RTE_RELATION)
		{
			/* its owner may change later: rebuild then, and check again */
			crm_cache_watch_scope_relation(rte->relid);
			check_scope_object_owner(relation_owner(rte->relid), *(Oid *) context, "table",
									 quote_identifier(get_rel_name(rte->relid)));
		}
		return false;
	}
	if (IsA(node, Query))
		return query_tree_walker((Query *) node, refuse_managed_walker, context,
								 QTW_EXAMINE_RTES_BEFORE);
	return expression_tree_walker(node, refuse_managed_walker, context);
}

/* Does a function set search_path in its own configuration (SET search_path)? */
bool
crm_function_pins_search_path(HeapTuple proctup)
{
	bool		isnull;
	Datum		config = SysCacheGetAttr(PROCOID, proctup, Anum_pg_proc_proconfig, &isnull);
	Datum	   *items;
	int			n;

	if (isnull)
		return false;
	deconstruct_array(DatumGetArrayTypeP(config), TEXTOID, -1, false, TYPALIGN_INT,
					  &items, NULL, &n);
	for (int i = 0; i < n; i++)
		if (strncmp(TextDatumGetCString(items[i]), "search_path=", 12) == 0)
			return true;
	return false;
}

/*
 * A function a predicate calls, outside pg_catalog and crmperm, must pin its
 * search_path: an SQL function is inlined with the session's search path,
 * where pg_temp comes first, and any function resolves names at run time.
 */
static bool
pinned_search_path(Oid funcid, void *context)
{
	HeapTuple	tup;
	bool		pinned;
	Oid			nsp = get_func_namespace(funcid);

	if (nsp == PG_CATALOG_NAMESPACE || nsp == get_namespace_oid("crmperm", false))
		return false;
	tup = SearchSysCache1(PROCOID, ObjectIdGetDatum(funcid));
	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for function %u", funcid);
	pinned = crm_function_pins_search_path(tup);
	check_scope_object_owner(((Form_pg_proc) GETSTRUCT(tup))->proowner, *(Oid *) context,
							 "function", format_procedure(funcid));
	ReleaseSysCache(tup);
	if (!pinned)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("scope predicate must not call function %s", format_procedure(funcid)),
				 errdetail("It does not set search_path, so a session could change what it reads."),
				 errhint("ALTER FUNCTION %s SET search_path = ...", format_procedure(funcid))));
	return false;
}

static bool
check_functions_walker(Node *node, void *context)
{
	if (node == NULL)
		return false;
	if (IsA(node, Query))
		return query_tree_walker((Query *) node, check_functions_walker, context, 0);
	check_functions_in_node(node, pinned_search_path, context);
	return expression_tree_walker(node, check_functions_walker, context);
}

/*
 * What a predicate reads and calls, checked when a scope is defined and
 * again whenever it is built into a policy (an owner may have changed).
 */
static void
check_predicate_objects(Node *expr, Oid relowner)
{
	refuse_managed_walker(expr, &relowner);
	check_functions_walker(expr, &relowner);
}

/* A custom scope predicate, parse-analyzed over the relation. */
Node *
crm_analyze_predicate(Relation relation, const char *predicate)
{
	ParseState *pstate = policy_parsestate(relation);
	Node	   *expr = analyze_predicate(pstate, crm_parse_predicate(predicate));

	free_parsestate(pstate);
	return expr;
}

/* What columns_walker collects: Vars of varno 1 at the top level. */
typedef struct ScopeColumns
{
	int			sublevels;		/* how deep in subqueries the walk is */
	int			natts;
	Bitmapset  *columns;
} ScopeColumns;

static bool
columns_walker(Node *node, ScopeColumns *cxt)
{
	if (node == NULL)
		return false;
	if (IsA(node, Var) && ((Var *) node)->varno == 1 &&
		((Var *) node)->varlevelsup == cxt->sublevels)
	{
		AttrNumber	attno = ((Var *) node)->varattno;

		/* a whole-row reference reads every column */
		for (AttrNumber a = attno == 0 ? 1 : attno; a <= (attno == 0 ? cxt->natts : attno); a++)
			cxt->columns = bms_add_member(cxt->columns, a - FirstLowInvalidHeapAttributeNumber);
		return false;
	}
	if (IsA(node, Query))
	{
		bool		result;

		cxt->sublevels++;
		result = query_tree_walker((Query *) node, columns_walker, cxt, 0);
		cxt->sublevels--;
		return result;
	}
	return expression_tree_walker(node, columns_walker, cxt);
}

/*
 * The columns (attnos, offset as pull_varattnos does) a custom scope reads of
 * its relation, in its subqueries too.
 */
Bitmapset *
crm_scope_columns(Relation relation, const char *resource, const char *scope)
{
	const CrmScopeDef *def = crm_scope_def(resource, scope);
	ScopeColumns cxt = {0, RelationGetDescr(relation)->natts, NULL};

	if (def != NULL)
	{
		ParseState *pstate = policy_parsestate(relation);

		columns_walker(analyze_predicate(pstate, def->raw), &cxt);
		free_parsestate(pstate);
	}
	return cxt.columns;
}

/*
 * crmperm._check_predicate(tbl, predicate): validate a custom scope when it
 * is defined.  It must parse as one boolean expression over the table's
 * columns, call no volatile function and read no view or catalog table.
 */
PG_FUNCTION_INFO_V1(crmperm_check_predicate);
Datum
crmperm_check_predicate(PG_FUNCTION_ARGS)
{
	Relation	relation = relation_open(PG_GETARG_OID(0), AccessShareLock);
	Node	   *expr = crm_analyze_predicate(relation, text_to_cstring(PG_GETARG_TEXT_PP(1)));

	if (contain_volatile_functions(expr))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("scope predicate must not call volatile functions"),
				 errdetail("A scope is evaluated for every row and every query; its result must not change within a statement."),
				 errhint("Use stable functions such as crmperm.user_id().")));
	crm_extension_active();
	check_predicate_objects(expr, relation->rd_rel->relowner);
	relation_close(relation, AccessShareLock);
	PG_RETURN_VOID();
}

/* Context for errors while a stored custom scope is rebuilt. */
typedef struct ScopeErrorContext
{
	const char *resource;
	const char *scope;
} ScopeErrorContext;

static void
scope_error_callback(void *arg)
{
	ScopeErrorContext *ctx = arg;

	errcontext("crmperm scope \"%s\" of resource \"%s\"", ctx->scope, ctx->resource);
}

/* statement_timestamp() < until: a scope that ends, checked at execution. */
#define TIMESTAMPTZ_LT_OPERATOR 1322	/* <(timestamptz, timestamptz) */

static Node *
before(TimestampTz until)
{
	Expr	   *now = (Expr *) makeFuncExpr(F_STATEMENT_TIMESTAMP, TIMESTAMPTZOID, NIL,
											InvalidOid, InvalidOid, COERCE_EXPLICIT_CALL);
	Expr	   *end = (Expr *) makeConst(TIMESTAMPTZOID, -1, InvalidOid, sizeof(TimestampTz),
										 TimestampTzGetDatum(until), false, FLOAT8PASSBYVAL);
	OpExpr	   *op = (OpExpr *) make_opclause(TIMESTAMPTZ_LT_OPERATOR, BOOLOID, false,
											  now, end, InvalidOid, InvalidOid);

	op->opfuncid = F_TIMESTAMPTZ_LT;
	return (Node *) op;
}

/*
 * The qual of one granted scope for a principal and action, or NULL when it
 * matches no row (a principal without the attribute, an unknown custom
 * scope, no parent).  A scope that ends carries its end, so a cached plan
 * stops matching at that moment.  A custom scope defined before 1.5 under the
 * name parent or assigned keeps its meaning.
 */
static Node *
scope_qual(ParseState *pstate, Relation relation, const CrmRelation *rel,
		   const CrmPrincipal *p, const CrmScope *scope, const char *action)
{
	Node	   *qual = NULL;
	bool		custom = crm_scope_def(rel->resource, scope->name) != NULL;

	if (strcmp(scope->name, "all") == 0)
		qual = NULL;
	else if (strcmp(scope->name, "parent") == 0 && !custom)
	{
		/*
		 * Field privileges are built into the query after the rewriter, where
		 * no row security reaches the parent: they cover no row by parent.
		 */
		if (action == NULL)
			return NULL;
		qual = crm_parent_qual(pstate, relation, rel, p->roleid, action);
		if (qual == NULL)
			return NULL;
	}
	else if (strcmp(scope->name, "assigned") == 0 && !custom)
	{
		qual = crm_record_keys_qual(pstate, relation, "team", rel->resource, NULL, p->roleid);
		if (qual == NULL)
			return NULL;
	}
	else if (strcmp(scope->name, "owned") == 0)
	{
		if (p->user_id == NULL || NameStr(rel->owner_column)[0] == '\0')
			return NULL;
		qual = analyze_qual(pstate, column_matches(NameStr(rel->owner_column), p->user_id, false));
	}
	else if (strcmp(scope->name, "team") == 0)
	{
		if (p->team_ids == NIL || NameStr(rel->team_column)[0] == '\0')
			return NULL;
		qual = analyze_qual(pstate, column_matches(NameStr(rel->team_column),
												   array_literal(p->team_ids), true));
	}
	else if (strcmp(scope->name, "department") == 0)
	{
		if (p->department_ids == NIL || NameStr(rel->department_column)[0] == '\0')
			return NULL;
		qual = analyze_qual(pstate, column_matches(NameStr(rel->department_column),
												   array_literal(p->department_ids), true));
	}
	else
	{
		const CrmScopeDef *def = crm_scope_def(rel->resource, scope->name);
		ScopeErrorContext ctx = {rel->resource, scope->name};
		ErrorContextCallback callback;

		if (def == NULL)
			return NULL;
		callback.callback = scope_error_callback;
		callback.arg = &ctx;
		callback.previous = error_context_stack;
		error_context_stack = &callback;
		qual = analyze_predicate(pstate, def->raw);
		check_predicate_objects(qual, rel->relowner);
		error_context_stack = callback.previous;
		/* (the same for a field privilege whose scope reads a managed table) */
		if (crm_mark_scope_reads(qual) && action == NULL)
			return NULL;
	}

	if (scope->until == DT_NOEND)
		return qual ? qual : make_bool(true);
	return qual ? (Node *) makeBoolExpr(AND_EXPR, list_make2(qual, before(scope->until)), -1)
		: before(scope->until);
}

static Node *
text_const(const char *value)
{
	return (Node *) makeConst(TEXTOID, -1, DEFAULT_COLLATION_OID, -1,
							  CStringGetTextDatum(value), false, false);
}

/*
 * WITH CHECK of a write that must stay inside a boundary: fn(qual, resource,
 * action, what) returns true or raises crmperm's denial naming the resource
 * and the scope or tenant column (PostgreSQL's own WITH CHECK failure names
 * neither).
 */
Node *
crm_named_check(Oid fn, Node *qual, const char *resource, int action, const char *what)
{
	return (Node *) makeFuncExpr(fn, BOOLOID,
								 list_make4(qual, text_const(resource),
											text_const(crm_action_name(action)),
											text_const(what)),
								 InvalidOid, DEFAULT_COLLATION_OID, CRM_CALL_FORMAT);
}

/*
 * A policy for the planner, from a cached entry.  The quals are copied: the
 * cache may be rebuilt by a later hook call before core copies them itself.
 * The role array is core's to read only while it filters this hook's
 * policies, right after the hook returns, so the cached one is handed over.
 */
static RowSecurityPolicy *
make_policy(const CrmPolicy *entry)
{
	RowSecurityPolicy *policy = palloc0(sizeof(RowSecurityPolicy));

	policy->policy_name = pstrdup(entry->name);
	policy->polcmd = '*';
	policy->roles = entry->roles;
	policy->qual = copyObject(entry->qual);
	policy->with_check_qual = copyObject(entry->with_check);
	policy->hassublinks = entry->hassublinks;
	policy->permissive = !entry->key.restrictive;
	return policy;
}

/*
 * Store a built qual in a cache entry (in the cache's memory).  With "what"
 * (the scopes, or the tenant column), a create or update is checked with
 * crmperm's named denial; otherwise WITH CHECK is the qual itself.
 */
static void
store_policy(CrmPolicy *entry, Node *qual, const char *resource, const char *what,
			 bool hassublinks)
{
	MemoryContext old = MemoryContextSwitchTo(crm_cache_memory());
	Datum		role = ObjectIdGetDatum(entry->key.roleid);
	int			action = entry->key.action;

	entry->none = false;
	entry->roles = construct_array(&role, 1, OIDOID, sizeof(Oid), true, TYPALIGN_INT);
	entry->qual = copyObject((Expr *) qual);
	entry->with_check = copyObject((Expr *)
								   ((what && (action == CRM_CREATE || action == CRM_UPDATE)) ?
									crm_named_check(crm_check_function(entry->key.restrictive ?
																	   CRM_CHECK_TENANT : CRM_CHECK_SCOPE),
												qual, resource, action, what) : qual));
	entry->hassublinks = hassublinks;
	MemoryContextSwitchTo(old);
}

/*
 * The scopes of a role on a relation OR-ed, as a qual over the relation
 * (varno 1): true for NIL (every row), false when none matches a row.  With
 * an action (NULL for a field privilege), also the rows shared with the role
 * for it.  With names, also "owned or team" for messages.
 */
Node *
crm_scopes_qual(Relation relation, Oid roleid, List *scopes, const char *action,
				char **names, bool *hassublinks)
{
	const CrmRelation *rel = crm_relation(RelationGetRelid(relation));
	List	   *ors = NIL;
	ParseState *pstate;
	ListCell   *lc;
	StringInfoData buf;
	Node	   *qual;

	*hassublinks = false;
	if (scopes == NIL)
	{
		if (names)
			*names = pstrdup("all");
		return make_bool(true);
	}
	pstate = policy_parsestate(relation);
	initStringInfo(&buf);
	foreach(lc, scopes)
	{
		CrmScope   *scope = lfirst(lc);
		Node	   *one = scope_qual(pstate, relation, rel, crm_principal(roleid), scope, action);

		if (one)
			ors = lappend(ors, one);
		appendStringInfo(&buf, "%s%s", buf.len ? " or " : "", scope->name);
	}
	/* rows shared for the action (none for create: a share names a row) */
	if (action != NULL && rel->shared && strcmp(action, "create") != 0 &&
		(row_check_shares || RelationGetRelid(relation) != row_check_relid))
	{
		Node	   *shared = crm_record_keys_qual(pstate, relation, "share", rel->resource,
												  action, roleid);

		if (shared)
			ors = lappend(ors, shared);
	}
	qual = ors == NIL ? make_bool(false) :
		list_length(ors) == 1 ? linitial(ors) : (Node *) makeBoolExpr(OR_EXPR, ors, -1);
	*hassublinks = pstate->p_hasSubLinks;
	free_parsestate(pstate);
	if (names)
		*names = buf.data;
	return qual;
}

/*
 * The permissive policy of a governed principal that holds the action: its
 * scopes OR-ed; creates and updates checked with a named denial.
 */
static void
build_permissive(CrmPolicy *entry, Relation relation, const CrmDecision *d, int action)
{
	List	   *scopes = d->scopes[crm_action_index(action)];
	char	   *names;
	bool		hassublinks;
	Node	   *qual;

	qual = crm_scopes_qual(relation, entry->key.roleid, scopes, crm_action_name(action), &names,
						   &hassublinks);
	store_policy(entry, qual, d->resource, scopes ? names : NULL, hassublinks);
}

/*
 * The tenant boundary: for a governed principal on a table with a tenant
 * column, a restrictive policy for every command, whatever was granted.  A
 * principal without a tenant matches no row.
 */
static void
build_restrictive(CrmPolicy *entry, Relation relation, const CrmDecision *d)
{
	const CrmRelation *rel = crm_relation(RelationGetRelid(relation));
	const CrmPrincipal *p;
	Node	   *qual;

	if (d->exemption != CRM_GOVERNED || NameStr(rel->tenant_column)[0] == '\0')
		return;					/* no boundary */
	p = crm_principal(entry->key.roleid);
	if (p->tenant_id == NULL)
		qual = make_bool(false);
	else
	{
		ParseState *pstate = policy_parsestate(relation);

		qual = analyze_qual(pstate, column_matches(NameStr(rel->tenant_column), p->tenant_id, false));
		free_parsestate(pstate);
	}
	store_policy(entry, qual, d->resource, NameStr(rel->tenant_column), false);
}

/*
 * The cached policy of the current role on a relation, built on first use;
 * NULL when there is none (not managed, not granted, no tenant boundary).
 * A failed build leaves nothing behind.
 */
static const CrmPolicy *
current_policy(Relation relation, CmdType cmd, bool restrictive)
{
	Oid			roleid = GetUserId();
	int			action = cmd_action(cmd);
	CrmPolicy  *entry;
	bool		found;

	if (action == 0 || !crm_extension_active())
		return NULL;
	entry = crm_policy_entry(roleid, RelationGetRelid(relation), action, restrictive, &found);
	if (!found)
	{
		entry->none = true;
		PG_TRY();
		{
			CrmDecision d;

			if (crm_decide(roleid, RelationGetRelid(relation), &d))
			{
				if (restrictive)
				{
					strlcpy(entry->name, "crmperm tenant", sizeof(entry->name));
					build_restrictive(entry, relation, &d);
				}
				else
				{
					snprintf(entry->name, sizeof(entry->name), "crmperm %s.%s",
							 d.resource, crm_action_name(action));
					if (d.exemption != CRM_GOVERNED)
						store_policy(entry, make_bool(true), NULL, NULL, false);
					else if (crm_action_allowed(&d, action))
						build_permissive(entry, relation, &d, action);
					/* else no policy: default deny */
				}
			}
		}
		PG_CATCH();
		{
			crm_cache_invalidate();
			PG_RE_THROW();
		}
		PG_END_TRY();
	}
	return entry->none ? NULL : entry;
}

void
crm_scopes_row_check(Oid relid, List *scopes, const char *action, bool shares)
{
	row_check_relid = relid;
	row_check_scopes = scopes;
	row_check_action = action;
	row_check_shares = shares;
}

Oid
crm_scopes_row_check_relid(void)
{
	return row_check_relid;
}

/*
 * The policies of a table an INSERT writes to are asked for the INSERT, then
 * at once for SELECT when the statement also reads it (RETURNING, ON
 * CONFLICT): that read gets them as checks of the new row.  A creator
 * without read gets back what it inserted (crud.c lets only a plain INSERT
 * through): its new rows pass that check.
 */
static Oid	inserting_relid = InvalidOid;

static bool
returning_for_creator(CmdType cmd, Relation relation)
{
	Oid			relid = RelationGetRelid(relation);
	bool		after_insert = cmd == CMD_SELECT && relid == inserting_relid;
	CrmDecision d;

	inserting_relid = cmd == CMD_INSERT ? relid : InvalidOid;
	return after_insert && crm_decide(GetUserId(), relid, &d) &&
		d.exemption == CRM_GOVERNED && !crm_action_allowed(&d, CRM_READ) &&
		crm_action_allowed(&d, CRM_CREATE);
}

static List *
crm_permissive_policies(CmdType cmd, Relation relation)
{
	List	   *policies = prev_permissive ? prev_permissive(cmd, relation) : NIL;
	const CrmPolicy *entry;

	if (crm_extension_active() && returning_for_creator(cmd, relation))
	{
		CrmPolicy  *created = palloc0(sizeof(CrmPolicy));

		created->key.roleid = GetUserId();
		created->key.relid = RelationGetRelid(relation);
		strlcpy(created->name, "crmperm returning of created rows", sizeof(created->name));
		created->roles = construct_array(&(Datum) {ObjectIdGetDatum(GetUserId())}, 1, OIDOID,
										 sizeof(Oid), true, TYPALIGN_INT);
		created->qual = (Expr *) make_bool(true);
		created->with_check = created->qual;
		return lappend(policies, make_policy(created));
	}

	if (OidIsValid(row_check_relid) && RelationGetRelid(relation) == row_check_relid &&
		cmd == CMD_SELECT)
	{
		CrmPolicy  *check = palloc0(sizeof(CrmPolicy));
		bool		hassublinks;
		Node	   *qual = crm_scopes_qual(relation, GetUserId(), row_check_scopes,
										   row_check_action, NULL, &hassublinks);

		check->key.roleid = GetUserId();
		check->key.relid = row_check_relid;
		strlcpy(check->name, "crmperm row check", sizeof(check->name));
		check->roles = construct_array(&(Datum) {ObjectIdGetDatum(GetUserId())}, 1, OIDOID,
									   sizeof(Oid), true, TYPALIGN_INT);
		check->qual = (Expr *) qual;
		check->with_check = (Expr *) qual;
		check->hassublinks = hassublinks;
		return lappend(policies, make_policy(check));
	}
	entry = current_policy(relation, cmd, false);
	return entry ? lappend(policies, make_policy(entry)) : policies;
}

static List *
crm_restrictive_policies(CmdType cmd, Relation relation)
{
	List	   *policies = prev_restrictive ? prev_restrictive(cmd, relation) : NIL;
	const CrmPolicy *entry = current_policy(relation, cmd, true);

	return entry ? lappend(policies, make_policy(entry)) : policies;
}

/*
 * crmperm._in_scope(ok, resource, action, scopes) and
 * crmperm._in_tenant(ok, resource, action, tenant_column): the WITH CHECK of
 * a scoped or tenant-bound create or update.  NULL counts as outside.
 * Only from the call crmperm built (crm_named_check), whose names are
 * constants.
 */
static const char *
check_arg(FunctionCallInfo fcinfo, int n)
{
	if (PG_ARGISNULL(n))
		elog(ERROR, "crmperm check function called with a null name");
	return text_to_cstring(PG_GETARG_TEXT_PP(n));
}

PG_FUNCTION_INFO_V1(crmperm_in_scope);
Datum
crmperm_in_scope(PG_FUNCTION_ARGS)
{
	crm_require_crmperm_call(fcinfo);
	if (!PG_ARGISNULL(0) && PG_GETARG_BOOL(0))
		PG_RETURN_BOOL(true);
	crm_deny_scope(GetUserId(), check_arg(fcinfo, 1), check_arg(fcinfo, 2),
				   check_arg(fcinfo, 3), true, false);
	PG_RETURN_BOOL(false);
}

/*
 * crmperm._field_in_scope(ok, "resource.field", privilege, scopes): a scoped
 * field privilege used on a row outside its scope (the existing row for an
 * update, the new row for a create).
 */
PG_FUNCTION_INFO_V1(crmperm_field_in_scope);
Datum
crmperm_field_in_scope(PG_FUNCTION_ARGS)
{
	crm_require_crmperm_call(fcinfo);
	if (!PG_ARGISNULL(0) && PG_GETARG_BOOL(0))
		PG_RETURN_BOOL(true);
	crm_deny_scope(GetUserId(), check_arg(fcinfo, 1), check_arg(fcinfo, 2),
				   check_arg(fcinfo, 3), strcmp(check_arg(fcinfo, 2), "create") == 0, true);
	PG_RETURN_BOOL(false);
}

PG_FUNCTION_INFO_V1(crmperm_in_tenant);
Datum
crmperm_in_tenant(PG_FUNCTION_ARGS)
{
	crm_require_crmperm_call(fcinfo);
	if (!PG_ARGISNULL(0) && PG_GETARG_BOOL(0))
		PG_RETURN_BOOL(true);
	crm_deny_tenant(GetUserId(), check_arg(fcinfo, 1), check_arg(fcinfo, 2),
					check_arg(fcinfo, 3));
	PG_RETURN_BOOL(false);
}

void
crm_scopes_init(void)
{
	prev_permissive = row_security_policy_hook_permissive;
	row_security_policy_hook_permissive = crm_permissive_policies;
	prev_restrictive = row_security_policy_hook_restrictive;
	row_security_policy_hook_restrictive = crm_restrictive_policies;
}
