/*-------------------------------------------------------------------------
 * crud.c
 *		Per-table CRUD, checked when the executor starts (cached plans
 *		included), and TRUNCATE through the object access hook.
 *
 * ExecutorCheckPerms_hook gets the flat range table of the whole statement:
 * views, sublinks, CTEs and row security sublinks included.  Core ignores a
 * false return, so a denial is raised here.  With ereport_on_violation false
 * (an internal foreign key probe) the hook only answers.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/parallel.h"
#include "catalog/objectaccess.h"
#include "catalog/pg_class.h"
#include "executor/executor.h"
#include "miscadmin.h"
#include "nodes/plannodes.h"

#include "crmperm.h"

CrmUtilityContext crm_utility_context = CRM_IN_QUERY;

static ExecutorCheckPerms_hook_type prev_check_perms = NULL;
static object_access_hook_type prev_object_access = NULL;
static ExecutorStart_hook_type prev_executor_start = NULL;

/* The plans being started, innermost first (their permissions are checked). */
static List *starting = NIL;

/* Checked in this order, so a write is named before the read it implies. */
const int	crm_action_order[CRM_NACTIONS] = {CRM_CREATE, CRM_UPDATE, CRM_DELETE, CRM_READ};

const char *
crm_action_name(int action)
{
	switch (action)
	{
		case CRM_READ:
			return "read";
		case CRM_CREATE:
			return "create";
		case CRM_UPDATE:
			return "update";
		case CRM_DELETE:
			return "delete";
	}
	elog(ERROR, "unexpected crmperm action bit %d", action);
	return NULL;
}

/*
 * The actions a range table entry needs, from PostgreSQL's own required
 * permissions: SELECT (any column read, WHERE and RETURNING included) is
 * read, INSERT create, UPDATE update (SELECT ... FOR UPDATE/SHARE too, as in
 * PostgreSQL), DELETE delete.  MERGE carries the union of its actions.
 */
int
crm_required_actions(AclMode perms)
{
	int			actions = 0;

	if (perms & ACL_SELECT)
		actions |= CRM_READ;
	if (perms & ACL_INSERT)
		actions |= CRM_CREATE;
	if (perms & ACL_UPDATE)
		actions |= CRM_UPDATE;
	if (perms & ACL_DELETE)
		actions |= CRM_DELETE;
	return actions;
}

/*
 * Is range table entry rtindex the table a plain INSERT writes to -- not ON
 * CONFLICT DO UPDATE, not MERGE, not a data-modifying WITH -- in the plan
 * being started?  Its read then only returns the rows the statement inserted
 * (RETURNING).
 */
static bool
plain_insert_target(Index rtindex)
{
	PlannedStmt *stmt = starting ? linitial(starting) : NULL;

	return stmt != NULL && stmt->commandType == CMD_INSERT &&
		list_member_int(stmt->resultRelations, rtindex) &&
		IsA(stmt->planTree, ModifyTable) &&
		((ModifyTable *) stmt->planTree)->onConflictAction != ONCONFLICT_UPDATE;
}

/*
 * A parallel worker process starts one plan its leader sent (and checked):
 * the first ExecutorStart of the process.  Statements a function runs in
 * the worker start later, and are checked here.
 */
static bool shipped_started = false;
static bool in_shipped_start = false;

/* Is this a parallel worker starting the plan its leader checked? */
bool
crm_parallel_shipped_plan(void)
{
	return in_shipped_start;
}

static void
crm_crud_executor_start(QueryDesc *queryDesc, int eflags)
{
	bool		shipped = IsParallelWorker() && !shipped_started;

	shipped_started |= shipped;
	in_shipped_start = shipped;
	starting = lcons(queryDesc->plannedstmt, starting);
	PG_TRY();
	{
		if (prev_executor_start)
			prev_executor_start(queryDesc, eflags);
		else
			standard_ExecutorStart(queryDesc, eflags);
	}
	PG_FINALLY();
	{
		starting = list_delete_first(starting);
		in_shipped_start = false;
	}
	PG_END_TRY();
}

