import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  addMember,
  createProject,
  createProjectWithMembers,
  createSignedInUser,
  type ProjectWithMembers,
  type TestSession,
  uniqueEmail,
} from '../../test/factories.ts';
import { createTestApp, type TestApp } from '../../test/test-platform.ts';
import { loadConfig } from '../platform/config.ts';
import { keyFilePath } from '../platform/crypto.ts';
import { identifierFor } from '../platform/duckdb/duckdb-identifiers.ts';
import { createSheetDataStore } from './sheet-data-store.ts';
import { datasetTable, stateColumn, valueColumn } from './sheet-query.ts';
import { runReadOnlySql, type SqlColumn } from './sheet-sql.ts';

/**
 * The SQL sandbox against an attacker who is a viewer (SQL) or an editor (formulas) of their
 * own project, going for another project's dataset, the catalog of the main DuckDB instance,
 * files of the data dir (the master key file) and the server's limits. Every attack is tried
 * twice: through the API (both layers), and with the syntax check switched off (the sandbox
 * alone). Nothing may come back that belongs to anything but the attacker's own dataset.
 */
const MARKER = 'VICTIM-ROW-7f3a9c';
const MiB = 1024 * 1024;

describe('SQL sandbox under attack', () => {
  let t: TestApp;
  let members: ProjectWithMembers;
  let mine: { id: string; columns: { id: string; name: string; type: string }[] };
  let victimTable: string;
  let victimId: string;
  let victimHex: string;
  let keyMaterial: string[];
  let base: string;
  let attacks: string[];

  const post = (url: string, payload: unknown, who: TestSession) =>
    t.app.inject({ method: 'POST', url, headers: who.headers, payload: payload as object });

  /** A dataset made by the editor, as the API presents it. */
  const newDataset = async (
    name: string,
    rows: number,
    columns: { name: string; type?: string }[],
  ) => (await post(base, { name, rows, columns }, members.editor)).json();

  beforeAll(async () => {
    t = await createTestApp({
      config: {
        duckdb: {
          threads: 2,
          memoryLimit: '1GB',
          connections: 2,
          maxAttached: 500,
          sandbox: { memoryBytes: 400 * MiB, processes: 2 },
        },
        sheets: {
          ...loadConfig({}, {}).sheets,
          sqlTimeoutMs: 30_000,
          sqlMaxRows: 100,
          formulaTimeoutMs: 30_000,
          formulaMaxValueBytes: MiB,
        },
      },
    });
    members = await createProjectWithMembers(t);
    base = `/api/projects/${members.project.id}/datasets`;
    // The victim: another project, which the attacker is not a member of.
    const victimOwner = await createSignedInUser(t, { email: uniqueEmail('victim') });
    const victimProject = await createProject(t, victimOwner, { name: 'Victim' });
    await addMember(t, victimProject, victimOwner, members.outsider, 'viewer');
    const victim = await post(
      `/api/projects/${victimProject.id}/datasets`,
      { name: 'Payroll', rows: 3, columns: [{ name: 'Secret' }] },
      victimOwner,
    );
    expect(victim.statusCode).toBe(201);
    const victimDataset = victim.json();
    const secret = victimDataset.columns[0].id;
    const edit = await t.app.inject({
      method: 'PATCH',
      url: `/api/projects/${victimProject.id}/datasets/${victimDataset.id}/cells`,
      headers: victimOwner.headers,
      payload: { rowId: '1', columnId: secret, expectedVersion: 0, value: MARKER },
    });
    expect(edit.statusCode).toBe(200);
    victimTable = identifierFor('ds', victimDataset.id);
    victimId = victimDataset.id;
    victimHex = victimDataset.id.replaceAll('-', '');
    // A secret sealed now makes sure the key file exists, as on any server with providers.
    const provider = await t.app.inject({
      method: 'POST',
      url: `/api/projects/${victimProject.id}/llm/providers`,
      headers: victimOwner.headers,
      payload: {
        name: 'victim-openai',
        kind: 'openai',
        apiKey: 'sk-test-victim-0123456789abcdef',
        baseUrl: 'http://127.0.0.1:9/v1',
      },
    });
    expect(provider.statusCode).toBeLessThan(300);
    const keyFile = keyFilePath(t.storage.dataDir);
    keyMaterial = [...readFileSync(keyFile, 'utf8').matchAll(/"([A-Za-z0-9+/=_-]{32,})"/g)].map(
      (match) => match[1]!,
    );
    expect(keyMaterial.length).toBeGreaterThan(0);

    mine = await newDataset('Mine', 3, [{ name: 'Name' }, { name: 'N', type: 'integer' }]);
    const duckdbFile = t.platform.duckdb.path;
    attacks = [
      // CTE shadowing at every nesting level: a CTE is in scope only inside its own WITH.
      `select * from ${victimTable}, (with ${victimTable} as (select 1) select 1)`,
      `select * from (select * from (select * from ${victimTable})) s, (with ${victimTable} as (select 1) select 1)`,
      `select 1 where exists (select * from ${victimTable}) and exists (with ${victimTable} as (select 1) select 1)`,
      `with a as (select * from ${victimTable}), ${victimTable} as (select 1) select * from a`,
      `with ${victimTable} as (select * from ${victimTable}) select * from ${victimTable}`,
      `with x as (with ${victimTable} as (select 1) select 1) select * from ${victimTable}`,
      `select * from sqlite_master, (with sqlite_master as (select 1) select 1)`,
      `select * from duckdb_tables, (with duckdb_tables as (select 1) select 1)`,
      `select * from '${keyFilePath(t.storage.dataDir)}', (with "${keyFilePath(t.storage.dataDir)}" as (select 1) select 1)`,
      // Catalog tables, schemas and table functions.
      `select * from ${victimTable}`,
      `select * from main.${victimTable}`,
      `select * from braincells.${victimTable}`,
      'select * from sqlite_master',
      'select * from information_schema.tables',
      'select * from duckdb_tables()',
      'select * from duckdb_columns()',
      'select * from duckdb_databases()',
      `select * from query_table('${victimTable}')`,
      `select * from query('select * from ${victimTable}')`,
      'select * from sheet_cache.x',
      // Quoted paths and globs.
      `select * from '${keyFilePath(t.storage.dataDir)}'`,
      `select * from "${keyFilePath(t.storage.dataDir)}"`,
      `select * from '${t.storage.dataDir}/*.json'`,
      `select * from read_json_auto('${keyFilePath(t.storage.dataDir)}')`,
      `select * from read_csv('${keyFilePath(t.storage.dataDir)}', header = false)`,
      `select * from glob('${t.storage.dataDir}/**')`,
      `select * from read_blob('${duckdbFile}')`,
      // File-reading functions where a checker might not look.
      `select (select content from read_text('${keyFilePath(t.storage.dataDir)}'))`,
      `select * from dataset where exists (select * from read_text('${keyFilePath(t.storage.dataDir)}'))`,
      `select * from dataset, lateral (select content from read_text('${keyFilePath(t.storage.dataDir)}'))`,
      `select "Name" from dataset union all select content from read_text('${keyFilePath(t.storage.dataDir)}')`,
      `select 1 order by (select count(*) from ${victimTable})`,
      `select 1 limit (select count(*) from ${victimTable})`,
      `select 1 qualify (select count(*) from ${victimTable}) > 0`,
      `select 1 group by (select max(*) from ${victimTable})`,
      // Settings and the environment.
      "select getenv('HOME')",
      "select current_setting('temp_directory')",
      'select * from duckdb_settings()',
      "set enable_external_access = true; select * from read_text('/etc/passwd')",
      'pragma database_list',
      // FROM-first, PIVOT, DESCRIBE/SUMMARIZE/SHOW, other statements.
      `from ${victimTable}`,
      `from read_text('${keyFilePath(t.storage.dataDir)}')`,
      `pivot ${victimTable} on col_x`,
      `select * from (pivot ${victimTable} on 1 using count(*))`,
      `summarize ${victimTable}`,
      `describe ${victimTable}`,
      'show tables',
      'show all tables',
      `select 1; select * from ${victimTable}`,
      `attach '${duckdbFile}' as stolen`,
      `copy (select 1) to '${t.storage.dataDir}/owned.csv'`,
    ];
  });
  afterAll(async () => {
    await t?.close();
  });

  /** Nothing of the victim, the key file or the data dir in anything that came back. */
  const expectNoLeak = (text: string, attack: string) => {
    expect(text, attack).not.toContain(MARKER);
    for (const key of keyMaterial) expect(text, attack).not.toContain(key);
    expect(text, attack).not.toContain('sk-test-victim');
    expect(text.toLowerCase(), attack).not.toContain(victimHex);
    expect(text.toLowerCase(), attack).not.toContain(victimId);
    // The data dir may come back only where the attacker typed it (an error naming their path).
    if (!attack.includes(t.storage.dataDir)) expect(text, attack).not.toContain(t.storage.dataDir);
  };

  it('refuses every attack through the API (a viewer of another project), with no 5xx and nothing leaked', async () => {
    for (const sql of attacks) {
      const response = await post(`${base}/${mine.id}/sql`, { sql }, members.viewer);
      expect(response.statusCode, sql).toBeGreaterThanOrEqual(400);
      expect(response.statusCode, sql).toBeLessThan(500);
      expect(response.json().error.code, sql).toBe('VALIDATION_ERROR');
      expectNoLeak(response.body.replaceAll(victimTable, '(named)'), sql);
    }
  });

  it('the sandbox alone holds: with the syntax check switched off no attack reaches anything', async () => {
    const columns: SqlColumn[] = mine.columns.map((column) => ({
      id: column.id,
      name: column.name,
      type: column.type as SqlColumn['type'],
    }));
    let refusedBySandbox = 0;
    for (const sql of attacks) {
      const outcome = await runReadOnlySql(t.platform.duckdb, {
        datasetId: mine.id,
        columns,
        sql,
        timeoutMs: 30_000,
        maxRows: 100,
        skipCheck: true,
      }).then(
        (result) => JSON.stringify(result),
        (error: { code?: string; message: string; status?: number }) => {
          refusedBySandbox++;
          expect(error.code, sql).toBeDefined();
          expect(error.status ?? 500, sql).toBeLessThan(500);
          return error.message;
        },
      );
      expectNoLeak(outcome.replaceAll(victimTable, '(named)'), sql);
    }
    expect(refusedBySandbox).toBeGreaterThan(attacks.length / 2);
    // What the sandbox's own catalog shows: the one view, by a name that says nothing.
    const catalog = await runReadOnlySql(t.platform.duckdb, {
      datasetId: mine.id,
      columns,
      sql: 'select view_name as name from duckdb_views() where not internal union all select table_name from duckdb_tables()',
      timeoutMs: 30_000,
      maxRows: 100,
      skipCheck: true,
    });
    expect(catalog.rows.map((row) => row.name)).toEqual(['dataset']);
  });

  it('formula attacks are refused whole, at creation, leaving no column behind', async () => {
    const url = `${base}/${mine.id}/columns`;
    const key = keyFilePath(t.storage.dataDir);
    const formulas = [
      `1) as value where exists(select * from read_text('${key}')) --`,
      `1) as value from ${victimTable} --`,
      `{{Name}}) as value, (select max(*) from ${victimTable}) as y --`,
      `1) as value order by (select count(*) from ${victimTable}) --`,
      `1) as value limit (select count(*) from ${victimTable}) --`,
      `1) as value qualify exists (from ${victimTable}) --`,
      `(select 1 from ${victimTable})`,
      `(with x as (select 1) select * from ${victimTable})`,
      `read_text('${key}')`,
      `(select content from read_text('${key}'))`,
      "getenv('HOME')",
      "current_setting('memory_limit')",
      `exists(select 1 from ${victimTable})`,
      `${victimTable}.col_x`,
      'sum({{N}}) over ()',
      '*',
    ];
    for (const formula of formulas) {
      const response = await post(url, { name: 'Attack', formula }, members.editor);
      expect(response.statusCode, formula).toBe(400);
      expectNoLeak(response.body.replaceAll(victimTable, '(named)'), formula);
    }
    const after = await t.app.inject({
      method: 'GET',
      url: `${base}/${mine.id}`,
      headers: members.viewer.headers,
    });
    expect(after.json().columns.map((column: { name: string }) => column.name)).toEqual([
      'Name',
      'N',
    ]);
  });

  it('a formula computed with the check switched off still sees only its input columns', async () => {
    const data = createSheetDataStore({ duckdb: t.platform.duckdb });
    const column = await post(`${base}/${mine.id}/columns`, { name: 'Target' }, members.editor);
    const target = {
      id: column.json().id as string,
      type: 'text' as const,
      kind: 'formula' as const,
    };
    const key = keyFilePath(t.storage.dataDir);
    const expressions = [
      `(select max(col_x) from ${victimTable})`,
      `(select string_agg(table_name, ',') from duckdb_tables())`,
      `(select string_agg(database_name || coalesce(path, ''), ',') from duckdb_databases())`,
      `(select content from read_text('${key}'))`,
      `(select string_agg(sql, ',') from sqlite_master)`,
      `getenv('HOME')`,
    ];
    for (const expression of expressions) {
      await data.recomputeFormula(mine.id, target, expression, { inputs: [] });
      const rows = await t.platform.duckdb.query<{ value: string | null; state: string | null }>(
        `select cast(${valueColumn(target.id)} as varchar) as value, cast(${stateColumn(target.id)} as varchar) as state from ${datasetTable(mine.id)}`,
      );
      expectNoLeak(JSON.stringify(rows).replaceAll(victimTable, '(named)'), expression);
    }
  });

  it('a runaway list query is stopped at the memory cap and the server goes on answering', async () => {
    const url = `${base}/${mine.id}/sql`;
    const runaway = await post(
      url,
      { sql: 'select len(list_transform(range(100000000), x -> x)) as n' },
      members.viewer,
    );
    expect(runaway.statusCode).toBe(400);
    expect(runaway.json().error.message).toMatch(/more than 400 MiB of memory/);
    const fine = await post(url, { sql: 'select count(*) as n from dataset' }, members.viewer);
    expect(fine.json().rows).toEqual([{ n: '3' }]);
    const formula = await post(
      `${base}/${mine.id}/columns`,
      { name: 'Huge', formula: 'len(range(100000000 + coalesce({{N}}, 0)))' },
      members.editor,
    );
    expect(formula.statusCode).toBe(400);
    expect(formula.json().error.message).toMatch(/memory/);
  });

  it('volatile formulas work; one that raises answers 400; values over the cap are error cells', async () => {
    const url = `${base}/${mine.id}/columns`;
    const random = await post(
      url,
      { name: 'Dice', type: 'number', formula: 'random()' },
      members.editor,
    );
    expect(random.statusCode).toBe(201);
    const uuid = await post(url, { name: 'Id', formula: 'uuid()::varchar' }, members.editor);
    expect(uuid.statusCode).toBe(201);
    const raising = await post(url, { name: 'Boom', formula: "error('no luck')" }, members.editor);
    expect(raising.statusCode).toBe(400);
    expect(raising.json().error.message).toContain('no luck');
    await t.app.inject({
      method: 'PATCH',
      url: `${base}/${mine.id}/cells`,
      headers: members.editor.headers,
      payload: { rowId: '1', columnId: mine.columns[0]!.id, expectedVersion: 0, value: 'abc' },
    });
    const big = await post(
      url,
      { name: 'Big', formula: 'repeat({{Name}}, 400000)' },
      members.editor,
    );
    expect(big.statusCode).toBe(201);
    const window = await post(`${base}/${mine.id}/rows/query`, { limit: 10 }, members.viewer);
    const rows = window.json().rows as {
      rowId: string;
      cells: Record<string, { value: unknown; status: string; error?: string }>;
    }[];
    const dice = random.json().id;
    for (const row of rows) {
      expect(typeof row.cells[dice]!.value).toBe('number');
      expect(row.cells[dice]!.value as number).toBeGreaterThanOrEqual(0);
      expect(row.cells[dice]!.value as number).toBeLessThan(1);
    }
    const first = rows.find((row) => row.rowId === '1')!.cells[big.json().id]!;
    expect(first).toMatchObject({ status: 'error', value: null });
    expect(first.error).toMatch(/larger than 1,048,576 bytes/);
  });

  it('a row append never answers 500 after writing its row: a formula failing as a whole marks its cells', async () => {
    const dataset = await newDataset('Appends', 1, [{ name: 'N', type: 'integer' }]);
    const n = dataset.columns[0].id;
    const formula = await post(
      `${base}/${dataset.id}/columns`,
      {
        name: 'Guard',
        type: 'number',
        formula: "case when {{N}} > 5 then error('too big: ' || {{N}}) else random() end",
      },
      members.editor,
    );
    expect(formula.statusCode).toBe(201);
    const append = await post(
      `${base}/${dataset.id}/rows`,
      { rows: [{ [n]: 10 }] },
      members.editor,
    );
    expect(append.statusCode).toBe(201);
    const [rowId] = append.json().rowIds as string[];
    const window = await post(`${base}/${dataset.id}/rows/query`, { limit: 10 }, members.viewer);
    const row = (
      window.json().rows as {
        rowId: string;
        cells: Record<string, { status: string; error?: string }>;
      }[]
    ).find((candidate) => candidate.rowId === rowId)!;
    expect(row.cells[formula.json().id]).toMatchObject({ status: 'error' });
    expect(row.cells[formula.json().id]!.error).toContain('too big: 10');
  });

  it('recomputes chained formulas after an edit in evaluation order (one sandbox session)', async () => {
    const dataset = await newDataset('Chain', 2, [{ name: 'Price', type: 'number' }]);
    const price = dataset.columns[0].id;
    const url = `${base}/${dataset.id}/columns`;
    const taxed = await post(
      url,
      { name: 'Taxed', type: 'number', formula: '{{Price}} * 1.2' },
      members.editor,
    );
    const label = await post(
      url,
      {
        name: 'Label',
        formula: "'€' || cast({{Taxed}} as varchar) || ' for ' || cast({{Price}} as varchar)",
      },
      members.editor,
    );
    expect([taxed.statusCode, label.statusCode]).toEqual([201, 201]);
    const edit = await t.app.inject({
      method: 'PATCH',
      url: `${base}/${dataset.id}/cells`,
      headers: members.editor.headers,
      payload: { rowId: '2', columnId: price, expectedVersion: 0, value: 10 },
    });
    expect(edit.statusCode).toBe(200);
    const window = await post(`${base}/${dataset.id}/rows/query`, { limit: 10 }, members.viewer);
    const row = (
      window.json().rows as { rowId: string; cells: Record<string, { value: unknown }> }[]
    ).find((candidate) => candidate.rowId === '2')!;
    expect(row.cells[taxed.json().id]!.value).toBe(12);
    expect(row.cells[label.json().id]!.value).toBe('€12.0 for 10.0');
  });
});
