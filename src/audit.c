/*-------------------------------------------------------------------------
 * audit.c
 *		Audit events that must outlive their transaction: denials, token
 *		authentications and reads of tables marked with audit_reads().
 *
 * A denial aborts its transaction, so it cannot be written to
 * crmperm.audit_log by the backend that raised it.  Instead, before the
 * error is raised, the event is
 *   1. written to the server log as one stable, parseable line
 *      ("crmperm audit: {json}", LOG_SERVER_ONLY, statement hidden), and
 *   2. put into a bounded queue in shared memory, one per database, that a
 *      background worker for that database drains into crmperm.audit_log in
 *      its own transactions.
 * Enqueueing takes a spinlock for a copy and never waits: a full queue drops
 * the event (it is still in the server log) and counts the overflow, which
 * crmperm.audit_queue shows.  Event text is cut on a character boundary and
 * always valid in the database encoding, and the worker writes each event in
 * a subtransaction of its own: an event that cannot be written is logged and
 * counted (failed), and never stops the events after it.  The worker is started on demand by the first
 * event of its database, restarted by the postmaster if it fails, and exits
 * when it has been idle for 3 s (DROP DATABASE waits 5 s for other sessions).  On
 * a hot standby nothing can be written: events go to the server log only.
 * A crash of any backend reinitialises shared memory: queued events are
 * lost then, the log lines are not.
 *
 * Permission changes are not queued: triggers on crmperm's catalog record
 * them in the same transaction as the change (sql/crmperm--1.0--1.1.sql).
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/parallel.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/namespace.h"
#include "commands/dbcommands.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "storage/shmem.h"
#include "storage/spin.h"
#include "tcop/tcopprot.h"
#include "tcop/utility.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/lsyscache.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "crmperm.h"

PG_FUNCTION_INFO_V1(crmperm_audit_queue);

PGDLLEXPORT void crm_audit_worker_main(Datum main_arg);

#define AUDIT_DATABASES		16	/* databases with a queue at once */
#define AUDIT_QUEUE_LEN		512 /* events per database */
#define AUDIT_BATCH			64	/* events per worker transaction */
#define AUDIT_IDLE_EXIT_MS	3000	/* under DROP DATABASE's 5 s wait */

/* One event, fixed size: nothing to allocate while an error is coming. */
typedef struct CrmAuditEvent
{
	CrmAuditKind kind;
	TimestampTz at;
	int			pid;
	char		login[NAMEDATALEN];
	char		principal[NAMEDATALEN];
	char		token[CRM_NAME_BYTES];
	char		resource[NAMEDATALEN];
	char		action[NAMEDATALEN * 2];
	char		command[32];
	int64		rows;			/* -1: not a read */
} CrmAuditEvent;

typedef struct AuditQueue
{
	Oid			dbid;			/* InvalidOid: free */
	bool		worker_wanted;	/* registered, or running */
	int			worker_pid;
	Latch	   *worker_latch;
	uint64		head;			/* next event written */
	uint64		tail;			/* next event read */
	uint64		overflow;		/* events dropped because the queue was full */
	uint64		written;		/* events the worker wrote to audit_log */
	uint64		failed;			/* events the worker could not write */
	CrmAuditEvent events[AUDIT_QUEUE_LEN];
} AuditQueue;

typedef struct AuditShared
{
	slock_t		mutex;
	uint64		overflow_databases; /* dropped: no queue free */
	AuditQueue	queues[AUDIT_DATABASES];
} AuditShared;

static AuditShared *audit = NULL;
static shmem_request_hook_type prev_shmem_request = NULL;
static shmem_startup_hook_type prev_shmem_startup = NULL;
static ExecutorStart_hook_type prev_executor_start = NULL;
static ExecutorEnd_hook_type prev_executor_end = NULL;

static const char *const kind_names[] = {"denial", "auth_success", "auth_failure", "read"};

static void
audit_shmem_request(void)
{
	if (prev_shmem_request)
		prev_shmem_request();
	RequestAddinShmemSpace(MAXALIGN(sizeof(AuditShared)));
}