static bool
crm_check_perms(CRM_CHECK_PERMS_PARAMS)
{
	List	   *perminfos = CRM_CHECK_PERMS_PERMINFOS;
	ListCell   *lc;

	if (prev_check_perms && !prev_check_perms(CRM_CHECK_PERMS_ARGS))
		return false;

	/*
	 * A parallel worker runs the plan its leader checked; a statement a
	 * function runs inside the worker is checked here.
	 */
	if (crm_parallel_shipped_plan())
		return true;
	if (crm_token_active() && !crm_token_check_range_table(rangeTable, perminfos, ereport_on_violation))
		return false;
	if (!crm_extension_active_as_planned())
		return true;
	crm_side_channels_statement();

	foreach(lc, rangeTable)
	{
		RangeTblEntry *rte = lfirst(lc);
		CrmPermInfo *perm = crm_perminfo(perminfos, rte);
		Oid			roleid;
		int			needed;
		CrmDecision d;

		/* a relation a scope reads: under its own row security (sharing.c) */
		if (crm_required_perms(perminfos, rte) == 0 || crm_scope_rte(rte))
			continue;
		roleid = crm_perm_role(perm);
		if (!crm_decide(roleid, rte->relid, &d))
			continue;

		needed = crm_required_actions(perm->requiredPerms);
		/* the lookup of require(action, key) reads through the action's scopes */
		if (rte->relid == crm_scopes_row_check_relid())
			needed &= ~CRM_READ;
		/* a creator without read gets back what it inserted (masked) */
		if ((needed & CRM_READ) && (needed & CRM_CREATE) && !crm_action_allowed(&d, CRM_READ) &&
			plain_insert_target(foreach_current_index(lc) + 1))
			needed &= ~CRM_READ;
		for (int i = 0; i < lengthof(crm_action_order); i++)
		{
			int			action = crm_action_order[i];

			if ((needed & action) && !crm_action_allowed(&d, action))
			{
				if (!ereport_on_violation)
					return false;
				crm_deny_action(roleid, &d, action);
			}
		}

		if (d.fields != NIL)
			crm_check_field_writes(roleid, &d, perm);
		crm_check_masked(roleid, &d, rte);
		if (d.exemption != CRM_GOVERNED)
			continue;
		if (crm_utility_context == CRM_IN_EXPLAIN_ANALYZE)
		{
			if (!ereport_on_violation)
				return false;
			crm_deny_explain_analyze(roleid, &d);
		}
		/* resource.export, or the system permission export (every resource) */
		if (crm_utility_context == CRM_IN_COPY_TO && (needed & CRM_READ) &&
			!crm_action_held(roleid, d.resource, "export"))
		{
			if (!ereport_on_violation)
				return false;
			if (crm_token_active() && !crm_token_allows_scope(d.resource, "export"))
				crm_deny_token_scope(crm_token_name(), crm_token_scope_list(), d.resource,
									 "export");
			crm_deny_named_action(roleid, d.resource, "export", "COPY ... TO");
		}
	}
	return true;
}

/*
 * TRUNCATE removes every row at once, past row security: it needs delete
 * with scope all and the system permission bulk.  Called for every relation
 * truncated, partitions and CASCADE targets included.
 */
static void
crm_object_access(ObjectAccessType access, Oid classId, Oid objectId,
				  int subId, void *arg)
{
	if (prev_object_access)
		prev_object_access(access, classId, objectId, subId, arg);

	if (access == OAT_TRUNCATE && classId == RelationRelationId)
	{
		Oid			roleid = GetUserId();
		CrmDecision d;

		if (!crm_extension_active() || !crm_decide(roleid, objectId, &d))
			return;
		if (!crm_action_allowed(&d, CRM_DELETE))
			crm_deny_action(roleid, &d, CRM_DELETE);
		if (d.exemption != CRM_GOVERNED)
			return;
		if (!crm_scopes_include_all(d.scopes[crm_action_index(CRM_DELETE)]))
			crm_deny_truncate_scope(roleid, &d);
		if (!(d.system & CRM_SYS_BULK))
			crm_deny_system(roleid, "bulk", "TRUNCATE");
	}
}

void
crm_crud_init(void)
{
	prev_check_perms = ExecutorCheckPerms_hook;
	ExecutorCheckPerms_hook = crm_check_perms;
	prev_executor_start = ExecutorStart_hook;
	ExecutorStart_hook = crm_crud_executor_start;
	prev_object_access = object_access_hook;
	object_access_hook = crm_object_access;
}
