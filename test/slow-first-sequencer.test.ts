import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { TestSpecification, Vitest } from 'vitest/node';
import { SLOW_FILES, SlowFirstSequencer } from './slow-first-sequencer.ts';
import { ROOT } from './spawn-server.ts';

const project = { name: '', config: { isolate: true, sequence: { groupOrder: 0 } } };
const spec = (file: string) =>
  ({ moduleId: path.join(ROOT, file), project }) as unknown as TestSpecification;
const files = (specs: TestSpecification[]) => specs.map((one) => path.relative(ROOT, one.moduleId));

/** A sequencer over a cache that timed `timed` (file → ms) in an earlier run. */
const sequencer = (timed: Record<string, number>) =>
  new SlowFirstSequencer({
    config: { root: ROOT },
    cache: {
      getTestSpecificationResult: (one: TestSpecification) => {
        const duration = timed[path.relative(ROOT, one.moduleId)];
        return duration === undefined ? undefined : { failed: false, duration };
      },
    },
  } as unknown as Vitest);

describe('the slow-first sequencer', () => {
  it('names files that exist', () => {
    for (const file of Object.keys(SLOW_FILES))
      expect(existsSync(path.join(ROOT, file)), file).toBe(true);
  });

  // With no record Vitest starts the largest file first: of these, never the small
  // server-process.test.ts.
  it('with no earlier timings, starts the known-slow files first, longest first, then the others by size', async () => {
    const sorted = await sequencer({}).sort(
      [
        'test/docs.test.ts',
        'src/auth/auth-routes.test.ts',
        'src/documents/document-recovery.test.ts',
        'test/server-process.test.ts',
        'test/lockfile.test.ts',
      ].map(spec),
    );
    const slow = Object.entries(SLOW_FILES)
      .sort(([, a], [, b]) => b - a)
      .map(([file]) => file);
    expect(files(sorted).slice(0, 3)).toEqual(
      slow.filter((file) =>
        [
          'src/auth/auth-routes.test.ts',
          'src/documents/document-recovery.test.ts',
          'test/server-process.test.ts',
        ].includes(file),
      ),
    );
    expect(files(sorted)[0]).toBe('test/server-process.test.ts');
    const bySize = ['test/docs.test.ts', 'test/lockfile.test.ts'].sort(
      (a, b) => statSync(path.join(ROOT, b)).size - statSync(path.join(ROOT, a)).size,
    );
    expect(files(sorted).slice(3)).toEqual(bySize);
  });

  it('with timings of every file, keeps Vitest’s order: longest recorded first', async () => {
    const sorted = await sequencer({
      'test/docs.test.ts': 9_000,
      'test/server-process.test.ts': 1_000,
      'test/lockfile.test.ts': 5_000,
    }).sort(
      ['test/server-process.test.ts', 'test/lockfile.test.ts', 'test/docs.test.ts'].map(spec),
    );
    expect(files(sorted)).toEqual([
      'test/docs.test.ts',
      'test/lockfile.test.ts',
      'test/server-process.test.ts',
    ]);
  });
});
