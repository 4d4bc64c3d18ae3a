import type { Kysely, Selectable } from 'kysely';
import type { DB, LlmProviderTable } from '../migrations/db-schema.ts';
import { deleteMatching, selectMatching } from '../platform/db/store-helpers.ts';
import type { ProviderKind } from './llm-provider.ts';

export interface FallbackTarget {
  /** Provider id (uuid) or `env:<kind>`; omitted: the same provider. */
  provider?: string | undefined;
  model: string;
}

/** A stored provider connection. The key stays sealed; only the registry opens it. */
export interface ProviderRecord {
  id: string;
  projectId: string | undefined;
  name: string;
  kind: ProviderKind;
  baseUrl: string | undefined;
  sealedApiKey: string | undefined;
  apiKeyHint: string | undefined;
  models: string[];
  fallbacks: Record<string, FallbackTarget[]>;
  maxConcurrency: number;
  requestsPerMinute: number | undefined;
  catalogProvider: string | undefined;
  enabled: boolean;
  createdAt: Date;
  updatedAt: Date;
}

type Row = Selectable<LlmProviderTable>;

function toRecord(row: Row): ProviderRecord {
  return {
    id: row.id,
    projectId: row.project_id ?? undefined,
    name: row.name,
    kind: row.kind,
    baseUrl: row.base_url ?? undefined,
    sealedApiKey: row.api_key ?? undefined,
    apiKeyHint: row.api_key_hint ?? undefined,
    models: row.models,
    fallbacks: (row.fallbacks ?? {}) as Record<string, FallbackTarget[]>,
    maxConcurrency: row.max_concurrency,
    requestsPerMinute: row.requests_per_minute ?? undefined,
    catalogProvider: row.catalog_provider ?? undefined,
    enabled: row.enabled,
    createdAt: new Date(row.created_at),
    updatedAt: new Date(row.updated_at),
  };
}

/** What a connection is made of, as stored: the record without its identity and times. */
export type ProviderValues = Omit<ProviderRecord, 'id' | 'projectId' | 'createdAt' | 'updatedAt'>;

/** The columns a connection's values are written to, on insert and on update alike. */
function toColumns(values: ProviderValues) {
  return {
    name: values.name,
    kind: values.kind,
    base_url: values.baseUrl ?? null,
    api_key: values.sealedApiKey ?? null,
    api_key_hint: values.apiKeyHint ?? null,
    models: values.models,
    fallbacks: JSON.stringify(values.fallbacks),
    max_concurrency: values.maxConcurrency,
    requests_per_minute: values.requestsPerMinute ?? null,
    catalog_provider: values.catalogProvider ?? null,
    enabled: values.enabled,
  };
}

export function createProviderStore(db: Kysely<DB>) {
  return {
    /** A project's connections and the instance-wide ones (projectId undefined: only those). */
    async listVisible(projectId: string | undefined): Promise<ProviderRecord[]> {
      const rows = await db
        .selectFrom('llm_provider')
        .selectAll()
        .where((eb) =>
          projectId === undefined
            ? eb('project_id', 'is', null)
            : eb.or([eb('project_id', '=', projectId), eb('project_id', 'is', null)]),
        )
        .orderBy('project_id', (order) => order.asc().nullsLast())
        .orderBy('created_at')
        .execute();
      return rows.map((row) => toRecord(row));
    },

    async find(id: string): Promise<ProviderRecord | undefined> {
      const row = await selectMatching(db, 'llm_provider', { id }).executeTakeFirst();
      return row ? toRecord(row) : undefined;
    },

    async insert(
      id: string,
      projectId: string | undefined,
      values: ProviderValues,
      createdBy: string | undefined,
    ): Promise<ProviderRecord> {
      const row = await db
        .insertInto('llm_provider')
        .values({
          id,
          project_id: projectId ?? null,
          ...toColumns(values),
          created_by: createdBy ?? null,
        })
        .returningAll()
        .executeTakeFirstOrThrow();
      return toRecord(row);
    },

    async update(id: string, values: ProviderValues): Promise<ProviderRecord | undefined> {
      const row = await db
        .updateTable('llm_provider')
        .set({
          ...toColumns(values),
          updated_at: new Date(),
        })
        .where('id', '=', id)
        .returningAll()
        .executeTakeFirst();
      return row ? toRecord(row) : undefined;
    },

    async delete(id: string): Promise<boolean> {
      return (await deleteMatching(db, 'llm_provider', { id })) > 0;
    },
  };
}

export type ProviderStore = ReturnType<typeof createProviderStore>;