static void
audit_shmem_startup(void)
{
	bool		found;

	if (prev_shmem_startup)
		prev_shmem_startup();
	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	audit = ShmemInitStruct("crmperm audit queue", sizeof(AuditShared), &found);
	if (!found)
	{
		memset(audit, 0, sizeof(AuditShared));
		SpinLockInit(&audit->mutex);
	}
	LWLockRelease(AddinShmemInitLock);
}

/* The queue of a database, claimed if need be (the mutex held), or NULL. */
static AuditQueue *
queue_for(Oid dbid, bool claim)
{
	AuditQueue *free_queue = NULL;

	for (int i = 0; i < AUDIT_DATABASES; i++)
	{
		AuditQueue *q = &audit->queues[i];

		if (q->dbid == dbid)
			return q;
		if (free_queue == NULL && !OidIsValid(q->dbid))
			free_queue = q;
	}
	if (claim && free_queue)
	{
		memset(free_queue, 0, offsetof(AuditQueue, events));
		free_queue->dbid = dbid;
	}
	return claim ? free_queue : NULL;
}

static void
start_worker(int slot, Oid dbid)
{
	BackgroundWorker worker;
	BackgroundWorkerHandle *handle;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = 5;
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "crmperm");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "crm_audit_worker_main");
	snprintf(worker.bgw_name, BGW_MAXLEN, "crmperm audit writer for database %u", dbid);
	snprintf(worker.bgw_type, BGW_MAXLEN, "crmperm audit writer");
	worker.bgw_main_arg = Int32GetDatum(slot);
	memcpy(worker.bgw_extra, &dbid, sizeof(dbid));
	if (!RegisterDynamicBackgroundWorker(&worker, &handle))
	{
		SpinLockAcquire(&audit->mutex);
		audit->queues[slot].worker_wanted = false;
		SpinLockRelease(&audit->mutex);
	}
}

/*
 * The kind of the statement running (SELECT, INSERT, CREATE TABLE, ...):
 * set when the executor or the utility hook starts one, never its text.
 */
static const char *current_command = NULL;

void
crm_audit_set_command(Node *stmt)
{
	current_command = GetCommandTagName(CreateCommandTag(stmt));
}

/*
 * Copy src into dst (size bytes), cut on a character boundary of the
 * database encoding, every byte that does not start a valid character
 * replaced by '?': the text of an event is always valid in the database
 * encoding, however its source was cut or made.  Allocates nothing.
 */
void
crm_clip_copy(char *dst, const char *src, size_t size)
{
	int			encoding = GetDatabaseEncoding();
	size_t		len = strlen(src);
	size_t		in = 0;
	size_t		out = 0;

	while (in < len)
	{
		int			l = pg_encoding_verifymbchar(encoding, src + in, (int) (len - in));

		if (l <= 0)
		{
			if (out + 1 >= size)
				break;
			dst[out++] = '?';
			in++;
			continue;
		}
		if (out + l >= size)
			break;
		memcpy(dst + out, src + in, l);
		out += l;
		in += l;
	}
	dst[out] = '\0';
}

static void
json_field(StringInfo buf, const char *key, const char *value)
{
	appendStringInfo(buf, ",\"%s\":", key);
	if (value && value[0])
		escape_json(buf, value);
	else
		appendStringInfoString(buf, "null");
}

/*
 * Record an event: a log line, and the queue of this database unless this
 * is a standby.  Names only, never a value or a token.
 */
