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

#include "catalog/pg_collation.h"
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "parser/parse_clause.h"
#include "parser/parse_collate.h"
#include "parser/parse_func.h"
#include "parser/parse_node.h"
#include "parser/parse_relation.h"
#include "rewrite/rowsecurity.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"

#include "crmperm.h"

static row_security_policy_hook_type prev_permissive = NULL;
static row_security_policy_hook_type prev_restrictive = NULL;

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
column_matches(ParseState *pstate, const char *column, const char *literal, bool any)
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

/* The raw expression of one scope for a principal. */
static Node *
scope_expr(ParseState *pstate, const CrmRelation *rel, const CrmPrincipal *p,
		   const char *scope)
{
	if (strcmp(scope, "owned") == 0)
	{
		if (p->user_id == NULL || NameStr(rel->owner_column)[0] == '\0')
			return NULL;
		return column_matches(pstate, NameStr(rel->owner_column), p->user_id, false);
	}
	if (strcmp(scope, "team") == 0)
	{
		if (p->team_ids == NIL || NameStr(rel->team_column)[0] == '\0')
			return NULL;
		return column_matches(pstate, NameStr(rel->team_column),
							  array_literal(p->team_ids), true);
	}
	if (strcmp(scope, "department") == 0)
	{
		if (p->department_ids == NIL || NameStr(rel->department_column)[0] == '\0')
			return NULL;
		return column_matches(pstate, NameStr(rel->department_column),
							  array_literal(p->department_ids), true);
	}
	/* custom scopes: not yet; match nothing (fail closed) */
	return NULL;
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

static Node *
text_const(const char *value)
{
	return (Node *) makeConst(TEXTOID, -1, DEFAULT_COLLATION_OID, -1,
							  CStringGetTextDatum(value), false, false);
}

/*
 * WITH CHECK for a scoped write: crmperm._in_scope(qual, resource, action,
 * scopes) returns true or raises crmperm's denial naming the resource and
 * the scope (PostgreSQL's own WITH CHECK failure names neither).
 */
static Node *
named_check(Node *qual, const char *resource, int action, List *scopes)
{
	Oid			argtypes[4] = {BOOLOID, TEXTOID, TEXTOID, TEXTOID};
	Oid			fn = LookupFuncName(list_make2(makeString("crmperm"), makeString("_in_scope")),
									4, argtypes, false);
	StringInfoData names;
	ListCell   *lc;

	initStringInfo(&names);
	foreach(lc, scopes)
		appendStringInfo(&names, "%s%s", names.len ? " or " : "", strVal(lfirst(lc)));
	return (Node *) makeFuncExpr(fn, BOOLOID,
								 list_make4(qual, text_const(resource),
											text_const(crm_action_name(action)),
											text_const(names.data)),
								 InvalidOid, DEFAULT_COLLATION_OID, COERCE_EXPLICIT_CALL);
}

static RowSecurityPolicy *
make_policy(const char *name, Oid roleid, Node *qual, bool permissive)
{
	RowSecurityPolicy *policy = palloc0(sizeof(RowSecurityPolicy));
	Datum		role = ObjectIdGetDatum(roleid);

	policy->policy_name = pstrdup(name);
	policy->polcmd = '*';
	policy->roles = construct_array(&role, 1, OIDOID, sizeof(Oid), true, TYPALIGN_INT);
	policy->qual = (Expr *) qual;
	policy->with_check_qual = (Expr *) copyObject(qual);
	policy->hassublinks = false;
	policy->permissive = permissive;
	return policy;
}

static List *
crm_permissive_policies(CmdType cmd, Relation relation)
{
	List	   *policies = prev_permissive ? prev_permissive(cmd, relation) : NIL;
	Oid			roleid = GetUserId();
	int			action = cmd_action(cmd);
	CrmDecision d;
	const CrmPrincipal *p;
	const CrmRelation *rel;
	List	   *scopes;
	List	   *ors = NIL;
	ParseState *pstate;
	ListCell   *lc;
	RowSecurityPolicy *policy;
	char		name[NAMEDATALEN * 2];

	if (action == 0 || !crm_extension_active() ||
		!crm_decide(roleid, RelationGetRelid(relation), &d))
		return policies;

	snprintf(name, sizeof(name), "crmperm %s.%s", d.resource, crm_action_name(action));
	if (d.exemption != CRM_GOVERNED)
		return lappend(policies, make_policy(name, roleid, make_bool(true), true));
	if (!crm_action_allowed(&d, action))
		return policies;		/* no policy: default deny */

	scopes = d.scopes[crm_action_index(action)];
	if (scopes == NIL)
		return lappend(policies, make_policy(name, roleid, make_bool(true), true));

	p = crm_principal(roleid);
	rel = crm_relation(RelationGetRelid(relation));
	pstate = policy_parsestate(relation);
	foreach(lc, scopes)
	{
		Node	   *raw = scope_expr(pstate, rel, p, strVal(lfirst(lc)));

		if (raw)
			ors = lappend(ors, analyze_qual(pstate, raw));
	}
	free_parsestate(pstate);
	policy = make_policy(name, roleid,
						 ors == NIL ? make_bool(false) :
						 list_length(ors) == 1 ? linitial(ors) :
						 (Node *) makeBoolExpr(OR_EXPR, ors, -1), true);
	if (action == CRM_CREATE || action == CRM_UPDATE)
		policy->with_check_qual = (Expr *) named_check((Node *) policy->with_check_qual,
													   d.resource, action, scopes);
	return lappend(policies, policy);
}

/*
 * crmperm._in_scope(ok, resource, action, scopes): the WITH CHECK of a
 * scoped create or update.  NULL counts as outside.
 */
PG_FUNCTION_INFO_V1(crmperm_in_scope);
Datum
crmperm_in_scope(PG_FUNCTION_ARGS)
{
	if (!PG_ARGISNULL(0) && PG_GETARG_BOOL(0))
		PG_RETURN_BOOL(true);
	crm_deny_scope(GetUserId(), text_to_cstring(PG_GETARG_TEXT_PP(1)),
				   text_to_cstring(PG_GETARG_TEXT_PP(2)),
				   text_to_cstring(PG_GETARG_TEXT_PP(3)));
	PG_RETURN_BOOL(false);
}

static List *
crm_restrictive_policies(CmdType cmd, Relation relation)
{
	return prev_restrictive ? prev_restrictive(cmd, relation) : NIL;
}

void
crm_scopes_init(void)
{
	prev_permissive = row_security_policy_hook_permissive;
	row_security_policy_hook_permissive = crm_permissive_policies;
	prev_restrictive = row_security_policy_hook_restrictive;
	row_security_policy_hook_restrictive = crm_restrictive_policies;
}
