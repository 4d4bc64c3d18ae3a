import { AsyncLocalStorage } from 'node:async_hooks';
import type { PGlite, Transaction } from '@electric-sql/pglite';
import { describe, expect, it } from 'vitest';
import { tapPreparedRuns } from '../platform/db/pglite-prepared-tap.ts';
import { threadStream } from './chat-reply-run.ts';
import { chatEnvPerSuite } from './chat-test-env.ts';

// What a reply's first token waits on: the metadata database's statements between the send
// and the first `message-delta` (each about 1 ms of CPU on PGlite, docs/chat.md "Time to first
// token"). Counted per send through the async context, so the job queue's polling and other
// background work of the process are not in the count. A change that adds one fails here.

/** Every statement PGlite runs inside `tracked.run(list, …)` is pushed onto `list`. */
const tracked = new AsyncLocalStorage<string[]>();

const trackedDatabases = new WeakSet<PGlite>();
function trackStatements(pglite: PGlite) {
  if (trackedDatabases.has(pglite)) return;
  trackedDatabases.add(pglite);
  const note = (kind: string, text: string) =>
    tracked.getStore()?.push(`${kind} ${text.trim().replace(/\s+/g, ' ').slice(0, 60)}`);
  const query = pglite.query.bind(pglite);
  pglite.query = ((text: string, ...rest: unknown[]) => {
    note('query', text);
    return (query as (...args: unknown[]) => unknown)(text, ...rest);
  }) as PGlite['query'];
  const exec = pglite.exec.bind(pglite);
  pglite.exec = ((text: string, ...rest: unknown[]) => {
    note('exec', text);
    return (exec as (...args: unknown[]) => unknown)(text, ...rest);
  }) as PGlite['exec'];
  // A `PREPARED` statement is parsed once under a name, then only bound: each bind is one run.
  tapPreparedRuns(pglite, (text) => note('query', text.replace(/^\s*\/\* prepared \*\/ /, '')));
  const transaction = pglite.transaction.bind(pglite);
  pglite.transaction = ((callback: (tx: Transaction) => Promise<unknown>) =>
    transaction((tx) => {
      // BEGIN and COMMIT: two round trips into the database of their own.
      note('transaction', 'begin … commit');
      const inner = tx.query.bind(tx);
      tx.query = ((text: string, ...rest: unknown[]) => {
        note('query', text);
        return (inner as (...args: unknown[]) => unknown)(text, ...rest);
      }) as Transaction['query'];
      return callback(tx);
    })) as PGlite['transaction'];
}

describe('chat reply: statements before the first token', () => {
  const env = chatEnvPerSuite();

  /** Sends a message in a new thread; the statements run up to its reply's first delta. */
  async function statementsToFirstDelta(content: string, runHere = false) {
    const chat = env.t.app.features.chat.service;
    const events = env.t.app.features.events;
    const actor = env.members.editor.actor;
    const thread = await chat.createThread(actor, env.projectId, {
      title: 'Counted',
      model: 'gpt-4o-mini',
      provider: env.providerId,
      instructions: 'Answer briefly.',
    });
    const stream = threadStream(thread.id);
    const subscription = await events.subscribe(stream, {
      lastEventId: await events.lastId(stream),
    });
    const statements: string[] = [];
    let beforeFirstDelta: string[] | undefined;
    const { promise: ended, resolve: end } = Promise.withResolvers<void>();
    subscription.onReady(() => {
      for (const event of subscription.take()) {
        if (event.type === 'message-delta') beforeFirstDelta ??= [...statements];
        const data = event.data as { role?: string; status?: string };
        if (
          event.type === 'message-updated' &&
          data.role === 'assistant' &&
          data.status !== 'streaming'
        )
          end();
      }
    });
    try {
      await tracked.run(statements, async () => {
        if (!runHere) return chat.sendMessage(actor, env.projectId, thread.id, { content });
        // As `braincells chat`: the caller executes the run it was handed.
        const sent = await chat.sendMessage(
          actor,
          env.projectId,
          thread.id,
          { content },
          { runHere: true },
        );
        return env.t.platform.runs.execute(sent.runId!);
      });
      await ended;
    } finally {
      subscription.close();
    }
    const reply = (
      await chat.listMessages(actor, env.projectId, thread.id, { limit: 10 })
    ).items.at(-1);
    return { beforeFirstDelta: beforeFirstDelta ?? [], reply };
  }

  it('a reply on a server that runs workers reaches its first token after 5 statements', async () => {
    trackStatements(env.t.platform.database.pglite!);
    // The first reply warms what the process caches (the provider, prices, budgets).
    await statementsToFirstDelta('Warm up');
    const sent = await statementsToFirstDelta('Name three rivers');
    const { reply } = sent;
    // The LLM module's reads of its own tables refresh its cache on a schedule of its own (the
    // provider, prices, budgets): not the reply path's, so not counted here.
    const beforeFirstDelta = sent.beforeFirstDelta.filter(
      (line) => !/^query select \* from "llm_[a-z_]+"/.test(line),
    );
    expect(reply).toMatchObject({ role: 'assistant', status: 'done' });
    expect(reply!.content.length).toBeGreaterThan(0);
    // The access check; the send (lock, checks, messages, leaf, audit row, the run reserved
    // here and what the run reads: one statement); the send's events; the run's step's begin;
    // the text and its delta, stored by one statement.
    expect(beforeFirstDelta, beforeFirstDelta.join('\n')).toHaveLength(5);
    expect(beforeFirstDelta.filter((line) => line.startsWith('transaction'))).toEqual([]);
    expect(beforeFirstDelta[1]).toMatch(/^query with recursive locked as/);
    // Persist with publish: the text is in the row the statement that stores its delta writes.
    expect(beforeFirstDelta.at(-1)).toMatch(/^query with alongside as \(insert into event_log/);
  });

  it('a run the caller executes (`braincells chat`) reaches its first token after as many', async () => {
    trackStatements(env.t.platform.database.pglite!);
    const sent = await statementsToFirstDelta('Name three lakes', true);
    const beforeFirstDelta = sent.beforeFirstDelta.filter(
      (line) => !/^query select \* from "llm_[a-z_]+"/.test(line),
    );
    expect(sent.reply).toMatchObject({ role: 'assistant', status: 'done' });
    // Reserved for the caller by the send, with the context it read: no statement takes the
    // run, none reads its context.
    expect(beforeFirstDelta, beforeFirstDelta.join('\n')).toHaveLength(5);
    expect(beforeFirstDelta.at(-1)).toMatch(/^query with alongside as \(insert into event_log/);
  });
});
