import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import type { Command } from 'commander';
import { systemActor } from '../auth/system-actor.ts';
import type { UploadedPart } from '../documents/document-service.ts';
import { withFeatures } from './cli-features.ts';
import { CliError, printJson, printTable } from './cli-output.ts';

async function* partsOf(files: readonly string[]): AsyncIterable<UploadedPart> {
  for (const file of files) yield { filename: path.basename(file), file: createReadStream(file) };
}

/**
 * `braincells documents add FILES… --project P`: the same upload use case as the API (sniffed,
 * size-capped, duplicates skipped), then the text extracted here, with a line per document.
 */
export function registerDocumentCommands(program: Command): void {
  const documents = program.command('documents').description('Documents: files in, text out');

  documents
    .command('add')
    .description(
      'Add files to a documents collection (a new one without --collection) and extract their text',
    )
    .argument('<files...>', 'files to add')
    .requiredOption('--project <project>', 'project id')
    .option('--collection <dataset>', 'an existing documents collection (dataset id)')
    .option('--name <name>', 'name of the new collection')
    .option('--json', 'print the documents as JSON')
    .action(
      async (
        files: string[],
        options: { project: string; collection?: string; name?: string; json?: boolean },
      ) => {
        for (const file of files) {
          const info = await stat(file).catch(() => undefined);
          if (!info?.isFile()) throw new CliError(`${file}: not a readable file`);
        }
        const result = await withFeatures(async (features) => {
          const service = features.documents.documents;
          const actor = systemActor();
          const uploaded = await service.upload(actor, options.project, {
            files: partsOf(files),
            ...(options.collection ? { datasetId: options.collection } : {}),
            ...(options.name ? { name: options.name } : {}),
          });
          const extracted = await service.extractQueued(uploaded.datasetId);
          const listed = await service.list(actor, options.project, uploaded.datasetId);
          return {
            datasetId: uploaded.datasetId,
            extracted,
            duplicates: uploaded.duplicates,
            ...listed,
          };
        });
        if (options.json) printJson(result);
        else {
          process.stdout.write(`Collection ${result.datasetId}: ${result.extracted} extracted\n`);
          printTable(result.items, ['name', 'kind', 'pages', 'status', 'message']);
          for (const duplicate of result.duplicates)
            process.stdout.write(
              `skipped ${duplicate.name}: same content as ${duplicate.duplicateOf}\n`,
            );
        }
      },
    );
}