static void
record_event(CrmAuditKind kind, const char *token, const char *resource, const char *action,
			 int64 rows)
{
	CrmAuditEvent ev;
	StringInfoData line;
	bool		start = false;
	bool		dropped = false;
	int			slot = -1;

	if (audit == NULL || !IsTransactionState() || IsParallelWorker() || !OidIsValid(MyDatabaseId))
		return;

	memset(&ev, 0, sizeof(ev));
	ev.kind = kind;
	ev.at = GetCurrentTimestamp();
	ev.pid = MyProcPid;
	ev.rows = rows;
	crm_clip_copy(ev.login, GetUserNameFromId(GetSessionUserId(), false), sizeof(ev.login));
	crm_clip_copy(ev.principal, GetUserNameFromId(GetUserId(), false), sizeof(ev.principal));
	if (token)
		crm_clip_copy(ev.token, token, sizeof(ev.token));
	if (resource)
		crm_clip_copy(ev.resource, resource, sizeof(ev.resource));
	if (action)
		crm_clip_copy(ev.action, action, sizeof(ev.action));
	if (current_command)
		crm_clip_copy(ev.command, current_command, sizeof(ev.command));

	initStringInfo(&line);
	appendStringInfo(&line, "{\"kind\":\"%s\",\"database\":", kind_names[kind]);
	escape_json(&line, get_database_name(MyDatabaseId));
	json_field(&line, "login", ev.login);
	json_field(&line, "principal", ev.principal);
	json_field(&line, "token", ev.token);
	json_field(&line, "resource", ev.resource);
	json_field(&line, "action", ev.action);
	json_field(&line, "command", ev.command);
	if (rows >= 0)
		appendStringInfo(&line, ",\"rows\":" INT64_FORMAT, rows);
	appendStringInfoChar(&line, '}');
	ereport(LOG_SERVER_ONLY,
			(errmsg_internal("crmperm audit: %s", line.data),
			 errhidestmt(true), errhidecontext(true)));
	pfree(line.data);

	if (RecoveryInProgress())
		return;

	SpinLockAcquire(&audit->mutex);
	{
		AuditQueue *q = queue_for(MyDatabaseId, true);

		dropped = q == NULL || q->head - q->tail >= AUDIT_QUEUE_LEN;
		if (q == NULL)
			audit->overflow_databases++;
		else if (dropped)
			q->overflow++;
		else
		{
			q->events[q->head % AUDIT_QUEUE_LEN] = ev;
			q->head++;
			if (!q->worker_wanted)
			{
				q->worker_wanted = true;
				start = true;
			}
			slot = q - audit->queues;
		}
	}
	SpinLockRelease(&audit->mutex);

	if (dropped)
		ereport(LOG_SERVER_ONLY,
				(errmsg_internal("crmperm audit: queue full, the event above is in the server log only"),
				 errhidestmt(true), errhidecontext(true)));
	else if (start)
		start_worker(slot, MyDatabaseId);
	else if (slot >= 0 && audit->queues[slot].worker_latch)
		SetLatch(audit->queues[slot].worker_latch);
}

/* An event under the active token, if any. */
void
crm_audit_event(CrmAuditKind kind, const char *resource, const char *action, int64 rows)
{
	record_event(kind, crm_token_name(), resource, action, rows);
}

/* A token authentication; token: its name when it is known. */
void
crm_audit_auth(bool success, const char *token)
{
	record_event(success ? CRM_AUDIT_AUTH_SUCCESS : CRM_AUDIT_AUTH_FAILURE, token, NULL,
				 "authenticate", -1);
}

static void
audit_executor_start(QueryDesc *queryDesc, int eflags)
{
	if (!crm_cache_loading)		/* not crmperm's own catalog queries */
		crm_audit_set_command((Node *) queryDesc->plannedstmt);
	if (prev_executor_start)
		prev_executor_start(queryDesc, eflags);
	else
		standard_ExecutorStart(queryDesc, eflags);
}

/*
 * Reads of tables marked with audit_reads(): one event per statement and
 * table, with the number of rows the statement returned or changed.
 */
static void
audit_executor_end(QueryDesc *queryDesc)
{
	if (queryDesc->estate && crm_reads_audited())
	{
		ListCell   *lc;

		foreach(lc, queryDesc->plannedstmt->rtable)
		{
			RangeTblEntry *rte = lfirst(lc);
			const CrmRelation *rel;

			if (!(crm_required_perms(CRM_PLAN_PERMINFOS(queryDesc->plannedstmt), rte) & ACL_SELECT) ||
				crm_scope_rte(rte))
				continue;
			rel = crm_relation(rte->relid);
			if (rel && rel->audit_reads)
				crm_audit_event(CRM_AUDIT_READ, rel->resource, "read",
								(int64) queryDesc->estate->es_processed);
		}
	}
	if (prev_executor_end)
		prev_executor_end(queryDesc);
	else
		standard_ExecutorEnd(queryDesc);
}

/* ---- the worker ---- */

