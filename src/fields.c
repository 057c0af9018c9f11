/*-------------------------------------------------------------------------
 * fields.c
 *		Field security: masks applied inside the query, and the checks on
 *		setting and changing protected fields.
 *
 * Reads.  The planner hook runs after the rewriter (views expanded, row
 * security quals attached to their range table entries) and before
 * planning.  In every query level it replaces each reference to a field the
 * principal may not read with the field's mask: target list, WHERE, JOIN,
 * GROUP BY, HAVING, ORDER BY, window clauses, RETURNING, ON CONFLICT and
 * MERGE actions, sublinks, CTEs, and whole-row references (which become a
 * ROW() of masked columns).  So a predicate sees the mask and infers
 * nothing.  Row security quals, their WITH CHECK options and ON CONFLICT arbiters
 * keep the real columns.  A field read on some rows only (a scoped field
 * grant) becomes CASE WHEN <scope> THEN field ELSE mask END.
 *
 * The principal of a reference is the role PostgreSQL checks it as: a
 * view's owner, or the current role.
 *
 * Two backstops: SQL set-returning functions are not inlined (their bodies
 * would be planned after this hook; needs_fmgr_hook makes the planner leave
 * them as calls, and their bodies are planned on their own, through this
 * hook), and after planning every managed relation with hidden fields in
 * the plan must have been masked here, or the query fails.
 *
 * Writes.  Setting a protected field needs create, changing it update
 * (checked at executor start from insertedCols / updatedCols, cached plans
 * included).  A scoped create or update is checked per row: the new row of
 * an INSERT through a WITH CHECK option, the existing row of an UPDATE by
 * wrapping the new value.
 *
 * The hash mask is an HMAC-SHA-256 keyed with crmperm.secret, which no
 * principal can read; the key never appears in a plan, and the mask
 * function only works where crmperm put it (a direct call could hash
 * guesses).
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/relation.h"
#include "catalog/namespace.h"
#include "access/htup_details.h"
#include "catalog/pg_language.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_type.h"
#include "common/hmac.h"
#include "fmgr.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "optimizer/optimizer.h"
#include "optimizer/planner.h"
#include "parser/parse_coerce.h"
#include "parser/parse_func.h"
#include "parser/parsetree.h"
#include "rewrite/rewriteHandler.h"
#include "rewrite/rewriteManip.h"
#include "rewrite/rowsecurity.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/regproc.h"
#include "utils/rel.h"
#include "utils/syscache.h"
#include "utils/typcache.h"
#include "utils/varlena.h"

#include "crmperm.h"

static planner_hook_type prev_planner = NULL;
static needs_fmgr_hook_type prev_needs_fmgr = NULL;

#define REDACTED_TEXT "****"

/* ---------------------------------------------------------------------------
 * Masks
 * ---------------------------------------------------------------------------
 */

static Oid
mask_function(const char *name)
{
	Oid			argtype = TEXTOID;

	return LookupFuncName(list_make2(makeString("crmperm"), makeString(pstrdup(name))),
						  1, &argtype, false);
}

/* The neutral value "redact" shows for a type, or NULL when there is none. */
static const char *
redact_literal(Oid type)
{
	char		category;
	bool		preferred;

	switch (type)
	{
		case UUIDOID:
			return "00000000-0000-0000-0000-000000000000";
		case JSONOID:
		case JSONBOID:
			return "null";
		case DATEOID:
		case TIMESTAMPOID:
		case TIMESTAMPTZOID:
			return "epoch";
		case TIMEOID:
		case TIMETZOID:
			return "allballs";
	}
	get_type_category_preferred(type, &category, &preferred);
	switch (category)
	{
		case TYPCATEGORY_STRING:
			return REDACTED_TEXT;
		case TYPCATEGORY_NUMERIC:
		case TYPCATEGORY_TIMESPAN:
			return "0";
		case TYPCATEGORY_BOOLEAN:
			return "false";
		case TYPCATEGORY_ARRAY:
			return "{}";
	}
	return NULL;
}

static void
mask_type_error(const char *mask, Oid type)
{
	ereport(ERROR,
			(errcode(ERRCODE_DATATYPE_MISMATCH),
			 errmsg("mask \"%s\" cannot be used on a column of type %s", mask,
					format_type_be(type)),
			 errhint("Use the mask null, or a function f(value) returning %s.",
					 format_type_be(type))));
}

/*
 * Masks computed from a text value cannot honour a domain's constraints
 * (partial, email, hash), nor can a fixed value (redact): refused there.
 */
static void
check_domain(const char *mask, Oid type)
{
	if (type != getBaseType(type) && DomainHasConstraints(type))
		mask_type_error(mask, type);
}

/* fn(column::text)::type, for the masks that work on text. */
static Expr *
text_mask(Var *var, const char *mask)
{
	Oid			base = getBaseType(var->vartype);
	char		category;
	bool		preferred;
	Node	   *arg = (Node *) var;
	FuncExpr   *fn;
	Node	   *result;

	get_type_category_preferred(base, &category, &preferred);
	if (category != TYPCATEGORY_STRING)
		mask_type_error(mask, var->vartype);
	check_domain(mask, var->vartype);
	if (var->vartype != TEXTOID)
		arg = coerce_to_target_type(NULL, arg, var->vartype, TEXTOID, -1,
									COERCION_EXPLICIT, COERCE_IMPLICIT_CAST, -1);
	if (arg == NULL)
		mask_type_error(mask, var->vartype);

	/*
	 * Marked as crmperm's call: the mask functions refuse to run from any
	 * call site crmperm did not build.
	 */
	fn = makeFuncExpr(mask_function(psprintf("_mask_%s", mask)), TEXTOID, list_make1(arg),
					  var->varcollid, var->varcollid, CRM_CALL_FORMAT);
	result = (Node *) fn;
	if (var->vartype != TEXTOID)
		result = coerce_to_target_type(NULL, result, TEXTOID, var->vartype, -1,
									   COERCION_EXPLICIT, COERCE_IMPLICIT_CAST, -1);
	if (result == NULL)
		mask_type_error(mask, var->vartype);
	return (Expr *) result;
}

