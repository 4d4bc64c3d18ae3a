// A PostgreSQL database made for one bench run and dropped after it, on the server `base` points
// at, so the run's figures (pg_stat_database, its statements) are its own.
import { randomBytes } from 'node:crypto';
import pg from 'pg';

export const urlFor = (base: string, database: string) => {
  const url = new URL(base);
  url.pathname = `/${database}`;
  return url.toString();
};

/** The database's name in a URL `urlFor` made. */
export const databaseOf = (url: string) => new URL(url).pathname.slice(1);

export async function withDatabase<T>(base: string, work: (url: string) => Promise<T>): Promise<T> {
  const name = `braincells_bench_${randomBytes(5).toString('hex')}`;
  const admin = new pg.Client({ connectionString: urlFor(base, 'postgres') });
  await admin.connect();
  try {
    await admin.query(`create database ${name}`);
    try {
      return await work(urlFor(base, name));
    } finally {
      await admin.query(`drop database if exists ${name} with (force)`);
    }
  } finally {
    await admin.end();
  }
}
