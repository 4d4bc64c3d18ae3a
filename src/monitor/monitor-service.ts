import { mkdir, realpath, rm } from 'node:fs/promises';
import path from 'node:path';
import type { Actor } from '../access/actor.ts';
import type { ProjectAccess } from '../access/project-access.ts';
import { systemActor } from '../auth/system-actor.ts';
import type { PriceOverride } from '../llm/llm-price-store.ts';
import { usdPerMtokToNano } from '../llm/llm-prices.ts';
import type { CallStatsDimension, CallStatsRow } from '../llm/llm-usage-store.ts';
import { AppError, forbidden, notFound, validationError } from '../platform/app-error.ts';
import type { DuckDb } from '../platform/duckdb/duckdb.ts';
import { uuidv7 } from '../platform/ids.ts';
import { usageBlocksOfSlices } from './monitor-blocks.ts';
import { type BudgetState, budgetBurn } from './monitor-budget-burn.ts';
import { createEmbeddedMonitorFiles, type MonitorFiles } from './monitor-files.ts';
import type { RepriceHandOff } from './monitor-forwarding.ts';
import { repriceOnHolder } from './monitor-forwarding.ts';
import {
  type ImportProgress,
  type ImportResult,
  importTree,
  type SourceOption,
} from './monitor-import.ts';
import type { IngestLeases } from './monitor-lease.ts';
import { type RepriceResult, repriceUsage } from './monitor-reprice.ts';
import type { BreakdownDimension, MonitorStore, ReportFilter } from './monitor-store.ts';
import { saveUploads } from './monitor-uploads.ts';
import { startWatch, type Watch, type WatchCycle } from './monitor-watch.ts';
import type { MonitorWatchStore, WatchSetting } from './monitor-watch-store.ts';

export interface MonitorServiceDeps {
  /** The server's DuckDB: every project's tables when `files` is not given (one server). */
  duckdb: DuckDb;
  /**
   * Where each project's tables live (monitor-files.ts): per-project files held by one server
   * at a time in a shared deployment. Absent: all in `duckdb`.
   */
  files?: MonitorFiles | undefined;
  access: ProjectAccess;
  /** Absolute folders the API may import from (BRAINCELLS_MONITOR_ROOTS). */
  roots: readonly string[];
  /** Uploads are written here (one folder per upload, removed after the import). */
  uploadDir: string;
  /** The LLM module's read of our own calls (its admin service); absent: own-calls is off. */
  ownCalls?: OwnCallsReader | undefined;
  /**
   * The ingestion lease in PostgreSQL (monitor-lease.ts): with it, an import waits for no
   * other server — one that finds the project's lease held answers CONFLICT (a watch cycle
   * tries again next time). Absent: imports are queued within this process only.
   */
  leases?: IngestLeases | undefined;
  /**
   * The LLM module's price overrides of a project (its admin service's `listPrices`): imported
   * calls are priced with them where they apply. Absent: the catalog alone.
   */
  priceOverrides?: PriceOverridesReader | undefined;
  /** How often a held lease is renewed (default 20 s: a third of its 60 s). */
  leaseRenewMs?: number | undefined;
  /** Projects' server-side watch settings (PostgreSQL); absent: the server watches nothing. */
  watchSettings?: MonitorWatchStore | undefined;
  /** Server watches: debounce, reconcile and settings re-read intervals (tests shorten them). */
  serverWatch?: { debounceMs?: number; reconcileMs?: number; syncMs?: number } | undefined;
  /** Where a server watch's failures are logged. */
  log?: { warn(object: object, message: string): void } | undefined;
  /**
   * A shared deployment: a `monitor.reprice` job picked up here for a project another server
   * holds is done there (monitor-forwarding.ts repriceOnHolder). Absent: always here.
   */
  repriceHandOff?: RepriceHandOff | undefined;
}

/** What the monitor needs from the LLM module to price with a project's overrides. */
export interface PriceOverridesReader {
  listPrices(
    actor: Actor,
    projectId: string,
  ): Promise<
    {
      id: string;
      model: string;
      inputUsdPerMtok: number | null;
      outputUsdPerMtok: number | null;
      cacheReadUsdPerMtok: number | null;
      cacheWriteUsdPerMtok: number | null;
      validFrom: string;
      createdAt: string;
    }[]
  >;
}

