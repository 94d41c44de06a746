/*
 * mimo.ts playground, the entry module: a chat page for `mimo serve` in plain browser JavaScript modules (no build
 * step, no dependencies, no CDN: every file comes from the server itself, so it works offline). This file only
 * wires the page — events to the modules that act on them, settings restored from storage, the model list loaded:
 * page.js (elements, state), api.js (fetch and the SSE stream), models.js (model picker), turn.js (send and
 * stream one reply), chat.js (messages, token spans, thinking block), heatmap.js (expert maps), stats.js (speed).
 * The DOM contract test/browser/playground.test.ts relies on is stated in chat.js (replies, token spans),
 * heatmap.js (#expert-heatmap cells) and stats.js (#stats data-state).
 */
import { clearMessages, onMessagesScroll } from './chat.js';
import { clearMaps, describeTrack, describeUsage, followLatest, onColourSchemeChange, onPanelResize, show } from './heatmap.js';
import { loadModels, onModelChange } from './models.js';
import { clearError, el, state, store } from './page.js';
import { clearStats } from './stats.js';
import { checkMaxTokens, send, stop } from './turn.js';

function newChat() {
  if (state.controller) return;
  state.history = [];
  state.replies = [];
  state.pinned = null;
  state.shown = null;
  clearMessages();
  clearMaps();
  clearStats();
  clearError();
  el.prompt.focus();
}

/** A click on a token pins it on the heat maps; a second click on the pinned token follows the latest again. */
function onTokenClick(ev) {
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
}

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
el.messages.addEventListener('scroll', onMessagesScroll, { passive: true });
el.messages.addEventListener('click', onTokenClick);
el.follow.addEventListener('click', followLatest);
el.heatmap.addEventListener('mousemove', describeTrack);
el.usage.addEventListener('mousemove', describeUsage);
// Re-fit both maps when the panel resizes; redraw the canvas when the colour scheme flips.
new ResizeObserver((entries) => onPanelResize(Math.floor(entries[entries.length - 1].contentRect.width))).observe(el.usage.parentElement);
window.matchMedia('(prefers-color-scheme: dark)').addEventListener('change', onColourSchemeChange);

// Until the user sets it, thinking follows the selected model's chat-template default (models.js).
el.thinking.checked = store.get('thinking', true);
el.maxTokens.value = String(store.get('maxTokens', 512));
el.temperature.value = String(store.get('temperature', 0.7));
try {
  el.apiKey.value = sessionStorage.getItem('mimo-playground.apiKey') || '';
} catch {
  // storage disabled
}
el.thinking.addEventListener('change', () => store.set('thinking', el.thinking.checked));
el.maxTokens.addEventListener('change', () => {
  if (checkMaxTokens() !== null) store.set('maxTokens', el.maxTokens.value.trim() === '' ? '' : Number(el.maxTokens.value));
});
el.maxTokens.addEventListener('input', checkMaxTokens);
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
