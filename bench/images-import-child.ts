// Child process of images.bench.ts: imports a folder of image files the way the web's folder
// upload sends them (one multipart part per file) through the image service — each streamed to
// a temp file, probed, thumbnailed, stored, and appended 200 rows at a time — so the peak RSS
// belongs to this import alone (the peak is reset right before it starts, after a full garbage
// collection when run with --expose-gc, as the bench runs it).
//   node --expose-gc bench/images-import-child.ts DIR
import { appendFileSync, createReadStream, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { systemActor } from '../src/auth/system-actor.ts';
import { createFeatures } from '../src/features.ts';
import { loadConfig } from '../src/platform/config.ts';
import { uuidv7 } from '../src/platform/ids.ts';
import { createLogger } from '../src/platform/logger.ts';
import { openPlatform } from '../src/platform/platform.ts';
import { highWaterRssMiB, peakRssMiB, resetPeak, rssMiB } from './process-memory.ts';

const [folder] = process.argv.slice(2) as [string];
const dataDir = mkdtempSync(path.join(os.tmpdir(), 'braincells-bench-images-'));
const config = {
  ...loadConfig({ BRAINCELLS_DATA_DIR: dataDir }, {}),
  jobsEnabled: false,
  logLevel: 'silent' as const,
};
const platform = await openPlatform(config, createLogger({ level: 'silent', format: 'json' }));
const features = createFeatures(platform, { useJobs: false });
const images = features.images.images;
const projectId = uuidv7();
await platform.database.db.insertInto('project').values({ id: projectId, name: 'Bench' }).execute();

const files = readdirSync(folder).sort();
let partsRead = 0;
async function* parts() {
  for (const name of files) {
    partsRead += 1;
    yield { filename: name, file: createReadStream(path.join(folder, name)) };
  }
}
/** IMAGES_BENCH_TRACE=<file>: one JSON line per sample, where the memory is (images-memory-trace.ts). */
const trace = process.env.IMAGES_BENCH_TRACE;
const traceStart = performance.now();
/** RSS (MiB) five times a second during the import: bounded memory levels off, a leak climbs. */
const samples: number[] = [];
const sampler = setInterval(() => {
  samples.push(rssMiB());
  if (!trace) return;
  const usage = process.memoryUsage();
  const mib = (bytes: number) => Math.round((bytes / 1024 / 1024) * 10) / 10;
  appendFileSync(
    trace,
    `${JSON.stringify({
      at: Date.now(),
      ms: Math.round(performance.now() - traceStart),
      parts: partsRead,
      rss: mib(usage.rss),
      heapTotal: mib(usage.heapTotal),
      heapUsed: mib(usage.heapUsed),
      external: mib(usage.external),
      arrayBuffers: mib(usage.arrayBuffers),
    })}\n`,
  );
}, 200);

const startupPeakRssMiB = peakRssMiB();
// The start-up's garbage (migrations, the first queries: ~200 MiB at times) is collected
// before the base is read, when the bench gives --expose-gc: otherwise the import's first
// collections return it, and the RSS an import adds reads as that chance (4 MiB for one
// import, 40 for the next) rather than what the import holds.
const collect = (globalThis as { gc?: () => void }).gc;
for (let round = 0; round < 3 && collect; round++) {
  collect();
  await new Promise((resolve) => setTimeout(resolve, 50));
}
const peakReset = resetPeak();
const before = rssMiB();
const started = performance.now();
const result = await images.importImages(systemActor(), projectId, {
  parts: parts(),
  name: 'Folder',
});
const ms = performance.now() - started;
const peak = peakReset ? highWaterRssMiB() : peakRssMiB();
clearInterval(sampler);
/** The highest RSS in each quarter of the import's time. */
const byQuarter = [0, 1, 2, 3].map((quarter) =>
  Math.round(
    Math.max(
      0,
      ...samples.slice(
        Math.floor((quarter * samples.length) / 4),
        Math.floor(((quarter + 1) * samples.length) / 4),
      ),
    ),
  ),
);
await features.close();
await platform.close();
rmSync(dataDir, { recursive: true, force: true });
process.stdout.write(
  `${JSON.stringify({ ms, imported: result.imported, refused: result.refused.length, peakRssMiB: peak, baseRssMiB: before, startupPeakRssMiB, peakReset, byQuarter })}\n`,
);
