import type { LlmConfig } from '../platform/config.ts';
import type { LlmProvider, ProviderKind } from './llm-provider.ts';
import type { ProviderRecord } from './llm-provider-store.ts';

// Provider connections as the registry sees them: stored ones (key sealed at rest) and the
// ones configured by environment variables.

/** Seals provider keys at rest; src/platform/crypto.ts's SecretBox fits this shape. */
export interface SecretSealer {
  encrypt(plaintext: string, context?: string): string;
  decrypt(sealed: string, context?: string): string;
}

/** The AAD a provider key is bound to, so a sealed key copied to another row does not open. */
export const apiKeyContext = (providerId: string) => `llm_provider.api_key:${providerId}`;

/** A provider connection as the service sees it: stored, or configured by environment. */
export interface ProviderConnection extends Omit<ProviderRecord, 'sealedApiKey'> {
  source: 'project' | 'instance' | 'env';
  hasApiKey: boolean;
}

export interface ProviderFactoryOptions {
  kind: ProviderKind;
  baseUrl: string | undefined;
  apiKey: string | undefined;
}

export type ProviderFactory = (options: ProviderFactoryOptions) => LlmProvider;

export const ENV_PROVIDER_PREFIX = 'env:';

/** Keys shown to people: enough to recognise one, never enough to use it. */
export function maskApiKey(key: string): string {
  if (key.length < 12) return '****';
  const prefix = /^(sk-ant-|sk-proj-|sk-|hf_)/.exec(key)?.[0] ?? '';
  return `${prefix}…${key.slice(-4)}`;
}

export interface EnvProvider {
  connection: ProviderConnection;
  apiKey: string | undefined;
}

export function envProviders(config: LlmConfig): EnvProvider[] {
  const at = new Date(0);
  const make = (
    kind: ProviderKind,
    apiKey: string | undefined,
    baseUrl: string | undefined,
  ): EnvProvider => ({
    apiKey,
    connection: {
      id: `${ENV_PROVIDER_PREFIX}${kind}`,
      projectId: undefined,
      name: `${kind} (env)`,
      kind,
      baseUrl,
      apiKeyHint: apiKey ? maskApiKey(apiKey) : undefined,
      hasApiKey: apiKey !== undefined,
      models: [],
      fallbacks: {},
      maxConcurrency: config.maxConcurrency,
      requestsPerMinute: config.requestsPerMinute,
      catalogProvider: kind === 'openai' || kind === 'anthropic' ? kind : undefined,
      enabled: true,
      createdAt: at,
      updatedAt: at,
      source: 'env',
    },
  });
  const list: EnvProvider[] = [];
  const env = config.env;
  if (env.openaiApiKey) list.push(make('openai', env.openaiApiKey, env.openaiBaseUrl));
  if (env.anthropicApiKey) list.push(make('anthropic', env.anthropicApiKey, env.anthropicBaseUrl));
  if (env.hfToken) list.push(make('huggingface', env.hfToken, undefined));
  if (env.compatibleBaseUrl) {
    list.push(make('openai-compatible', env.compatibleApiKey, env.compatibleBaseUrl));
  }
  return list;
}

export function toConnection(record: ProviderRecord): ProviderConnection {
  const { sealedApiKey, ...rest } = record;
  return {
    ...rest,
    source: record.projectId === undefined ? 'instance' : 'project',
    hasApiKey: sealedApiKey !== undefined,
  };
}
