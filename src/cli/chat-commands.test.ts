import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { fakeLlmPerSuite } from '../../test/fake-llm-app.ts';
import { fakeAnswer } from '../../tools/fake-llm/fake-llm-output.ts';
import type { Database } from '../platform/db/database.ts';
import { uuidv7 } from '../platform/ids.ts';
import { applyReplyDelta, registerChatCommands } from './chat-commands.ts';
import { cliDataDirPerSuite, runCliCommand, withCliDatabase } from './cli-test-helpers.ts';
import { registerSheetCommands } from './sheet-commands.ts';

// `braincells chat` in this process, against tools/fake-llm as the environment's OpenAI
// provider: a reply streamed to stdout (the durable run executed here), a thread continued,
// and a thread exported.
const KEY = 'sk-cli-chat-test-key-bbbbbbbbbbbbbbbbbbbb';
const fake = fakeLlmPerSuite(KEY);
const projectId = uuidv7();
const agentId = uuidv7();

async function seed(db: Database['db']): Promise<void> {
  await sql`insert into project (id, name) values (${projectId}, 'CLI chat')`.execute(db);
  await sql`insert into chat_agent (id, project_id, name) values (${agentId}, ${projectId}, 'Helper')`.execute(
    db,
  );
  await sql`
    insert into chat_agent_version (agent_id, version, name, instructions, provider, model)
    values (${agentId}, 1, 'Helper', 'Answer briefly.', 'env:openai', 'gpt-4o-mini')`.execute(db);
}

const storage = cliDataDirPerSuite({
  seed,
  env: () => ({ OPENAI_API_KEY: KEY, OPENAI_BASE_URL: `${fake.url}/v1` }),
});

const run = (...args: string[]) => runCliCommand(registerChatCommands, args);
/** `braincells chat --project P …`: a new thread in the project. */
const chatIn = (projectId: string, ...args: string[]) =>
  run('chat', '--project', projectId, ...args);

// Each command opens the whole feature set on its data dir: on a loaded machine one takes tens
// of seconds, so the bound (a hang fails, it is no speed limit) is wider than the default.
const LIVENESS = { timeout: 120_000 };

