import type { DocumentView } from '../api/document-api.ts';

/** What each extraction status reads as (docs/documents.md "Extraction"). */
export const STATUS_LABELS: Record<DocumentView['status'], string> = {
  queued: 'Queued',
  extracting: 'Extracting…',
  ready: 'Text extracted',
  'no-text': 'No text',
  encrypted: 'Encrypted',
  corrupt: 'Corrupt',
  failed: 'Failed',
  unsupported: 'Unsupported',
};

/** Statuses the page polls through: the extraction job still has them. */
export const WORKING = new Set<DocumentView['status']>(['queued', 'extracting']);
