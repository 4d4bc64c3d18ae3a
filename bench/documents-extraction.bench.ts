// Documents and workflows (issue #17, "Figures to report"):
//
//   npm run bench -- documents-extraction
//
// 1. N synthetic documents (default 1,000) through a workflow's `extract` step at concurrency
//    64, the fake LLM (its own process) answering in 200 ± 100 ms: the step's throughput
//    against the ideal N·L̄/C (L̄ = 200 ms, C = 64). Goal: ratio ≥ 0.9. The documents are
//    uploaded and their text extracted first (not measured).
// 2. Text extraction of a 500-page PDF (written here with pdf-lib) in the bounded worker:
//    pages per second, and the process's peak RSS (the worker is a thread of this process)
//    against the worker's heap limit plus the process before it. Goal: bounded (peak below
//    before + 2 × the heap limit).
//
// Sizes: DOCUMENTS_BENCH_N (1,000), DOCUMENTS_BENCH_PAGES (500; 0 leaves the PDF out).
// DOCUMENTS_BENCH_KIND=openai-compatible connects the fake as that kind (Chat Completions)
// instead of `openai` (the Responses API); on either the LLM module's wire fast path carries
// the step's and the peer's whole calls with their output schema.
// A stalled phase fails instead of hanging: DOCUMENTS_BENCH_STALL_S (120) seconds without
// progress (documents extracted from their files, then documents checkpointed by the step)
// ends the bench with what was seen last (the run's and the step's status, the count so far).
// The fake LLM also reports how many calls it had open at once over the step (its mean, and per
// quarter second: a slow start, gaps or a long tail show there). DOCUMENTS_BENCH_PROFILE=<dir>
// runs the step under the CPU and allocation profilers and counts PGlite's statements per
// document (bench-profile.ts).

import { writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { monitorEventLoopDelay, PerformanceObserver } from 'node:perf_hooks';
import { Readable } from 'node:stream';
import { sql } from 'kysely';
import { PDFDocument, StandardFonts } from 'pdf-lib';
import { DEFAULT_EXTRACT_LIMITS, extractDocument } from '../src/documents/document-extract.ts';
import {
  answerSchema,
  mapLimit,
  SYSTEM_PROMPT,
  singlePrompt,
} from '../src/workflows/workflow-extract.ts';
import { countStatements, profiled } from './bench-profile.ts';
import { type BenchRow, round } from './bench-types.ts';
import { spawnOccupancyFake } from './fake-llm-occupancy-child.ts';
import { openGenerationBench } from './generation-bench-helpers.ts';

const N = Number(process.env.DOCUMENTS_BENCH_N ?? 1_000);
const PAGES = Number(process.env.DOCUMENTS_BENCH_PAGES ?? 500);
const LATENCY_MS = 200;
const JITTER_MS = 100;
const CONCURRENCY = 64;
const KIND =
  process.env.DOCUMENTS_BENCH_KIND === 'openai-compatible' ? 'openai-compatible' : 'openai';
/** Rows keep their names on the default connection (results compare by name). */
const KIND_LABEL = KIND === 'openai' ? '' : `, ${KIND}`;
const cpuMs = (usage: NodeJS.CpuUsage) => (usage.user + usage.system) / 1000;
const STALL_MS = Number(process.env.DOCUMENTS_BENCH_STALL_S ?? 120) * 1000;

/**
 * Fails a phase that makes no progress for STALL_MS (its `count` unchanged) instead of letting
 * the bench hang: `check` is called on each poll and throws with what was seen last.
 */
export function stallGuard(phase: string, stallMs = STALL_MS, now = () => performance.now()) {
  let last: number | undefined;
  let since = now();
  return (count: number, seen: () => string) => {
    if (count !== last) {
      last = count;
      since = now();
      return;
    }
    const idle = now() - since;
    if (idle >= stallMs)
      throw new Error(
        `${phase} stalled: no progress for ${Math.round(idle / 1000)} s at ${count} (${seen()})`,
      );
  };
}

/**
 * `work` under a stall guard: its `progress()` read every 5 s, and the bench failed with the
 * phase's name and count when it has not moved for STALL_MS (the work itself is left as is).
 */
async function watched<T>(phase: string, progress: () => number, work: Promise<T>): Promise<T> {
  const stalled = stallGuard(phase);
  let timer: NodeJS.Timeout | undefined;
  const guard = new Promise<never>((_, reject) => {
    timer = setInterval(() => {
      try {
        stalled(progress(), () => 'calls answered');
      } catch (error) {
        reject(error);
      }
    }, 5_000);
  });
  try {
    return await Promise.race([work, guard]);
  } finally {
    clearInterval(timer);
  }
}

/**
 * How long the main thread kept callbacks waiting over a phase (its event loop's delay, sampled
 * every millisecond: a call's answer that comes during a long task waits for it) and the time
 * spent in garbage collection: `stop()` answers a line for the report.
 */
function mainThreadWatch() {
  const delay = monitorEventLoopDelay({ resolution: 1 });
  const pauses: number[] = [];
  const gc = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) pauses.push(entry.duration);
  });
  gc.observe({ entryTypes: ['gc'] });
  delay.enable();
  return {
    stop() {
      delay.disable();
      gc.disconnect();
      const ms = (ns: number) => (ns / 1e6).toFixed(1);
      return `event-loop delay p50 ${ms(delay.percentile(50))} ms, p99 ${ms(delay.percentile(99))} ms, max ${ms(delay.max)} ms; GC ${pauses.length} pauses, ${round(pauses.reduce((sum, pause) => sum + pause, 0))} ms (longest ${round(Math.max(0, ...pauses))} ms)`;
    },
  };
}