/*
 * A mask function: f(value) returning the column's type, a plain function
 * (not a set, not an aggregate), in a permanent schema outside crmperm, not
 * SECURITY DEFINER unless a superuser owns it, and owned by a superuser or
 * the table's owner: it runs as the reader with the
 * real value, so whoever owns it could replace it to give values away.
 * Looked up in its schema without the reader's schema privileges (the
 * reader still needs EXECUTE on it).  InvalidOid if there is none there.
 */
static Oid
mask_user_function(Oid nspid, const char *name, Oid type, Oid relowner)
{
	oidvector  *args = buildoidvector(&type, 1);
	Oid			fn = OidIsValid(nspid) ?
		GetSysCacheOid3(PROCNAMEARGSNSP, Anum_pg_proc_oid, CStringGetDatum(name),
						PointerGetDatum(args), ObjectIdGetDatum(nspid)) : InvalidOid;
	HeapTuple	tup;
	Form_pg_proc proc;

	if (!OidIsValid(fn))
		return InvalidOid;
	tup = SearchSysCache1(PROCOID, ObjectIdGetDatum(fn));
	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for function %u", fn);
	proc = (Form_pg_proc) GETSTRUCT(tup);
	if (proc->prorettype != type || proc->proretset || proc->prokind != PROKIND_FUNCTION)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_FUNCTION_DEFINITION),
				 errmsg("mask function %s must return %s", format_procedure(fn),
						format_type_be(type)),
				 errdetail("A mask has the column's type, one value per row.")));
	if (proc->prosecdef && !superuser_arg(proc->proowner))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_FUNCTION_DEFINITION),
				 errmsg("mask function %s must not be SECURITY DEFINER", format_procedure(fn)),
				 errdetail("It is owned by a role that is not a superuser, and would read every value as that role.")));
	if (!superuser_arg(proc->proowner) && proc->proowner != relowner)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_FUNCTION_DEFINITION),
				 errmsg("mask function %s must be owned by a superuser or the table's owner",
						format_procedure(fn)),
				 errdetail("It runs with every real value; its owner could replace it.")));
	/*
	 * It runs in the reader's session: names in its body must not resolve
	 * with the reader's search_path (where the reader's own functions come
	 * first).  C and internal functions resolve no names; a BEGIN ATOMIC
	 * body was resolved when it was created.
	 */
	if (proc->prolang != ClanguageId && proc->prolang != INTERNALlanguageId &&
		heap_attisnull(tup, Anum_pg_proc_prosqlbody, NULL) &&
		!crm_function_pins_search_path(tup))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_FUNCTION_DEFINITION),
				 errmsg("mask function %s must set search_path", format_procedure(fn)),
				 errdetail("It runs in the reader's session, which could otherwise put its own functions in its way."),
				 errhint("ALTER FUNCTION %s SET search_path = pg_catalog, or write its body as BEGIN ATOMIC.",
						 format_procedure(fn))));
	if (proc->pronamespace == get_namespace_oid("crmperm", false) ||
		isAnyTempNamespace(proc->pronamespace))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_FUNCTION_DEFINITION),
				 errmsg("mask function %s is not allowed", format_procedure(fn)),
				 errdetail("Mask functions live in a permanent schema outside crmperm.")));
	ReleaseSysCache(tup);
	return fn;
}

/* A stored mask function, "schema.name". */
static Oid
stored_mask_function(const char *mask, Oid type, Oid relowner)
{
	List	   *names = crm_qualified_name_list(mask);
	char	   *schema;
	char	   *name;
	Oid			fn;

	DeconstructQualifiedName(names, &schema, &name);
	fn = mask_user_function(schema ? get_namespace_oid(schema, true) : InvalidOid, name, type,
							relowner);
	if (!OidIsValid(fn))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_FUNCTION),
				 errmsg("mask function %s(%s) does not exist", mask, format_type_be(type)),
				 errhint("Protect the field again with an existing mask.")));
	return fn;
}


/*
 * The mask of one column, as an expression over its Var (which it may copy
 * in).  Its type is the column's type.
 */
static Expr *
mask_expr(Var *var, const char *mask, Oid relowner)
{
	if (strcmp(mask, "null") == 0)
		return (Expr *) makeNullConst(var->vartype, var->vartypmod, var->varcollid);
	if (strcmp(mask, "redact") == 0)
	{
		const char *literal = redact_literal(getBaseType(var->vartype));
		Oid			input;
		Oid			ioparam;
		int16		typlen;
		bool		typbyval;

		if (literal == NULL)
			mask_type_error(mask, var->vartype);
		check_domain(mask, var->vartype);
		getTypeInputInfo(var->vartype, &input, &ioparam);
		get_typlenbyval(var->vartype, &typlen, &typbyval);
		return (Expr *) makeConst(var->vartype, -1, var->varcollid, typlen,
								  OidInputFunctionCall(input, (char *) literal, ioparam, -1),
								  false, typbyval);
	}
	if (strcmp(mask, "partial") == 0 || strcmp(mask, "email") == 0 ||
		strcmp(mask, "hash") == 0)
		return text_mask(var, mask);

	/* schema.function, as stored */
	return (Expr *) makeFuncExpr(stored_mask_function(mask, var->vartype, relowner),
								 var->vartype, list_make1(var), var->varcollid,
								 var->varcollid, COERCE_EXPLICIT_CALL);
}

static Var *
column_var(Relation relation, AttrNumber attno)
{
	Form_pg_attribute att = TupleDescAttr(RelationGetDescr(relation), attno - 1);

	return makeVar(1, attno, att->atttypid, att->atttypmod, att->attcollation, 0);
}

