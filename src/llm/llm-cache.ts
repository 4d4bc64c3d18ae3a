import { createHash, type Hash } from 'node:crypto';
import { type Kysely, sql } from 'kysely';
import type { DB } from '../migrations/db-schema.ts';
import { GROUP_LINGER_MS, grouped } from '../platform/grouped.ts';
import type { FinishReason, LlmToolCallPart, TokenUsage } from './llm-provider.ts';

/**
 * JSON with object keys sorted at every level (RFC 8785 in spirit), so two requests that mean
 * the same thing hash the same, whatever order their keys were built in. `undefined` members
 * are left out, as JSON.stringify does.
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') {
    if (typeof value === 'number' && !Number.isFinite(value)) return 'null';
    return JSON.stringify(value) ?? 'null';
  }
  if (Array.isArray(value))
    return `[${value.map((item) => canonicalJson(item ?? null)).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, member]) => member !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([key, member]) => `${JSON.stringify(key)}:${canonicalJson(member)}`).join(',')}}`;
}

/** Text gathered before it goes to the hash: a call into the hash per piece costs more than the piece. */
const HASH_BATCH_CHARS = 16 * 1024;

/**
 * Feeds canonicalJson(value) into a hash piece by piece, never building the whole text: a
 * request carrying an image as a data URL (hundreds of KB) would otherwise be copied once per
 * nesting level by the joins, then once more to hash it. Small pieces are gathered up to
 * HASH_BATCH_CHARS and hashed together; a large one goes as it is. Same bytes, so the same keys.
 */
