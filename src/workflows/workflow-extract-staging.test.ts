import { describe, expect, it } from 'vitest';
import type { Actor } from '../access/actor.ts';
import type { LlmCallRequest, LlmCallResult } from '../llm/llm-service.ts';
import { AppError } from '../platform/app-error.ts';
import type { CellValue } from '../sheets/sheet-schema.ts';
import { EXTRACTION_COLUMNS, partsSender, runExtraction } from './workflow-extract.ts';
import type { WorkflowStep } from './workflow-schema.ts';
import type { StepEnvironment, WorkflowPorts } from './workflow-steps.ts';

// The extract step stages its sheet rows as documents finish and moves them into the sheet in
// one write after the last answer (docs/decisions/2026-12-07-extract-step-staged-rows.md). The
// ports are fakes that record what the step asks of sheets; the stores behind the real ports
// are tested in sheet-data-store.test.ts and sheet-service.test.ts.

const actor: Actor = {
  userId: 'user-1',
  isAdmin: false,
  via: 'session',
  scopes: ['read', 'write'],
  credentialId: 'test',
};
const step = {
  id: 'extract',
  kind: 'extract',
  documentsDatasetId: '00000000-0000-7000-8000-000000000001',
  datasetId: '00000000-0000-7000-8000-000000000002',
  schema: { type: 'object', properties: { vendor: { type: 'string' } } },
  model: 'gpt-4o-mini',
  contextChars: 24_000,
  mode: 'all',
  concurrency: 2,
  retries: 0,
  timeoutMs: 60_000,
} as Extract<WorkflowStep, { kind: 'extract' }>;

const DOCUMENTS = ['d1', 'd2', 'd3', 'd4', 'd5'];

/** What the step asked of the sheet's stage, in order. */
type StageCall =
  | { call: 'open' }
  | { call: 'add'; documents: CellValue[]; order: number[] }
  | { call: 'replace'; keyColumnId: string }
  | { call: 'drop' };

function harness(options: { failOn?: string; writeDone?: boolean } = {}) {
  const calls: StageCall[] = [];
  const columnIds = Object.fromEntries(
    [
      EXTRACTION_COLUMNS.document,
      EXTRACTION_COLUMNS.documentId,
      'vendor',
      EXTRACTION_COLUMNS.citations,
      EXTRACTION_COLUMNS.status,
      EXTRACTION_COLUMNS.error,
    ].map((name, index) => [name, `col-${index}`]),
  );
  const ports = {
    requireEditor: async () => {},
    datasetColumns: async () => [],
    readRows: async () => [],
    ensureColumns: async () => columnIds,
    documentReader: async () => ({
      documents: DOCUMENTS.map((id, index) => ({
        id,
        name: `${id}.txt`,
        status: 'ready',
        rowId: String(index + 1),
      })),
      pages: async (documents: readonly { id: string }[]) =>
        new Map(documents.map((document) => [document.id, [`Vendor: V-${document.id}`]])),
    }),
    async generate(request: LlmCallRequest): Promise<LlmCallResult> {
      const documentId = request.entityIds?.documentId as string;
      if (documentId === options.failOn)
        throw new AppError('PROVIDER_UNAVAILABLE', 'provider 503', { retryable: true });
      return {
        output: { vendor: { value: `V-${documentId}`, page: 1, quote: `Vendor: V-${documentId}` } },
        usage: { uncachedInputTokens: 10, outputTokens: 5 },
        costNano: 1,
      } as unknown as LlmCallResult;
    },
    async stageRows() {
      calls.push({ call: 'open' });
      return {
        async add(rows: Record<string, CellValue>[], order: readonly number[]) {
          calls.push({
            call: 'add',
            documents: rows.map((row) => row[columnIds[EXTRACTION_COLUMNS.documentId]!]!),
            order: [...order],
          });
        },
        async replace(keyColumnId: string) {
          calls.push({ call: 'replace', keyColumnId });
          return DOCUMENTS.map((_, index) => String(100 + index));
        },
        async drop() {
          calls.push({ call: 'drop' });
        },
      };
    },
  } as unknown as WorkflowPorts;
  const env: StepEnvironment = {
    actor,
    projectId: 'project-1',
    runId: 'run-1',
    inputs: {},
    outputs: {},
    signal: new AbortController().signal,
    ports,
    // A resumed step finds its write checkpoint finished: its stored output, no work.
    checkpoint: async <T>(key: string, work: () => Promise<T>) =>
      key === `${step.id}/write` && options.writeDone
        ? ({ rowIds: ['7', '8', '9', '10', '11'] } as T)
        : work(),
    watch: async () => {
      throw new Error('not watched');
    },
    progress: async () => {},
    approval: async () => undefined,
    awaitApproval: async () => {
      throw new Error('no approval');
    },
  };
  return { calls, env, columnIds };
}

