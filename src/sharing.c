/*-------------------------------------------------------------------------
 * sharing.c
 *		Record access across tables: rows that follow their parent row
 *		(set_parent(), scope parent), rows shared one by one (share()), rows
 *		of an account team (assign_record(), scope assigned), and custom
 *		scopes that read managed tables.
 *
 * Everything here is part of a row security qual that scopes.c builds for
 * one principal, so the principal's own scopes decide what a scope reads:
 *
 *	- A parent is read in an EXISTS sublink over the parent table, joined on
 *	  the foreign key's own equality operators.  The rewriter applies the
 *	  parent's policies for the same principal to it (its read scope and its
 *	  tenant boundary, built once per plan), and the planner makes a semi-join
 *	  of it that uses the parent's primary key (or a hashed subplan when the
 *	  scope is OR-ed with others).  A write to the child also needs the parent
 *	  row in the principal's update scope, added inside the sublink.
 *	- Shared rows and account teams live in crmperm.record_access, which no
 *	  principal can read.  The qual is key = ANY(ARRAY(SELECT
 *	  crmperm._record_keys(...))): an init plan that reads the principal's
 *	  entries through an index once per execution (so a new share reaches a
 *	  cached plan at once), and an array the child's primary key index can
 *	  use.  _record_keys works only where crmperm put it.
 *
 * The relations a scope reads are marked with an alias no SQL can write (an
 * identifier is at most NAMEDATALEN - 1 bytes): crmperm's executor checks
 * (CRUD, tokens), masks and read audit leave them alone, as they leave the
 * rest of a policy alone.  The principal never sees their rows or columns:
 * the scope reads the real values, under the read table's own row security.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/relation.h"
#include "access/skey.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_collation.h"
#include "catalog/pg_index.h"
#include "catalog/pg_operator.h"
#include "access/transam.h"
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "optimizer/optimizer.h"
#include "parser/parse_collate.h"
#include "parser/parse_expr.h"
#include "parser/parse_node.h"
#include "parser/parser.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"

#include "crmperm.h"

PG_FUNCTION_INFO_V1(crmperm_record_keys);
PG_FUNCTION_INFO_V1(crmperm_predicate_reads);
PG_FUNCTION_INFO_V1(crmperm_deny_record);

/* Longer than any identifier SQL can write: see crm_scope_rte(). */
#define CRM_SCOPE_ALIAS "crmperm scope read: evaluated as the principal, never returned to it"
StaticAssertDecl(sizeof(CRM_SCOPE_ALIAS) > NAMEDATALEN, "scope alias must not be writable in SQL");

/* Is this range table entry a relation a crmperm scope reads? */
bool
crm_scope_rte(const RangeTblEntry *rte)
{
	return rte->rtekind == RTE_RELATION && rte->alias != NULL &&
		strcmp(rte->alias->aliasname, CRM_SCOPE_ALIAS) == 0;
}

/* context: does the qual read a managed table? */
static bool
mark_walker(Node *node, bool *managed)
{
	if (node == NULL)
		return false;
	if (IsA(node, Query))
	{
		ListCell   *lc;

		foreach(lc, ((Query *) node)->rtable)
		{
			RangeTblEntry *rte = lfirst(lc);

			if (rte->rtekind != RTE_RELATION)
				continue;
			rte->alias = makeAlias(CRM_SCOPE_ALIAS, NIL);
			*managed |= crm_relation(rte->relid) != NULL;
		}
		return query_tree_walker((Query *) node, mark_walker, managed, 0);
	}
	return expression_tree_walker(node, mark_walker, managed);
}

/*
 * Mark every relation the subqueries of a scope qual read; does it read a
 * managed table?
 */
bool
crm_mark_scope_reads(Node *qual)
{
	bool		managed = false;

	mark_walker(qual, &managed);
	return managed;
}

/* A table of crmperm's catalog, or an index, by name. */
static Oid
catalog_relid(const char *name)
{
	Oid			relid = get_relname_relid(name, get_namespace_oid("crmperm", false));

	if (!OidIsValid(relid))
		elog(ERROR, "crmperm catalog relation \"%s\" is missing", name);
	return relid;
}

