import { generateText, streamText } from 'ai';
import {
  type LlmToolCallPart,
  type ProviderCallRequest,
  ProviderFailure,
  type ProviderGenerateResult,
  type ProviderKind,
  type ProviderStreamEvent,
} from './llm-provider.ts';
import type { sdkCallOptions } from './llm-sdk-call-options.ts';
import {
  failureMessage,
  requestIdFrom,
  responseIdFrom,
  type SdkUsage,
  toFinishReason,
  toolCallOf,
  toTokenUsage,
  warningText,
  withToolCalls,
} from './llm-sdk-mapping.ts';

/**
 * A streamed answer through the SDK's `streamText`: text, reasoning and whole tool calls as
 * they come, then `finish` with usage, the finish reason, ids and warnings. Any error in the
 * stream, or a stream that ends without its finish step, fails the attempt: a partial answer
 * is never a success.
 */
export async function* streamSdkAnswer(
  kind: ProviderKind,
  options: () => ReturnType<typeof sdkCallOptions>,
  request: ProviderCallRequest,
  fail: (error: unknown) => ProviderFailure,
): AsyncIterable<ProviderStreamEvent> {
  const result = streamText({
    ...options(),
    // The default handler prints the error, request body (the prompt) included, to stderr.
    onError: () => {},
  });
  let warnings: string[] = [];
  const toolCalls: LlmToolCallPart[] = [];
  let finish:
    | {
        usage: SdkUsage;
        finishReason: string;
        response: {
          headers?: Record<string, string> | undefined;
          modelId?: string;
          id?: string;
        };
      }
    | undefined;
  try {
    for await (const part of result.fullStream) {
      switch (part.type) {
        case 'text-delta':
          if (part.text !== '') yield { type: 'text-delta', text: part.text };
          break;
        case 'reasoning-delta':
          if (part.text !== '') yield { type: 'reasoning-delta', text: part.text };
          break;
        case 'tool-call': {
          // A call whose input does not parse as the tool's JSON is an error part the SDK
          // reports separately ('tool-error' / invalid input); this one is whole.
          const call = toolCallOf(part);
          toolCalls.push(call);
          yield call;
          break;
        }
        case 'start-step':
          warnings = part.warnings.map(warningText);
          break;
        case 'finish-step':
          finish = part;
          break;
        case 'error':
          // Any error inside the stream fails the attempt: a partial answer is never a success.
          throw fail(part.error);
        case 'abort':
          throw new ProviderFailure('aborted', failureMessage(kind, 'aborted'));
        default:
          break;
      }
    }
    if (!finish) {
      throw new ProviderFailure('network', failureMessage(kind, 'network'), {
        responseStarted: true,
      });
    }
    const output = request.outputSchema === undefined ? undefined : await result.output;
    yield {
      type: 'finish',
      usage: toTokenUsage(finish.usage),
      finishReason: withToolCalls(toFinishReason(finish.finishReason), toolCalls.length),
      requestId: requestIdFrom(finish.response.headers),
      responseModel: finish.response.modelId,
      responseId: responseIdFrom(finish.response.id),
      output,
      toolCalls,
      warnings,
      rawUsage: finish.usage.raw,
    };
  } catch (error) {
    throw fail(error);
  }
}

/** A whole answer through the SDK's `generateText`. */
export async function generateSdkAnswer(
  options: () => ReturnType<typeof sdkCallOptions>,
  request: ProviderCallRequest,
  fail: (error: unknown) => ProviderFailure,
): Promise<ProviderGenerateResult> {
  try {
    const result = await generateText(options());
    return {
      text: result.text,
      usage: toTokenUsage(result.usage),
      finishReason: withToolCalls(toFinishReason(result.finishReason), result.toolCalls.length),
      requestId: requestIdFrom(result.response.headers),
      responseModel: result.response.modelId,
      responseId: responseIdFrom(result.response.id),
      output: request.outputSchema === undefined ? undefined : result.output,
      toolCalls: result.toolCalls.map(toolCallOf),
      warnings: (result.warnings ?? []).map(warningText),
      rawUsage: result.usage.raw,
    };
  } catch (error) {
    throw fail(error);
  }
}
