import { accessSync, constants } from 'node:fs';
import { PostgresUrlError, verifiedPostgresUrl } from './db/postgres-url.ts';
import type { RedisSettings } from './redis.ts';

export type ServerRole = 'all' | 'api' | 'worker';

/**
 * embedded: PGlite in the data dir, one process. postgres: DATABASE_URL, servers share the
 * metadata, jobs and events. shared: DATABASE_URL and REDIS_URL — rate limits are shared too,
 * and /readyz checks Redis (docs/deploy.md).
 */
export type DeploymentMode = 'embedded' | 'postgres' | 'shared';

export interface DeploymentConfig {
  role: ServerRole;
  mode: DeploymentMode;
  databaseUrl: string | undefined;
  jobsEnabled: boolean;
  redis: RedisSettings | undefined;
}

export interface DeploymentSettings {
  role: ServerRole;
  databaseUrl: string | undefined;
  jobs: boolean;
  redisUrl: string | undefined;
  redisCaFile: string | undefined;
  secret: string | undefined;
}

/** A problem with one setting: the variable it names and what is wrong (never its value). */
export type SettingProblem = (variable: string, problem: string) => Error;

/** Cross-setting rules of roles and shared mode; `problem` builds the ConfigError to throw. */
export function deploymentConfig(
  settings: DeploymentSettings,
  problem: SettingProblem,
): DeploymentConfig {
  const { role, redisUrl, redisCaFile } = settings;
  let databaseUrl = settings.databaseUrl;
  if (databaseUrl !== undefined) {
    try {
      databaseUrl = verifiedPostgresUrl(databaseUrl);
    } catch (error) {
      if (error instanceof PostgresUrlError) throw problem('DATABASE_URL', error.message);
      throw error;
    }
  }
  if (role !== 'all' && databaseUrl === undefined) {
    throw problem(
      'BRAINCELLS_ROLE',
      `${role} needs DATABASE_URL: the embedded database belongs to one process, so api and worker servers share a PostgreSQL`,
    );
  }
  if (role === 'api' && settings.secret === undefined) {
    throw problem(
      'BRAINCELLS_SECRET',
      'must be set when BRAINCELLS_ROLE=api: an api server holds no dataset and forwards every dataset request, signed with a key derived from it, to a server that holds one',
    );
  }
  if (role === 'worker' && !settings.jobs) {
    throw problem('BRAINCELLS_JOBS', 'cannot be false when BRAINCELLS_ROLE=worker');
  }
  if (redisCaFile !== undefined) {
    if (!redisUrl?.startsWith('rediss://')) {
      throw problem('BRAINCELLS_REDIS_CA_FILE', 'needs a rediss:// REDIS_URL');
    }
    try {
      accessSync(redisCaFile, constants.R_OK);
    } catch {
      throw problem('BRAINCELLS_REDIS_CA_FILE', `file ${redisCaFile} cannot be read`);
    }
  }
  const mode: DeploymentMode =
    databaseUrl === undefined ? 'embedded' : redisUrl === undefined ? 'postgres' : 'shared';
  if (mode === 'shared' && settings.secret === undefined) {
    throw problem(
      'BRAINCELLS_SECRET',
      'must be set when DATABASE_URL and REDIS_URL are (shared mode): every server decrypts the same provider keys, so they need the same master key',
    );
  }
  return {
    role,
    mode,
    databaseUrl,
    jobsEnabled: role !== 'api' && settings.jobs,
    redis: redisUrl === undefined ? undefined : { url: redisUrl, caFile: redisCaFile },
  };
}
