/**
 * mimo.ts public API: load a MiMo-V2 checkpoint, generate text (streaming or one-shot), and the building
 * blocks (config parsing, checkpoint loading, model forward, sampler, tokenizer) for advanced use; the
 * continuous-batching scheduler, the HTTP server, and the MiMo output parser (reasoning and XML tool calls), which
 * works on text from any engine serving MiMo.
 */
export { MiMoEngine, type PromptInput } from './engine/engine.js';
export { Generator, type GenerateOptions, type GenerationResult, type GenerationStats, type StreamChunk, type FinishReason } from './engine/generate.js';
export { Sequence, type SequenceSettings } from './engine/sequence.js';
export { Scheduler, RequestHandle, type SchedulerOptions, type SchedulerState } from './engine/scheduler.js';
export { MiMoOutputParser, type MiMoOutputParserOptions } from './parser/mimo-output-parser.js';
export { startsInThinking } from './parser/starts-in-thinking.js';
export type { ParserDelta, ParseResult, ToolCall, ToolCallDelta } from './parser/types.js';
export { createServer, type ServerOptions, type MimoServer } from './server/app.js';
export { Sampler, resolveSamplingParams, type SamplingParams } from './engine/sampler.js';
export { LayerKVCache, ModelKVCache } from './engine/kv-cache.js';
export { KvPagePool, PagedLayerKVCache, type KvPage, type KvPageStats } from './engine/kv-pages.js';
export { loadModel, type LoadedModel } from './model/load.js';
export { MiMoModel } from './model/mimo-v2/model.js';
export { parseConfig, loadConfig, type MiMoConfig, type LayerPlan, type AttentionPlan } from './model/mimo-v2/config.js';
export { loadPreset, PRESET_NAMES } from './model/mimo-v2/presets.js';
export { initCheckpoint } from './model/mimo-v2/init.js';
export { Checkpoint } from './loader/checkpoint.js';
export { SafetensorsFile, writeSafetensors } from './loader/safetensors.js';
export { MiMoTokenizer, type ChatMessage, type ChatTool } from './tokenizer/tokenizer.js';
export { IncrementalDetokenizer } from './tokenizer/incremental-detokenizer.js';
export { referenceBackend } from './kernels/reference/ops.js';
export type { Backend, Weight } from './kernels/backend.js';
export { MimoError, ConfigError, CheckpointError, ShapeError, BackendUnavailableError, RequestError, NumericalError, QueueFullError } from './errors.js';
