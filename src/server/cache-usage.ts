/**
 * Prefix-cache usage fields of a response: OpenAI `usage.prompt_tokens_details.cached_tokens`; Anthropic
 * `cache_read_input_tokens` (restored), `cache_creation_input_tokens` (prefilled and added to the cache) and
 * `input_tokens` (prefilled and not added), which sum to the prompt's tokens.
 */
import type { GenerationStats } from '../engine/sequence.js';

/** Prompt tokens restored from the prefix cache (0 without it). */
export function cachedTokens(stats: GenerationStats | undefined): number {
  return stats?.cachedTokens ?? 0;
}

/** OpenAI usage of a prompt of `promptTokens` tokens and `completion` generated ones. */
export function openAiUsage(promptTokens: number, completion: number, stats: GenerationStats | undefined): Record<string, unknown> {
  return { prompt_tokens: promptTokens, completion_tokens: completion, total_tokens: promptTokens + completion, prompt_tokens_details: { cached_tokens: cachedTokens(stats) } };
}

/** Anthropic input usage: the three fields sum to promptTokens. */
export function anthropicInputUsage(promptTokens: number, stats: GenerationStats | undefined): { input_tokens: number; cache_creation_input_tokens: number; cache_read_input_tokens: number } {
  const read = Math.min(promptTokens, cachedTokens(stats));
  const creation = stats?.promptCached ? Math.min(promptTokens - read, stats.prefilledTokens ?? 0) : 0;
  return { input_tokens: promptTokens - read - creation, cache_creation_input_tokens: creation, cache_read_input_tokens: read };
}