export type OwnCallsDimension = CallStatsDimension;

/**
 * What the monitor needs from the LLM module (its admin service's `callStats`, and
 * `listBudgets` for the budget burn).
 */
export interface OwnCallsReader {
  callStats(
    actor: Actor,
    projectId: string,
    query: { by: OwnCallsDimension; since?: Date | undefined },
  ): Promise<OwnCallStats[]>;
  listBudgets(actor: Actor, projectId: string): Promise<BudgetState[]>;
}

/** One group of our own calls, as the LLM module counts them. */
export type OwnCallStats = CallStatsRow;

export interface ReportOptions {
  since?: Date | undefined;
}

/** The setting named in every refusal of a server path, so an operator knows what to change. */
export const ROOTS_SETTING = 'BRAINCELLS_MONITOR_ROOTS';
/** See checkpointWhenIdle. */
export const IDLE_CHECKPOINT_WAL_BYTES = 16 * 1024 * 1024;

function isInside(child: string, parent: string): boolean {
  const relative = path.relative(parent, child);
  return relative === '' || (!relative.startsWith('..') && !path.isAbsolute(relative));
}

/** An IANA time zone name, or a 400 naming the field. */
export function checkTimeZone(timeZone: string, field = 'timezone'): string {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone });
    return timeZone;
  } catch {
    throw validationError(`${field} must be an IANA time zone such as Europe/Paris`, [
      { path: field, message: 'unknown time zone' },
    ]);
  }
}

/**
 * Monitor use cases: import coding-agent logs into a project and read them back. Every one
 * checks access on its first line (viewer reads, editor imports).
 */
