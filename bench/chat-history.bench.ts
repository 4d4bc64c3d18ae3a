// Chat history (issue #16 item 6): the first page of a 10,000-message thread — what opening
// the thread reads (the branch from its leaf up, one page, and the sibling ids of that page) —
// and a page from the middle by cursor, p99 against the 50 ms goal. The thread is generated
// with one INSERT … SELECT from generate_series (a linear branch of 10,000 messages).
//
//   npm run bench -- chat-history
//
// CHAT_BENCH_MESSAGES changes the thread's length; CHAT_BENCH_READS the number of reads.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { sql } from 'kysely';
import { branchUpTo, siblingIds } from '../src/chat/chat-store.ts';
import { chatDb } from '../src/chat/chat-tables.ts';
import { openDatabase } from '../src/platform/db/database.ts';
import { migrateToLatest } from '../src/platform/db/migrator.ts';
import { uuidv7 } from '../src/platform/ids.ts';
import { type BenchRow, percentile, round } from './bench-types.ts';

const MESSAGES = Number(process.env.CHAT_BENCH_MESSAGES ?? 10_000);
const READS = Number(process.env.CHAT_BENCH_READS ?? 300);
const PAGE = 50;
const GOAL_MS = 50;

async function timed(reads: number, read: () => Promise<unknown>): Promise<number[]> {
  const times: number[] = [];
  for (let index = 0; index < reads; index++) {
    const started = performance.now();
    await read();
    times.push(performance.now() - started);
  }
  return times.sort((a, b) => a - b);
}

export default async function chatHistoryBench(): Promise<BenchRow[]> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'braincells-bench-chat-'));
  const database = await openDatabase({ kind: 'pglite', dataDir: path.join(dir, 'pg') });
  try {
    await migrateToLatest(database.db);
    const db = chatDb(database.db);
    const projectId = uuidv7();
    const threadId = uuidv7();
    await database.db.insertInto('project').values({ id: projectId, name: 'Bench' }).execute();
    await db
      .insertInto('chat_thread')
      .values({
        id: threadId,
        project_id: projectId,
        title: 'Long',
        model: 'gpt-4o-mini',
        current_leaf_id: null,
        forked_from_message_id: null,
        provider: null,
        created_by: null,
      })
      .execute();
    await sql`
      insert into chat_message (id, thread_id, parent_id, depth, role, content, status)
      select md5(${threadId} || i)::uuid, ${threadId}::uuid,
        case when i = 0 then null else md5(${threadId} || (i - 1))::uuid end, i,
        case when i % 2 = 0 then 'user' else 'assistant' end,
        'Message ' || i || ': ' || repeat('a sentence of ordinary chat text. ', 12), 'done'
      from generate_series(0, ${MESSAGES - 1}) as i`.execute(db);
    const leaf = (
      await sql<{ id: string }>`select md5(${threadId} || ${MESSAGES - 1})::uuid as id`.execute(db)
    ).rows[0]!.id;
    await db
      .updateTable('chat_thread')
      .set({ current_leaf_id: leaf })
      .where('id', '=', threadId)
      .execute();

    const openPage = async (from: string) => {
      const rows = await branchUpTo(db, threadId, from, PAGE);
      await siblingIds(
        db,
        threadId,
        rows.map((row) => row.parent_id),
      );
      return rows;
    };
    await timed(20, () => openPage(leaf)); // warm-up
    const first = await timed(READS, () => openPage(leaf));
    const middle = (
      await sql<{
        id: string;
      }>`select md5(${threadId} || ${Math.floor(MESSAGES / 2)})::uuid as id`.execute(db)
    ).rows[0]!.id;
    const cursor = await timed(READS, () => openPage(middle));
    const row = (name: string, times: number[]): BenchRow => {
      const p99 = round(percentile(times, 99));
      return {
        name,
        value: p99,
        unit: 'ms p99',
        against: { label: 'goal ms', value: GOAL_MS },
        ratio: round(p99 / GOAL_MS),
        goal: '< 1',
        pass: p99 < GOAL_MS,
      };
    };
    const median = (name: string, times: number[]): BenchRow => ({
      name,
      value: round(percentile(times, 50)),
      unit: 'ms p50',
    });
    return [
      row(`chat: first page (${PAGE}) of a ${MESSAGES}-message thread, PGlite`, first),
      median('chat: first page, median', first),
      row(`chat: a page by cursor in the middle of ${MESSAGES} messages, PGlite`, cursor),
      median('chat: page by cursor, median', cursor),
    ];
  } finally {
    await database.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
