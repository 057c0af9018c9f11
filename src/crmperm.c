/*-------------------------------------------------------------------------
 * crmperm.c
 *		Entry point: _PG_init installs every hook, chained to the previous one.
 *
 * crmperm must be loaded by shared_preload_libraries: a backend that loads it
 * later would miss what happened before (and, with the library missing
 * entirely, managed tables are forced row security with no policies: nobody
 * governed sees a row).
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "miscadmin.h"

#include "crmperm.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

void
_PG_init(void)
{
	if (!process_shared_preload_libraries_in_progress)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("crmperm must be loaded via shared_preload_libraries"),
				 errhint("Add crmperm to shared_preload_libraries in postgresql.conf and restart the server.")));

	crm_cache_init();
	crm_crud_init();
	crm_actions_init();
	crm_scopes_init();
	crm_utility_init();
	crm_attach_init();
	crm_fields_init();
	crm_tokens_init();
	crm_audit_init();
	crm_side_channels_init();
	crm_messages_init();
	crm_citus_init();
}
