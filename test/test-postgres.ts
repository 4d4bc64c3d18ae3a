import { randomBytes } from 'node:crypto';

/** PostgreSQL for tests: DATABASE_URL when set (CI sets it), else those tests are not run. */
export function testDatabaseUrl(): string | undefined {
  const url = process.env.DATABASE_URL;
  return url && /^postgres(ql)?:\/\//.test(url) ? url : undefined;
}

/** The server's maintenance database, to create and drop per-file databases from. */
export function adminUrl(url: string): string {
  const parsed = new URL(url);
  parsed.pathname = '/postgres';
  return parsed.toString();
}

export function goldenDatabaseName(): string {
  return `braincells_golden_${process.pid}`;
}

export function randomDatabaseName(): string {
  return `braincells_test_${randomBytes(6).toString('hex')}`;
}

export function databaseUrlFor(url: string, name: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${name}`;
  return parsed.toString();
}