describe('the extract step stages its rows', () => {
  it('stages a part of `concurrency` rows as documents finish, then replaces by document id once, and drops the stage', async () => {
    const { calls, env, columnIds } = harness();
    const result = await runExtraction(step, env);
    const adds = calls.filter((call) => call.call === 'add');
    // Parts of two (the step's concurrency) while documents are still to go to the model, then
    // whatever came while the part before was on its way; each row with its place.
    expect(adds[0]!.documents).toHaveLength(2);
    for (const add of adds) expect(add.documents.length).toBeLessThanOrEqual(2);
    expect(adds.flatMap((call) => call.documents).sort()).toEqual(DOCUMENTS);
    for (const add of adds)
      expect(add.documents).toEqual(add.order.map((index) => DOCUMENTS[index]));
    expect(calls[0]).toEqual({ call: 'open' });
    expect(calls.slice(-2)).toEqual([
      { call: 'replace', keyColumnId: columnIds[EXTRACTION_COLUMNS.documentId] },
      { call: 'drop' },
    ]);
    expect(calls.filter((call) => call.call === 'open')).toHaveLength(1);
    const output = result.output as { rows: { documentId: string; rowId: string }[] };
    expect(output.rows.map((row) => [row.documentId, row.rowId])).toEqual(
      DOCUMENTS.map((id, index) => [id, String(100 + index)]),
    );
  });

  it('writes nothing when the step fails after rows were staged, and drops the stage', async () => {
    const { calls, env } = harness({ failOn: 'd4' });
    await expect(runExtraction(step, env)).rejects.toThrow('provider 503');
    expect(calls.filter((call) => call.call === 'add').length).toBeGreaterThan(0);
    expect(calls.some((call) => call.call === 'replace')).toBe(false);
    expect(calls.at(-1)).toEqual({ call: 'drop' });
    expect(calls.filter((call) => call.call === 'drop')).toHaveLength(1);
  });

  it("begins its write's checkpoint once every document is with the model, and moves the rows only after every record", async () => {
    const { calls, env } = harness();
    const log: string[] = [];
    const { generate, stageRows } = env.ports;
    await runExtraction(step, {
      ...env,
      ports: {
        ...env.ports,
        generate: async (request: LlmCallRequest) => {
          const answer = await generate(request);
          log.push(`answer ${request.entityIds?.documentId}`);
          return answer;
        },
        stageRows: async (...args: Parameters<WorkflowPorts['stageRows']>) => {
          const stage = await stageRows(...args);
          return {
            ...stage,
            replace: (keyColumnId: string) => {
              log.push('replace');
              return stage.replace(keyColumnId);
            },
          };
        },
      } as WorkflowPorts,
      checkpoint: async <T>(key: string, work: () => Promise<T>) => {
        log.push(`begin ${key}`);
        const value = await env.checkpoint(key, work);
        log.push(`end ${key}`);
        return value;
      },
    });
    const at = (entry: string) => log.indexOf(entry);
    // Begun as d5, the last document, goes to the model: before its answer, not after it.
    expect(at('begin extract/write')).toBeGreaterThan(at('begin extract/doc/d5'));
    expect(at('begin extract/write')).toBeLessThan(at('answer d5'));
    // The rows move once every document's record is in, then the write ends.
    for (const id of DOCUMENTS) expect(at('replace')).toBeGreaterThan(at(`end extract/doc/${id}`));
    expect(at('end extract/write')).toBeGreaterThan(at('replace'));
    expect(log.filter((entry) => entry === 'replace')).toHaveLength(1);
    expect(calls.at(-1)).toEqual({ call: 'drop' });
  });

  it('does not write again when its write was finished before a restart, and drops the stage', async () => {
    const { calls, env } = harness({ writeDone: true });
    const result = await runExtraction(step, env);
    expect(calls.some((call) => call.call === 'replace')).toBe(false);
    expect(calls.at(-1)).toEqual({ call: 'drop' });
    const output = result.output as { rows: { rowId: string }[] };
    expect(output.rows.map((row) => row.rowId)).toEqual(['7', '8', '9', '10', '11']);
  });
});

