import { z } from 'zod';
import { filterSchema, nameSchema, sortSchema } from '../sheet-schema.ts';

/** What a saved view restores: the grid's filters, sort, search and hidden columns. */
export const viewDefinitionSchema = z.object({
  filters: z.array(filterSchema).max(20).default([]),
  sort: z.array(sortSchema).max(5).default([]),
  search: z.string().max(1_000).default(''),
  hiddenColumnIds: z.array(z.uuid()).max(1_000).default([]),
});
export type ViewDefinition = z.infer<typeof viewDefinitionSchema>;

export const createViewSchema = z.object({ name: nameSchema }).and(viewDefinitionSchema);
export type CreateViewInput = z.input<typeof createViewSchema>;

export const updateViewSchema = z.object({
  name: nameSchema.optional(),
  definition: viewDefinitionSchema.optional(),
  /** The version the client last read: a stale one is refused (409), nothing is lost. */
  expectedVersion: z.number().int().min(1),
});
export type UpdateViewInput = z.infer<typeof updateViewSchema>;
