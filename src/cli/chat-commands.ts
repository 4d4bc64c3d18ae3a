import { writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { systemActor } from '../auth/system-actor.ts';
import type { MessageView } from '../chat/chat-presenter.ts';
import { createThreadBody, messageContent, modelName, providerRef } from '../chat/chat-schema.ts';
import { isUuid } from '../platform/ids.ts';
import { parseOrExit } from './auth-commands.ts';
import { withFeatures } from './cli-features.ts';
import { CliError, EXIT, printJson } from './cli-output.ts';

/**
 * The text a reply shows after a `message-delta` (docs/chat.md "Streaming": the text from
 * `offset` on is `text`), and what to write to a terminal that already shows `shown`: the
 * new end, or — when the delta rewrote text already written (a run taken up again) — a line
 * break and the whole text again.
 */
export function applyReplyDelta(
  shown: string,
  delta: { offset: number; text: string },
): { text: string; write: string } {
  const text = shown.slice(0, delta.offset) + delta.text;
  if (text.startsWith(shown)) return { text, write: text.slice(shown.length) };
  return { text, write: `\n${text}` };
}

interface AskOptions {
  project?: string;
  agent?: string;
  model?: string;
  provider?: string;
  thread?: string;
  title?: string;
  json?: boolean;
}

const usd = (nano: number | null) =>
  nano === null ? 'price unknown' : `$${(nano / 1e9).toFixed(4)}`;

/** The closing line on stderr: model, tokens, cost, latency — what the web shows per message. */
function replyFooter(message: MessageView): string {
  const tokens =
    (message.usage.uncachedInputTokens ?? 0) +
    (message.usage.cacheReadTokens ?? 0) +
    (message.usage.cacheWriteTokens ?? 0);
  return `${message.model ?? '?'} · ${tokens} in / ${message.usage.outputTokens ?? 0} out tokens · ${usd(message.costNano)} · ${message.latencyMs ?? '-'} ms`;
}

/**
 * `braincells chat "question"` and `braincells chat export`: they call the chat use cases as
 * the system actor, never the HTTP routes. A reply is the same durable run the server makes,
 * executed here; its text streams to stdout as the run writes it.
 */
export function registerChatCommands(program: Command): void {
  const chat = program
    .command('chat')
    .description(
      'Ask in a chat thread and stream the reply to stdout; `chat export` writes a thread',
    )
    .argument('[question]', 'the message to send')
    .option('--project <project>', 'project id (required for a new thread)')
    .option('--agent <agent>', 'the agent that answers, by name or id (a new thread)')
    .option('--model <model>', 'the model that answers, without an agent (a new thread)')
    .option('--provider <provider>', 'a provider id or env:<kind> for --model')
    .option('--thread <thread>', 'continue this thread instead of starting one')
    .option('--title <title>', 'title of a new thread (default: the question)')
    .option('--json', 'print the thread id and the finished reply as JSON instead of streaming')
    .action(async (question: string | undefined, options: AskOptions) => {
      if (question === undefined)
        throw new CliError(
          'a question is required, e.g. braincells chat --agent A "Hello"',
          EXIT.usage,
        );
      const content = parseOrExit(messageContent, question, 'question');
      if (!options.thread && !options.project)
        throw new CliError('--project is required for a new thread (or --thread)', EXIT.usage);
      if (!options.thread && !options.agent && !options.model)
        throw new CliError('--agent or --model is required for a new thread', EXIT.usage);
      const model =
        options.model === undefined ? undefined : parseOrExit(modelName, options.model, '--model');
      const provider =
        options.provider === undefined
          ? undefined
          : parseOrExit(providerRef, options.provider, '--provider');
      if (options.thread !== undefined && !isUuid(options.thread))
        throw new CliError('--thread must be a thread id', EXIT.usage);

      const outcome = await withFeatures(async (features, platform) => {
        const actor = systemActor();
        const { service, agents } = features.chat;
        let projectId = options.project;
        let threadId = options.thread;
        if (threadId) {
          const thread = await service.getThreadById(actor, threadId);
          if (projectId && projectId !== thread.projectId)
            throw new CliError(`thread ${threadId} is not in project ${projectId}`);
          projectId = thread.projectId;
        } else {
          let agentId: string | undefined;
          if (options.agent) {
            const list = await agents.listAgents(actor, projectId!);
            const agent = list.find(
              (candidate) =>
                candidate.id === options.agent ||
                candidate.name.toLowerCase() === options.agent!.toLowerCase(),
            );
            if (!agent)
              throw new CliError(
                `no agent ${JSON.stringify(options.agent)} in project ${projectId}`,
              );
            agentId = agent.id;
          }
          const input = parseOrExit(
            createThreadBody,
            {
              title:
                options.title ?? (question.replace(/\s+/g, ' ').trim().slice(0, 80) || 'New chat'),
              ...(model ? { model } : {}),
              ...(provider ? { provider } : {}),
              ...(agentId ? { agentId } : {}),
            },
            '--title',
          );
          threadId = (await service.createThread(actor, projectId!, input)).id;
        }
        // The queue runs without workers here: the reply's job is stored, and this process
        // executes the run itself (a server that takes the job later finds it done).
        features.registerJobs();
        await platform.jobs.start();
        const { threadStream } = await import('../chat/chat-reply-run.ts');
        const stream = threadStream(threadId);
        const subscription = await features.events.subscribe(stream, {
          lastEventId: await features.events.lastId(stream),
        });
        let shown = '';
        let replyId: string | undefined;
        const print = (delta: { offset: number; text: string }) => {
          const next = applyReplyDelta(shown, delta);
          shown = next.text;
          if (!options.json && next.write) process.stdout.write(next.write);
        };
        const drain = () => {
          for (const event of subscription.take()) {
            const delta = event.data as { messageId?: string; offset: number; text: string };
            if (event.type === 'message-delta' && delta.messageId === replyId) print(delta);
          }
        };
        subscription.onReady(drain);
        try {
          // Executed here at once: the run is reserved for this process, with the context the send read.
          const sent = await service.sendMessage(
            actor,
            projectId!,
            threadId,
            { content },
            { runHere: true },
          );
          replyId = sent.assistantMessage.id;
          if (!options.json) process.stderr.write(`thread ${threadId}\n`);
          const { runId } = sent;
          if (!runId) throw new CliError('the reply did not start');
          // Ctrl-C stops the reply (its text so far is kept, as Stop in the web does).
          const onSignal = () => void platform.runs.requestCancel(runId);
          process.once('SIGINT', onSignal);
          try {
            await platform.runs.execute(runId);
          } finally {
            process.removeListener('SIGINT', onSignal);
          }
          drain();
        } finally {
          subscription.close();
        }
        const reply = await service.getMessage(actor, projectId!, threadId, replyId);
        // The stored text is the reply; whatever the stream did not deliver is written now.
        if (reply.content !== shown) print({ offset: 0, text: reply.content });
        return { threadId, reply };
      });
      const { reply } = outcome;
      if (options.json) printJson({ threadId: outcome.threadId, message: reply });
      else {
        process.stdout.write(finalNewline(reply));
        process.stderr.write(`${replyFooter(reply)}\n`);
      }
      if (reply.status === 'error')
        throw new CliError(`the reply failed: ${reply.error?.code}: ${reply.error?.message}`);
      if (reply.status === 'stopped') throw new CliError('the reply was stopped');
    });

  chat
    .command('export')
    .description('Write a thread with every branch as Markdown or JSON')
    .argument('<thread>', 'thread id')
    .option('--format <format>', 'md or json', 'md')
    .option('--out <file>', 'write to this file instead of stdout')
    .action(async (threadId: string, options: { format: string; out?: string }) => {
      if (options.format !== 'md' && options.format !== 'json')
        throw new CliError('--format must be md or json', EXIT.usage);
      if (!isUuid(threadId)) throw new CliError('<thread> must be a thread id', EXIT.usage);
      const format = options.format;
      const exported = await withFeatures((features) =>
        features.chat.transfer.exportThreadById(systemActor(), threadId, format),
      );
      const text =
        typeof exported.body === 'string'
          ? exported.body
          : `${JSON.stringify(exported.body, null, 2)}\n`;
      if (options.out) writeFileSync(options.out, text);
      else process.stdout.write(text);
    });
}

/** A trailing newline after streamed text, so the shell prompt starts on its own line. */
const finalNewline = (reply: MessageView) => (reply.content.endsWith('\n') ? '' : '\n');
