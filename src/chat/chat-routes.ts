import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Actor } from '../access/actor.ts';
import type { EventBus } from '../platform/events.ts';
import { streamToClient } from '../platform/http/sse.ts';
import { chatSettingsBody, chatSettingsSchema } from './chat-agent-schema.ts';
import { threadStream } from './chat-reply-run.ts';
import { chatRoute } from './chat-route-helpers.ts';
import {
  createThreadBody,
  editMessageBody,
  forkThreadBody,
  listMessagesQuery,
  listThreadsQuery,
  messagePageSchema,
  messageParams,
  messageSchema,
  projectParams,
  regenerateBody,
  revisionSchema,
  selectBranchBody,
  sendMessageBody,
  sendResultSchema,
  summarizeBody,
  summarySchema,
  threadDetailSchema,
  threadPageSchema,
  threadParams,
  threadSchema,
  updateThreadBody,
} from './chat-schema.ts';
import type { ChatService } from './chat-service.ts';

/**
 * Chat over REST + SSE (docs/chat.md). Sending answers 202 with the reply's id: the reply is
 * a durable run, followed on the thread's event stream.
 */
type ThreadRequest = { actor: Actor; params: { projectId: string; threadId: string } };

/** Who asks and about which thread (or message): the first arguments of every use case. */
const threadArgs = (request: ThreadRequest) =>
  [request.actor, request.params.projectId, request.params.threadId] as const;
const messageArgs = (request: ThreadRequest & { params: { messageId: string } }) =>
  [...threadArgs(request), request.params.messageId] as const;

