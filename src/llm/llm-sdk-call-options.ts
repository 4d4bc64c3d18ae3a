import { jsonSchema, type LanguageModel, Output, tool } from 'ai';
import { pickDefined } from '../platform/pick-defined.ts';
import { type ProviderCallRequest, ProviderFailure, type ProviderKind } from './llm-provider.ts';
import { toSdkPrompt } from './llm-sdk-mapping.ts';

/**
 * The AI SDK call settings of a request (for `streamText` and `generateText`): prompt,
 * parameters, structured output and tools, with the SDK's own retries off (`maxRetries: 0`;
 * the router is the one retry loop).
 */
export function sdkCallOptions(
  kind: ProviderKind,
  model: LanguageModel,
  request: ProviderCallRequest,
) {
  if (kind === 'huggingface' && carriesToolHistory(request))
    // @ai-sdk/huggingface's Responses mapping drops assistant tool calls and tool results
    // from the input: the model would answer without them. Refused rather than lost.
    throw new ProviderFailure(
      'bad-request',
      'The huggingface connection cannot send tool calls and results back to the model; connect Hugging Face as openai-compatible (https://router.huggingface.co/v1) for tool use',
    );
  const prompt = toSdkPrompt(request.messages);
  const p = request.parameters;
  return {
    model,
    ...(prompt.instructions === undefined ? {} : { instructions: prompt.instructions }),
    messages: prompt.messages,
    allowSystemInMessages: prompt.systemInMessages,
    maxRetries: 0,
    abortSignal: request.signal,
    ...pickDefined(p, [
      'maxOutputTokens',
      'temperature',
      'topP',
      'topK',
      'presencePenalty',
      'frequencyPenalty',
      'stopSequences',
      'seed',
    ]),
    ...(p.reasoningEffort === undefined ? {} : { reasoning: p.reasoningEffort }),
    ...(request.outputSchema === undefined
      ? {}
      : { output: Output.object({ schema: jsonSchema(request.outputSchema) }) }),
    // Tools without `execute`: the SDK reports the calls and stops; running them is the
    // caller's loop (one step per attempt, so a retry never runs a tool twice).
    // `none` is sent as no tools at all (the same for the model; some wire formats lack it).
    ...(request.tools && request.tools.length > 0 && request.toolChoice !== 'none'
      ? {
          tools: Object.fromEntries(
            request.tools.map((definition) => [
              definition.name,
              tool({
                ...(definition.description ? { description: definition.description } : {}),
                inputSchema: jsonSchema(definition.inputSchema),
              }),
            ]),
          ),
          ...(request.toolChoice === undefined
            ? {}
            : {
                toolChoice:
                  typeof request.toolChoice === 'string'
                    ? request.toolChoice
                    : { type: 'tool' as const, toolName: request.toolChoice.toolName },
              }),
        }
      : {}),
  };
}

/** Assistant tool calls or tool results among the messages. */
function carriesToolHistory(request: ProviderCallRequest): boolean {
  return request.messages.some(
    (message) =>
      message.role === 'tool' ||
      (message.role === 'assistant' &&
        typeof message.content !== 'string' &&
        message.content.some((part) => part.type === 'tool-call')),
  );
}