/*
 * crmperm._check_mask(tbl, field, mask): validate a mask for a column by
 * building it, and return it as stored.  A function name is resolved with
 * the caller's search_path and stored schema-qualified.
 */
PG_FUNCTION_INFO_V1(crmperm_check_mask);
Datum
crmperm_check_mask(PG_FUNCTION_ARGS)
{
	Relation	relation = relation_open(PG_GETARG_OID(0), AccessShareLock);
	AttrNumber	attno = get_attnum(RelationGetRelid(relation), NameStr(*PG_GETARG_NAME(1)));
	char	   *mask = text_to_cstring(PG_GETARG_TEXT_PP(2));
	Var		   *var;
	static const char *const builtin[] = {"null", "redact", "partial", "email", "hash"};

	if (attno <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("column \"%s\" of relation \"%s\" does not exist",
						NameStr(*PG_GETARG_NAME(1)), RelationGetRelationName(relation))));
	var = column_var(relation, attno);

	for (int i = 0; i < lengthof(builtin); i++)
		if (strcmp(mask, builtin[i]) == 0)
		{
			mask_expr(var, mask, relation->rd_rel->relowner);
			relation_close(relation, AccessShareLock);
			PG_RETURN_TEXT_P(cstring_to_text(mask));
		}

	{
		List	   *names = NIL;
		char	   *schema = NULL;
		char	   *name = NULL;
		Oid			fn = InvalidOid;
		ListCell   *lc;
		MemoryContext cxt = CurrentMemoryContext;

		PG_TRY();
		{
			names = crm_qualified_name_list(mask);
		}
		PG_CATCH();
		{
			MemoryContextSwitchTo(cxt);
			FlushErrorState();
			names = NIL;
		}
		PG_END_TRY();
		if (names != NIL && list_length(names) <= 2)
			DeconstructQualifiedName(names, &schema, &name);
		if (name == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("unknown mask \"%s\"", mask),
					 errhint("A mask is null, redact, partial, email, hash, or the name of a function f(value) returning the column's type.")));
		if (schema && strncmp(schema, "pg_temp", 7) == 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_FUNCTION_DEFINITION),
					 errmsg("mask function %s is not allowed", mask),
					 errdetail("Mask functions live in a permanent schema outside crmperm.")));
		if (schema)
			fn = mask_user_function(get_namespace_oid(schema, true), name, var->vartype,
									relation->rd_rel->relowner);
		else
			foreach(lc, crm_caller_search_path())
			{
				if (isAnyTempNamespace(lfirst_oid(lc)))
					continue;
				fn = mask_user_function(lfirst_oid(lc), name, var->vartype,
										relation->rd_rel->relowner);
				if (OidIsValid(fn))
					break;
			}
		if (!OidIsValid(fn))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("unknown mask \"%s\"", mask),
					 errdetail("No function %s(%s) was found.", mask, format_type_be(var->vartype)),
					 errhint("A mask is null, redact, partial, email, hash, or the name of a function f(value) returning the column's type.")));
		relation_close(relation, AccessShareLock);
		PG_RETURN_TEXT_P(cstring_to_text(quote_qualified_identifier(get_namespace_name(get_func_namespace(fn)),
																	 get_func_name(fn))));
	}
}

/* partial: "****" and the last 4 characters ("****" alone when that is all). */
PG_FUNCTION_INFO_V1(crmperm_mask_partial);
Datum
crmperm_mask_partial(PG_FUNCTION_ARGS)
{
	text	   *value;
	const char *s;
	int			len;
	int			chars;
	const char *tail;

	crm_require_crmperm_call(fcinfo);
	value = PG_GETARG_TEXT_PP(0);
	s = VARDATA_ANY(value);
	len = VARSIZE_ANY_EXHDR(value);
	chars = pg_mbstrlen_with_len(s, len);
	tail = s;
	if (chars <= 4)
		PG_RETURN_TEXT_P(cstring_to_text(REDACTED_TEXT));
	for (int i = 0; i < chars - 4; i++)
		tail += pg_mblen(tail);
	PG_RETURN_TEXT_P(cstring_to_text(psprintf(REDACTED_TEXT "%.*s", (int) (s + len - tail), tail)));
}

/* email: the domain, the local part hidden. */
PG_FUNCTION_INFO_V1(crmperm_mask_email);
Datum
crmperm_mask_email(PG_FUNCTION_ARGS)
{
	char	   *value;
	char	   *at;

	crm_require_crmperm_call(fcinfo);
	value = text_to_cstring(PG_GETARG_TEXT_PP(0));
	at = strrchr(value, '@');
	PG_RETURN_TEXT_P(cstring_to_text(at ? psprintf(REDACTED_TEXT "%s", at) : REDACTED_TEXT));
}

/* HMAC-SHA-256 of message with key, into digest (32 bytes: PG_SHA256_DIGEST_LENGTH). */
void
crm_hmac_sha256(const uint8 *key, size_t keylen, const uint8 *message, size_t len,
				uint8 *digest)
{
	pg_hmac_ctx *ctx = pg_hmac_create(PG_SHA256);

	if (ctx == NULL || pg_hmac_init(ctx, key, keylen) < 0 ||
		pg_hmac_update(ctx, message, len) < 0 ||
		pg_hmac_final(ctx, digest, 32) < 0)
	{
		const char *why = ctx ? pg_hmac_error(ctx) : "out of memory";

		pg_hmac_free(ctx);
		elog(ERROR, "could not compute an HMAC: %s", why);
	}
	pg_hmac_free(ctx);
}

/*
 * hash: hex HMAC-SHA-256 of the value, keyed with crmperm's secret.  Only
 * where crmperm put it: called directly, it would hash a dictionary of
 * guesses to compare with masked values.
 */
