import type { Actor } from '../../access/actor.ts';
import { AppError, conflict } from '../../platform/app-error.ts';
import { uuidv7 } from '../../platform/ids.ts';
import { presentImport } from '../sheet-presenter.ts';
import { nameSchema } from '../sheet-schema.ts';
import { creatorOf } from '../sheet-service-context.ts';
import type { ImportContext } from './import-context.ts';
import { IMPORT_JOB, type ImportOptions, importOptionsSchema } from './import-options.ts';

/** Starting an uploaded import: its dataset is made (`importing`) and its job queued. */
export function createImportStart(context: ImportContext) {
  const { store, access, loadImport } = context;
  return {
    /** Creates the (empty, `importing`) dataset and queues the job. Returns at once. */
    async startImport(
      actor: Actor,
      projectId: string,
      importId: string,
      overrides?: ImportOptions,
      queue = true,
    ) {
      await access.requireRole(actor, projectId, 'editor');
      const row = await loadImport(projectId, importId);
      if (row.status !== 'uploaded')
        throw conflict(`Import is already ${row.status}`, { status: row.status });
      const stored = importOptionsSchema.parse(row.options ?? {});
      const options = {
        ...stored,
        ...importOptionsSchema.parse(overrides ?? {}),
        ...((row.options as { hub?: unknown }).hub
          ? { hub: (row.options as { hub?: unknown }).hub }
          : {}),
      };
      const datasetId = uuidv7();
      const name =
        options.name ??
        nameSchema.parse(
          row.display_name
            .split(/[\\/]/)
            .pop()
            ?.replace(/\.[^.]*$/, '') || 'Imported dataset',
        );
      await store.insertDataset({
        id: datasetId,
        project_id: projectId,
        name,
        status: 'importing',
        created_by: creatorOf(actor),
      });
      const updated = await store.updateImport(importId, {
        status: 'queued',
        dataset_id: datasetId,
        options: JSON.stringify(options),
      });
      if (queue) {
        if (!context.jobs)
          throw new AppError('SERVICE_UNAVAILABLE', 'Jobs are not running in this process');
        const jobId = await context.jobs.send(IMPORT_JOB, { importId }, { retryLimit: 0 });
        await store.updateImport(importId, { job_id: jobId });
      }
      return presentImport(updated!);
    },
  };
}
