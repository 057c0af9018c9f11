/*-------------------------------------------------------------------------
 * compat.h
 *		Every difference between the PostgreSQL major versions crmperm is
 *		built against, in one place: 15 (Debian 12), 17 (Debian 13) and 18
 *		(Debian unstable).  The C files use only the names defined here where
 *		the versions differ, so each hook keeps one body that enforces the
 *		same thing on every version.
 *
 * Chosen over per-version branches (pgaudit's way) because crmperm's hooks
 * differ only in signatures and where a few fields live, and one tree keeps
 * a fix from being made three times; chosen over wrapping core functions
 * under their new names (Citus' pg_version_compat.h) because the wrappers
 * here are few enough to name for what crmperm uses them for.
 *
 * What changed, and where it is handled (doc/design.md has the reasons):
 *	16	Vars carry the outer joins that null them (varnullingrels), which the
 *		planner checks: a mask replacing a Var carries them too;
 *		per-relation permissions moved out of RangeTblEntry into
 *		RTEPermissionInfo (Query->rteperminfos, PlannedStmt->permInfos);
 *		ExecutorCheckPerms_hook gets both lists; inheritance children have
 *		no permission entry (15: requiredPerms = 0 on a copy of the parent);
 *		stringToQualifiedNameList takes an error context.
 *	17	OverrideSearchPath is gone: a GUC nest level instead; PGPROC's lxid
 *		moved into vxid.
 *	18	virtual generated columns (expanded by the planner, after the
 *		planner hook); ExecutorRun_hook lost execute_once; ReplaceVarsFromTargetList takes
 *		the result relation (RETURNING OLD/NEW); pg_b64_encode takes bytes.
 *-------------------------------------------------------------------------
 */
#ifndef CRMPERM_COMPAT_H
#define CRMPERM_COMPAT_H

#include "postgres.h"

#include "catalog/namespace.h"
#include "executor/executor.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "nodes/pathnodes.h"
#include "parser/parse_relation.h"
#include "parser/parsetree.h"
#include "rewrite/rewriteManip.h"
#include "storage/proc.h"
#include "utils/guc.h"
#include "utils/regproc.h"

#if PG_VERSION_NUM < 150000 || PG_VERSION_NUM >= 190000
#error "crmperm supports PostgreSQL 15 to 18"
#endif

/*
 * The permissions PostgreSQL checks for one relation of a statement:
 * requiredPerms, checkAsUser, selectedCols, insertedCols, updatedCols have
 * the same names in both structs.  NULL (16+) when the entry has none, as
 * an inheritance child or a relation that is not checked; on 15 the entry
 * itself, whose requiredPerms is then 0.
 */
#if PG_VERSION_NUM >= 160000
typedef RTEPermissionInfo CrmPermInfo;
#define CRM_QUERY_PERMINFOS(q)	((q)->rteperminfos)
#define CRM_PLAN_PERMINFOS(p)	((p)->permInfos)
static inline CrmPermInfo *
crm_perminfo(List *perminfos, RangeTblEntry *rte)
{
	return rte->perminfoindex != 0 ? getRTEPermissionInfo(perminfos, rte) : NULL;
}
#define CRM_CHECK_PERMS_PARAMS	List *rangeTable, List *permInfos, bool ereport_on_violation
#define CRM_CHECK_PERMS_ARGS	rangeTable, permInfos, ereport_on_violation
#define CRM_CHECK_PERMS_PERMINFOS	permInfos
#else
typedef RangeTblEntry CrmPermInfo;
#define CRM_QUERY_PERMINFOS(q)	NIL
#define CRM_PLAN_PERMINFOS(p)	NIL
static inline CrmPermInfo *
crm_perminfo(List *perminfos, RangeTblEntry *rte)
{
	return rte;
}
#define CRM_CHECK_PERMS_PARAMS	List *rangeTable, bool ereport_on_violation
#define CRM_CHECK_PERMS_ARGS	rangeTable, ereport_on_violation
#define CRM_CHECK_PERMS_PERMINFOS	NIL
#endif

/* The permissions a relation needs in a statement; 0 when none. */
static inline AclMode
crm_required_perms(List *perminfos, RangeTblEntry *rte)
{
	CrmPermInfo *p = crm_perminfo(perminfos, rte);

	return rte->rtekind == RTE_RELATION && p != NULL ? p->requiredPerms : 0;
}

/* The role a relation is read or written as: a view's owner, or the user. */
static inline Oid
crm_perm_role(const CrmPermInfo *p)
{
	return p != NULL && OidIsValid(p->checkAsUser) ? p->checkAsUser : GetUserId();
}

/*
 * The same for a relation being planned: a partition or inheritance child
 * is read as its top parent is (15 copies the parent's checkAsUser into the
 * child; 16+ gives the child no permission entry).
 */
