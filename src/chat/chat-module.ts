import { sql } from 'kysely';
import type { AuditRecorder } from '../access/audit-recorder.ts';
import type { ProjectAccess } from '../access/project-access.ts';
import { systemActor } from '../auth/system-actor.ts';
import type { LlmService } from '../llm/llm-service.ts';
import type { EventBus } from '../platform/events.ts';
import type { Platform } from '../platform/platform.ts';
import type { ImageService } from '../sheets/images/image-service.ts';
import type { ImageReferenceSource } from '../sheets/images/image-sweep.ts';
import { createPreparedImages, withImageInputs } from '../sheets/images/image-vision.ts';
import { type AgentService, createAgentService } from './chat-agent-service.ts';
import { type ChatAttachments, createChatAttachments } from './chat-attachments.ts';
import { createReplyRun, type ReplyContextHandOff } from './chat-reply-run.ts';
import { type ChatService, createChatService } from './chat-service.ts';
import { imageHashesOfProject } from './chat-store.ts';
import { createSummaryRun } from './chat-summary-run.ts';
import { chatDb } from './chat-tables.ts';
import type { ChatToolPorts } from './chat-tools.ts';
import { type ChatTransferService, createChatTransferService } from './chat-transfer-service.ts';

/**
 * Wires chat: its use cases (threads and messages; agents; export and import), and the `chat.reply` and `chat.summarize` run kinds on the platform's durable-run
 * engine (defined before the job queue starts; recovery is the engine's, see src/server.ts).
 */
export const PURGE_THREADS_JOB = 'chat.purge-threads';
const PURGE_EVERY_SECONDS = 3_600;

export function createChatModule(deps: {
  platform: Pick<Platform, 'database' | 'runs' | 'logger' | 'config' | 'jobs'>;
  access: ProjectAccess;
  audit: AuditRecorder;
  events: EventBus;
  llm: LlmService;
  /** What the agents' built-in tools run through: the sheets service and web search. */
  tools: ChatToolPorts;
  /**
   * Images in messages: stored and read through the image service (sheets' image columns
   * use the same store); `acceptReferences` keeps the images messages carry from the sweep.
   */
  images?: {
    images: Pick<
      ImageService,
      'storeImage' | 'heldImages' | 'original' | 'thumbnail' | 'limits' | 'readForModel'
    >;
    acceptReferences(source: ImageReferenceSource): void;
  };
  flushMs?: number;
}): {
  service: ChatService;
  /** Image uploads and their bytes (absent without `images`). */
  attachments: ChatAttachments | undefined;
  agents: AgentService;
  transfer: ChatTransferService;
  /** Once the queue runs: the purge of deleted threads is scheduled. */
  start(): Promise<void>;
} {
  const logger = deps.platform.logger.child({ module: 'chat' });
  const handOff: ReplyContextHandOff = new Map();
  const db = chatDb(deps.platform.database.db);
  const attachments =
    deps.images &&
    createChatAttachments({
      db,
      access: deps.access,
      images: deps.images.images,
      visionModels: deps.platform.config.generation.visionModels,
    });
  deps.images?.acceptReferences((projectId) => imageHashesOfProject(db, projectId));
  deps.platform.runs.define(
    createReplyRun({
      db,
      audit: deps.audit,
      // A user message's images go by hash; the project's bytes are put in before each call.
      llm: deps.images
        ? withImageInputs(deps.llm, createPreparedImages(deps.images.images))
        : deps.llm,
      ...(attachments ? { acceptsImages: attachments.acceptsImages } : {}),
      events: deps.events,
      logger,
      tools: deps.tools,
      runs: deps.platform.runs,
      defaultMaxOutputTokens: deps.platform.config.llm.defaultMaxOutputTokens,
      handOff,
      ...(deps.flushMs === undefined ? {} : { flushMs: deps.flushMs }),
    }),
  );
  deps.platform.runs.define(
    createSummaryRun({ db: chatDb(deps.platform.database.db), llm: deps.llm, events: deps.events }),
  );
  const service = createChatService({
    db: deps.platform.database.db,
    access: deps.access,
    audit: deps.audit,
    events: deps.events,
    runs: deps.platform.runs,
    logger,
    retentionDays: deps.platform.config.chat.retentionDays,
    handOff,
    ...(attachments ? { attachments } : {}),
  });
  const agents = createAgentService({
    db: deps.platform.database.db,
    access: deps.access,
    audit: deps.audit,
  });
  const transfer = createChatTransferService({
    db: deps.platform.database.db,
    access: deps.access,
    audit: deps.audit,
  });
  const { jobs } = deps.platform;
  const schedulePurge = (delaySeconds: number) =>
    jobs
      .send(PURGE_THREADS_JOB, {}, { singletonKey: PURGE_THREADS_JOB, startAfter: delaySeconds })
      .catch((error: unknown) => {
        logger.debug({ err: error, job: PURGE_THREADS_JOB }, 'job already scheduled');
      });
  // Deleted threads past their restore window (BRAINCELLS_CHAT_RETENTION_DAYS) go for good.
  jobs.register({
    name: PURGE_THREADS_JOB,
    handler: async () => {
      const purged = await service.purgeExpiredThreads(systemActor());
      if (purged > 0) logger.info({ purged }, 'purged deleted chat threads');
      // PGlite runs without autovacuum, so nothing gathers the planner's statistics there: search
      // picks the GIN index or the thread list's order from how many messages a word is in
      // (docs/chat.md "Search"). PostgreSQL's autoanalyze does this on a server.
      if (deps.platform.database.kind === 'pglite') {
        await sql`analyze chat_thread, chat_message, chat_message_search`.execute(
          deps.platform.database.db,
        );
      }
      await schedulePurge(PURGE_EVERY_SECONDS);
      return { purged };
    },
  });
  return {
    service,
    attachments,
    agents,
    transfer,
    async start() {
      if (jobs.started) await schedulePurge(60);
    },
  };
}
export type ChatModule = ReturnType<typeof createChatModule>;

declare module 'fastify' {
  interface FastifyInstance {
    /** Chat's use cases (docs/chat.md). */
    readonly chat: ChatService;
  }
}
