/*
 * The page's shared parts: every element the other modules touch (looked up once, by id), the chat's state, the
 * settings kept in localStorage, and small helpers (`node`, the error banner, the selected model and its `mimo`
 * extension). Every other module imports these from here; none looks elements up or keeps chat state of its own,
 * except the heat maps' drawing state, which heatmap.js owns.
 */

const $ = (id) => document.getElementById(id);

export const el = {
  conn: $('conn'),
  newChat: $('new-chat'),
  error: $('error'),
  errorText: $('error-text'),
  errorClose: $('error-close'),
  messages: $('messages'),
  emptyHint: $('empty-hint'),
  composer: $('composer'),
  prompt: $('prompt'),
  send: $('send'),
  stop: $('stop'),
  model: $('model'),
  modelInfo: $('model-info'),
  thinking: $('thinking'),
  maxTokens: $('max-tokens'),
  temperature: $('temperature'),
  apiKey: $('api-key'),
  apiKeyNote: $('api-key-note'),
  maxTokensNote: $('max-tokens-note'),
  settings: $('settings'),
  settingsBox: $('settings-box'),
  stats: $('stats'),
  statTtft: $('stat-ttft'),
  statTps: $('stat-tps'),
  statTokens: $('stat-tokens'),
  statMtpBox: $('stat-mtp-box'),
  statMtp: $('stat-mtp'),
  statsNote: $('stats-note'),
  serverStats: $('server-stats'),
  tokenInfo: $('token-info'),
  heatmap: $('expert-heatmap'),
  usage: $('expert-usage'),
  follow: $('follow'),
};

/** Settings kept across reloads (the API key only for this browser tab's session). */
export const store = {
  get(key, fallback) {
    try {
      const v = localStorage.getItem(`mimo-playground.${key}`);
      return v === null ? fallback : JSON.parse(v);
    } catch {
      return fallback;
    }
  },
  set(key, value) {
    try {
      localStorage.setItem(`mimo-playground.${key}`, JSON.stringify(value));
    } catch {
      // storage disabled (private mode): settings just do not persist
    }
  },
};

export const state = {
  /** Models from GET v1/models. */
  models: [],
  /** Chat history sent with each request: { role, content, reasoning_content? }. */
  history: [],
  /** Assistant messages shown, in order (see newAssistantMessage in chat.js). */
  replies: [],
  /** The reply being streamed and its AbortController. */
  current: null,
  controller: null,
  /** Pinned token { reply, index } chosen by a click; null = follow the latest token. */
  pinned: null,
  /** The reply and token index the heat map shows. */
  shown: null,
};

export function node(tag, cls, text) {
  const n = document.createElement(tag);
  if (cls) n.className = cls;
  if (text !== undefined) n.textContent = text;
  return n;
}

export function showError(message) {
  el.errorText.textContent = message;
  el.error.hidden = false;
}

export function clearError() {
  el.error.hidden = true;
  el.errorText.textContent = '';
}

export function selectedModel() {
  return state.models.find((m) => m.id === el.model.value) || null;
}

/** A model's `mimo` extension (MoE layout, MTP) when it is well formed; null for other servers' models. */
export function expertInfo(model) {
  const i = model && model.mimo;
  const ok = i && Number.isInteger(i.num_experts) && i.num_experts > 0 && Number.isInteger(i.experts_per_token) &&
    Array.isArray(i.moe_layers) && i.moe_layers.every(Number.isInteger);
  return ok ? i : null;
}