static AttrNumber
attnum_of(TupleDesc desc, const char *name)
{
	for (int i = 0; i < desc->natts; i++)
		if (namestrcmp(&TupleDescAttr(desc, i)->attname, name) == 0)
			return i + 1;
	elog(ERROR, "crmperm catalog column \"%s\" is missing", name);
	return InvalidAttrNumber;
}

static bool
mark_calls_walker(Node *node, Oid *funcid)
{
	if (node == NULL)
		return false;
	if (IsA(node, FuncExpr) && ((FuncExpr *) node)->funcid == *funcid)
		((FuncExpr *) node)->funcformat = CRM_CALL_FORMAT;
	if (IsA(node, Query))
		return query_tree_walker((Query *) node, mark_calls_walker, funcid, 0);
	return expression_tree_walker(node, mark_calls_walker, funcid);
}

/* OPERATOR(schema.name), for an operator by OID. */
static char *
operator_sql(Oid opno)
{
	HeapTuple	tup = SearchSysCache1(OPEROID, ObjectIdGetDatum(opno));
	Form_pg_operator op;
	char	   *result;

	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for operator %u", opno);
	op = (Form_pg_operator) GETSTRUCT(tup);
	result = psprintf("OPERATOR(%s.%s)", quote_identifier(get_namespace_name(op->oprnamespace)),
					  NameStr(op->oprname));
	ReleaseSysCache(tup);
	return result;
}

/* Parse one SQL expression we wrote ourselves. */
static Node *
raw_expression(const char *sql)
{
	List	   *stmts = raw_parser(psprintf("SELECT %s", sql), RAW_PARSE_DEFAULT);
	SelectStmt *select = (SelectStmt *) ((RawStmt *) linitial(stmts))->stmt;

	return ((ResTarget *) linitial(select->targetList))->val;
}

/*
 * Key types whose text form does not depend on the session (DateStyle,
 * IntervalStyle, extra_float_digits, lc_monetary ...): a share's key is
 * stored as text and read back in another session.
 */
static bool
stable_key_type(Oid type)
{
	switch (getBaseType(type))
	{
		case INT2OID:
		case INT4OID:
		case INT8OID:
		case NUMERICOID:
		case TEXTOID:
		case VARCHAROID:
		case BPCHAROID:
		case UUIDOID:
			return true;
		default:
			return false;
	}
}

/*
 * A key argument (anyelement) of the row functions, or the key a row check
 * casts: only a built-in scalar type (or a domain over one), whose casts and
 * output no role but a superuser defined.  A type of the caller's own could
 * bring a cast that runs inside crmperm's SECURITY DEFINER code, or inside a
 * row check, with rights the caller does not have.
 */
void
crm_check_key_type(Oid type)
{
	Oid			base = getBaseType(type);

	if (base >= FirstNormalObjectId || get_typtype(base) != TYPTYPE_BASE ||
		OidIsValid(get_element_type(base)))
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("a key of type %s cannot name a row", format_type_be(type)),
				 errdetail("A key is a value of a built-in scalar type, such as integer, text or uuid.")));
}

/*
 * A relation's one-column primary key of a type shares can name: its name,
 * type and equality operator; false when it has none.
 */
bool
crm_single_key(Relation relation, char **column, Oid *type, Oid *eqop)
{
	Oid			indexoid = crm_primary_key_index(relation);
	HeapTuple	tup;
	Form_pg_index index;
	bool		ok;

	if (!OidIsValid(indexoid))
		return false;
	tup = SearchSysCache1(INDEXRELID, ObjectIdGetDatum(indexoid));
	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for index %u", indexoid);
	index = (Form_pg_index) GETSTRUCT(tup);
	ok = index->indnkeyatts == 1 && index->indkey.values[0] > 0;
	if (ok)
	{
		AttrNumber	attno = index->indkey.values[0];
		bool		isnull;
		Datum		indclass = SysCacheGetAttr(INDEXRELID, tup, Anum_pg_index_indclass, &isnull);
		Oid			opfamily = get_opclass_family(((oidvector *) DatumGetPointer(indclass))->values[0]);

		Oid			opcintype = get_opclass_input_type(((oidvector *) DatumGetPointer(indclass))->values[0]);

		*column = pstrdup(NameStr(TupleDescAttr(RelationGetDescr(relation), attno - 1)->attname));
		*type = TupleDescAttr(RelationGetDescr(relation), attno - 1)->atttypid;
		/* (varchar's index opclass is text's) */
		*eqop = get_opfamily_member(opfamily, opcintype, opcintype, BTEqualStrategyNumber);
		ok = OidIsValid(*eqop) && stable_key_type(*type);
	}
	ReleaseSysCache(tup);
	return ok;
}