PG_FUNCTION_INFO_V1(crmperm_mask_hash);
Datum
crmperm_mask_hash(PG_FUNCTION_ARGS)
{
	text	   *value;
	const bytea *key;
	uint8		digest[32];
	char		hex[65];

	crm_require_crmperm_call(fcinfo);
	value = PG_GETARG_TEXT_PP(0);
	crm_extension_active();
	key = crm_hash_key();
	if (key == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("crmperm has no key for the hash mask"),
				 errhint("Protect the field again with crmperm.protect_field(..., mask => 'hash').")));

	crm_hmac_sha256((const uint8 *) VARDATA_ANY(key), VARSIZE_ANY_EXHDR(key),
					(const uint8 *) VARDATA_ANY(value), VARSIZE_ANY_EXHDR(value), digest);
	hex_encode((const char *) digest, sizeof(digest), hex);
	hex[64] = '\0';
	PG_RETURN_TEXT_P(cstring_to_text(hex));
}

/* ---------------------------------------------------------------------------
 * What a principal reads
 * ---------------------------------------------------------------------------
 */

/* CASE WHEN cond THEN result ELSE otherwise END, of the result's type. */
static Expr *
make_case(Expr *cond, Expr *result, Expr *otherwise)
{
	CaseExpr   *c = makeNode(CaseExpr);
	CaseWhen   *w = makeNode(CaseWhen);

	w->expr = cond;
	w->result = result;
	w->location = -1;
	c->casetype = exprType((Node *) result);
	c->casecollid = exprCollation((Node *) result);
	c->args = list_make1(w);
	c->defresult = otherwise;
	c->location = -1;
	return (Expr *) c;
}

/*
 * A generated column computed from a masked field would give its value
 * away: it reads as NULL too, unless it is protected itself (then its own
 * mask is already in the list).  Stored ones, and on 18 virtual ones too:
 * the planner expands those into their expression after this hook, which
 * would read the real field.
 */
static List *
mask_generated(Relation relation, List *tlist)
{
	TupleDesc	desc = RelationGetDescr(relation);
	Bitmapset  *hidden = NULL;
	ListCell   *lc;

	if (tlist == NIL || !desc->constr || !CRM_HAS_GENERATED(desc->constr))
		return tlist;
	foreach(lc, tlist)
		hidden = bms_add_member(hidden, ((TargetEntry *) lfirst(lc))->resno -
								FirstLowInvalidHeapAttributeNumber);
	for (int i = 0; i < desc->constr->num_defval; i++)
	{
		AttrDefault *def = &desc->constr->defval[i];
		Form_pg_attribute att = TupleDescAttr(desc, def->adnum - 1);
		Bitmapset  *uses = NULL;

		if (att->attgenerated == '\0' ||
			bms_is_member(def->adnum - FirstLowInvalidHeapAttributeNumber, hidden))
			continue;
		pull_varattnos(stringToNode(def->adbin), 1, &uses);
		if (bms_overlap(uses, hidden))
			tlist = lappend(tlist, makeTargetEntry((Expr *) makeNullConst(att->atttypid,
																		  att->atttypmod,
																		  att->attcollation),
												   def->adnum, pstrdup(NameStr(att->attname)),
												   false));
	}
	return tlist;
}

/*
 * The read masks of a role on a relation: a target list entry per field it
 * may not read on every row (varno 1), NIL when it reads them all.  Built
 * once per role and relation; a failed build leaves nothing behind.
 */
static List *
read_masks(Oid roleid, const CrmDecision *d, bool *hassublinks)
{
	CrmMasks   *entry;
	Relation	relation;
	List	   *tlist = NIL;
	ListCell   *lc;

	bool		hassub = false;

	*hassublinks = false;
	if (!d->masked || d->exemption != CRM_GOVERNED)
		return NIL;
	entry = crm_masks_entry(roleid, d->relid);
	if (entry->built)
	{
		*hassublinks = entry->hassublinks;
		return entry->tlist;
	}

	relation = relation_open(d->relid, AccessShareLock);
	PG_TRY();
	{
		foreach(lc, d->fields)
		{
			const CrmFieldAccess *fa = lfirst(lc);
			List	   *scopes = fa->scopes[crm_action_index(CRM_READ)];
			Var		   *var = column_var(relation, fa->field->attno);
			Expr	   *expr;

			if ((fa->privileges & CRM_READ) && scopes == NIL)
				continue;		/* read on every row */
			expr = mask_expr(var, fa->field->mask, relation->rd_rel->relowner);
			if (fa->privileges & CRM_READ)
			{
				bool		sub;

				expr = make_case((Expr *) crm_scopes_qual(relation, roleid, scopes, NULL, NULL, &sub),
								 (Expr *) copyObject(var), expr);
				hassub |= sub;
			}
			tlist = lappend(tlist, makeTargetEntry(expr, fa->field->attno,
												   pstrdup(fa->field->name), false));
		}
		tlist = mask_generated(relation, tlist);
	}
	PG_CATCH();
	{
		crm_cache_invalidate();
		PG_RE_THROW();
	}
	PG_END_TRY();
	relation_close(relation, AccessShareLock);

	{
		MemoryContext old = MemoryContextSwitchTo(crm_cache_memory());

		entry->tlist = copyObject(tlist);
		entry->hassublinks = hassub;
		entry->built = true;
		MemoryContextSwitchTo(old);
	}
	*hassublinks = hassub;
	return entry->tlist;
}

static inline Oid
rte_role(Query *q, RangeTblEntry *rte)
{
	return crm_perm_role(crm_perminfo(CRM_QUERY_PERMINFOS(q), rte));
}

/* What mask_var() replaces: one range table entry's Vars, by its masks. */
typedef struct MaskVarsContext
{
	Query	   *query;
	int			rtindex;
	RangeTblEntry *rte;
	List	   *masks;			/* target entries by attno, Vars of rtindex */
} MaskVarsContext;

