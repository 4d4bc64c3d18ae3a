import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DuckDb, openDuckDb } from '../platform/duckdb/duckdb.ts';
import { dayName, localDaySql, offsetAt, offsetSpans } from './monitor-timezone.ts';

// The local calendar day as Intl names it: the reference the spans must agree with.
const dayFormats = new Map<string, Intl.DateTimeFormat>();
function intlDay(timeZone: string, atMs: number): string {
  let format = dayFormats.get(timeZone);
  if (!format) {
    format = new Intl.DateTimeFormat('en-CA', {
      timeZone,
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
    });
    dayFormats.set(timeZone, format);
  }
  return format.format(atMs);
}

const ZONES = [
  'UTC',
  'Europe/Paris',
  'America/New_York',
  'America/St_Johns', // −3:30 with DST
  'Asia/Kolkata', // +5:30, no DST
  'Asia/Kathmandu', // +5:45
  'Australia/Lord_Howe', // a 30-minute DST shift
  'Pacific/Apia', // skipped 2011-12-30 entirely
  'Pacific/Kiritimati', // +14
];

describe('monitor time-zone offsets', () => {
  let duckdb: DuckDb;
  beforeAll(async () => {
    duckdb = await openDuckDb({ path: ':memory:', connections: 1, threads: 1 });
  });
  afterAll(async () => {
    await duckdb.close();
  });

  it('finds daylight-saving changes to the second', () => {
    // Paris 2026: +1 h until 29 March 01:00 UTC, +2 h until 25 October 01:00 UTC.
    expect(offsetSpans('Europe/Paris', Date.UTC(2026, 0, 1), Date.UTC(2026, 11, 31))).toEqual([
      { fromMs: Date.UTC(2026, 0, 1), offsetMs: 3_600_000 },
      { fromMs: Date.UTC(2026, 2, 29, 1), offsetMs: 7_200_000 },
      { fromMs: Date.UTC(2026, 9, 25, 1), offsetMs: 3_600_000 },
    ]);
    expect(offsetAt('Asia/Kathmandu', Date.UTC(2026, 5, 1))).toBe((5 * 60 + 45) * 60_000);
    expect(offsetSpans('Asia/Kolkata', Date.UTC(2020, 0, 1), Date.UTC(2026, 0, 1))).toHaveLength(1);
  });

  it('keeps only the spans the range needs', () => {
    const spans = offsetSpans('Europe/Paris', Date.UTC(2026, 5, 1), Date.UTC(2026, 6, 1));
    expect(spans).toEqual([{ fromMs: Date.UTC(2026, 2, 29, 1), offsetMs: 7_200_000 }]);
  });

  it('puts instants on the same local day as Intl, in SQL, around every change', async () => {
    for (const zone of ZONES) {
      const from = Date.UTC(2011, 0, 1);
      const to = Date.UTC(2027, 0, 1);
      const spans = offsetSpans(zone, from, to);
      // Each change, a second either side, and a spread of instants between.
      const instants = new Set<number>([from, to]);
      for (const span of spans) {
        for (const delta of [-3_600_001, -1000, -1, 0, 1, 1000, 3_600_000]) {
          const at = span.fromMs + delta;
          if (at >= from && at <= to) instants.add(at);
        }
      }
      for (let at = from; at <= to; at += 71 * 3_600_000 + 1_234_567) instants.add(at);
      const list = [...instants];
      const rows = await duckdb.query(
        `select t.ms, ${localDaySql('t.ms', spans)} as day
         from (select unnest(string_split($1, ','))::bigint as ms) t`,
        [list.join(',')],
      );
      const wrong = rows
        .map((row) => ({ ms: Number(row.ms), ours: dayName(Number(row.day)) }))
        .filter(({ ms, ours }) => ours !== intlDay(zone, ms));
      expect({ zone, wrong: wrong.slice(0, 3) }).toEqual({ zone, wrong: [] });
      expect(rows.length).toBe(list.length);
    }
  });

  it('writes only integers into SQL', () => {
    expect(() => localDaySql('x', [{ fromMs: 1.5, offsetMs: 0 }])).toThrow(/safe integers/);
    expect(localDaySql('x', [{ fromMs: 0, offsetMs: 3_600_000 }])).toBe(
      'floor((x + 3600000) / 86400000)::bigint',
    );
  });
});