const invoiceText = (index: number) =>
  `Invoice INV-${10_000 + index}\nVendor: Vendor ${index % 37}\nDate: 2026-0${(index % 9) + 1}-15\nTotal due: ${(index * 7.31).toFixed(2)} EUR\n`;

const SCHEMA = {
  properties: {
    vendor: { type: 'string' as const },
    amount: { type: 'number' as const },
  },
};

async function extractionThroughput(): Promise<BenchRow[]> {
  const fake = await spawnOccupancyFake({
    latencyMs: LATENCY_MS,
    jitterMs: JITTER_MS,
    seed: 'docs',
  });
  const bench = await openGenerationBench({ fakeUrl: fake.url, maxConcurrency: CONCURRENCY });
  try {
    const { app, actor, projectId } = bench;
    const providerId =
      KIND === 'openai'
        ? bench.providerId
        : (
            await app.llm.admin.createProvider(actor, projectId, {
              name: 'fake-compatible',
              kind: KIND,
              baseUrl: `${fake.url}/v1`,
              apiKey: 'sk-bench',
              maxConcurrency: CONCURRENCY,
            })
          ).id;
    const documents = app.features.documents.documents;
    async function* files() {
      for (let index = 0; index < N; index++)
        yield { filename: `invoice-${index}.txt`, file: Readable.from([invoiceText(index)]) };
    }
    const uploaded = await documents.upload(actor, projectId, { files: files(), name: 'Bench' });
    const collection = uploaded.datasetId;
    // Extraction of the text (the documents job) is set-up here, not measured.
    const textStalled = stallGuard('text extraction of the documents');
    for (;;) {
      const { counts } = await documents.list(actor, projectId, collection);
      const left = (counts.queued ?? 0) + (counts.extracting ?? 0);
      if (left === 0) break;
      textStalled(left, () => JSON.stringify(counts));
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    const sheet = await bench.sheets.createDataset(actor, projectId, {
      name: 'Bench extraction',
      columns: [{ name: 'Note' }],
    });
    const service = app.features.workflows.service;
    const workflow = await service.createWorkflow(actor, projectId, {
      name: 'Bench extract',
      definition: {
        steps: [
          {
            id: 'extract',
            kind: 'extract',
            documentsDatasetId: collection,
            datasetId: sheet.id,
            provider: providerId,
            model: 'gpt-4o-mini',
            concurrency: CONCURRENCY,
            schema: SCHEMA,
          },
        ],
      },
    });
    // The peer, in the same sitting: the LLM module alone, driven by a window of 64, making the
    // same calls (same messages' shape, schema, cache lookup; other invoices, so no call is a
    // cache hit). What it reaches is what this process can feed the provider at all; the step's
    // ratio to it is the step's own cost.
    let peerAnswered = 0;
    const peerCall = async (index: number) => {
      const text = invoiceText(N + index);
      await app.llm.llm.generate({
        userId: actor.userId,
        projectId,
        feature: 'workflow',
        provider: providerId,
        model: 'gpt-4o-mini',
        messages: [
          { role: 'system', content: SYSTEM_PROMPT },
          {
            role: 'user',
            content: singlePrompt(
              `peer-${index}.txt`,
              1,
              { type: 'object', properties: SCHEMA.properties },
              [{ page: 1, text }],
            ),
          },
        ],
        outputSchema: answerSchema({ type: 'object', properties: SCHEMA.properties }),
      });
      peerAnswered++;
    };
    // Warm-up (JIT, the AI SDK's first calls), not measured: other invoices again.
    await watched(
      'LLM module alone (warm-up)',
      () => peerAnswered,
      mapLimit(
        Array.from({ length: 2 * CONCURRENCY }, (_, index) => N + index),
        CONCURRENCY,
        peerCall,
      ),
    );
    fake.start({ atLeast: CONCURRENCY });
    const peerStarted = performance.now();
    const peerCpu = process.cpuUsage();
    const peerThread = mainThreadWatch();
    await watched(
      'LLM module alone',
      () => peerAnswered,
      mapLimit(
        Array.from({ length: N }, (_, index) => index),
        CONCURRENCY,
        peerCall,
      ),
    );
    const peerCpuMs = cpuMs(process.cpuUsage(peerCpu));
    const peerLoop = peerThread.stop();
    const peerMs = performance.now() - peerStarted;
    const peerOccupancy = await fake.report();
    const peerRatio = round((N * LATENCY_MS) / CONCURRENCY / peerMs, 3);
    process.stderr.write(
      `bench:   LLM module alone occupancy: mean ${round(peerOccupancy.meanInFlight, 1)} open (max ${peerOccupancy.maxInFlight}), ≥${CONCURRENCY} open ${round(100 * peerOccupancy.shareAtLeast, 1)}% of ${round(peerOccupancy.windowMs)} ms; per ${peerOccupancy.sliceMs} ms: ${peerOccupancy.slices.join(' ')}\n`,
    );

    const profileDir = process.env.DOCUMENTS_BENCH_PROFILE;
    const statements = profileDir ? countStatements(bench.platform.database.pglite) : undefined;
    fake.start({ atLeast: CONCURRENCY });
    const ended: { run?: Awaited<ReturnType<typeof service.getRun>> } = {};
    const extract = async () => {
      const started = await service.startRun(actor, projectId, workflow.id);
      let run = started;
      const stepStalled = stallGuard('extract step');
      // The step's documents by checkpoint status (a stall shows whether documents are still
      // begun and unrecorded, i.e. waiting on a call or a statement, or none is under way),
      // read every tenth poll only, for the stall guard.
      const checkpoints = async () => {
        const { rows } = await sql<{ status: string; documents: string }>`
          select status, count(*) as documents from run_step
          where run_id = ${started.id} and step_key like 'extract/doc/%'
          group by status
        `.execute(bench.platform.database.db);
        return Object.fromEntries(rows.map((row) => [row.status, Number(row.documents)]));
      };
      // Twice a second: the step's time is the engine's own record, so the poll only has to
      // notice the end, and each poll reads the run (it would compete with the step).
      for (let poll = 1; !['completed', 'failed', 'cancelled'].includes(run.status); poll++) {
        await new Promise((resolve) => setTimeout(resolve, 500));
        run = await service.getRun(actor, projectId, started.id);
        if (poll % 10 === 0) {
          const step = run.steps[0];
          const byStatus = await checkpoints();
          stepStalled(
            byStatus.completed ?? 0,
            () =>
              `documents checkpointed of ${N}; run ${run.status}, step ${step ? `${step.status}, attempt ${step.attempts}` : 'not begun'}; document checkpoints ${JSON.stringify(byStatus)}`,
          );
        }
      }
      ended.run = run;
    };
    const stepCpu = process.cpuUsage();
    const stepThread = mainThreadWatch();
    if (profileDir) await profiled(profileDir, 'documents-extract', N, extract);
    else await extract();
    const stepCpuMs = cpuMs(process.cpuUsage(stepCpu));
    const stepLoop = stepThread.stop();
    const occupancy = await fake.report();
    const run = ended.run;
    if (!run) throw new Error('no run');
    if (statements) process.stderr.write(`statements per document\n${statements.report(N)}\n`);
    if (run.status !== 'completed') throw new Error(`extract run ${run.status}`);
    const step = run.steps[0]!;
    const output = step.output as { extracted: number; calls: number };
    if (output.extracted !== N) throw new Error(`${output.extracted} of ${N} documents extracted`);
    const elapsedMs = step.durationMs!;
    const idealMs = (output.calls * LATENCY_MS) / CONCURRENCY;
    const ratio = round(idealMs / elapsedMs, 3);
    // Before the first call and after the last: the step's own fixed work (its columns, the
    // documents' list, the rows already there; writing the sheet).
    const lead = (occupancy.firstRequestAt ?? 0) - Date.parse(step.startedAt!);
    const tail = Date.parse(step.finishedAt!) - (occupancy.lastIdleAt ?? 0);
    process.stderr.write(
      `bench:   extract step ${round(elapsedMs)} ms: ${round(lead)} ms before its first call, ${round(tail)} ms after its last\n`,
    );
    // The provider's side: how many calls it had open at once, over the whole run (the step
    // starts a little after the run), and per quarter second.
    process.stderr.write(
      `bench:   extract occupancy: mean ${round(occupancy.meanInFlight, 1)} open (max ${occupancy.maxInFlight}), ≥${CONCURRENCY} open ${round(100 * occupancy.shareAtLeast, 1)}% of ${round(occupancy.windowMs)} ms, ${occupancy.received} requests; per ${occupancy.sliceMs} ms: ${occupancy.slices.join(' ')}\n`,
    );
    // The main thread: PGlite's statements (and their synchronous file writes), the calls'
    // parsing and the step's own work all run there, and an answer waits behind them.
    process.stderr.write(
      `bench:   main thread: LLM module alone ${peerLoop}; extract step ${stepLoop}\n`,
    );
    // This process's CPU (every thread: PGlite, DuckDB, the AI SDK; the fake LLM is another
    // process) per document, the step's against the LLM module's alone making the same calls:
    // a ratio the machine's load does not move much, unlike the throughput's.
    process.stderr.write(
      `bench:   CPU per document: extract step ${round(stepCpuMs / N, 2)} ms, LLM module alone ${round(peerCpuMs / N, 2)} ms (load ${os
        .loadavg()
        .map((load) => load.toFixed(1))
        .join(' ')})\n`,
    );
    return [
      {
        name: `process CPU per extracted document (extract step, includes the run's polling)`,
        value: round(stepCpuMs / N, 2),
        unit: 'ms',
        against: { label: 'LLM module alone, ms per call', value: round(peerCpuMs / N, 2) },
        ratio: round(stepCpuMs / peerCpuMs, 3),
      },
      {
        name: `LLM module alone: ${N} calls at concurrency ${CONCURRENCY}, ${LATENCY_MS} ± ${JITTER_MS} ms${KIND_LABEL} (peer)`,
        value: round((N * 1000) / peerMs, 1),
        unit: 'calls/s',
        against: { label: 'N·L̄/C ms', value: round((N * LATENCY_MS) / CONCURRENCY) },
        ratio: peerRatio,
      },
      {
        name: `extract step: ${N} documents at concurrency ${CONCURRENCY}, ${LATENCY_MS} ± ${JITTER_MS} ms${KIND_LABEL}`,
        value: round((N * 1000) / elapsedMs, 1),
        unit: 'documents/s',
        against: { label: 'N·L̄/C ms', value: round(idealMs) },
        ratio,
        goal: 'ratio ≥ 0.9',
        pass: ratio >= 0.9,
      },
      {
        name: 'extract step against the LLM module alone (same sitting)',
        value: ratio,
        unit: 'of N·L̄/C',
        against: { label: 'LLM module alone', value: peerRatio },
        ratio: round(ratio / peerRatio, 3),
      },
    ];
  } finally {
    await bench.close();
    await fake.close();
  }
}

async function pdfExtraction(): Promise<BenchRow[]> {
  const pdf = await PDFDocument.create();
  const font = await pdf.embedFont(StandardFonts.Helvetica);
  for (let page = 1; page <= PAGES; page++) {
    const drawn = pdf.addPage([595, 842]);
    for (let line = 0; line < 40; line++)
      drawn.drawText(`Page ${page}, line ${line}: statement entry ${page * 100 + line} EUR`, {
        x: 40,
        y: 800 - line * 19,
        size: 10,
        font,
      });
  }
  const bench = await openGenerationBench({ fakeUrl: 'http://127.0.0.1:9', maxConcurrency: 1 });
  const file = path.join(bench.dir, 'bench-500.pdf');
  writeFileSync(file, await pdf.save());
  try {
    // ru_maxrss is the process's peak so far (KiB on Linux), the worker thread included.
    const before = process.resourceUsage().maxRSS * 1024;
    const started = performance.now();
    const extracted = await extractDocument(file, 'pdf', {
      ...DEFAULT_EXTRACT_LIMITS,
      timeoutMs: 30 * 60_000,
    });
    const elapsedMs = performance.now() - started;
    if (extracted.status !== 'ready' || extracted.pages?.length !== PAGES)
      throw new Error(`${extracted.status}: ${extracted.pages?.length} pages`);
    const peak = process.resourceUsage().maxRSS * 1024;
    const bound = before + 2 * DEFAULT_EXTRACT_LIMITS.heapMb * 1024 * 1024;
    const mib = (bytes: number) => round(bytes / 1024 / 1024, 1);
    return [
      {
        name: `text extraction, ${PAGES}-page PDF (worker thread)`,
        value: round((PAGES * 1000) / elapsedMs, 1),
        unit: 'pages/s',
      },
      {
        name: `peak RSS extracting a ${PAGES}-page PDF`,
        value: mib(peak),
        unit: 'MiB',
        against: { label: 'peak before + 2 × worker heap MiB', value: mib(bound) },
        ratio: round(peak / bound, 3),
        goal: 'ratio < 1',
        pass: peak < bound,
      },
    ];
  } finally {
    await bench.close();
  }
}

export default async function documentsExtractionBench(): Promise<BenchRow[]> {
  return [...(PAGES > 0 ? await pdfExtraction() : []), ...(await extractionThroughput())];
}
