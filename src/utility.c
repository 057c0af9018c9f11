/*-------------------------------------------------------------------------
 * utility.c
 *		Utility statements on managed tables: COPY TO and ALTER TABLE.
 *
 * COPY managed TO is rewritten into COPY (SELECT ... FROM ONLY managed) TO,
 * so it is planned like a query (row scopes and masks apply, whoever runs
 * it), and every COPY ... TO is marked so that the executor check asks for
 * that resource's export (actions.c).  COPY managed FROM STDIN, which
 * PostgreSQL refuses under row security, is done here for a role holding the
 * resource's import: each row is an INSERT as that role, with every check an
 * INSERT gets.
 *
 * ALTER TABLE ... DISABLE / NO FORCE ROW LEVEL SECURITY on a managed table is
 * refused to everyone but superusers: crmperm's guarantees rest on it.
 *
 * ALTER TABLE and ALTER TYPE forms that write a sensitive table's rows or a
 * read-only field's values are refused in attach.c.
 *
 * EXPLAIN ANALYZE reading a managed table is refused to governed roles: its
 * "Rows Removed by Filter" counts the rows their scopes hide.
 *
 * A top-level COPY ... FROM into one of crmperm's own tables is marked while
 * it runs: the audit trigger on crmperm's catalog leaves out the rows that
 * COPY itself loads (pg_restore bringing back the catalog with its audit
 * log), and only those, see crmperm_restoring_copy().
 *
 * A statement's text holding a token is redacted before it is handed on
 * (tokens.c).
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/table.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "commands/copy.h"
#include "commands/defrem.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "parser/parse_func.h"
#include "parser/parse_node.h"
#include "parser/parse_relation.h"
#include "tcop/utility.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/rls.h"

#include "crmperm.h"

PG_FUNCTION_INFO_V1(crmperm_restoring_copy);

static ProcessUtility_hook_type prev_process_utility = NULL;
static ExecutorRun_hook_type prev_executor_run = NULL;
static ExecutorFinish_hook_type prev_executor_finish = NULL;

/*
 * Executors running or finishing (their AFTER triggers fire in
 * ExecutorFinish) in this backend, and the top-level COPY FROM into a
 * crmperm table that is running, with the executor depth it runs at.
 */
static int	executor_depth = 0;
static Oid	copy_from_relid = InvalidOid;
static int	copy_from_depth = 0;

static void
crm_executor_run(CRM_EXECUTOR_RUN_PARAMS)
{
	executor_depth++;
	PG_TRY();
	{
		if (prev_executor_run)
			prev_executor_run(CRM_EXECUTOR_RUN_ARGS);
		else
			standard_ExecutorRun(CRM_EXECUTOR_RUN_ARGS);
	}
	PG_FINALLY();
	{
		executor_depth--;
	}
	PG_END_TRY();
}

static void
crm_executor_finish(QueryDesc *queryDesc)
{
	executor_depth++;
	PG_TRY();
	{
		if (prev_executor_finish)
			prev_executor_finish(queryDesc);
		else
			standard_ExecutorFinish(queryDesc);
	}
	PG_FINALLY();
	{
		executor_depth--;
	}
	PG_END_TRY();
}

/*
 * The relation a top-level COPY ... FROM loads into, if it is one of
 * crmperm's own tables, or InvalidOid.
 */
static Oid
catalog_copy_target(Node *parsetree, ProcessUtilityContext context)
{
	CopyStmt   *copy = (CopyStmt *) parsetree;
	Oid			relid;

	if (!IsA(parsetree, CopyStmt) || !copy->is_from || copy->relation == NULL ||
		context != PROCESS_UTILITY_TOPLEVEL)
		return InvalidOid;
	relid = RangeVarGetRelid(copy->relation, NoLock, true);
	if (!OidIsValid(relid) || get_rel_namespace(relid) != get_namespace_oid("crmperm", true))
		return InvalidOid;
	return relid;
}

/*
 * crmperm._restoring_copy(rel regclass): is this trigger firing for a row
 * that a top-level COPY ... FROM into rel loads itself?  Not for a row
 * written by a function that the COPY runs (a default, a WHERE clause, a
 * trigger): its statement runs in an executor, one level deeper.
 */
Datum
crmperm_restoring_copy(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(!PG_ARGISNULL(0) && OidIsValid(copy_from_relid) &&
				   PG_GETARG_OID(0) == copy_from_relid && executor_depth == copy_from_depth);
}

Oid			crm_utility_user = InvalidOid;