function hashCanonicalJson(hash: Hash, value: unknown): void {
  let pending = '';
  const write = (text: string) => {
    if (pending.length + text.length <= HASH_BATCH_CHARS) {
      pending += text;
      return;
    }
    if (pending) hash.update(pending);
    pending = '';
    if (text.length > HASH_BATCH_CHARS) hash.update(text);
    else pending = text;
  };
  const walk = (node: unknown): void => {
    if (node === null || typeof node !== 'object') {
      write(canonicalJson(node));
      return;
    }
    if (Array.isArray(node)) {
      write('[');
      for (const [index, item] of node.entries()) {
        if (index > 0) write(',');
        walk(item ?? null);
      }
      write(']');
      return;
    }
    const entries = Object.entries(node as Record<string, unknown>)
      .filter(([, member]) => member !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    write('{');
    for (const [index, [key, member]] of entries.entries()) {
      write(`${index > 0 ? ',' : ''}${JSON.stringify(key)}:`);
      walk(member);
    }
    write('}');
  };
  walk(value);
  if (pending) hash.update(pending);
}

export interface CacheKeyInput {
  projectId: string;
  providerRef: string;
  model: string;
  parameters: unknown;
  messages: unknown;
  outputSchema: unknown;
  /** Tool definitions and the tool choice: a different tool set never shares an answer. */
  tools?: unknown;
  toolChoice?: unknown;
}

/**
 * sha256 (hex) of the canonical JSON of everything that shapes the answer. Members that are
 * undefined are left out, so a call without tools keeps the key it had before tools existed.
 */
export function cacheKey(input: CacheKeyInput): string {
  const hash = createHash('sha256');
  hashCanonicalJson(hash, {
    v: 1,
    project: input.projectId,
    provider: input.providerRef,
    model: input.model,
    parameters: input.parameters,
    messages: input.messages,
    schema: input.outputSchema ?? null,
    tools: input.tools,
    toolChoice: input.toolChoice,
  });
  return hash.digest('hex');
}

/** What a cache entry replays. */
export interface CachedResponse {
  text: string;
  output: unknown;
  finishReason: FinishReason;
  /** The answer's tool calls (absent in entries written before tools reached the cache). */
  toolCalls?: LlmToolCallPart[];
  /** The provider and model that produced it (a fallback may have). */
  providerRef: string;
  providerKind: string;
  model: string;
  usage: TokenUsage;
  /** What the original call cost: each hit saves this much. Null when unknown. */
  costNano: number | null;
}

/** A small LRU over a Map (insertion order = recency). */
export class LruCache<V> {
  readonly #map = new Map<string, V>();
  readonly #capacity: number;

  constructor(capacity: number) {
    this.#capacity = capacity;
  }

  get size(): number {
    return this.#map.size;
  }

  get(key: string): V | undefined {
    const value = this.#map.get(key);
    if (value !== undefined) {
      this.#map.delete(key);
      this.#map.set(key, value);
    }
    return value;
  }

  set(key: string, value: V): void {
    if (this.#capacity <= 0) return;
    this.#map.delete(key);
    this.#map.set(key, value);
    if (this.#map.size > this.#capacity) {
      const oldest = this.#map.keys().next().value;
      if (oldest !== undefined) this.#map.delete(oldest);
    }
  }

  deleteWhere(predicate: (key: string) => boolean): void {
    for (const key of [...this.#map.keys()]) if (predicate(key)) this.#map.delete(key);
  }
}

/**
 * The response cache: PostgreSQL is the truth (shared by every server), an in-process LRU in
 * front of it saves the round trip for hot entries. Entries are scoped by project in the key
 * and in the table's primary key, so one project never reads another's answers. New entries
 * are written in batches (like usage rows); until then they are served from memory.
 */
export function createResponseCache(
  db: Kysely<DB>,
  memoryEntries: number,
  options: {
    flushMs?: number;
    onError?: (error: unknown) => void;
    /**
     * This process is the table's only writer (embedded PGlite: the data-dir lock): a lookup
     * first asks an in-process index of the keys the table holds, and a key it lacks is a miss
     * without a statement (on PGlite every statement costs the one thread).
     */
    soleWriter?: boolean;
  } = {},
) {
  const memory = new LruCache<CachedResponse>(memoryEntries);
  const held = options.soleWriter ? heldKeys(db) : undefined;
  const memoryKey = (projectId: string, key: string) => `${projectId}:${key}`;
  const pending = new Map<string, { projectId: string; key: string; response: CachedResponse }>();
  const flushMs = options.flushMs ?? 250;
  let timer: NodeJS.Timeout | undefined;
  let flushing: Promise<void> | undefined;

  async function write(batch: { projectId: string; key: string; response: CachedResponse }[]) {
    const column = <T>(pick: (entry: (typeof batch)[number]) => T) => batch.map(pick);
    await sql`
      insert into llm_cache (project_id, key, provider_ref, model, response, cost_nano)
      select * from unnest(
        ${column((e) => e.projectId)}::uuid[],
        ${column((e) => e.key)}::text[],
        ${column((e) => e.response.providerRef)}::text[],
        ${column((e) => e.response.model)}::text[],
        ${column((e) => JSON.stringify(e.response))}::jsonb[],
        ${column((e) => e.response.costNano)}::bigint[]
      )
      on conflict (project_id, key) do update set
        provider_ref = excluded.provider_ref,
        model = excluded.model,
        response = excluded.response,
        cost_nano = excluded.cost_nano,
        created_at = now()
    `.execute(db);
  }

  async function flush(): Promise<void> {
    if (flushing) await flushing;
    if (timer) clearTimeout(timer);
    timer = undefined;
    if (pending.size === 0) return;
    const batch = [...pending.values()];
    pending.clear();
    flushing = write(batch).catch((error: unknown) => {
      // Keep what was not written (unless replaced meanwhile) for the next flush.
      for (const entry of batch) {
        const id = memoryKey(entry.projectId, entry.key);
        if (!pending.has(id)) pending.set(id, entry);
      }
      options.onError?.(error);
      schedule();
    });
    try {
      await flushing;
    } finally {
      flushing = undefined;
    }
  }

  function schedule() {
    if (timer) return;
    timer = setTimeout(() => {
      timer = undefined;
      void flush();
    }, flushMs);
    timer.unref();
  }

  // Lookups asked for while one is under way are read together by the next statement (group
  // read, platform/grouped.ts): 64 calls at once look the table up a few times, not 64 times
  // (on embedded PGlite each statement costs the one thread); a lookup alone goes at once,
  // unless it may linger (a run's call: GROUP_LINGER_MS for the lookups of the calls starting
  // meanwhile, so a run spread over three servers costs no more statements than on one).
  const lookup = grouped(
    async (wanted: { projectId: string; key: string }[]) => {
      const { rows } = await sql<{
        project_id: string;
        key: string;
        response: unknown;
        cost_nano: number | null;
      }>`
      select c.project_id, c.key, c.response, c.cost_nano from llm_cache c
      join unnest(
        ${wanted.map((entry) => entry.projectId)}::uuid[],
        ${wanted.map((entry) => entry.key)}::text[]
      ) as w(project_id, key) on c.project_id = w.project_id and c.key = w.key
    `.execute(db);
      const found = new Map(rows.map((row) => [memoryKey(row.project_id, row.key), row]));
      return wanted.map((entry) => found.get(memoryKey(entry.projectId, entry.key)));
    },
    { lingerMs: GROUP_LINGER_MS },
  );

  return {
    /** `linger`: the lookup may wait GROUP_LINGER_MS for others to share its statement. */
    async get(projectId: string, key: string, linger = false): Promise<CachedResponse | undefined> {
      const id = memoryKey(projectId, key);
      const hot = memory.get(id) ?? pending.get(id)?.response;
      if (hot) return hot;
      if (held && !(await held.mayHold(projectId, key))) return undefined;
      const row = await lookup({ projectId, key }, linger);
      if (!row) return undefined;
      const response = { ...(row.response as CachedResponse), costNano: row.cost_nano };
      memory.set(id, response);
      return response;
    },

    /** Stores an answer: in memory at once, in PostgreSQL with the next batch. */
    put(projectId: string, key: string, response: CachedResponse): void {
      const id = memoryKey(projectId, key);
      memory.set(id, response);
      held?.add(projectId, key);
      pending.set(id, { projectId, key, response });
      if (pending.size >= 500) void flush();
      else schedule();
    },

    flush,

    /** Removes every entry of a project; returns how many were stored. */
    async clear(projectId: string): Promise<number> {
      await flush();
      memory.deleteWhere((key) => key.startsWith(`${projectId}:`));
      const result = await db
        .deleteFrom('llm_cache')
        .where('project_id', '=', projectId)
        .executeTakeFirst();
      return Number(result.numDeletedRows);
    },

    async entries(projectId: string): Promise<number> {
      await flush();
      const row = await db
        .selectFrom('llm_cache')
        .select((eb) => eb.fn.countAll<number>().as('count'))
        .where('project_id', '=', projectId)
        .executeTakeFirstOrThrow();
      return Number(row.count);
    },
  };
}

export type ResponseCache = ReturnType<typeof createResponseCache>;

/** The part of a key the index keeps: 64 bits of the sha256, so a collision costs one lookup. */
const heldPart = (key: string) => key.slice(0, 16);

/**
 * The keys `llm_cache` holds, per project, read on the project's first lookup (one statement)
 * and kept up to date by `add` (every entry this process writes). Only valid where this process
 * is the table's one writer. It may say "maybe" for a key the table lacks (a 64-bit prefix
 * collision, or an entry deleted since): the lookup
 * then asks the table as before; it never says "no" for a key the table holds.
 */
function heldKeys(db: Kysely<DB>) {
  const projects = new Map<string, { keys: Set<string>; read: Promise<boolean> }>();
  const entry = (projectId: string) => {
    let project = projects.get(projectId);
    if (project) return project;
    const keys = new Set<string>();
    const read = db
      .selectFrom('llm_cache')
      .select('key')
      .where('project_id', '=', projectId)
      .execute()
      .then(
        (rows) => {
          for (const row of rows) keys.add(heldPart(row.key));
          return true;
        },
        () => {
          // Unread: every lookup asks the table; the next one tries the read again.
          if (projects.get(projectId) === project) projects.delete(projectId);
          return false;
        },
      );
    project = { keys, read };
    projects.set(projectId, project);
    return project;
  };
  return {
    /** False only when the table cannot hold the key. */
    async mayHold(projectId: string, key: string): Promise<boolean> {
      const project = entry(projectId);
      if (project.keys.has(heldPart(key))) return true;
      return !(await project.read) || project.keys.has(heldPart(key));
    },
    /** Kept after `clear()` too: a key the table no longer holds is only a lookup more. */
    add(projectId: string, key: string): void {
      entry(projectId).keys.add(heldPart(key));
    },
  };
}
