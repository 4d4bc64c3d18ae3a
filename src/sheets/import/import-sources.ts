import { rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import type { Actor } from '../../access/actor.ts';
import { conflict, notFound } from '../../platform/app-error.ts';
import { uuidv7 } from '../../platform/ids.ts';
import { presentImport } from '../sheet-presenter.ts';
import { stripControlCharacters } from '../sheet-schema.ts';
import { creatorOf } from '../sheet-service-context.ts';
import { type ImportContext, storableJson } from './import-context.ts';
import { streamToTempFile } from './import-files.ts';
import { hubSourceSchema, type ImportOptions, importOptionsSchema } from './import-options.ts';
import {
  type createImportPreparer,
  type PreparedImport,
  presentPreview,
} from './import-prepare.ts';
import type { createImportStart } from './import-start.ts';

/**
 * Where an import comes from: an upload (previewed, and previewed again with other options),
 * a URL, a Hub dataset file, or a file on this machine (CLI). Each makes an import row; URL
 * and Hub imports start at once.
 */
export function createImportSources(
  context: ImportContext,
  { prepare }: ReturnType<typeof createImportPreparer>,
  { startImport }: ReturnType<typeof createImportStart>,
) {
  const { store, access, settings, loadImport } = context;
  const dir = context.uploadDir;

  /** The one access check of a new import (editors), then its options parsed. */
  const editorsOptions = async (actor: Actor, projectId: string, options?: ImportOptions) => {
    await access.requireRole(actor, projectId, 'editor');
    return importOptionsSchema.parse(options ?? {});
  };

  /** A new import row of this project, by this actor, waiting (`uploaded`) for its start. */
  const insertUploaded = (
    actor: Actor,
    projectId: string,
    row: Omit<
      Parameters<typeof store.insertImport>[0],
      'id' | 'project_id' | 'status' | 'created_by'
    >,
  ) =>
    store.insertImport({
      id: uuidv7(),
      project_id: projectId,
      status: 'uploaded',
      created_by: creatorOf(actor),
      ...row,
    });

  return {
    /**
     * An upload: streams the body to a temp file (size-capped), sniffs and previews it.
     * The import waits in `uploaded` until `startImport` (or starts now with `start: true`).
     */
    async createUpload(
      actor: Actor,
      projectId: string,
      input: {
        body: AsyncIterable<Uint8Array>;
        filename: string;
        options?: ImportOptions;
        start?: boolean;
      },
    ) {
      const options = await editorsOptions(actor, projectId, input.options);
      // Display data only: control characters (NUL cannot be stored) become '_'.
      const displayName = stripControlCharacters(input.filename, '_').slice(0, 1_000) || 'upload';
      const { path: file, size } = await streamToTempFile(
        input.body,
        dir(),
        settings.importMaxBytes,
      );
      let prepared: PreparedImport;
      try {
        prepared = await prepare(file, size, displayName, options);
      } catch (error) {
        await rm(file, { force: true });
        throw error;
      }
      for (const extra of prepared.cleanup) await rm(extra, { force: true });
      const row = await insertUploaded(actor, projectId, {
        source: 'upload',
        display_name: displayName,
        format: prepared.format,
        options: JSON.stringify(options),
        preview: storableJson(presentPreview(prepared)),
        file_path: path.basename(file),
        size_bytes: size,
      });
      if (input.start) return startImport(actor, projectId, row.id, options);
      return presentImport(row);
    },

    /**
     * Previews an upload again with other options (dialect, header, nulls, formats…) and
     * keeps them for its start: the preview shows what the import will read, and warns
     * (`warnings`) when the options look wrong, before anything is written.
     */
    async previewImport(
      actor: Actor,
      projectId: string,
      importId: string,
      overrides: ImportOptions,
    ) {
      await access.requireRole(actor, projectId, 'editor');
      const row = await loadImport(projectId, importId);
      if (row.status !== 'uploaded' || row.source !== 'upload' || !row.file_path)
        throw conflict(`Import is ${row.status}; only an upload not yet started can be previewed`, {
          status: row.status,
        });
      const parsed = importOptionsSchema.parse(overrides ?? {});
      const options = { ...importOptionsSchema.parse(row.options ?? {}), ...parsed };
      const file = path.join(dir(), path.basename(row.file_path));
      const size = (await stat(file).catch(() => undefined))?.size;
      if (size === undefined) throw notFound('import', importId);
      const prepared = await prepare(file, size, row.display_name, options);
      for (const extra of prepared.cleanup) await rm(extra, { force: true });
      const updated = await store.updateImport(importId, {
        options: JSON.stringify(options),
        format: prepared.format,
        preview: storableJson(presentPreview(prepared)),
      });
      return presentImport(updated!);
    },

    async createFromUrl(
      actor: Actor,
      projectId: string,
      input: { url: string; options?: ImportOptions },
    ) {
      const options = await editorsOptions(actor, projectId, input.options);
      const url = z
        .url({ protocol: /^https?$/ })
        .max(4_000)
        .parse(input.url);
      const row = await insertUploaded(actor, projectId, {
        source: 'url',
        display_name: url,
        options: JSON.stringify(options),
      });
      return startImport(actor, projectId, row.id, options);
    },

    async createFromHub(
      actor: Actor,
      projectId: string,
      input: { repo: string; file: string; revision?: string; options?: ImportOptions },
    ) {
      const options = await editorsOptions(actor, projectId, input.options);
      const hub = hubSourceSchema.parse(input);
      const row = await insertUploaded(actor, projectId, {
        source: 'hf',
        display_name: `${hub.repo}/${hub.file}@${hub.revision}`,
        options: JSON.stringify({ ...options, hub }),
      });
      return startImport(actor, projectId, row.id, options);
    },

    /** CLI: a file on this machine, read in place. */
    async createFromPath(
      actor: Actor,
      projectId: string,
      input: { path: string; options?: ImportOptions },
    ) {
      const options = await editorsOptions(actor, projectId, input.options);
      const info = await stat(input.path).catch(() => undefined);
      if (!info?.isFile()) throw notFound('file', input.path);
      const row = await insertUploaded(actor, projectId, {
        source: 'path',
        display_name: path.basename(input.path).slice(0, 1_000),
        options: JSON.stringify(options),
        file_path: path.resolve(input.path),
      });
      return row;
    },
  };
}
