import type { AuditRecorder } from '../access/audit-recorder.ts';
import type { ProjectAccess } from '../access/project-access.ts';
import type { LlmService } from '../llm/llm-service.ts';
import type { EventBus } from '../platform/events.ts';
import type { Platform } from '../platform/platform.ts';
import { type AgentService, createAgentService } from './chat-agent-service.ts';
import { createReplyRun } from './chat-reply-run.ts';
import { type ChatService, createChatService } from './chat-service.ts';
import { createSummaryRun } from './chat-summary-run.ts';
import { chatDb } from './chat-tables.ts';
import type { ChatToolPorts } from './chat-tools.ts';
import { type ChatTransferService, createChatTransferService } from './chat-transfer-service.ts';

/**
 * Wires chat: its use cases (threads and messages; agents; export and import), and the `chat.reply` and `chat.summarize` run kinds on the platform's durable-run
 * engine (defined before the job queue starts; recovery is the engine's, see src/server.ts).
 */
export function createChatModule(deps: {
  platform: Pick<Platform, 'database' | 'runs' | 'logger' | 'config'>;
  access: ProjectAccess;
  audit: AuditRecorder;
  events: EventBus;
  llm: LlmService;
  /** What the agents' built-in tools run through: the sheets service and web search. */
  tools: ChatToolPorts;
  flushMs?: number;
}): { service: ChatService; agents: AgentService; transfer: ChatTransferService } {
  const logger = deps.platform.logger.child({ module: 'chat' });
  deps.platform.runs.define(
    createReplyRun({
      db: chatDb(deps.platform.database.db),
      llm: deps.llm,
      events: deps.events,
      logger,
      tools: deps.tools,
      runs: deps.platform.runs,
      defaultMaxOutputTokens: deps.platform.config.llm.defaultMaxOutputTokens,
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
  return { service, agents, transfer };
}
export type ChatModule = ReturnType<typeof createChatModule>;

declare module 'fastify' {
  interface FastifyInstance {
    /** Chat's use cases (docs/chat.md). */
    readonly chat: ChatService;
  }
}