/*
 * key = ANY (ARRAY(SELECT k::keytype FROM crmperm._record_keys(kind,
 * resource, action, principal) k)), over the relation of pstate; NULL when
 * the relation has no one-column primary key (it can have no entries).
 */
Node *
crm_record_keys_qual(ParseState *pstate, Relation relation, const char *kind,
					 const char *resource, const char *action, Oid roleid)
{
	char	   *column;
	Oid			type;
	Oid			eqop;
	Node	   *qual;
	const CrmRelation *rel = crm_relation(RelationGetRelid(relation));
	char	   *args;

	if (!crm_single_key(relation, &column, &type, &eqop))
		return NULL;
	args = psprintf("%s, %s, %s, %u::pg_catalog.oid", quote_literal_cstr(kind),
					quote_literal_cstr(resource), action ? quote_literal_cstr(action) : "NULL", roleid);
	/*
	 * A share holds while the row has the owner it was shared under (a row
	 * given to someone else, or deleted and made again under the same key,
	 * is not the row that was shared): the key, then key and owner.
	 */
	/* (a value of the column: char(5), not char, which would cut it to one character) */
	qual = raw_expression(psprintf("%s %s ANY (ARRAY(SELECT r.k::%s FROM crmperm._record_keys(%s, false) AS r(k)))%s",
								   quote_identifier(column), operator_sql(eqop),
								   format_type_extended(type,
														TupleDescAttr(RelationGetDescr(relation),
																	  get_attnum(RelationGetRelid(relation), column) - 1)->atttypmod,
														FORMAT_TYPE_TYPEMOD_GIVEN | FORMAT_TYPE_FORCE_QUALIFY),
								   args,
								   strcmp(kind, "share") == 0 && NameStr(rel->owner_column)[0] ?
								   psprintf(" AND (pg_catalog.octet_length(%s::pg_catalog.text)::pg_catalog.text"
											" OPERATOR(pg_catalog.||) ':' OPERATOR(pg_catalog.||) %s::pg_catalog.text"
											" OPERATOR(pg_catalog.||) COALESCE(%s::pg_catalog.text, ''))"
											" OPERATOR(pg_catalog.=) ANY (ARRAY(SELECT r.k FROM crmperm._record_keys(%s, true) AS r(k)))",
											quote_identifier(column), quote_identifier(column),
											quote_identifier(NameStr(rel->owner_column)), args) : ""));
	qual = transformExpr(pstate, qual, EXPR_KIND_POLICY);
	assign_expr_collations(pstate, qual);
	{
		Oid			fn = crm_record_keys_function();

		mark_calls_walker(qual, &fn);
	}
	return qual;
}

/*
 * The parent scope of a row: EXISTS (SELECT FROM parent WHERE parent.key =
 * child.fk ...), under the parent's own policies; for any action but read
 * also inside the principal's update scope of the parent.  NULL when it
 * matches no row (no parent declared, no foreign key any more, no update on
 * the parent).
 */