/* COPY rel [(cols)] TO  ->  COPY (SELECT cols FROM ONLY rel) TO, in place. */
static void
rewrite_copy_to(CopyStmt *copy)
{
	SelectStmt *select = makeNode(SelectStmt);
	RangeVar   *from = copyObject(copy->relation);
	ListCell   *lc;

	if (copy->attlist == NIL)
	{
		ColumnRef  *cr = makeNode(ColumnRef);
		ResTarget  *target = makeNode(ResTarget);

		cr->fields = list_make1(makeNode(A_Star));
		cr->location = -1;
		target->val = (Node *) cr;
		target->location = -1;
		select->targetList = list_make1(target);
	}
	foreach(lc, copy->attlist)
	{
		ColumnRef  *cr = makeNode(ColumnRef);
		ResTarget  *target = makeNode(ResTarget);

		cr->fields = list_make1(makeString(strVal(lfirst(lc))));
		cr->location = -1;
		target->name = strVal(lfirst(lc));
		target->val = (Node *) cr;
		target->location = -1;
		select->targetList = lappend(select->targetList, target);
	}
	from->inh = false;
	select->fromClause = list_make1(from);
	copy->query = (Node *) select;
	copy->relation = NULL;
	copy->attlist = NIL;
}

static bool
is_explain_analyze(ExplainStmt *stmt)
{
	ListCell   *lc;

	foreach(lc, stmt->options)
	{
		DefElem    *opt = lfirst(lc);

		if (strcmp(opt->defname, "analyze") == 0 && defGetBoolean(opt))
			return true;
	}
	return false;
}

/* The OID of the managed table (or partition of one) a name denotes, or InvalidOid. */
static Oid
managed_relid(RangeVar *rv)
{
	Oid			relid = RangeVarGetRelid(rv, NoLock, true);

	return OidIsValid(relid) && crm_relation(relid) != NULL ? relid : InvalidOid;
}

/*
 * COPY managed FROM STDIN as a role under row security, with the resource's
 * import: COPY parses the rows (text or CSV), each goes into an INSERT of
 * the listed columns as the role, prepared once (its create grant and
 * scope, the tenant, field create privileges, a sensitive table, triggers,
 * defaults of the columns not listed: what an INSERT gets).
 */
