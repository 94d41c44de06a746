/*
 * The message list: user messages, and assistant replies built from the stream's chunks. Each reply is
 * `.msg.assistant[data-reply=N]` (0, 1, … in order) with a collapsed `details.thinking` and an answer; every
 * generated token is a `span.tok` with `data-token-id`, `data-experts` (JSON, experts[i][k] of MoE layer i) and
 * `data-index` (generation order), placed where the parsed deltas of its chunk say (reasoning_content → thinking,
 * content or tool calls → answer). Text without token information lands as plain spans. A reply also counts its
 * experts' use for the whole-reply map (heatmap.js) and keeps the times stats.js reports.
 */
import { markUsageDirty } from './heatmap.js';
import { el, node, state } from './page.js';

/** Keep the newest text in view, unless the reader scrolled up. */
let stickToBottom = true;

export function scrollToEnd() {
  if (stickToBottom) el.messages.scrollTop = el.messages.scrollHeight;
}

/** Stick to the end again (a new turn); `onMessagesScroll` unsticks when the reader scrolls up. */
export function stickToEnd() {
  stickToBottom = true;
}

export function onMessagesScroll() {
  stickToBottom = el.messages.scrollHeight - el.messages.scrollTop - el.messages.clientHeight < 40;
}

function hideEmptyHint() {
  if (el.emptyHint) el.emptyHint.hidden = true;
}

/** Empty the list (a new chat): only the hint is left. */
export function clearMessages() {
  el.messages.replaceChildren(el.emptyHint);
  el.emptyHint.hidden = false;
}

export function addUserMessage(text) {
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
export function newAssistantMessage(info, thinking) {
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

export function updateThinkingSummary(reply) {
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
  markUsageDirty(reply);
  const now = performance.now();
  if (!reply.tFirst) reply.tFirst = now;
  reply.tLast = now;
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

/**
 * Add one chunk of the stream to `reply` (the caller schedules the repaint).
 * @throws Error for an error event in the stream
 */
export function handleChunk(reply, chunk) {
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
