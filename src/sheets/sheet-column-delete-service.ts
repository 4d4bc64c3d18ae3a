import type { Actor } from '../access/actor.ts';
import { conflict } from '../platform/app-error.ts';
import { publishColumns } from './sheet-column-service.ts';
import { formulaInputs } from './sheet-formula.ts';
import type { SheetContext } from './sheet-service-context.ts';

/**
 * Deleting a column: refused while formulas use it, and — unless forced — while an extension's
 * columns (AI columns) read it; a forced delete lets each extension wrap the removal.
 */
export function createColumnDeleteUseCase(context: SheetContext) {
  const { store, data, extensions, loadForEdit, columnOf } = context;
  return {
    /**
     * Deletes a column. Refused (409) while formula columns use it; while AI columns read it,
     * refused naming them unless `force` — their prompts then need an edit (see
     * docs/ai-columns.md).
     */
    async deleteColumn(
      actor: Actor,
      projectId: string,
      datasetId: string,
      columnId: string,
      options: { force?: boolean } = {},
    ) {
      const { columns } = await loadForEdit(actor, projectId, datasetId);
      columnOf(columns, columnId);
      const dependents = columns.filter(
        (column) => column.formula && formulaInputs(column.formula).includes(columnId),
      );
      if (dependents.length > 0) {
        throw conflict(
          `Formula columns use this column: ${dependents.map((column) => column.name).join(', ')}`,
          {
            columnIds: dependents.map((column) => column.id),
          },
        );
      }
      const readersByExtension = await Promise.all(
        extensions.map((extension) => extension.readersOf(datasetId, columnId)),
      );
      const readers = readersByExtension.flat();
      if (readers.length > 0 && !options.force)
        throw conflict(
          `AI columns read this column in their prompts: ${readers.map((reader) => reader.name).join(', ')}. Delete it anyway (force) and their prompts will need an edit before they run again`,
          { columnIds: readers.map((reader) => reader.id), canForce: true },
        );
      const remove = async () => {
        await store.deleteColumn(columnId);
        await data.dropColumn(datasetId, columnId);
      };
      // Each extension with readers wraps the removal (stops its runs first, marks its cells
      // after), the first one outermost.
      const removal = extensions.reduceRight<() => Promise<void>>((inner, extension, index) => {
        const own = readersByExtension[index]!;
        if (own.length === 0) return inner;
        return () =>
          extension.removeInput(
            { projectId, datasetId, columnId, readerIds: own.map((reader) => reader.id) },
            inner,
          );
      }, remove);
      await removal();
      await publishColumns(context, datasetId);
    },
  };
}