static void
copy_into_managed(CopyStmt *stmt, Oid relid, const char *queryString, QueryCompletion *qc)
{
	const CrmRelation *crm = crm_relation(relid);
	Oid			roleid = GetUserId();
	ParseState *pstate = make_parsestate(NULL);
	Relation	rel;
	TupleDesc	desc;
	CopyFromState cstate;
	StringInfoData sql;
	List	   *columns = NIL;
	Oid		   *argtypes;
	Datum	   *values;
	char	   *nulls;
	SPIPlanPtr	plan;
	ListCell   *lc;
	char	  **fields;
	int			nfields;
	int			n = 0;
	uint64		rows = 0;

	if (!crm_action_held(roleid, crm->resource, "import"))
	{
		if (crm_token_active() && !crm_token_allows_scope(crm->resource, "import"))
			crm_deny_token_scope(crm_token_name(), crm_token_scope_list(), crm->resource,
								 "import");
		crm_deny_named_action(roleid, crm->resource, "import", "COPY ... FROM");
	}
	if (stmt->filename != NULL || stmt->is_program || stmt->whereClause != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("COPY into managed table \"%s\" supports only FROM STDIN without WHERE",
						stmt->relation->relname),
				 errhint("Use COPY ... FROM STDIN (psql's \\copy), and filter the rows before loading them.")));
	foreach(lc, stmt->options)
	{
		DefElem    *opt = lfirst_node(DefElem, lc);

		if (strcmp(opt->defname, "format") == 0 && strcmp(defGetString(opt), "binary") == 0)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("COPY into managed table \"%s\" supports only the text and CSV formats",
							stmt->relation->relname),
					 errhint("Load the rows as text or CSV.")));
	}

	pstate->p_sourcetext = queryString;
	rel = table_open(relid, RowExclusiveLock);
	desc = RelationGetDescr(rel);
	if (stmt->attlist == NIL)
	{
		for (int i = 0; i < desc->natts; i++)
			if (!TupleDescAttr(desc, i)->attisdropped && !TupleDescAttr(desc, i)->attgenerated)
				columns = lappend_int(columns, i + 1);
	}
	else
		foreach(lc, stmt->attlist)
		{
			char	   *name = strVal(lfirst(lc));
			int			attno = attnameAttNum(rel, name, false);

			if (attno == InvalidAttrNumber)
				ereport(ERROR,
						(errcode(ERRCODE_UNDEFINED_COLUMN),
						 errmsg("column \"%s\" of relation \"%s\" does not exist",
								name, RelationGetRelationName(rel))));
			columns = lappend_int(columns, attno);
		}

	/* INSERT INTO t (a, b) VALUES ($1::type_of_a, $2::type_of_b): text in */
	initStringInfo(&sql);
	appendStringInfo(&sql, "INSERT INTO %s (",
					 quote_qualified_identifier(get_namespace_name(RelationGetNamespace(rel)),
												RelationGetRelationName(rel)));
	foreach(lc, columns)
		appendStringInfo(&sql, "%s%s", n++ ? ", " : "",
						 quote_identifier(NameStr(TupleDescAttr(desc, lfirst_int(lc) - 1)->attname)));
	appendStringInfoString(&sql, ") VALUES (");
	n = 0;
	foreach(lc, columns)
	{
		Form_pg_attribute att = TupleDescAttr(desc, lfirst_int(lc) - 1);

		n++;
		appendStringInfo(&sql, "%s$%d::%s", n > 1 ? ", " : "", n,
						 format_type_extended(att->atttypid, att->atttypmod, FORMAT_TYPE_TYPEMOD_GIVEN | FORMAT_TYPE_FORCE_QUALIFY));
	}
	appendStringInfoChar(&sql, ')');
	argtypes = palloc(sizeof(Oid) * n);
	values = palloc(sizeof(Datum) * n);
	nulls = palloc(n);
	for (int i = 0; i < n; i++)
		argtypes[i] = TEXTOID;

	cstate = BeginCopyFrom(pstate, rel, NULL, NULL, false, NULL, stmt->attlist, stmt->options);
	SPI_connect();
	plan = SPI_prepare(sql.data, n, argtypes);
	if (plan == NULL)
		elog(ERROR, "crmperm import: could not prepare the insert: %s",
			 SPI_result_code_string(SPI_result));
	while (NextCopyFromRawFields(cstate, &fields, &nfields))
	{
		if (nfields != n)
			ereport(ERROR,
					(errcode(ERRCODE_BAD_COPY_FILE_FORMAT),
					 nfields < n ? errmsg("missing data for column \"%s\"",
										  NameStr(TupleDescAttr(desc, list_nth_int(columns, nfields) - 1)->attname)) :
					 errmsg("extra data after last expected column"),
					 errcontext("COPY %s, line %llu", RelationGetRelationName(rel),
								(unsigned long long) rows + 1)));
		for (int i = 0; i < n; i++)
		{
			values[i] = fields[i] ? CStringGetTextDatum(fields[i]) : (Datum) 0;
			nulls[i] = fields[i] ? ' ' : 'n';
		}
		if (SPI_execute_plan(plan, values, nulls, false, 0) != SPI_OK_INSERT)
			elog(ERROR, "crmperm import: the insert failed");
		rows += SPI_processed;
	}
	SPI_finish();
	EndCopyFrom(cstate);
	table_close(rel, NoLock);
	if (qc)
		SetQueryCompletion(qc, CMDTAG_COPY, rows);
}

/* Refuse turning row security off (or unforced) on a managed table. */
static void
check_alter_table(AlterTableStmt *stmt)
{
	ListCell   *lc;

	if (superuser() || !OidIsValid(managed_relid(stmt->relation)))
		return;
	foreach(lc, stmt->cmds)
	{
		AlterTableCmd *cmd = lfirst(lc);

		if (cmd->subtype == AT_DisableRowSecurity || cmd->subtype == AT_NoForceRowSecurity)
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("cannot turn off row level security on managed table \"%s\"",
							stmt->relation->relname),
					 errdetail("crmperm enforces row scopes through row level security."),
					 errhint("Stop managing the table with crmperm.unmanage_table().")));
	}
}

/*
 * The relation a CREATE TABLE ... PARTITION OF / INHERITS or an ALTER TABLE
 * ... ATTACH PARTITION adds below another table, or InvalidOid.
 */
static Oid
new_child(Node *parsetree)
{
	if (IsA(parsetree, CreateStmt))
	{
		CreateStmt *create = (CreateStmt *) parsetree;

		if (create->inhRelations != NIL)
			return RangeVarGetRelid(create->relation, NoLock, true);
	}
	else if (IsA(parsetree, AlterTableStmt))
	{
		ListCell   *lc;

		foreach(lc, ((AlterTableStmt *) parsetree)->cmds)
		{
			AlterTableCmd *cmd = lfirst(lc);

			if (cmd->subtype == AT_AttachPartition)
				return RangeVarGetRelid(((PartitionCmd *) cmd->def)->name, NoLock, true);
			if (cmd->subtype == AT_AddInherit)
				return RangeVarGetRelid(((AlterTableStmt *) parsetree)->relation, NoLock, true);
		}
	}
	return InvalidOid;
}

