import { z } from 'zod';
import {
  modelName,
  NO_CONTROL_EXCEPT_NEWLINES,
  projectParams,
  providerRef,
  threadTitle,
  threadTotalsSchema,
} from './chat-schema.ts';
import { AGENT_TOOLS } from './chat-tables.ts';

/** Inputs and outputs of the agents API (docs/chat.md "Agents"). */
export const agentParams = projectParams.extend({ agentId: z.uuid() });

/** Generation settings an agent may fix; the rest are the provider's defaults. */
export const agentParameters = z.strictObject({
  temperature: z.number().min(0).max(2).optional(),
  topP: z.number().min(0).max(1).optional(),
  maxOutputTokens: z.number().int().min(1).max(200_000).optional(),
  reasoningEffort: z.enum(['none', 'minimal', 'low', 'medium', 'high']).optional(),
});
export type AgentParameters = z.infer<typeof agentParameters>;

/** Tool rounds a reply may take before the model must answer in text. */
export const MAX_TOOL_STEPS = 16;

const agentFields = {
  name: threadTitle,
  instructions: z
    .string()
    .max(20_000)
    .regex(NO_CONTROL_EXCEPT_NEWLINES, 'must not contain control characters')
    .default(''),
  model: modelName,
  provider: providerRef.nullable().default(null),
  parameters: agentParameters.default({}),
  tools: z
    .array(z.enum(AGENT_TOOLS))
    .max(AGENT_TOOLS.length)
    .refine((tools) => new Set(tools).size === tools.length, 'must not repeat a tool')
    .default([]),
  maxToolSteps: z.number().int().min(0).max(MAX_TOOL_STEPS).default(4),
  /** The model that summarizes this agent's threads; null: the project's, else the reply's. */
  summaryModel: modelName.nullable().default(null),
  summaryProvider: providerRef.nullable().default(null),
};

const summaryProviderNeedsModel = {
  message: 'a summary provider needs a summary model',
  path: ['summaryProvider'],
};
const providerHasModel = (body: { summaryModel: string | null; summaryProvider: string | null }) =>
  body.summaryProvider === null || body.summaryModel !== null;

export const createAgentBody = z
  .strictObject(agentFields)
  .refine(providerHasModel, summaryProviderNeedsModel);
export type CreateAgentInput = z.infer<typeof createAgentBody>;

/** An edit is a whole new version, carrying the version the client saw (409 when stale). */
export const updateAgentBody = z
  .strictObject({
    ...agentFields,
    version: z.number().int().min(1),
  })
  .refine(providerHasModel, summaryProviderNeedsModel);
export type UpdateAgentInput = z.infer<typeof updateAgentBody>;

const agentVersionFields = {
  version: z.number(),
  name: z.string(),
  instructions: z.string(),
  provider: z.string().nullable(),
  model: z.string(),
  parameters: agentParameters,
  tools: z.array(z.enum(AGENT_TOOLS)),
  maxToolSteps: z.number(),
  summaryModel: z.string().nullable(),
  summaryProvider: z.string().nullable(),
};

export const agentSchema = z.object({
  id: z.uuid(),
  projectId: z.uuid(),
  ...agentVersionFields,
  createdAt: z.iso.datetime(),
  updatedAt: z.iso.datetime(),
});

/** An agent with what its replies cost (every version, every attempt; summaries not included). */
export const agentWithTotalsSchema = agentSchema.extend({ totals: threadTotalsSchema });

export const agentVersionSchema = z.object({
  ...agentVersionFields,
  createdBy: z.uuid().nullable(),
  createdAt: z.iso.datetime(),
});

/** Chat settings of a project: the summarizer model of threads whose agent names none. */
export const chatSettingsBody = z
  .strictObject({
    summaryModel: modelName.nullable(),
    summaryProvider: providerRef.nullable().default(null),
  })
  .refine(providerHasModel, summaryProviderNeedsModel);
export type ChatSettingsInput = z.infer<typeof chatSettingsBody>;

export const chatSettingsSchema = z.object({
  summaryModel: z.string().nullable(),
  summaryProvider: z.string().nullable(),
  updatedAt: z.iso.datetime().nullable(),
});