Node *
crm_parent_qual(ParseState *pstate, Relation relation, const CrmRelation *rel, Oid roleid,
				const char *action)
{
	const CrmRelation *parent = rel->parent[0] ? crm_relation_by_resource(rel->parent) : NULL;
	Relation	top;
	List	   *fkeys;
	ListCell   *lc;
	StringInfoData sql;
	bool		found = false;
	Node	   *qual;

	if (parent == NULL || rel->fk_columns == NIL)
		return NULL;

	/* the foreign key of the managed table, by its columns */
	initStringInfo(&sql);
	top = relation_open(rel->toprelid, AccessShareLock);
	fkeys = RelationGetFKeyList(top);
	foreach(lc, fkeys)
	{
		ForeignKeyCacheInfo *fk = lfirst(lc);
		int			i = 0;
		ListCell   *cc;

		if (fk->confrelid != parent->toprelid || fk->nkeys != list_length(rel->fk_columns))
			continue;
		foreach(cc, rel->fk_columns)
			if (get_attnum(rel->toprelid, lfirst(cc)) != fk->conkey[i++])
				break;
		if (cc != NULL)
			continue;
		appendStringInfo(&sql, "EXISTS (SELECT FROM %s AS p WHERE ",
						 quote_qualified_identifier(get_namespace_name(get_rel_namespace(parent->toprelid)),
													get_rel_name(parent->toprelid)));
		for (i = 0; i < fk->nkeys; i++)
			appendStringInfo(&sql, "%sp.%s %s %s.%s", i > 0 ? " AND " : "",
							 quote_identifier(get_attname(parent->toprelid, fk->confkey[i], false)),
							 operator_sql(fk->conpfeqop[i]),
							 quote_identifier(RelationGetRelationName(relation)),
							 quote_identifier(list_nth(rel->fk_columns, i)));
		appendStringInfoChar(&sql, ')');
		found = true;
		break;
	}
	relation_close(top, AccessShareLock);
	if (!found)
		return NULL;

	/*
	 * The parent's alias is set in the raw tree (the parser would cut it, and
	 * say so): no name a user writes reaches the parent.
	 */
	qual = raw_expression(sql.data);
	{
		SelectStmt *select = (SelectStmt *) ((SubLink *) qual)->subselect;
		List	   *conds = IsA(select->whereClause, BoolExpr) ?
			((BoolExpr *) select->whereClause)->args : list_make1(select->whereClause);

		((RangeVar *) linitial(select->fromClause))->alias->aliasname = CRM_SCOPE_ALIAS;
		foreach(lc, conds)
			linitial(((ColumnRef *) ((A_Expr *) lfirst(lc))->lexpr)->fields) =
				makeString(CRM_SCOPE_ALIAS);
	}
	qual = transformExpr(pstate, qual, EXPR_KIND_POLICY);
	assign_expr_collations(pstate, qual);

	if (action != NULL && strcmp(action, "read") != 0)
	{
		CrmDecision pd;
		Query	   *sub = (Query *) ((SubLink *) qual)->subselect;

		if (!crm_decide(roleid, parent->toprelid, &pd) || !crm_action_allowed(&pd, CRM_UPDATE))
			return NULL;
		if (pd.exemption == CRM_GOVERNED && pd.scopes[crm_action_index(CRM_UPDATE)] != NIL)
		{
			Relation	prel = relation_open(parent->toprelid, AccessShareLock);
			bool		hassublinks;
			Node	   *extra = crm_scopes_qual(prel, roleid, pd.scopes[crm_action_index(CRM_UPDATE)],
												"update", NULL, &hassublinks);

			relation_close(prel, AccessShareLock);
			sub->jointree->quals = (Node *) make_and_qual(sub->jointree->quals, extra);
			sub->hasSubLinks |= hassublinks;
		}
	}
	crm_mark_scope_reads(qual);
	return qual;
}

/* ---------------------------------------------------------------------------
 * crmperm._record_keys(kind, resource, action, principal, with_owner): the keys of the
 * rows of a resource shared with the principal for an action (kind share),
 * or on whose account team it is (kind team): entries for the role itself,
 * its CRM roles and its teams, not expired.  Only where crmperm put it.
 * ---------------------------------------------------------------------------
 */

