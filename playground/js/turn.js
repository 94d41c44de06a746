/*
 * One chat turn: the user's message goes into the history, a streamed request with the settings (max tokens,
 * temperature, thinking, and the expert trace when the model has a `mimo` extension) goes to the server, and the
 * reply is painted while it streams — at most once per animation frame, since a fast model can stream tokens faster
 * than a 256-expert × 47-layer heat map can be restyled. At the end the turn joins the history (or, when nothing was
 * generated before an error, the user's message leaves it again) and the final figures are shown. Stop aborts it.
 */
import { streamChat } from './api.js';
import { addUserMessage, handleChunk, newAssistantMessage, scrollToEnd, stickToEnd, updateThinkingSummary } from './chat.js';
import { refreshUsage, show } from './heatmap.js';
import { clearError, el, expertInfo, node, selectedModel, showError, state } from './page.js';
import { paintFinalStats, paintLiveStats, startStats } from './stats.js';

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
  refreshUsage(reply, final);
  paintLiveStats(reply);
  updateThinkingSummary(reply);
  scrollToEnd();
}

/**
 * The Max tokens setting: a whole number ≥ 1, or empty for the server's default. An invalid value is marked invalid
 * (and the reason shown under the field) instead of being dropped from the request; returns null then.
 */
export function checkMaxTokens() {
  const input = el.maxTokens;
  const raw = input.value.trim();
  const n = Number(raw);
  const bad = input.validity.badInput || (raw !== '' && !(Number.isInteger(n) && n >= 1));
  input.setAttribute('aria-invalid', bad ? 'true' : 'false');
  el.maxTokensNote.hidden = !bad;
  el.maxTokensNote.textContent = bad ? `Max tokens must be a whole number ≥ 1 (or empty for the server's default), got ${input.validity.badInput ? 'text that is not a number' : JSON.stringify(raw)}.` : '';
  return bad ? null : raw === '' ? undefined : n;
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
  const maxTokens = checkMaxTokens();
  if (maxTokens !== undefined && maxTokens !== null) body.max_tokens = maxTokens;
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

/** Send the prompt box's text and stream the reply; ignored while a reply streams or when the box is blank. */
export async function send() {
  const text = el.prompt.value;
  if (!text.trim() || state.controller) return;
  if (!el.model.value) {
    showError('No model selected: the model list did not load (check the server and the API key).');
    return;
  }
  if (checkMaxTokens() === null) {
    el.settingsBox.open = true;
    showError(el.maxTokensNote.textContent);
    el.maxTokens.focus();
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
  startStats(info);
  stickToEnd();
  scrollToEnd();

  let outcome = 'done';
  try {
    for await (const chunk of streamChat(buildRequest(info), el.apiKey.value, controller.signal)) {
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
  // Ended inside thinking: no answer came back, which an empty reply would hide. Say so, and what to change.
  if (!reply.content && !reply.toolCalls.length && reply.reasoning && (reply.finishReason === 'length' || outcome === 'stopped')) {
    const text = outcome === 'stopped' ? 'Stopped while thinking: no answer yet (you pressed Stop).' : 'Stopped while thinking: raise max tokens or turn thinking off.';
    reply.answer.append(node('span', 'note stopped-thinking', text));
  }
  paintFinalStats(reply, outcome);
  scrollToEnd();
  el.prompt.focus();
}

export function stop() {
  if (state.controller) state.controller.abort();
}
