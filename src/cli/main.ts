import { Command, CommanderError } from 'commander';
import { ConfigError } from '../platform/config.ts';
import { APP_VERSION } from '../platform/version.ts';
import { registerAuthCommands } from './auth-commands.ts';
import { registerChatCommands } from './chat-commands.ts';
import { CliError, EXIT, errorJson } from './cli-output.ts';
import { registerDbCommands } from './db-commands.ts';
import { registerDocumentCommands } from './document-commands.ts';
import { registerGatewayCommands } from './gateway-commands.ts';
import { registerGenerateCommands } from './generate-commands.ts';
import { registerLlmCommands } from './llm-commands.ts';
import { registerMonitorCommands } from './monitor-commands.ts';
import { registerProjectCommands } from './project-commands.ts';
import { registerSheetCommands } from './sheet-commands.ts';
import { registerWorkflowCommands } from './workflow-commands.ts';

/** `braincells` — every command calls services or the platform, never HTTP routes. */
export function buildProgram(): Command {
  const program = new Command('braincells')
    .description('Brain Cells: a self-hosted AI workbench')
    .version(APP_VERSION)
    .showHelpAfterError()
    .exitOverride();

  program
    .command('serve')
    .description('Start the HTTP server (API, web UI, jobs)')
    .option('--host <host>', 'interface to bind (default: HOST or 127.0.0.1)')
    .option('--port <port>', 'port to listen on (default: PORT or 3000)')
    .action(async (options: { host?: string; port?: string }) => {
      const port = options.port === undefined ? undefined : Number(options.port);
      if (port !== undefined && (!Number.isInteger(port) || port < 0 || port > 65535)) {
        throw new CliError('--port must be a whole number between 0 and 65535', EXIT.usage);
      }
      const { serve } = await import('../main.ts');
      await serve({
        ...(options.host ? { host: options.host } : {}),
        ...(port === undefined ? {} : { port }),
      });
    });

  registerDbCommands(program);
  registerAuthCommands(program);
  registerProjectCommands(program);
  registerSheetCommands(program);
  registerGenerateCommands(program);
  registerLlmCommands(program);
  registerGatewayCommands(program);
  registerMonitorCommands(program);
  registerDocumentCommands(program);
  registerWorkflowCommands(program);
  registerChatCommands(program);
  return program;
}

export async function runCli(argv: string[]): Promise<number> {
  const program = buildProgram();
  const wantsJson = argv.includes('--json');
  try {
    await program.parseAsync(argv);
    return EXIT.ok;
  } catch (error) {
    if (error instanceof CommanderError) {
      // --help and --version "fail" with exit code 0.
      return error.exitCode === 0 ? EXIT.ok : EXIT.usage;
    }
    const message =
      error instanceof ConfigError
        ? `invalid configuration: ${error.message}`
        : error instanceof Error
          ? error.message
          : String(error);
    if (wantsJson) process.stdout.write(`${JSON.stringify(errorJson(new Error(message)))}\n`);
    else process.stderr.write(`braincells: ${message}\n`);
    if (process.env.LOG_LEVEL === 'debug' && error instanceof Error)
      process.stderr.write(`${error.stack}\n`);
    return error instanceof CliError ? error.exitCode : EXIT.failure;
  }
}

// `serve` keeps the process alive until a signal; other commands exit with their code.
const isServe = process.argv[2] === 'serve';
const code = await runCli(process.argv);
if (!isServe || code !== EXIT.ok) process.exit(code);
