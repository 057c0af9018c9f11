/*-------------------------------------------------------------------------
 * attach.c
 *		What is attached to a managed table, and DDL that writes its rows.
 *
 * Code attached to a table runs on every principal's rows: triggers (every
 * kind, the internal ones of a foreign key included), rules, native
 * policies (OR-ed with crmperm's), indexes (expressions and predicates),
 * constraints, column defaults and generated columns, extended statistics.
 * A foreign key referencing a managed table probes its hidden keys, and a
 * publication ships its rows.  On a managed table or any partition or child
 * of one, only the managed table's owner by identity (not a member of it), a
 * superuser or a super admin may create these, checked when the object is
 * created (OAT_POST_CREATE), whatever statement creates it; and every
 * function the new object uses must be owned by that owner or a superuser
 * (its owner could replace the code later).
 *
 * DDL that changes stored values, or moves rows in or out, is a write: on a
 * sensitive table only superusers and super admins may run it, as for
 * INSERT, UPDATE and DELETE; on a read-only field the same holds for
 * changing its type or dropping it.  Drops (of a table, a partition or a
 * column, by any statement, CASCADE included) are checked in OAT_DROP, the
 * ALTER TABLE and ALTER TYPE forms in the utility hook (utility.c).
 *
 * Binary upgrade and crmperm's own catalog queries stand aside.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/indexing.h"
#include "catalog/objectaccess.h"
#include "catalog/pg_attrdef.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_constraint.h"
#include "catalog/pg_depend.h"
#include "catalog/pg_index.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_operator.h"
#include "catalog/pg_policy.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_publication_rel.h"
#include "catalog/pg_rewrite.h"
#include "catalog/pg_statistic_ext.h"
#include "catalog/pg_trigger.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "parser/parse_type.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"

#include "crmperm.h"

static object_access_hook_type prev_object_access = NULL;

/*
 * The tuple of a catalog row inserted by the current command (not yet
 * visible to the catalog snapshot), by its OID, or NULL.
 */
static HeapTuple
new_catalog_row(Oid catalog, Oid index, AttrNumber oidattno, Oid oid)
{
	Relation	rel = table_open(catalog, AccessShareLock);
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tup;

	ScanKeyInit(&key, oidattno, BTEqualStrategyNumber, F_OIDEQ, ObjectIdGetDatum(oid));
	/*
	 * The indexes of pg_index and pg_publication_rel do not find the row of
	 * an index or publication member being created (tried): scan the heap.
	 */
	scan = systable_beginscan(rel, index,
							  catalog != IndexRelationId && catalog != PublicationRelRelationId,
							  SnapshotSelf, 1, &key);
	tup = systable_getnext(scan);
	if (HeapTupleIsValid(tup))
		tup = heap_copytuple(tup);
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return tup;
}

/* The OID of the pg_attrdef row of a column, inserted by the current command. */
static Oid
new_attrdef_oid(Oid relid, int attnum)
{
	Relation	rel = table_open(AttrDefaultRelationId, AccessShareLock);
	ScanKeyData key[2];
	SysScanDesc scan;
	HeapTuple	tup;
	Oid			oid = InvalidOid;

	ScanKeyInit(&key[0], Anum_pg_attrdef_adrelid, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(relid));
	ScanKeyInit(&key[1], Anum_pg_attrdef_adnum, BTEqualStrategyNumber, F_INT2EQ,
				Int16GetDatum(attnum));
	scan = systable_beginscan(rel, AttrDefaultIndexId, true, SnapshotSelf, 2, key);
	if (HeapTupleIsValid(tup = systable_getnext(scan)))
		oid = ((Form_pg_attrdef) GETSTRUCT(tup))->oid;
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return oid;
}

/*
 * The role acting: the current role, except in a security-restricted
 * operation, where PostgreSQL runs as the table owner on the caller's behalf
 * (CREATE INDEX builds the index as the owner): there, the role that ran the
 * utility statement.
 */