export const chatRoutes: FastifyPluginAsyncZod<{ chat: ChatService; events: EventBus }> = async (
  app,
  options,
) => {
  const { chat, events } = options;
  const threads = '/api/projects/:projectId/chat/threads';
  const thread = `${threads}/:threadId`;
  const message = `${thread}/messages/:messageId`;

  app.get(
    threads,
    chatRoute(
      'Threads, most recently active first (cursor-paginated; filters: pinned, archived, agentId; q: full-text search with highlighted snippets; viewer)',
      {
        params: projectParams,
        querystring: listThreadsQuery,
        response: { 200: threadPageSchema },
      },
    ),
    async (request) => chat.listThreads(request.actor, request.params.projectId, request.query),
  );

  app.post(
    threads,
    chatRoute('Start a thread (editor)', {
      params: projectParams,
      body: createThreadBody,
      response: { 201: threadSchema },
    }),
    async (request, reply) =>
      reply
        .status(201)
        .send(await chat.createThread(request.actor, request.params.projectId, request.body)),
  );

  app.get(
    thread,
    chatRoute('One thread with its token and cost totals (viewer)', {
      params: threadParams,
      response: { 200: threadDetailSchema },
    }),
    async (request) => chat.getThread(...threadArgs(request)),
  );

  app.patch(
    thread,
    chatRoute('Rename, pin, archive or change the model of a thread (editor)', {
      params: threadParams,
      body: updateThreadBody,
      response: { 200: threadSchema },
    }),
    async (request) => chat.updateThread(...threadArgs(request), request.body),
  );

  app.delete(
    thread,
    chatRoute(
      'Delete a thread (editor): restorable until its purge (`purgeAfter`); a streaming reply is stopped',
      {
        params: threadParams,
        response: { 204: z.null().describe('Deleted') },
      },
    ),
    async (request, reply) => {
      await chat.deleteThread(...threadArgs(request));
      return reply.status(204).send(null);
    },
  );

  app.post(
    `${thread}/restore`,
    chatRoute(
      'Restore a deleted thread before its purge (editor); a live thread answers as it is',
      {
        params: threadParams,
        response: { 200: threadSchema },
      },
    ),
    async (request) => chat.restoreThread(...threadArgs(request)),
  );

  app.get(
    `${thread}/messages`,
    chatRoute('A page of the current branch, oldest first (viewer)', {
      params: threadParams,
      querystring: listMessagesQuery,
      response: { 200: messagePageSchema },
    }),
    async (request) => chat.listMessages(...threadArgs(request), request.query),
  );

  app.post(
    `${thread}/messages`,
    chatRoute('Send a message; the reply streams on the thread events (editor)', {
      params: threadParams,
      body: sendMessageBody,
      response: { 202: sendResultSchema },
    }),
    async (request, reply) =>
      reply.status(202).send(await chat.sendMessage(...threadArgs(request), request.body)),
  );

  app.patch(
    message,
    chatRoute(
      'Edit a message with the version you saw: a user message becomes a new branch (202), a reply changes in place (200)',
      {
        params: messageParams,
        body: editMessageBody,
        response: { 200: sendResultSchema, 202: sendResultSchema },
      },
    ),
    async (request, reply) => {
      const { status, ...result } = await chat.editMessage(...messageArgs(request), request.body);
      return reply.status(status).send(result);
    },
  );

  app.get(
    `${message}/revisions`,
    chatRoute('Earlier texts of a message, oldest first (viewer)', {
      params: messageParams,
      response: { 200: z.object({ items: z.array(revisionSchema) }) },
    }),
    async (request) => ({
      items: await chat.listRevisions(...messageArgs(request)),
    }),
  );

  app.post(
    `${message}/regenerate`,
    chatRoute('A new sibling reply, optionally from another model (editor)', {
      params: messageParams,
      body: regenerateBody,
      response: { 202: sendResultSchema },
    }),
    async (request, reply) =>
      reply.status(202).send(await chat.regenerate(...messageArgs(request), request.body)),
  );

  app.post(
    `${message}/stop`,
    chatRoute('Stop a streaming reply; its text so far is kept (editor)', {
      params: messageParams,
      response: { 200: messageSchema },
    }),
    async (request) => chat.stopReply(...messageArgs(request)),
  );

  app.post(
    `${thread}/branch`,
    chatRoute('Show the branch through a message (the branch switcher; editor)', {
      params: threadParams,
      body: selectBranchBody,
      response: { 200: threadSchema },
    }),
    async (request) => chat.selectBranch(...threadArgs(request), request.body.messageId),
  );

  app.post(
    `${thread}/fork`,
    chatRoute('Fork: a new thread with the branch up to a message (editor; 201)', {
      params: threadParams,
      body: forkThreadBody,
      response: { 201: threadSchema },
    }),
    async (request, reply) =>
      reply.status(201).send(await chat.forkThread(...threadArgs(request), request.body)),
  );

  app.get(
    `${thread}/summaries`,
    chatRoute('Summaries of the thread, oldest first (viewer)', {
      params: threadParams,
      response: { 200: z.object({ items: z.array(summarySchema) }) },
    }),
    async (request) => ({
      items: await chat.listSummaries(...threadArgs(request)),
    }),
  );

  app.post(
    `${thread}/summaries`,
    chatRoute(
      'Summarize now: the branch up to its last exchange, from the previous summary on (editor; 202)',
      {
        params: threadParams,
        body: summarizeBody,
        response: { 202: summarySchema },
      },
    ),
    async (request, reply) =>
      reply.status(202).send(await chat.summarize(...threadArgs(request), request.body)),
  );

  const settings = '/api/projects/:projectId/chat/settings';
  app.get(
    settings,
    chatRoute("The project's chat settings: the summarizer model (viewer)", {
      params: projectParams,
      response: { 200: chatSettingsSchema },
    }),
    async (request) => chat.getSettings(request.actor, request.params.projectId),
  );

  app.put(
    settings,
    chatRoute(
      "Set the project's summarizer model (editor); an agent's own summarizer wins, null: the reply's model",
      {
        params: projectParams,
        body: chatSettingsBody,
        response: { 200: chatSettingsSchema },
      },
    ),
    async (request) => chat.updateSettings(request.actor, request.params.projectId, request.body),
  );

  app.get(
    `${thread}/events`,
    chatRoute(
      'Live thread (Server-Sent Events: message-created, message-delta, message-updated, thread-updated, summary-updated, error; resume with Last-Event-ID)',
      {
        params: threadParams,
        querystring: z.object({ lastEventId: z.string().max(20).optional() }),
      },
    ),
    async (request, reply) => {
      await chat.requireThread(...threadArgs(request));
      streamToClient(request, reply, events, threadStream(request.params.threadId));
    },
  );
};