describe("the extract step's first wave", () => {
  it('has its first `concurrency` documents with the model before it begins or reads ahead any other', async () => {
    const { env } = harness();
    const log: string[] = [];
    const { documentReader, generate } = env.ports;
    const watched = {
      ...env.ports,
      documentReader: async (...args: Parameters<WorkflowPorts['documentReader']>) => {
        const reader = await documentReader(...args);
        return {
          ...reader,
          pages: (documents: readonly { id: string; rowId: string | null }[]) => {
            log.push(`read ${documents.map((document) => document.id).join(',')}`);
            return reader.pages(documents);
          },
        };
      },
      generate: (request: LlmCallRequest) => {
        log.push(`call ${request.entityIds?.documentId}`);
        return generate(request);
      },
    } as WorkflowPorts;
    const checkpoint = env.checkpoint;
    await runExtraction(step, {
      ...env,
      ports: watched,
      checkpoint: <T>(key: string, work: () => Promise<T>) => {
        if (key.startsWith(`${step.id}/doc/`)) log.push(`begin ${key.split('/').at(-1)}`);
        return checkpoint(key, work);
      },
    });
    // Concurrency 2: d1 and d2 begun, their text read, both with the model; only then the rest.
    expect(log.slice(0, 5).sort()).toEqual([
      'begin d1',
      'begin d2',
      'call d1',
      'call d2',
      'read d1,d2',
    ]);
    expect(log.filter((entry) => entry.startsWith('read'))).toEqual([
      'read d1,d2',
      'read d3,d4',
      'read d5',
    ]);
    expect(log.filter((entry) => entry.startsWith('call'))).toHaveLength(5);
  });
  it('lets the others go when a first-wave document ends without the model', async () => {
    const { env } = harness();
    const asked: string[] = [];
    const generate = env.ports.generate;
    await expect(
      runExtraction(step, {
        ...env,
        ports: {
          ...env.ports,
          generate: (request: LlmCallRequest) => {
            asked.push(request.entityIds?.documentId as string);
            return generate(request);
          },
        } as WorkflowPorts,
        // d1's checkpoint ends before its work (as a stop found at its begin does).
        checkpoint: <T>(key: string, work: () => Promise<T>) =>
          key === `${step.id}/doc/d1`
            ? Promise.reject(new Error('d1 stopped'))
            : env.checkpoint(key, work),
      }),
    ).rejects.toThrow('d1 stopped');
    // d2 went to the model, and the documents begun after the first wave did too.
    expect(asked).toContain('d2');
    expect(asked.length).toBeGreaterThan(1);
  });
});

describe('partsSender', () => {
  it('sends parts of `size` one at a time, the rest on flush, and sends nothing after a failure', async () => {
    const sent: number[][] = [];
    let fail = false;
    const sender = partsSender<number>(2, async (items) => {
      if (fail) throw new Error('stage refused');
      sent.push(items);
    });
    for (const item of [1, 2, 3]) sender.add(item);
    expect(await sender.flush()).toBe(3);
    expect(sent).toEqual([[1, 2], [3]]);
    fail = true;
    sender.add(4);
    sender.add(5);
    await sender.settled();
    fail = false;
    sender.add(6);
    await expect(sender.flush()).rejects.toThrow('stage refused');
    expect(sent).toEqual([[1, 2], [3]]);
  });

  it('sends at once after `eager()` whenever no part is on its way, and flush waits for all of them', async () => {
    const sent: number[][] = [];
    const gates: (() => void)[] = [];
    const sender = partsSender<number>(3, async (items) => {
      sent.push(items);
      await new Promise<void>((resolve) => gates.push(resolve));
    });
    sender.add(1);
    sender.add(2);
    expect(sent).toEqual([]);
    // The items waiting go at once; the next ones wait for that part, then go together.
    sender.eager();
    await Promise.resolve();
    expect(sent).toEqual([[1, 2]]);
    sender.add(3);
    sender.add(4);
    expect(sent).toEqual([[1, 2]]);
    const flushed = sender.flush();
    gates.shift()!();
    await new Promise((resolve) => setImmediate(resolve));
    expect(sent).toEqual([
      [1, 2],
      [3, 4],
    ]);
    sender.add(5);
    // Added while [3, 4] is on its way, after the flush began: the flush still waits for it.
    gates.shift()!();
    await new Promise((resolve) => setImmediate(resolve));
    expect(sent).toEqual([[1, 2], [3, 4], [5]]);
    gates.shift()!();
    expect(await flushed).toBe(5);
  });
});
