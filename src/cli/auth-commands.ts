import type { Command } from 'commander';
import type { Kysely } from 'kysely';
import type { z } from 'zod';
import { email as emailSchema, password as passwordSchema } from '../auth/auth-schema.ts';
import { systemActor } from '../auth/system-actor.ts';
import type { CoreServices } from '../features.ts';
import type { DB } from '../migrations/db-schema.ts';
import { ENCRYPTED_COLUMNS } from '../migrations/encrypted-columns.ts';
import { type Config, loadConfig } from '../platform/config.ts';
import { addKeyToFile, loadSecretBox, retainKeysInFile } from '../platform/crypto.ts';
import type { Logger } from '../platform/logger.ts';
import { withFeatures } from './cli-features.ts';
import { CliError, EXIT, printJson } from './cli-output.ts';

/** Opens the platform (migrating if configured to) and the core services for one command. */
export async function withServices<T>(
  work: (
    services: CoreServices,
    context: { config: Config; logger: Logger; db: Kysely<DB> },
  ) => Promise<T>,
): Promise<T> {
  return withFeatures((features, platform) =>
    work(features.core, {
      config: platform.config,
      logger: platform.logger,
      db: platform.database.db,
    }),
  );
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks)
    .toString('utf8')
    .replace(/\r?\n$/, '');
}

/** Reads a line from the terminal without echoing it. */
function promptHidden(prompt: string): Promise<string> {
  const input = process.stdin;
  if (!input.isTTY) {
    return Promise.reject(
      new CliError(
        'no terminal to ask for the password on: pipe it in with --password-stdin',
        EXIT.usage,
      ),
    );
  }
  process.stderr.write(prompt);
  input.setRawMode(true);
  input.resume();
  input.setEncoding('utf8');
  return new Promise((resolve, reject) => {
    let value = '';
    const finish = (error?: Error) => {
      input.setRawMode(false);
      input.pause();
      input.off('data', onData);
      process.stderr.write('\n');
      if (error) reject(error);
      else resolve(value);
    };
    const onData = (chunk: string) => {
      for (const char of chunk) {
        if (char === '\r' || char === '\n') return finish();
        if (char === '\u0003') return finish(new CliError('cancelled', EXIT.failure));
        if (char === '\u007f' || char === '\b') value = value.slice(0, -1);
        else value += char;
      }
    };
    input.on('data', onData);
  });
}

export function parseOrExit<T>(schema: z.ZodType<T>, value: unknown, option: string): T {
  const result = schema.safeParse(value);
  if (!result.success) {
    throw new CliError(
      `${option}: ${result.error.issues[0]?.message ?? 'invalid value'}`,
      EXIT.usage,
    );
  }
  return result.data;
}

export function registerAuthCommands(program: Command): void {
  const user = program.command('user').description('Accounts');

  user
    .command('create')
    .description('Create an account (the first admin, or anyone); the password is asked for')
    .requiredOption('--email <email>', 'e-mail address (the sign-in name)')
    .option('--admin', 'make an instance administrator')
    .option('--name <name>', 'display name', '')
    .option('--password-stdin', 'read the password from standard input instead of asking')
    .option('--json', 'print the account as JSON')
    .action(
      async (options: {
        email: string;
        admin?: boolean;
        name: string;
        passwordStdin?: boolean;
        json?: boolean;
      }) => {
        const email = parseOrExit(emailSchema, options.email, '--email');
        let password: string;
        if (options.passwordStdin) {
          password = await readStdin();
        } else {
          password = await promptHidden('Password: ');
          if ((await promptHidden('Repeat it: ')) !== password) {
            throw new CliError('the passwords differ', EXIT.usage);
          }
        }
        parseOrExit(passwordSchema, password, 'password');
        const created = await withServices((services) =>
          services.users.create(systemActor(), {
            email,
            password,
            displayName: options.name,
            isAdmin: options.admin === true,
          }),
        );
        if (options.json) {
          printJson({ id: created.id, email: created.email, isAdmin: created.is_admin });
        } else {
          console.log(
            `created ${created.is_admin ? 'admin' : 'user'} ${created.email} (${created.id})`,
          );
        }
      },
    );

  user
    .command('reset-link')
    .description('Print a one-hour, single-use password-reset link for an account')
    .argument('<email>', 'the account e-mail address')
    .option('--json', 'print as JSON')
    .action(async (address: string, options: { json?: boolean }) => {
      const email = parseOrExit(emailSchema, address, 'email');
      const { link, expiresAt } = await withServices((services) =>
        services.auth.createResetLink(systemActor(), email),
      );
      if (options.json) printJson({ link, expiresAt: expiresAt.toISOString() });
      else console.log(`${link}\n(valid until ${expiresAt.toISOString()}, once)`);
    });

  const secrets = program
    .command('secrets')
    .description('Secrets at rest (provider keys, TOTP secrets)');

  secrets
    .command('rotate')
    .description(
      'Re-encrypt every stored secret with the current key: a new generated key, or BRAINCELLS_SECRET after you changed it (old values in BRAINCELLS_SECRET_PREVIOUS)',
    )
    .option('--json', 'print the result as JSON')
    .action(async (options: { json?: boolean }) => {
      const config = loadConfig();
      const source = config.secret.current ? 'env' : 'key-file';
      let newKeyId: string | undefined;
      const report = await withServices(async (_services, { db }) => {
        // Key-file mode: a new current key, the old ones kept for decryption until done.
        // (Inside: the data dir is locked, so no server is using the file meanwhile.)
        if (source === 'key-file') newKeyId = addKeyToFile(config.dataDir);
        const { box } = loadSecretBox({ dataDir: config.dataDir, secret: config.secret });
        const { reencryptColumns } = await import('../platform/secret-rotation.ts');
        const result = await reencryptColumns(db, box, ENCRYPTED_COLUMNS);
        return { ...result, keyId: box.currentKeyId };
      });
      let removedKeys: string[] = [];
      if (newKeyId && report.remaining === 0)
        removedKeys = retainKeysInFile(config.dataDir, [newKeyId]);
      if (options.json) {
        printJson({ ...report, source, removedKeys });
        return;
      }
      console.log(`re-encrypted ${report.reencrypted} value(s) with key ${report.keyId}`);
      if (report.remaining > 0) {
        throw new CliError(`${report.remaining} value(s) could not be re-encrypted; old keys kept`);
      }
      if (removedKeys.length > 0)
        console.log(`removed old key(s) ${removedKeys.join(', ')} from the key file`);
      if (source === 'env' && config.secret.previous.length > 0) {
        console.log('BRAINCELLS_SECRET_PREVIOUS is no longer needed; remove it.');
      }
    });
}