export function createMonitorService(deps: MonitorServiceDeps) {
  const { access } = deps;
  const files = deps.files ?? createEmbeddedMonitorFiles(deps.duckdb);
  /** The project's tables (created when missing; in a shared deployment, held here). */
  const storeOf = async (projectId: string): Promise<MonitorStore> =>
    (await files.open(projectId)).store;
  /**
   * A quiet watch checkpoints DuckDB's WAL once it holds DuckDB's own default threshold
   * (16 MiB): the instance's inline threshold is far higher (duckdb.ts), so a steady watch's
   * commits do not pay for a checkpoint, and a cycle seldom meets one.
   */
  const checkpointWhenIdle = (projectId: string) => () =>
    void files
      .ifOpen(projectId)
      .then((file) => {
        if (file && file.store.walBytes() >= IDLE_CHECKPOINT_WAL_BYTES) file.store.checkpointSoon();
      })
      .catch(() => {});

  /**
   * A server path the API may read: inside one of the configured roots both as written and
   * once symbolic links are resolved. Anything else is refused before the file system is
   * asked about it, so the answer says nothing of what exists outside the roots.
   */
  async function allowedServerPath(requested: string): Promise<string> {
    if (deps.roots.length === 0) {
      throw forbidden(
        `Importing server paths is off; an administrator can allow folders with ${ROOTS_SETTING}`,
      );
    }
    const outside = () => forbidden(`The path is outside the folders allowed by ${ROOTS_SETTING}`);
    if (!path.isAbsolute(requested))
      throw validationError('path must be absolute', [
        { path: 'path', message: 'must be absolute' },
      ]);
    const resolved = path.resolve(requested);
    const roots = deps.roots.map((root) => path.resolve(root));
    if (!roots.some((root) => isInside(resolved, root))) throw outside();
    let real: string;
    try {
      real = await realpath(resolved);
    } catch {
      throw notFound('path');
    }
    const realRoots = await Promise.all(roots.map((root) => realpath(root).catch(() => root)));
    if (!realRoots.some((root) => isInside(real, root))) throw outside();
    return real;
  }

  /** A report's first line: the caller may view the project; its tables, ready. */
  async function readable(actor: Actor, projectId: string): Promise<MonitorStore> {
    await access.requireRole(actor, projectId, 'viewer');
    return storeOf(projectId);
  }

  /** CLI: a local path (any the user can read) an editor of the project imports from. */
  async function localPathFor(actor: Actor, projectId: string, local: string): Promise<string> {
    await access.requireRole(actor, projectId, 'editor');
    const resolved = path.resolve(local);
    try {
      await realpath(resolved);
    } catch {
      throw new AppError('NOT_FOUND', `No file or folder at ${local}`);
    }
    return resolved;
  }

  /** The report filter of a project the actor may read (checked first). */
  async function readableFilter(
    actor: Actor,
    projectId: string,
    options: ReportOptions,
  ): Promise<{ store: MonitorStore; filter: ReportFilter }> {
    const store = await readable(actor, projectId);
    return { store, filter: { projectId, since: options.since } };
  }

  // Imports of one project run one after another in this process (two at once would read
  // the same file states; DuckDB would refuse the second's conflicting writes).
  const importing = new Map<string, Promise<unknown>>();

  /** Runs `work` holding the project's ingestion lease, renewed while it runs. */
  async function withLease<T>(projectId: string, work: () => Promise<T>): Promise<T> {
    const leases = deps.leases;
    if (!leases) return work();
    if (!(await leases.acquire(projectId))) {
      throw new AppError(
        'CONFLICT',
        "Another server is importing this project's logs; try again when it is done",
        { retryable: true },
      );
    }
    const renewal = setInterval(
      () => void leases.renew(projectId).catch(() => {}),
      deps.leaseRenewMs ?? 20_000,
    );
    renewal.unref();
    try {
      return await work();
    } finally {
      clearInterval(renewal);
      await leases.release(projectId).catch(() => {});
    }
  }

  /** The project's price overrides, in the LLM module's nano-USD rates (none without it). */
  async function projectPriceOverrides(actor: Actor, projectId: string): Promise<PriceOverride[]> {
    if (!deps.priceOverrides) return [];
    const listed = await deps.priceOverrides.listPrices(actor, projectId);
    const nano = (usd: number | null) => (usd === null ? undefined : usdPerMtokToNano(usd));
    return listed.map((price) => ({
      id: price.id,
      projectId,
      model: price.model,
      rates: {
        inputNanoPerMtok: usdPerMtokToNano(price.inputUsdPerMtok ?? 0),
        outputNanoPerMtok: usdPerMtokToNano(price.outputUsdPerMtok ?? 0),
        cacheReadNanoPerMtok: nano(price.cacheReadUsdPerMtok),
        cacheWriteNanoPerMtok: nano(price.cacheWriteUsdPerMtok),
      },
      validFrom: new Date(price.validFrom),
      createdAt: new Date(price.createdAt),
    }));
  }

  async function runImport(
    actor: Actor,
    projectId: string,
    root: string,
    source: SourceOption,
    onProgress?: (progress: ImportProgress) => void,
    storedPath?: (absolute: string) => string,
    failedBackoff?: { now: () => number },
  ): Promise<ImportResult> {
    await storeOf(projectId);
    const priceOverrides = await projectPriceOverrides(actor, projectId);
    return queued(projectId, async () =>
      importTree({
        store: await storeOf(projectId),
        projectId,
        root,
        source,
        onProgress,
        storedPath,
        failedBackoff,
        priceOverrides,
      }),
    );
  }

  /** Runs `work` after the project's earlier imports (and repricings), holding its lease. */
  async function queued<T>(projectId: string, work: () => Promise<T>): Promise<T> {
    const previous = importing.get(projectId) ?? Promise.resolve();
    // Held from now until done: the bound on open monitor files never closes it meanwhile.
    const release = files.hold(projectId);
    const next = previous
      .catch(() => {})
      .then(() => withLease(projectId, work))
      .finally(release);
    importing.set(projectId, next);
    try {
      return await next;
    } finally {
      if (importing.get(projectId) === next) importing.delete(projectId);
    }
  }

  /** A stored path as a project member may see it (see `files`). */
  const shownPath = (file: string) => {
    if (file.startsWith('upload:')) return file;
    const root = deps.roots.map((item) => path.resolve(item)).find((item) => isInside(file, item));
    if (root) return path.join(path.basename(root), path.relative(root, file));
    return path.join('…', ...file.split(path.sep).filter(Boolean).slice(-2));
  };

  // Server-side watches of this process: one per project whose setting is on (the ingestion
  // lease keeps several servers from importing a project at once).
  const serverWatches = new Map<
    string,
    { path: string; source: SourceOption; watch: Watch; release: () => void }
  >();
  let watchSyncTimer: ReturnType<typeof setInterval> | undefined;
  let watchesStopped = true;
  let syncing: Promise<void> = Promise.resolve();

  const warn = (error: unknown, message: string) => deps.log?.warn({ err: error }, message);

  /** A failure as the badge shows it: our own errors' safe message, else a plain sentence. */
  const cycleError = (error: unknown) =>
    error instanceof AppError ? error.message : 'The watch cycle failed; see the server log';

  async function startServerWatch(store: MonitorWatchStore, setting: WatchSetting) {
    const { projectId } = setting;
    let real: string;
    try {
      // BRAINCELLS_MONITOR_ROOTS may have changed since the folder was chosen.
      real = await allowedServerPath(setting.path);
    } catch (error) {
      await store
        .recordCycle(projectId, setting.path, { imported: false, error: cycleError(error) })
        .catch((failure: unknown) => warn(failure, 'monitor watch: recording a cycle failed'));
      return;
    }
    const record = (cycle: { imported: boolean; error: string | null }) =>
      void store
        .recordCycle(projectId, setting.path, cycle)
        .catch((failure: unknown) => warn(failure, 'monitor watch: recording a cycle failed'));
    const watch = startWatch({
      root: real,
      // The installation watches for the editor who switched it on: the setting, not a user's
      // session, is what keeps it going.
      run: (reason) =>
        runImport(
          systemActor(),
          projectId,
          real,
          setting.source,
          undefined,
          undefined,
          reason === 'start' ? undefined : { now: Date.now },
        ),
      onCycle: ({ result }) =>
        record({
          imported: result.files > 0 || result.departed > 0,
          error:
            result.failed.length > 0
              ? `${result.failed.length} file(s) failed to import; see the files list`
              : null,
        }),
      onError: (error) => {
        // Another server holds the lease or the project's file: it imports and records this
        // cycle (its own watch runs there too).
        if (error instanceof AppError && error.code === 'CONFLICT') return;
        if (error instanceof AppError && error.code === 'SERVICE_UNAVAILABLE') return;
        warn(error, 'monitor watch: a cycle failed');
        record({ imported: false, error: cycleError(error) });
      },
      onIdle: checkpointWhenIdle(projectId),
      ...(deps.serverWatch?.debounceMs === undefined
        ? {}
        : { debounceMs: deps.serverWatch.debounceMs }),
      ...(deps.serverWatch?.reconcileMs === undefined
        ? {}
        : { reconcileMs: deps.serverWatch.reconcileMs }),
    });
    // A watched project's file stays open on its holder (the bound on open files skips it).
    serverWatches.set(projectId, {
      path: setting.path,
      source: setting.source,
      watch,
      release: files.hold(projectId),
    });
  }

  /**
   * Starts the watches whose setting is on and stops the others (switched off here or on
   * another server). Runs one at a time.
   */
  function syncServerWatches(): Promise<void> {
    const store = deps.watchSettings;
    if (!store) return Promise.resolve();
    syncing = syncing.then(async () => {
      if (watchesStopped) return;
      const wanted = new Map((await store.listEnabled()).map((row) => [row.projectId, row]));
      for (const [projectId, running] of serverWatches) {
        const setting = wanted.get(projectId);
        if (setting && setting.path === running.path && setting.source === running.source) {
          wanted.delete(projectId);
          continue;
        }
        serverWatches.delete(projectId);
        running.release();
        // Not awaited: a cycle under way finishes on its own (its import is one transaction).
        void running.watch.close().catch(() => {});
      }
      for (const setting of wanted.values()) {
        if (watchesStopped) return;
        await startServerWatch(store, setting);
      }
    });
    const done = syncing.catch((error: unknown) => warn(error, 'monitor watch: sync failed'));
    syncing = done;
    return done;
  }

  return {
    /**
     * The server holding the project's monitor file when it is another one (a request for
     * the project goes there: monitor-forwarding.ts); undefined on one server.
     */
    holderElsewhere: (projectId: string) => files.holderElsewhere(projectId),

    /** Server shutdown, after the watches stopped: closes the files, gives their leases up. */
    close: () => files.close(),

    /**
     * Server start: projects whose monitor rows are still in this server's data-dir DuckDB
     * (imported before the deployment went shared) are carried into their files
     * (monitor-carry-over.ts); a no-op on one server.
     */
    carryOverLegacy: () => files.carryOverLegacy(),

    /**
     * Prices the stored events of `model` (from `since` on) again with the project's current
     * price overrides, and their sessions' totals (the `monitor.reprice` job, after an override
     * was set or removed). Queued with the project's imports, under its ingestion lease.
     */
    async repriceModel(
      actor: Actor,
      projectId: string,
      request: { model: string; since?: Date | undefined },
    ): Promise<RepriceResult> {
      await access.requireRole(actor, projectId, 'editor');
      await storeOf(projectId);
      return queued(projectId, async () =>
        repriceUsage(
          (await files.open(projectId)).duckdb,
          { projectId, ...request },
          await projectPriceOverrides(actor, projectId),
        ),
      );
    },

    /**
     * The `monitor.reprice` job (run as the system): on the server holding the project's file,
     * asked over its internal URL when that is another live server, so the job is done once
     * the work is, wherever the file is held; here when this server holds it or nobody does.
     */
    async repriceJob(request: {
      projectId: string;
      model: string;
      since?: Date | undefined;
    }): Promise<RepriceResult> {
      const { projectId, model, since } = request;
      const handOff = deps.repriceHandOff;
      const holder = handOff?.key ? await files.holderElsewhere(projectId) : undefined;
      if (holder && handOff?.key)
        return repriceOnHolder(holder, request, { ...handOff, key: handOff.key });
      return this.repriceModel(systemActor(), projectId, { model, since });
    },

    /** A repricing another server's job asked of this one (the holder): never handed on. */
    repriceHere(projectId: string, request: { model: string; since?: Date | undefined }) {
      return this.repriceModel(systemActor(), projectId, request);
    },

    /**
     * Server start: watches every project whose watch is on, and re-reads the settings every
     * minute (a switch flipped on another server reaches this one then).
     */
    async startServerWatches(): Promise<void> {
      if (!deps.watchSettings || !watchesStopped) return;
      watchesStopped = false;
      watchSyncTimer = setInterval(
        () => void syncServerWatches(),
        deps.serverWatch?.syncMs ?? 60_000,
      );
      watchSyncTimer.unref();
      await syncServerWatches();
    },

    /**
     * Server shutdown: stops every watch. A cycle under way is not waited for (an import can
     * take minutes; it is one transaction per batch, and the next start reconciles).
     */
    async stopServerWatches(): Promise<void> {
      watchesStopped = true;
      if (watchSyncTimer) clearInterval(watchSyncTimer);
      watchSyncTimer = undefined;
      const running = [...serverWatches.values()];
      serverWatches.clear();
      for (const { watch, release } of running) {
        release();
        void watch.close().catch(() => {});
      }
    },

    /** The project's server-side watch and its last cycle (viewer). */
    async getWatch(actor: Actor, projectId: string) {
      await access.requireRole(actor, projectId, 'viewer');
      const setting = await deps.watchSettings?.find(projectId);
      return presentWatch(setting, serverWatches.has(projectId), shownPath);
    },

    /**
     * Switches the project's server-side watch on or off (editor). The folder must be inside
     * BRAINCELLS_MONITOR_ROOTS (403 naming the setting otherwise); this server starts or stops
     * its watch at once, the others at their next settings read.
     */
    async setWatch(
      actor: Actor,
      projectId: string,
      input: { enabled: boolean; path?: string | undefined; source?: SourceOption | undefined },
    ) {
      await access.requireRole(actor, projectId, 'editor');
      const store = deps.watchSettings;
      if (!store) throw new AppError('NOT_FOUND', 'Server-side watching is not available here');
      const previous = await store.find(projectId);
      const requested = input.path ?? previous?.path;
      if (requested === undefined) {
        throw validationError('path is required to switch the watch on', [
          { path: 'path', message: 'required' },
        ]);
      }
      // Checked when switching on, or when the folder changes; switching off keeps the folder.
      if (input.enabled || input.path !== undefined) await allowedServerPath(requested);
      const saved = await store.save(projectId, {
        path: path.resolve(requested),
        source: input.source ?? previous?.source ?? 'auto',
        enabled: input.enabled,
        updatedBy: actor.userId,
      });
      await syncServerWatches();
      return presentWatch(saved, serverWatches.has(projectId), shownPath);
    },

    /** API: import a path under the configured roots. */
    async importServerPath(
      actor: Actor,
      projectId: string,
      input: { path: string; source: SourceOption },
    ): Promise<ImportResult> {
      await access.requireRole(actor, projectId, 'editor');
      const real = await allowedServerPath(input.path);
      return runImport(actor, projectId, real, input.source);
    },

    /**
     * API: import uploaded files, each at the relative path its name gives. The files are
     * removed afterwards (their rows keep the raw JSON); stored paths read `upload:<id>/…`.
     * Uploading the same logs again changes no total.
     */
    async importUpload(
      actor: Actor,
      projectId: string,
      input: {
        files: AsyncIterable<{ filename: string; file: import('node:stream').Readable }>;
        source: SourceOption;
        maxBytes: number;
      },
    ): Promise<ImportResult> {
      await access.requireRole(actor, projectId, 'editor');
      const uploadId = uuidv7();
      const folder = path.join(deps.uploadDir, uploadId);
      await mkdir(folder, { recursive: true });
      try {
        const count = await saveUploads(folder, input.files, input.maxBytes);
        if (count === 0) {
          throw validationError('No file in the upload', [{ path: 'files', message: 'required' }]);
        }
        return await runImport(
          actor,
          projectId,
          folder,
          input.source,
          undefined,
          (absolute) =>
            `upload:${uploadId}/${path.relative(folder, absolute).split(path.sep).join('/')}`,
        );
      } finally {
        await rm(folder, { recursive: true, force: true });
      }
    },

    /** CLI: import any local path the user can read. */
    async importLocalPath(
      actor: Actor,
      projectId: string,
      input: {
        path: string;
        source: SourceOption;
        onProgress?: (progress: ImportProgress) => void;
      },
    ): Promise<ImportResult> {
      const resolved = await localPathFor(actor, projectId, input.path);
      return runImport(actor, projectId, resolved, input.source, input.onProgress);
    },

    /**
     * CLI: import a local folder now and again on every change until closed (see
     * monitor-watch.ts). Access is checked once, at start.
     */
    async watchLocalPath(
      actor: Actor,
      projectId: string,
      input: {
        path: string;
        source: SourceOption;
        onCycle: (cycle: WatchCycle) => void;
        onError: (error: unknown) => void;
        debounceMs?: number;
        reconcileMs?: number;
      },
    ): Promise<Watch> {
      const resolved = await localPathFor(actor, projectId, input.path);
      await storeOf(projectId);
      return startWatch({
        root: resolved,
        // The first cycle retries everything; later ones let failed files back off.
        run: (reason) =>
          runImport(
            actor,
            projectId,
            resolved,
            input.source,
            undefined,
            undefined,
            reason === 'start' ? undefined : { now: Date.now },
          ),
        onCycle: input.onCycle,
        onError: input.onError,
        onIdle: checkpointWhenIdle(projectId),
        ...(input.debounceMs === undefined ? {} : { debounceMs: input.debounceMs }),
        ...(input.reconcileMs === undefined ? {} : { reconcileMs: input.reconcileMs }),
      });
    },

    async sessionReport(actor: Actor, projectId: string, options: ReportOptions = {}) {
      const { store, filter } = await readableFilter(actor, projectId, options);
      return store.sessionReport(filter);
    },

    async dayReport(
      actor: Actor,
      projectId: string,
      timeZone: string,
      options: ReportOptions = {},
    ) {
      const { store, filter } = await readableFilter(actor, projectId, options);
      checkTimeZone(timeZone);
      return store.dayReport(filter, timeZone);
    },

    /** 5-hour usage blocks with burn rate and, for the open one, a projection to its end. */
    async blockReport(
      actor: Actor,
      projectId: string,
      options: ReportOptions & { now?: Date } = {},
    ) {
      const { store, filter } = await readableFilter(actor, projectId, options);
      const slices = await store.blockSlices(filter);
      return usageBlocksOfSlices(slices, (options.now ?? new Date()).getTime());
    },

    /** Usage per provider, project (working directory) or git branch. */
    async breakdownReport(
      actor: Actor,
      projectId: string,
      by: BreakdownDimension,
      options: ReportOptions = {},
    ) {
      const { store, filter } = await readableFilter(actor, projectId, options);
      return store.breakdownReport(filter, by);
    },

    async modelReport(actor: Actor, projectId: string, options: ReportOptions = {}) {
      const { store, filter } = await readableFilter(actor, projectId, options);
      return store.modelReport(filter);
    },

    /**
     * Our own LLM calls (the `llm_calls` the LLM module records) by feature, model or dataset,
     * read through the LLM module's service: rates are computed here from its counts.
     */
    async ownCallReport(
      actor: Actor,
      projectId: string,
      options: ReportOptions & { by: OwnCallsDimension },
    ) {
      await access.requireRole(actor, projectId, 'viewer');
      if (!deps.ownCalls) throw new AppError('NOT_FOUND', 'Own LLM calls are not available here');
      const rows = await deps.ownCalls.callStats(actor, projectId, {
        by: options.by,
        since: options.since,
      });
      return rows.map((row) => ({
        ...row,
        errorRate: row.attempts === 0 ? null : row.errors / row.attempts,
        cacheHitRate: row.calls === 0 ? null : row.cacheHits / row.calls,
      }));
    },

    /**
     * The project's budgets (project-wide and per user; the LLM module's, read through its
     * admin service) with their spend rate since the period began and where it ends the period.
     */
    async ownCallBudgets(actor: Actor, projectId: string, options: { now?: Date } = {}) {
      await access.requireRole(actor, projectId, 'viewer');
      if (!deps.ownCalls) throw new AppError('NOT_FOUND', 'Own LLM calls are not available here');
      const now = options.now ?? new Date();
      const budgets = await deps.ownCalls.listBudgets(actor, projectId);
      return { asOf: now, items: budgets.map((budget) => budgetBurn(budget, now)) };
    },

    /** Tool calls per tool name from the imported logs' parts (calls, failures, durations, errors). */
    async toolReport(actor: Actor, projectId: string, options: ReportOptions = {}) {
      const { store, filter } = await readableFilter(actor, projectId, options);
      const rows = await store.toolReport(filter, 5);
      return rows.map((row) => ({
        ...row,
        failureRate: row.calls === 0 ? null : row.failures / row.calls,
      }));
    },

    /**
     * One session with its agent tree: the sub-agents it started (and theirs), each with its
     * own usage and the roll-up of its subtree, its parts (text, tool calls, steps) and its
     * model calls in time order (tokens per step).
     */
    async sessionDetail(
      actor: Actor,
      projectId: string,
      sessionKey: string,
      options: { partLimit?: number; stepLimit?: number } = {},
    ) {
      const store = await readable(actor, projectId);
      const rows = await store.sessionReport({ projectId, since: undefined });
      const session = rows.find((row) => row.sessionKey === sessionKey);
      if (!session) throw notFound('session', sessionKey);
      const tree = buildAgentTree(rows, session);
      const parts = await store.sessionParts(projectId, sessionKey, options.partLimit ?? 1_000);
      const steps = await store.sessionSteps(projectId, sessionKey, options.stepLimit ?? 5_000);
      return { session, tree, parts, steps };
    },

    /**
     * A session's exchanges: each user turn and what followed it until the next (model and
     * tool calls, tokens, cost, the last reply). 404 for a session the project does not have.
     */
    async sessionExchanges(
      actor: Actor,
      projectId: string,
      sessionKey: string,
      options: { limit?: number } = {},
    ) {
      const store = await readable(actor, projectId);
      if (!(await store.hasSession(projectId, sessionKey))) throw notFound('session', sessionKey);
      return store.sessionExchanges(projectId, sessionKey, options.limit ?? 1_000);
    },

    /**
     * Imported files. `displayPath` is the path as a project member may see it (the routes
     * show only that): under a configured root `<root's folder name>/<path inside it>`,
     * uploads as stored, anything else (a CLI import of a server path) by its last two
     * segments — never the server's directory layout.
     */
    async files(actor: Actor, projectId: string) {
      const store = await readable(actor, projectId);
      return (await store.files(projectId)).map((file) => ({
        ...file,
        displayPath: shownPath(file.path),
      }));
    },
  };
}