/*
 * One Var of the entry, at any level: PostgreSQL's own replacement (which
 * expands a whole-row Var and, on 18, keeps a RETURNING old./new. Var's
 * meaning), then the outer joins that null the Var null the mask's Vars too
 * (16+ marks them in varnullingrels, and the planner checks the marks).
 */
static Node *
mask_var(Var *var, replace_rte_variables_context *context)
{
	MaskVarsContext *cxt = context->callback_arg;
	Var		   *level0 = copyObject(var);
	bool		sublinks = false;
	Node	   *result;

	level0->varlevelsup = 0;
	result = crm_replace_vars((Node *) level0, cxt->rtindex, 0, cxt->rte, cxt->masks,
							  cxt->query->resultRelation, REPLACEVARS_CHANGE_VARNO,
							  cxt->rtindex, &sublinks);
	result = crm_add_nullingrels(result, cxt->rtindex, var);
	if (var->varlevelsup > 0)
		IncrementVarSublevelsUp(result, var->varlevelsup, 0);
	return result;
}

/*
 * Replace the Vars of range table entry rtindex (at this query level and
 * below) with masks, outside the row security quals, their WITH CHECK options
 * and ON CONFLICT arbiters.
 */
static void
replace_in_query(Query *q, int rtindex, List *masks)
{
	RangeTblEntry *rte = rt_fetch(rtindex, q->rtable);
	int			n = list_length(q->rtable);
	List	  **security = palloc(sizeof(List *) * n);
	List	   *wco = q->withCheckOptions;
	List	   *view_checks = NIL;
	List	   *arbiter_elems = NIL;
	Node	   *arbiter_where = NULL;
	List	   *excl_tlist = NIL;
	Query	   *result;
	MaskVarsContext cxt;
	ListCell   *lc;
	int			i = 0;

	masks = copyObject(masks);
	ChangeVarNodes((Node *) masks, 1, rtindex, 0);

	/*
	 * Row security quals keep the real columns.  An UPDATE or DELETE through
	 * a security_barrier view also finds the view's WHERE among the target's
	 * security quals, after the row security ones (rewriteTargetView puts it
	 * there before the policies are added in front): that one is the view's,
	 * read like the view, so it is masked.
	 */
	foreach(lc, q->rtable)
	{
		RangeTblEntry *r = lfirst(lc);
		int			rls = list_length(r->securityQuals);

		i++;
		if (i == q->resultRelation && rls > 0 &&
			(q->commandType == CMD_UPDATE || q->commandType == CMD_DELETE))
		{
			List	   *quals = NIL;
			List	   *checks = NIL;
			bool		has_rls = false;
			bool		has_sublinks = false;

			get_row_security_policies(q, r, i, &quals, &checks, &has_rls, &has_sublinks);
			rls = Min(list_length(quals), rls);
		}
		security[i - 1] = list_copy_head(r->securityQuals, rls);
		r->securityQuals = list_copy_tail(r->securityQuals, rls);
	}
	/*
	 * Row security checks keep the real columns; a view's CHECK OPTION is
	 * the view's own WHERE clause, so it reads what the view reads (else its
	 * failures would tell what the masks hide).
	 */
	foreach(lc, wco)
		if (((WithCheckOption *) lfirst(lc))->kind == WCO_VIEW_CHECK)
			view_checks = lappend(view_checks, lfirst(lc));
	q->withCheckOptions = view_checks;
	if (q->onConflict)
	{
		arbiter_elems = q->onConflict->arbiterElems;
		arbiter_where = q->onConflict->arbiterWhere;
		excl_tlist = q->onConflict->exclRelTlist;
		q->onConflict->arbiterElems = NIL;
		q->onConflict->arbiterWhere = NULL;
		q->onConflict->exclRelTlist = NIL;
	}

	cxt.query = q;
	cxt.rtindex = rtindex;
	cxt.rte = rte;
	cxt.masks = masks;
	result = (Query *) replace_rte_variables((Node *) q, rtindex, 0, mask_var, &cxt, NULL);
	memcpy(q, result, sizeof(Query));

	i = 0;
	foreach(lc, q->rtable)
	{
		RangeTblEntry *r = lfirst(lc);

		r->securityQuals = list_concat(security[i++], r->securityQuals);
	}
	view_checks = q->withCheckOptions;
	q->withCheckOptions = NIL;
	foreach(lc, wco)
	{
		WithCheckOption *check = lfirst(lc);

		if (check->kind == WCO_VIEW_CHECK)
		{
			check = linitial(view_checks);
			view_checks = list_delete_first(view_checks);
		}
		q->withCheckOptions = lappend(q->withCheckOptions, check);
	}
	if (q->onConflict)
	{
		q->onConflict->arbiterElems = arbiter_elems;
		q->onConflict->arbiterWhere = arbiter_where;
		q->onConflict->exclRelTlist = excl_tlist;
	}
}

/* ---------------------------------------------------------------------------
 * Scoped writes
 * ---------------------------------------------------------------------------
 */

/* The named check of a scoped field privilege; *hassublinks is set if it has a subquery. */
static Node *
field_scope_check(Relation relation, Oid roleid, const CrmDecision *d,
				  const CrmFieldAccess *fa, int privilege, int varno, bool *hassublinks)
{
	char	   *names;
	bool		sub;
	Node	   *qual = crm_scopes_qual(relation, roleid,
									   fa->scopes[crm_action_index(privilege)], NULL,
									   &names, &sub);

	*hassublinks |= sub;
	ChangeVarNodes(qual, 1, varno, 0);
	return crm_named_check(crm_check_function(CRM_CHECK_FIELD), qual,
						   psprintf("%s.%s", d->resource, fa->field->name), privilege, names);
}