/*
 * A partition or child added below a managed table gets row security
 * enabled and forced, as manage_table() did for the existing ones: queried
 * directly it must show the same rows.  A managed table itself never goes
 * below another table (its rows would be read through the parent without
 * its scopes), and nothing inherits from two managed tables
 * (crmperm._adopt_child() refuses both).
 */
static void
secure_new_child(Oid relid)
{
	if (!OidIsValid(relid))
		return;
	CommandCounterIncrement();	/* see the new pg_inherits row */
	if (!crm_extension_active() || crm_relation(relid) == NULL)
		return;
	SPI_connect();
	crm_spi_query("SELECT crmperm._adopt_child($1::pg_catalog.regclass)", relid);
	SPI_finish();
}

/* A column of a managed table being renamed, or InvalidOid. */
static Oid
renamed_column_table(Node *parsetree)
{
	RenameStmt *stmt = (RenameStmt *) parsetree;
	Oid			relid;

	if (!IsA(parsetree, RenameStmt) || stmt->renameType != OBJECT_COLUMN || !stmt->relation)
		return InvalidOid;
	relid = managed_relid(stmt->relation);
	return OidIsValid(relid) && crm_relation(relid)->toprelid == relid ? relid : InvalidOid;
}

/*
 * After a managed table's column was renamed: its field protection and
 * grants, and the scope columns that named it, follow the new name.
 */
static void
follow_renamed_column(Oid relid, RenameStmt *stmt)
{
	if (!OidIsValid(relid))
		return;
	CommandCounterIncrement();
	SPI_connect();
	crm_spi_query(psprintf("SELECT crmperm._rename_column($1::pg_catalog.regclass, %s, %s)",
						   quote_literal_cstr(stmt->subname), quote_literal_cstr(stmt->newname)),
				  relid);
	SPI_finish();
}

/* The roles DROP ROLE is about to drop (those that exist). */
static List *
roles_to_drop(Node *parsetree)
{
	List	   *roles = NIL;
	ListCell   *lc;

	if (!IsA(parsetree, DropRoleStmt))
		return NIL;
	foreach(lc, ((DropRoleStmt *) parsetree)->roles)
	{
		Oid			roleid = get_rolespec_oid(lfirst(lc), true);

		if (OidIsValid(roleid))
			roles = lappend_oid(roles, roleid);
	}
	return roles;
}

/*
 * After DROP ROLE: remove the dropped roles' rows from crmperm's catalog in
 * this database (crmperm._forget_role(), run as its owner through fmgr, as
 * the admin dispatcher does: whoever may drop the role may clear it).
 * Nothing when crmperm is not installed here.
 */
static void
forget_dropped_roles(List *roles)
{
	Oid			argtype = OIDOID;
	Oid			fn;
	ListCell   *lc;

	if (roles == NIL)
		return;
	fn = LookupFuncName(list_make2(makeString("crmperm"), makeString("_forget_role")),
						1, &argtype, true);
	if (!OidIsValid(fn))
		return;
	CommandCounterIncrement();	/* see the roles gone */
	foreach(lc, roles)
		OidFunctionCall1(fn, ObjectIdGetDatum(lfirst_oid(lc)));
}