/* One grantee's entries, added to the result. */
static void
scan_grantee(Relation heap, Oid indexoid, const char *kind, const char *resource,
			 const char *action, bool with_owner, const char *grantee, Tuplestorestate *store,
			 TupleDesc outdesc)
{
	TupleDesc	desc = RelationGetDescr(heap);
	AttrNumber	a_resource = attnum_of(desc, "resource");
	AttrNumber	a_kind = attnum_of(desc, "kind");
	AttrNumber	a_grantee = attnum_of(desc, "grantee");
	AttrNumber	a_key = attnum_of(desc, "key");
	AttrNumber	a_actions = attnum_of(desc, "actions");
	AttrNumber	a_until = attnum_of(desc, "valid_until");
	AttrNumber	a_owner = attnum_of(desc, "owner_value");
	ScanKeyData keys[3];
	SysScanDesc scan;
	HeapTuple	tup;
	TimestampTz now = GetCurrentStatementStartTimestamp();

	ScanKeyEntryInitialize(&keys[0], 0, a_resource, BTEqualStrategyNumber, InvalidOid,
						   DEFAULT_COLLATION_OID, F_TEXTEQ, CStringGetTextDatum(resource));
	ScanKeyEntryInitialize(&keys[1], 0, a_kind, BTEqualStrategyNumber, InvalidOid,
						   DEFAULT_COLLATION_OID, F_TEXTEQ, CStringGetTextDatum(kind));
	ScanKeyEntryInitialize(&keys[2], 0, a_grantee, BTEqualStrategyNumber, InvalidOid,
						   DEFAULT_COLLATION_OID, F_TEXTEQ, CStringGetTextDatum(grantee));
	scan = systable_beginscan(heap, indexoid, true, GetActiveSnapshot(), 3, keys);
	while ((tup = systable_getnext(scan)) != NULL)
	{
		bool		isnull;
		Datum		until = heap_getattr(tup, a_until, desc, &isnull);
		Datum		key;

		if (!isnull && DatumGetTimestampTz(until) <= now)
			continue;
		if (action != NULL)
		{
			Datum		actions = heap_getattr(tup, a_actions, desc, &isnull);
			List	   *list = crm_text_array_list(actions, isnull, CurrentMemoryContext);
			ListCell   *lc;
			bool		has = false;

			foreach(lc, list)
				has |= strcmp(lfirst(lc), action) == 0;
			if (!has)
				continue;
		}
		key = heap_getattr(tup, a_key, desc, &isnull);
		if (with_owner)
		{
			Datum		owner = heap_getattr(tup, a_owner, desc, &isnull);

			char	   *k = TextDatumGetCString(heap_getattr(tup, a_key, desc, &isnull));

			/* length:key then owner: no owner value can make another pair */
			key = CStringGetTextDatum(psprintf("%d:%s%s", (int) strlen(k), k,
											   isnull ? "" : TextDatumGetCString(owner)));
			isnull = false;
		}
		else
			key = PointerGetDatum(pg_detoast_datum_packed((struct varlena *) DatumGetPointer(key)));
		tuplestore_putvalues(store, outdesc, &key, &isnull);
	}
	systable_endscan(scan);
}

Datum
crmperm_record_keys(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *kind;
	char	   *resource;
	char	   *action;
	const CrmPrincipal *p;
	Relation	heap;
	Oid			indexoid;
	ListCell   *lc;
	bool		with_owner;

	crm_require_crmperm_call(fcinfo);
	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(3) || PG_ARGISNULL(4))
		return (Datum) 0;
	with_owner = PG_GETARG_BOOL(4);
	kind = text_to_cstring(PG_GETARG_TEXT_PP(0));
	resource = text_to_cstring(PG_GETARG_TEXT_PP(1));
	action = PG_ARGISNULL(2) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(2));
	p = crm_principal(PG_GETARG_OID(3));
	if (p == NULL)
		return (Datum) 0;

	heap = table_open(catalog_relid("record_access"), AccessShareLock);
	indexoid = catalog_relid("record_access_lookup");
	scan_grantee(heap, indexoid, kind, resource, action, with_owner, psprintf("p%u", p->roleid),
				 rsinfo->setResult, rsinfo->setDesc);
	foreach(lc, p->roles)
		scan_grantee(heap, indexoid, kind, resource, action, with_owner,
					 psprintf("r%s", (char *) lfirst(lc)),
					 rsinfo->setResult, rsinfo->setDesc);
	foreach(lc, p->team_ids)
		scan_grantee(heap, indexoid, kind, resource, action, with_owner,
					 psprintf("t%s", (char *) lfirst(lc)),
					 rsinfo->setResult, rsinfo->setDesc);
	table_close(heap, AccessShareLock);
	return (Datum) 0;
}

/* ---------------------------------------------------------------------------
 * What scopes read, for refusing loops when a scope or a parent is defined.
 * ---------------------------------------------------------------------------
 */