static AuditQueue *worker_queue = NULL;

static void
worker_detach(int code, Datum arg)
{
	SpinLockAcquire(&audit->mutex);
	worker_queue->worker_latch = NULL;
	worker_queue->worker_pid = 0;
	/* a failed worker is restarted by the postmaster; a clean exit is not */
	if (code == 0)
		worker_queue->worker_wanted = false;
	SpinLockRelease(&audit->mutex);
}

/* Insert one event into crmperm.audit_log (SPI connected). */
static void
insert_event(const CrmAuditEvent *ev)
{
	Oid			types[9] = {TIMESTAMPTZOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID,
	TEXTOID, TEXTOID, TEXTOID, INT8OID};
	const char *texts[8] = {kind_names[ev->kind], ev->login, ev->principal, ev->token,
	ev->resource, ev->action, ev->command};
	Datum		values[9];
	char		nulls[9];

	values[0] = TimestampTzGetDatum(ev->at);
	nulls[0] = ' ';
	for (int c = 1; c < 8; c++)
	{
		values[c] = CStringGetTextDatum(texts[c - 1]);
		nulls[c] = c >= 4 && texts[c - 1][0] == '\0' ? 'n' : ' ';
	}
	values[8] = Int64GetDatum(ev->rows);
	nulls[8] = ev->rows < 0 ? 'n' : ' ';
	if (SPI_execute_with_args("INSERT INTO crmperm.audit_log"
							  " (at, kind, login, principal, token, resource, action,"
							  " command, rows) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
							  9, types, values, nulls, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "could not write a crmperm audit event");
}

/*
 * Write one event in a subtransaction of its own: true if it was written;
 * if not, the error is logged (the event itself is in the server log
 * already) and the next events go on.
 */
static bool
write_event(const CrmAuditEvent *ev)
{
	MemoryContext context = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;
	bool		ok = true;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(context);
	PG_TRY();
	{
		insert_event(ev);
		ReleaseCurrentSubTransaction();
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(context);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		ereport(LOG,
				(errmsg("crmperm audit: could not write a \"%s\" event of role \"%s\" to crmperm.audit_log: %s",
						kind_names[ev->kind], ev->principal, edata->message),
				 errdetail("The event is in the server log only; the events after it are written.")));
		FreeErrorData(edata);
		ok = false;
	}
	PG_END_TRY();
	MemoryContextSwitchTo(context);
	CurrentResourceOwner = owner;
	return ok;
}

/*
 * Write up to AUDIT_BATCH events in one transaction; how many were taken.
 * Events are taken off the queue before they are written: whatever happens
 * to them, the writer never comes back to the same events.
 */
static int
write_batch(void)
{
	CrmAuditEvent batch[AUDIT_BATCH];
	uint64		tail;
	int			n = 0;
	volatile int written = 0;
	volatile int failed = 0;

	SpinLockAcquire(&audit->mutex);
	tail = worker_queue->tail;
	while (n < AUDIT_BATCH && tail + n < worker_queue->head)
	{
		batch[n] = worker_queue->events[(tail + n) % AUDIT_QUEUE_LEN];
		n++;
	}
	worker_queue->tail = tail + n;
	SpinLockRelease(&audit->mutex);
	if (n == 0)
		return 0;

	PG_TRY();
	{
		SetCurrentStatementStartTimestamp();
		StartTransactionCommand();
		SPI_connect();
		PushActiveSnapshot(GetTransactionSnapshot());
		pgstat_report_activity(STATE_RUNNING, "writing crmperm audit events");

		/* without crmperm 1.1 here there is nowhere to write: the log has them */
		if (OidIsValid(get_namespace_oid("crmperm", true)) &&
			OidIsValid(get_relname_relid("audit_log", get_namespace_oid("crmperm", true))))
		{
			for (int i = 0; i < n; i++)
			{
				if (write_event(&batch[i]))
					written++;
				else
					failed++;
			}
		}

		SPI_finish();
		PopActiveSnapshot();
		CommitTransactionCommand();
		pgstat_report_activity(STATE_IDLE, NULL);
	}
	PG_CATCH();
	{
		/* the whole batch is lost (it is in the server log); the worker restarts */
		SpinLockAcquire(&audit->mutex);
		worker_queue->failed += n;
		SpinLockRelease(&audit->mutex);
		PG_RE_THROW();
	}
	PG_END_TRY();

	SpinLockAcquire(&audit->mutex);
	worker_queue->written += written;
	worker_queue->failed += failed;
	SpinLockRelease(&audit->mutex);
	return n;
}

void
crm_audit_worker_main(Datum main_arg)
{
	int			slot = DatumGetInt32(main_arg);
	Oid			dbid;
	TimestampTz idle_since = GetCurrentTimestamp();

	memcpy(&dbid, MyBgworkerEntry->bgw_extra, sizeof(dbid));
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnectionByOid(dbid, InvalidOid, 0);

	worker_queue = &audit->queues[slot];
	SpinLockAcquire(&audit->mutex);
	/* its queue was reset (a crash restart), or another writer has it */
	if (worker_queue->dbid != dbid || worker_queue->worker_pid != 0)
	{
		SpinLockRelease(&audit->mutex);
		proc_exit(0);
	}
	worker_queue->worker_latch = MyLatch;
	worker_queue->worker_pid = MyProcPid;
	worker_queue->worker_wanted = true;
	SpinLockRelease(&audit->mutex);
	before_shmem_exit(worker_detach, (Datum) 0);

	for (;;)
	{
		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
		if (write_batch() > 0)
		{
			idle_since = GetCurrentTimestamp();
			continue;
		}
		if (TimestampDifferenceExceeds(idle_since, GetCurrentTimestamp(), AUDIT_IDLE_EXIT_MS))
		{
			bool		empty;

			/* leave only when nothing was queued meanwhile */
			SpinLockAcquire(&audit->mutex);
			empty = worker_queue->head == worker_queue->tail;
			if (empty)
			{
				worker_queue->worker_wanted = false;
				worker_queue->worker_latch = NULL;
			}
			SpinLockRelease(&audit->mutex);
			if (empty)
				proc_exit(0);
		}
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 1000L, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
}

/* crmperm._audit_queue(): per database, what is queued, dropped and written. */
Datum
crmperm_audit_queue(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;

	InitMaterializedSRF(fcinfo, 0);
	/*
	 * Counts of the whole cluster: for superusers and global holders of
	 * view_audit (not under a token, not a tenant's administrator); others
	 * get no rows, so PUBLIC may call it and the view needs no privilege.
	 */
	if (audit == NULL || !crm_has_system_permission(GetUserId(), CRM_SYS_VIEW_AUDIT) ||
		crm_admin_tenant(GetUserId()) != NULL)
		return (Datum) 0;
	for (int i = 0; i < AUDIT_DATABASES; i++)
	{
		AuditQueue	q;
		Datum		values[7];
		bool		nulls[7] = {false, false, false, false, false, false, false};

		SpinLockAcquire(&audit->mutex);
		memcpy(&q, &audit->queues[i], offsetof(AuditQueue, events));
		SpinLockRelease(&audit->mutex);
		if (!OidIsValid(q.dbid))
			continue;
		values[0] = ObjectIdGetDatum(q.dbid);
		values[1] = Int64GetDatum((int64) (q.head - q.tail));
		values[2] = Int64GetDatum((int64) q.written);
		values[3] = Int64GetDatum((int64) q.overflow);
		values[4] = Int32GetDatum(q.worker_pid);
		nulls[4] = q.worker_pid == 0;
		values[5] = Int64GetDatum((int64) audit->overflow_databases);
		values[6] = Int64GetDatum((int64) q.failed);
		/* under a 1.1 catalog the result has six columns: the seventh is left out */
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

void
crm_audit_init(void)
{
	prev_shmem_request = shmem_request_hook;
	shmem_request_hook = audit_shmem_request;
	prev_shmem_startup = shmem_startup_hook;
	shmem_startup_hook = audit_shmem_startup;
	prev_executor_start = ExecutorStart_hook;
	ExecutorStart_hook = audit_executor_start;
	prev_executor_end = ExecutorEnd_hook;
	ExecutorEnd_hook = audit_executor_end;
}
