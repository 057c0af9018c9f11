/*-------------------------------------------------------------------------
 * utility.c
 *		Utility statements on managed tables: COPY TO and ALTER TABLE.
 *
 * COPY managed TO is rewritten into COPY (SELECT ... FROM ONLY managed) TO,
 * so it is planned like a query (row scopes and masks apply, whoever runs
 * it), and every COPY ... TO is marked so that the executor check asks for
 * the system permission export.  COPY FROM is refused by PostgreSQL itself
 * under row security: bulk load is multi-row INSERT.
 *
 * ALTER TABLE ... DISABLE / NO FORCE ROW LEVEL SECURITY on a managed table is
 * refused to everyone but superusers: crmperm's guarantees rest on it.
 *
 * ALTER TABLE and ALTER TYPE forms that write a sensitive table's rows or a
 * read-only field's values are refused in attach.c.
 *
 * EXPLAIN ANALYZE reading a managed table is refused to governed roles: its
 * "Rows Removed by Filter" counts the rows their scopes hide.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "executor/spi.h"
#include "commands/defrem.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "parser/parse_func.h"
#include "tcop/utility.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"

#include "crmperm.h"

static ProcessUtility_hook_type prev_process_utility = NULL;

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
	Oid			renamed = InvalidOid;
	List	   *dropped_roles;

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
		 IsA(parsetree, AlterEnumStmt)) &&
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

	dropped_roles = roles_to_drop(parsetree);
	PG_TRY();
	{
		if (context_here != CRM_IN_QUERY)
			crm_utility_context = context_here;
		crm_utility_user = GetUserId();
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
	}
	PG_END_TRY();
}

void
crm_utility_init(void)
{
	prev_process_utility = ProcessUtility_hook;
	ProcessUtility_hook = crm_process_utility;
}
