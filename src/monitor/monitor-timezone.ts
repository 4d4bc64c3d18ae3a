/**
 * A time zone's UTC offset as spans of constant offset, so a report can put millions of events
 * on their local calendar day with integer arithmetic (`epoch + offset`, then a floor by days)
 * instead of converting every timestamp through ICU: over a million events the conversion
 * alone cost more than the rest of the daily report. The offsets come from the same IANA data
 * (Node's ICU) that `Intl` uses to check the zone's name.
 */

/** From `fromMs` (inclusive) the offset is `offsetMs`, until the next span starts. */
export interface OffsetSpan {
  fromMs: number;
  offsetMs: number;
}

const HOUR_MS = 3_600_000;
/**
 * Offsets are sampled every 6 hours and each change found to the second between two samples.
 * No zone in the IANA database has changed its offset twice within 6 hours.
 */
const STEP_MS = 6 * HOUR_MS;
const YEAR_MS = 366 * 24 * HOUR_MS;

const formatters = new Map<string, Intl.DateTimeFormat>();
/** Spans per zone and UTC year: the offsets of a past year do not change within a process. */
const yearCache = new Map<string, OffsetSpan[]>();

function formatter(timeZone: string): Intl.DateTimeFormat {
  let found = formatters.get(timeZone);
  if (!found) {
    found = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
      era: 'short',
    });
    formatters.set(timeZone, found);
  }
  return found;
}

/** The zone's offset from UTC at `atMs` (whole seconds), in ms. */
export function offsetAt(timeZone: string, atMs: number): number {
  const seconds = Math.floor(atMs / 1000) * 1000;
  const parts: Record<string, string> = {};
  for (const part of formatter(timeZone).formatToParts(seconds)) parts[part.type] = part.value;
  let year = Number(parts.year);
  if (parts.era === 'BC' || parts.era === 'B') year = 1 - year;
  const wall = Date.UTC(
    year,
    Number(parts.month) - 1,
    Number(parts.day),
    Number(parts.hour),
    Number(parts.minute),
    Number(parts.second),
  );
  // Date.UTC maps years 0–99 to 1900–1999.
  const fixed = year >= 0 && year < 100 ? new Date(wall).setUTCFullYear(year) : wall;
  return fixed - seconds;
}

/** The first second after `fromMs` (whose offset is `before`) with another offset, ≤ `toMs`. */
function changeBetween(timeZone: string, fromMs: number, toMs: number, before: number): number {
  let low = fromMs; // offset === before
  let high = toMs; // offset !== before
  while (high - low > 1000) {
    const middle = low + Math.floor((high - low) / 2000) * 1000;
    if (offsetAt(timeZone, middle) === before) low = middle;
    else high = middle;
  }
  return high;
}

function spansOfYear(timeZone: string, year: number): OffsetSpan[] {
  const key = `${timeZone}\u0000${year}`;
  const cached = yearCache.get(key);
  if (cached) return cached;
  const start = Date.UTC(year, 0, 1);
  const end = Date.UTC(year + 1, 0, 1);
  let offset = offsetAt(timeZone, start);
  const spans: OffsetSpan[] = [{ fromMs: start, offsetMs: offset }];
  for (let at = start; at < end; at += STEP_MS) {
    const next = Math.min(end, at + STEP_MS);
    const nextOffset = offsetAt(timeZone, next);
    if (nextOffset !== offset) {
      spans.push({ fromMs: changeBetween(timeZone, at, next, offset), offsetMs: nextOffset });
      offset = nextOffset;
    }
  }
  yearCache.set(key, spans);
  return spans;
}

/**
 * Spans covering [fromMs, toMs] (both instants inside the data being reported), merged where
 * one year's last offset runs on into the next. The first span applies before `fromMs` too.
 */
export function offsetSpans(timeZone: string, fromMs: number, toMs: number): OffsetSpan[] {
  if (!Number.isFinite(fromMs) || !Number.isFinite(toMs) || toMs < fromMs) {
    return [{ fromMs: 0, offsetMs: offsetAt(timeZone, Number.isFinite(fromMs) ? fromMs : 0) }];
  }
  const spans: OffsetSpan[] = [];
  const first = new Date(fromMs).getUTCFullYear();
  const last = new Date(Math.min(toMs, fromMs + 400 * YEAR_MS)).getUTCFullYear();
  for (let year = first; year <= last; year++) {
    for (const span of spansOfYear(timeZone, year)) {
      if (spans.at(-1)?.offsetMs !== span.offsetMs) spans.push(span);
    }
  }
  // Spans wholly before fromMs are dropped, keeping the one fromMs falls in.
  let firstUsed = 0;
  while (firstUsed + 1 < spans.length && spans[firstUsed + 1]!.fromMs <= fromMs) firstUsed++;
  const used = spans.slice(firstUsed);
  // Spans starting after toMs are not needed either.
  while (used.length > 1 && used.at(-1)!.fromMs > toMs) used.pop();
  return used;
}

/**
 * A SQL expression for the local day number (days since 1970-01-01 in the zone) of the
 * epoch-milliseconds expression `epochMs`. Every value written into it is a safe integer
 * computed here, never text from a request.
 */
export function localDaySql(epochMs: string, spans: readonly OffsetSpan[]): string {
  for (const span of spans) {
    if (!Number.isSafeInteger(span.fromMs) || !Number.isSafeInteger(span.offsetMs)) {
      throw new Error('offset spans must be safe integers');
    }
  }
  let offset = String(spans.at(-1)?.offsetMs ?? 0);
  if (spans.length > 1) {
    const branches = spans
      .slice(1)
      .map((span, index) => `when ${epochMs} < ${span.fromMs} then ${spans[index]!.offsetMs}`)
      .join(' ');
    offset = `case ${branches} else ${offset} end`;
  }
  return `floor((${epochMs} + ${offset}) / 86400000)::bigint`;
}

/** YYYY-MM-DD of a local day number. */
export function dayName(dayNumber: number): string {
  return new Date(dayNumber * 86_400_000).toISOString().slice(0, 10);
}
