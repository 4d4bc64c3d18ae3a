import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

/**
 * Issue #13: the features depend on each other one way only. Every relative import of a
 * non-test source file is an edge between the top-level folders of `src/` (a file directly in
 * `src/` is the composition root); the graph of folders must have no cycle, so a feature can be
 * read, tested and changed without the ones that use it.
 */
const SRC = import.meta.dirname;
const IMPORT = /\bfrom\s+['"](\.{1,2}\/[^'"]+)['"]/g;
const TEST_ONLY =
  /\.test\.ts$|-test-helpers\.ts$|-test-env\.ts$|-test-fixtures\.ts$|-test-app\.ts$/;

function folderOf(file: string): string {
  const [first, ...rest] = path.relative(SRC, file).split(path.sep);
  return rest.length === 0 ? '(root)' : first!;
}

function folderGraph(): Map<string, Map<string, string>> {
  const graph = new Map<string, Map<string, string>>();
  const files = readdirSync(SRC, { recursive: true, encoding: 'utf8' })
    .filter((file) => file.endsWith('.ts') && !TEST_ONLY.test(file))
    .map((file) => path.join(SRC, file));
  for (const file of files) {
    const from = folderOf(file);
    const edges = graph.get(from) ?? new Map<string, string>();
    graph.set(from, edges);
    for (const match of readFileSync(file, 'utf8').matchAll(IMPORT)) {
      const target = path.resolve(path.dirname(file), match[1]!);
      if (!target.startsWith(SRC + path.sep)) continue;
      const to = folderOf(target);
      if (to !== from && !edges.has(to)) edges.set(to, path.relative(SRC, file));
    }
  }
  return graph;
}

/** Each cycle once, as its folders in import order and the file that makes each step. */
function cycles(graph: Map<string, Map<string, string>>): string[] {
  const found: string[] = [];
  const seen = new Set<string>();
  const walk = (node: string, trail: string[]) => {
    for (const [next, file] of graph.get(node) ?? []) {
      const at = trail.indexOf(next);
      if (at >= 0) {
        const loop = [...trail.slice(at), next];
        const key = [...loop.slice(0, -1)].sort().join(' ');
        if (!seen.has(key)) {
          seen.add(key);
          found.push(`${loop.join(' → ')} (${node} → ${next} in ${file})`);
        }
        continue;
      }
      walk(next, [...trail, next]);
    }
  };
  for (const node of graph.keys()) walk(node, [node]);
  return found;
}

describe('the import graph of src/', () => {
  it('has no cycle between folders', () => {
    const graph = folderGraph();
    // The walk sees the whole tree: the features and the root that wires them.
    expect([...graph.keys()]).toEqual(
      expect.arrayContaining(['(root)', 'sheets', 'documents', 'chat', 'platform', 'llm']),
    );
    expect(graph.get('(root)')?.has('sheets')).toBe(true);
    expect(cycles(graph)).toEqual([]);
  });

  it('finds a cycle when there is one', () => {
    const graph = new Map([
      ['a', new Map([['b', 'a/x.ts']])],
      ['b', new Map([['c', 'b/y.ts']])],
      ['c', new Map([['a', 'c/z.ts']])],
    ]);
    expect(cycles(graph)).toEqual(['a → b → c → a (c → a in c/z.ts)']);
  });
});
