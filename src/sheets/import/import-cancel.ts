import type { Actor } from '../../access/actor.ts';
import { AppError } from '../../platform/app-error.ts';
import { presentImport } from '../sheet-presenter.ts';
import type { ImportContext } from './import-context.ts';

/**
 * Reading an import's state, and cancelling it: one not yet running ends at once, a running
 * one is interrupted here, or by its own heartbeat on the server that runs it.
 */
export function createImportCancel(context: ImportContext) {
  const { store, access, loadImport, running, finishFailed } = context;
  return {
    async getImport(actor: Actor, projectId: string, importId: string) {
      await access.requireRole(actor, projectId, 'viewer');
      return presentImport(await loadImport(projectId, importId));
    },

    async cancelImport(actor: Actor, projectId: string, importId: string) {
      await access.requireRole(actor, projectId, 'editor');
      const row = await loadImport(projectId, importId);
      if (row.status === 'uploaded' || row.status === 'queued') {
        await finishFailed(row, 'cancelled', undefined);
      } else if (row.status === 'running') {
        await store.updateImport(importId, { cancel_requested: true });
        running.get(importId)?.abort(new AppError('CONFLICT', 'Import cancelled'));
      }
      return presentImport((await store.findImport(importId))!);
    },
  };
}