/* new value -> CASE WHEN <the existing row is in scope> THEN new value END */
static void
guard_update_list(List *tlist, Relation relation, Oid roleid, const CrmDecision *d,
				  const CrmFieldAccess *fa, int varno, bool *hassublinks)
{
	ListCell   *lc;

	foreach(lc, tlist)
	{
		TargetEntry *tle = lfirst(lc);

		if (tle->resjunk || tle->resno != fa->field->attno)
			continue;
		tle->expr = make_case((Expr *) field_scope_check(relation, roleid, d, fa, CRM_UPDATE,
														 varno, hassublinks),
							  tle->expr,
							  (Expr *) makeNullConst(exprType((Node *) tle->expr), -1,
													 exprCollation((Node *) tle->expr)));
	}
}

/* Every update of a query (UPDATE, ON CONFLICT DO UPDATE, MERGE) guarded for a field. */
static void
guard_updates(Query *q, Relation relation, Oid roleid, const CrmDecision *d,
			  const CrmFieldAccess *fa, bool *hassublinks)
{
	ListCell   *mc;

	if (q->commandType == CMD_UPDATE)
		guard_update_list(q->targetList, relation, roleid, d, fa, q->resultRelation, hassublinks);
	if (q->onConflict)
		guard_update_list(q->onConflict->onConflictSet, relation, roleid, d, fa,
						  q->resultRelation, hassublinks);
	foreach(mc, q->mergeActionList)
	{
		MergeAction *action = lfirst(mc);

		if (action->commandType == CMD_UPDATE)
			guard_update_list(action->targetList, relation, roleid, d, fa, q->resultRelation,
							  hassublinks);
	}
}

/*
 * ON CONFLICT DO UPDATE ... WHERE reads the existing row, and PostgreSQL
 * runs it before the row security check of that row (the check PostgreSQL
 * keeps as WCO_RLS_CONFLICT_CHECK options): seen on 18, where a leaky
 * function in the WHERE saw a row out of scope and a false WHERE skipped it
 * instead of failing.  So the WHERE becomes
 *	CASE WHEN <those checks> THEN <WHERE> ELSE true END
 * -- it runs only on rows the checks admit, and a row they refuse goes on to
 * the check, which fails as on every version.  The checks keep the real
 * columns: this runs after the masks were put in.
 */
static void
guard_conflict_where(Query *q)
{
	List	   *checks = NIL;
	ListCell   *lc;

	if (q->onConflict == NULL || q->onConflict->action != ONCONFLICT_UPDATE ||
		q->onConflict->onConflictWhere == NULL ||
		crm_relation(rt_fetch(q->resultRelation, q->rtable)->relid) == NULL)
		return;
	foreach(lc, q->withCheckOptions)
	{
		WithCheckOption *wco = lfirst(lc);

		if (wco->kind == WCO_RLS_CONFLICT_CHECK)
			checks = lappend(checks, copyObject(wco->qual));
	}
	if (checks == NIL)
		return;
	q->onConflict->onConflictWhere = (Node *)
		make_case(list_length(checks) == 1 ? linitial(checks) : makeBoolExpr(AND_EXPR, checks, -1),
				  (Expr *) q->onConflict->onConflictWhere,
				  (Expr *) makeBoolConst(true, false));
}

/*
 * Fields that the writer may create or update on some rows only: the row
 * is checked in the query (crmperm's own error names the field).
 */
