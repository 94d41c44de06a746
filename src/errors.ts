/**
 * Error types of mimo.ts, one per category (after candle's error enum). Every message names the file, field,
 * tensor or request parameter that is wrong, and where it can, what was expected and what was found.
 */

/** Base class: all mimo.ts errors extend it, so callers can catch them apart from programming bugs. */
export class MimoError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** `config.json` is unreadable, names an unknown `model_type`, lacks a required key or contradicts itself. */
export class ConfigError extends MimoError {
  /**
   * @param file path of the config file (or preset name)
   * @param key the offending key, verbatim as in config.json (`num_key_value_heads`)
   */
  constructor(
    readonly file: string,
    readonly key: string | undefined,
    detail: string,
  ) {
    super(key ? `${file}: ${key}: ${detail}` : `${file}: ${detail}`);
  }
}

/** A safetensors file or index is malformed, hostile, or lacks a tensor the model needs. */
export class CheckpointError extends MimoError {
  constructor(
    readonly file: string,
    detail: string,
  ) {
    super(`${file}: ${detail}`);
  }
}

/** Two tensors or arrays do not have the shapes an operation needs. */
export class ShapeError extends MimoError {}

/** The model produced non-finite numbers (NaN/Inf logits), e.g. from NaN weights in the checkpoint. */
export class NumericalError extends MimoError {}

/** A requested backend (e.g. the native addon) is not available on this machine. */
export class BackendUnavailableError extends MimoError {}

/** A user request (generation options, CLI flag, API parameter) is invalid; `param` names it. */
export class RequestError extends MimoError {
  constructor(
    readonly param: string,
    detail: string,
  ) {
    super(`${param}: ${detail}`);
  }
}

/** The server's request queue is full (HTTP 429); retry later. */
export class QueueFullError extends MimoError {}

/** The server cannot finish the request now (shutting down); HTTP 503. */
export class ServiceUnavailableError extends MimoError {}