static Oid
acting_role(void)
{
	Oid			userid;
	int			sec_context;

	GetUserIdAndSecContext(&userid, &sec_context);
	if ((sec_context & SECURITY_RESTRICTED_OPERATION) && OidIsValid(crm_utility_user))
		return crm_utility_user;
	return userid;
}

/* May the current role write past sensitive tables and read-only fields? */
static bool
writes_unrestricted(void)
{
	return crm_role_unrestricted(acting_role());
}

/* A function used by an object attached to a managed table. */
static void
check_function_owner(const CrmRelation *rel, Oid funcid)
{
	HeapTuple	tup = SearchSysCache1(PROCOID, ObjectIdGetDatum(funcid));
	Oid			owner;

	if (!HeapTupleIsValid(tup))
		return;
	owner = ((Form_pg_proc) GETSTRUCT(tup))->proowner;
	ReleaseSysCache(tup);
	if (owner != rel->relowner && !superuser_arg(owner))
		crm_deny_attach_function(acting_role(), rel, funcid, owner);
}

/*
 * Every function the new object depends on (directly, or as an operator's
 * function) must be owned by the managed table's owner or a superuser.
 */
static void
check_dependencies(const CrmRelation *rel, Oid classId, Oid objectId)
{
	Relation	depend = table_open(DependRelationId, AccessShareLock);
	ScanKeyData key[2];
	SysScanDesc scan;
	HeapTuple	tup;
	List	   *funcs = NIL;
	ListCell   *lc;

	ScanKeyInit(&key[0], Anum_pg_depend_classid, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(classId));
	ScanKeyInit(&key[1], Anum_pg_depend_objid, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(objectId));
	scan = systable_beginscan(depend, DependDependerIndexId, true, SnapshotSelf, 2, key);
	while (HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		Form_pg_depend dep = (Form_pg_depend) GETSTRUCT(tup);

		if (dep->refclassid == ProcedureRelationId)
			funcs = lappend_oid(funcs, dep->refobjid);
		else if (dep->refclassid == OperatorRelationId)
			funcs = lappend_oid(funcs, get_opcode(dep->refobjid));
	}
	systable_endscan(scan);
	table_close(depend, AccessShareLock);
	foreach(lc, funcs)
		check_function_owner(rel, lfirst_oid(lc));
}

/*
 * An object attached to relid (what: "create triggers on it", ...): only the
 * managed table's owner by identity, a superuser or a super admin.
 */
static void
check_attachment(Oid relid, const char *what, Oid classId, Oid objectId)
{
	const CrmRelation *rel;

	if (!OidIsValid(relid) || (rel = crm_relation(relid)) == NULL || writes_unrestricted())
		return;
	if (acting_role() != rel->relowner)
		crm_deny_attach(acting_role(), rel, relid, what);
	check_dependencies(rel, classId, objectId);
}

static const CrmField *readonly_field(const CrmRelation *rel, AttrNumber attno,
									  const char *name);
static bool crmperm_member(Oid relid);

static bool
writing_action(char action)
{
	return action == FKCONSTR_ACTION_CASCADE || action == FKCONSTR_ACTION_SETNULL ||
		action == FKCONSTR_ACTION_SETDEFAULT;
}

/*
 * A foreign key of a managed table whose actions write its rows (ON DELETE /
 * ON UPDATE CASCADE, SET NULL, SET DEFAULT): PostgreSQL runs them as the
 * table's owner for whoever changes the referenced row, so they would write
 * a sensitive table, or change a read-only field, for any role that may
 * update or delete the referenced table.
 */
