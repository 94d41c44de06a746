/*
 * mimo.ts playground: a chat page for `mimo serve`, in plain browser JavaScript (no build step, no dependencies).
 * Talks to the OpenAI-compatible API of the same origin: GET v1/models, POST v1/chat/completions with
 * `stream: true` and the mimo.ts extension `mimo_expert_trace: true`, which adds to every generated token's chunk
 * `mimo.token = { id, text, experts }` (experts[i][k]: k-th expert chosen in MoE layer moe_layers[i]) and to the
 * usage chunk `mimo.stats` (server-side TTFT, decode tokens/s, MTP acceptance length).
 *
 * DOM contract used by test/browser/playground.test.ts: each assistant reply is `.msg.assistant[data-reply=N]`
 * (0, 1, … in order), its thinking a `details.thinking`; every generated token is a `span.tok` with
 * `data-token-id`, `data-experts` (JSON) and `data-index` (generation order); `#expert-heatmap` has
 * `data-token-id` of the token it shows and its lit cells carry `data-layer` (trunk layer index) and
 * `data-expert`; `#stats` has `data-state` idle | streaming | done | stopped | error.
 * Only this file, playground.css and index.html are served: no build step, no CDN, works offline.
 */
'use strict';

(() => {
  const $ = (id) => document.getElementById(id);
  const el = {
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
  const store = {
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

  const state = {
    /** Models from GET v1/models. */
    models: [],
    /** Chat history sent with each request: { role, content, reasoning_content? }. */
    history: [],
    /** Assistant messages shown, in order (see newAssistantMessage). */
    replies: [],
    /** The reply being streamed and its AbortController. */
    current: null,
    controller: null,
    /** Pinned token { reply, index } chosen by a click; null = follow the latest token. */
    pinned: null,
    /** The reply and token index the heat map shows. */
    shown: null,
  };

  // ---------------------------------------------------------------------------------------------------------------
  // Small helpers

  function apiHeaders(json) {
    const h = {};
    if (json) h['Content-Type'] = 'application/json';
    const key = el.apiKey.value.trim();
    if (key) h.Authorization = `Bearer ${key}`;
    return h;
  }

  /** Message of an OpenAI-shaped error body `{ error: { message, type, param, code } }`, or the raw text. */
  async function errorMessage(res) {
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

  function showError(message) {
    el.errorText.textContent = message;
    el.error.hidden = false;
  }

  function clearError() {
    el.error.hidden = true;
    el.errorText.textContent = '';
  }

  const fmtMs = (s) => (s < 1 ? `${Math.round(s * 1000)} ms` : `${s.toFixed(2)} s`);
  const fmtRate = (r) => (r >= 100 ? r.toFixed(0) : r >= 10 ? r.toFixed(1) : r.toFixed(2));

  function node(tag, cls, text) {
    const n = document.createElement(tag);
    if (cls) n.className = cls;
    if (text !== undefined) n.textContent = text;
    return n;
  }

  function selectedModel() {
    return state.models.find((m) => m.id === el.model.value) || null;
  }

  /** A model's `mimo` extension (MoE layout, MTP) when it is well formed; null for other servers' models. */
  function expertInfo(model) {
    const i = model && model.mimo;
    const ok = i && Number.isInteger(i.num_experts) && i.num_experts > 0 && Number.isInteger(i.experts_per_token) &&
      Array.isArray(i.moe_layers) && i.moe_layers.every(Number.isInteger);
    return ok ? i : null;
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Models

  async function loadModels() {
    el.conn.dataset.state = 'loading';
    el.conn.textContent = 'connecting…';
    let res;
    try {
      res = await fetch('v1/models', { headers: apiHeaders(false) });
    } catch (e) {
      el.conn.dataset.state = 'down';
      el.conn.textContent = 'server unreachable';
      showError(`Cannot reach the server: ${e.message}`);
      return;
    }
    if (!res.ok) {
      el.conn.dataset.state = 'down';
      el.conn.textContent = res.status === 401 ? 'API key needed' : `error ${res.status}`;
      showError(`GET /v1/models failed — ${await errorMessage(res)}`);
      if (res.status === 401) {
        el.settingsBox.open = true;
        el.apiKey.focus();
      }
      return;
    }
    let body;
    try {
      body = await res.json();
    } catch {
      showError('GET /v1/models did not return JSON.');
      return;
    }
    state.models = body && Array.isArray(body.data) ? body.data : [];
    const previous = el.model.value || store.get('model', '');
    el.model.replaceChildren(...state.models.map((m) => {
      const o = node('option', '', m.id);
      o.value = m.id;
      return o;
    }));
    if (state.models.some((m) => m.id === previous)) el.model.value = previous;
    el.conn.dataset.state = state.models.length ? 'up' : 'down';
    el.conn.textContent = state.models.length ? 'connected' : 'no models';
    if (!state.models.length) showError('The server lists no models.');
    else clearError();
    onModelChange();
  }

  function onModelChange() {
    const m = selectedModel();
    store.set('model', el.model.value);
    const info = expertInfo(m);
    if (!info) {
      el.modelInfo.textContent = m ? 'No expert information for this model.' : '';
      el.statMtpBox.hidden = true;
      return;
    }
    const parts = [
      `${info.num_layers} layers`,
      `${info.moe_layers.length} MoE`,
      `top-${info.experts_per_token} of ${info.num_experts} experts`,
      info.mtp > 0 ? `MTP ${info.mtp} draft${info.mtp === 1 ? '' : 's'}/step` : 'MTP off',
    ];
    el.modelInfo.textContent = parts.join(' · ');
    el.statMtpBox.hidden = !(info.mtp > 0);
    if (!state.shown) buildGrid(info);
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Heat maps: one row per MoE layer, one cell per expert. A model can have 47 MoE layers × 256 experts = 12,032
  // cells, so neither map keeps an element per cell: #expert-heatmap draws the empty cells as a background and has
  // elements only for the chosen experts (47 × 8); #expert-usage is a canvas.

  /** Width of the experts card's content in CSS pixels; kept up to date by a ResizeObserver (reading it forces layout). */
  let mapWidth = 0;

  /**
   * Cell sizes in CSS pixels for a map of E experts, as wide as the panel allows: square cells of at most 20 px
   * with 2 px gaps; with many experts (256 in a 340 px panel) 1-px-wide columns in rows 6 px high.
   * pitch / cell: horizontal step and cell width; rowPitch / rowCell: vertical step and cell height.
   */
  function cellGeometry(E) {
    if (!mapWidth) mapWidth = el.usage.parentElement.clientWidth;
    const labelWidth = 40;
    const available = (mapWidth || 320) - labelWidth;
    const pitch = Math.max(1, Math.min(22, Math.floor(available / E)));
    if (pitch >= 6) return { labelWidth, pitch, cell: pitch - 2, rowPitch: pitch, rowCell: pitch - 2, labelEvery: 1 };
    return { labelWidth, pitch, cell: pitch, rowPitch: 8, rowCell: 6, labelEvery: 2 };
  }

  /** (Re)build #expert-heatmap's rows for a model's MoE layout; kept when layout and width are unchanged. */
  function buildGrid(info) {
    const container = el.heatmap;
    const g = cellGeometry(info.num_experts);
    const key = `${info.moe_layers.join(',')}/${info.num_experts}/${g.pitch}`;
    if (container.dataset.layout === key) return;
    container.dataset.layout = key;
    container.style.setProperty('--experts', String(info.num_experts));
    container.style.setProperty('--pitch', `${g.pitch}px`);
    container.style.setProperty('--cell-size', `${g.cell}px`);
    container.style.setProperty('--row-pitch', `${g.rowPitch}px`);
    container.style.setProperty('--row-cell', `${g.rowCell}px`);
    container.style.setProperty('--label-width', `${g.labelWidth}px`);
    container.classList.toggle('dense', g.labelEvery > 1);
    const rows = info.moe_layers.map((layer, i) => {
      const row = node('div', 'hm-row');
      row.dataset.rowLayer = String(layer);
      row.title = `layer ${layer}`;
      row.append(node('span', 'hm-label', i % g.labelEvery === 0 ? `L${layer}` : ''), node('div', 'hm-track'));
      return row;
    });
    const axis = node('div', 'hm-row hm-axis');
    axis.append(node('span', 'hm-label', ''), node('span', 'hm-axis-text', `experts 0 … ${info.num_experts - 1}`));
    container.replaceChildren(...rows, axis);
  }

  /** Turn every cell of #expert-heatmap off. */
  function unlight() {
    for (const track of el.heatmap.querySelectorAll('.hm-track')) track.replaceChildren();
  }

  /** Light the experts of one token in #expert-heatmap: cell `data-layer` (trunk layer), `data-expert`, `data-rank`. */
  function paintToken(reply, index) {
    const info = reply.info;
    const tok = reply.tokens[index];
    if (!info || !tok) return;
    buildGrid(info);
    const K = Math.max(1, info.experts_per_token);
    const tracks = el.heatmap.querySelectorAll('.hm-track');
    tracks.forEach((track, i) => {
      const chosen = tok.experts[i] || [];
      const layer = info.moe_layers[i];
      track.replaceChildren(...chosen.filter((e) => e >= 0 && e < info.num_experts).map((expert, k) => {
        const c = node('span', 'hm-cell on');
        c.dataset.layer = String(layer);
        c.dataset.expert = String(expert);
        c.dataset.rank = String(k);
        c.style.setProperty('--e', String(expert));
        c.style.setProperty('--rank', String(K > 1 ? k / (K - 1) : 0));
        c.title = `layer ${layer} · expert ${expert} · pick ${k + 1} of ${chosen.length}`;
        return c;
      }));
    });
    el.heatmap.dataset.tokenId = String(tok.id);
    el.heatmap.dataset.tokenIndex = String(index);
    const shownText = JSON.stringify(tok.text);
    el.tokenInfo.textContent = `Token ${index + 1} of ${reply.tokens.length}: ${shownText.length > 40 ? `${shownText.slice(0, 37)}…"` : shownText} (id ${tok.id})` +
      (state.pinned ? ' — pinned' : ' — latest');
    el.tokenInfo.classList.remove('muted');
  }

  /** The reply #expert-usage shows (null: none); it got tokens since it was drawn; geometry of the drawing. */
  let usageReply = null;
  let usageDirty = false;
  let usageGeometry = null;
  let usageDrawnAt = 0;
  /** Colours of the canvas from the CSS variables; reset when the colour scheme changes. */
  let palette = null;

  /** A CSS colour as [r, g, b] (the canvas normalises any CSS colour to #rrggbb or rgba()). */
  function rgbOf(ctx, colour) {
    ctx.fillStyle = '#000';
    ctx.fillStyle = colour;
    const v = String(ctx.fillStyle);
    if (v.startsWith('#')) return [1, 3, 5].map((i) => parseInt(v.slice(i, i + 2), 16));
    const m = v.match(/[\d.]+/g) || ['0', '0', '0'];
    return m.slice(0, 3).map(Number);
  }

  /** Draw #expert-usage: each cell shaded by how often the expert was chosen over the reply's tokens. */
  function drawUsage(reply) {
    usageReply = reply;
    usageDirty = false;
    usageDrawnAt = performance.now();
    const canvas = el.usage;
    const info = reply && reply.info;
    if (!info) {
      canvas.width = canvas.height = 0;
      usageGeometry = null;
      return;
    }
    const L = info.moe_layers.length;
    const E = info.num_experts;
    const g = cellGeometry(E);
    const axisHeight = 16;
    const width = g.labelWidth + E * g.pitch;
    const height = L * g.rowPitch + axisHeight;
    const dpr = window.devicePixelRatio || 1;
    const W = Math.round(width * dpr);
    const H = Math.round(height * dpr);
    if (canvas.width !== W || canvas.height !== H) {
      canvas.width = W;
      canvas.height = H;
      canvas.style.width = `${width}px`;
      canvas.style.height = `${height}px`;
    }
    const ctx = canvas.getContext('2d');
    if (!palette) {
      const css = getComputedStyle(canvas);
      const prop = (name) => css.getPropertyValue(name).trim();
      palette = { cell: rgbOf(ctx, prop('--cell')), lit: rgbOf(ctx, prop('--lit')), muted: prop('--muted'), mono: prop('--mono') || 'monospace' };
    }
    const cellRgb = palette.cell;
    const litRgb = palette.lit;
    // Pixels written directly: thousands of fillRect calls are slow on a software-rendered canvas.
    const image = ctx.createImageData(W, H);
    const px = new Uint32Array(image.data.buffer);
    // RGBA bytes in memory order, read as one little-endian 32-bit word (as on every platform browsers run on).
    const mix = (a) => (255 << 24) | (Math.round(cellRgb[2] + (litRgb[2] - cellRgb[2]) * a) << 16) |
      (Math.round(cellRgb[1] + (litRgb[1] - cellRgb[1]) * a) << 8) | Math.round(cellRgb[0] + (litRgb[0] - cellRgb[0]) * a);
    const empty = mix(0);
    const max = reply.usageMax;
    for (let i = 0; i < L; i++) {
      const y0 = Math.round(i * g.rowPitch * dpr);
      const y1 = Math.max(y0 + 1, Math.round((i * g.rowPitch + g.rowCell) * dpr));
      const row = reply.usage[i];
      for (let e = 0; e < E; e++) {
        const colour = row[e] > 0 && max > 0 ? mix(0.15 + 0.85 * (row[e] / max)) : empty;
        const x0 = Math.round((g.labelWidth + e * g.pitch) * dpr);
        const x1 = Math.max(x0 + 1, Math.round((g.labelWidth + e * g.pitch + g.cell) * dpr));
        for (let y = y0; y < y1; y++) px.fill(colour, y * W + x0, y * W + x1);
      }
    }
    ctx.putImageData(image, 0, 0);
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.font = `${g.labelEvery > 1 ? 8 : 10}px ${palette.mono}`;
    ctx.textBaseline = 'middle';
    ctx.fillStyle = palette.muted;
    ctx.textAlign = 'right';
    info.moe_layers.forEach((layer, i) => {
      if (i % g.labelEvery === 0) ctx.fillText(`L${layer}`, g.labelWidth - 6, i * g.rowPitch + g.rowCell / 2);
    });
    ctx.textAlign = 'left';
    ctx.fillText(`experts 0 … ${E - 1}`, g.labelWidth, L * g.rowPitch + axisHeight / 2 + 1);
    usageGeometry = { ...g, L, E };
  }

  /** Tooltip of the #expert-usage cell under the pointer. */
  function describeUsage(ev) {
    const g = usageGeometry;
    const reply = usageReply;
    if (!g || !reply || !reply.info) return;
    const rect = el.usage.getBoundingClientRect();
    const e = Math.floor((ev.clientX - rect.left - g.labelWidth) / g.pitch);
    const i = Math.floor((ev.clientY - rect.top) / g.rowPitch);
    el.usage.title = e >= 0 && e < g.E && i >= 0 && i < g.L ? `layer ${reply.info.moe_layers[i]} · expert ${e}: chosen for ${reply.usage[i][e]} of ${reply.tokens.length} tokens` : '';
  }

  /** Tooltip of an empty #expert-heatmap cell under the pointer (lit cells have their own). */
  function describeTrack(ev) {
    const track = ev.target;
    if (!(track instanceof HTMLElement) || !track.classList.contains('hm-track')) return;
    const pitch = parseFloat(el.heatmap.style.getPropertyValue('--pitch')) || 1;
    const e = Math.floor(ev.offsetX / pitch);
    track.title = `layer ${track.parentElement.dataset.rowLayer} · expert ${e}`;
  }

  /** Show a reply's token on the heat maps and mark it in the message. */
  function show(reply, index) {
    const prev = state.shown;
    if (prev && prev.reply.tokens[prev.index]) prev.reply.tokens[prev.index].el.classList.remove('sel');
    state.shown = { reply, index };
    const tok = reply.tokens[index];
    if (!tok) return;
    tok.el.classList.add('sel');
    paintToken(reply, index);
    if (usageReply !== reply) drawUsage(reply);
    el.follow.hidden = !state.pinned;
  }

  /**
   * Everything that follows the stream is painted at most once per animation frame: a fast model can stream
   * tokens faster than a 256-expert × 47-layer heat map can be restyled.
   */
  let frame = 0;
  function scheduleRender() {
    if (!frame) frame = requestAnimationFrame(() => render(false));
  }

  /** Paint the streaming reply's figures; the usage map at most every 100 ms unless `final`. */
  function render(final) {
    if (frame) cancelAnimationFrame(frame);
    frame = 0;
    const reply = state.current;
    if (!reply) return;
    const last = reply.tokens.length - 1;
    if (!state.pinned && last >= 0 && !(state.shown && state.shown.reply === reply && state.shown.index === last)) show(reply, last);
    if (usageReply === reply && usageDirty && (final || performance.now() - usageDrawnAt > 100)) drawUsage(reply);
    paintLiveStats(reply);
    updateThinkingSummary(reply);
    scrollToEnd();
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Messages

  function hideEmptyHint() {
    if (el.emptyHint) el.emptyHint.hidden = true;
  }

  function addUserMessage(text) {
    hideEmptyHint();
    const m = node('div', 'msg user');
    m.append(node('div', 'role', 'You'), node('div', 'body', text));
    el.messages.append(m);
    return m;
  }

  /**
   * A streamed assistant reply: tokens land in the thinking <details> or the answer, decided by the parsed deltas
   * (reasoning_content vs content) of the stream.
   */
  function newAssistantMessage(info, thinking) {
    hideEmptyHint();
    const m = node('div', 'msg assistant streaming');
    const role = node('div', 'role', 'MiMo');
    const details = node('details', 'thinking');
    const summary = node('summary', '', 'Thinking');
    const thinkBody = node('div', 'body think-body');
    details.append(summary, thinkBody);
    details.hidden = true;
    const answer = node('div', 'body answer');
    const tools = node('div', 'tool-calls');
    const foot = node('div', 'foot small muted');
    m.append(role, details, answer, tools, foot);
    el.messages.append(m);
    const reply = {
      el: m,
      details,
      summary,
      thinkBody,
      answer,
      tools,
      foot,
      info,
      tokens: [],
      usage: info ? info.moe_layers.map(() => new Array(info.num_experts).fill(0)) : [],
      usageMax: 0,
      content: '',
      reasoning: '',
      toolCalls: [],
      /** Where new tokens go: 'thinking' or 'answer'; a guess until the first parsed delta confirms it. */
      section: thinking ? 'thinking' : 'answer',
      sectionConfirmed: false,
      finishReason: null,
      serverStats: null,
      usageCounts: null,
      tSend: performance.now(),
      tFirst: 0,
      tLast: 0,
    };
    m.dataset.reply = String(state.replies.length);
    state.replies.push(reply);
    return reply;
  }

  function sectionBody(reply, section) {
    return section === 'thinking' ? reply.thinkBody : reply.answer;
  }

  function updateThinkingSummary(reply) {
    const n = reply.thinkBody.getElementsByClassName('tok').length;
    reply.details.hidden = n === 0 && !reply.reasoning;
    const live = reply.el.classList.contains('streaming') && reply.section === 'thinking';
    reply.summary.textContent = live ? `Thinking… (${n} tokens)` : `Thought for ${n} token${n === 1 ? '' : 's'}`;
  }

  /** The parser said where text is going: confirm the section (moving guessed tokens if the guess was wrong). */
  function setSection(reply, section) {
    if (!reply.sectionConfirmed && section !== reply.section) {
      const target = sectionBody(reply, section);
      for (const t of reply.tokens) target.append(t.el);
    }
    reply.sectionConfirmed = true;
    reply.section = section;
  }

  function addToken(reply, t) {
    const index = reply.tokens.length;
    const span = node('span', 'tok');
    const text = typeof t.text === 'string' ? t.text : '';
    span.textContent = text;
    if (text === '') span.classList.add('empty');
    if (/^\s*<\/?(think|tool_call|function|parameter)[^>]*>\s*$/.test(text)) span.classList.add('ctl');
    const experts = Array.isArray(t.experts) ? t.experts : [];
    span.dataset.tokenId = String(t.id);
    span.dataset.experts = JSON.stringify(experts);
    span.dataset.index = String(index);
    sectionBody(reply, reply.section).append(span);
    reply.tokens.push({ id: t.id, text, experts, el: span });
    experts.forEach((chosen, i) => {
      const row = reply.usage[i];
      if (!row) return;
      for (const e of chosen) {
        if (!(e >= 0 && e < row.length)) continue;
        row[e]++;
        reply.usageMax = Math.max(reply.usageMax, row[e]);
      }
    });
    if (usageReply === reply) usageDirty = true;
    const now = performance.now();
    if (!reply.tFirst) reply.tFirst = now;
    reply.tLast = now;
    scheduleRender();
  }

  /** Text that arrived without token information (a server without the trace, or text flushed at the end). */
  function addPlainText(reply, section, text) {
    sectionBody(reply, section).append(node('span', 'plain', text));
    const now = performance.now();
    if (!reply.tFirst) reply.tFirst = now;
  }

  function mergeToolCalls(reply, deltas) {
    for (const d of deltas) {
      const i = typeof d.index === 'number' ? d.index : reply.toolCalls.length;
      const call = reply.toolCalls[i] || (reply.toolCalls[i] = { id: '', type: 'function', function: { name: '', arguments: '' } });
      if (d.id) call.id = d.id;
      if (d.function && d.function.name) call.function.name += d.function.name;
      if (d.function && d.function.arguments) call.function.arguments += d.function.arguments;
    }
    reply.tools.replaceChildren(...reply.toolCalls.filter(Boolean).map((c) => {
      const box = node('div', 'tool-call');
      box.append(node('div', 'tool-name', `tool call: ${c.function.name || '…'}`), node('pre', 'tool-args', c.function.arguments));
      return box;
    }));
  }

  /** Keep the newest text in view, unless the reader scrolled up. */
  let stickToBottom = true;
  function scrollToEnd() {
    if (stickToBottom) el.messages.scrollTop = el.messages.scrollHeight;
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Speed figures

  /** TTFT (send → first token) and decode tokens/s (tokens after the first over their time), as this page saw them. */
  function paintLiveStats(reply, ended) {
    const n = reply.tokens.length;
    const pending = ended ? '–' : '…';
    el.statTtft.textContent = reply.tFirst ? fmtMs((reply.tFirst - reply.tSend) / 1000) : pending;
    const decodeS = (reply.tLast - reply.tFirst) / 1000;
    el.statTps.textContent = n > 1 && decodeS > 0 ? fmtRate((n - 1) / decodeS) : pending;
    el.statTokens.textContent = String(n);
  }

  function paintFinalStats(reply, outcome) {
    paintLiveStats(reply, true);
    el.stats.dataset.state = outcome;
    const s = reply.serverStats;
    const parts = [];
    if (s) {
      parts.push(`Server: TTFT ${fmtMs(s.ttft_s)}`, `decode ${fmtRate(s.decode_tokens_per_s)} tokens/s`, `prompt ${s.prompt_tokens} tokens`, `generated ${s.generated_tokens}`);
      if (reply.info && reply.info.mtp > 0) {
        parts.push(`MTP acceptance length ${s.acceptance_length.toFixed(2)} (${s.drafts_accepted}/${s.drafts_proposed} drafts accepted)`);
        el.statMtp.textContent = s.acceptance_length.toFixed(2);
      }
    } else if (reply.usageCounts) {
      const u = reply.usageCounts;
      parts.push(`Server: prompt ${u.prompt_tokens} tokens, generated ${u.completion_tokens}`);
    }
    if (!s && el.statMtp.textContent === '…') el.statMtp.textContent = '–';
    el.serverStats.textContent = parts.join(' · ');
    el.statsNote.textContent = outcome === 'done' ? 'TTFT and tokens/s above: measured in this browser; server figures below.' :
      outcome === 'stopped' ? 'Stopped.' : outcome === 'error' ? 'The request failed.' : '';
    const foot = [];
    if (reply.tFirst) foot.push(`${reply.tokens.length} tokens`, `TTFT ${el.statTtft.textContent}`, `${el.statTps.textContent} tokens/s`);
    if (s && reply.info && reply.info.mtp > 0) foot.push(`MTP acceptance ${s.acceptance_length.toFixed(2)}`);
    if (reply.finishReason) foot.push(`finish: ${reply.finishReason}`);
    if (outcome === 'stopped') foot.push('stopped');
    reply.foot.textContent = foot.join(' · ');
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Streaming

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

  function handleChunk(reply, chunk) {
    if (chunk.error) throw new Error(chunk.error.message || JSON.stringify(chunk.error));
    const mimo = chunk.mimo || {};
    const ch = Array.isArray(chunk.choices) ? chunk.choices[0] : undefined;
    const delta = (ch && ch.delta) || {};
    const text = { thinking: delta.reasoning_content || '', answer: delta.content || '' };
    // The token goes where the text of its chunk went; a token whose text the parser held back or swallowed
    // (`</think>`, the start of a tool call) stays in the current section.
    if (text.thinking) setSection(reply, 'thinking');
    if (text.answer || (delta.tool_calls && delta.tool_calls.length)) setSection(reply, 'answer');
    if (mimo.token) addToken(reply, mimo.token);
    reply.reasoning += text.thinking;
    reply.content += text.answer;
    if (!mimo.token) {
      if (text.thinking) addPlainText(reply, 'thinking', text.thinking);
      if (text.answer) addPlainText(reply, 'answer', text.answer);
    }
    if (delta.tool_calls) mergeToolCalls(reply, delta.tool_calls);
    if (ch && ch.finish_reason) reply.finishReason = ch.finish_reason;
    if (mimo.stats) reply.serverStats = mimo.stats;
    if (chunk.usage) reply.usageCounts = chunk.usage;
  }

  function buildRequest(info) {
    const body = {
      model: el.model.value,
      messages: state.history.map((m) => ({ ...m })),
      stream: true,
      stream_options: { include_usage: true },
      chat_template_kwargs: { enable_thinking: el.thinking.checked },
      mimo_expert_trace: true,
    };
    const maxTokens = Number(el.maxTokens.value);
    if (Number.isInteger(maxTokens) && maxTokens > 0) body.max_tokens = maxTokens;
    const temperature = Number(el.temperature.value);
    if (el.temperature.value !== '' && Number.isFinite(temperature)) body.temperature = temperature;
    if (!info) delete body.mimo_expert_trace;
    return body;
  }

  function setBusy(busy) {
    el.send.disabled = busy;
    el.stop.disabled = !busy;
    el.newChat.disabled = busy;
    el.model.disabled = busy;
  }

  async function send() {
    const text = el.prompt.value;
    if (!text.trim() || state.controller) return;
    if (!el.model.value) {
      showError('No model selected: the model list did not load (check the server and the API key).');
      return;
    }
    clearError();
    const info = expertInfo(selectedModel());
    const userEl = addUserMessage(text);
    state.history.push({ role: 'user', content: text });
    el.prompt.value = '';
    const reply = newAssistantMessage(info, el.thinking.checked);
    state.current = reply;
    state.pinned = null;
    el.follow.hidden = true;
    const controller = new AbortController();
    state.controller = controller;
    setBusy(true);
    el.stats.dataset.state = 'streaming';
    el.serverStats.textContent = '';
    el.statsNote.textContent = 'Measured in this browser while the reply streams.';
    el.statTtft.textContent = '…';
    el.statTps.textContent = '…';
    el.statTokens.textContent = '0';
    el.statMtp.textContent = '…';
    el.statMtpBox.hidden = !(info && info.mtp > 0);
    stickToBottom = true;
    scrollToEnd();

    let outcome = 'done';
    try {
      const res = await fetch('v1/chat/completions', {
        method: 'POST',
        headers: apiHeaders(true),
        body: JSON.stringify(buildRequest(info)),
        signal: controller.signal,
      });
      if (!res.ok) throw new Error(await errorMessage(res));
      if (!res.body) throw new Error('the response has no body');
      for await (const data of sseData(res.body)) {
        if (data === '[DONE]') break;
        let chunk;
        try {
          chunk = JSON.parse(data);
        } catch {
          throw new Error(`the server sent a stream event that is not JSON: ${data.slice(0, 200)}`);
        }
        handleChunk(reply, chunk);
        scheduleRender();
      }
    } catch (e) {
      if (controller.signal.aborted) {
        outcome = 'stopped';
      } else {
        outcome = 'error';
        const message = e && e.message ? e.message : String(e);
        showError(message);
        reply.el.append(node('div', 'msg-error', message));
      }
    } finally {
      render(true);
      state.controller = null;
      state.current = null;
      setBusy(false);
    }

    reply.el.classList.remove('streaming');
    updateThinkingSummary(reply);
    if (outcome === 'error' && reply.tokens.length === 0) {
      // Nothing was generated: drop the turn from the history so the next request does not repeat it.
      state.history.pop();
      userEl.classList.add('failed');
    } else {
      const turn = { role: 'assistant', content: reply.content };
      if (reply.reasoning) turn.reasoning_content = reply.reasoning;
      if (reply.toolCalls.length) turn.tool_calls = reply.toolCalls.filter(Boolean);
      state.history.push(turn);
    }
    if (!reply.content && !reply.toolCalls.length && reply.finishReason === 'length' && reply.tokens.length) {
      reply.answer.append(node('span', 'note', 'The token budget ended inside thinking.'));
    }
    paintFinalStats(reply, outcome);
    scrollToEnd();
    el.prompt.focus();
  }

  function stop() {
    if (state.controller) state.controller.abort();
  }

  function newChat() {
    if (state.controller) return;
    state.history = [];
    state.replies = [];
    state.pinned = null;
    state.shown = null;
    el.messages.replaceChildren(el.emptyHint);
    el.emptyHint.hidden = false;
    unlight();
    delete el.heatmap.dataset.tokenId;
    drawUsage(null);
    el.tokenInfo.textContent = 'No token yet.';
    el.tokenInfo.classList.add('muted');
    el.stats.dataset.state = 'idle';
    for (const d of [el.statTtft, el.statTps, el.statTokens, el.statMtp]) d.textContent = '–';
    el.serverStats.textContent = '';
    el.follow.hidden = true;
    clearError();
    el.prompt.focus();
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Wiring

  el.composer.addEventListener('submit', (ev) => {
    ev.preventDefault();
    void send();
  });
  el.prompt.addEventListener('keydown', (ev) => {
    if (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing) {
      ev.preventDefault();
      void send();
    }
  });
  el.settings.addEventListener('submit', (ev) => ev.preventDefault());
  el.stop.addEventListener('click', stop);
  el.newChat.addEventListener('click', newChat);
  el.errorClose.addEventListener('click', clearError);
  el.model.addEventListener('change', onModelChange);
  el.messages.addEventListener('scroll', () => {
    stickToBottom = el.messages.scrollHeight - el.messages.scrollTop - el.messages.clientHeight < 40;
  }, { passive: true });
  el.messages.addEventListener('click', (ev) => {
    const span = ev.target instanceof Element ? ev.target.closest('.tok') : null;
    if (!span) return;
    const replyEl = span.closest('.msg');
    const reply = replyEl && state.replies[Number(replyEl.dataset.reply)];
    if (!reply) return;
    const index = Number(span.dataset.index);
    if (state.pinned && state.pinned.reply === reply && state.pinned.index === index) {
      followLatest();
      return;
    }
    state.pinned = { reply, index };
    show(reply, index);
  });
  function followLatest() {
    state.pinned = null;
    const last = state.current || state.replies[state.replies.length - 1];
    if (last && last.tokens.length) show(last, last.tokens.length - 1);
    el.follow.hidden = true;
  }
  el.follow.addEventListener('click', followLatest);
  el.heatmap.addEventListener('mousemove', describeTrack);
  el.usage.addEventListener('mousemove', describeUsage);
  // Re-fit both maps when the panel resizes; redraw the canvas when the colour scheme flips.
  new ResizeObserver((entries) => {
    const width = Math.floor(entries[entries.length - 1].contentRect.width);
    if (width === mapWidth) return;
    mapWidth = width;
    const info = state.shown ? state.shown.reply.info : expertInfo(selectedModel());
    if (info) buildGrid(info);
    if (usageReply) drawUsage(usageReply);
  }).observe(el.usage.parentElement);
  window.matchMedia('(prefers-color-scheme: dark)').addEventListener('change', () => {
    palette = null;
    if (usageReply) drawUsage(usageReply);
  });

  el.thinking.checked = store.get('thinking', true);
  el.maxTokens.value = String(store.get('maxTokens', 512));
  el.temperature.value = String(store.get('temperature', 0.7));
  try {
    el.apiKey.value = sessionStorage.getItem('mimo-playground.apiKey') || '';
  } catch {
    // storage disabled
  }
  el.thinking.addEventListener('change', () => store.set('thinking', el.thinking.checked));
  el.maxTokens.addEventListener('change', () => store.set('maxTokens', Number(el.maxTokens.value) || 512));
  el.temperature.addEventListener('change', () => store.set('temperature', Number(el.temperature.value)));
  el.apiKey.addEventListener('change', () => {
    try {
      sessionStorage.setItem('mimo-playground.apiKey', el.apiKey.value.trim());
    } catch {
      // storage disabled
    }
    void loadModels();
  });

  void loadModels();
  el.prompt.focus();
})();
