import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Kysely } from 'kysely';
import type { Actor } from '../../access/actor.ts';
import type { AuditRecorder } from '../../access/audit-recorder.ts';
import type { ProjectAccess } from '../../access/project-access.ts';
import { systemActor } from '../../auth/system-actor.ts';
import type { DB } from '../../migrations/db-schema.ts';
import { AppError, conflict, notFound, validationError } from '../../platform/app-error.ts';
import { type SecretBox, secretContext } from '../../platform/crypto.ts';
import { uuidv7 } from '../../platform/ids.ts';
import type { JobQueue } from '../../platform/jobs/job-queue.ts';
import type { Logger } from '../../platform/logger.ts';
import type { ExportWriter } from '../export/sheet-export-service.ts';
import type { AiColumnUseCases } from '../generation/generation-ai-columns.ts';
import { presentProcessFields } from '../generation/generation-presenter.ts';
import type { ImageExportFormat } from '../images/image-export.ts';
import type { SheetService } from '../sheet-service.ts';
import { creatorOf } from '../sheet-service-context.ts';
import {
  CARD_FILE,
  type CardColumn,
  CONFIG_FILE,
  DATA_FILE,
  datasetCard,
  datasetConfig,
} from './hub-card.ts';
import { createHubClient, type HubClient, HubError, type HubFile } from './hub-client.ts';
import type { HubStore, PublishRow } from './hub-store.ts';

export const PUBLISH_JOB = 'sheets.publish-hub';

/** `owner/name` as the Hub spells a repository: letters, digits, `-`, `_`, `.`; no `..`. */
const REPO_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,95}\/[A-Za-z0-9][A-Za-z0-9_.-]{0,95}$/;
/** A Hub token as we accept it: printable, no spaces, at most 400 characters. */
const TOKEN = /^[\x21-\x7e]{8,400}$/;

/** How often the server running a publish renews its heartbeat. */
const HEARTBEAT_MS = 10_000;
/**
 * A running publish whose heartbeat is older than this was cut off with its server: failed
 * (retry resumes it). Six missed beats: a busy server is not taken for a stopped one.
 */
export const PUBLISH_STALE_SECONDS = 60;
/** A failed publish's staged files are kept this long for a retry, then deleted (retry stages again). */
export const STAGING_KEEP_DAYS = 7;
const CUT_OFF = 'The server running the publish stopped; retry it';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export interface PublishRequest {
  repo: string;
  private: boolean;
}

export interface HubPublishServiceDeps {
  db: Kysely<DB>;
  store: HubStore;
  access: ProjectAccess;
  audit: AuditRecorder;
  secrets: SecretBox;
  sheets: Pick<SheetService, 'requireDataset'>;
  aiColumns: Pick<AiColumnUseCases, 'getAiColumn'>;
  /** Writes the dataset as Parquet with image structs (images/image-export.ts). */
  writeParquet: ExportWriter<ImageExportFormat>;
  /** Undefined in the CLI: the command runs the publish itself. */
  jobs: JobQueue | undefined;
  logger: Logger;
  settings: { hubUrl: string; envToken: string | undefined; dataDir: string };
  now?: () => Date;
}

const tokenContext = (projectId: string) => secretContext('hub_token', 'token', projectId);

/** The fields of a publish that leave the server (never the token). */
export function presentPublish(row: PublishRow, hubUrl: string) {
  const iso = (value: unknown) => (value ? new Date(value as Date | string).toISOString() : null);
  return {
    id: row.id,
    datasetId: row.dataset_id,
    repo: row.repo_id,
    private: row.private,
    status: row.status,
    error: row.error,
    repoUrl: `${hubUrl.replace(/\/+$/, '')}/datasets/${row.repo_id}`,
    commitOid: row.commit_oid,
    commitUrl: row.commit_url,
    filesUploaded: row.files_uploaded,
    filesSkipped: row.files_skipped,
    attempts: row.attempts,
    createdAt: iso(row.created_at)!,
    finishedAt: iso(row.finished_at),
  };
}
export type PublishView = ReturnType<typeof presentPublish>;