static void
guard_scoped_writes(Query *q)
{
	RangeTblEntry *rte;
	CrmPermInfo *perm;
	Oid			roleid;
	CrmDecision d;
	ListCell   *lc;
	Relation	relation = NULL;
	const CrmRelation *rel;
	bool		sub = false;

	if (q->resultRelation == 0)
		return;
	rte = rt_fetch(q->resultRelation, q->rtable);
	perm = crm_perminfo(CRM_QUERY_PERMINFOS(q), rte);
	roleid = crm_perm_role(perm);
	if (rte->rtekind != RTE_RELATION || !crm_decide(roleid, rte->relid, &d) ||
		d.exemption != CRM_GOVERNED)
		return;

	foreach(lc, d.fields)
	{
		const CrmFieldAccess *fa = lfirst(lc);
		int			col = fa->field->attno - FirstLowInvalidHeapAttributeNumber;
		bool		create = (fa->privileges & CRM_CREATE) &&
			fa->scopes[crm_action_index(CRM_CREATE)] != NIL &&
			perm != NULL && bms_is_member(col, perm->insertedCols);
		bool		update = (fa->privileges & CRM_UPDATE) &&
			fa->scopes[crm_action_index(CRM_UPDATE)] != NIL &&
			perm != NULL && bms_is_member(col, perm->updatedCols);

		if (!create && !update)
			continue;
		if (relation == NULL)
			relation = relation_open(rte->relid, AccessShareLock);
		if (create)
		{
			WithCheckOption *wco = makeNode(WithCheckOption);

			wco->kind = WCO_RLS_INSERT_CHECK;
			wco->relname = pstrdup(RelationGetRelationName(relation));
			wco->polname = psprintf("crmperm %s.%s.create", d.resource, fa->field->name);
			wco->qual = field_scope_check(relation, roleid, &d, fa, CRM_CREATE,
										  q->resultRelation, &sub);
			wco->cascaded = false;
			q->withCheckOptions = lappend(q->withCheckOptions, wco);
		}
		if (update)
			guard_updates(q, relation, roleid, &d, fa, &sub);
	}

	/*
	 * A row reached through a share (1.5), or through its parent, stays where
	 * it was given: the columns the principal's own update scopes read (owner,
	 * team, department, the parent's foreign key, what its custom scopes read)
	 * change only on rows of those scopes, shares left out.  Else an update
	 * share would let the grantee move the row into its own scopes and keep
	 * it (take it over, reparent it) after the share ends.  (Scope parent
	 * covers no row here: a child is not reparented through its parent.)
	 */
	rel = crm_relation(rte->relid);
	if ((rel->shared || rel->parent[0]) && d.scopes[crm_action_index(CRM_UPDATE)] != NIL &&
		perm != NULL)
	{
		List	   *names = list_make3(pstrdup(NameStr(rel->owner_column)),
									   pstrdup(NameStr(rel->team_column)),
									   pstrdup(NameStr(rel->department_column)));
		Bitmapset  *guarded = NULL;
		ListCell   *nc;
		int			col = -1;

		if (relation == NULL)
			relation = relation_open(rte->relid, AccessShareLock);
		names = list_concat_copy(names, rel->fk_columns);
		foreach(nc, names)
		{
			AttrNumber	attno = ((char *) lfirst(nc))[0] ? get_attnum(rte->relid, lfirst(nc)) : InvalidAttrNumber;

			if (attno > 0)
				guarded = bms_add_member(guarded, attno - FirstLowInvalidHeapAttributeNumber);
		}
		foreach(nc, d.scopes[crm_action_index(CRM_UPDATE)])
			guarded = bms_add_members(guarded, crm_scope_columns(relation, d.resource,
																 ((CrmScope *) lfirst(nc))->name));
		/* a stored generated column among them changes with the columns it is made of */
		while ((col = bms_next_member(guarded, col)) >= 0)
		{
			AttrNumber	attno = col + FirstLowInvalidHeapAttributeNumber;

			if (attno > 0 && TupleDescAttr(RelationGetDescr(relation), attno - 1)->attgenerated)
				pull_varattnos(build_column_default(relation, attno), 1, &guarded);
		}
		col = -1;
		guarded = bms_int_members(guarded, perm->updatedCols);
		while ((col = bms_next_member(guarded, col)) >= 0)
		{
			AttrNumber	attno = col + FirstLowInvalidHeapAttributeNumber;
			CrmField   *field = palloc0(sizeof(CrmField));
			CrmFieldAccess *fa = palloc0(sizeof(CrmFieldAccess));

			if (attno <= 0)
				continue;
			field->attno = attno;
			strlcpy(field->name, get_attname(rte->relid, attno, false), NAMEDATALEN);
			fa->field = field;
			fa->privileges = CRM_UPDATE;
			fa->scopes[crm_action_index(CRM_UPDATE)] = d.scopes[crm_action_index(CRM_UPDATE)];
			guard_updates(q, relation, roleid, &d, fa, &sub);
		}
	}
	if (relation)
		relation_close(relation, AccessShareLock);
	if (sub)
		q->hasSubLinks = true;
}

/* ---------------------------------------------------------------------------
 * The planner hook
 * ---------------------------------------------------------------------------
 */

static bool mask_walker(Node *node, bool *masked);

/* mask_query() left a Citus table's masks to its shards */
static bool masks_left_to_shards = false;

/*
 * Mask one query level and everything below it.  Lower levels first: a
 * level's rewrite copies the levels below, masks included.
 */
static bool
mask_query(Query *q)
{
	bool		masked = false;
	bool		here = false;
	int			rtindex = 0;
	ListCell   *lc;

	query_tree_walker(q, mask_walker, &masked, 0);

	foreach(lc, q->rtable)
	{
		RangeTblEntry *rte = lfirst(lc);
		CrmDecision d;
		List	   *masks;
		bool		sub;

		rtindex++;
		if (q->onConflict && rtindex == q->onConflict->exclRelIndex)
			continue;			/* below */
		/* a relation a scope reads is read with its real values (sharing.c) */
		if (rte->rtekind != RTE_RELATION || crm_scope_rte(rte) ||
			!crm_decide(rte_role(q, rte), rte->relid, &d))
			continue;
		masks = read_masks(rte_role(q, rte), &d, &sub);
		if (masks == NIL)
			continue;
		/* a Citus table's rows are read, and masked, in its shards (citus.c) */
		if (crm_citus_table(rte->relid))
		{
			masks_left_to_shards = true;
			continue;
		}
		replace_in_query(q, rtindex, masks);
		if (sub)
			q->hasSubLinks = true;
		/* seen by the check after planning (the RTE was copied: fetch again) */
		rt_fetch(rtindex, q->rtable)->self_reference = true;
		here = true;
	}

	/*
	 * EXCLUDED is the row the writer proposed: the columns it supplied are
	 * its own values; the others (defaults) are masked like the table.
	 */
	if (q->onConflict && q->onConflict->exclRelIndex > 0)
	{
		RangeTblEntry *target = rt_fetch(q->resultRelation, q->rtable);
		CrmPermInfo *perm = crm_perminfo(CRM_QUERY_PERMINFOS(q), target);
		CrmDecision d;
		List	   *masks;
		List	   *unsupplied = NIL;
		bool		sub;

		if (crm_decide(crm_perm_role(perm), target->relid, &d) &&
			(masks = read_masks(crm_perm_role(perm), &d, &sub)) != NIL)
		{
			foreach(lc, masks)
			{
				TargetEntry *tle = lfirst(lc);

				if (perm == NULL ||
					!bms_is_member(tle->resno - FirstLowInvalidHeapAttributeNumber,
								   perm->insertedCols))
					unsupplied = lappend(unsupplied, tle);
			}
			if (unsupplied)
			{
				replace_in_query(q, q->onConflict->exclRelIndex, unsupplied);
				if (sub)
					q->hasSubLinks = true;
				here = true;
			}
		}
	}

	/*
	 * An INSTEAD OF trigger gets the view's OLD row as the reader sees it:
	 * with masks, which it could write back.  Refused.
	 */
	if ((here || masked) && q->resultRelation > 0 &&
		q->commandType != CMD_INSERT && q->commandType != CMD_SELECT)
	{
		RangeTblEntry *target = rt_fetch(q->resultRelation, q->rtable);

		if (target->relkind == RELKIND_VIEW)
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("cannot change view \"%s\" through its INSTEAD OF trigger: it reads masked fields",
							get_rel_name(target->relid)),
					 errdetail("The trigger's OLD row would hold masks, which it could write back."),
					 errhint("Write to the table, or through a view without INSTEAD OF triggers.")));
	}

	guard_scoped_writes(q);
	guard_conflict_where(q);
	return here || masked;
}