export type MonitorService = ReturnType<typeof createMonitorService>;

/** A project's watch as the API shows it (no setting yet: off, no folder). */
function presentWatch(
  setting: WatchSetting | undefined,
  watchingHere: boolean,
  shownPath: (file: string) => string,
) {
  const iso = (value: Date | null | undefined) => (value ? value.toISOString() : null);
  return {
    enabled: setting?.enabled ?? false,
    // As `files` shows paths: the root's folder name and the path inside it.
    path: setting ? shownPath(setting.path) : null,
    source: setting?.source ?? ('auto' as SourceOption),
    live: setting?.live ?? false,
    watchingHere,
    lastCycleAt: iso(setting?.lastCycleAt),
    lastImportAt: iso(setting?.lastImportAt),
    lastError: setting?.lastError ?? null,
    updatedAt: iso(setting?.updatedAt),
  };
}

type ReportRow = Awaited<ReturnType<MonitorStore['sessionReport']>>[number];

export interface AgentNode {
  row: ReportRow;
  depth: number;
  /** This node's usage plus every descendant's. */
  rollup: {
    tokens: ReportRow['tokens'];
    costNano: number | null;
    unpricedEvents: number;
    usageEvents: number;
  };
  children: AgentNode[];
}

/**
 * The agent trace under `root`: Claude Code sub-agents ran in the same session (their
 * parent is the session's main transcript); OpenCode children name their parent session.
 */