static void
check_cascade(Form_pg_constraint con, HeapTuple tup)
{
	const CrmRelation *rel = crm_relation(con->conrelid);
	int			nkeys;
	AttrNumber	conkey[INDEX_MAX_KEYS];
	AttrNumber	confkey[INDEX_MAX_KEYS];
	AttrNumber	setcols[INDEX_MAX_KEYS];
	int			nsetcols;
	const char *command = "a foreign key whose ON DELETE or ON UPDATE action writes rows";

	if (rel == NULL || writes_unrestricted() ||
		!(writing_action(con->confdeltype) || writing_action(con->confupdtype)))
		return;
	if (rel->sensitive)
		crm_deny_ddl(acting_role(), rel->resource, NULL, command);
	DeconstructFkConstraintRow(tup, &nkeys, conkey, confkey, NULL, NULL, NULL, &nsetcols,
							   setcols);
	for (int i = 0; i < nkeys; i++)
	{
		const CrmField *f = readonly_field(rel, conkey[i], NULL);

		/* ON DELETE CASCADE removes the row; the others change the field */
		if (f && (writing_action(con->confupdtype) ||
				  con->confdeltype == FKCONSTR_ACTION_SETNULL ||
				  con->confdeltype == FKCONSTR_ACTION_SETDEFAULT))
			crm_deny_ddl(acting_role(), rel->resource, f->name, command);
	}
}

/* A new catalog object: is it attached to a managed table? */
static void
check_new_object(Oid classId, Oid objectId, int subId)
{
	HeapTuple	tup = NULL;

	switch (classId)
	{
		case TriggerRelationId:
			tup = new_catalog_row(classId, TriggerOidIndexId, Anum_pg_trigger_oid, objectId);
			if (tup)
				check_attachment(((Form_pg_trigger) GETSTRUCT(tup))->tgrelid,
								 "create triggers on it", classId, objectId);
			break;
		case RewriteRelationId:
			tup = new_catalog_row(classId, RewriteOidIndexId, Anum_pg_rewrite_oid, objectId);
			if (tup)
				check_attachment(((Form_pg_rewrite) GETSTRUCT(tup))->ev_class,
								 "create rules on it", classId, objectId);
			break;
		case PolicyRelationId:
			tup = new_catalog_row(classId, PolicyOidIndexId, Anum_pg_policy_oid, objectId);
			if (tup)
				check_attachment(((Form_pg_policy) GETSTRUCT(tup))->polrelid,
								 "create policies on it", classId, objectId);
			break;
		case StatisticExtRelationId:
			tup = new_catalog_row(classId, StatisticExtOidIndexId, Anum_pg_statistic_ext_oid,
								  objectId);
			if (tup)
				check_attachment(((Form_pg_statistic_ext) GETSTRUCT(tup))->stxrelid,
								 "create statistics objects on it", classId, objectId);
			break;
		case RelationRelationId:
			/* an index (other relations have no pg_index row) */
			tup = new_catalog_row(IndexRelationId, IndexRelidIndexId,
								  Anum_pg_index_indexrelid, objectId);
			if (tup)
				check_attachment(((Form_pg_index) GETSTRUCT(tup))->indrelid,
								 "create indexes on it", classId, objectId);
			break;
		case ConstraintRelationId:
			tup = new_catalog_row(classId, ConstraintOidIndexId, Anum_pg_constraint_oid,
								  objectId);
			if (tup)
			{
				Form_pg_constraint con = (Form_pg_constraint) GETSTRUCT(tup);

				check_attachment(con->confrelid, "create foreign keys referencing it",
								 classId, objectId);
				check_attachment(con->conrelid, "add constraints to it", classId, objectId);
				if (con->contype == CONSTRAINT_FOREIGN)
					check_cascade(con, tup);
			}
			break;
		case AttrDefaultRelationId:
			/* objectId is the relation, subId the column */
			check_attachment(objectId, "set column defaults or generation expressions on it",
							 AttrDefaultRelationId, new_attrdef_oid(objectId, subId));
			break;
		case PublicationRelRelationId:
			tup = new_catalog_row(classId, PublicationRelObjectIndexId,
								  Anum_pg_publication_rel_oid, objectId);
			if (tup)
				check_attachment(((Form_pg_publication_rel) GETSTRUCT(tup))->prrelid,
								 "add it to publications", classId, objectId);
			break;
	}
	if (tup)
		heap_freetuple(tup);
}

