import type { Actor } from '../access/actor.ts';
import { uuidv7 } from '../platform/ids.ts';
import { type ColumnUseCases, insertColumn, publishColumns } from './sheet-column-service.ts';
import { displayFormula } from './sheet-formula.ts';
import { nameSchema } from './sheet-schema.ts';
import type { SheetContext } from './sheet-service-context.ts';
import type { ColumnRow } from './sheet-store.ts';

/** Duplicating a column: a plain copy through `addColumn`, or an extension's kind copied whole. */
export function createColumnDuplicateUseCase(
  context: SheetContext,
  adding: Pick<ColumnUseCases, 'addColumn'>,
) {
  const { data, loadForEdit, columnOf, copiedCells, ownerOf } = context;
  return {
    /**
     * Copies a column beside itself, as `<name> (copy)` (then `(copy 2)`, …) unless named: a
     * formula column with its formula, a static one with its values. An AI column (issue 6)
     * stays one: values and cell states are copied, and the extension writes its process in
     * the transaction that writes the column, so a failure leaves nothing behind.
     */
    async duplicateColumn(
      actor: Actor,
      projectId: string,
      datasetId: string,
      columnId: string,
      name?: string,
    ): Promise<ColumnRow> {
      const { columns } = await loadForEdit(actor, projectId, datasetId);
      const source = columnOf(columns, columnId);
      let copyName = name ?? `${source.name} (copy)`;
      for (
        let n = 2;
        !name && columns.some((column) => column.name.toLowerCase() === copyName.toLowerCase());
        n++
      ) {
        copyName = `${source.name} (copy ${n})`;
      }
      const copier = ownerOf(source.kind);
      if (copier) {
        const copy: ColumnRow = {
          ...source,
          id: uuidv7(),
          name: nameSchema.parse(copyName.slice(0, 200)),
          formula: null,
          position: source.position + 1,
          hidden: false,
        };
        await insertColumn(context, datasetId, columns, copy, async () => {
          await data.copyColumnValues(datasetId, source.id, copy.id, { states: true });
          const write = await copier.copyColumn({
            actor,
            projectId,
            datasetId,
            columns,
            sourceId: source.id,
            copyId: copy.id,
            name: copy.name,
            cells: copiedCells(datasetId, [...columns, copy]),
          });
          return write ? { write } : { kind: 'static' };
        });
        const after = await publishColumns(context, datasetId);
        return after.find((column) => column.id === copy.id)!;
      }
      const created = await adding.addColumn(actor, projectId, datasetId, {
        name: copyName.slice(0, 200),
        type: source.type,
        position: source.position + 1,
        ...(source.formula ? { formula: displayFormula(source.formula, columns) } : {}),
      });
      if (!source.formula) await data.copyColumnValues(datasetId, source.id, created.id);
      return created;
    },
  };
}