describe('braincells chat', LIVENESS, () => {
  let threadId: string;

  it('streams an agent reply to stdout in a new thread', async () => {
    const asked = await chatIn(projectId, '--agent', 'helper', 'Where is Lisbon?');
    expect(asked.error).toBeUndefined();
    expect(asked.out).toBe(`${fakeAnswer('Where is Lisbon?')}\n`);
    const request = fake.requests.at(-1)!;
    expect(JSON.stringify(request.body)).toContain('Answer briefly.');
    const json = await chatIn(
      projectId,
      '--model',
      'gpt-4o-mini',
      '--provider',
      'env:openai',
      '--json',
      'And Porto?',
    );
    expect(json.error).toBeUndefined();
    const result = JSON.parse(json.out) as {
      threadId: string;
      message: { status: string; content: string; model: string };
    };
    expect(result.message).toMatchObject({
      status: 'done',
      content: fakeAnswer('And Porto?'),
      model: 'gpt-4o-mini',
    });
    threadId = result.threadId;
  });

  it('continues a thread with --thread, sending the earlier turns', async () => {
    const next = await run('chat', '--thread', threadId, 'How far apart are they?');
    expect(next.error).toBeUndefined();
    expect(next.out).toBe(`${fakeAnswer('How far apart are they?')}\n`);
    expect(JSON.stringify(fake.requests.at(-1)!.body)).toContain('And Porto?');
  });

  it('exports a thread as Markdown and JSON', async () => {
    const markdown = await run('chat', 'export', threadId, '--format', 'md');
    expect(markdown.error).toBeUndefined();
    expect(markdown.out).toMatch(/^# And Porto\?\n/);
    expect(markdown.out).toContain('How far apart are they?');
    const json = await run('chat', 'export', threadId, '--format', 'json');
    expect(JSON.parse(json.out).messages).toHaveLength(4);
  });

  it('fails with the reply error, and says what is missing', async () => {
    const failed = await chatIn(
      projectId,
      '--model',
      'gpt-4o-mini@status=400',
      '--provider',
      'env:openai',
      'This will fail',
    );
    expect(failed.error).toMatchObject({ exitCode: 1 });
    expect(String((failed.error as Error).message)).toMatch(/the reply failed: PROVIDER_ERROR/);
    for (const [args, message] of [
      [['chat', 'Hello'], /--project is required/],
      [['chat', '--project', projectId, 'Hello'], /--agent or --model/],
      [['chat', '--project', projectId, '--agent', 'Nobody', 'Hello'], /no agent "Nobody"/],
      [['chat', 'export', threadId, '--format', 'pdf'], /--format must be md or json/],
      [['chat', 'export', uuidv7()], /thread not found/],
    ] as const) {
      const result = await run(...args);
      expect(String((result.error as Error | undefined)?.message), args.join(' ')).toMatch(message);
    }
  });
});

describe('braincells chat with an agent that has tools', LIVENESS, () => {
  it('runs the tools as the system actor, read-only on the project, each call audited', async () => {
    const csv = path.join(storage().dataDir, 'cities.csv');
    writeFileSync(csv, 'city,population\nLisbon,545000\nPorto,232000\nBraga,193000\n');
    const imported = await runCliCommand(registerSheetCommands, [
      'import',
      csv,
      '--project',
      projectId,
      '--json',
    ]);
    expect(imported.error).toBeUndefined();
    const { datasetId } = JSON.parse(imported.out) as { datasetId: string };
    // The fake calls query_sheet with these arguments once (`output-times=1` for the shared
    // key), then answers the tool result in text.
    const query = JSON.stringify({ datasetId, sql: 'SELECT city FROM dataset ORDER BY city' });
    const model = `gpt-4o-mini@output=${encodeURIComponent(query)},output-times=1,key=cli-tools`;
    const analystId = uuidv7();
    await withCliDatabase(storage(), async (db) => {
      await sql`insert into chat_agent (id, project_id, name) values (${analystId}, ${projectId}, 'Analyst')`.execute(
        db,
      );
      await sql`
        insert into chat_agent_version (agent_id, version, name, provider, model, tools)
        values (${analystId}, 1, 'Analyst', 'env:openai', ${model}, array['query_sheet'])`.execute(
        db,
      );
    });

    const asked = await chatIn(
      projectId,
      '--agent',
      'Analyst',
      '--json',
      'Which cities are in the sheet? call:query_sheet',
    );
    expect(asked.error).toBeUndefined();
    const { message } = JSON.parse(asked.out) as {
      message: {
        status: string;
        parts: { type: string; toolName: string; isError?: boolean; output?: unknown }[];
      };
    };
    expect(message.status).toBe('done');
    const result = message.parts.find((part) => part.type === 'tool-result');
    expect(result).toMatchObject({ toolName: 'query_sheet', isError: false });
    const output = JSON.stringify(result!.output);
    for (const city of ['Braga', 'Lisbon', 'Porto']) expect(output).toContain(city);

    const audited = await withCliDatabase(storage(), (db) =>
      sql<{ actor_via: string; actor_user_id: string | null; summary: { tool: string } }>`
        select actor_via, actor_user_id, summary from audit_log
        where action = 'chat-tool.call' and project_id = ${projectId}`.execute(db),
    );
    expect(audited.rows).toHaveLength(1);
    expect(audited.rows[0]).toMatchObject({
      actor_via: 'system',
      summary: { tool: 'query_sheet' },
    });
  });
});

describe('applyReplyDelta', () => {
  it.each([
    ['', { offset: 0, text: 'Hel' }, 'Hel', 'Hel'],
    ['Hel', { offset: 3, text: 'lo' }, 'Hello', 'lo'],
    ['Hello', { offset: 0, text: 'Hello, world' }, 'Hello, world', ', world'],
    ['Hello', { offset: 0, text: 'Bye' }, 'Bye', '\nBye'],
  ])('%j + %j → %j (writes %j)', (shown, delta, text, write) => {
    expect(applyReplyDelta(shown, delta)).toEqual({ text, write });
  });
});