/* The read-only protected field of rel at attno, or NULL. */
static const CrmField *
readonly_field(const CrmRelation *rel, AttrNumber attno, const char *name)
{
	ListCell   *lc;

	foreach(lc, rel->fields)
	{
		const CrmField *f = lfirst(lc);

		if (f->readonly && (name ? strcmp(f->name, name) == 0 : f->attno == attno))
			return f;
	}
	return NULL;
}

/*
 * A managed table, partition or column being dropped: every row of a
 * sensitive table, or every value of a read-only field, goes with it.
 */
static void
check_drop(Oid relid, int subId)
{
	const CrmRelation *rel = crm_relation(relid);
	const CrmField *field;

	if (rel == NULL || writes_unrestricted())
		return;
	if (rel->sensitive)
		crm_deny_ddl(acting_role(), rel->resource, NULL,
					 subId == 0 ? (relid == rel->toprelid ? "DROP TABLE" :
								   "DROP TABLE of a partition or child")
					 : "ALTER TABLE ... DROP COLUMN");
	if (subId > 0 && (field = readonly_field(rel, subId, NULL)) != NULL)
		crm_deny_ddl(acting_role(), rel->resource, field->name, "ALTER TABLE ... DROP COLUMN");
}

static void
crm_attach_object_access(ObjectAccessType access, Oid classId, Oid objectId,
						 int subId, void *arg)
{
	if (prev_object_access)
		prev_object_access(access, classId, objectId, subId, arg);

	if (IsBinaryUpgrade)
		return;
	if (access == OAT_POST_CREATE)
	{
		switch (classId)
		{
			case TriggerRelationId:
			case RewriteRelationId:
			case PolicyRelationId:
			case StatisticExtRelationId:
			case RelationRelationId:
			case ConstraintRelationId:
			case AttrDefaultRelationId:
			case PublicationRelRelationId:
				if (crm_extension_active())
					check_new_object(classId, objectId, subId);
				break;
		}
	}
	else if (access == OAT_DROP && classId == RelationRelationId && !crmperm_member(objectId) &&
			 crm_extension_active())
		check_drop(objectId, subId);
}

/*
 * Is the relation crmperm's own (its catalog tables, views, sequences and
 * indexes) or a TOAST table?  Never a managed table: nothing to check.  And
 * DROP EXTENSION crmperm drops them after some of the functions the decision
 * cache reads the catalog with, so the cache must not be loaded for them.
 */
static bool
crmperm_member(Oid relid)
{
	Oid			nsp = get_rel_namespace(relid);

	return nsp == PG_TOAST_NAMESPACE || nsp == get_namespace_oid("crmperm", true);
}

/* Does the new column fill the existing rows with something? */
static bool
column_fills_rows(ColumnDef *def)
{
	ListCell   *lc;
	Oid			typid;
	int32		typmod;

	if (def->raw_default || def->cooked_default || def->identity || def->generated)
		return true;
	foreach(lc, def->constraints)
	{
		ConstrType t = ((Constraint *) lfirst(lc))->contype;

		if (t == CONSTR_DEFAULT || t == CONSTR_GENERATED || t == CONSTR_IDENTITY)
			return true;
	}
	/* serial types become a default when the statement is transformed */
	if (list_length(def->typeName->names) == 1 && !def->typeName->pct_type)
	{
		const char *name = strVal(linitial(def->typeName->names));

		if (strcmp(name, "smallserial") == 0 || strcmp(name, "serial2") == 0 ||
			strcmp(name, "serial") == 0 || strcmp(name, "serial4") == 0 ||
			strcmp(name, "bigserial") == 0 || strcmp(name, "serial8") == 0)
			return true;
	}
	/* a domain's default fills the rows too */
	typenameTypeIdAndMod(NULL, def->typeName, &typid, &typmod);
	return get_typdefault(typid) != NULL;
}

static const CrmRelation *
managed_rangevar(RangeVar *rv)
{
	Oid			relid = RangeVarGetRelid(rv, NoLock, true);

	return OidIsValid(relid) ? crm_relation(relid) : NULL;
}

