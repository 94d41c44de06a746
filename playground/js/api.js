/*
 * The OpenAI-compatible API of the same origin, and nothing of the page: GET v1/models and a streamed
 * POST v1/chat/completions, whose server-sent events are parsed here into chunk objects. With the mimo.ts extension
 * `mimo_expert_trace: true` every generated token's chunk carries `mimo.token = { id, text, experts }`
 * (experts[i][k]: k-th expert chosen in MoE layer moe_layers[i]) and the usage chunk `mimo.stats` (server-side TTFT,
 * decode tokens/s, MTP acceptance length); chat.js reads those. Failures throw an Error whose message quotes the
 * server's OpenAI-shaped error body.
 */

/** Request headers; `apiKey` (may be empty) goes out as `Authorization: Bearer`. */
export function apiHeaders(apiKey, json) {
  const h = {};
  if (json) h['Content-Type'] = 'application/json';
  const key = apiKey.trim();
  if (key) h.Authorization = `Bearer ${key}`;
  return h;
}

/** Message of an OpenAI-shaped error body `{ error: { message, type, param, code } }`, or the raw text. */
export async function errorMessage(res) {
  const text = await res.text().catch(() => '');
  try {
    const body = JSON.parse(text);
    const e = body && body.error;
    if (e && typeof e.message === 'string') {
      const extra = [e.type, e.param && `param ${e.param}`, e.code].filter(Boolean).join(', ');
      return `${res.status}: ${e.message}${extra ? ` (${extra})` : ''}`;
    }
  } catch {
    // not JSON: fall through
  }
  return `${res.status} ${res.statusText}${text ? `: ${text.slice(0, 300)}` : ''}`;
}

/** GET v1/models; the Response as it comes (the caller tells 401 from other failures). */
export function fetchModels(apiKey) {
  return fetch('v1/models', { headers: apiHeaders(apiKey, false) });
}

/**
 * POST v1/chat/completions with a streaming `body`; yields each chunk object of the stream until `[DONE]`.
 * @throws Error with the server's error message, for a body that is not an event stream of JSON, or on abort
 */
export async function* streamChat(body, apiKey, signal) {
  const res = await fetch('v1/chat/completions', {
    method: 'POST',
    headers: apiHeaders(apiKey, true),
    body: JSON.stringify(body),
    signal,
  });
  if (!res.ok) throw new Error(await errorMessage(res));
  if (!res.body) throw new Error('the response has no body');
  for await (const data of sseData(res.body)) {
    if (data === '[DONE]') return;
    let chunk;
    try {
      chunk = JSON.parse(data);
    } catch {
      throw new Error(`the server sent a stream event that is not JSON: ${data.slice(0, 200)}`);
    }
    yield chunk;
  }
}

/** Server-sent events of a fetch body: yields each event's data (the `data:` lines joined). */
async function* sseData(body) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buf = '';
  const boundary = /\r?\n\r?\n/;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buf += value;
    let m;
    while ((m = boundary.exec(buf))) {
      const block = buf.slice(0, m.index);
      buf = buf.slice(m.index + m[0].length);
      const data = block.split(/\r?\n/).filter((l) => l.startsWith('data:')).map((l) => l.slice(l.startsWith('data: ') ? 6 : 5));
      if (data.length) yield data.join('\n');
    }
  }
  if (buf.trim().startsWith('data:')) yield buf.trim().slice(5).trim();
}
