import { copyFile, rm } from 'node:fs/promises';
import path from 'node:path';
import type { Command } from 'commander';
import { systemActor } from '../auth/system-actor.ts';
import type { Platform } from '../platform/platform.ts';
import { EXPORT_FORMATS, type ExportFormat } from '../shared/api-types.ts';
import type { ImportProgressEvent } from '../sheets/import/sheet-import-service.ts';
import type { SheetsModule } from '../sheets/sheets-module.ts';
import { withFeatures } from './cli-features.ts';
import { CliError, EXIT, printJson } from './cli-output.ts';

/** The sheets feature of a platform opened without job workers (this process runs the work). */
function withSheets<T>(work: (module: SheetsModule, platform: Platform) => Promise<T>): Promise<T> {
  // The images feature too: an import of Parquet image structs stores its images through it.
  return withFeatures((features, platform) => {
    void features.images;
    return work(features.sheets, platform);
  });
}

const MB = 1024 * 1024;

/** One line, redrawn in place on a terminal; every few seconds as plain lines otherwise. */
function progressBar(out: NodeJS.WriteStream) {
  let lastPlain = 0;
  return {
    update(event: ImportProgressEvent) {
      const width = 30;
      const pct = Math.max(0, Math.min(100, event.percentage));
      const filled = Math.round((pct / 100) * width);
      const seconds = (event.elapsedMs / 1000).toFixed(1);
      const line = `${event.phase.padEnd(8)} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${pct.toFixed(0).padStart(3)}%  ${(event.bytes / MB).toFixed(1)} MB  ${seconds}s${event.rows === null ? '' : `  ${event.rows} rows`}${event.rowsPerSecond === null ? '' : `  ${event.rowsPerSecond} rows/s`}`;
      if (out.isTTY) out.write(`\r${line}\u001b[K`);
      else if (event.elapsedMs - lastPlain >= 2_000 || event.phase === 'finish') {
        lastPlain = event.elapsedMs;
        out.write(`${line}\n`);
      }
    },
    done() {
      if (out.isTTY) out.write('\n');
    },
  };
}

export function registerSheetCommands(program: Command): void {
  program
    .command('import')
    .description('Import a local file (CSV, TSV, JSONL, JSON, Parquet, XLSX) into a new dataset')
    .argument('<file>', 'path of the file to import')
    .requiredOption('--project <id>', 'project to create the dataset in')
    .option('--name <name>', 'dataset name (default: the file name)')
    .option('--sheet <sheet>', 'XLSX: sheet name or 1-based index')
    .option('--json', 'print the import result as JSON')
    .action(
      async (
        file: string,
        options: { project: string; name?: string; sheet?: string; json?: boolean },
      ) => {
        const result = await withSheets(async ({ imports }) => {
          const actor = systemActor();
          const importOptions = {
            ...(options.name ? { name: options.name } : {}),
            ...(options.sheet
              ? { sheet: /^\d+$/.test(options.sheet) ? Number(options.sheet) : options.sheet }
              : {}),
          };
          const row = await imports.createFromPath(actor, options.project, {
            path: file,
            options: importOptions,
          });
          await imports.startImport(actor, options.project, row.id, importOptions, false);
          const bar = progressBar(process.stderr);
          const outcome = await imports.executeImport(row.id, {
            onProgress: options.json ? undefined : bar.update,
          });
          if (!options.json) bar.done();
          return outcome!;
        });
        if (options.json) printJson(result);
        else if (result.status === 'succeeded') {
          console.log(
            `imported ${result.rowsImported} rows into dataset ${result.datasetId}${result.rowsRejected ? ` (${result.rowsRejected} malformed lines skipped)` : ''}`,
          );
          for (const reject of (result.rejects as { line: number; reason: string }[]).slice(0, 10))
            console.log(`  line ${reject.line}: ${reject.reason}`);
          for (const conversion of result.conversions as {
            column: string;
            type: string;
            failed: number;
          }[])
            console.log(
              `  ${conversion.failed} cells of ${conversion.column} are not ${conversion.type}: marked as errors, their text kept`,
            );
        }
        if (result.status !== 'succeeded') {
          const error = result.error as { message?: string } | null;
          throw new CliError(`import ${result.status}: ${error?.message ?? 'unknown error'}`);
        }
      },
    );

  program
    .command('export')
    .description('Export a dataset to a file')
    .argument('<dataset>', 'dataset id')
    .requiredOption('-o, --output <file>', 'file to write')
    .option(
      '--format <format>',
      `one of ${EXPORT_FORMATS.join(', ')} (default: from the file extension, else csv)`,
    )
    .option('--metadata', 'include cell metadata (status, version, model, tokens, …)')
    .action(
      async (
        datasetId: string,
        options: { output: string; format?: string; metadata?: boolean },
      ) => {
        const extension = path.extname(options.output).slice(1).toLowerCase();
        const format = (options.format ??
          ((EXPORT_FORMATS as readonly string[]).includes(extension)
            ? extension
            : 'csv')) as ExportFormat;
        if (!(EXPORT_FORMATS as readonly string[]).includes(format))
          throw new CliError(`--format must be one of ${EXPORT_FORMATS.join(', ')}`, EXIT.usage);
        await withSheets(async ({ exports, store }) => {
          const found = await store.findDatasetById(datasetId);
          if (!found || found.deleted_at) throw new CliError(`dataset ${datasetId} not found`);
          const { path: file, truncatedCells } = await exports.exportDataset(
            systemActor(),
            found.project_id,
            datasetId,
            { format, withMetadata: options.metadata === true },
          );
          try {
            await copyFile(file, path.resolve(options.output));
          } finally {
            await rm(file, { force: true });
          }
          if (truncatedCells > 0)
            console.error(
              `warning: ${truncatedCells} cells were longer than Excel's 32,767 characters and were cut (they end with "…[truncated]"); export as CSV, JSONL or Parquet to keep them whole`,
            );
        });
        console.log(`wrote ${options.output}`);
      },
    );

  program
    .command('publish')
    .description(
      "Publish a dataset to the Hugging Face Hub: Parquet with images, a dataset card, braincells.json (token: the project's, else HF_TOKEN)",
    )
    .argument('<dataset>', 'dataset id')
    .option('--repo <owner/name>', 'the dataset repository on the Hub')
    .option('--public', 'a new repository is public (default: private)')
    .option('--retry <publishId>', 'retry a failed publish (what the Hub holds is not sent again)')
    .option('--json', 'print the publish as JSON')
    .action(
      async (
        datasetId: string,
        options: { repo?: string; public?: boolean; retry?: string; json?: boolean },
      ) => {
        if (!options.repo && !options.retry)
          throw new CliError('give --repo owner/name (or --retry <publishId>)', EXIT.usage);
        const result = await withFeatures(async (features) => {
          const found = await features.sheets.store.findDatasetById(datasetId);
          if (!found || found.deleted_at) throw new CliError(`dataset ${datasetId} not found`);
          const hub = features.hub.service;
          return options.retry
            ? hub.retryPublish(systemActor(), found.project_id, options.retry)
            : hub.publishDataset(systemActor(), found.project_id, datasetId, {
                repo: options.repo!,
                private: options.public !== true,
              });
        });
        // A failed publish is an error (with --json, the error envelope) naming its id.
        if (result.status !== 'done')
          throw new CliError(
            `publish ${result.id} ${result.status}: ${result.error ?? ''} (retry with --retry ${result.id})`,
          );
        if (options.json) printJson(result);
        else console.log(`published ${result.repoUrl} (${result.commitUrl})`);
      },
    );
}