export function buildAgentTree(rows: readonly ReportRow[], root: ReportRow): AgentNode {
  const childrenOf = (parent: ReportRow): ReportRow[] =>
    rows.filter((row) => {
      if (row === parent) return false;
      if (parent.source === 'claude-code') {
        return (
          parent.agentId === null &&
          row.source === 'claude-code' &&
          row.agentId !== null &&
          row.sessionId === parent.sessionId
        );
      }
      return row.source === 'opencode' && row.parentSessionId === parent.sessionId;
    });
  const visit = (row: ReportRow, depth: number, seen: Set<string>): AgentNode => {
    seen.add(row.sessionKey);
    const children =
      depth >= 20
        ? []
        : childrenOf(row)
            .filter((child) => !seen.has(child.sessionKey))
            .map((child) => visit(child, depth + 1, seen));
    const rollup = {
      tokens: { ...row.tokens },
      costNano: row.costNano,
      unpricedEvents: row.unpricedEvents,
      usageEvents: row.usageEvents,
    };
    for (const child of children) {
      for (const key of Object.keys(rollup.tokens) as (keyof typeof rollup.tokens)[]) {
        rollup.tokens[key] += child.rollup.tokens[key];
      }
      if (child.rollup.costNano !== null)
        rollup.costNano = (rollup.costNano ?? 0) + child.rollup.costNano;
      rollup.unpricedEvents += child.rollup.unpricedEvents;
      rollup.usageEvents += child.rollup.usageEvents;
    }
    return { row, depth, rollup, children };
  };
  return visit(root, 0, new Set());
}

declare module 'fastify' {
  interface FastifyInstance {
    /** The monitor's use cases (imports, reports); the CLI builds its own. */
    readonly monitor: MonitorService;
  }
}