async function sha256Of(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/**
 * Publishing a dataset to the Hugging Face Hub (docs/images.md "Publish to the Hub"): editors
 * ask for a publish (audited), a job runs it, its row tells the status. A failure at any step
 * leaves the publish `failed` with the Hub's reason: the commit is the last step and is atomic
 * on the Hub, so nothing of a failed publish is visible there. Retry runs it again from the
 * files it staged (same bytes, same LFS object ids): objects the Hub already received are
 * skipped by its LFS batch answer. The token is read from the project's sealed token, else
 * HF_TOKEN; it goes to the Hub only, never into a row, an answer, the audit log or the logs.
 */
export function createHubPublishService(deps: HubPublishServiceDeps) {
  const { store, access, audit, secrets, settings, logger } = deps;
  const now = deps.now ?? (() => new Date());
  const stagingDir = (publishId: string) => path.join(settings.dataDir, 'hub-staging', publishId);
  const present = (row: PublishRow) => presentPublish(row, settings.hubUrl);
  /** Resolvers of `whenFinished`, by publish id (this process only). */
  const waiters = new Map<string, Set<(row: PublishView) => void>>();

  async function tokenOf(projectId: string): Promise<string | undefined> {
    const sealed = await store.findToken(projectId);
    return sealed ? secrets.decrypt(sealed, tokenContext(projectId)) : settings.envToken;
  }

  const clientFor = (token: string): HubClient =>
    createHubClient({ baseUrl: settings.hubUrl, token });

  /** The token is accepted by the Hub, or a 400 naming `token` (503 if the Hub is unreachable). */
  async function checkToken(token: string): Promise<void> {
    try {
      await clientFor(token).whoami();
    } catch (error) {
      if (!(error instanceof HubError)) throw error;
      if (error.status === 401 || error.status === 403)
        throw validationError('The Hugging Face Hub refused the token', [
          { path: 'token', message: `the Hub answered ${error.status}` },
        ]);
      throw new AppError('PROVIDER_UNAVAILABLE', error.message);
    }
  }

  function notify(row: PublishRow) {
    const view = present(row);
    for (const resolve of waiters.get(row.id) ?? []) resolve(view);
    waiters.delete(row.id);
  }

  async function requirePublish(projectId: string, publishId: string) {
    const row = await store.findPublish(publishId);
    if (!row || row.project_id !== projectId) throw notFound('publish', publishId);
    return row;
  }

  async function queue(row: PublishRow, inline: boolean): Promise<PublishView> {
    if (inline || !deps.jobs) return executePublish(row.id);
    await deps.jobs.send(PUBLISH_JOB, { publishId: row.id }, { retryLimit: 0 });
    return present(row);
  }

  /** The columns as the card and the config describe them (AI columns with their process). */
  async function cardColumns(projectId: string, datasetId: string) {
    const actor = systemActor();
    const { dataset, columns } = await deps.sheets.requireDataset(actor, projectId, datasetId);
    const names = new Map(columns.map((column) => [column.id, column.name]));
    const described: CardColumn[] = [];
    for (const column of columns) {
      const entry: CardColumn = {
        name: column.name,
        type: column.type,
        kind: column.kind,
        formula: column.formula,
      };
      if (column.kind === 'ai') {
        const { process } = await deps.aiColumns.getAiColumn(
          actor,
          projectId,
          datasetId,
          column.id,
        );
        entry.ai = {
          ...presentProcessFields(process),
          inputs: process.inputColumnIds.map((id) => names.get(id) ?? id),
        };
      }
      described.push(entry);
    }
    return { dataset, columns, described };
  }

  /**
   * The files of a publish, written once into its staging folder and reused by a retry, so the
   * bytes (and the LFS ids) are the same: what the Hub already holds is not sent again.
   */
  async function stage(row: PublishRow): Promise<HubFile[]> {
    const dir = stagingDir(row.id);
    const manifestPath = path.join(dir, 'manifest.json');
    const staged = await readFile(manifestPath, 'utf8').then(
      (text) => JSON.parse(text) as HubFile[],
      () => undefined,
    );
    if (staged) {
      const intact = await Promise.all(
        staged.map((file) =>
          stat(file.file).then(
            (info) => info.size === file.size,
            () => false,
          ),
        ),
      );
      if (intact.every(Boolean)) return staged;
    }
    await rm(dir, { recursive: true, force: true });
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const { dataset, columns, described } = await cardColumns(row.project_id, row.dataset_id);
    const written = await deps.writeParquet({
      projectId: row.project_id,
      datasetId: dataset.id,
      columns: columns.map((column) => ({ id: column.id, name: column.name, type: column.type })),
      request: { format: 'parquet', withMetadata: false },
    });
    const data = path.join(dir, 'data.parquet');
    await rename(written.path, data);
    const input = {
      name: dataset.name,
      rows: written.rows,
      columns: described,
      publishedAt: now(),
    };
    const card = path.join(dir, 'README.md');
    const config = path.join(dir, 'braincells.json');
    await writeFile(card, datasetCard(input));
    await writeFile(config, `${JSON.stringify(datasetConfig(input), null, 2)}\n`);
    const files: HubFile[] = [];
    for (const [repoPath, file] of [
      [DATA_FILE, data],
      [CARD_FILE, card],
      [CONFIG_FILE, config],
    ] as const)
      files.push({
        path: repoPath,
        file,
        sha256: await sha256Of(file),
        size: (await stat(file)).size,
      });
    await writeFile(manifestPath, JSON.stringify(files));
    return files;
  }

  /** Runs a queued publish to its end (the job handler; the CLI directly). Never throws. */
  async function executePublish(publishId: string): Promise<PublishView> {
    const row = await store.transition(publishId, 'queued', {
      status: 'running',
      error: null,
      attempt: true,
    });
    if (!row) {
      const current = await store.findPublish(publishId);
      if (!current) throw notFound('publish', publishId);
      return present(current);
    }
    let finished: PublishRow | undefined;
    // Other servers read a publish whose beat stops as cut off (reapStale).
    const heartbeat = setInterval(() => {
      store.beat(row.id).catch((error: unknown) => {
        logger.warn({ err: error, publishId }, 'hub publish heartbeat failed');
      });
    }, HEARTBEAT_MS);
    heartbeat.unref();
    try {
      const token = await tokenOf(row.project_id);
      if (!token)
        throw new HubError(401, "No Hugging Face token: set the project's Hub token or HF_TOKEN");
      const client = clientFor(token);
      await client.createRepo(row.repo_id, row.private);
      const files = await stage(row);
      const modes = await client.preupload(row.repo_id, files);
      const sent = await client.uploadLfs(
        row.repo_id,
        files.filter((file) => modes.get(file.path) === 'lfs'),
      );
      await store.countFiles(row.id, sent.uploaded, sent.skipped);
      const operations = await Promise.all(
        files.map(async (file) => {
          const mode = modes.get(file.path) ?? 'lfs';
          return mode === 'regular'
            ? { file, mode, content: await readFile(file.file) }
            : { file, mode };
        }),
      );
      const commit = await client.commit(
        row.repo_id,
        `Publish dataset from Brain Cells (${files.length} files)`,
        operations,
      );
      finished = await store.transition(row.id, 'running', {
        status: 'done',
        commit_oid: commit.commitOid,
        commit_url: commit.commitUrl,
        finished: true,
      });
      await rm(stagingDir(row.id), { recursive: true, force: true });
    } catch (error) {
      const message =
        error instanceof HubError || error instanceof AppError
          ? error.message
          : 'The publish failed on the server; see its log';
      if (!(error instanceof HubError))
        logger.error({ err: error, publishId }, 'hub publish failed');
      else logger.info({ publishId, status: error.status }, 'hub publish refused by the Hub');
      finished = await store.transition(row.id, 'running', {
        status: 'failed',
        error: message,
        finished: true,
      });
    } finally {
      clearInterval(heartbeat);
    }
    const final = finished ?? (await store.findPublish(row.id))!;
    notify(final);
    await cleanStaging().catch((error: unknown) => {
      logger.warn({ err: error }, 'hub staging clean-up failed');
    });
    return present(final);
  }

  /**
   * Fails the project's (or every) running publish whose heartbeat stopped: its server was cut
   * off (several servers share the database, so a start cannot tell which are its own).
   * Called before a publish is read or retried, so none stays `running` for ever.
   */
  async function reapStale(projectId?: string): Promise<number> {
    const failed = await store.failStale(CUT_OFF, PUBLISH_STALE_SECONDS, projectId);
    if (failed > 0)
      logger.info({ failed, projectId }, 'hub publishes cut off with their server failed');
    return failed;
  }

  /**
   * Deletes this server's staged files that no retry will use: those of a publish that is
   * done or no longer exists (its project deleted), and those of a publish failed more than
   * STAGING_KEEP_DAYS ago (a later retry stages them again). Returns the folders deleted.
   */
  async function cleanStaging(): Promise<number> {
    const root = path.join(settings.dataDir, 'hub-staging');
    const names = await readdir(root).catch(() => [] as string[]);
    const ids = names.filter((name) => UUID.test(name));
    if (ids.length === 0) return 0;
    const known = new Map((await store.statusOf(ids)).map((row) => [row.id, row]));
    const keepAfter = now().getTime() - STAGING_KEEP_DAYS * 86_400_000;
    let deleted = 0;
    for (const id of ids) {
      const row = known.get(id);
      const stale =
        !row ||
        row.status === 'done' ||
        (row.status === 'failed' &&
          row.finished_at !== null &&
          new Date(row.finished_at).getTime() < keepAfter);
      if (!stale) continue;
      await rm(stagingDir(id), { recursive: true, force: true });
      deleted++;
    }
    return deleted;
  }

  return {
    /**
     * Asks for a publish: editors, a ready dataset, a token the Hub accepts. Audited
     * (`dataset.publish`). Returns at once with the publish queued (its job runs it), or, in
     * the CLI (no jobs, or `inline`), once it has run.
     */
    async publishDataset(
      actor: Actor,
      projectId: string,
      datasetId: string,
      request: PublishRequest,
      options: { inline?: boolean } = {},
    ): Promise<PublishView> {
      await access.requireRole(actor, projectId, 'editor');
      if (!REPO_ID.test(request.repo) || request.repo.includes('..'))
        throw validationError('The repository must be `owner/name` (letters, digits, - _ .)', [
          { path: 'repo', message: 'must be owner/name' },
        ]);
      const { dataset } = await deps.sheets.requireDataset(actor, projectId, datasetId, 'editor');
      const token = await tokenOf(projectId);
      if (!token)
        throw validationError(
          "No Hugging Face token: set the project's Hub token or HF_TOKEN on the server",
          [{ path: 'token', message: 'no token' }],
        );
      await checkToken(token);
      const row = await deps.db.transaction().execute(async (trx) => {
        const inserted = await store.insertPublish(trx, {
          id: uuidv7(),
          project_id: projectId,
          dataset_id: dataset.id,
          repo_id: request.repo,
          private: request.private,
          status: 'queued',
          created_by: creatorOf(actor),
        });
        await audit.record(trx, {
          actor,
          action: 'dataset.publish',
          entityType: 'dataset',
          entityId: dataset.id,
          projectId,
          summary: { repo: request.repo, private: request.private, publishId: inserted.id },
        });
        return inserted;
      });
      return queue(row, options.inline ?? false);
    },

    /** A failed publish queued again; it resumes from its staged files. */
    async retryPublish(
      actor: Actor,
      projectId: string,
      publishId: string,
      options: { inline?: boolean } = {},
    ): Promise<PublishView> {
      await access.requireRole(actor, projectId, 'editor');
      await reapStale(projectId);
      const current = await requirePublish(projectId, publishId);
      if (current.status !== 'failed')
        throw conflict(`The publish is ${current.status}; only a failed one is retried`, {
          status: current.status,
        });
      const row = await deps.db.transaction().execute(async (trx) => {
        const queued = await store.transition(
          publishId,
          'failed',
          { status: 'queued', error: null, finished: false },
          trx,
        );
        if (!queued) throw conflict('The publish changed meanwhile; read it again');
        await audit.record(trx, {
          actor,
          action: 'dataset.publish-retry',
          entityType: 'dataset',
          entityId: queued.dataset_id,
          projectId,
          summary: { repo: queued.repo_id, publishId },
        });
        return queued;
      });
      return queue(row, options.inline ?? false);
    },

    async getPublish(actor: Actor, projectId: string, publishId: string) {
      await access.requireRole(actor, projectId, 'viewer');
      await reapStale(projectId);
      return present(await requirePublish(projectId, publishId));
    },

    async listPublishes(actor: Actor, projectId: string, datasetId?: string) {
      await access.requireRole(actor, projectId, 'viewer');
      await reapStale(projectId);
      return (await store.listPublishes(projectId, datasetId, 50)).map(present);
    },

    /** Whether a token is set for the project and on the server (never the token). */
    async tokenStatus(actor: Actor, projectId: string) {
      await access.requireRole(actor, projectId, 'viewer');
      return {
        project: (await store.findToken(projectId)) !== undefined,
        environment: settings.envToken !== undefined,
        hubUrl: settings.hubUrl,
      };
    },

    /** Owners set the project's token, checked with the Hub first; sealed at rest. */
    async setToken(actor: Actor, projectId: string, token: string) {
      await access.requireRole(actor, projectId, 'owner');
      if (!TOKEN.test(token))
        throw validationError('The token must be 8–400 printable characters without spaces', [
          { path: 'token', message: 'malformed' },
        ]);
      await checkToken(token);
      await deps.db.transaction().execute(async (trx) => {
        await store.saveToken(trx, {
          project_id: projectId,
          token: secrets.encrypt(token, tokenContext(projectId)),
          updated_by: creatorOf(actor),
        });
        await audit.record(trx, {
          actor,
          action: 'hub.token-set',
          entityType: 'project',
          entityId: projectId,
          projectId,
        });
      });
      return {
        project: true,
        environment: settings.envToken !== undefined,
        hubUrl: settings.hubUrl,
      };
    },

    async deleteToken(actor: Actor, projectId: string): Promise<void> {
      await access.requireRole(actor, projectId, 'owner');
      await deps.db.transaction().execute(async (trx) => {
        if (!(await store.deleteToken(trx, projectId))) throw notFound('hub token');
        await audit.record(trx, {
          actor,
          action: 'hub.token-delete',
          entityType: 'project',
          entityId: projectId,
          projectId,
        });
      });
    },

    executePublish,

    /** Resolves once the publish is done or failed (tests and the CLI wait on it). */
    async whenFinished(publishId: string): Promise<PublishView> {
      const settled = new Promise<PublishView>((resolve) => {
        const set = waiters.get(publishId) ?? new Set();
        set.add(resolve);
        waiters.set(publishId, set);
      });
      const row = await store.findPublish(publishId);
      if (!row) throw notFound('publish', publishId);
      if (row.status === 'done' || row.status === 'failed') {
        waiters.delete(publishId);
        return present(row);
      }
      return settled;
    },

    /** Embedded: publishes a stopped server left running are failed (retry resumes them). */
    recover: () => store.failRunning('The server stopped during the publish; retry it'),
    reapStale,
    cleanStaging,
  };
}

export type HubPublishService = ReturnType<typeof createHubPublishService>;