static inline Oid
crm_planner_rel_role(PlannerInfo *root, RelOptInfo *rel, RangeTblEntry *rte)
{
#if PG_VERSION_NUM >= 160000
	if (rte->perminfoindex == 0 && rel->top_parent_relids != NULL)
		rte = planner_rt_fetch(bms_singleton_member(rel->top_parent_relids), root);
	return crm_perm_role(crm_perminfo(root->parse->rteperminfos, rte));
#else
	return crm_perm_role(rte);
#endif
}

/* Does a table have generated columns (18 adds virtual ones)? */
#if PG_VERSION_NUM >= 180000
#define CRM_HAS_GENERATED(constr) ((constr)->has_generated_stored || (constr)->has_generated_virtual)
#else
#define CRM_HAS_GENERATED(constr) ((constr)->has_generated_stored)
#endif

/* The primary key index of a relation (18: whether a deferrable one counts). */
#if PG_VERSION_NUM >= 180000
#define crm_primary_key_index(rel) RelationGetPrimaryKeyIndex((rel), true)
#else
#define crm_primary_key_index(rel) RelationGetPrimaryKeyIndex(rel)
#endif

/* ExecutorRun_hook's parameters, and passing them on. */
#if PG_VERSION_NUM >= 180000
#define CRM_EXECUTOR_RUN_PARAMS	QueryDesc *queryDesc, ScanDirection direction, uint64 count
#define CRM_EXECUTOR_RUN_ARGS	queryDesc, direction, count
#else
#define CRM_EXECUTOR_RUN_PARAMS	QueryDesc *queryDesc, ScanDirection direction, uint64 count, \
	bool execute_once
#define CRM_EXECUTOR_RUN_ARGS	queryDesc, direction, count, execute_once
#endif

/* The backend's local transaction id. */
#if PG_VERSION_NUM >= 170000
#define CRM_MY_LXID				(MyProc->vxid.lxid)
#else
#define CRM_MY_LXID				(MyProc->lxid)
#endif

/* A qualified name from text; errors are raised. */
#if PG_VERSION_NUM >= 160000
#define crm_qualified_name_list(s)	stringToQualifiedNameList((s), NULL)
#else
#define crm_qualified_name_list(s)	stringToQualifiedNameList(s)
#endif

/*
 * Replace the Vars of one range table entry with expressions; on 18 a
 * RETURNING old./new. Var of the result relation keeps what it refers to.
 */
#if PG_VERSION_NUM >= 180000
#define crm_replace_vars(node, varno, sublevels, rte, tlist, result_relation, nomatch, nomatch_varno, subl) \
	ReplaceVarsFromTargetList(node, varno, sublevels, rte, tlist, result_relation, nomatch, \
							  nomatch_varno, subl)
#else
#define crm_replace_vars(node, varno, sublevels, rte, tlist, result_relation, nomatch, nomatch_varno, subl) \
	ReplaceVarsFromTargetList(node, varno, sublevels, rte, tlist, nomatch, nomatch_varno, subl)
#endif

/*
 * An expression replacing Var var: its Vars of varno are nulled by the same
 * outer joins (16+ marks them in varnullingrels; 15 has no marks).
 */
#if PG_VERSION_NUM >= 160000
#define crm_add_nullingrels(node, varno, var) \
	((var)->varnullingrels != NULL ? \
	 add_nulling_relids((node), bms_make_singleton(varno), (var)->varnullingrels) : (node))
#else
#define crm_add_nullingrels(node, varno, var)	(node)
#endif

/*
 * Resolve names in pg_catalog, then crmperm, never in pg_temp (no
 * function, operator or type of a session's own), until crm_pop_path().
 * 15 pushes an override search path; 17 removed it, so the search_path
 * setting is saved at a new GUC nest level (allowed in parallel mode too),
 * as PostgreSQL's RestrictSearchPath() does.
 */
static inline int
crm_push_path(void)
{
#if PG_VERSION_NUM >= 170000
	int			nest = NewGUCNestLevel();

	(void) set_config_option("search_path", "pg_catalog, crmperm, pg_temp", PGC_USERSET,
							 PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
	return nest;
#else
	OverrideSearchPath path;

	path.schemas = list_make1_oid(get_namespace_oid("crmperm", false));
	path.addCatalog = true;		/* pg_catalog first */
	path.addTemp = false;
	path.generation = 0;
	PushOverrideSearchPath(&path);
	return 0;
#endif
}

static inline void
crm_pop_path(int nest)
{
#if PG_VERSION_NUM >= 170000
	AtEOXact_GUC(false, nest);
#else
	PopOverrideSearchPath();
#endif
}

/* Bytes to base64 (15 and 17 take char, 18 uint8). */
#define crm_b64_encode(src, len, dst, dstlen) \
	pg_b64_encode((const void *) (src), (len), (dst), (dstlen))

#endif							/* CRMPERM_COMPAT_H */