static bool
mask_walker(Node *node, bool *masked)
{
	if (node == NULL)
		return false;
	if (IsA(node, Query))
	{
		if (mask_query((Query *) node))
			*masked = true;
		return false;
	}
	return expression_tree_walker(node, mask_walker, masked);
}

/*
 * After planning: every managed relation whose principal has hidden fields
 * must have been masked above.  One that came in some other way (a function
 * body inlined by the planner, say) fails the query.
 */
static void
check_plan(PlannedStmt *stmt)
{
	List	   *perminfos = CRM_PLAN_PERMINFOS(stmt);
	ListCell   *lc;

	foreach(lc, stmt->rtable)
	{
		RangeTblEntry *rte = lfirst(lc);
		Oid			roleid = crm_perm_role(crm_perminfo(perminfos, rte));
		CrmDecision d;

		/* EXCLUDED of ON CONFLICT (a composite) was handled with its target */
		if (crm_required_perms(perminfos, rte) == 0 || crm_scope_rte(rte) ||
			!crm_decide(roleid, rte->relid, &d))
			continue;
		crm_check_masked(roleid, &d, rte);
	}
}

/*
 * A relation whose principal has hidden fields must have been masked by
 * crm_planner (a Citus table: in its shards).  Checked after planning and
 * again at executor start, for plans made without the planner hook (Citus
 * plans a local shard query with standard_planner, for one).
 */
void
crm_check_masked(Oid roleid, const CrmDecision *d, const RangeTblEntry *rte)
{
	bool		sub;

	/* EXCLUDED of ON CONFLICT (a composite) was handled with its target */
	if (!d->masked || rte->self_reference || rte->relkind == RELKIND_COMPOSITE_TYPE ||
		crm_citus_table(rte->relid))
		return;
	if (read_masks(roleid, d, &sub) != NIL)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied: crmperm could not mask the fields of \"%s\" in this query",
						d->resource),
				 errdetail("The relation reached the plan without passing crmperm's masking.")));
}

static PlannedStmt *
crm_planner(Query *parse, const char *query_string, int cursorOptions,
			ParamListInfo boundParams)
{
	PlannedStmt *result;
	bool		masked = false;
	bool		active;
	Oid			user;
	int			sec_context;

	/* a statement run while Citus executes for a token is planned as its principal */
	if (crm_token_as_principal(&user, &sec_context))
	{
		PG_TRY();
		{
			result = crm_planner(parse, query_string, cursorOptions, boundParams);
		}
		PG_FINALLY();
		{
			SetUserIdAndSecContext(user, sec_context);
		}
		PG_END_TRY();
		return result;
	}
	active = crm_extension_active_as_planned();

	masks_left_to_shards = false;
	if (active)
		masked = mask_query(parse);
	/* under a token: no local fast path (nothing runs locally, tokens.c) */
	if (masks_left_to_shards || (crm_token_active() && crm_citus_query_touches(parse)))
		result = crm_citus_plan_in_shards(prev_planner ? prev_planner : standard_planner,
										  parse, query_string, cursorOptions, boundParams);
	else
		result = prev_planner ? prev_planner(parse, query_string, cursorOptions, boundParams)
			: standard_planner(parse, query_string, cursorOptions, boundParams);

	/*
	 * The cache entries seen above stay valid until the next hook entry; a
	 * catalog change that arrived while planning invalidates this plan too.
	 */
	if (active)
		check_plan(result);
	if (masked)
		result->dependsOnRole = true;
	return result;
}

/*
 * SQL set-returning functions would be inlined into the calling query after
 * the planner hook ran, with their tables unmasked: keep them calls.
 */
static bool
crm_needs_fmgr(Oid fn_oid)
{
	HeapTuple	tup;
	bool		result;

	if (prev_needs_fmgr && prev_needs_fmgr(fn_oid))
		return true;
	if (!crm_extension_active())
		return false;
	tup = SearchSysCache1(PROCOID, ObjectIdGetDatum(fn_oid));
	if (!HeapTupleIsValid(tup))
		return false;
	result = ((Form_pg_proc) GETSTRUCT(tup))->proretset &&
		((Form_pg_proc) GETSTRUCT(tup))->prolang == SQLlanguageId;
	ReleaseSysCache(tup);
	return result;
}

/* ---------------------------------------------------------------------------
 * Field writes, at executor start
 * ---------------------------------------------------------------------------
 */

void
crm_check_field_writes(Oid roleid, const CrmDecision *d, const CrmPermInfo *perm)
{
	ListCell   *lc;

	foreach(lc, d->fields)
	{
		const CrmFieldAccess *fa = lfirst(lc);
		int			col = fa->field->attno - FirstLowInvalidHeapAttributeNumber;

		if (bms_is_member(col, perm->insertedCols) && !crm_field_allowed(d, fa, CRM_CREATE))
			crm_deny_field(roleid, d, fa, CRM_CREATE);
		if (bms_is_member(col, perm->updatedCols) && !crm_field_allowed(d, fa, CRM_UPDATE))
			crm_deny_field(roleid, d, fa, CRM_UPDATE);
	}
}

void
crm_fields_init(void)
{
	prev_planner = planner_hook;
	planner_hook = crm_planner;
	prev_needs_fmgr = needs_fmgr_hook;
	needs_fmgr_hook = crm_needs_fmgr;
}