static bool
reads_walker(Node *node, List **resources)
{
	if (node == NULL)
		return false;
	if (IsA(node, RangeTblEntry))
	{
		RangeTblEntry *rte = (RangeTblEntry *) node;
		const CrmRelation *rel = rte->rtekind == RTE_RELATION ? crm_relation(rte->relid) : NULL;

		if (rel && !list_member(*resources, makeString(pstrdup(rel->resource))))
			*resources = lappend(*resources, makeString(pstrdup(rel->resource)));
		return false;
	}
	if (IsA(node, Query))
		return query_tree_walker((Query *) node, reads_walker, resources, QTW_EXAMINE_RTES_BEFORE);
	return expression_tree_walker(node, reads_walker, resources);
}

/*
 * crmperm._predicate_reads(tbl, predicate): the resources of the managed
 * tables a custom scope predicate reads.
 */
Datum
crmperm_predicate_reads(PG_FUNCTION_ARGS)
{
	Relation	relation;
	Node	   *expr;
	List	   *resources = NIL;
	Datum	   *elems;
	int			n = 0;
	ListCell   *lc;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		PG_RETURN_NULL();
	crm_extension_active();
	relation = relation_open(PG_GETARG_OID(0), AccessShareLock);
	expr = crm_analyze_predicate(relation, text_to_cstring(PG_GETARG_TEXT_PP(1)));
	reads_walker(expr, &resources);
	relation_close(relation, AccessShareLock);
	elems = palloc(sizeof(Datum) * Max(list_length(resources), 1));
	foreach(lc, resources)
		elems[n++] = CStringGetTextDatum(strVal(lfirst(lc)));
	PG_RETURN_ARRAYTYPE_P(construct_array(elems, n, TEXTOID, -1, false, TYPALIGN_INT));
}

/*
 * crmperm._deny_record(resource, key, what, reason): the caller may not
 * share (or assign, unshare, unassign) the row: reason "rights" (not its
 * owner with share, nor an administrator of it) or "tenant" (the grantee is
 * of another tenant).  Audited as the caller, whom the SECURITY DEFINER
 * implementation does not run as.
 */
Datum
crmperm_deny_record(PG_FUNCTION_ARGS)
{
	Oid			caller = crm_admin_caller();
	char	   *resource = PG_ARGISNULL(0) ? "?" : text_to_cstring(PG_GETARG_TEXT_PP(0));
	char	   *key = PG_ARGISNULL(1) ? "?" : text_to_cstring(PG_GETARG_TEXT_PP(1));
	char	   *what = PG_ARGISNULL(2) ? "share" : text_to_cstring(PG_GETARG_TEXT_PP(2));
	bool		tenant = !PG_ARGISNULL(3) && strcmp(text_to_cstring(PG_GETARG_TEXT_PP(3)), "tenant") == 0;
	const CrmRelation *rel;
	Oid			save_user;
	int			save_sec;

	crm_extension_active();
	rel = crm_relation_by_resource(resource);
	GetUserIdAndSecContext(&save_user, &save_sec);
	SetUserIdAndSecContext(caller, save_sec | SECURITY_LOCAL_USERID_CHANGE);
	PG_TRY();
	{
		if (crm_token_active())
			crm_deny_token_system(crm_token_name(), "share", psprintf("crmperm.%s()", what));
		crm_audit_event(CRM_AUDIT_DENIAL, resource, what, -1);
	}
	PG_FINALLY();
	{
		SetUserIdAndSecContext(save_user, save_sec);
	}
	PG_END_TRY();
	if (tenant)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied: role \"%s\" may not %s row %s of \"%s\" across tenants",
						GetUserNameFromId(caller, false), what, crm_quote_arg(key), resource),
				 errdetail("The grantee is of another tenant than the row: the tenant boundary holds for shared and assigned rows.")));
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("permission denied: role \"%s\" may not %s row %s of \"%s\"",
					GetUserNameFromId(caller, false), what, crm_quote_arg(key), resource),
			 rel && NameStr(rel->owner_column)[0] == '\0' ?
			 errdetail("Resource \"%s\" has no owner column: only administrators may %s its rows.",
					   resource, what) :
			 strcmp(what, "share") == 0 || strcmp(what, "unshare") == 0 ?
			 errdetail("Only the row's owner, holding the system permission share and each action it shares, or an administrator may %s it.",
					   what) :
			 errdetail("Only an administrator may %s a row.", what),
			 errhint("Administrators hold manage_permissions (a tenant administrator, for rows of its tenant).")));
	PG_RETURN_VOID();
}
