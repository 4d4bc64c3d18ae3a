import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { readmeWithTable } from '../scripts/config-table.ts';
import { ROOT } from './spawn-server.ts';

describe('docs move with code', () => {
  it('README lists every setting exactly as the schema defines it', () => {
    const readme = readFileSync(path.join(ROOT, 'README.md'), 'utf8');
    // If this fails: run `npm run docs:config` and commit README.md.
    expect(readme).toBe(readmeWithTable(readme));
  });

  it('README quick start shows the two commands', () => {
    const readme = readFileSync(path.join(ROOT, 'README.md'), 'utf8');
    expect(readme).toContain('make start');
    expect(readme).toContain('make test');
    const ci = readFileSync(path.join(ROOT, '.ci/run'), 'utf8');
    expect(ci).toMatch(/^make test$/m);
  });

  it('ARCHITECTURE.md has a line for every source folder', () => {
    const architecture = readFileSync(path.join(ROOT, 'docs/ARCHITECTURE.md'), 'utf8');
    const folders = [
      ...readdirSync(path.join(ROOT, 'src'), { withFileTypes: true })
        .filter((entry) => entry.isDirectory())
        .map((entry) => `src/${entry.name}`),
      'test',
      'bench',
      'tools/fake-llm',
      'scripts',
    ];
    for (const folder of folders) {
      expect(existsSync(path.join(ROOT, folder))).toBe(true);
      expect(architecture, `docs/ARCHITECTURE.md lacks \`${folder}/\``).toContain(`\`${folder}/\``);
    }
  });
});
