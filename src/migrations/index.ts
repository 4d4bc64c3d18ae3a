import type { Migration } from 'kysely/migration';
import * as m0001 from './0001-instance-settings.ts';

/**
 * Every migration, in order. A migration never changes after it ships: add a new one.
 * Names sort in application order; each has an `up` and a `down`.
 */
export const MIGRATIONS: Record<string, Migration> = {
  '0001-instance-settings': m0001,
};
