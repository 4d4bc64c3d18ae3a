import type { Migration } from 'kysely/migration';
import * as m0001 from './0001-instance-settings.ts';
import * as m0100 from './0100-accounts.ts';
import * as m0101 from './0101-projects.ts';
import * as m0102 from './0102-audit-log.ts';
import * as m0200 from './0200-llm-providers.ts';
import * as m0201 from './0201-llm-usage.ts';
import * as m0202 from './0202-llm-budgets.ts';
import * as m0203 from './0203-llm-cache.ts';
import * as m0300 from './0300-sheets.ts';
import * as m0400 from './0400-generation.ts';
import * as m0410 from './0410-import-conversions.ts';
import * as m0420 from './0420-import-heartbeat.ts';
import * as m0470 from './0470-generation-run-waiting.ts';
import * as m0600 from './0600-durable-runs.ts';
import * as m0610 from './0610-generation-durable-runs.ts';
import * as m0620 from './0620-event-log.ts';
import * as m0621 from './0621-staleness-pending.ts';
import * as m0630 from './0630-monitor-ingest-lease.ts';
import * as m0640 from './0640-saved-views.ts';
import * as m0650 from './0650-documents.ts';
import * as m0660 from './0660-workflows.ts';
import * as m0680 from './0680-monitor-watch.ts';
import * as m0700 from './0700-chat.ts';
import * as m0701 from './0701-chat-summaries.ts';
import * as m0710 from './0710-chat-agents.ts';
import * as m0720 from './0720-chat-search.ts';
import * as m0721 from './0721-chat-imports.ts';
import * as m0722 from './0722-chat-agent-totals.ts';
import * as m0723 from './0723-chat-summarizer.ts';
import * as m0730 from './0730-chat-thread-restore.ts';
import * as m0800 from './0800-gateway-keys.ts';
import * as m0900 from './0900-image-columns.ts';
import * as m0910 from './0910-image-generation.ts';
import * as m0911 from './0911-image-blob-links.ts';
import * as m0920 from './0920-hub-publish.ts';
import * as m0940 from './0940-chat-search-vectors.ts';
import * as m0960 from './0960-chat-list-datasets-tool.ts';
import * as m0980 from './0980-dataset-leases.ts';
import * as m1040 from './1040-hub-publish-heartbeat.ts';
import * as m1090 from './1090-run-step-key-order.ts';
import * as m1100 from './1100-chat-image-parts.ts';
import * as m1120 from './1120-server-presence.ts';

/**
 * Every migration, in order. What a migration sends never changes after it ships (its code may be
 * refactored; migration-sql.test.ts compares it with migration-sql.snapshot.json to the byte):
 * add a new one. Names sort in application order; each has an `up` and a `down`.
 */
export const MIGRATIONS: Record<string, Migration> = {
  '0001-instance-settings': m0001,
  '0100-accounts': m0100,
  '0101-projects': m0101,
  '0102-audit-log': m0102,
  '0200-llm-providers': m0200,
  '0201-llm-usage': m0201,
  '0202-llm-budgets': m0202,
  '0203-llm-cache': m0203,
  '0300-sheets': m0300,
  '0400-generation': m0400,
  '0410-import-conversions': m0410,
  '0420-import-heartbeat': m0420,
  '0470-generation-run-waiting': m0470,
  '0600-durable-runs': m0600,
  '0610-generation-durable-runs': m0610,
  '0620-event-log': m0620,
  '0621-staleness-pending': m0621,
  '0630-monitor-ingest-lease': m0630,
  '0640-saved-views': m0640,
  '0650-documents': m0650,
  '0660-workflows': m0660,
  '0680-monitor-watch': m0680,
  '0700-chat': m0700,
  '0701-chat-summaries': m0701,
  '0710-chat-agents': m0710,
  '0720-chat-search': m0720,
  '0721-chat-imports': m0721,
  '0722-chat-agent-totals': m0722,
  '0723-chat-summarizer': m0723,
  '0730-chat-thread-restore': m0730,
  '0800-gateway-keys': m0800,
  '0900-image-columns': m0900,
  '0910-image-generation': m0910,
  '0911-image-blob-links': m0911,
  '0920-hub-publish': m0920,
  '0940-chat-search-vectors': m0940,
  '0960-chat-list-datasets-tool': m0960,
  '0980-dataset-leases': m0980,
  '1040-hub-publish-heartbeat': m1040,
  '1090-run-step-key-order': m1090,
  '1100-chat-image-parts': m1100,
  '1120-server-presence': m1120,
};