/*
 * ALTER TABLE subcommands that write a sensitive table's rows (or move rows
 * in or out of it), or a read-only field's values; and a partition or child
 * given to a role other than the managed table's owner.
 */
void
crm_attach_check_alter_table(AlterTableStmt *stmt)
{
	Oid			relid = RangeVarGetRelid(stmt->relation, NoLock, true);
	const CrmRelation *rel = OidIsValid(relid) ? crm_relation(relid) : NULL;
	ListCell   *lc;

	if (writes_unrestricted())
		return;
	foreach(lc, stmt->cmds)
	{
		AlterTableCmd *cmd = lfirst(lc);
		const CrmRelation *parent;
		const CrmField *field;

		switch (cmd->subtype)
		{
			case AT_AlterColumnType:
				if (rel && rel->sensitive)
					crm_deny_ddl(acting_role(), rel->resource, NULL,
								 "ALTER TABLE ... ALTER COLUMN ... TYPE");
				if (rel && (field = readonly_field(rel, InvalidAttrNumber, cmd->name)) != NULL)
					crm_deny_ddl(acting_role(), rel->resource, field->name,
								 "ALTER TABLE ... ALTER COLUMN ... TYPE");
				break;
			case AT_AddColumn:
				if (rel && rel->sensitive && column_fills_rows((ColumnDef *) cmd->def))
					crm_deny_ddl(acting_role(), rel->resource, NULL,
								 "ALTER TABLE ... ADD COLUMN with a default, generated or identity value");
				break;
			case AT_AttachPartition:
				if (rel && rel->sensitive)
					crm_deny_ddl(acting_role(), rel->resource, NULL,
								 "ALTER TABLE ... ATTACH PARTITION");
				break;
			case AT_DetachPartition:
			case AT_DetachPartitionFinalize:
				if (rel && rel->sensitive)
					crm_deny_ddl(acting_role(), rel->resource, NULL,
								 "ALTER TABLE ... DETACH PARTITION");
				break;
			case AT_AddInherit:
				parent = managed_rangevar((RangeVar *) cmd->def);
				if (parent && parent->sensitive)
					crm_deny_ddl(acting_role(), parent->resource, NULL, "ALTER TABLE ... INHERIT");
				break;
			case AT_DropInherit:
				if (rel && rel->sensitive)
					crm_deny_ddl(acting_role(), rel->resource, NULL, "ALTER TABLE ... NO INHERIT");
				break;
			case AT_ChangeOwner:
				if (rel && rel->toprelid != relid)
				{
					Oid			newowner = get_rolespec_oid(cmd->newowner, false);

					if (newowner != rel->relowner && !superuser_arg(newowner))
						crm_deny_child_owner(acting_role(), rel, newowner);
				}
				break;
			default:
				break;
		}
	}
}

/*
 * ALTER TYPE ... RENAME VALUE changes what every stored value of the enum
 * reads as: refused when a sensitive table or a read-only field stores it
 * (directly, in an array, a domain, a range or a composite type).
 */
void
crm_attach_check_alter_enum(AlterEnumStmt *stmt)
{
	Oid			typid;
	char	   *use = NULL;
	MemoryContext caller = CurrentMemoryContext;

	if (stmt->oldVal == NULL || writes_unrestricted())
		return;
	typid = typenameTypeId(NULL, makeTypeNameFromNameList(stmt->typeName));
	SPI_connect();
	crm_spi_query("SELECT crmperm._guarded_type_use($1)", typid);
	if (SPI_processed == 1)
	{
		bool		isnull;
		Datum		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);

		if (!isnull)
			use = MemoryContextStrdup(caller, TextDatumGetCString(d));
	}
	SPI_finish();
	if (use)
		crm_deny_enum_rename(acting_role(), format_type_be(typid), use);
}

void
crm_attach_init(void)
{
	prev_object_access = object_access_hook;
	object_access_hook = crm_attach_object_access;
}