static void
crm_process_utility(PlannedStmt *pstmt, const char *queryString, bool readOnlyTree,
					ProcessUtilityContext context, ParamListInfo params,
					QueryEnvironment *queryEnv, DestReceiver *dest, QueryCompletion *qc)
{
	Node	   *parsetree = pstmt->utilityStmt;
	CrmUtilityContext context_here = CRM_IN_QUERY;
	CrmUtilityContext save_context = crm_utility_context;
	Oid			save_user = crm_utility_user;
	Oid			save_copy_from = copy_from_relid;
	int			save_copy_depth = copy_from_depth;
	Oid			renamed = InvalidOid;
	Oid			copy_target;
	List	   *dropped_roles;

	queryString = crm_token_redact_query(queryString);
	crm_audit_set_command(parsetree);
	if (crm_token_active())
		crm_token_check_utility(parsetree);

	/*
	 * Only the statements acted on here look at the cache: loading it runs
	 * queries, which take a snapshot, after which BEGIN ISOLATION LEVEL and
	 * SET TRANSACTION are refused.
	 */
	if ((IsA(parsetree, CopyStmt) || IsA(parsetree, AlterTableStmt) ||
		 IsA(parsetree, ExplainStmt) || IsA(parsetree, RenameStmt) ||
		 IsA(parsetree, AlterEnumStmt) || IsA(parsetree, CallStmt)) &&
		crm_extension_active())
	{
		renamed = renamed_column_table(parsetree);
		if (IsA(parsetree, CopyStmt) && !((CopyStmt *) parsetree)->is_from)
		{
			CopyStmt   *copy = (CopyStmt *) parsetree;
			Oid			relid = copy->relation ? managed_relid(copy->relation) : InvalidOid;

			context_here = CRM_IN_COPY_TO;

			if (OidIsValid(relid))
			{
				/*
				 * PostgreSQL refuses to COPY a partitioned table, except under
				 * row security, where its own rewrite reads ONLY the parent:
				 * an empty export, silently.  Refuse it for everyone.
				 */
				if (get_rel_relkind(relid) == RELKIND_PARTITIONED_TABLE)
					ereport(ERROR,
							(errcode(ERRCODE_WRONG_OBJECT_TYPE),
							 errmsg("cannot copy from partitioned table \"%s\"",
									copy->relation->relname),
							 errhint("Try the COPY (SELECT ...) TO variant.")));
				pstmt = copyObject(pstmt);
				readOnlyTree = false;
				rewrite_copy_to((CopyStmt *) pstmt->utilityStmt);
			}
		}
		else if (IsA(parsetree, CopyStmt) && ((CopyStmt *) parsetree)->relation != NULL)
		{
			CopyStmt   *copy = (CopyStmt *) parsetree;
			Oid			relid = managed_relid(copy->relation);

			/* PostgreSQL refuses COPY FROM wherever row security applies */
			if (OidIsValid(relid) && check_enable_rls(relid, InvalidOid, true) == RLS_ENABLED)
			{
				copy_into_managed(copy, relid, queryString, qc);
				return;
			}
		}
		else if (IsA(parsetree, CallStmt) && crm_routines_keyed())
		{
			/* CALL is not planned: its key argument is checked like a query's */
			pstmt = copyObject(pstmt);
			readOnlyTree = false;
			parsetree = pstmt->utilityStmt;
			crm_actions_key_checks((Node *) ((CallStmt *) parsetree)->funcexpr);
		}
		else if (IsA(parsetree, AlterTableStmt))
		{
			check_alter_table((AlterTableStmt *) parsetree);
			crm_attach_check_alter_table((AlterTableStmt *) parsetree);
		}
		else if (IsA(parsetree, AlterEnumStmt))
			crm_attach_check_alter_enum((AlterEnumStmt *) parsetree);
		else if (IsA(parsetree, ExplainStmt) && is_explain_analyze((ExplainStmt *) parsetree))
			context_here = CRM_IN_EXPLAIN_ANALYZE;
	}
	copy_target = catalog_copy_target(parsetree, context);

	dropped_roles = roles_to_drop(parsetree);
	PG_TRY();
	{
		if (context_here != CRM_IN_QUERY)
			crm_utility_context = context_here;
		crm_utility_user = GetUserId();
		if (OidIsValid(copy_target))
		{
			copy_from_relid = copy_target;
			copy_from_depth = executor_depth;
		}
		if (prev_process_utility)
			prev_process_utility(pstmt, queryString, readOnlyTree, context, params,
								 queryEnv, dest, qc);
		else
			standard_ProcessUtility(pstmt, queryString, readOnlyTree, context, params,
									queryEnv, dest, qc);
		secure_new_child(new_child(parsetree));
		follow_renamed_column(renamed, (RenameStmt *) parsetree);
		forget_dropped_roles(dropped_roles);
	}
	PG_FINALLY();
	{
		crm_utility_context = save_context;
		crm_utility_user = save_user;
		copy_from_relid = save_copy_from;
		copy_from_depth = save_copy_depth;
	}
	PG_END_TRY();
}

void
crm_utility_init(void)
{
	prev_process_utility = ProcessUtility_hook;
	ProcessUtility_hook = crm_process_utility;
	prev_executor_run = ExecutorRun_hook;
	ExecutorRun_hook = crm_executor_run;
	prev_executor_finish = ExecutorFinish_hook;
	ExecutorFinish_hook = crm_executor_finish;
}
